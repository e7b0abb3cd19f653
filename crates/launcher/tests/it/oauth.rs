//! `dice-mcp dev` as an OAuth authorization server, through the binary over real HTTP: a
//! client that has no token follows the 401 to the metadata, registers, is approved with
//! the pairing code `dev` printed, gets a token and calls the tools; a wrong code or a
//! voided one issues nothing.

use std::process::Stdio;

use reqwest::{StatusCode, header};
use serde_json::{Value, json};
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::Command as Process,
};

use crate::{
    binary::{BIN, start_command_with},
    support::{DevProcess, next_value},
};
use test_support::{http, pkce, post_rpc};

const REDIRECT: &str = "http://127.0.0.1:1/callback";

struct Dev {
    process: DevProcess,
    mcp_url: String,
    pairing_code: String,
}

async fn start_dev() -> Dev {
    let mut process = DevProcess::start(&[]).await;
    let mcp_url = process.value_after("  MCP URL:").await;
    let pairing_code = process.value_after("Pairing code:").await;
    Dev {
        process,
        mcp_url,
        pairing_code,
    }
}

/// Discovers the authorization server from the 401, as an MCP client does; its metadata.
async fn discover(mcp_url: &str) -> Value {
    let http = http();
    let list = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"});
    let refused = post_rpc(mcp_url, None, &list).await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    let challenge = refused.headers()[header::WWW_AUTHENTICATE]
        .to_str()
        .unwrap();
    let metadata_url = challenge
        .split("resource_metadata=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_owned();
    let resource: Value = http
        .get(&metadata_url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(resource["resource"], mcp_url);
    let issuer = resource["authorization_servers"][0].as_str().unwrap();
    let metadata: Value = http
        .get(format!("{issuer}/.well-known/oauth-authorization-server"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(metadata["issuer"], issuer);
    metadata
}

/// Registers, authorizes with `code` typed on the consent form; the response to the form.
async fn approve_with(
    metadata: &Value,
    mcp_url: &str,
    code: &str,
) -> (String, String, reqwest::Response) {
    let http = http();
    let client: Value = http
        .post(metadata["registration_endpoint"].as_str().unwrap())
        .json(
            &json!({"redirect_uris": [REDIRECT], "client_name": "dev test",
                      "token_endpoint_auth_method": "none"}),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let client_id = client["client_id"].as_str().unwrap().to_owned();
    let (verifier, challenge) = pkce();
    let params = [
        ("response_type", "code"),
        ("client_id", client_id.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
        ("state", "xyz"),
        ("resource", mcp_url),
    ];
    let authorize = metadata["authorization_endpoint"].as_str().unwrap();
    let page = http.get(authorize).query(&params).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await.unwrap().contains("pairing_code"));
    let mut form: Vec<(&str, &str)> = params.to_vec();
    form.push(("pairing_code", code));
    let approved = http.post(authorize).form(&form).send().await.unwrap();
    (client_id, verifier, approved)
}

/// A client that connected: the server's metadata, its `client_id` and its tokens.
struct Connected {
    metadata: Value,
    client_id: String,
    tokens: Value,
}

/// The whole flow: discovery, registration, approval with `pairing_code`, and the code
/// exchanged (with PKCE) for tokens.
async fn connect(mcp_url: &str, pairing_code: &str) -> Connected {
    let metadata = discover(mcp_url).await;
    let (client_id, verifier, approved) = approve_with(&metadata, mcp_url, pairing_code).await;
    assert_eq!(
        approved.status(),
        StatusCode::FOUND,
        "no redirect is followed by the test client"
    );
    let location = url::Url::parse(approved.headers()[header::LOCATION].to_str().unwrap()).unwrap();
    let code = location
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    let tokens: Value = http()
        .post(metadata["token_endpoint"].as_str().unwrap())
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
            ("client_id", client_id.as_str()),
            ("code_verifier", verifier.as_str()),
            ("resource", mcp_url),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    Connected {
        metadata,
        client_id,
        tokens,
    }
}

/// Exchanges `refresh_token` at the token endpoint of `metadata`.
async fn refresh(metadata: &Value, client_id: &str, refresh_token: &str) -> reqwest::Response {
    http()
        .post(metadata["token_endpoint"].as_str().unwrap())
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
            ("client_id", client_id),
        ])
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_client_without_a_token_connects_through_oauth_with_the_printed_pairing_code() {
    let dev = start_dev().await;
    let Connected {
        metadata,
        client_id,
        tokens,
    } = connect(&dev.mcp_url, &dev.pairing_code).await;
    let access = tokens["access_token"].as_str().unwrap();
    let listed: Value = post_rpc(
        &dev.mcp_url,
        Some(access),
        &json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}),
    )
    .await
    .json()
    .await
    .unwrap();
    let names: Vec<&str> = listed["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|tool| tool["name"].as_str())
        .collect();
    assert!(names.contains(&"roll_dice"), "{listed}");

    // The owner sees the client, revokes it, and its refresh token stops working.
    let oauth = |args: &[&str]| {
        std::process::Command::new(BIN)
            .arg("oauth")
            .args(args)
            .env("XDG_DATA_HOME", dev.process.data.path())
            .output()
            .unwrap()
    };
    let listed = oauth(&["clients"]);
    let text = String::from_utf8_lossy(&listed.stdout);
    assert!(
        listed.status.success() && text.contains(&client_id) && text.contains("dev test"),
        "{text}"
    );
    let revoked = oauth(&["revoke", &client_id]);
    assert!(
        revoked.status.success(),
        "{}",
        String::from_utf8_lossy(&revoked.stderr)
    );
    let refreshed = refresh(
        &metadata,
        &client_id,
        tokens["refresh_token"].as_str().unwrap(),
    )
    .await;
    assert_eq!(
        refreshed.status(),
        StatusCode::UNAUTHORIZED,
        "a revoked client"
    );
    let again = oauth(&["revoke", &client_id]);
    assert!(
        !again.status.success(),
        "revoking twice says there is no such client"
    );
    assert!(String::from_utf8_lossy(&oauth(&["clients"]).stdout).contains("No OAuth clients"));
}

#[tokio::test]
async fn a_wrong_code_issues_nothing_and_five_make_dev_print_a_new_one() {
    let mut dev = start_dev().await;
    let metadata = discover(&dev.mcp_url).await;
    for _ in 0..5 {
        let (_, _, refused) = approve_with(&metadata, &dev.mcp_url, "0000-0000").await;
        assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
        assert!(refused.headers().get(header::LOCATION).is_none());
    }
    let fresh = dev.process.value_after("Pairing code:").await;
    assert_ne!(fresh, dev.pairing_code);
    let (_, _, old) = approve_with(&metadata, &dev.mcp_url, &dev.pairing_code).await;
    assert_eq!(old.status(), StatusCode::BAD_REQUEST, "the voided code");
    let (_, _, new) = approve_with(&metadata, &dev.mcp_url, &fresh).await;
    assert_eq!(new.status(), StatusCode::FOUND, "the new code");
}

/// Plays the owner's browser: opens the consent page at `authorization_url`, submits its
/// form (the request's parameters, which the page carries in hidden fields) with the
/// pairing code, and returns where the server redirects: the client's callback URL.
async fn approve_in_browser(authorization_url: &str, pairing_code: &str) -> String {
    let http = http();
    let page = http.get(authorization_url).send().await.unwrap();
    assert_eq!(
        page.status(),
        StatusCode::OK,
        "{}",
        page.text().await.unwrap()
    );
    let url = url::Url::parse(authorization_url).unwrap();
    let mut form: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    form.push(("pairing_code".into(), pairing_code.into()));
    let endpoint = format!("{}{}", url.origin().ascii_serialization(), url.path());
    let approved = http.post(endpoint).form(&form).send().await.unwrap();
    assert_eq!(approved.status(), StatusCode::FOUND);
    approved.headers()[header::LOCATION]
        .to_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn rmcps_own_oauth_client_registers_authorizes_calls_and_refreshes() {
    use rmcp::{
        ServiceExt,
        model::{CallToolRequestParams, ClientCapabilities, ClientConfig, Implementation},
        transport::{
            AuthClient, AuthorizationRequest, StreamableHttpClientTransport, auth::OAuthState,
            streamable_http_client::StreamableHttpClientTransportConfig,
        },
    };
    let dev = start_dev().await;
    let mut state = OAuthState::new(dev.mcp_url.as_str(), None).await.unwrap();
    state
        .start_authorization(AuthorizationRequest::new(REDIRECT).with_client_name("rmcp test"))
        .await
        .unwrap();
    let authorization_url = state.get_authorization_url().await.unwrap();
    let callback = approve_in_browser(&authorization_url, &dev.pairing_code).await;
    // rmcp checks the state and the RFC 9207 `iss` of the callback, then exchanges the code.
    state.handle_callback_url(&callback).await.unwrap();
    let manager = state.into_authorization_manager().unwrap();
    let first = manager.get_access_token().await.unwrap();
    manager.refresh_token().await.unwrap();
    let refreshed = manager.get_access_token().await.unwrap();
    assert_ne!(first, refreshed, "the refresh gave a new access token");

    let transport = StreamableHttpClientTransport::with_client(
        AuthClient::new(http(), manager),
        StreamableHttpClientTransportConfig::with_uri(dev.mcp_url.clone()),
    );
    let client = ClientConfig::new(
        ClientCapabilities::default(),
        Implementation::new("rmcp-oauth", "0.0.0"),
    )
    .serve(transport)
    .await
    .unwrap();
    let tools = client.list_all_tools().await.unwrap();
    assert!(tools.iter().any(|tool| tool.name == "roll_dice"));
    let rolled = client
        .call_tool(
            CallToolRequestParams::new("roll_dice")
                .with_arguments(json!({"n_dice": 3}).as_object().unwrap().clone()),
        )
        .await
        .unwrap();
    assert_ne!(rolled.is_error, Some(true));
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn serve_with_oauth_prints_a_pairing_code_and_accepts_its_tokens() {
    let keys = tempfile::tempdir().unwrap();
    let mut command = Process::new(BIN);
    command
        .args([
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--stateless",
            "--oauth",
            "--keys-dir",
        ])
        .arg(keys.path())
        .env_remove("RUST_LOG");
    let (mut child, mcp_url, _log) = start_command_with(command, Stdio::piped()).await;
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    let pairing_code = next_value(&mut stdout, "Pairing code:").await;

    let Connected {
        metadata, tokens, ..
    } = connect(&mcp_url, &pairing_code).await;
    let base = mcp_url.trim_end_matches("/mcp");
    assert_eq!(
        metadata["issuer"], base,
        "the issuer defaults to http://ADDR"
    );
    let rolled = post_rpc(
        &mcp_url,
        Some(tokens["access_token"].as_str().unwrap()),
        &json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call",
                "params": {"name": "roll_dice", "arguments": {"n_dice": 2}}}),
    )
    .await;
    assert_eq!(rolled.status(), StatusCode::OK);
    assert!(
        keys.path().join("oauth.json").exists(),
        "the client is kept with the keys"
    );
    // The code was used up: serve prints the next one.
    let next = next_value(&mut stdout, "Pairing code:").await;
    assert_ne!(next, pairing_code);
}

#[tokio::test]
async fn a_refresh_token_issued_before_dev_restarts_works_after_it() {
    let mut dev = start_dev().await;
    let Connected {
        client_id, tokens, ..
    } = connect(&dev.mcp_url, &dev.pairing_code).await;
    dev.process.child.kill().await.unwrap();

    let mut restarted = DevProcess::start_in(dev.process.data, &[]).await;
    let mcp_url = restarted.value_after("  MCP URL:").await;
    let metadata = discover(&mcp_url).await;
    let refreshed = refresh(
        &metadata,
        &client_id,
        tokens["refresh_token"].as_str().unwrap(),
    )
    .await;
    assert_eq!(refreshed.status(), StatusCode::OK);
    let refreshed: Value = refreshed.json().await.unwrap();
    let listed = post_rpc(
        &mcp_url,
        Some(refreshed["access_token"].as_str().unwrap()),
        &json!({"jsonrpc": "2.0", "id": 4, "method": "tools/list"}),
    )
    .await;
    assert_eq!(
        listed.status(),
        StatusCode::OK,
        "the new token works on the restarted dev"
    );
}
