//! `dice-mcp check` against servers that OpenAI would and would not manage to use.

use std::time::Duration;

use clap::Parser;
use launcher::{
    check::{Status, Step, run_checks},
    cli::{Cli, Command},
    publish::LocalOnly,
};
use mcp_core::SessionMode;
use serde_json::Value;
use tokio::process::Command as Process;

use crate::{binary::BIN, support::TestServer};

fn statuses(steps: &[Step]) -> Vec<(&'static str, Status)> {
    steps.iter().map(|s| (s.step, s.status)).collect()
}

fn status_of(steps: &[Step], name: &str) -> Status {
    steps
        .iter()
        .find(|s| s.step == name)
        .unwrap_or_else(|| panic!("no {name} step in {steps:?}"))
        .status
}

async fn dev_server(extra: &[&str]) -> (launcher::dev::DevServer, tempfile::TempDir) {
    let keys = tempfile::tempdir().unwrap();
    let mut argv = vec![
        "dice-mcp",
        "dev",
        "--addr",
        "127.0.0.1:0",
        "--keys-dir",
        keys.path().to_str().unwrap(),
    ];
    argv.extend_from_slice(extra);
    let Command::Dev(args) = Cli::try_parse_from(argv).unwrap().command else {
        unreachable!()
    };
    (launcher::dev::start(&args, &LocalOnly).await.unwrap(), keys)
}

const TIMEOUT: Duration = Duration::from_secs(10);

#[tokio::test]
async fn a_good_server_passes_every_step_on_mcp_and_sse() {
    let (server, _keys) = dev_server(&[]).await;
    let steps = run_checks(&server.mcp_url, Some(server.token.clone()), TIMEOUT)
        .await
        .unwrap();
    // Everything passes but the warning that OpenAI cannot reach a loopback URL.
    assert_eq!(status_of(&steps, "public"), Status::Warn);
    assert!(
        steps
            .iter()
            .filter(|s| s.step != "public")
            .all(|s| s.status == Status::Pass),
        "{:?}",
        statuses(&steps)
    );
    assert_eq!(steps.len(), 8);
    let listed = steps.iter().find(|s| s.step == "tools/list").unwrap();
    assert!(
        listed.detail.contains(
            "annotations: roll_dice read-only, not destructive, not idempotent, closed world, \
             title \"Roll six-sided dice\"; roll read-only"
        ),
        "{}",
        listed.detail
    );

    let steps = run_checks(&server.sse_url, Some(server.token.clone()), TIMEOUT)
        .await
        .unwrap();
    assert_eq!(status_of(&steps, "sse stream"), Status::Pass);
    assert_eq!(status_of(&steps, "tools/call"), Status::Pass);
    assert_eq!(status_of(&steps, "delete, then call"), Status::Skip);
    assert!(
        steps.iter().all(|s| s.status != Status::Fail),
        "{:?}",
        statuses(&steps)
    );
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_stateful_server_gets_the_openai_delete_warning() {
    let (server, _keys) = dev_server(&["--stateful"]).await;
    let steps = run_checks(&server.mcp_url, Some(server.token.clone()), TIMEOUT)
        .await
        .unwrap();
    let delete = steps
        .iter()
        .find(|s| s.step == "delete, then call")
        .unwrap();
    assert_eq!(delete.status, Status::Warn);
    assert!(
        delete.detail.contains("OpenAI will fail on this server")
            && delete.detail.contains("stateless"),
        "{}",
        delete.detail
    );
    assert!(
        steps.iter().all(|s| s.status != Status::Fail),
        "{:?}",
        statuses(&steps)
    );
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_server_without_auth_is_warned_about() {
    let server = TestServer::start(SessionMode::Stateless).await;
    let steps = run_checks(&server.mcp_url, None, TIMEOUT).await.unwrap();
    let challenge = steps.iter().find(|s| s.step == "auth challenge").unwrap();
    assert_eq!(challenge.status, Status::Warn);
    assert!(
        challenge.detail.contains("no authentication"),
        "{}",
        challenge.detail
    );
    assert_eq!(status_of(&steps, "tools/call"), Status::Pass);
    server.stop().await;
}

#[tokio::test]
async fn a_token_server_without_a_token_fails_with_advice() {
    let (server, _keys) = dev_server(&[]).await;
    let steps = run_checks(&server.mcp_url, None, TIMEOUT).await.unwrap();
    let challenge = steps.iter().find(|s| s.step == "auth challenge").unwrap();
    assert_eq!(challenge.status, Status::Fail);
    assert!(challenge.detail.contains("--token"));
    let wrong = run_checks(&server.mcp_url, Some("not-a-token".into()), TIMEOUT)
        .await
        .unwrap();
    let initialize = wrong.iter().find(|s| s.step == "initialize").unwrap();
    assert_eq!(initialize.status, Status::Fail);
    // The server's reason, from its challenge, and what to do.
    assert!(
        initialize.detail.contains("401") && initialize.detail.contains("invalid_token"),
        "{}",
        initialize.detail
    );
    assert!(
        initialize.detail.contains("--token"),
        "{}",
        initialize.detail
    );
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn the_binary_exits_non_zero_on_a_dead_port_and_zero_on_a_good_server() {
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let output = Process::new(BIN)
        .args(["check", "--url", &format!("http://{dead}/mcp")])
        .output()
        .await
        .unwrap();
    assert!(!output.status.success());
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("FAIL") && stdout.contains("cannot reach"),
        "{stdout}"
    );

    let (server, _keys) = dev_server(&[]).await;
    let output = Process::new(BIN)
        .args(["check", "--url", &server.mcp_url, "--json"])
        .env("DICE_MCP_TOKEN", &server.token)
        .output()
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["ok"], true);
    assert_eq!(report["steps"].as_array().unwrap().len(), 8);
    assert!(
        report["steps"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| (s["status"] == "pass" || s["step"] == "public") && s["ms"].is_u64())
    );
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn check_follows_the_sse_session_redirect_of_a_replica_behind_a_balancer() {
    let server = TestServer::start_with(
        mcp_core::HttpConfig::builder().sse_session_redirect(true),
        dice_tools::DiceConfig::default(),
    )
    .await;
    let steps = run_checks(&format!("{}/sse", server.base), None, TIMEOUT)
        .await
        .unwrap();
    let stream = steps.iter().find(|s| s.step == "sse stream").unwrap();
    assert_eq!(stream.status, Status::Pass, "{steps:?}");
    assert!(stream.detail.contains("after a redirect"), "{stream:?}");
    assert_eq!(status_of(&steps, "tools/call"), Status::Pass);
    server.stop().await;
}
