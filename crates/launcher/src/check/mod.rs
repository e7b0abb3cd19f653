//! `dice-mcp check`: a preflight that talks to a server the way OpenAI's client does, and
//! says, step by step, whether OpenAI will be able to use it.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use reqwest::Client;
use serde::Serialize;
use serde_json::json;

use crate::cli::CheckArgs;

mod schema;
mod steps;
mod transport;

use steps::{Checker, unreachable_from_openai};
use transport::{Link, Transport};

/// How long each of `check`'s requests may take unless `--timeout` says otherwise.
const DEFAULT_CHECK_TIMEOUT: Duration = Duration::from_secs(10);

/// How a step went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// As OpenAI needs it.
    Pass,
    /// Works, but something deserves attention.
    Warn,
    /// OpenAI will fail here.
    Fail,
    /// Not applicable.
    Skip,
}

/// One step's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    /// What was checked.
    pub step: &'static str,
    /// How it went.
    pub status: Status,
    /// Milliseconds the step took.
    pub ms: u128,
    /// What was seen, and what to do about it.
    pub detail: String,
}

/// Runs the checks and returns the steps.
pub async fn run_checks(
    url: &str,
    token: Option<String>,
    timeout: Duration,
) -> anyhow::Result<Vec<Step>> {
    let url = reqwest::Url::parse(url).with_context(|| format!("{url:?} is not a URL"))?;
    if !matches!(url.scheme(), "http" | "https") {
        bail!("{url} is not an http(s) URL");
    }
    let http = Client::builder()
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .context("could not build an HTTP client")?;
    let sse = url.path().trim_end_matches('/').ends_with("/sse");
    let transport = Transport::Streamable { session: None };
    let mut checker = Checker {
        link: Link {
            http,
            url,
            token,
            transport,
        },
        steps: Vec::new(),
    };

    let started = Instant::now();
    match unreachable_from_openai(&checker.link.url) {
        Some(why) => checker.record(
            "public",
            started,
            Status::Warn,
            format!(
                "{why}: OpenAI's servers cannot reach it; publish it (dice-mcp dev does, \
                 through ngrok) and check the public URL"
            ),
        ),
        None => checker.record("public", started, Status::Pass, "a public address"),
    };
    if checker.metadata().await == Status::Fail {
        return Ok(checker.steps);
    }
    if checker.link.token.is_some() || !sse {
        checker.challenge().await;
    }
    if sse && checker.open_sse().await == Status::Fail {
        return Ok(checker.steps);
    }
    if checker.initialize().await == Status::Fail {
        return Ok(checker.steps);
    }
    checker.initialized().await;
    let (_, tools) = checker.list_tools().await;
    let started = Instant::now();
    if tools.iter().any(|t| t == "roll_dice") {
        match checker.call_roll_dice("tools/call", 2).await {
            Ok(()) => checker.record("tools/call", started, Status::Pass, "roll_dice answered"),
            Err(why) => checker.record("tools/call", started, Status::Fail, why),
        };
        if sse {
            checker.record(
                "delete, then call",
                Instant::now(),
                Status::Skip,
                "the SSE transport has no DELETE",
            );
        } else {
            checker.delete_then_call().await;
        }
    } else {
        checker.record(
            "tools/call",
            started,
            Status::Skip,
            "no roll_dice tool to call",
        );
    }
    Ok(checker.steps)
}

/// `dice-mcp check`: prints one line per step (or JSON) and fails when any step failed.
pub fn run(args: CheckArgs) -> anyhow::Result<()> {
    let steps = crate::runtime()?.block_on(run_checks(
        &args.target.url,
        args.target.token.clone(),
        args.target.timeout_or(DEFAULT_CHECK_TIMEOUT),
    ))?;
    let failed = steps.iter().filter(|s| s.status == Status::Fail).count();
    let warned = steps.iter().filter(|s| s.status == Status::Warn).count();
    let passed = steps.iter().filter(|s| s.status == Status::Pass).count();
    if args.json {
        let report = json!({"url": args.target.url, "ok": failed == 0, "steps": steps});
        println!(
            "{}",
            serde_json::to_string_pretty(&report).context("could not encode the report")?
        );
    } else {
        for step in &steps {
            let label = match step.status {
                Status::Pass => "PASS",
                Status::Warn => "WARN",
                Status::Fail => "FAIL",
                Status::Skip => "SKIP",
            };
            println!(
                "{label}  {:<18} {:>6} ms  {}",
                step.step, step.ms, step.detail
            );
        }
        println!("\n{passed} passed, {warned} warnings, {failed} failed");
    }
    if failed > 0 {
        bail!(
            "{failed} check(s) failed: OpenAI's client would fail on {}",
            args.target.url
        );
    }
    Ok(())
}
