//! The real `dice-mcp` binary: flags, the listening line, a call, and SIGTERM drain.

use std::{process::Stdio, time::Duration};

use serde_json::json;
use test_support::{mcp_post, open_sse};
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{Child, Command},
};

pub const BIN: &str = env!("CARGO_BIN_EXE_dice-mcp");

/// Starts `dice-mcp serve ARGS` at the default log level and returns it with the base URL
/// from its log line.
pub async fn start(args: &[&str]) -> (Child, String, tokio::task::JoinHandle<Vec<String>>) {
    let mut command = Command::new(BIN);
    command.arg("serve").args(args).env_remove("RUST_LOG");
    start_command(command).await
}

/// Starts `command` (a `dice-mcp serve`, perhaps under a wrapper such as `prlimit`, with
/// the `RUST_LOG` it sets or clears) and returns it with the base URL from its log line and
/// a task collecting the rest of its log.
pub async fn start_command(
    command: Command,
) -> (Child, String, tokio::task::JoinHandle<Vec<String>>) {
    start_command_with(command, Stdio::null()).await
}

/// [`start_command`] with its stdout set to `stdout` (piped, to read what it prints there).
pub async fn start_command_with(
    mut command: Command,
    stdout: Stdio,
) -> (Child, String, tokio::task::JoinHandle<Vec<String>>) {
    let mut child = command
        .stdout(stdout)
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let url = tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Some(rest) = line.split("listening on ").nth(1) {
                return rest.split_whitespace().next().unwrap().to_owned();
            }
        }
        panic!("dice-mcp exited before saying where it listens");
    })
    .await
    .expect("dice-mcp did not start within 20 s");
    let rest = tokio::spawn(async move {
        let mut seen = Vec::new();
        while let Ok(Some(line)) = lines.next_line().await {
            seen.push(line);
        }
        seen
    });
    (child, url, rest)
}

pub fn terminate(child: &Child) {
    let pid = child.id().unwrap().to_string();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(status.success());
}

#[tokio::test]
async fn serve_prints_its_url_answers_and_drains_on_sigterm() {
    let (mut child, url, log) = start(&["--addr", "127.0.0.1:0", "--stateless"]).await;
    assert!(
        url.starts_with("http://127.0.0.1:") && url.ends_with("/mcp"),
        "{url}"
    );

    let call = json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call",
                      "params": {"name": "roll", "arguments": {"expression": "2d20kh1+3"}}});
    let reply: serde_json::Value = mcp_post(&url)
        .json(&call)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let total = reply["result"]["structuredContent"]["total"]
        .as_i64()
        .unwrap();
    assert!((4..=23).contains(&total), "{reply}");

    terminate(&child);
    let status = tokio::time::timeout(Duration::from_secs(15), child.wait())
        .await
        .expect("dice-mcp did not stop within 15 s of SIGTERM")
        .unwrap();
    assert!(status.success(), "exit status {status}");
    let log = log.await.unwrap().join("\n");
    assert!(log.contains("dice-mcp stopped"), "{log}");
    assert!(
        !log.contains('\u{1b}'),
        "no colour codes when stderr is not a terminal"
    );
}

#[tokio::test]
async fn env_vars_configure_serve() {
    let mut child = Command::new(BIN)
        .arg("serve")
        .env("DICE_MCP_ADDR", "127.0.0.1:0")
        .env("DICE_MCP_STATELESS", "true")
        .env("DICE_MCP_MAX_DICE", "2")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut url = None;
    while let Some(line) = lines.next_line().await.unwrap() {
        if let Some(rest) = line.split("listening on ").nth(1) {
            assert!(line.contains("(stateless)"), "{line}");
            url = rest.split_whitespace().next().map(str::to_owned);
            break;
        }
    }
    let url = url.expect("no listening line");
    let call = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                      "params": {"name": "roll_dice", "arguments": {"n_dice": 3}}});
    let reply: serde_json::Value = mcp_post(&url)
        .json(&call)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        reply["result"]["isError"], true,
        "DICE_MCP_MAX_DICE=2 refuses 3 dice"
    );
    child.kill().await.unwrap();
}

#[tokio::test]
async fn busy_port_fails_with_advice_and_nonzero_exit() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let output = tokio::time::timeout(
        Duration::from_secs(20),
        Command::new(BIN).args(["serve", "--addr", &addr]).output(),
    )
    .await
    .unwrap()
    .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("could not listen on") && stderr.contains("--addr"),
        "{stderr}"
    );
}

#[tokio::test]
async fn help_teaches_the_flags_and_their_env_vars() {
    let output = Command::new(BIN)
        .args(["serve", "--help"])
        .output()
        .await
        .unwrap();
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    for needle in [
        "--stateless",
        "DICE_MCP_ADDR",
        "--allowed-host",
        "--max-dice",
        "OpenAI",
    ] {
        assert!(
            help.contains(needle),
            "serve --help lacks {needle}:\n{help}"
        );
    }
}

#[tokio::test]
async fn both_transports_are_announced_and_sse_only_serves_sse() {
    let (child, url, log) = start(&["--addr", "127.0.0.1:0"]).await;
    assert!(url.ends_with("/mcp"), "{url}");
    let sse_url = url.replace("/mcp", "/sse");
    let response = open_sse(&sse_url).await;
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    drop(response);
    drop(child);
    let log = log.await.unwrap().join("\n");
    assert!(
        log.contains("legacy SSE clients use http://127.0.0.1:"),
        "{log}"
    );

    let (child, url, _log) = start(&["--addr", "127.0.0.1:0", "--transport", "sse"]).await;
    assert!(url.ends_with("/sse"), "{url}");
    let mcp = mcp_post(&url.replace("/sse", "/mcp"))
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}))
        .send()
        .await
        .unwrap();
    assert_eq!(mcp.status(), 404);
    drop(child);
}
