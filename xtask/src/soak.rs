//! `cargo xtask soak [--minutes N]`: legitimate and hostile traffic at once, for N minutes,
//! against two release `dice-mcp serve` processes on loopback (one `--stateless`, one
//! stateful serving `/mcp` sessions and `/sse`). Counts every outcome per kind of traffic,
//! probes `/healthz` throughout, samples each server's RSS and open fds, then lets the
//! servers settle and fails unless every outcome was one the kind may have and RSS and fds
//! came back near their baseline. Report on stdout and in `target/soak/report.json`.

pub(crate) mod load;
mod tally;

use std::{
    collections::BTreeMap,
    fs,
    path::{Path, PathBuf},
    process::Command,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use serde_json::{Value, json};

use crate::{cargo, run, server::Server, target_dir};
use load::{Endpoint, Mix, Setup, Tokens};
use tally::{Line, Tally};

/// What `cargo xtask soak` takes.
#[derive(Debug, Clone, clap::Args)]
pub struct Options {
    /// Minutes of load; fractions such as 0.5 work.
    #[arg(long, value_name = "N", default_value_t = 1.0, value_parser = positive_minutes)]
    pub minutes: f64,
}

/// Server flags shortened so that the servers settle within seconds of the load stopping.
/// A kept-alive or slowloris connection is closed at the header-read timeout, a connection
/// with nothing in flight at the idle timeout, a stateful session or `/sse` session without
/// a post after the session idle time.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(4);
const IDLE_TIMEOUT: Duration = Duration::from_secs(8);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(6);
const SESSION_IDLE: Duration = Duration::from_secs(5);

/// The warm-up before the baseline: every kind of traffic once or a few times, so that
/// lazily built state (thread pools, allocator pages, token cache) is in the baseline.
const WARM_UP: Duration = Duration::from_secs(2);
/// How often each server's RSS and fds are sampled (the peak is the largest sample).
const SAMPLE_EVERY: Duration = Duration::from_millis(250);
/// When the end sample is taken, after the load stops: everything the load left open has
/// ended by then (sessions at the session idle time, connections at the idle timeout, 8 s),
/// and the allocator has had time to hand back what the burst freed (the launcher's
/// jemalloc decays dirty pages over 10 s). A fixed point, so that runs compare.
const SETTLE: Duration = Duration::from_secs(15);
/// Longest the servers get, after the load, to come back near their baseline when they are
/// not back at [`SETTLE`]; sampled every [`SAMPLE_EVERY`] until then.
const SETTLE_MAX: Duration = Duration::from_secs(30);
/// RSS is "back near baseline" when it is at most this much above the start, or half the
/// start, whichever is more. The allocator keeps some freed pages and the runtime keeps
/// its grown buffers and task slabs, so the end never equals the start; but a leak does
/// not fit in 16 MiB for long: at the soak's ~2 000 requests per second, 15 bytes kept per
/// request pass 16 MiB within ten minutes, and a leaked session (tens of KiB) or stream
/// buffer shows after a few hundred. Memory the allocator keeps committed after a burst,
/// instead of returning it, fails this too, on purpose: to whoever runs the server it looks
/// the same as a leak.
const RSS_SLACK_KIB: u64 = 16 * 1024;
/// Open fds are "back" when at most this many above the start: every connection and
/// stream of the load is closed by then, so the count should equal the start; the slack
/// covers a socket the kernel is still tearing down at the moment of the sample.
const FD_SLACK: u64 = 2;
/// The expired token is minted with a 1 s lifetime; the server allows 30 s of clock
/// leeway; it is used from this long after minting.
const EXPIRED_AFTER: Duration = Duration::from_secs(34);

/// Runs the soak.
pub fn soak(options: &Options) -> anyhow::Result<()> {
    let minutes = options.minutes;
    let load = Duration::from_secs_f64(minutes * 60.0);
    run(
        "cargo build --release -p launcher",
        cargo().args(["build", "--release", "--quiet", "-p", "launcher"]),
    )?;
    let binary = target_dir().join("release").join("dice-mcp");
    let dir = target_dir().join("soak");
    let work = dir.join("run");
    if work.exists() {
        fs::remove_dir_all(&work).with_context(|| format!("could not clear {}", work.display()))?;
    }
    fs::create_dir_all(&work).with_context(|| format!("could not create {}", work.display()))?;

    eprintln!("soak: keys and tokens");
    let keys = work.join("keys");
    let other_keys = work.join("other-keys");
    keygen(&binary, &keys)?;
    keygen(&binary, &other_keys)?;
    let private = keys.join("private.pem");
    let expiring_minted = Instant::now();
    let ttl = format!("{}s", load.as_secs() + 3600);
    let tokens = Tokens {
        expiring: mint(&binary, &private, &["--sub", "soak-expired", "--ttl", "1s"])?,
        expired_from: expiring_minted + EXPIRED_AFTER,
        stateless: mint(
            &binary,
            &private,
            &["--sub", "soak-stateless", "--ttl", &ttl],
        )?,
        sessions: mint(
            &binary,
            &private,
            &["--sub", "soak-sessions", "--ttl", &ttl],
        )?,
        sse: mint(&binary, &private, &["--sub", "soak-sse", "--ttl", &ttl])?,
        unread: mint(&binary, &private, &["--sub", "soak-unread", "--ttl", &ttl])?,
        hostile: mint(&binary, &private, &["--sub", "soak-hostile", "--ttl", &ttl])?,
        wrong_key: mint(
            &binary,
            &other_keys.join("private.pem"),
            &["--sub", "soak-intruder", "--ttl", &ttl],
        )?,
        wrong_issuer: mint(
            &binary,
            &private,
            &["--iss", "intruder", "--sub", "soak-intruder", "--ttl", &ttl],
        )?,
    };

    let public = keys.join("public.pem").to_string_lossy().into_owned();
    let common = common_flags(&public);
    let with = |extra: &[&str]| {
        [
            common.clone(),
            extra.iter().map(|s| (*s).to_owned()).collect(),
        ]
        .concat()
    };
    let stateless_flags = with(&["--stateless", "--transport", "streamable"]);
    let stateful_flags = with(&["--transport", "both"]);
    let stateless = serve(&binary, &stateless_flags)?;
    let stateful = serve(&binary, &stateful_flags)?;
    let setup = Arc::new(Setup {
        stateless: Endpoint::from_mcp_url("stateless", &stateless.url),
        stateful: Endpoint::from_mcp_url("stateful", &stateful.url),
        tokens,
        header_read_timeout: HEADER_READ_TIMEOUT,
        request_timeout: REQUEST_TIMEOUT,
    });
    let servers = [
        ("stateless", stateless.pid(), stateless_flags.join(" ")),
        ("stateful", stateful.pid(), stateful_flags.join(" ")),
    ];

    let runtime = tokio::runtime::Runtime::new().context("could not start the async runtime")?;
    let outcome = runtime.block_on(drive(Arc::clone(&setup), &servers, load));
    drop(runtime);
    let mut failures = Vec::new();
    let mut logs = BTreeMap::new();
    for (name, server) in [("stateless", stateless), ("stateful", stateful)] {
        let errors = log_errors(&server.log_tail(usize::MAX));
        if let Some((line, _)) = errors.iter().find(|(line, _)| line.contains("panicked")) {
            failures.push(format!("{name} server panicked: {line}"));
        }
        if let Err(error) = server.stop() {
            failures.push(format!("{name} server did not stop cleanly: {error:#}"));
        }
        logs.insert(name, errors);
    }
    let outcome = outcome?;
    report(&outcome, &servers, minutes, &dir, failures, &logs)
}

/// The server log's `ERROR` and panic lines without their timestamps, with how often each
/// came.
fn log_errors(log: &str) -> BTreeMap<String, u64> {
    let mut errors = BTreeMap::new();
    for line in log.lines() {
        if let Some(at) = line.find(" ERROR ").or_else(|| line.find("panicked")) {
            *errors.entry(line[at..].trim().to_owned()).or_default() += 1;
        }
    }
    errors
}

/// `--minutes`: a number more than 0.
fn positive_minutes(value: &str) -> Result<f64, String> {
    match value.parse::<f64>() {
        Ok(minutes) if minutes.is_finite() && minutes > 0.0 => Ok(minutes),
        _ => Err("expected a number of minutes more than 0, such as 1 or 0.5".to_owned()),
    }
}

/// The flags both servers get: tokens required, and the shortened timeouts.
fn common_flags(public: &str) -> Vec<String> {
    let seconds = |d: Duration| format!("{}s", d.as_secs());
    [
        "--addr",
        "127.0.0.1:0",
        "--public-key",
        public,
        "--issuer",
        "dice-mcp",
        "--header-read-timeout",
        &seconds(HEADER_READ_TIMEOUT),
        "--idle-timeout",
        &seconds(IDLE_TIMEOUT),
        "--request-timeout",
        &seconds(REQUEST_TIMEOUT),
        "--session-idle",
        &SESSION_IDLE.as_secs().to_string(),
    ]
    .map(str::to_owned)
    .to_vec()
}

pub(crate) fn keygen(binary: &Path, dir: &Path) -> anyhow::Result<()> {
    let output = Command::new(binary)
        .args(["keygen", "--force", "--out"])
        .arg(dir)
        .output()
        .context("could not run dice-mcp keygen")?;
    if !output.status.success() {
        bail!("keygen failed: {}", String::from_utf8_lossy(&output.stderr));
    }
    Ok(())
}

pub(crate) fn mint(binary: &Path, key: &Path, args: &[&str]) -> anyhow::Result<String> {
    let output = Command::new(binary)
        .arg("token")
        .arg("--key")
        .arg(key)
        .args(args)
        .output()
        .context("could not run dice-mcp token")?;
    if !output.status.success() {
        bail!("token failed: {}", String::from_utf8_lossy(&output.stderr));
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

fn serve(binary: &Path, flags: &[String]) -> anyhow::Result<Server> {
    let mut command = Command::new(binary);
    command
        .arg("serve")
        .args(flags)
        .env("RUST_LOG", "error,launcher=info");
    Server::spawn(command)
}

/// A server's RSS and open file descriptors at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Usage {
    rss_kib: u64,
    fds: u64,
}

impl Usage {
    fn of(pid: u32) -> anyhow::Result<Self> {
        let status = fs::read_to_string(format!("/proc/{pid}/status"))
            .with_context(|| format!("could not read /proc/{pid}/status: has it exited?"))?;
        let rss_kib = status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|value| value.split_whitespace().next()?.parse().ok())
            .context("no VmRSS in /proc/PID/status")?;
        let fds = fs::read_dir(format!("/proc/{pid}/fd"))
            .with_context(|| format!("could not list /proc/{pid}/fd"))?
            .count() as u64;
        Ok(Self { rss_kib, fds })
    }

    fn max(self, other: Self) -> Self {
        Self {
            rss_kib: self.rss_kib.max(other.rss_kib),
            fds: self.fds.max(other.fds),
        }
    }

    /// Whether `self` (an end sample) is back near `start`.
    fn near(self, start: Self) -> bool {
        self.rss_kib <= start.rss_kib + rss_slack_kib(start) && self.fds <= start.fds + FD_SLACK
    }

    fn to_json(self) -> Value {
        json!({"rss_kib": self.rss_kib, "fds": self.fds})
    }
}

fn rss_slack_kib(start: Usage) -> u64 {
    RSS_SLACK_KIB.max(start.rss_kib / 2)
}

/// One server's resource use through the soak.
#[derive(Debug, Clone, Default)]
struct Watch {
    start: Usage,
    peak: Usage,
    end: Usage,
    /// (seconds since the load started, usage), every 5 s.
    series: Vec<(f64, Usage)>,
    /// Samples that failed (the process was gone).
    missed: u64,
}

/// What the run measured.
struct Outcome {
    tally: Arc<Tally>,
    watches: Vec<Watch>,
    load_seconds: f64,
    settle_seconds: f64,
    settled: bool,
    stuck_workers: usize,
    after: Vec<String>,
    load_average: (String, String),
}

fn load_average() -> String {
    fs::read_to_string("/proc/loadavg")
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
}

async fn drive(
    setup: Arc<Setup>,
    servers: &[(&'static str, u32, String)],
    load: Duration,
) -> anyhow::Result<Outcome> {
    eprintln!("soak: warm-up ({} s)", WARM_UP.as_secs());
    let warm = Arc::new(Tally::default());
    load::run(
        Arc::clone(&setup),
        Mix::WARM_UP,
        Instant::now() + WARM_UP,
        Arc::clone(&warm),
    )
    .await?;
    let broken: Vec<String> = warm
        .lines()
        .iter()
        .filter(|line| line.unexpected() > 0)
        .map(|line| format!("{} {}: {:?}", line.server, line.kind.name, line.outcomes))
        .collect();
    if !broken.is_empty() {
        bail!(
            "the warm-up already failed, so the set-up is wrong or the server is broken:\n{}\n{:#?}",
            broken.join("\n"),
            warm.details()
        );
    }
    // Measured as the end is, the same time after its load: whatever the warm-up left open
    // (a session left to expire, an unread stream) has ended and its memory is handed back.
    tokio::time::sleep(SETTLE).await;
    let mut watches = Vec::new();
    for (_, pid, _) in servers {
        let start = Usage::of(*pid)?;
        watches.push(Watch {
            start,
            peak: start,
            ..Watch::default()
        });
    }
    let watches = Arc::new(Mutex::new(watches));
    let stop = Arc::new(AtomicBool::new(false));
    let pids: Vec<u32> = servers.iter().map(|(_, pid, _)| *pid).collect();
    let started = Instant::now();
    let sampler = tokio::spawn(sample(
        pids.clone(),
        Arc::clone(&watches),
        Arc::clone(&stop),
        started,
    ));

    let load_average_start = load_average();
    eprintln!(
        "soak: load for {:.1} min (load average {load_average_start})",
        load.as_secs_f64() / 60.0
    );
    let tally = Arc::new(Tally::default());
    let stuck_workers = load::run(
        Arc::clone(&setup),
        Mix::SOAK,
        started + load,
        Arc::clone(&tally),
    )
    .await?;
    let load_seconds = started.elapsed().as_secs_f64();
    let load_average_end = load_average();

    eprintln!(
        "soak: settling ({} s, up to {} s)",
        SETTLE.as_secs(),
        SETTLE_MAX.as_secs()
    );
    let settling = Instant::now();
    tokio::time::sleep(SETTLE).await;
    let starts: Vec<Usage> = lock(&watches).iter().map(|w| w.start).collect();
    let mut settled = false;
    let mut ends: Vec<Option<Usage>> = vec![None; pids.len()];
    loop {
        // A server that cannot be sampled (it exited) is never "back".
        ends = pids.iter().map(|pid| Usage::of(*pid).ok()).collect();
        if ends
            .iter()
            .zip(&starts)
            .all(|(end, start)| end.is_some_and(|end| end.near(*start)))
        {
            settled = true;
            break;
        }
        if settling.elapsed() >= SETTLE_MAX {
            break;
        }
        tokio::time::sleep(SAMPLE_EVERY).await;
    }
    let settle_seconds = settling.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    let _ = sampler.await;
    let mut watches = lock(&watches).clone();
    for (watch, end) in watches.iter_mut().zip(ends) {
        match end {
            Some(end) => watch.end = end,
            None => watch.missed += 1,
        }
    }
    let after = still_serving(&setup).await;
    Ok(Outcome {
        tally,
        watches,
        load_seconds,
        settle_seconds,
        settled,
        stuck_workers,
        after,
        load_average: (load_average_start, load_average_end),
    })
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

async fn sample(
    pids: Vec<u32>,
    watches: Arc<Mutex<Vec<Watch>>>,
    stop: Arc<AtomicBool>,
    started: Instant,
) {
    let mut ticker = tokio::time::interval(SAMPLE_EVERY);
    let mut count = 0u64;
    while !stop.load(Ordering::Relaxed) {
        ticker.tick().await;
        let samples: Vec<anyhow::Result<Usage>> = pids.iter().map(|pid| Usage::of(*pid)).collect();
        let mut watches = lock(&watches);
        for (watch, sample) in watches.iter_mut().zip(samples) {
            match sample {
                Ok(usage) => {
                    watch.peak = watch.peak.max(usage);
                    if count.is_multiple_of(20) {
                        watch.series.push((started.elapsed().as_secs_f64(), usage));
                    }
                }
                Err(_) => watch.missed += 1,
            }
        }
        count += 1;
    }
}

/// After the soak: each server still answers `/healthz`, and the stateless one a call.
/// Returns what failed.
async fn still_serving(setup: &Setup) -> Vec<String> {
    let mut failed = Vec::new();
    let client = match load::client() {
        Ok(client) => client,
        Err(error) => return vec![format!("no HTTP client: {error:#}")],
    };
    for endpoint in [&setup.stateless, &setup.stateful] {
        let answer = client
            .get(format!("{}/healthz", endpoint.base))
            .timeout(Duration::from_secs(5))
            .send()
            .await;
        if !answer.as_ref().is_ok_and(|a| a.status().is_success()) {
            failed.push(format!(
                "{} /healthz after the soak: {answer:?}",
                endpoint.name
            ));
        }
    }
    let call = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                      "params": {"name": "roll_dice", "arguments": {"n_dice": 3}}});
    let answer = client
        .post(format!("{}/mcp", setup.stateless.base))
        .bearer_auth(&setup.tokens.stateless)
        .header("accept", "application/json, text/event-stream")
        .json(&call)
        .timeout(Duration::from_secs(5))
        .send()
        .await;
    if !answer.as_ref().is_ok_and(|a| a.status().is_success()) {
        failed.push(format!("stateless tools/call after the soak: {answer:?}"));
    }
    failed
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn outcomes_text(line: &Line) -> String {
    line.outcomes
        .iter()
        .map(|(label, n)| {
            let mark = if line.kind.allows(label) { "" } else { " (!)" };
            format!("{label}: {n}{mark}")
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn report(
    outcome: &Outcome,
    servers: &[(&'static str, u32, String)],
    minutes: f64,
    dir: &Path,
    mut failures: Vec<String>,
    logs: &BTreeMap<&str, BTreeMap<String, u64>>,
) -> anyhow::Result<()> {
    let lines = outcome.tally.lines();
    let requests: u64 = lines
        .iter()
        .filter(|l| l.kind.is_request)
        .map(Line::total)
        .sum();
    let mut expected: BTreeMap<String, u64> = BTreeMap::new();
    let mut unexpected: BTreeMap<String, u64> = BTreeMap::new();
    for line in &lines {
        for (label, n) in &line.outcomes {
            if !line.kind.allows(label) {
                *unexpected.entry(label.clone()).or_default() += n;
            } else if !label.starts_with('2') && label != "arrived" && label != "left open" {
                *expected.entry(label.clone()).or_default() += n;
            }
        }
    }
    let classes = |map: &BTreeMap<String, u64>| {
        if map.is_empty() {
            "none".to_owned()
        } else {
            map.iter()
                .map(|(label, n)| format!("{label}: {n}"))
                .collect::<Vec<_>>()
                .join(", ")
        }
    };

    println!(
        "\nsoak: {minutes} min of load ({:.0} s), then {:.1} s to settle; load average {} at the start, {} at the end ({} CPUs)",
        outcome.load_seconds,
        outcome.settle_seconds,
        outcome.load_average.0,
        outcome.load_average.1,
        std::thread::available_parallelism().map_or(0, usize::from),
    );
    for (name, pid, flags) in servers {
        println!("  {name} server: pid {pid}, dice-mcp serve {flags}");
    }
    println!("\n| server | kind | count | outcomes ((!) = unexpected) |");
    println!("|---|---|---|---|");
    for line in &lines {
        println!(
            "| {} | {} | {} | {} |",
            line.server,
            line.kind.name,
            line.total(),
            outcomes_text(line)
        );
    }
    println!(
        "\nrequests: {requests} ({:.0}/s)\nexpected refusals by class: {}\nunexpected by class: {}",
        requests as f64 / outcome.load_seconds.max(1e-9),
        classes(&expected),
        classes(&unexpected),
    );
    for (server, kind, label, detail) in outcome.tally.details() {
        println!("  first `{label}` on {server} {kind}: {detail}");
    }

    println!("\n| /healthz probe | count | p50 ms | p99 ms | max ms |");
    println!("|---|---|---|---|---|");
    let mut probes = serde_json::Map::new();
    for (name, _, _) in servers {
        let p = outcome.tally.probe(name);
        println!(
            "| {name} | {} | {:.2} | {:.2} | {:.2} |",
            p.count, p.p50, p.p99, p.max
        );
        probes.insert((*name).to_owned(), p.to_json());
    }

    println!(
        "\nend: {:.1} s after the load ({}); allowed: RSS start + max(16 MiB, start / 2), fds start + {FD_SLACK}",
        outcome.settle_seconds,
        if outcome.settled {
            "back within the allowance"
        } else {
            "still not back"
        },
    );
    println!(
        "\n| server | RSS MiB start / peak / end (allowed end) | fds start / peak / end (allowed end) |"
    );
    println!("|---|---|---|");
    let mut resources = serde_json::Map::new();
    for ((name, pid, flags), watch) in servers.iter().zip(&outcome.watches) {
        let allowed_rss = watch.start.rss_kib + rss_slack_kib(watch.start);
        let allowed_fds = watch.start.fds + FD_SLACK;
        println!(
            "| {name} | {:.1} / {:.1} / {:.1} (≤ {:.1}) | {} / {} / {} (≤ {allowed_fds}) |",
            mib(watch.start.rss_kib),
            mib(watch.peak.rss_kib),
            mib(watch.end.rss_kib),
            mib(allowed_rss),
            watch.start.fds,
            watch.peak.fds,
            watch.end.fds,
        );
        if watch.end.rss_kib > allowed_rss {
            failures.push(format!(
                "{name} server RSS did not come back: {:.1} MiB at the end, {:.1} MiB at the start (allowed {:.1})",
                mib(watch.end.rss_kib),
                mib(watch.start.rss_kib),
                mib(allowed_rss)
            ));
        }
        if watch.end.fds > allowed_fds {
            failures.push(format!(
                "{name} server open fds did not come back: {} at the end, {} at the start",
                watch.end.fds, watch.start.fds
            ));
        }
        if watch.missed > 0 {
            failures.push(format!(
                "{name} server could not be sampled {} time(s): did it exit?",
                watch.missed
            ));
        }
        resources.insert(
            (*name).to_owned(),
            json!({
                "pid": pid,
                "flags": flags,
                "start": watch.start.to_json(),
                "peak": watch.peak.to_json(),
                "end": watch.end.to_json(),
                "allowed_end": {"rss_kib": allowed_rss, "fds": allowed_fds},
                "series": watch.series.iter().map(|(t, u)| json!({"seconds": t, "rss_kib": u.rss_kib, "fds": u.fds})).collect::<Vec<_>>(),
            }),
        );
    }

    if outcome.load_seconds >= 120.0 {
        println!("\nby minute of load (RSS MiB / fds):");
        for ((name, _, _), watch) in servers.iter().zip(&outcome.watches) {
            let mut marks = Vec::new();
            let mut next = 0.0;
            for (seconds, usage) in &watch.series {
                if *seconds >= next {
                    marks.push(format!("{:.1}/{}", mib(usage.rss_kib), usage.fds));
                    next += 60.0;
                }
            }
            println!("  {name}: {}", marks.join("  "));
        }
    }

    println!("\nserver log, ERROR and panic lines (not counted as failures unless a panic):");
    for (name, errors) in logs {
        if errors.is_empty() {
            println!("  {name}: none");
        }
        for (line, n) in errors {
            println!("  {name}: {n} × {line}");
        }
    }

    if !unexpected.is_empty() {
        failures.push(format!("unexpected outcomes: {}", classes(&unexpected)));
    }
    for line in lines.iter().filter(|l| l.kind.is_request) {
        let served = line
            .outcomes
            .iter()
            .filter(|(label, _)| line.kind.allows(label) && !label.contains("retry-after"))
            .map(|(_, n)| n)
            .sum::<u64>();
        if served == 0 {
            failures.push(format!(
                "{} {}: nothing but refusals, so it tested nothing",
                line.server, line.kind.name
            ));
        }
    }
    if outcome.stuck_workers > 0 {
        failures.push(format!(
            "{} load worker(s) still waiting on the server long after the deadline",
            outcome.stuck_workers
        ));
    }
    if !outcome.settled {
        failures.push(format!(
            "not back near baseline within {} s of the load stopping",
            SETTLE_MAX.as_secs()
        ));
    }
    failures.extend(outcome.after.iter().cloned());

    let json = json!({
        "minutes": minutes,
        "load_seconds": outcome.load_seconds,
        "settle_seconds": outcome.settle_seconds,
        "load_average": {"start": outcome.load_average.0, "end": outcome.load_average.1},
        "requests": requests,
        "rows": lines.iter().map(|l| json!({
            "server": l.server, "kind": l.kind.name, "count": l.total(),
            "outcomes": l.outcomes, "expected": l.kind.expected, "unexpected": l.unexpected(),
        })).collect::<Vec<_>>(),
        "expected_refusals": expected,
        "unexpected": unexpected,
        "unexpected_details": outcome.tally.details().into_iter().map(|(s, k, l, d)| json!({
            "server": s, "kind": k, "outcome": l, "detail": d})).collect::<Vec<_>>(),
        "healthz": probes,
        "resources": resources,
        "server_log_errors": logs,
        "passed": failures.is_empty(),
        "failures": failures,
    });
    let path: PathBuf = dir.join("report.json");
    fs::write(&path, serde_json::to_string_pretty(&json)?)
        .with_context(|| format!("could not write {}", path.display()))?;
    println!("\nJSON: {}", path.display());
    if failures.is_empty() {
        println!("soak passed");
        Ok(())
    } else {
        bail!("soak failed:\n  {}", failures.join("\n  "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        options: Options,
    }

    fn minutes(args: &[&str]) -> Option<f64> {
        use clap::Parser;
        Cli::try_parse_from(std::iter::once("soak").chain(args.iter().copied()))
            .ok()
            .map(|cli| cli.options.minutes)
    }

    #[test]
    fn minutes_default_to_one_and_take_fractions() {
        assert_eq!(minutes(&[]), Some(1.0));
        assert_eq!(minutes(&["--minutes", "0.5"]), Some(0.5));
        assert_eq!(minutes(&["--minutes=10"]), Some(10.0));
        assert_eq!(minutes(&["--minutes", "0"]), None);
        assert_eq!(minutes(&["--minutes", "inf"]), None);
        assert_eq!(minutes(&["--minutes", "abc"]), None);
        assert_eq!(minutes(&["--seconds", "3"]), None);
    }

    #[test]
    fn near_baseline_allows_the_larger_of_16_mib_and_half_the_start() {
        let start = Usage {
            rss_kib: 10 * 1024,
            fds: 10,
        };
        let end = |rss_mib: u64, fds: u64| Usage {
            rss_kib: rss_mib * 1024,
            fds,
        };
        assert!(end(26, 12).near(start));
        assert!(!end(27, 12).near(start));
        assert!(!end(20, 13).near(start));
        let big = Usage {
            rss_kib: 64 * 1024,
            fds: 10,
        };
        assert!(end(96, 10).near(big));
        assert!(!end(97, 10).near(big));
    }
}
