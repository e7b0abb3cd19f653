//! `cargo xtask bench [--peers] [--duration SECS]`: requests/s and latency of dice-mcp
//! against a bare axum baseline (and, with `--peers`, FastMCP and the TypeScript SDK), each
//! server pinned to CPU 0 and driven by `wrk` on CPU 1 with unique JSON-RPC ids; plus cold
//! start, binary size and memory. Prints a markdown table; the same as JSON in
//! `target/bench/results.json`.
//!
//! `wrk.rs` drives wrk, `session.rs` opens the MCP sessions some rows reuse, `report.rs`
//! holds the results and prints and writes them, `peers.rs` runs the `--peers` rows.

mod growth;
mod peers;
mod plot;
mod report;
mod session;
pub(crate) mod sse_load;
pub(crate) mod wrk;

use std::{
    fs,
    io::{Read, Write},
    net::TcpStream,
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use anyhow::{Context, bail};

use crate::{
    cargo, run,
    server::{Server, free_port},
    target_dir,
};
use report::{Extras, Measure};
use wrk::Target;

/// The concurrencies every row is measured at, after a warm-up at 16.
const CONCURRENCY: [u32; 3] = [1, 16, 64];
/// How many times the cold start is measured (the report gives the median).
const COLD_STARTS: usize = 5;
/// How many stateful sessions are opened and closed for the memory figures.
const SESSIONS: usize = 10_000;

/// What `cargo xtask bench` takes.
#[derive(Debug, Clone, clap::Args)]
pub struct Options {
    /// Also measure FastMCP 4.2.3 and the TypeScript SDK 1.32.2 serving the same tool,
    /// stateless, with the same JWT check (installed into target/ on first use).
    #[arg(long)]
    pub peers: bool,
    /// How long each point (one row at one concurrency) is measured, in whole seconds.
    #[arg(
        long,
        value_name = "SECS",
        default_value_t = 5,
        value_parser = whole_seconds
    )]
    pub duration: u64,
}

/// `--duration`: a whole number of seconds, at least 1.
fn whole_seconds(value: &str) -> Result<u64, String> {
    match value.parse::<u64>() {
        Ok(seconds) if seconds > 0 => Ok(seconds),
        _ => Err("expected a whole number of seconds, at least 1".to_owned()),
    }
}

/// `VmHWM` (peak) or `VmRSS` of a process, in KiB.
fn memory_kib(pid: u32, field: &str) -> u64 {
    fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// The measurements so far and where the wrk scripts go.
struct Bench {
    dir: PathBuf,
    seconds: u64,
    results: Vec<Measure>,
    /// How throughput and latency grow with the work asked and the concurrency.
    growth: Vec<report::GrowthPoint>,
}

impl Bench {
    /// Warm up, then measure each concurrency; record the server's peak RSS.
    fn measure(&mut self, row: &str, server: &Server, target: &Target) -> anyhow::Result<()> {
        let script = wrk::script(&self.dir, row, target)?;
        eprintln!("bench: {row}");
        wrk::run(&script, &target.url, 16, 2)?; // warm-up
        for concurrency in CONCURRENCY {
            let measured = wrk::run(&script, &target.url, concurrency, self.seconds)?;
            let peak = memory_kib(server.pid(), "VmHWM");
            self.results
                .push(Measure::new(row, concurrency, measured, peak));
        }
        Ok(())
    }
}

impl Bench {
    /// The `/sse` row: `cargo xtask sse-load` (this program, pinned to CPU 1 as wrk is)
    /// measures POST-to-reply round trips at each concurrency, after its own warm-up.
    fn measure_sse(&mut self, row: &str, server: &Server, token: &str) -> anyhow::Result<()> {
        eprintln!("bench: {row}");
        let sse_url = server.url.replace("/mcp", "/sse");
        let this = std::env::current_exe().context("could not find the xtask binary")?;
        for concurrency in CONCURRENCY {
            let output = Command::new("taskset")
                .args(["-c", "1"])
                .arg(&this)
                .args(["sse-load", "--url", &sse_url, "--token", token])
                .args(["--concurrency", &concurrency.to_string()])
                .args(["--seconds", &self.seconds.to_string()])
                .output()
                .context("could not run the /sse load client")?;
            if !output.status.success() {
                bail!(
                    "the /sse load client failed: {}",
                    String::from_utf8_lossy(&output.stderr)
                );
            }
            let measured: wrk::Measured = serde_json::from_slice(&output.stdout)
                .context("the /sse load client printed no result")?;
            let peak = memory_kib(server.pid(), "VmHWM");
            self.results
                .push(Measure::new(row, concurrency, measured, peak));
        }
        Ok(())
    }
}

/// `program` under `taskset -c 0` (taskset execs it, so the pid is the server's).
fn pinned(program: &Path) -> Command {
    let mut command = Command::new("taskset");
    command.args(["-c", "0"]).arg(program);
    command
}

/// A raw `GET /healthz` until it answers 200; returns how long it took from `started`.
fn wait_healthy(port: u16, started: Instant) -> anyhow::Result<Duration> {
    let deadline = started + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) {
            let _ = stream.write_all(
                b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
            );
            let mut reply = String::new();
            let _ = stream.read_to_string(&mut reply);
            if reply.starts_with("HTTP/1.1 200") {
                return Ok(started.elapsed());
            }
        }
        std::thread::sleep(Duration::from_micros(500));
    }
    bail!("dice-mcp did not answer /healthz within 10 s")
}

/// Runs the bench.
pub fn bench(options: &Options) -> anyhow::Result<()> {
    wrk::ensure_installed()?;
    let release = target_dir().join("release");
    let dir = target_dir().join("bench");
    fs::create_dir_all(&dir).with_context(|| format!("could not create {}", dir.display()))?;
    // The server-only dice-mcp (no `tunnel`: no ngrok, no OpenAI client), built first into
    // the same target directory (its dependencies are shared) and copied aside before the
    // full build below replaces it; only its size is reported.
    run(
        "cargo build --release -p launcher --no-default-features",
        cargo().args([
            "build",
            "--release",
            "-p",
            "launcher",
            "--no-default-features",
        ]),
    )?;
    let server_only = dir.join("dice-mcp-server-only");
    fs::copy(release.join("dice-mcp"), &server_only).with_context(|| {
        format!(
            "could not copy the server-only binary to {}",
            server_only.display()
        )
    })?;
    let binary_server_only_bytes = fs::metadata(&server_only)
        .with_context(|| format!("could not read {}", server_only.display()))?
        .len();
    run(
        "cargo build --release -p launcher -p bench-baseline",
        cargo().args([
            "build",
            "--release",
            "-p",
            "launcher",
            "-p",
            "bench-baseline",
        ]),
    )?;
    let binary = release.join("dice-mcp");
    let keys = dir.join("keys");
    let keygen = Command::new(&binary)
        .args(["keygen", "--force", "--out"])
        .arg(&keys)
        .output()
        .context("could not run dice-mcp keygen")?;
    if !keygen.status.success() {
        bail!("keygen failed: {}", String::from_utf8_lossy(&keygen.stderr));
    }
    let token_out = Command::new(&binary)
        .args(["token", "--iss", "dice-mcp", "--ttl", "1h", "--key"])
        .arg(keys.join("private.pem"))
        .output()
        .context("could not run dice-mcp token")?;
    let token = String::from_utf8_lossy(&token_out.stdout).trim().to_owned();
    let public = keys.join("public.pem").to_string_lossy().into_owned();
    let bearer = vec![("Authorization".to_owned(), format!("Bearer {token}"))];
    let runtime = tokio::runtime::Runtime::new().context("no async runtime")?;
    let mut bench = Bench {
        dir: dir.clone(),
        seconds: options.duration,
        results: Vec::new(),
        growth: Vec::new(),
    };
    let started = Instant::now();

    // The ceiling: bare axum, static JSON.
    let mut command = pinned(&release.join("bench-baseline"));
    command.arg("0");
    let server = Server::spawn(command)?;
    let target = Target::call(&server.url, vec![]);
    bench.measure("axum static JSON (baseline)", &server, &target)?;
    server.kill();

    let serve = |extra: &[&str]| -> anyhow::Result<Server> {
        let mut command = pinned(&binary);
        command.args(["serve", "--addr", "127.0.0.1:0"]).args(extra);
        command.env("RUST_LOG", "warn,launcher=info");
        Server::spawn(command)
    };
    let auth = ["--public-key", public.as_str(), "--issuer", "dice-mcp"];

    let server = serve(&[&["--stateless", "--transport", "streamable"][..], &auth].concat())?;
    let jwt = Target::call(&server.url, bearer.clone());
    bench.measure("dice-mcp stateless + JWT", &server, &jwt)?;
    growth::load(&mut bench, &server, &jwt)?;
    server.stop()?;

    let server = serve(&["--stateless", "--transport", "streamable"])?;
    bench.measure(
        "dice-mcp stateless, no auth",
        &server,
        &Target::call(&server.url, vec![]),
    )?;
    server.stop()?;

    let server = serve(&[&["--transport", "streamable"][..], &auth].concat())?;
    let session = runtime.block_on(session::open(&server.url, &token))?;
    let mut headers = bearer.clone();
    headers.push(("Mcp-Session-Id".to_owned(), session));
    bench.measure(
        "dice-mcp stateful + JWT (one session)",
        &server,
        &Target::call(&server.url, headers),
    )?;
    server.stop()?;

    let server = serve(&[&["--stateless", "--transport", "sse"][..], &auth].concat())?;
    bench.measure_sse(
        "dice-mcp /sse + JWT (POST to the reply on the stream)",
        &server,
        &token,
    )?;
    server.stop()?;

    if options.peers {
        peers::measure(&mut PeerContext {
            bench: &mut bench,
            public: &public,
            bearer: &bearer,
        })?;
    }
    let load_seconds = started.elapsed().as_secs_f64();

    // Start-up, size, memory.
    let mut cold = Vec::new();
    for _ in 0..COLD_STARTS {
        let port = free_port()?;
        let started = Instant::now();
        let mut command = pinned(&binary);
        command.args([
            "serve",
            "--stateless",
            "--addr",
            &format!("127.0.0.1:{port}"),
        ]);
        let server = Server::spawn(command)?;
        cold.push(wait_healthy(port, started)?.as_secs_f64() * 1000.0);
        server.stop()?;
    }
    cold.sort_by(f64::total_cmp);
    let binary_bytes = fs::metadata(&binary)
        .with_context(|| format!("could not read {}", binary.display()))?
        .len();
    let mut held = growth::held_sessions(&runtime, &serve)?;
    let mut command = pinned(&release.join("bench-baseline"));
    command.arg("0");
    let baseline = Server::spawn(command)?;
    held.extend(growth::held_connections(
        &runtime,
        "axum baseline",
        &baseline,
    )?);
    baseline.kill();
    let server = serve(&["--max-connections", "15000"])?;
    held.extend(growth::held_connections(&runtime, "dice-mcp", &server)?);
    server.stop()?;
    let server = serve(&["--transport", "streamable", "--max-sessions", "20000"])?;
    std::thread::sleep(Duration::from_millis(300));
    let rss_idle_kib = memory_kib(server.pid(), "VmRSS");
    let sessions_started = Instant::now();
    runtime.block_on(session::open_and_close(&server.url, SESSIONS))?;
    let seconds_for_10000_sessions = sessions_started.elapsed().as_secs_f64();
    std::thread::sleep(Duration::from_millis(300));
    let rss_after_10000_sessions_kib = memory_kib(server.pid(), "VmRSS");
    let rss_peak_during_10000_sessions_kib = memory_kib(server.pid(), "VmHWM");
    server.stop()?;

    let extras = Extras {
        cold_start_ms_median: cold[cold.len() / 2],
        cold_start_ms_all: cold,
        binary_bytes,
        binary_server_only_bytes,
        rss_idle_kib,
        rss_after_10000_sessions_kib,
        rss_peak_during_10000_sessions_kib,
        seconds_for_10000_sessions,
        load_seconds,
        measure_seconds_per_point: options.duration,
    };
    report::write(&bench.results, &bench.growth, &held, &extras, &dir)?;
    let chart = dir.join("growth.svg");
    plot::write(&bench.growth, &held, &chart)?;
    println!("charts: {}", chart.display());
    Ok(())
}

/// What the peer rows need from the bench.
struct PeerContext<'a> {
    bench: &'a mut Bench,
    /// The public key PEM the peers verify tokens with.
    public: &'a str,
    bearer: &'a [(String, String)],
}

impl PeerContext<'_> {
    /// Measures a started peer server at its URL with the bench's token.
    fn measure(&mut self, row: &str, server: &Server) -> anyhow::Result<()> {
        let target = Target::call(&server.url, self.bearer.to_vec());
        self.bench.measure(row, server, &target)
    }
}
