//! [`AuthorizationServer`]: the endpoints (metadata, registration, authorization, token)
//! and the state behind them (the store, pending codes, the pairing code).

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
    time::Instant,
};

use axum::{
    Form, Json, Router,
    extract::{DefaultBodyLimit, Query, State, rejection::JsonRejection},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
};
use base64::Engine;
use bearer_auth::{Audience, RsaKeyPair, TokenRequest, mint_token};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::sync::watch;

use crate::{
    OAuthConfig, PairingCode, Store,
    cimd::{Documents, is_document_url},
    consent::{Consent, consent_page, error_page},
    constant_time_eq,
    pairing::{Attempt, Pairing},
    redirect,
    store::{Client, Refresh, StoreData, hex, now, sha256_hex},
};

/// RFC 8414 metadata.
pub const METADATA_PATH: &str = "/.well-known/oauth-authorization-server";
/// RFC 7591 registration.
pub const REGISTER_PATH: &str = "/register";
/// The authorization endpoint (`GET`: consent page, `POST`: the owner's approval).
pub const AUTHORIZE_PATH: &str = "/authorize";
/// The token endpoint.
pub const TOKEN_PATH: &str = "/token";

/// Most authorization codes waiting to be exchanged.
const MAX_PENDING_CODES: usize = 1_000;
/// Longest accepted value of any one request parameter.
const MAX_PARAM_BYTES: usize = 2_048;
/// How long a registered client that never obtained a token keeps its place when the list
/// is full.
const UNUSED_CLIENT_TTL: u64 = 15 * 60;
/// Most redirect URIs one client may register.
const MAX_REDIRECT_URIS: usize = 10;

/// The authorization server. Cheap to clone; clones share the state.
#[derive(Clone)]
pub struct AuthorizationServer {
    inner: Arc<Inner>,
}

struct Inner {
    config: OAuthConfig,
    key: RsaKeyPair,
    store: Store,
    pairing: Pairing,
    codes: Mutex<HashMap<String, PendingCode>>,
    documents: Documents,
}

/// An authorization code waiting for the token request, keyed by the code's SHA-256.
struct PendingCode {
    client_id: String,
    redirect_uri: String,
    challenge: String,
    scope: String,
    expires: Instant,
}

impl std::fmt::Debug for AuthorizationServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthorizationServer")
            .field("issuer", &self.inner.config.issuer)
            .finish_non_exhaustive()
    }
}

impl AuthorizationServer {
    /// A server for `config` that signs access tokens with `key` and keeps clients in
    /// `store`. Its first pairing code is made now.
    pub fn new(config: OAuthConfig, key: RsaKeyPair, store: Store) -> Self {
        Self {
            inner: Arc::new(Inner {
                key,
                store,
                pairing: Pairing::new(),
                codes: Mutex::default(),
                documents: Documents::new(config.allow_local_client_documents),
                config,
            }),
        }
    }

    /// The pairing codes as they are made (the current one first): show each to the owner
    /// on the terminal, and nowhere else.
    pub fn pairing_codes(&self) -> watch::Receiver<PairingCode> {
        self.inner.pairing.subscribe()
    }

    /// The settings.
    pub fn config(&self) -> &OAuthConfig {
        &self.inner.config
    }

    /// The store of clients and refresh tokens.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// The endpoints, each body bounded. Mount them at the issuer's root, public (they are
    /// how a client gets a token).
    pub fn router(&self) -> Router {
        Router::new()
            .route(METADATA_PATH, get(metadata))
            .route(REGISTER_PATH, post(register))
            .route(AUTHORIZE_PATH, get(authorize).post(approve))
            .route(TOKEN_PATH, post(token))
            // axum's own limit: the extractors then refuse a larger body with 413.
            .layer(DefaultBodyLimit::max(self.inner.config.max_body_bytes))
            .with_state(self.clone())
    }

    /// The RFC 8414 document.
    pub fn metadata(&self) -> Value {
        let config = &self.inner.config;
        json!({
            "issuer": config.issuer,
            "authorization_endpoint": config.endpoint(AUTHORIZE_PATH),
            "token_endpoint": config.endpoint(TOKEN_PATH),
            "registration_endpoint": config.endpoint(REGISTER_PATH),
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["none", "client_secret_post", "client_secret_basic"],
            "scopes_supported": config.scopes,
            "authorization_response_iss_parameter_supported": true,
            "client_id_metadata_document_supported": true,
        })
    }

    /// The client `client_id` names: a registered one, or the one its metadata document
    /// describes when it is a URL. `Ok(None)`: no such client; `Err`: why it cannot be used.
    async fn lookup_client(&self, client_id: &str) -> Result<Option<Client>, String> {
        if is_document_url(client_id) {
            return self.inner.documents.client(client_id).await.map(Some);
        }
        self.inner
            .store
            .view(|data| data.clients.get(client_id).cloned())
            .map_err(|error| {
                tracing::error!(%error, "could not read the OAuth store");
                "the server could not read its client list; try again".to_owned()
            })
    }

    fn lock_codes(&self) -> std::sync::MutexGuard<'_, HashMap<String, PendingCode>> {
        self.inner
            .codes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

fn random_token() -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
}

/// A new `client_id`: 128 random bits in lowercase hex. Not base64url like the secrets: an
/// id the owner types (`dice-mcp oauth revoke ID`) must never start with `-`, which a
/// command line reads as a flag.
fn new_client_id() -> String {
    hex(&rand::random::<[u8; 16]>())
}

/// An OAuth error answer in JSON (RFC 6749 §5.2, RFC 7591 §3.2.2), never cached.
fn oauth_error(status: StatusCode, error: &str, description: impl Into<String>) -> Response {
    let mut response = (
        status,
        Json(json!({"error": error, "error_description": description.into()})),
    )
        .into_response();
    no_store(response.headers_mut());
    response
}

fn no_store(headers: &mut HeaderMap) {
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
}

async fn metadata(State(server): State<AuthorizationServer>) -> Response {
    let mut response = Json(server.metadata()).into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("max-age=300"),
    );
    response
}

// ---- registration (RFC 7591) ----

#[derive(Deserialize)]
struct Registration {
    #[serde(default)]
    redirect_uris: Vec<String>,
    client_name: Option<String>,
    token_endpoint_auth_method: Option<String>,
    grant_types: Option<Vec<String>>,
    response_types: Option<Vec<String>>,
}

async fn register(
    State(server): State<AuthorizationServer>,
    body: Result<Json<Registration>, JsonRejection>,
) -> Response {
    let invalid =
        |error: &str, description: String| oauth_error(StatusCode::BAD_REQUEST, error, description);
    let Registration {
        redirect_uris,
        client_name,
        token_endpoint_auth_method,
        grant_types,
        response_types,
    } = match body {
        Ok(Json(registration)) => registration,
        Err(rejection) if over_limit(&rejection) => {
            return oauth_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "invalid_client_metadata",
                format!(
                    "the client metadata is over {} bytes",
                    server.inner.config.max_body_bytes
                ),
            );
        }
        Err(rejection) => {
            return invalid(
                "invalid_client_metadata",
                format!(
                    "the body must be JSON client metadata: {}",
                    rejection.body_text()
                ),
            );
        }
    };
    if redirect_uris.is_empty() {
        return invalid(
            "invalid_redirect_uri",
            "redirect_uris must list at least one URI".into(),
        );
    }
    if redirect_uris.len() > MAX_REDIRECT_URIS {
        return invalid(
            "invalid_redirect_uri",
            format!("at most {MAX_REDIRECT_URIS} redirect URIs may be registered"),
        );
    }
    for uri in &redirect_uris {
        if uri.len() > MAX_PARAM_BYTES {
            return invalid("invalid_redirect_uri", "a redirect URI is too long".into());
        }
        if let Some(why) = redirect::refuse_registration(uri) {
            return invalid("invalid_redirect_uri", why);
        }
    }
    let method = token_endpoint_auth_method.unwrap_or_else(|| "client_secret_basic".to_owned());
    if !["none", "client_secret_post", "client_secret_basic"].contains(&method.as_str()) {
        return invalid(
            "invalid_client_metadata",
            format!(
                "token_endpoint_auth_method {method:?} is not supported; use none (with PKCE), \
                 client_secret_post or client_secret_basic"
            ),
        );
    }
    let grant_types = grant_types
        .unwrap_or_else(|| vec!["authorization_code".to_owned(), "refresh_token".to_owned()]);
    if let Some(other) = grant_types
        .iter()
        .find(|grant| !["authorization_code", "refresh_token"].contains(&grant.as_str()))
    {
        return invalid(
            "invalid_client_metadata",
            format!(
                "grant type {other:?} is not supported; this server issues codes and refresh tokens"
            ),
        );
    }
    if response_types.is_some_and(|types| types.iter().any(|t| t != "code")) {
        return invalid(
            "invalid_client_metadata",
            "only the code response type is supported".into(),
        );
    }
    let client_name = client_name.map(|name| name.chars().take(200).collect::<String>());
    let client_id = new_client_id();
    let secret = (method != "none").then(random_token);
    let registered_at = now();
    let client = Client {
        client_name: client_name.clone(),
        redirect_uris: redirect_uris.clone(),
        token_endpoint_auth_method: method.clone(),
        secret_sha256: secret.as_deref().map(sha256_hex),
        registered_at,
        last_used_at: None,
    };
    let max = server.inner.config.max_clients;
    let stored = server.inner.store.update(|data| {
        if data.clients.len() >= max {
            // Registration is open to anyone; a client that never got a token within
            // UNUSED_CLIENT_TTL is dropped when room is needed, so strangers filling the
            // list cannot lock the owner's real clients out for good.
            data.clients.retain(|_, client| {
                client.last_used_at.is_some()
                    || registered_at.saturating_sub(client.registered_at) < UNUSED_CLIENT_TTL
            });
        }
        if data.clients.len() >= max {
            return false;
        }
        data.clients.insert(client_id.clone(), client);
        true
    });
    match stored {
        Ok(true) => {}
        Ok(false) => {
            return invalid(
                "invalid_client_metadata",
                format!(
                    "this server already has {max} registered clients, its limit; the owner \
                     must revoke one before another can register"
                ),
            );
        }
        Err(error) => return store_failed(&error),
    }
    tracing::info!(client_id = %client_id, name = ?client_name, "registered an OAuth client");
    let mut answer = json!({
        "client_id": client_id,
        "client_id_issued_at": registered_at,
        "redirect_uris": redirect_uris,
        "token_endpoint_auth_method": method,
        "grant_types": grant_types,
        "response_types": ["code"],
    });
    if let Some(name) = client_name {
        answer["client_name"] = json!(name);
    }
    if let Some(secret) = secret {
        answer["client_secret"] = json!(secret);
        answer["client_secret_expires_at"] = json!(0);
    }
    let mut response = (StatusCode::CREATED, Json(answer)).into_response();
    no_store(response.headers_mut());
    response
}

fn store_failed(error: &crate::Error) -> Response {
    tracing::error!(error = %error, source = ?std::error::Error::source(error), "the OAuth store failed");
    oauth_error(
        StatusCode::SERVICE_UNAVAILABLE,
        "temporarily_unavailable",
        "the server could not save its state; try again",
    )
}

// ---- authorization ----

/// The parameters of an authorization request, from the query (`GET`) or the consent form
/// (`POST`, with the pairing code).
#[derive(Debug, Default, Deserialize)]
struct AuthorizeParams {
    #[serde(default)]
    response_type: String,
    #[serde(default)]
    client_id: String,
    #[serde(default)]
    redirect_uri: String,
    #[serde(default)]
    code_challenge: String,
    #[serde(default)]
    code_challenge_method: String,
    #[serde(default)]
    state: String,
    #[serde(default)]
    scope: String,
    #[serde(default)]
    resource: String,
    #[serde(default)]
    pairing_code: String,
}

/// A checked authorization request.
struct Authorization {
    client_name: String,
    redirect_uri: String,
    scope: String,
}

/// Why an authorization request fails: either on this page (the client or redirect cannot
/// be trusted) or by redirecting the error to the client.
enum Refusal {
    Page(String),
    Redirect {
        redirect_uri: String,
        error: &'static str,
        description: String,
    },
}

impl AuthorizationServer {
    /// Checks an authorization request, in the order RFC 6749 §4.1.2.1 asks: the client and
    /// its redirect URI first (failures stay on this server), then the rest (failures go back
    /// to the client).
    async fn check(&self, params: &AuthorizeParams) -> Result<Authorization, Refusal> {
        let too_long = [
            &params.client_id,
            &params.redirect_uri,
            &params.state,
            &params.scope,
            &params.resource,
            &params.code_challenge,
        ]
        .iter()
        .any(|value| value.len() > MAX_PARAM_BYTES);
        if too_long {
            return Err(Refusal::Page(
                "a parameter of the request is too long".into(),
            ));
        }
        let client = self
            .lookup_client(&params.client_id)
            .await
            .map_err(Refusal::Page)?
            .ok_or_else(|| {
                Refusal::Page(
                    "the application is not registered with this server (unknown client_id)".into(),
                )
            })?;
        let redirect_uri = if params.redirect_uri.is_empty() {
            match client.redirect_uris.as_slice() {
                [only] => only.clone(),
                _ => {
                    return Err(Refusal::Page(
                        "redirect_uri is required: the application registered several".into(),
                    ));
                }
            }
        } else if redirect::matches(&client.redirect_uris, &params.redirect_uri) {
            params.redirect_uri.clone()
        } else {
            return Err(Refusal::Page(
                "the redirect_uri is not one the application registered".into(),
            ));
        };
        let back = |error: &'static str, description: &str| Refusal::Redirect {
            redirect_uri: redirect_uri.clone(),
            error,
            description: description.to_owned(),
        };
        if params.response_type != "code" {
            return Err(back(
                "unsupported_response_type",
                "only response_type=code is supported",
            ));
        }
        if params.code_challenge.is_empty() {
            return Err(back(
                "invalid_request",
                "code_challenge is required (PKCE with S256)",
            ));
        }
        if params.code_challenge_method != "S256" {
            return Err(back(
                "invalid_request",
                "code_challenge_method must be S256",
            ));
        }
        let challenge_ok = params.code_challenge.len() == 43
            && params
                .code_challenge
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !challenge_ok {
            return Err(back(
                "invalid_request",
                "code_challenge must be the base64url SHA-256 of the verifier (43 characters)",
            ));
        }
        if !params.resource.is_empty() && !self.is_resource(&params.resource) {
            return Err(back(
                "invalid_target",
                "this server issues tokens only for its own resource",
            ));
        }
        let scope = self
            .grant_scope(&params.scope)
            .ok_or_else(|| back("invalid_scope", "none of the requested scopes is offered"))?;
        Ok(Authorization {
            client_name: client
                .client_name
                .clone()
                .filter(|name| !name.trim().is_empty())
                .unwrap_or_else(|| "An unnamed application".to_owned()),
            redirect_uri,
            scope,
        })
    }

    fn is_resource(&self, resource: &str) -> bool {
        resource.trim_end_matches('/') == self.inner.config.resource.trim_end_matches('/')
    }

    /// The scopes granted: those requested that are offered (unknown ones are dropped), or
    /// every offered scope when none is requested; `None` when only unknown ones were.
    fn grant_scope(&self, requested: &str) -> Option<String> {
        let offered = &self.inner.config.scopes;
        if requested.trim().is_empty() {
            return Some(offered.join(" "));
        }
        let granted: Vec<&str> = requested
            .split_whitespace()
            .filter(|scope| offered.iter().any(|o| o == scope))
            .collect();
        (!granted.is_empty()).then(|| granted.join(" "))
    }

    /// `redirect_uri` with the response parameters added, `iss` always (RFC 9207).
    fn redirect_with(&self, redirect_uri: &str, pairs: &[(&str, &str)], state: &str) -> Response {
        let mut url = match url::Url::parse(redirect_uri) {
            Ok(url) => url,
            Err(_) => return error_page("the redirect_uri is not a URL"),
        };
        {
            let mut query = url.query_pairs_mut();
            for (name, value) in pairs {
                query.append_pair(name, value);
            }
            if !state.is_empty() {
                query.append_pair("state", state);
            }
            query.append_pair("iss", &self.inner.config.issuer);
        }
        let mut response = Redirect::to(url.as_str()).into_response();
        *response.status_mut() = StatusCode::FOUND;
        no_store(response.headers_mut());
        response
    }

    fn refuse(&self, refusal: Refusal, state: &str) -> Response {
        match refusal {
            Refusal::Page(message) => error_page(&message),
            Refusal::Redirect {
                redirect_uri,
                error,
                description,
            } => self.redirect_with(
                &redirect_uri,
                &[("error", error), ("error_description", &description)],
                state,
            ),
        }
    }

    fn consent(
        &self,
        params: &AuthorizeParams,
        authorization: &Authorization,
        problem: Option<&str>,
        status: StatusCode,
    ) -> Response {
        let host = url::Url::parse(&authorization.redirect_uri)
            .ok()
            .map(|url| match url.host_str() {
                Some(host) => format!("{}://{host}", url.scheme()),
                None => format!("{}:", url.scheme()),
            })
            .unwrap_or_default();
        let fields = [
            ("response_type", params.response_type.as_str()),
            ("client_id", params.client_id.as_str()),
            ("redirect_uri", authorization.redirect_uri.as_str()),
            ("code_challenge", params.code_challenge.as_str()),
            (
                "code_challenge_method",
                params.code_challenge_method.as_str(),
            ),
            ("state", params.state.as_str()),
            ("scope", params.scope.as_str()),
            ("resource", params.resource.as_str()),
        ];
        consent_page(
            &Consent {
                client_name: &authorization.client_name,
                redirect_host: &host,
                server_name: &self.inner.config.server_name,
                fields: &fields,
                problem,
            },
            status,
        )
    }
}

async fn authorize(
    State(server): State<AuthorizationServer>,
    params: Result<Query<AuthorizeParams>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Ok(Query(params)) = params else {
        return error_page("the authorization request's parameters could not be read");
    };
    match server.check(&params).await {
        Ok(authorization) => server.consent(&params, &authorization, None, StatusCode::OK),
        Err(refusal) => server.refuse(refusal, &params.state),
    }
}

async fn approve(
    State(server): State<AuthorizationServer>,
    form: Result<Form<AuthorizeParams>, axum::extract::rejection::FormRejection>,
) -> Response {
    let params = match form {
        Ok(Form(params)) => params,
        Err(rejection) if over_limit(&rejection) => {
            return crate::consent::page(
                StatusCode::PAYLOAD_TOO_LARGE,
                "Request too large",
                "<h1>The approval form is too large</h1>",
            );
        }
        Err(_) => return error_page("the approval form could not be read"),
    };
    let authorization = match server.check(&params).await {
        Ok(authorization) => authorization,
        Err(refusal) => return server.refuse(refusal, &params.state),
    };
    match server.inner.pairing.attempt(&params.pairing_code) {
        Attempt::Approved => {}
        Attempt::Wrong { left } => {
            tracing::warn!(client_id = %params.client_id, "a wrong pairing code was typed");
            let problem = format!(
                "That is not the pairing code. {left} more tries, then a new code is shown in \
                 the terminal."
            );
            return server.consent(
                &params,
                &authorization,
                Some(&problem),
                StatusCode::BAD_REQUEST,
            );
        }
        Attempt::Voided => {
            tracing::warn!("too many wrong pairing codes: the code is void and a new one was made");
            return server.consent(
                &params,
                &authorization,
                Some("Too many wrong codes: that code is void. The terminal now shows a new one."),
                StatusCode::BAD_REQUEST,
            );
        }
    }
    let code = random_token();
    {
        let mut codes = server.lock_codes();
        let now = Instant::now();
        codes.retain(|_, pending| pending.expires > now);
        if codes.len() >= MAX_PENDING_CODES {
            return error_page(
                "too many authorizations are waiting to be completed; try again in a minute",
            );
        }
        codes.insert(
            sha256_hex(&code),
            PendingCode {
                client_id: params.client_id.clone(),
                redirect_uri: authorization.redirect_uri.clone(),
                challenge: params.code_challenge.clone(),
                scope: authorization.scope.clone(),
                expires: now + server.inner.config.code_ttl,
            },
        );
    }
    tracing::info!(client_id = %params.client_id, "the owner approved a client");
    server.redirect_with(
        &authorization.redirect_uri,
        &[("code", &code)],
        &params.state,
    )
}

// ---- token ----

#[derive(Debug, Default, Deserialize)]
struct TokenParams {
    #[serde(default)]
    grant_type: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    redirect_uri: String,
    #[serde(default)]
    code_verifier: String,
    #[serde(default)]
    refresh_token: String,
    #[serde(default)]
    client_id: String,
    #[serde(default)]
    client_secret: String,
    #[serde(default)]
    resource: String,
}

/// A token-endpoint failure: its OAuth error code, what to say, and its status.
struct TokenError {
    status: StatusCode,
    error: &'static str,
    description: String,
}

impl TokenError {
    fn grant(description: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            error: "invalid_grant",
            description: description.into(),
        }
    }

    fn client(description: impl Into<String>) -> Self {
        Self {
            status: StatusCode::UNAUTHORIZED,
            error: "invalid_client",
            description: description.into(),
        }
    }

    fn request(description: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            error: "invalid_request",
            description: description.into(),
        }
    }
}

impl IntoResponse for TokenError {
    fn into_response(self) -> Response {
        let mut response = oauth_error(self.status, self.error, self.description);
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"token\""),
            );
        }
        response
    }
}

async fn token(
    State(server): State<AuthorizationServer>,
    headers: HeaderMap,
    form: Result<Form<TokenParams>, axum::extract::rejection::FormRejection>,
) -> Response {
    let params = match form {
        Ok(Form(params)) => params,
        Err(rejection) if over_limit(&rejection) => {
            return oauth_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "invalid_request",
                "the request body is too large",
            );
        }
        Err(_) => {
            return TokenError::request("the body must be application/x-www-form-urlencoded")
                .into_response();
        }
    };
    let result = match params.grant_type.as_str() {
        "authorization_code" => server.exchange_code(&headers, &params).await,
        "refresh_token" => server.refresh(&headers, &params).await,
        _ => Err(TokenError {
            status: StatusCode::BAD_REQUEST,
            error: "unsupported_grant_type",
            description: "grant_type must be authorization_code or refresh_token".into(),
        }),
    };
    match result {
        Ok(answer) => {
            let mut response = Json(answer).into_response();
            no_store(response.headers_mut());
            response
        }
        Err(error) => error.into_response(),
    }
}

impl AuthorizationServer {
    /// The client the request authenticates as (RFC 6749 §2.3), checked against how it
    /// registered: its `client_id` alone for public clients, with its secret in the form or
    /// in HTTP Basic for the others.
    async fn authenticate(
        &self,
        headers: &HeaderMap,
        params: &TokenParams,
    ) -> Result<String, TokenError> {
        let basic = headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| {
                value
                    .strip_prefix("Basic ")
                    .or_else(|| value.strip_prefix("basic "))
            })
            .map(|encoded| {
                base64::engine::general_purpose::STANDARD
                    .decode(encoded.trim())
                    .ok()
                    .and_then(|bytes| String::from_utf8(bytes).ok())
                    .and_then(|pair| {
                        pair.split_once(':')
                            .map(|(id, secret)| (percent_decode(id), percent_decode(secret)))
                    })
                    .ok_or_else(|| TokenError::client("the Basic credentials do not parse"))
            })
            .transpose()?;
        let (client_id, secret) = match basic {
            Some((id, secret)) => (id, Some(secret)),
            None => (
                params.client_id.clone(),
                (!params.client_secret.is_empty()).then(|| params.client_secret.clone()),
            ),
        };
        if client_id.is_empty() {
            return Err(TokenError::client("client_id is required"));
        }
        let client = self
            .lookup_client(&client_id)
            .await
            .map_err(TokenError::client)?
            .ok_or_else(|| TokenError::client("unknown client_id"))?;
        match (&client.secret_sha256, secret) {
            (None, _) => Ok(client_id),
            (Some(expected), Some(secret)) if constant_time_eq(expected, &sha256_hex(&secret)) => {
                Ok(client_id)
            }
            (Some(_), _) => Err(TokenError::client("the client secret is missing or wrong")),
        }
    }

    async fn exchange_code(
        &self,
        headers: &HeaderMap,
        params: &TokenParams,
    ) -> Result<Value, TokenError> {
        let client_id = self.authenticate(headers, params).await?;
        if params.code.is_empty() || params.code_verifier.is_empty() {
            return Err(TokenError::request("code and code_verifier are required"));
        }
        // Removed on first sight: a code is used once, whatever the outcome.
        let pending = self
            .lock_codes()
            .remove(&sha256_hex(&params.code))
            .filter(|pending| pending.expires > Instant::now())
            .ok_or_else(|| TokenError::grant("the code is unknown, used already or expired"))?;
        if pending.client_id != client_id {
            return Err(TokenError::grant("the code was issued to another client"));
        }
        if !params.redirect_uri.is_empty() && params.redirect_uri != pending.redirect_uri {
            return Err(TokenError::grant(
                "redirect_uri differs from the one of the authorization request",
            ));
        }
        // Every code is for this server's one resource: another one is a mismatch.
        if !params.resource.is_empty() && !self.is_resource(&params.resource) {
            return Err(TokenError::grant(
                "resource differs from the one the code was issued for",
            ));
        }
        let computed = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(Sha256::digest(params.code_verifier.as_bytes()));
        if !constant_time_eq(&computed, &pending.challenge) {
            return Err(TokenError::grant(
                "the code_verifier does not match the code_challenge",
            ));
        }
        let family = random_token();
        self.issue(&client_id, &pending.scope, family)
    }

    async fn refresh(
        &self,
        headers: &HeaderMap,
        params: &TokenParams,
    ) -> Result<Value, TokenError> {
        let client_id = self.authenticate(headers, params).await?;
        if params.refresh_token.is_empty() {
            return Err(TokenError::request("refresh_token is required"));
        }
        let hash = sha256_hex(&params.refresh_token);
        let found = self
            .inner
            .store
            .update(|data: &mut StoreData| {
                let token = data.refresh_tokens.get(&hash).cloned()?;
                if token.client_id != client_id {
                    return Some(Err("the refresh token was issued to another client"));
                }
                if token.rotated {
                    // Reuse of a rotated token: someone else may hold the family. End it.
                    data.refresh_tokens.retain(|_, t| t.family != token.family);
                    return Some(Err("the refresh token was used already; every token of this grant is now revoked"));
                }
                if let Some(t) = data.refresh_tokens.get_mut(&hash) {
                    t.rotated = true;
                }
                Some(Ok(token))
            })
            .map_err(|error| {
                tracing::error!(%error, "could not update the OAuth store");
                TokenError {
                    status: StatusCode::SERVICE_UNAVAILABLE,
                    error: "temporarily_unavailable",
                    description: "the server could not save its state; try again".into(),
                }
            })?;
        match found {
            None => Err(TokenError::grant(
                "the refresh token is unknown, revoked or expired",
            )),
            Some(Err(why)) => {
                tracing::warn!(client_id = %client_id, why, "refused a refresh token");
                Err(TokenError::grant(why))
            }
            Some(Ok(token)) => self.issue(&client_id, &token.scope, token.family),
        }
    }

    /// A new access token and refresh token for `client_id`, the refresh token in `family`.
    fn issue(&self, client_id: &str, scope: &str, family: String) -> Result<Value, TokenError> {
        let config = &self.inner.config;
        let unavailable = |description: &str| TokenError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            error: "temporarily_unavailable",
            description: description.to_owned(),
        };
        let request = TokenRequest::new(&config.subject, &config.issuer, config.access_token_ttl)
            .with_audience(Audience::One(config.resource.clone()))
            .with_scopes(scope.split_whitespace())
            .with_claim("client_id", json!(client_id));
        let access_token = mint_token(&self.inner.key, &request).map_err(|error| {
            tracing::error!(error = %error, "could not mint an access token");
            unavailable("the server could not sign a token")
        })?;
        let refresh_token = random_token();
        let now = now();
        let expires_at = now + config.refresh_token_ttl.as_secs();
        let client = client_id.to_owned();
        self.inner
            .store
            .update(|data| {
                data.refresh_tokens.insert(
                    sha256_hex(&refresh_token),
                    Refresh {
                        client_id: client.clone(),
                        family,
                        scope: scope.to_owned(),
                        expires_at,
                        rotated: false,
                    },
                );
                if let Some(known) = data.clients.get_mut(&client) {
                    known.last_used_at = Some(now);
                }
            })
            .map_err(|error| {
                tracing::error!(%error, "could not update the OAuth store");
                unavailable("the server could not save its state; try again")
            })?;
        Ok(json!({
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": config.access_token_ttl.as_secs(),
            "refresh_token": refresh_token,
            "scope": scope,
        }))
    }
}

/// Whether an extractor failed because the body is over the limit. axum reports that as
/// `413` only when it finds `LengthLimitError` at most two boxes deep; behind a router's
/// layers it is deeper and reaches us as an `axum::Error` whose text is the limit error's
/// (its own source chain stops there), so both are looked for.
fn over_limit(rejection: &(dyn std::error::Error + 'static)) -> bool {
    std::iter::successors(Some(rejection), |error| error.source()).any(|error| {
        error.is::<http_body_util::LengthLimitError>()
            || error
                .downcast_ref::<axum::Error>()
                .is_some_and(|inner| inner.to_string().contains("length limit exceeded"))
    })
}

/// Decodes `%XX` in HTTP Basic credentials (RFC 6749 §2.3.1 form-encodes them).
fn percent_decode(text: &str) -> String {
    url::form_urlencoded::parse(format!("x={text}").as_bytes())
        .next()
        .map(|(_, value)| value.into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_ids_are_hex_and_never_start_with_a_hyphen() {
        // As base64url, one id in 64 started with `-` (a flag to `oauth revoke`).
        for _ in 0..1000 {
            let id = new_client_id();
            assert_eq!(id.len(), 32, "{id}");
            assert!(
                id.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
                "{id}"
            );
        }
    }
}
