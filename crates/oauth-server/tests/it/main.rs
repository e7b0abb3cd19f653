//! The authorization server through its router (`oneshot`): the whole code flow with PKCE
//! and a pairing code, refresh rotation, and every refusal the contract names.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::sync::OnceLock;

use axum::{Router, body::Body};
use base64::Engine;
use bearer_auth::{KeySource, RsaKeyPair, Verifier, VerifierConfig};
use http::{Request, Response, StatusCode, header};
use oauth_server::{AuthorizationServer, OAuthConfig, Store};
use serde_json::{Value, json};
use test_support::pkce;
use tower::ServiceExt;

mod cimd;
mod refusals;

const ISSUER: &str = "https://as.example";
const RESOURCE: &str = "https://as.example/mcp";
const REDIRECT: &str = "http://127.0.0.1:4567/callback";

fn key() -> &'static RsaKeyPair {
    static KEY: OnceLock<RsaKeyPair> = OnceLock::new();
    KEY.get_or_init(|| RsaKeyPair::generate(2048).unwrap())
}

fn config() -> OAuthConfig {
    OAuthConfig::new(ISSUER, RESOURCE)
        .unwrap()
        .with_scopes(["dice:roll"])
        .with_server_name("dice-mcp")
}

struct Harness {
    server: AuthorizationServer,
    app: Router,
}

impl Harness {
    fn new() -> Self {
        Self::with(config(), Store::in_memory())
    }

    fn with(config: OAuthConfig, store: Store) -> Self {
        let server = AuthorizationServer::new(config, key().clone(), store);
        let app = server.router();
        Self { server, app }
    }

    fn pairing_code(&self) -> String {
        self.server.pairing_codes().borrow().to_string()
    }

    async fn send(&self, request: Request<Body>) -> (StatusCode, http::HeaderMap, String) {
        let response: Response<Body> = self.app.clone().oneshot(request).await.unwrap();
        let (parts, body) = response.into_parts();
        let bytes = axum::body::to_bytes(body, 1 << 20).await.unwrap();
        (
            parts.status,
            parts.headers,
            String::from_utf8(bytes.to_vec()).unwrap(),
        )
    }

    async fn register(&self, metadata: Value) -> (StatusCode, Value) {
        let (status, _, body) = self
            .send(
                Request::post("/register")
                    .header(header::CONTENT_TYPE, "application/json")
                    .body(Body::from(metadata.to_string()))
                    .unwrap(),
            )
            .await;
        (status, serde_json::from_str(&body).unwrap_or(Value::Null))
    }

    /// Registers a public client redirecting to [`REDIRECT`]; its `client_id`.
    async fn public_client(&self, name: &str) -> String {
        let (status, client) = self
            .register(json!({"redirect_uris": [REDIRECT], "client_name": name,
                             "token_endpoint_auth_method": "none"}))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{client}");
        client["client_id"].as_str().unwrap().to_owned()
    }

    async fn authorize(&self, params: &[(&str, &str)]) -> (StatusCode, http::HeaderMap, String) {
        self.send(
            Request::get(format!("/authorize?{}", form(params)))
                .body(Body::empty())
                .unwrap(),
        )
        .await
    }

    async fn approve(
        &self,
        params: &[(&str, &str)],
        code: &str,
    ) -> (StatusCode, http::HeaderMap, String) {
        let mut fields = params.to_vec();
        fields.push(("pairing_code", code));
        self.send(
            Request::post("/authorize")
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from(form(&fields)))
                .unwrap(),
        )
        .await
    }

    async fn token(&self, params: &[(&str, &str)]) -> (StatusCode, http::HeaderMap, Value) {
        let (status, headers, body) = self
            .send(
                Request::post("/token")
                    .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                    .body(Body::from(form(params)))
                    .unwrap(),
            )
            .await;
        (status, headers, serde_json::from_str(&body).unwrap())
    }

    /// Runs the code flow for `client_id` up to the code: the `code` from the redirect.
    async fn code_for(&self, client_id: &str, challenge: &str) -> String {
        let params = request_params(client_id, challenge);
        let (status, headers, _) = self.approve(&params, &self.pairing_code()).await;
        assert_eq!(status, StatusCode::FOUND);
        let location = url::Url::parse(headers[header::LOCATION].to_str().unwrap()).unwrap();
        query_value(&location, "code").unwrap()
    }
}

fn form(pairs: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

fn query_value(url: &url::Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
}

fn request_params<'a>(client_id: &'a str, challenge: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", REDIRECT),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256"),
        ("state", "st4te"),
        ("scope", "dice:roll"),
        ("resource", RESOURCE),
    ]
}

fn verifier() -> Verifier {
    Verifier::new(
        KeySource::public_key(key().public().clone()),
        VerifierConfig {
            issuers: vec![ISSUER.into()],
            audiences: vec![RESOURCE.into()],
            required_scopes: vec!["dice:roll".into()],
            ..VerifierConfig::default()
        },
    )
    .unwrap()
}

#[tokio::test]
async fn metadata_names_the_endpoints_and_what_clients_may_use() {
    let harness = Harness::new();
    let (status, headers, body) = harness
        .send(
            Request::get("/.well-known/oauth-authorization-server")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let metadata: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(metadata["issuer"], ISSUER);
    assert_eq!(
        metadata["authorization_endpoint"],
        "https://as.example/authorize"
    );
    assert_eq!(metadata["token_endpoint"], "https://as.example/token");
    assert_eq!(
        metadata["registration_endpoint"],
        "https://as.example/register"
    );
    assert_eq!(metadata["response_types_supported"], json!(["code"]));
    assert_eq!(
        metadata["code_challenge_methods_supported"],
        json!(["S256"])
    );
    assert_eq!(
        metadata["authorization_response_iss_parameter_supported"],
        true
    );
    assert_eq!(metadata["scopes_supported"], json!(["dice:roll"]));
    let grants = metadata["grant_types_supported"].as_array().unwrap();
    assert!(
        grants.contains(&json!("authorization_code")) && grants.contains(&json!("refresh_token"))
    );
    let methods = metadata["token_endpoint_auth_methods_supported"]
        .as_array()
        .unwrap();
    assert!(methods.contains(&json!("none")));
}

#[tokio::test]
async fn the_code_flow_gives_a_token_the_bearer_verifier_accepts_and_refresh_rotates() {
    let harness = Harness::new();
    let client_id = harness.public_client("Test client").await;
    let (verifier_text, challenge) = pkce();
    let params = request_params(&client_id, &challenge);

    let (status, headers, page) = harness.authorize(&params).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("name=\"pairing_code\""), "{page}");
    assert!(
        page.contains("Test client") && page.contains("http://127.0.0.1"),
        "{page}"
    );
    assert!(headers.get(header::LOCATION).is_none());

    let (status, headers, _) = harness.approve(&params, &harness.pairing_code()).await;
    assert_eq!(status, StatusCode::FOUND);
    let location = url::Url::parse(headers[header::LOCATION].to_str().unwrap()).unwrap();
    assert!(location.as_str().starts_with(REDIRECT), "{location}");
    assert_eq!(query_value(&location, "state").as_deref(), Some("st4te"));
    assert_eq!(query_value(&location, "iss").as_deref(), Some(ISSUER));
    let code = query_value(&location, "code").unwrap();

    let (status, headers, tokens) = harness
        .token(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("client_id", &client_id),
            ("code_verifier", &verifier_text),
            ("resource", RESOURCE),
        ])
        .await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    assert_eq!(headers[header::CACHE_CONTROL], "no-store");
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["expires_in"], 3600);
    let access = tokens["access_token"].as_str().unwrap();
    let claims = verifier().verify(access).await.unwrap();
    assert_eq!(claims.subject.as_deref(), Some("owner"));
    assert_eq!(claims.issuer.as_deref(), Some(ISSUER));
    assert_eq!(claims.extra["client_id"], client_id.as_str());
    assert_eq!(
        harness.server.store().clients().unwrap()[0].live_refresh_tokens,
        1
    );

    let first_refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
    let refresh = |token: String| {
        let client_id = client_id.clone();
        let harness = &harness;
        async move {
            harness
                .token(&[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", &token),
                    ("client_id", &client_id),
                ])
                .await
        }
    };
    let (status, _, rotated) = refresh(first_refresh.clone()).await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    verifier()
        .verify(rotated["access_token"].as_str().unwrap())
        .await
        .unwrap();
    let second_refresh = rotated["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(second_refresh, first_refresh);

    // The rotated token is refused, and presenting it revokes the whole family.
    let (status, _, reused) = refresh(first_refresh).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(reused["error"], "invalid_grant");
    let (status, _, after) = refresh(second_refresh).await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "the family is revoked: {after}"
    );
}

#[tokio::test]
async fn a_refresh_token_issued_before_a_restart_works_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("oauth.json");
    let before = Harness::with(config(), Store::open(&path).unwrap());
    let client_id = before.public_client("Restarted").await;
    let (verifier_text, challenge) = pkce();
    let code = before.code_for(&client_id, &challenge).await;
    let (_, _, tokens) = before
        .token(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("client_id", &client_id),
            ("code_verifier", &verifier_text),
        ])
        .await;
    drop(before);
    let stored = std::fs::read_to_string(&path).unwrap();
    assert!(
        !stored.contains(tokens["refresh_token"].as_str().unwrap()),
        "only the token's hash is stored"
    );

    let after = Harness::with(config(), Store::open(&path).unwrap());
    let (status, _, refreshed) = after
        .token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
            ("client_id", &client_id),
        ])
        .await;
    assert_eq!(status, StatusCode::OK, "{refreshed}");
}

#[tokio::test]
async fn a_confidential_client_must_present_its_secret_by_basic_or_form() {
    let harness = Harness::new();
    let (status, client) = harness
        .register(json!({"redirect_uris": [REDIRECT], "client_name": "Secretive"}))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(client["token_endpoint_auth_method"], "client_secret_basic");
    let client_id = client["client_id"].as_str().unwrap().to_owned();
    let secret = client["client_secret"].as_str().unwrap().to_owned();

    for (with_basic, with_form_secret) in [(false, false), (true, false), (false, true)] {
        let (verifier_text, challenge) = pkce();
        let code = harness.code_for(&client_id, &challenge).await;
        let mut params = vec![
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("code_verifier", verifier_text.as_str()),
        ];
        if with_form_secret {
            params.push(("client_id", &client_id));
            params.push(("client_secret", &secret));
        } else if !with_basic {
            params.push(("client_id", &client_id));
        }
        let mut request = Request::post("/token")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        if with_basic {
            let basic =
                base64::engine::general_purpose::STANDARD.encode(format!("{client_id}:{secret}"));
            request = request.header(header::AUTHORIZATION, format!("Basic {basic}"));
        }
        let (status, _, body) = harness
            .send(request.body(Body::from(form(&params))).unwrap())
            .await;
        let expected = if with_basic || with_form_secret {
            StatusCode::OK
        } else {
            StatusCode::UNAUTHORIZED
        };
        assert_eq!(
            status, expected,
            "basic {with_basic}, form {with_form_secret}: {body}"
        );
    }
}

#[tokio::test]
async fn loopback_redirects_are_accepted_on_any_port() {
    let harness = Harness::new();
    let client_id = harness.public_client("Native app").await;
    let (_, challenge) = pkce();
    let mut params = request_params(&client_id, &challenge);
    params[2] = ("redirect_uri", "http://127.0.0.1:60001/callback");
    let (status, headers, _) = harness.approve(&params, &harness.pairing_code()).await;
    assert_eq!(status, StatusCode::FOUND);
    assert!(
        headers[header::LOCATION]
            .to_str()
            .unwrap()
            .starts_with("http://127.0.0.1:60001/callback?code=")
    );
}
