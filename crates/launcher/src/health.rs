//! `dice-mcp health`: one GET of a server's `/healthz`, exit 0 on `200 OK`; the
//! `HEALTHCHECK` of an image that has no curl (the distroless one in `deploy/Dockerfile`).

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use reqwest::StatusCode;

use crate::cli::HealthArgs;

/// Probes `--url` once; `Ok` only when it answered `200 OK` within `--timeout`.
pub fn run(args: &HealthArgs) -> anyhow::Result<()> {
    let elapsed = crate::runtime()?.block_on(probe(&args.url, args.timeout))?;
    println!(
        "healthy: {} answered 200 OK in {} ms",
        args.url,
        elapsed.as_millis()
    );
    Ok(())
}

/// GETs `url` with no redirects and no proxy, within `timeout`; how long the answer took.
async fn probe(url: &url::Url, timeout: Duration) -> anyhow::Result<Duration> {
    let http = reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        // The server's own answer: a 3xx is not health, and HTTP_PROXY in a container's
        // environment must not send a loopback probe elsewhere.
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()
        .context("could not build an HTTP client")?;
    let started = Instant::now();
    let response = http
        .get(url.as_str())
        .send()
        .await
        .map_err(|error| no_answer(url, timeout, error))?;
    let status = response.status();
    if status != StatusCode::OK {
        bail!(
            "{url} answered {status}, not 200 OK: a dice-mcp server answers 200 there while it \
             serves. If something else listens on that port, point --url (DICE_MCP_HEALTH_URL) \
             at dice-mcp's /healthz"
        );
    }
    Ok(started.elapsed())
}

/// The request failed before any answer: say which way, and what to look at.
fn no_answer(url: &url::Url, timeout: Duration, error: reqwest::Error) -> anyhow::Error {
    let advice = if error.is_timeout() {
        format!(
            "{url} did not answer within {}: the server is stuck or overloaded (see its log), \
             or --timeout (DICE_MCP_HEALTH_TIMEOUT) is too short",
            humantime::format_duration(timeout)
        )
    } else if error.is_connect() {
        format!(
            "could not connect to {url}: is `dice-mcp serve` running and listening on that \
             port? When it listens elsewhere (DICE_MCP_ADDR), set --url (DICE_MCP_HEALTH_URL) \
             to match"
        )
    } else {
        format!("the request to {url} failed before an answer came")
    };
    anyhow::Error::new(error).context(advice)
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use crate::cli::{Cli, Command};

    use super::*;

    fn health(argv: &[&str]) -> HealthArgs {
        match Cli::try_parse_from([&["dice-mcp", "health"][..], argv].concat()) {
            Ok(Cli {
                command: Command::Health(args),
            }) => args,
            other => panic!("parsed {other:?}"),
        }
    }

    #[test]
    fn health_defaults_to_serves_default_port_and_three_seconds() {
        let args = health(&[]);
        assert_eq!(args.url.as_str(), "http://127.0.0.1:8000/healthz");
        assert_eq!(args.timeout, Duration::from_secs(3));
    }

    #[test]
    fn health_reads_its_url_and_durations_like_other_commands() {
        let args = health(&["--url", "http://127.0.0.1:9/healthz", "--timeout", "500ms"]);
        assert_eq!(args.url.port(), Some(9));
        assert_eq!(args.timeout, Duration::from_millis(500));
        assert!(Cli::try_parse_from(["dice-mcp", "health", "--url", "not a url"]).is_err());
        assert!(Cli::try_parse_from(["dice-mcp", "health", "--timeout", "0"]).is_err());
    }
}
