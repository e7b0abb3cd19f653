//! `cargo xtask scale-test`: release `dice-mcp` replicas behind a real nginx (the config
//! under `deploy/nginx/`, round robin for `/mcp`, `session_id` hash for `/sse`), with
//! sessions in a real Redis, all on 127.0.0.1. It runs the official Python SDK client
//! through nginx in both session modes, a load run with the per-replica split (from each
//! replica's `/metrics`), 1 replica against 2, a replica SIGTERMed mid-run, a stateful
//! session hopping replicas on every request, and Redis restarted mid-run; prints the
//! figures and writes them to `target/scale-test/report.json`.

mod cluster;

use std::{
    collections::BTreeMap,
    fs,
    path::PathBuf,
    process::Command,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use reqwest::Client;
use serde_json::{Value, json};

use crate::{
    bench::wrk,
    cargo, install, interop, run,
    soak::{
        keygen,
        load::{self, call, client, initialize, initialized, mcp_post, rolled, send},
        mint,
    },
    target_dir, workspace_root,
};
use cluster::{Nginx, Redis, Replica};

/// Flags of `cargo xtask scale-test`.
#[derive(Debug, Clone, clap::Args)]
pub struct Options {
    /// Seconds each load run lasts.
    #[arg(long, default_value_t = 6)]
    pub seconds: u64,
    /// Clients sending at once in each load run.
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
}

/// What each request of a load run got, by label (`ok`, or a status or error).
#[derive(Debug, Default)]
struct Outcomes {
    counts: Mutex<BTreeMap<String, u64>>,
    ok: AtomicU64,
}

impl Outcomes {
    fn record(&self, label: &str) {
        if label == "ok" {
            self.ok.fetch_add(1, Ordering::Relaxed);
        } else if let Ok(mut counts) = self.counts.lock() {
            *counts.entry(label.to_owned()).or_default() += 1;
        }
    }

    fn ok(&self) -> u64 {
        self.ok.load(Ordering::Relaxed)
    }

    /// Every label but `ok`, with its count.
    fn failures(&self) -> BTreeMap<String, u64> {
        self.counts.lock().map(|c| c.clone()).unwrap_or_default()
    }

    fn failed(&self) -> u64 {
        self.failures().values().sum()
    }

    fn to_json(&self, seconds: f64) -> Value {
        json!({
            "ok": self.ok(),
            "failed": self.failures(),
            "ok_per_second": (self.ok() as f64 / seconds).round(),
        })
    }
}

/// The run's figures and its failures.
#[derive(Default)]
struct Report {
    figures: serde_json::Map<String, Value>,
    failures: Vec<String>,
}

impl Report {
    fn set(&mut self, key: &str, value: Value) {
        self.figures.insert(key.to_owned(), value);
    }

    fn fail(&mut self, what: String) {
        eprintln!("scale-test: FAIL {what}");
        self.failures.push(what);
    }
}

pub fn scale_test(options: &Options) -> anyhow::Result<()> {
    install::debian_package("nginx", "nginx")?;
    install::debian_package("redis-server", "redis-server")?;
    wrk::ensure_installed()?;
    run(
        "cargo build --release -p launcher",
        cargo().args(["build", "--release", "--quiet", "-p", "launcher"]),
    )?;
    let binary = target_dir().join("release").join("dice-mcp");
    let python = interop::python_venv(&target_dir().join("interop"))?;
    let node_dir = target_dir().join("interop").join("node");
    install::npm_ci(&workspace_root().join("xtask/interop"), &node_dir)?;
    let dir = target_dir().join("scale-test");
    let work = dir.join("run");
    if work.exists() {
        fs::remove_dir_all(&work).with_context(|| format!("could not clear {}", work.display()))?;
    }
    fs::create_dir_all(&work).with_context(|| format!("could not create {}", work.display()))?;

    let keys = work.join("keys");
    keygen(&binary, &keys)?;
    let token = mint(
        &binary,
        &keys.join("private.pem"),
        &["--sub", "scale-test", "--ttl", "2h"],
    )?;
    let public = keys.join("public.pem").to_string_lossy().into_owned();
    let sdks = Sdks {
        python,
        node_dir,
        token: token.clone(),
    };
    let template = fs::read_to_string(workspace_root().join(cluster::NGINX_TEMPLATE))
        .with_context(|| format!("could not read {}", cluster::NGINX_TEMPLATE))?;

    let runtime = tokio::runtime::Runtime::new().context("could not start the async runtime")?;
    let http = client()?;
    let mut report = Report::default();
    let load = Load {
        http: http.clone(),
        token: token.clone(),
        concurrency: options.concurrency,
        duration: Duration::from_secs(options.seconds),
    };

    // Stateless replicas: nothing shared.
    eprintln!("scale-test: two stateless replicas behind nginx");
    let common = |extra: &[&str]| -> Vec<String> {
        let mut flags: Vec<String> = [
            "--public-key",
            public.as_str(),
            "--sse-session-redirect",
            "--metrics",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        flags.extend(extra.iter().map(|s| (*s).to_owned()));
        flags
    };
    let stateless_flags = common(&["--stateless"]);
    let mut replicas = [
        Replica::start(&binary, "replica-1", &stateless_flags)?,
        Replica::start(&binary, "replica-2", &stateless_flags)?,
    ];
    let both = Nginx::start(
        &template,
        &work.join("nginx-2"),
        &[&replicas[0], &replicas[1]],
    )?;
    let one = Nginx::start(&template, &work.join("nginx-1"), &[&replicas[0]])?;

    for (what, url, mode) in [
        ("stateless /mcp, mode legacy", both.url("/mcp"), "legacy"),
        (
            "stateless /mcp, mode 2026-07-28",
            both.url("/mcp"),
            "2026-07-28",
        ),
        ("/sse beside stateless /mcp", both.url("/sse"), "legacy"),
    ] {
        sdks.python(what, &url, mode, &mut report);
    }
    sdks.typescript(
        "stateless /mcp",
        &both.url("/mcp"),
        "streamable",
        &mut report,
    );
    sdks.typescript(
        "/sse beside stateless /mcp",
        &both.url("/sse"),
        "sse",
        &mut report,
    );
    sse_sessions(&runtime, &http, &both.url(""), &token, &mut report);

    eprintln!("scale-test: load through nginx (wrk), 1 replica then 2");
    let script = wrk::script(
        &work,
        "call",
        &wrk::Target::call(
            &both.url("/mcp"),
            vec![("Authorization".to_owned(), format!("Bearer {token}"))],
        ),
    )?;
    let concurrency = u32::try_from(options.concurrency).unwrap_or(u32::MAX);
    let single = wrk::run(&script, &one.url("/mcp"), concurrency, options.seconds)?;
    let before = runtime.block_on(requests_per_replica(&http, &replicas))?;
    let double = wrk::run(&script, &both.url("/mcp"), concurrency, options.seconds)?;
    let after = runtime.block_on(requests_per_replica(&http, &replicas))?;
    let split: Vec<u64> = after.iter().zip(&before).map(|(a, b)| a - b).collect();
    let ratio = double.requests_per_sec / single.requests_per_sec.max(1.0);
    println!(
        "stateless tools/call through nginx, c={concurrency}: 1 replica {:.0}/s (p99 {:.1} ms), \
         2 replicas {:.0}/s (p99 {:.1} ms), {ratio:.2}x; per-replica split {split:?}",
        single.requests_per_sec, single.p99_ms, double.requests_per_sec, double.p99_ms,
    );
    let measured = |m: &wrk::Measured| {
        json!({"requests_per_sec": m.requests_per_sec.round(), "p50_ms": m.p50_ms,
               "p99_ms": m.p99_ms, "errors": m.errors})
    };
    report.set("one_replica", measured(&single));
    report.set("two_replicas", measured(&double));
    report.set("two_replicas_ratio", json!((ratio * 100.0).round() / 100.0));
    report.set("two_replicas_split", json!(split));
    for (name, measured) in [("1 replica", &single), ("2 replicas", &double)] {
        if measured.errors > 0 {
            report.fail(format!("{name} load run: {} errors", measured.errors));
        }
    }
    let total: u64 = split.iter().sum();
    if total == 0 || split.iter().any(|&n| n * 4 < total) {
        report.fail(format!("round robin is lopsided: {split:?}"));
    }

    eprintln!("scale-test: SIGTERM to replica 2 mid-run");
    let seconds = load.duration.as_secs_f64();
    let stop_at = load.duration / 3;
    let killed = runtime.block_on(load.stateless(
        &both.url("/mcp"),
        Some(Event {
            at: stop_at,
            act: Box::new({
                let replica = replicas[1].take();
                move || replica.map(|r| r.stop()).transpose().map(|_| ())
            }),
        }),
    ));
    println!(
        "SIGTERM to replica 2 after {stop_at:?} of a {seconds}s run: {} calls answered, {} \
         failed {:?}",
        killed.ok(),
        killed.failed(),
        killed.failures()
    );
    report.set("replica_sigterm", killed.to_json(seconds));
    if killed.failed() > 0 {
        report.fail(format!(
            "calls failed while a replica shut down: {:?}",
            killed.failures()
        ));
    }
    for replica in &mut replicas {
        replica.stop_now()?;
    }

    // Stateful replicas sharing sessions through Redis.
    eprintln!("scale-test: two stateful replicas sharing sessions through Redis");
    let redis = Redis::start(&work.join("redis"))?;
    let store = redis.url();
    let stateful_flags = common(&["--session-store", &store]);
    for replica in &mut replicas {
        replica.restart(&stateful_flags)?;
    }
    for (what, url, mode) in [
        ("stateful /mcp, mode legacy", both.url("/mcp"), "legacy"),
        ("stateful /mcp, mode auto", both.url("/mcp"), "auto"),
        ("/sse beside stateful /mcp", both.url("/sse"), "legacy"),
    ] {
        sdks.python(what, &url, mode, &mut report);
    }
    sdks.typescript(
        "stateful /mcp",
        &both.url("/mcp"),
        "streamable",
        &mut report,
    );

    let hops = runtime.block_on(hopping_session(&http, &both.url("/mcp"), &token, &replicas));
    match hops {
        Ok(split) => {
            println!("one stateful session, 20 calls through nginx: replicas served {split:?}");
            report.set("hopping_session_split", json!(split));
        }
        Err(error) => report.fail(format!("a session hopping replicas: {error:#}")),
    }

    eprintln!("scale-test: Redis restarted mid-run");
    let redis_down = Duration::from_secs(2);
    let restarted = runtime.block_on(load.stateful(
        &both.url("/mcp"),
        Event {
            at: stop_at,
            act: Box::new({
                let redis = redis.handle();
                move || redis.restart_after(redis_down)
            }),
        },
    ));
    println!(
        "Redis down {redis_down:?} during a {seconds}s stateful run: {} requests answered, \
         {:?} otherwise",
        restarted.ok(),
        restarted.failures()
    );
    report.set("redis_restart", restarted.to_json(seconds));
    // While Redis is down a replica serves the sessions it holds; what needs the store
    // (a new session, a session it has not served yet, a DELETE) is refused 503, and a
    // quota it cannot check against the store 429, both with Retry-After. Anything else
    // (a 500, a 404, a dropped connection) is a failure.
    let unexpected: BTreeMap<String, u64> = restarted
        .failures()
        .into_iter()
        .filter(|(label, _)| {
            !(label.ends_with(": 503 retry-after") || label.ends_with(": 429 retry-after"))
        })
        .collect();
    if !unexpected.is_empty() {
        report.fail(format!("during the Redis restart: {unexpected:?}"));
    }
    match runtime.block_on(open_and_call(&http, &both.url("/mcp"), &token)) {
        Ok(()) => {}
        Err(error) => report.fail(format!("a new session after Redis came back: {error:#}")),
    }

    for replica in &mut replicas {
        if let Some(panic) = replica.log_panics() {
            report.fail(format!("{} panicked: {panic}", replica.name));
        }
        if !report.failures.is_empty() {
            eprintln!(
                "{}'s ERROR and WARN lines:\n{}",
                replica.name,
                replica.log_lines(&[" ERROR ", " WARN "], 30)
            );
        }
        replica.stop_now()?;
    }
    drop((both, one));
    redis.stop();

    let report_path = dir.join("report.json");
    let json = json!({"figures": report.figures, "failures": report.failures});
    fs::write(&report_path, serde_json::to_string_pretty(&json)?)
        .with_context(|| format!("could not write {}", report_path.display()))?;
    println!("report: {}", report_path.display());
    if !report.failures.is_empty() {
        bail!("scale-test failed:\n  {}", report.failures.join("\n  "));
    }
    eprintln!("scale-test: passed");
    Ok(())
}

/// The official SDK clients (the interop scripts), run through nginx with the token.
struct Sdks {
    python: PathBuf,
    node_dir: PathBuf,
    token: String,
}

impl Sdks {
    /// The Python SDK's client in `mode` against `url` (`…/sse` drives its `sse_client`).
    fn python(&self, what: &str, url: &str, mode: &str, report: &mut Report) {
        let mut command = Command::new(&self.python);
        command
            .arg(workspace_root().join("xtask/interop/python_sdk_client.py"))
            .args([url, mode, &self.token]);
        row(&format!("python mcp SDK, {what}"), command, report);
    }

    /// The TypeScript SDK's client with `transport` (`streamable` or `sse`) against `url`.
    fn typescript(&self, what: &str, url: &str, transport: &str, report: &mut Report) {
        let mut command = Command::new(self.node_dir.join("node_modules/.bin/node"));
        command
            .current_dir(&self.node_dir)
            .arg(workspace_root().join("xtask/interop/ts_sdk_client.mjs"))
            .args([url, transport, &self.token]);
        row(&format!("typescript mcp SDK, {what}"), command, report);
    }
}

/// Runs one client; a failure goes into the report with the end of its output.
fn row(what: &str, mut command: Command, report: &mut Report) {
    let started = Instant::now();
    match command.output() {
        Ok(output) if output.status.success() => println!(
            "{what} through nginx: ok ({:.1}s)",
            started.elapsed().as_secs_f64()
        ),
        Ok(output) => report.fail(format!(
            "{what} through nginx: {}{}",
            tail(&String::from_utf8_lossy(&output.stdout), 5),
            tail(&String::from_utf8_lossy(&output.stderr), 15)
        )),
        Err(error) => report.fail(format!("{what}: could not start the client: {error}")),
    }
}

/// `/sse` sessions opened through nginx one after another, each initialized over its own
/// stream: each lands where its `session_id` hashes, so without the session redirect about
/// half would post to a replica that does not hold the stream (all 8 pass by chance once
/// in 256 runs).
fn sse_sessions(
    runtime: &tokio::runtime::Runtime,
    http: &Client,
    base: &str,
    token: &str,
    report: &mut Report,
) {
    const SESSIONS: usize = 8;
    let outcome = runtime.block_on(async {
        let mut failed = Vec::new();
        for n in 0..SESSIONS {
            if let Err(error) = sse_session(http, base, token).await {
                failed.push(format!("session {n}: {error:#}"));
            }
        }
        failed
    });
    if outcome.is_empty() {
        println!("{SESSIONS} /sse sessions through nginx, each initialized on its stream: ok");
    } else {
        report.fail(format!(
            "/sse sessions through nginx: {} of {SESSIONS} failed: {}",
            outcome.len(),
            outcome.join("; ")
        ));
    }
}

/// Opens `/sse` (following the redirect), posts `initialize` to the endpoint it names, and
/// reads the answer on the stream.
async fn sse_session(http: &Client, base: &str, token: &str) -> anyhow::Result<()> {
    use futures_util::StreamExt;
    let response = http
        .get(format!("{base}/sse"))
        .bearer_auth(token)
        .header("accept", "text/event-stream")
        .timeout(Duration::from_secs(10))
        .send()
        .await?
        .error_for_status()?;
    let mut events = sse_stream::SseStream::from_bytes_stream(response.bytes_stream());
    let mut next_data = async || -> anyhow::Result<String> {
        loop {
            let event = tokio::time::timeout(Duration::from_secs(5), events.next())
                .await
                .context("no event within 5 s")?
                .context("the stream ended")??;
            if let Some(data) = event.data {
                return Ok(data);
            }
        }
    };
    let endpoint = next_data().await.context("no endpoint event")?;
    let posted = send(
        http.post(format!("{base}{endpoint}"))
            .bearer_auth(token)
            .json(&initialize(7, "2024-11-05")),
    )
    .await;
    let outcome = label(posted, 202, |_| true);
    if outcome != "ok" {
        bail!("POST {endpoint}: {outcome}");
    }
    let answer = next_data().await.context("no answer on the stream")?;
    if !answer.contains("\"protocolVersion\"") {
        bail!("the stream answered {answer}");
    }
    Ok(())
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Something done once, `at` after a load run starts, on a thread of its own.
struct Event {
    at: Duration,
    act: Box<dyn FnOnce() -> anyhow::Result<()> + Send>,
}

/// Load runs through nginx.
struct Load {
    http: Client,
    token: String,
    concurrency: usize,
    duration: Duration,
}

impl Load {
    /// `concurrency` clients sending stateless `tools/call` to `url` for `duration`, with
    /// `event` on the side.
    async fn stateless(&self, url: &str, event: Option<Event>) -> Outcomes {
        let outcomes = Arc::new(Outcomes::default());
        let end = Instant::now() + self.duration;
        let side = event.map(spawn_event);
        let mut workers = tokio::task::JoinSet::new();
        for worker in 0..self.concurrency {
            let (http, url, token) = (self.http.clone(), url.to_owned(), self.token.clone());
            let outcomes = Arc::clone(&outcomes);
            workers.spawn(async move {
                let mut id = worker as u64 * 1_000_000;
                while Instant::now() < end {
                    id += 1;
                    let body = call(id, "roll_dice", json!({"n_dice": 2}));
                    let answer = send(mcp_post(&http, &url, &token).json(&body)).await;
                    outcomes.record(&label(answer, 200, rolled));
                }
            });
        }
        while workers.join_next().await.is_some() {}
        finish(side, &outcomes).await;
        Arc::into_inner(outcomes).unwrap_or_default()
    }

    /// `concurrency` clients each opening a session on `url`, calling `roll_dice` in it
    /// ten times (each call may land on either replica), deleting it and starting over,
    /// for `duration`, with `event` on the side.
    async fn stateful(&self, url: &str, event: Event) -> Outcomes {
        let outcomes = Arc::new(Outcomes::default());
        let end = Instant::now() + self.duration;
        let side = Some(spawn_event(event));
        let mut workers = tokio::task::JoinSet::new();
        for _ in 0..self.concurrency {
            let (http, url, token) = (self.http.clone(), url.to_owned(), self.token.clone());
            let outcomes = Arc::clone(&outcomes);
            workers.spawn(async move {
                while Instant::now() < end {
                    let opened =
                        send(mcp_post(&http, &url, &token).json(&initialize(0, VERSION))).await;
                    let session = match opened {
                        Ok(answer) if answer.status == 200 && answer.session.is_some() => {
                            outcomes.record("ok");
                            answer.session
                        }
                        other => {
                            outcomes
                                .record(&format!("initialize: {}", label(other, 200, |_| true)));
                            tokio::time::sleep(Duration::from_millis(100)).await;
                            continue;
                        }
                    };
                    let Some(session) = session else { continue };
                    let in_session = |request: reqwest::RequestBuilder| {
                        request
                            .header("mcp-session-id", &session)
                            .header("mcp-protocol-version", VERSION)
                    };
                    let sent =
                        send(in_session(mcp_post(&http, &url, &token)).json(&initialized())).await;
                    outcomes.record(&prefixed("initialized", label(sent, 202, |_| true)));
                    for id in 1..=10 {
                        if Instant::now() >= end {
                            break;
                        }
                        let body = call(id, "roll_dice", json!({"n_dice": 2}));
                        let answer =
                            send(in_session(mcp_post(&http, &url, &token)).json(&body)).await;
                        outcomes.record(&prefixed("call", label(answer, 200, rolled)));
                    }
                    let deleted = send(in_session(http.delete(&url).bearer_auth(&token))).await;
                    outcomes.record(&prefixed("delete", label(deleted, 204, |_| true)));
                }
            });
        }
        while workers.join_next().await.is_some() {}
        finish(side, &outcomes).await;
        Arc::into_inner(outcomes).unwrap_or_default()
    }
}

const VERSION: &str = "2025-06-18";

type Side = tokio::task::JoinHandle<anyhow::Result<()>>;

fn spawn_event(event: Event) -> Side {
    tokio::spawn(async move {
        tokio::time::sleep(event.at).await;
        tokio::task::spawn_blocking(event.act)
            .await
            .context("the side event panicked")?
    })
}

/// Waits for the side event; one that failed is counted as a failure of the run.
async fn finish(side: Option<Side>, outcomes: &Outcomes) {
    if let Some(side) = side {
        match side.await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => outcomes.record(&format!("side event failed: {error:#}")),
            Err(error) => outcomes.record(&format!("side event panicked: {error}")),
        }
    }
}

/// `ok` for an answer with status `ok_status` that `check` accepts, else what it was.
fn label(
    answer: Result<load::Answer, load::Failure>,
    ok_status: u16,
    check: impl FnOnce(&load::Answer) -> bool,
) -> String {
    match answer {
        Ok(answer) if answer.status == ok_status && check(&answer) => "ok".to_owned(),
        Ok(answer) if answer.status == ok_status => format!("{} unexpected body", answer.label),
        Ok(answer) => answer.label,
        Err(failure) => failure.label,
    }
}

fn prefixed(step: &str, label: String) -> String {
    if label == "ok" {
        label
    } else {
        format!("{step}: {label}")
    }
}

/// Each replica's count of answered `/mcp` requests, from its `/metrics`.
async fn requests_per_replica(http: &Client, replicas: &[Replica]) -> anyhow::Result<Vec<u64>> {
    let mut counts = Vec::new();
    for replica in replicas {
        let text = http
            .get(format!("{}/metrics", replica.base()))
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .with_context(|| format!("could not read {}'s /metrics", replica.name))?
            .text()
            .await?;
        counts.push(mcp_requests(&text));
    }
    Ok(counts)
}

/// The sum of `mcp_http_requests_total` over the `/mcp` route in Prometheus text.
fn mcp_requests(metrics: &str) -> u64 {
    metrics
        .lines()
        .filter(|line| {
            line.starts_with("mcp_http_requests_total{") && line.contains("route=\"/mcp\"")
        })
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

/// Opens one session through nginx and calls `roll_dice` in it 20 times; every call must
/// succeed, and both replicas must have served some (round robin moves it on each
/// request). Returns how many `/mcp` requests each replica served meanwhile.
async fn hopping_session(
    http: &Client,
    url: &str,
    token: &str,
    replicas: &[Replica],
) -> anyhow::Result<Vec<u64>> {
    let before = requests_per_replica(http, replicas).await?;
    let session = open(http, url, token).await?;
    for id in 1..=20 {
        let body = call(id, "roll_dice", json!({"n_dice": 1}));
        let answer = send(
            mcp_post(http, url, token)
                .header("mcp-session-id", &session)
                .header("mcp-protocol-version", VERSION)
                .json(&body),
        )
        .await;
        let outcome = label(answer, 200, rolled);
        if outcome != "ok" {
            bail!("call {id} in the session: {outcome}");
        }
    }
    let after = requests_per_replica(http, replicas).await?;
    let split: Vec<u64> = after.iter().zip(&before).map(|(a, b)| a - b).collect();
    if split.contains(&0) {
        bail!("one replica served every request of the session: {split:?}");
    }
    Ok(split)
}

/// Initializes a session on `url` and sends `initialized`; its id.
async fn open(http: &Client, url: &str, token: &str) -> anyhow::Result<String> {
    let opened = send(mcp_post(http, url, token).json(&initialize(0, VERSION))).await;
    let session = match opened {
        Ok(answer) if answer.status == 200 => answer.session.context("no Mcp-Session-Id")?,
        other => bail!("initialize: {}", label(other, 200, |_| true)),
    };
    let sent = send(
        mcp_post(http, url, token)
            .header("mcp-session-id", &session)
            .header("mcp-protocol-version", VERSION)
            .json(&initialized()),
    )
    .await;
    let outcome = label(sent, 202, |_| true);
    if outcome != "ok" {
        bail!("notifications/initialized: {outcome}");
    }
    Ok(session)
}

async fn open_and_call(http: &Client, url: &str, token: &str) -> anyhow::Result<()> {
    let session = open(http, url, token).await?;
    let answer = send(
        mcp_post(http, url, token)
            .header("mcp-session-id", &session)
            .header("mcp-protocol-version", VERSION)
            .json(&call(1, "roll_dice", json!({"n_dice": 1}))),
    )
    .await;
    match label(answer, 200, rolled).as_str() {
        "ok" => Ok(()),
        other => bail!("call: {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_mcp_requests_from_prometheus_text() {
        let text = "# TYPE mcp_http_requests_total counter\n\
            mcp_http_requests_total{route=\"/mcp\",status=\"200\"} 120\n\
            mcp_http_requests_total{route=\"/mcp\",status=\"404\"} 3\n\
            mcp_http_requests_total{route=\"/healthz\",status=\"200\"} 9\n\
            mcp_http_request_duration_seconds_count{route=\"/mcp\"} 123\n";
        assert_eq!(mcp_requests(text), 123);
    }
}
