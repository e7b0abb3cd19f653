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

#[tokio::test]
async fn an_unknown_client_or_unregistered_redirect_gets_a_page_and_never_a_redirect() {
    let harness = Harness::new();
    let client_id = harness.public_client("Known").await;
    let (_, challenge) = pkce();
    let mut unknown = request_params("no-such-client", &challenge);
    let mut elsewhere = request_params(&client_id, &challenge);
    elsewhere[2] = ("redirect_uri", "https://evil.example/steal");
    for params in [&mut unknown, &mut elsewhere] {
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

#[tokio::test]
async fn missing_or_plain_pkce_and_a_foreign_resource_are_sent_back_as_errors() {
    let harness = Harness::new();
    let client_id = harness.public_client("Client").await;
    let (_, challenge) = pkce();
    type Change = Box<dyn Fn(&mut Vec<(&str, &str)>)>;
    let cases: [(&str, Change); 4] = [
        (
            "invalid_request",
            Box::new(|p| p.retain(|(k, _)| *k != "code_challenge")),
        ),
        (
            "invalid_request",
            Box::new(|p| p[4] = ("code_challenge_method", "plain")),
        ),
        (
            "invalid_target",
            Box::new(|p| p[7] = ("resource", "https://other.example/mcp")),
        ),
        (
            "unsupported_response_type",
            Box::new(|p| p[0] = ("response_type", "token")),
        ),
    ];
    for (expected, change) in cases {
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
}

#[tokio::test]
async fn a_wrong_pairing_code_issues_nothing_and_five_void_the_code() {
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

#[tokio::test]
async fn the_consent_page_escapes_the_client_name_and_refuses_frames() {
    let harness = Harness::new();
    let name = "<script>alert('x')</script>";
    let client_id = harness.public_client(name).await;
    let (_, challenge) = pkce();
    let (status, headers, page) = harness
        .authorize(&request_params(&client_id, &challenge))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(!page.contains(name), "{page}");
    assert!(
        page.contains("&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;"),
        "{page}"
    );
    assert_eq!(headers[header::X_FRAME_OPTIONS], "DENY");
    assert!(
        headers[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap()
            .contains("frame-ancestors 'none'")
    );
    assert_eq!(headers[header::CACHE_CONTROL], "no-store");
}

#[tokio::test]
async fn codes_are_bound_to_verifier_client_redirect_and_single_use() {
    let harness = Harness::new();
    let client_id = harness.public_client("Client").await;
    let other_id = harness.public_client("Other").await;
    let exchange_for = |code: String,
                        verifier: String,
                        client: String,
                        redirect: &'static str,
                        resource: &'static str| {
        let harness = &harness;
        async move {
            let (status, _, answer) = harness
                .token(&[
                    ("grant_type", "authorization_code"),
                    ("code", &code),
                    ("redirect_uri", redirect),
                    ("client_id", &client),
                    ("code_verifier", &verifier),
                    ("resource", resource),
                ])
                .await;
            (status, answer["error"].as_str().unwrap_or("").to_owned())
        }
    };
    let exchange = |code: String, verifier: String, client: String, redirect: &'static str| {
        exchange_for(code, verifier, client, redirect, RESOURCE)
    };
    let invalid_grant = (StatusCode::BAD_REQUEST, "invalid_grant".to_owned());

    let (verifier, challenge) = pkce();
    let code = harness.code_for(&client_id, &challenge).await;
    assert_eq!(
        exchange_for(
            code,
            verifier,
            client_id.clone(),
            REDIRECT,
            "https://other.example/mcp"
        )
        .await,
        invalid_grant,
        "another resource"
    );

    let (verifier, challenge) = pkce();
    let code = harness.code_for(&client_id, &challenge).await;
    let (wrong_verifier, _) = pkce();
    assert_eq!(
        exchange(code.clone(), wrong_verifier, client_id.clone(), REDIRECT).await,
        invalid_grant,
        "wrong verifier"
    );
    assert_eq!(
        exchange(code, verifier, client_id.clone(), REDIRECT).await,
        invalid_grant,
        "a refused code is used up too"
    );

    let (verifier, challenge) = pkce();
    let code = harness.code_for(&client_id, &challenge).await;
    assert_eq!(
        exchange(code, verifier, other_id, REDIRECT).await,
        invalid_grant,
        "another client"
    );

    let (verifier, challenge) = pkce();
    let code = harness.code_for(&client_id, &challenge).await;
    assert_eq!(
        exchange(
            code,
            verifier,
            client_id.clone(),
            "http://127.0.0.1:4567/other"
        )
        .await,
        invalid_grant,
        "another redirect_uri"
    );

    let (verifier, challenge) = pkce();
    let code = harness.code_for(&client_id, &challenge).await;
    assert_eq!(
        exchange(code.clone(), verifier.clone(), client_id.clone(), REDIRECT)
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(
        exchange(code, verifier, client_id, REDIRECT).await,
        invalid_grant,
        "reuse"
    );
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
