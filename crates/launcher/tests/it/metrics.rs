//! `serve --metrics`: Prometheus text counting what the server did, over real HTTP.

use reqwest::{StatusCode, header};
use serde_json::json;
use test_support::{ACCEPT_BOTH, http, post_rpc};

use crate::{
    auth::{serve_with_keys, token},
    binary::start,
};

/// The value of the sample `name{labels}` in Prometheus text (labels in the order given).
fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines().find_map(|line| {
        let rest = line.strip_prefix(name)?;
        let (series, value) = rest.rsplit_once(' ')?;
        let all = labels
            .iter()
            .all(|(key, value)| series.contains(&format!("{key}=\"{value}\"")));
        (all && (series.is_empty() || series.starts_with('{'))).then(|| value.parse().ok())?
    })
}

/// The text `GET /metrics` answers at `base`.
async fn metrics_text(base: &str) -> String {
    http()
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

#[tokio::test]
async fn metrics_count_requests_tool_calls_and_auth_refusals_by_reason() {
    let (dir, _child, url, _log) = serve_with_keys(&["--stateless", "--metrics"]).await;
    let base = url.trim_end_matches("/mcp").to_owned();
    let good = token(dir.path(), &[]).await;
    let call = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                      "params": {"name": "roll_dice", "arguments": {"n_dice": 2}}});
    for _ in 0..3 {
        assert_eq!(
            post_rpc(&url, Some(&good), &call).await.status(),
            StatusCode::OK
        );
    }
    let bad_arguments = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                               "params": {"name": "roll_dice", "arguments": {"n_dice": 0}}});
    assert_eq!(
        post_rpc(&url, Some(&good), &bad_arguments).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        post_rpc(&url, None, &call).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        post_rpc(&url, Some("not.a.token"), &call).await.status(),
        StatusCode::UNAUTHORIZED
    );

    let text = metrics_text(&base).await;
    let requests = |status| {
        sample(
            &text,
            "mcp_http_requests_total",
            &[("route", "/mcp"), ("status", status)],
        )
    };
    assert_eq!(requests("200"), Some(4.0), "{text}");
    assert_eq!(requests("401"), Some(2.0), "{text}");
    let tool = |outcome| {
        sample(
            &text,
            "mcp_tool_calls_total",
            &[("tool", "roll_dice"), ("outcome", outcome)],
        )
    };
    assert_eq!(tool("ok"), Some(3.0), "{text}");
    assert_eq!(tool("error"), Some(1.0), "{text}");
    let refusals = |reason| sample(&text, "mcp_auth_refusals_total", &[("reason", reason)]);
    assert_eq!(refusals("missing_token"), Some(1.0), "{text}");
    assert_eq!(refusals("invalid_token"), Some(1.0), "{text}");
    assert!(
        sample(
            &text,
            "mcp_http_request_duration_seconds_count",
            &[("route", "/mcp")]
        )
        .is_some_and(|n| n >= 6.0),
        "{text}"
    );
    assert!(
        sample(&text, "mcp_http_open_connections", &[]).is_some(),
        "{text}"
    );
    assert_eq!(sample(&text, "mcp_open_sessions", &[]), Some(0.0), "{text}");
}

/// `serve --session-rest`: an unused stateful session rests (the gauge counts it), and
/// its next call is answered in the same session.
#[tokio::test]
async fn an_unused_session_rests_and_answers_its_next_call() {
    let (_child, url, _log) = start(&[
        "--addr",
        "127.0.0.1:0",
        "--metrics",
        "--session-rest",
        "300ms",
    ])
    .await;
    let base = url.trim_end_matches("/mcp").to_owned();
    let gauges = || async {
        let text = metrics_text(&base).await;
        (
            sample(&text, "mcp_open_sessions", &[]),
            sample(&text, "mcp_resting_sessions", &[]),
        )
    };
    let id = test_support::open_session(&url, "2025-06-18", |request| request).await;
    assert_eq!(gauges().await, (Some(1.0), Some(0.0)));
    let mut resting = false;
    for _ in 0..50 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        if gauges().await == (Some(1.0), Some(1.0)) {
            resting = true;
            break;
        }
    }
    assert!(resting, "the session never rested: {:?}", gauges().await);
    let reply = test_support::mcp_post(&url)
        .header(test_support::SESSION_HEADER, &id)
        .header(test_support::PROTOCOL_VERSION_HEADER, "2025-06-18")
        .json(&json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                      "params": {"name": "roll_dice", "arguments": {"n_dice": 2}}}))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), StatusCode::OK);
    let reply = test_support::rpc_message(reply, 2).await;
    assert_eq!(reply["result"]["isError"], json!(false), "{reply}");
    assert_eq!(gauges().await, (Some(1.0), Some(0.0)));
}

#[tokio::test]
async fn metrics_on_the_shared_listener_answer_only_loopback_hosts() {
    let (_child, url, _log) = start(&["--addr", "127.0.0.1:0", "--metrics"]).await;
    let base = url.trim_end_matches("/mcp").to_owned();
    let public = http()
        .get(format!("{base}/metrics"))
        .header(header::HOST, "abc.ngrok.app")
        .send()
        .await
        .unwrap();
    assert_eq!(
        public.status(),
        StatusCode::NOT_FOUND,
        "through a tunnel: not there"
    );
    let local = http().get(format!("{base}/metrics")).send().await.unwrap();
    assert_eq!(local.status(), StatusCode::OK);
    assert_eq!(
        local.headers()[header::CONTENT_TYPE],
        "text/plain; version=0.0.4"
    );
    // Without --metrics there is no such route.
    let (_plain, url, _log) = start(&["--addr", "127.0.0.1:0"]).await;
    let base = url.trim_end_matches("/mcp").to_owned();
    let absent = http()
        .get(format!("{base}/metrics"))
        .header(header::ACCEPT, ACCEPT_BOTH)
        .send()
        .await
        .unwrap();
    assert_eq!(absent.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn metrics_addr_serves_them_on_their_own_listener() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let (_child, url, _log) = start(&["--addr", "127.0.0.1:0", "--metrics-addr", &addr]).await;
    let base = url.trim_end_matches("/mcp").to_owned();
    let on_main = http().get(format!("{base}/metrics")).send().await.unwrap();
    assert_eq!(
        on_main.status(),
        StatusCode::NOT_FOUND,
        "not on the main listener"
    );
    let mut text = String::new();
    for _ in 0..50 {
        if let Ok(response) = http().get(format!("http://{addr}/metrics")).send().await {
            text = response.text().await.unwrap();
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(text.contains("mcp_open_sessions"), "{text}");
}
