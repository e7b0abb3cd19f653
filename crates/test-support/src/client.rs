//! Talking to an MCP server over real HTTP with reqwest: a client that does not follow
//! redirects, the POST a Streamable HTTP client sends, and opening a session by hand.

use std::sync::OnceLock;

use reqwest::{Client, ClientBuilder, RequestBuilder, Response, StatusCode, header};
use serde_json::Value;

use crate::{
    ACCEPT_BOTH, PROTOCOL_VERSION_HEADER, SESSION_HEADER, initialize_body,
    initialized_notification, rpc_message,
};

/// A client builder with redirects off, for tests that need a client of their own (a
/// timeout, a resolver override): a server that redirected, which OpenAI's client does not
/// follow, then fails the test instead of passing it unseen.
pub fn client_builder() -> ClientBuilder {
    Client::builder().redirect(reqwest::redirect::Policy::none())
}

/// One shared client from [`client_builder`]: building one loads the TLS roots, which takes
/// ~20 ms, so tests share it.
pub fn http() -> Client {
    static CLIENT: OnceLock<Client> = OnceLock::new();
    CLIENT
        .get_or_init(|| client_builder().build().expect("a reqwest client"))
        .clone()
}

/// A POST to an MCP URL with the headers Streamable HTTP clients send (`Accept` both kinds,
/// JSON content), to finish by hand: other headers, a raw or streamed body.
pub fn mcp_post(url: &str) -> RequestBuilder {
    http()
        .post(url)
        .header(header::ACCEPT, ACCEPT_BOTH)
        .header(header::CONTENT_TYPE, "application/json")
}

/// POSTs a JSON-RPC body to an MCP URL the way Streamable HTTP clients do, with a bearer
/// token when given.
pub async fn post_rpc(url: &str, token: Option<&str>, body: &Value) -> Response {
    let mut request = mcp_post(url).json(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.expect("the MCP POST was sent")
}

/// The session id a response hands out in `mcp-session-id`, if any.
pub fn session_id(response: &Response) -> Option<String> {
    response
        .headers()
        .get(SESSION_HEADER)
        .map(|value| value.to_str().expect("an ASCII session id").to_owned())
}

/// Opens a Streamable HTTP session at `url` by hand, as a client does: POSTs `initialize`
/// at protocol revision `version`, takes the session id from the answer, and POSTs
/// `notifications/initialized` in the session. `extra` adds what every request needs
/// besides (a bearer token, a header a layer reads). Returns the session id.
///
/// Panics unless `initialize` is answered `200` with a result and a session id and the
/// notification `202`: a test that wants a refusal sends `initialize` itself.
pub async fn open_session(
    url: &str,
    version: &str,
    extra: impl Fn(RequestBuilder) -> RequestBuilder,
) -> String {
    let response = extra(mcp_post(url))
        .json(&initialize_body(1, version, "test-support"))
        .send()
        .await
        .expect("initialize was sent");
    assert_eq!(response.status(), StatusCode::OK, "initialize at {url}");
    let session = session_id(&response)
        .unwrap_or_else(|| panic!("initialize at {url} handed out no session id"));
    let answer = rpc_message(response, 1).await;
    assert!(answer["result"].is_object(), "initialize failed: {answer}");
    let initialized = extra(mcp_post(url))
        .header(SESSION_HEADER, &session)
        .header(PROTOCOL_VERSION_HEADER, version)
        .json(&initialized_notification())
        .send()
        .await
        .expect("notifications/initialized was sent");
    assert_eq!(
        initialized.status(),
        StatusCode::ACCEPTED,
        "notifications/initialized at {url}"
    );
    session
}
