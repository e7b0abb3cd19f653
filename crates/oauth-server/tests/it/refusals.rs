//! Each refusal of the contract, on its own: what is answered, and that nothing is issued.

use axum::body::Body;
use http::{Request, StatusCode, header};
use serde_json::json;

use crate::{Harness, REDIRECT, RESOURCE, config, query_value, request_params};
use oauth_server::Store;
use test_support::pkce;

#[tokio::test]
async fn dangerous_or_missing_redirect_uris_are_not_registered() {
    let harness = Harness::new();
    for uris in [
        json!([]),
        json!(["javascript:alert(1)"]),
        json!(["data:text/html,<b>x</b>"]),
        json!(["file:///etc/passwd"]),
        json!(["https://app.example/cb#fragment"]),
        json!(["http://app.example/cb"]),
    ] {
        let (status, answer) = harness.register(json!({"redirect_uris": uris})).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uris}");
        assert_eq!(answer["error"], "invalid_redirect_uri", "{uris}: {answer}");
    }
    let (status, answer) = harness.register(json!({"client_name": "no uris"})).await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_redirect_uri"))
    );
    let (status, _, body) = harness
        .send(
            Request::post("/register")
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from("{not json"))
                .unwrap(),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("invalid_client_metadata"), "{body}");
    let (status, answer) = harness
        .register(json!({"redirect_uris": ["cursor://anysphere.cursor-mcp/oauth/callback"]}))
        .await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "a private-use scheme is fine: {answer}"
    );
}

#[tokio::test]
async fn registration_is_bounded_in_size_and_number() {
    let harness = Harness::with(config().with_max_clients(2), Store::in_memory());
    harness.public_client("one").await;
    harness.public_client("two").await;
    let (status, answer) = harness
        .register(json!({"redirect_uris": [REDIRECT], "token_endpoint_auth_method": "none"}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        answer["error_description"]
            .as_str()
            .unwrap()
            .contains("limit"),
        "{answer}"
    );

    let huge = json!({"redirect_uris": [REDIRECT], "client_name": "x".repeat(64 * 1024)});
    let (status, _, _body) = harness
        .send(
            Request::post("/register")
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(huge.to_string()))
                .unwrap(),
        )
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{_body}");
}

/// Checks that a request with `params` is refused on the page, without any redirect,
/// both when the page is asked for and on approval.
async fn refused_on_the_page(harness: &Harness, params: &[(&str, &str)]) {
    let (status, headers, page) = harness.authorize(params).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{page}");
    assert!(headers.get(header::LOCATION).is_none(), "no redirect");
    assert!(page.contains("refused"), "{page}");
    let (status, headers, _) = harness.approve(params, &harness.pairing_code()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        headers.get(header::LOCATION).is_none(),
        "no redirect on approval either"
    );
}

#[tokio::test]
async fn an_unregistered_redirect_uri_gets_a_page_and_never_a_redirect() {
    let harness = Harness::new();
    let client_id = harness.public_client("Known").await;
    let (_, challenge) = pkce();
    let mut params = request_params(&client_id, &challenge);
    params[2] = ("redirect_uri", "https://evil.example/steal");
    refused_on_the_page(&harness, &params).await;
}

#[tokio::test]
async fn an_unknown_client_gets_a_page_and_never_a_redirect() {
    let harness = Harness::new();
    let (_, challenge) = pkce();
    refused_on_the_page(&harness, &request_params("no-such-client", &challenge)).await;
}

/// The error a request sent back to the client carries, from its `Location`.
fn redirected_error(headers: &http::HeaderMap) -> String {
    let location = url::Url::parse(headers[header::LOCATION].to_str().unwrap()).unwrap();
    assert!(location.as_str().starts_with(REDIRECT), "{location}");
    assert_eq!(query_value(&location, "state").as_deref(), Some("st4te"));
    assert!(
        query_value(&location, "code").is_none(),
        "no code with an error"
    );
    query_value(&location, "error").unwrap()
}

/// Changes one parameter of a valid request and checks that the authorization endpoint
/// sends `expected` back to the client, both when the page is asked for and on approval.
async fn sent_back_as(expected: &str, change: impl Fn(&mut Vec<(&str, &str)>)) {
    let harness = Harness::new();
    let client_id = harness.public_client("Client").await;
    let (_, challenge) = pkce();
    let mut params = request_params(&client_id, &challenge);
    change(&mut params);
    let (status, headers, _) = harness.authorize(&params).await;
    assert_eq!(status, StatusCode::FOUND, "{expected}");
    assert_eq!(redirected_error(&headers), expected);
    let (status, headers, _) = harness.approve(&params, &harness.pairing_code()).await;
    assert_eq!(status, StatusCode::FOUND);
    assert_eq!(
        redirected_error(&headers),
        expected,
        "the approval checks again"
    );
}

#[tokio::test]
async fn a_missing_code_challenge_is_sent_back_as_invalid_request() {
    sent_back_as("invalid_request", |p| {
        p.retain(|(k, _)| *k != "code_challenge")
    })
    .await;
}

#[tokio::test]
async fn the_plain_pkce_method_is_sent_back_as_invalid_request() {
    sent_back_as("invalid_request", |p| {
        p[4] = ("code_challenge_method", "plain")
    })
    .await;
}

#[tokio::test]
async fn a_foreign_resource_is_sent_back_as_invalid_target() {
    sent_back_as("invalid_target", |p| {
        p[7] = ("resource", "https://other.example/mcp");
    })
    .await;
}

#[tokio::test]
async fn an_implicit_flow_request_is_sent_back_as_unsupported_response_type() {
    sent_back_as("unsupported_response_type", |p| {
        p[0] = ("response_type", "token")
    })
    .await;
}

#[tokio::test]
async fn a_wrong_pairing_code_issues_nothing() {
    let harness = Harness::new();
    let client_id = harness.public_client("Client").await;
    let (_, challenge) = pkce();
    let params = request_params(&client_id, &challenge);
    let mut codes = harness.server.pairing_codes();
    codes.borrow_and_update();
    let (status, headers, page) = harness.approve(&params, "ZZZZ-ZZZZ").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(headers.get(header::LOCATION).is_none(), "nothing issued");
    assert!(page.contains("not the pairing code"), "{page}");
    assert!(
        !codes.has_changed().unwrap(),
        "one wrong try keeps the code"
    );
}

#[tokio::test]
async fn five_wrong_pairing_codes_void_the_code_and_publish_a_new_one() {
    let harness = Harness::new();
    let client_id = harness.public_client("Client").await;
    let (_, challenge) = pkce();
    let params = request_params(&client_id, &challenge);
    let mut codes = harness.server.pairing_codes();
    let first = codes.borrow_and_update().to_string();
    for attempt in 1..=5 {
        let (status, headers, page) = harness.approve(&params, "ZZZZ-ZZZZ").await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "attempt {attempt}");
        assert!(headers.get(header::LOCATION).is_none(), "nothing issued");
        assert!(
            page.contains("name=\"pairing_code\""),
            "the form is shown again"
        );
        if attempt < 5 {
            assert!(page.contains("not the pairing code"), "{page}");
        } else {
            assert!(page.contains("void"), "{page}");
        }
    }
    assert!(codes.has_changed().unwrap(), "a new code is published");
    let second = codes.borrow_and_update().to_string();
    assert_ne!(first, second);
    let (status, _, _) = harness.approve(&params, &first).await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "the void code no longer approves"
    );
    let (status, _, _) = harness.approve(&params, &second).await;
    assert_eq!(status, StatusCode::FOUND);
}

/// The consent page for a client registered as `name`: its headers and its HTML.
async fn consent_page_for(name: &str) -> (http::HeaderMap, String) {
    let harness = Harness::new();
    let client_id = harness.public_client(name).await;
    let (_, challenge) = pkce();
    let (status, headers, page) = harness
        .authorize(&request_params(&client_id, &challenge))
        .await;
    assert_eq!(status, StatusCode::OK);
    (headers, page)
}

#[tokio::test]
async fn the_consent_page_escapes_the_client_name() {
    let name = "<script>alert('x')</script>";
    let (_, page) = consent_page_for(name).await;
    assert!(!page.contains(name), "{page}");
    assert!(
        page.contains("&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;"),
        "{page}"
    );
}

#[tokio::test]
async fn the_consent_page_refuses_to_be_framed_or_cached() {
    let (headers, _) = consent_page_for("Client").await;
    assert_eq!(headers[header::X_FRAME_OPTIONS], "DENY");
    assert!(
        headers[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap()
            .contains("frame-ancestors 'none'")
    );
    assert_eq!(headers[header::CACHE_CONTROL], "no-store");
}

/// A harness with a registered public client and a code issued to it: what a token
/// request needs, to be changed one part at a time.
struct Issued {
    harness: Harness,
    client_id: String,
    code: String,
    verifier: String,
}

async fn issued() -> Issued {
    let harness = Harness::new();
    let client_id = harness.public_client("Client").await;
    let (verifier, challenge) = pkce();
    let code = harness.code_for(&client_id, &challenge).await;
    Issued {
        harness,
        client_id,
        code,
        verifier,
    }
}

impl Issued {
    /// Exchanges the code with these parts; the status and the `error`, if any.
    async fn exchange(
        &self,
        client_id: &str,
        verifier: &str,
        redirect_uri: &str,
        resource: &str,
    ) -> (StatusCode, String) {
        let (status, _, answer) = self
            .harness
            .token(&[
                ("grant_type", "authorization_code"),
                ("code", &self.code),
                ("redirect_uri", redirect_uri),
                ("client_id", client_id),
                ("code_verifier", verifier),
                ("resource", resource),
            ])
            .await;
        (status, answer["error"].as_str().unwrap_or("").to_owned())
    }

    async fn exchange_as_issued(&self) -> (StatusCode, String) {
        self.exchange(&self.client_id, &self.verifier, REDIRECT, RESOURCE)
            .await
    }
}

fn invalid_grant() -> (StatusCode, String) {
    (StatusCode::BAD_REQUEST, "invalid_grant".to_owned())
}

#[tokio::test]
async fn a_wrong_code_verifier_is_invalid_grant_and_uses_the_code_up() {
    let issued = issued().await;
    let (wrong, _) = pkce();
    let answer = issued
        .exchange(&issued.client_id, &wrong, REDIRECT, RESOURCE)
        .await;
    assert_eq!(answer, invalid_grant());
    assert_eq!(
        issued.exchange_as_issued().await,
        invalid_grant(),
        "used up"
    );
}

#[tokio::test]
async fn a_code_is_exchanged_once() {
    let issued = issued().await;
    assert_eq!(issued.exchange_as_issued().await.0, StatusCode::OK);
    assert_eq!(issued.exchange_as_issued().await, invalid_grant(), "reuse");
}

#[tokio::test]
async fn a_code_issued_to_another_client_is_invalid_grant() {
    let issued = issued().await;
    let other = issued.harness.public_client("Other").await;
    let answer = issued
        .exchange(&other, &issued.verifier, REDIRECT, RESOURCE)
        .await;
    assert_eq!(answer, invalid_grant());
}

#[tokio::test]
async fn another_redirect_uri_at_the_token_endpoint_is_invalid_grant() {
    let issued = issued().await;
    let answer = issued
        .exchange(
            &issued.client_id,
            &issued.verifier,
            "http://127.0.0.1:4567/other",
            RESOURCE,
        )
        .await;
    assert_eq!(answer, invalid_grant());
}

#[tokio::test]
async fn another_resource_at_the_token_endpoint_is_invalid_grant() {
    let issued = issued().await;
    let answer = issued
        .exchange(
            &issued.client_id,
            &issued.verifier,
            REDIRECT,
            "https://other.example/mcp",
        )
        .await;
    assert_eq!(answer, invalid_grant());
}

#[tokio::test]
async fn a_revoked_client_gets_no_more_tokens() {
    let harness = Harness::new();
    let client_id = harness.public_client("Client").await;
    let (verifier, challenge) = pkce();
    let code = harness.code_for(&client_id, &challenge).await;
    let (_, _, tokens) = harness
        .token(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("client_id", &client_id),
            ("code_verifier", &verifier),
        ])
        .await;
    assert!(harness.server.store().revoke(&client_id).unwrap());
    let (status, _, answer) = harness
        .token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
            ("client_id", &client_id),
        ])
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{answer}");
    let (status, _, _) = harness
        .authorize(&request_params(&client_id, &pkce().1))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_full_list_makes_room_by_dropping_old_clients_that_never_got_a_token() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("oauth.json");
    let client = |last_used_at: Option<u64>| {
        json!({"client_name": "old", "redirect_uris": [REDIRECT],
               "token_endpoint_auth_method": "none", "registered_at": 1,
               "last_used_at": last_used_at})
    };
    std::fs::write(
        &path,
        json!({"clients": {"unused": client(None)}}).to_string(),
    )
    .unwrap();
    let harness = Harness::with(config().with_max_clients(1), Store::open(&path).unwrap());
    let (status, answer) = harness
        .register(json!({"redirect_uris": [REDIRECT], "token_endpoint_auth_method": "none"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    let ids: Vec<String> = harness
        .server
        .store()
        .clients()
        .unwrap()
        .into_iter()
        .map(|c| c.client_id)
        .collect();
    assert!(!ids.contains(&"unused".to_owned()), "{ids:?}");

    std::fs::write(
        &path,
        json!({"clients": {"used": client(Some(2))}}).to_string(),
    )
    .unwrap();
    let (status, _) = harness
        .register(json!({"redirect_uris": [REDIRECT], "token_endpoint_auth_method": "none"}))
        .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "a client that got a token keeps its place"
    );
}

#[tokio::test]
async fn reusing_a_rotated_refresh_token_revokes_its_whole_family() {
    let issued = issued().await;
    let (_, _, tokens) = issued
        .harness
        .token(&[
            ("grant_type", "authorization_code"),
            ("code", &issued.code),
            ("client_id", &issued.client_id),
            ("code_verifier", &issued.verifier),
        ])
        .await;
    let refresh = |token: String| {
        let issued = &issued;
        async move {
            let (status, _, answer) = issued
                .harness
                .token(&[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", &token),
                    ("client_id", &issued.client_id),
                ])
                .await;
            (status, answer)
        }
    };
    let first = tokens["refresh_token"].as_str().unwrap().to_owned();
    let (status, rotated) = refresh(first.clone()).await;
    assert_eq!(status, StatusCode::OK);
    let second = rotated["refresh_token"].as_str().unwrap().to_owned();
    let (status, reused) = refresh(first).await;
    assert_eq!(
        (status, reused["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    let (status, _) = refresh(second).await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "the newer token of the family is revoked too"
    );
}
