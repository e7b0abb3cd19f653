//! `dice-mcp dev`: local mode end to end through the binary, the publisher path with a
//! foreign public host, and ngrok failures (against loopback stand-ins: no test talks to
//! ngrok's service).

use std::{
    net::SocketAddr,
    os::unix::fs::PermissionsExt,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use bearer_auth::{Audience, RsaKeyPair, TokenRequest, mint_token};
use clap::Parser;
use launcher::{
    cli::{Cli, Command, DevArgs},
    publish::{BoxFuture, Published, Publisher},
};
use reqwest::{StatusCode, header};
use serde_json::{Value, json};
use tokio::process::Command as Process;

use test_support::{ACCEPT_BOTH, client_builder, http};

use crate::support::DevProcess;

use crate::binary::BIN;

fn roll_call() -> Value {
    json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
           "params": {"name": "roll_dice", "arguments": {"n_dice": 4}}})
}

fn dev_args(extra: &[&str]) -> DevArgs {
    let mut argv = vec!["dice-mcp", "dev"];
    argv.extend_from_slice(extra);
    match Cli::try_parse_from(argv).unwrap().command {
        Command::Dev(args) => args,
        other => panic!("parsed {other:?}"),
    }
}

#[tokio::test]
async fn local_dev_prints_a_working_url_and_token_and_stops_cleanly_on_ctrl_c() {
    let mut dev = DevProcess::start(&[]).await;
    let url = dev.value_after("  MCP URL:").await;
    let token = dev.value_after("  Token:").await;
    let hint = dev.value_after("  To publish for OpenAI:").await;
    assert!(hint.contains("export NGROK_AUTHTOKEN"), "{hint}");
    assert!(
        url.starts_with("http://127.0.0.1:") && url.ends_with("/mcp"),
        "{url}"
    );

    let http = http();
    let refused = http
        .post(&url)
        .header(header::ACCEPT, ACCEPT_BOTH)
        .json(&roll_call())
        .send()
        .await
        .unwrap();
    assert_eq!(
        refused.status(),
        StatusCode::UNAUTHORIZED,
        "dev requires the token"
    );
    let reply: Value = http
        .post(&url)
        .bearer_auth(&token)
        .header(header::ACCEPT, ACCEPT_BOTH)
        .json(&roll_call())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        reply["result"]["structuredContent"]["result"]
            .as_array()
            .unwrap()
            .len(),
        4
    );

    let private = dev.data.path().join("dice-mcp/dev-keys/private.pem");
    let mode = std::fs::metadata(&private).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);

    let pid = dev.child.id().unwrap().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = tokio::time::timeout(Duration::from_secs(15), dev.child.wait())
        .await
        .expect("dev stops within 15 s of Ctrl-C")
        .unwrap();
    assert!(status.success(), "exit status {status}");
}

#[tokio::test]
async fn dev_reuses_its_key_pair_across_runs() {
    let keys = tempfile::tempdir().unwrap();
    let dir = keys.path().to_str().unwrap();
    let first = launcher::dev::start(
        &dev_args(&["--addr", "127.0.0.1:0", "--keys-dir", dir]),
        &launcher::publish::LocalOnly,
    )
    .await
    .unwrap();
    let kid = |token: &str| jsonwebtoken::decode_header(token).unwrap().kid.unwrap();
    let first_kid = kid(&first.token);
    first.shutdown().await.unwrap();
    let second = launcher::dev::start(
        &dev_args(&["--addr", "127.0.0.1:0", "--keys-dir", dir]),
        &launcher::publish::LocalOnly,
    )
    .await
    .unwrap();
    assert_eq!(kid(&second.token), first_kid);
    second.shutdown().await.unwrap();
}

/// Publishes by forwarding a second loopback port, under a foreign host name.
struct ForeignHostPublisher {
    closed: Arc<AtomicBool>,
}

const PUBLIC_HOST: &str = "dice-public.test";

impl Publisher for ForeignHostPublisher {
    fn publish(&self, local: SocketAddr) -> BoxFuture<'_, anyhow::Result<Published>> {
        let closed = self.closed.clone();
        Box::pin(async move {
            let front = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            let port = front.local_addr()?.port();
            let forwarder = tokio::spawn(async move {
                while let Ok((mut inbound, _)) = front.accept().await {
                    tokio::spawn(async move {
                        if let Ok(mut outbound) = tokio::net::TcpStream::connect(local).await {
                            let _ =
                                tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                        }
                    });
                }
            });
            let closer: Box<dyn FnOnce() -> BoxFuture<'static, ()> + Send> = Box::new(move || {
                Box::pin(async move {
                    forwarder.abort();
                    closed.store(true, Ordering::SeqCst);
                })
            });
            Ok(Published::new(
                format!("http://{PUBLIC_HOST}:{port}"),
                Some(PUBLIC_HOST.to_owned()),
                true,
                Some(closer),
            ))
        })
    }

    fn name(&self) -> &'static str {
        "test"
    }
}

#[tokio::test]
async fn published_host_is_accepted_and_the_token_is_bound_to_the_public_url() {
    let keys = tempfile::tempdir().unwrap();
    let closed = Arc::new(AtomicBool::new(false));
    let publisher = ForeignHostPublisher {
        closed: closed.clone(),
    };
    let args = dev_args(&[
        "--addr",
        "127.0.0.1:0",
        "--keys-dir",
        keys.path().to_str().unwrap(),
    ]);
    let server = launcher::dev::start(&args, &publisher).await.unwrap();
    assert!(
        server
            .mcp_url
            .starts_with(&format!("http://{PUBLIC_HOST}:")),
        "{}",
        server.mcp_url
    );
    assert!(server.public);

    let port: u16 = server
        .mcp_url
        .rsplit(':')
        .next()
        .unwrap()
        .trim_end_matches("/mcp")
        .parse()
        .unwrap();
    let http = client_builder()
        .resolve(PUBLIC_HOST, SocketAddr::from(([127, 0, 0, 1], port)))
        .build()
        .unwrap();

    // The token's audience is the public URL.
    let claims = jsonwebtoken::dangerous::insecure_decode::<Value>(&server.token)
        .unwrap()
        .claims;
    assert_eq!(claims["aud"], server.mcp_url);

    // Through the foreign host, with the token: the call works.
    let reply = http
        .post(&server.mcp_url)
        .bearer_auth(&server.token)
        .header(header::ACCEPT, ACCEPT_BOTH)
        .json(&roll_call())
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), StatusCode::OK);

    // A token for another audience, signed by the same key, is refused.
    let pair = RsaKeyPair::load(&keys.path().join("private.pem")).unwrap();
    let request = TokenRequest::new("dev", launcher::dev::DEV_ISSUER, Duration::from_secs(60))
        .with_audience(Audience::One("https://elsewhere.test/mcp".into()));
    let other = mint_token(&pair, &request).unwrap();
    let refused = http
        .post(&server.mcp_url)
        .bearer_auth(&other)
        .header(header::ACCEPT, ACCEPT_BOTH)
        .json(&roll_call())
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);

    // The metadata names the public resource.
    let base = server.mcp_url.trim_end_matches("/mcp");
    let metadata: Value = http
        .get(format!("{base}/.well-known/oauth-protected-resource/mcp"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(metadata["resource"], server.mcp_url);

    // A host nobody published is still refused.
    let foreign = http
        .post(&server.mcp_url)
        .header(header::HOST, "evil.test")
        .bearer_auth(&server.token)
        .header(header::ACCEPT, ACCEPT_BOTH)
        .json(&roll_call())
        .send()
        .await
        .unwrap();
    assert_eq!(foreign.status(), StatusCode::FORBIDDEN);

    server.shutdown().await.unwrap();
    assert!(closed.load(Ordering::SeqCst), "shutdown closes the tunnel");
}

#[cfg(feature = "tunnel")]
/// Runs `dev` with an ngrok authtoken against `server_addr`; returns (status, stderr, time).
async fn dev_with_ngrok(
    server_addr: &str,
    timeout_secs: &str,
) -> (std::process::ExitStatus, String, Duration, u16) {
    let data = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let started = std::time::Instant::now();
    let output = tokio::time::timeout(
        Duration::from_secs(20),
        Process::new(BIN)
            .args(["dev", "--addr", &format!("127.0.0.1:{port}")])
            .env("XDG_DATA_HOME", data.path())
            .env("NGROK_AUTHTOKEN", "invalid-token-for-tests")
            .env("DICE_MCP_NGROK_SERVER_ADDR", server_addr)
            .env("DICE_MCP_NGROK_TIMEOUT", timeout_secs)
            .output(),
    )
    .await
    .expect("dev gave up within 20 s")
    .unwrap();
    (
        output.status,
        String::from_utf8_lossy(&output.stderr).into_owned(),
        started.elapsed(),
        port,
    )
}

#[cfg(feature = "tunnel")]
#[tokio::test]
async fn unreachable_ngrok_fails_fast_with_advice_and_leaves_nothing_running() {
    let (status, stderr, elapsed, port) = dev_with_ngrok("127.0.0.1:1", "15").await;
    assert!(!status.success());
    assert!(
        stderr.contains("ngrok") && stderr.contains("--local"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("invalid-token-for-tests"),
        "the authtoken is never printed"
    );
    assert!(elapsed < Duration::from_secs(20));
    std::net::TcpListener::bind(("127.0.0.1", port)).expect("the server port is free again");
}

#[cfg(feature = "tunnel")]
#[tokio::test]
async fn silent_ngrok_times_out_with_advice() {
    // Accepts TCP and never answers, like a network that swallows packets.
    let blackhole = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = blackhole.local_addr().unwrap().to_string();
    let _hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = blackhole.accept().await {
            held.push(socket);
        }
    });
    let (status, stderr, elapsed, _) = dev_with_ngrok(&addr, "2").await;
    assert!(!status.success());
    assert!(
        stderr.contains("did not answer within 2 s") && stderr.contains("--local"),
        "{stderr}"
    );
    assert!(elapsed < Duration::from_secs(10), "{elapsed:?}");
}

/// The server-only build (no `tunnel` feature) refuses to publish instead of quietly serving
/// locally, and has no `ask`.
#[cfg(not(feature = "tunnel"))]
#[tokio::test]
async fn server_only_build_refuses_ngrok_and_ask_with_the_reason() {
    let data = tempfile::tempdir().unwrap();
    let dev = Process::new(BIN)
        .args(["dev", "--addr", "127.0.0.1:0"])
        .env("XDG_DATA_HOME", data.path())
        .env("NGROK_AUTHTOKEN", "invalid-token-for-tests")
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&dev.stderr);
    assert!(!dev.status.success());
    assert!(stderr.contains("without the `tunnel` feature"), "{stderr}");
    assert!(!stderr.contains("invalid-token-for-tests"), "{stderr}");

    let ask = Process::new(BIN)
        .args(["ask", "--url", "http://127.0.0.1:1/mcp", "Roll 3 dice"])
        .env("OPENAI_API_KEY", "sk-test")
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&ask.stderr);
    assert!(!ask.status.success());
    assert!(stderr.contains("without the `tunnel` feature"), "{stderr}");

    let help = Process::new(BIN).arg("--help").output().await.unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(!help.contains("  ask "), "ask is hidden: {help}");
}
