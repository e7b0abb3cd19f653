//! `serve --metrics`: Prometheus text at `/metrics`. The libraries count through the
//! `metrics` facade (connections, load shedding, tool calls); this module installs the
//! Prometheus recorder, counts requests by route and status with their latency and the
//! authentication refusals by reason, and serves the text.

use std::time::{Duration, Instant};

use anyhow::Context;
use axum::{
    Router,
    extract::{Request, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
    routing::get,
};
use mcp_core::McpServer;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Where Prometheus reads.
pub const METRICS_PATH: &str = "/metrics";

/// Latency buckets, in seconds: a tool call takes well under a millisecond, a slow one or
/// a queue shows in the upper buckets.
const LATENCY_BUCKETS: [f64; 12] = [
    0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0,
];

/// Installs the Prometheus recorder for this process, and keeps its histograms drained.
pub fn install() -> anyhow::Result<PrometheusHandle> {
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Full("mcp_http_request_duration_seconds".into()),
            &LATENCY_BUCKETS,
        )
        .context("invalid latency buckets")?
        .install_recorder()
        .context("could not install the metrics recorder")?;
    let upkeep = handle.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(5));
        loop {
            tick.tick().await;
            upkeep.run_upkeep();
        }
    });
    Ok(handle)
}

/// The `/metrics` route. With `loopback_only` (it shares the public listener) a request
/// whose `Host` is not a loopback name gets `404`: a tunnel or proxy in front sends the
/// public host, so the numbers never leave the machine that way.
pub fn routes(handle: PrometheusHandle, server: McpServer, loopback_only: bool) -> Router {
    Router::new()
        .route(METRICS_PATH, get(render))
        .with_state((handle, server, loopback_only))
}

async fn render(
    State((handle, server, loopback_only)): State<(PrometheusHandle, McpServer, bool)>,
    headers: HeaderMap,
) -> Response {
    if loopback_only && !host_is_loopback(&headers) {
        return StatusCode::NOT_FOUND.into_response();
    }
    metrics::gauge!("mcp_open_sessions").set(server.open_sessions() as f64);
    metrics::gauge!("mcp_resting_sessions").set(server.resting_sessions() as f64);
    let mut response = handle.render().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4"),
    );
    response
}

fn host_is_loopback(headers: &HeaderMap) -> bool {
    let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else {
        return false;
    };
    let name = match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    };
    matches!(
        name.trim_start_matches('[').trim_end_matches(']'),
        "localhost" | "127.0.0.1" | "::1"
    )
}

/// Middleware: counts every request by route and status, records its latency (to the
/// response head), and counts bearer refusals by their RFC 6750 error.
pub async fn track(request: Request, next: Next) -> Response {
    let route = route_of(request.uri().path());
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status();
    metrics::counter!(
        "mcp_http_requests_total",
        "route" => route,
        "status" => status.as_u16().to_string()
    )
    .increment(1);
    metrics::histogram!("mcp_http_request_duration_seconds", "route" => route)
        .record(started.elapsed().as_secs_f64());
    if matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN)
        && let Some(reason) = bearer_refusal(response.headers())
    {
        metrics::counter!("mcp_auth_refusals_total", "reason" => reason).increment(1);
    }
    response
}

/// The route label: one of a fixed set, so a client cannot grow the label space.
fn route_of(path: &str) -> &'static str {
    match path {
        "/mcp" => "/mcp",
        "/sse" => "/sse",
        "/messages" => "/messages",
        "/healthz" => "/healthz",
        METRICS_PATH => METRICS_PATH,
        "/register" | "/authorize" | "/token" => "oauth",
        _ if path.starts_with("/.well-known/") => "/.well-known",
        _ => "other",
    }
}

/// Why bearer-auth refused, from its challenge: the RFC 6750 error, or `missing_token`
/// when the challenge names none (no token was sent).
fn bearer_refusal(headers: &HeaderMap) -> Option<&'static str> {
    let challenge = headers.get(header::WWW_AUTHENTICATE)?.to_str().ok()?;
    if !challenge.starts_with("Bearer") {
        return None;
    }
    Some(
        match challenge
            .split("error=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
        {
            None => "missing_token",
            Some("invalid_request") => "invalid_request",
            Some("invalid_token") => "invalid_token",
            Some("insufficient_scope") => "insufficient_scope",
            Some(_) => "other",
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_and_reasons_are_a_fixed_set() {
        assert_eq!(route_of("/mcp"), "/mcp");
        assert_eq!(
            route_of("/.well-known/oauth-protected-resource/mcp"),
            "/.well-known"
        );
        assert_eq!(route_of("/random/path/123"), "other");
        let challenge = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_str(value).unwrap(),
            );
            bearer_refusal(&headers)
        };
        assert_eq!(challenge(r#"Bearer realm="x""#), Some("missing_token"));
        assert_eq!(
            challenge(r#"Bearer realm="x", error="invalid_token", error_description="expired""#),
            Some("invalid_token")
        );
        assert_eq!(challenge(r#"Bearer error="made_up""#), Some("other"));
        assert_eq!(challenge("Basic realm=\"token\""), None);
    }

    #[test]
    fn only_loopback_hosts_read_metrics_on_the_shared_listener() {
        let host = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::HOST, HeaderValue::from_str(value).unwrap());
            host_is_loopback(&headers)
        };
        for ok in ["127.0.0.1:8000", "localhost", "[::1]:9"] {
            assert!(host(ok), "{ok}");
        }
        for bad in ["abc.ngrok.app", "127.0.0.2", "localhost.evil.example"] {
            assert!(!host(bad), "{bad}");
        }
    }
}
