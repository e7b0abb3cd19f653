//! Client ID metadata documents: a client whose `client_id` is the URL of its metadata,
//! served here by a small loopback server (the test-only setting allows loopback and http).

use axum::{Json, Router, http::StatusCode, response::Redirect, routing::get};
use serde_json::json;

use crate::{Harness, REDIRECT, config, query_value, request_params};
use oauth_server::Store;
use test_support::pkce;

/// Serves `/client.json` (a good document), `/liar.json` (naming another client_id) and
/// `/moved.json` (a redirect to the good one); the base URL.
async fn serve_documents() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let good = format!("{base}/client.json");
    let app = Router::new()
        .route(
            "/client.json",
            get({
                let good = good.clone();
                move || async move {
                    Json(json!({"client_id": good, "client_name": "Doc Client",
                                "redirect_uris": [REDIRECT]}))
                }
            }),
        )
        .route(
            "/liar.json",
            get(|| async { Json(json!({"client_id": "https://someone.else/c.json", "redirect_uris": [REDIRECT]})) }),
        )
        .route(
            "/moved.json",
            get(move || async move { Redirect::temporary(&good) }),
        );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    base
}

#[tokio::test]
async fn a_client_named_by_its_metadata_url_gets_through_without_registering() {
    let base = serve_documents().await;
    let harness = Harness::with(
        config().allow_local_client_documents_for_tests(true),
        Store::in_memory(),
    );
    let client_id = format!("{base}/client.json");
    let (verifier, challenge) = pkce();
    let params = request_params(&client_id, &challenge);
    let (status, _, page) = harness.authorize(&params).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("Doc Client"), "{page}");
    let (status, headers, _) = harness.approve(&params, &harness.pairing_code()).await;
    assert_eq!(status, StatusCode::FOUND);
    let location = url::Url::parse(headers[http::header::LOCATION].to_str().unwrap()).unwrap();
    let code = query_value(&location, "code").unwrap();
    let (status, _, tokens) = harness
        .token(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("client_id", &client_id),
            ("code_verifier", &verifier),
        ])
        .await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
}

#[tokio::test]
async fn a_document_that_lies_redirects_or_is_local_is_refused_with_a_page() {
    let base = serve_documents().await;
    let harness = Harness::with(
        config().allow_local_client_documents_for_tests(true),
        Store::in_memory(),
    );
    for path in ["/liar.json", "/moved.json", "/missing.json"] {
        let client_id = format!("{base}{path}");
        let (status, headers, page) = harness
            .authorize(&request_params(&client_id, &pkce().1))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {page}");
        assert!(headers.get(http::header::LOCATION).is_none(), "{path}");
    }
    // Without the test-only setting, a loopback document is not even fetched.
    let strict = Harness::new();
    let client_id = format!("{base}/client.json");
    let (status, _, page) = strict
        .authorize(&request_params(&client_id, &pkce().1))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(page.contains("https") || page.contains("private"), "{page}");
}
