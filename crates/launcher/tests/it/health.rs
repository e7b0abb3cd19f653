//! `dice-mcp health`, the Docker HEALTHCHECK: the real binary against a real server, a closed
//! port, a server that answers something other than 200, and one that never answers.

use std::{process::Output, time::Duration};

use mcp_core::SessionMode;
use tokio::process::Command;

use crate::{binary::BIN, support::TestServer};

/// Runs `dice-mcp health ARGS` (without the health variables of the caller's environment)
/// and returns what it did, failing the test if it takes more than 20 s.
async fn health(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(BIN);
    command
        .arg("health")
        .args(args)
        .env_remove("DICE_MCP_HEALTH_URL")
        .env_remove("DICE_MCP_HEALTH_TIMEOUT")
        .envs(env.iter().copied())
        .kill_on_drop(true);
    tokio::time::timeout(Duration::from_secs(20), command.output())
        .await
        .expect("dice-mcp health did not finish within 20 s")
        .unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[tokio::test]
async fn health_exits_zero_when_healthz_answers_200() {
    let server = TestServer::start(SessionMode::Stateless).await;
    let url = format!("{}/healthz", server.base);

    let output = health(&["--url", &url], &[]).await;
    assert!(output.status.success(), "{}", stderr(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("200 OK"), "{stdout}");

    let from_env = health(&[], &[("DICE_MCP_HEALTH_URL", &url)]).await;
    assert!(
        from_env.status.success(),
        "DICE_MCP_HEALTH_URL sets the URL: {}",
        stderr(&from_env)
    );
    server.stop().await;
}

#[tokio::test]
async fn health_fails_with_advice_when_nothing_listens() {
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let output = health(&["--url", &format!("http://{closed}/healthz")], &[]).await;
    assert!(!output.status.success());
    let stderr = stderr(&output);
    assert!(
        stderr.contains(&format!("could not connect to http://{closed}/healthz"))
            && stderr.contains("DICE_MCP_HEALTH_URL"),
        "{stderr}"
    );
}

#[tokio::test]
async fn health_fails_when_healthz_answers_anything_but_200() {
    let unhealthy = axum::Router::new()
        .route(
            "/healthz",
            axum::routing::get(|| async { axum::http::StatusCode::SERVICE_UNAVAILABLE }),
        )
        .route("/ok", axum::routing::get(|| async { "ok" }))
        .route(
            "/moved",
            axum::routing::get(|| async { axum::response::Redirect::temporary("/ok") }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move { axum::serve(listener, unhealthy).await.unwrap() });

    let output = health(&["--url", &format!("http://{addr}/healthz")], &[]).await;
    assert!(!output.status.success());
    let stderr_text = stderr(&output);
    assert!(
        stderr_text.contains("answered 503 Service Unavailable, not 200 OK"),
        "{stderr_text}"
    );

    // A redirect is not health, even to a page that answers 200.
    let output = health(&["--url", &format!("http://{addr}/moved")], &[]).await;
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("answered 307 Temporary Redirect"),
        "{}",
        stderr(&output)
    );
    task.abort();
}

#[tokio::test]
async fn health_gives_up_after_its_timeout_when_the_server_never_answers() {
    // Accepts connections (the kernel does, from the backlog) and never reads or answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = silent.local_addr().unwrap();
    let started = std::time::Instant::now();
    let output = health(
        &[
            "--url",
            &format!("http://{addr}/healthz"),
            "--timeout",
            "500ms",
        ],
        &[],
    )
    .await;
    assert!(!output.status.success());
    let stderr = stderr(&output);
    assert!(stderr.contains("did not answer within 500ms"), "{stderr}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "gave up only after {:?}",
        started.elapsed()
    );
    drop(silent);
}
