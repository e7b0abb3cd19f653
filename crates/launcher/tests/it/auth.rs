//! keygen, token and serve with bearer auth, through the real binary: what a user types.

use std::{os::unix::fs::PermissionsExt, path::Path, process::Stdio, time::Duration};

use reqwest::{StatusCode, header};
use serde_json::{Value, json};
use test_support::{
    ACCEPT_BOTH, EventStream, PROTOCOL_VERSION_HEADER, SESSION_HEADER, http, initialize_body,
    open_session, post_rpc,
};
use tokio::process::Command;

use crate::binary::{BIN, start, start_command};

async fn dice_mcp(args: &[&str]) -> std::process::Output {
    tokio::time::timeout(
        Duration::from_secs(60),
        Command::new(BIN).args(args).output(),
    )
    .await
    .expect("dice-mcp did not finish within 60 s")
    .unwrap()
}

pub(crate) async fn keygen(dir: &Path) {
    let out = dice_mcp(&["keygen", "--out", dir.to_str().unwrap()]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

pub(crate) async fn token(dir: &Path, extra: &[&str]) -> String {
    let key = dir.join("private.pem");
    let mut args = vec!["token", "--key", key.to_str().unwrap()];
    args.extend_from_slice(extra);
    let out = dice_mcp(&args).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stderr.is_empty(), "token writes nothing but the token");
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 1, "one line: {stdout}");
    stdout.trim().to_owned()
}

/// Keys in a new temporary directory, and `dice-mcp serve` on 127.0.0.1:0 verifying tokens
/// with them, given `extra` flags: the directory (for minting with [`token`]), the child,
/// the MCP URL and the log collector.
pub(crate) async fn serve_with_keys(
    extra: &[&str],
) -> (
    tempfile::TempDir,
    tokio::process::Child,
    String,
    tokio::task::JoinHandle<Vec<String>>,
) {
    let dir = tempfile::tempdir().unwrap();
    keygen(dir.path()).await;
    let public = dir.path().join("public.pem");
    let mut args = vec![
        "--addr",
        "127.0.0.1:0",
        "--public-key",
        public.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let (child, url, log) = start(&args).await;
    (dir, child, url, log)
}

fn list_call() -> Value {
    json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
           "params": {"name": "roll_dice", "arguments": {"n_dice": 2}}})
}

#[tokio::test]
async fn keygen_writes_0600_keys_refuses_to_overwrite_and_never_prints_the_private_key() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    let out = dice_mcp(&["keygen", "--out", keys.to_str().unwrap()]).await;
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("private.pem") && stdout.contains("kid"),
        "{stdout}"
    );
    assert!(
        !stdout.contains("PRIVATE KEY")
            && !String::from_utf8_lossy(&out.stderr).contains("PRIVATE KEY")
    );
    let mode = std::fs::metadata(keys.join("private.pem"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
    let first = std::fs::read(keys.join("private.pem")).unwrap();

    let again = dice_mcp(&["keygen", "--out", keys.to_str().unwrap()]).await;
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("--force"));
    assert_eq!(
        std::fs::read(keys.join("private.pem")).unwrap(),
        first,
        "first keys intact"
    );

    let forced = dice_mcp(&["keygen", "--out", keys.to_str().unwrap(), "--force"]).await;
    assert!(forced.status.success());
    assert_ne!(std::fs::read(keys.join("private.pem")).unwrap(), first);
}

#[tokio::test]
async fn token_refuses_a_missing_key_and_a_bad_ttl_with_advice() {
    let out = dice_mcp(&["token", "--key", "/nonexistent/private.pem"]).await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("dice-mcp keygen"));
    let dir = tempfile::tempdir().unwrap();
    keygen(dir.path()).await;
    let key = dir.path().join("private.pem");
    let out = dice_mcp(&["token", "--key", key.to_str().unwrap(), "--ttl", "soon"]).await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("15m"));
}

#[tokio::test]
async fn served_with_a_public_key_mcp_and_sse_need_a_token_and_health_and_metadata_do_not() {
    let (dir, child, url, _log) = serve_with_keys(&[
        "--stateless",
        "--issuer",
        "dice-mcp",
        "--required-scope",
        "dice:roll",
    ])
    .await;
    let base = url.trim_end_matches("/mcp").to_owned();
    let http = http();

    // No token: 401 with a challenge pointing at the metadata, on every MCP route.
    let refused = post_rpc(&url, None, &list_call()).await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    let challenge = refused.headers()[header::WWW_AUTHENTICATE]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        challenge.contains(&format!(
            "resource_metadata=\"{base}/.well-known/oauth-protected-resource/mcp\""
        )),
        "{challenge}"
    );
    assert_eq!(
        http.get(format!("{base}/sse"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::UNAUTHORIZED
    );
    let messages = http
        .post(format!("{base}/messages/?session_id=x"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(messages.status(), StatusCode::UNAUTHORIZED);

    // Public: health and metadata.
    assert_eq!(
        http.get(format!("{base}/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    let metadata: Value = http
        .get(format!("{base}/.well-known/oauth-protected-resource/mcp"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(metadata["resource"], url);
    assert_eq!(metadata["scopes_supported"], json!(["dice:roll"]));

    // A token without the scope: 403; with it: the call works, on /mcp and /sse.
    let unscoped = token(dir.path(), &[]).await;
    let forbidden = post_rpc(&url, Some(&unscoped), &list_call()).await;
    assert_eq!(forbidden.status(), StatusCode::FORBIDDEN);
    let good = token(dir.path(), &["--scope", "dice:roll", "--ttl", "5m"]).await;
    let reply: Value = post_rpc(&url, Some(&good), &list_call())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        reply["result"]["structuredContent"]["result"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let sse = http
        .get(format!("{base}/sse"))
        .bearer_auth(&good)
        .send()
        .await
        .unwrap();
    assert_eq!(sse.status(), StatusCode::OK);
    drop(sse);

    // Another issuer is refused.
    let foreign = token(
        dir.path(),
        &["--scope", "dice:roll", "--iss", "someone-else"],
    )
    .await;
    let refused = post_rpc(&url, Some(&foreign), &list_call()).await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    assert!(
        refused.headers()[header::WWW_AUTHENTICATE]
            .to_str()
            .unwrap()
            .contains("invalid_token")
    );
    drop(child);
}

#[tokio::test]
async fn audience_must_match_when_configured() {
    let (dir, child, url, _log) =
        serve_with_keys(&["--stateless", "--audience", "https://abc.ngrok.app/mcp"]).await;
    let wrong = token(dir.path(), &["--aud", "https://elsewhere/mcp"]).await;
    let status = post_rpc(&url, Some(&wrong), &list_call()).await.status();
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let right = token(dir.path(), &["--aud", "https://abc.ngrok.app/mcp"]).await;
    let status = post_rpc(&url, Some(&right), &list_call()).await.status();
    assert_eq!(status, StatusCode::OK);
    drop(child);
}

#[tokio::test]
async fn jwks_file_works_as_the_key_source() {
    let dir = tempfile::tempdir().unwrap();
    keygen(dir.path()).await;
    let jwks = dir.path().join("jwks.json");
    let (child, url, _log) = start(&[
        "--addr",
        "127.0.0.1:0",
        "--stateless",
        "--jwks",
        jwks.to_str().unwrap(),
    ])
    .await;
    let good = token(dir.path(), &[]).await;
    let status = post_rpc(&url, Some(&good), &list_call()).await.status();
    assert_eq!(status, StatusCode::OK);
    drop(child);
}

#[tokio::test]
async fn non_loopback_without_auth_is_refused_unless_insisted() {
    let out = dice_mcp(&["serve", "--addr", "0.0.0.0:0"]).await;
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("refusing")
            && stderr.contains("--insecure-no-auth")
            && stderr.contains("--public-key"),
        "{stderr}"
    );

    let mut child = Command::new(BIN)
        .args(["serve", "--addr", "0.0.0.0:0", "--insecure-no-auth"])
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    use tokio::io::AsyncBufReadExt;
    let mut lines = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let mut warned = false;
    while let Ok(Ok(Some(line))) =
        tokio::time::timeout(Duration::from_secs(20), lines.next_line()).await
    {
        if line.contains("without authentication") {
            warned = true;
            break;
        }
    }
    assert!(warned, "--insecure-no-auth starts, with a warning");
    child.kill().await.unwrap();
}

#[tokio::test]
async fn auth_flags_without_a_key_are_an_error() {
    let out = dice_mcp(&["serve", "--addr", "127.0.0.1:0", "--issuer", "x"]).await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--public-key"));
}

#[tokio::test]
async fn tokens_never_reach_the_log_even_at_trace_level() {
    let dir = tempfile::tempdir().unwrap();
    keygen(dir.path()).await;
    let public = dir.path().join("public.pem");
    let mut command = Command::new(BIN);
    command
        .args([
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--public-key",
            public.to_str().unwrap(),
            "--authorization-server",
            "https://auth.example",
        ])
        .env("RUST_LOG", "trace");
    let (mut child, url, log) = start_command(command).await;
    let base = url.trim_end_matches("/mcp").to_owned();
    let metadata: Value = http()
        .get(format!("{base}/.well-known/oauth-protected-resource"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        metadata["authorization_servers"],
        json!(["https://auth.example"])
    );

    let good = token(dir.path(), &[]).await;
    let init = initialize_body(0, "2025-03-26", "it");
    for value in [format!("Bearer {good}"), format!("Bearer x{good}")] {
        let response = http()
            .post(&url)
            .header(header::AUTHORIZATION, value)
            .header(header::ACCEPT, ACCEPT_BOTH)
            .json(&init)
            .send()
            .await
            .unwrap();
        let _ = response.text().await;
    }
    child.kill().await.unwrap();
    let log = log.await.unwrap().join("\n");
    let signature = good.rsplit('.').next().unwrap();
    assert!(!log.contains(signature), "a token reached the log:\n{log}");
    assert!(
        log.contains("refused a request"),
        "the refusal itself is logged:\n{log}"
    );
}

#[tokio::test]
async fn a_session_belongs_to_the_token_holder_who_opened_it_on_both_transports() {
    let (dir, _child, url, _log) = serve_with_keys(&[]).await;
    let base = url.trim_end_matches("/mcp").to_owned();
    let alice = token(dir.path(), &["--sub", "alice"]).await;
    let mallory = token(dir.path(), &["--sub", "mallory"]).await;
    let http = http();

    let session = open_session(&url, "2025-06-18", |request| request.bearer_auth(&alice)).await;
    let in_session = |token: &str, method: reqwest::Method| {
        let request = http
            .request(method.clone(), &url)
            .bearer_auth(token)
            .header(header::ACCEPT, ACCEPT_BOTH)
            .header(SESSION_HEADER, &session)
            .header(PROTOCOL_VERSION_HEADER, "2025-06-18");
        if method == reqwest::Method::POST {
            request.json(&list_call())
        } else {
            request
        }
    };
    // Another valid token: the session does not exist for it, and it cannot end it.
    for method in [reqwest::Method::POST, reqwest::Method::DELETE] {
        let status = in_session(&mallory, method.clone())
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, StatusCode::NOT_FOUND, "{method} with another token");
    }
    let own = in_session(&alice, reqwest::Method::POST)
        .send()
        .await
        .unwrap();
    assert_eq!(own.status(), StatusCode::OK);

    // The legacy transport: mallory's post into alice's /sse session is refused.
    let opened = http
        .get(format!("{base}/sse"))
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap();
    assert_eq!(opened.status(), StatusCode::OK);
    // Kept open: the session lives as long as its stream.
    let mut stream = EventStream::from_response(opened);
    let path = stream.endpoint().await;
    let post = |token: &str| {
        http.post(format!("{base}{path}"))
            .bearer_auth(token)
            .json(&initialize_body(1, "2024-11-05", "x"))
            .send()
    };
    assert_eq!(
        post(&mallory).await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(post(&alice).await.unwrap().status(), StatusCode::ACCEPTED);
}

#[tokio::test]
async fn rate_limit_refuses_one_token_holder_with_429_and_not_another() {
    let (dir, _child, url, _log) = serve_with_keys(&["--stateless", "--rate-limit", "2/m"]).await;
    let alice = token(dir.path(), &["--sub", "alice"]).await;
    let bob = token(dir.path(), &["--sub", "bob"]).await;
    for _ in 0..2 {
        let ok = post_rpc(&url, Some(&alice), &list_call()).await;
        assert_eq!(ok.status(), StatusCode::OK);
    }
    let limited = post_rpc(&url, Some(&alice), &list_call()).await;
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(limited.headers().contains_key(header::RETRY_AFTER));
    let other = post_rpc(&url, Some(&bob), &list_call()).await;
    assert_eq!(other.status(), StatusCode::OK);
}

#[tokio::test]
async fn the_access_log_has_method_path_and_status_but_no_token_or_session_id() {
    let (dir, mut child, url, log) = serve_with_keys(&["--access-log", "--stateless"]).await;
    let base = url.trim_end_matches("/mcp").to_owned();
    let good = token(dir.path(), &[]).await;
    let listed = post_rpc(&url, Some(&good), &list_call()).await;
    assert_eq!(listed.status(), StatusCode::OK);
    let secret_session = "0123456789abcdef0123456789abcdef";
    let unknown = http()
        .post(format!("{base}/messages/?session_id={secret_session}"))
        .bearer_auth(&good)
        .json(&list_call())
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    child.kill().await.unwrap();
    let log = log.await.unwrap().join("\n");
    assert!(
        log.contains("method=POST") && log.contains("path=/mcp") && log.contains("status=200"),
        "{log}"
    );
    // The path as routed: the server answers `/messages/` as `/messages`.
    assert!(
        log.contains("path=/messages") && log.contains("status=404"),
        "{log}"
    );
    assert!(!log.contains(&good), "the token reached the log");
    assert!(
        !log.contains(secret_session),
        "the session id reached the log"
    );
}

/// What keygen prints as the next steps works when typed as printed: the server it names
/// is stateless (what OpenAI needs), and a token from the printed command calls a tool on
/// it without a session.
#[tokio::test]
async fn the_next_steps_keygen_prints_work_as_printed() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    let out = dice_mcp(&["keygen", "--out", keys.to_str().unwrap()]).await;
    assert!(out.status.success());
    let stdout = String::from_utf8(out.stdout).unwrap();
    let printed = |prefix: &str| {
        stdout
            .lines()
            .map(str::trim)
            .map(|line| line.strip_prefix("next:").unwrap_or(line).trim())
            .find(|line| line.starts_with(prefix))
            .unwrap_or_else(|| panic!("no `{prefix}` line in {stdout}"))
            .split_whitespace()
            .skip(1)
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    let serve = printed("dice-mcp serve");
    assert!(serve.contains(&"--stateless".to_owned()), "{serve:?}");
    let mut args: Vec<&str> = serve[1..].iter().map(String::as_str).collect();
    // The printed command listens on the default port; the test takes any free one.
    args.extend(["--addr", "127.0.0.1:0"]);
    let (_child, url, _log) = start(&args).await;

    let minted = printed("dice-mcp token");
    let minted: Vec<&str> = minted.iter().map(String::as_str).collect();
    let out = dice_mcp(&minted).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout).unwrap().trim().to_owned();

    let response = post_rpc(&url, Some(&token), &list_call()).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert!(body["result"]["content"][0]["text"].is_string(), "{body}");
}
