//! `cargo xtask bench [--peers] [--duration SECS]`: requests/s and latency of dice-mcp
//! against a bare axum baseline (and, with `--peers`, FastMCP and the TypeScript SDK), each
//! server pinned to CPU 0 and driven by `wrk` on CPU 1 with unique JSON-RPC ids; plus cold
//! start, binary size and memory. Prints a markdown table; the same as JSON in
//! `target/bench/results.json`.

use std::{
    fs,
    io::{Read, Write},
    net::TcpStream,
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use serde_json::{Value, json};

use crate::{
    cargo, run,
    server::{Server, free_port},
    target_dir, workspace_root,
};

const CONCURRENCY: [u32; 3] = [1, 16, 64];
const CALL: &str = r#"{"jsonrpc":"2.0","id":ID,"method":"tools/call","params":{"name":"roll_dice","arguments":{"n_dice":3}}}"#;

/// One measurement.
#[derive(Debug, Clone)]
struct Measure {
    row: String,
    concurrency: u32,
    requests_per_sec: f64,
    p50_ms: f64,
    p99_ms: f64,
    errors: u64,
    peak_rss_kib: u64,
}

/// How the load generator talks to a server.
struct Target {
    url: String,
    headers: Vec<(String, String)>,
}

fn wrk_script(dir: &Path, name: &str, target: &Target) -> anyhow::Result<PathBuf> {
    let mut lua = String::from(
        "wrk.method = \"POST\"\nwrk.headers[\"Content-Type\"] = \"application/json\"\n\
         wrk.headers[\"Accept\"] = \"application/json, text/event-stream\"\n",
    );
    for (key, value) in &target.headers {
        lua.push_str(&format!("wrk.headers[\"{key}\"] = \"{value}\"\n"));
    }
    let (before, after) = CALL
        .split_once("ID")
        .context("no ID in the call template")?;
    lua.push_str(&format!(
        "local id = 0\nrequest = function()\n  id = id + 1\n  return wrk.format(nil, nil, nil, '{before}' .. id .. '{after}')\nend\n"
    ));
    let path = dir.join(format!("{name}.lua"));
    fs::write(&path, lua).with_context(|| format!("could not write {}", path.display()))?;
    Ok(path)
}

fn parse_duration_ms(text: &str) -> Option<f64> {
    let text = text.trim();
    let split = text.find(|c: char| c.is_ascii_alphabetic())?;
    let (number, unit) = text.split_at(split);
    let value: f64 = number.parse().ok()?;
    Some(match unit {
        "us" => value / 1000.0,
        "ms" => value,
        "s" => value * 1000.0,
        "m" => value * 60_000.0,
        _ => return None,
    })
}

/// Runs wrk (pinned to CPU 1) and parses its report.
fn wrk(
    script: &Path,
    url: &str,
    concurrency: u32,
    seconds: u64,
) -> anyhow::Result<(f64, f64, f64, u64)> {
    let output = Command::new("taskset")
        .args(["-c", "1", "wrk", "-t1"])
        .arg(format!("-c{concurrency}"))
        .arg(format!("-d{seconds}s"))
        .args(["--timeout", "5s", "--latency", "-s"])
        .arg(script)
        .arg(url)
        .output()
        .context("could not run wrk")?;
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    if !output.status.success() {
        bail!(
            "wrk failed: {text}{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let mut rps = 0.0;
    let (mut p50, mut p99, mut errors) = (0.0, 0.0, 0u64);
    for line in text.lines() {
        let line = line.trim();
        if let Some(value) = line.strip_prefix("Requests/sec:") {
            rps = value.trim().parse().unwrap_or(0.0);
        } else if let Some(value) = line.strip_prefix("50%") {
            p50 = parse_duration_ms(value).unwrap_or(0.0);
        } else if let Some(value) = line.strip_prefix("99%") {
            p99 = parse_duration_ms(value).unwrap_or(0.0);
        } else if let Some(value) = line.strip_prefix("Non-2xx or 3xx responses:") {
            errors += value.trim().parse::<u64>().unwrap_or(0);
        } else if let Some(value) = line.strip_prefix("Socket errors:") {
            errors += value
                .split(',')
                .filter_map(|part| part.split_whitespace().last()?.parse::<u64>().ok())
                .sum::<u64>();
        }
    }
    Ok((rps, p50, p99, errors))
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

struct Bench {
    dir: PathBuf,
    seconds: u64,
    results: Vec<Measure>,
}

impl Bench {
    /// Warm up, then measure each concurrency; record the server's peak RSS.
    fn measure(&mut self, row: &str, server: &Server, target: &Target) -> anyhow::Result<()> {
        let slug: String = row
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        let script = wrk_script(&self.dir, &slug, target)?;
        eprintln!("bench: {row}");
        wrk(&script, &target.url, 16, 2)?; // warm-up
        for concurrency in CONCURRENCY {
            let (requests_per_sec, p50_ms, p99_ms, errors) =
                wrk(&script, &target.url, concurrency, self.seconds)?;
            self.results.push(Measure {
                row: row.to_owned(),
                concurrency,
                requests_per_sec,
                p50_ms,
                p99_ms,
                errors,
                peak_rss_kib: memory_kib(server.pid(), "VmHWM"),
            });
        }
        Ok(())
    }
}

fn pinned(program: &Path) -> Command {
    let mut command = Command::new("taskset");
    command.args(["-c", "0"]).arg(program);
    command
}

fn ensure_wrk() -> anyhow::Result<()> {
    if Command::new("wrk").arg("--version").output().is_ok() {
        return Ok(());
    }
    eprintln!("bench: installing wrk (Debian package)");
    let install = || {
        Command::new("apt-get")
            .args(["install", "-y", "-q", "wrk"])
            .status()
    };
    if !install().is_ok_and(|s| s.success()) {
        let _ = Command::new("apt-get").args(["update", "-q"]).status();
        if !install().is_ok_and(|s| s.success()) {
            bail!("wrk is needed: install it (apt-get install wrk) and run again");
        }
    }
    Ok(())
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

pub fn bench(args: &[String]) -> anyhow::Result<()> {
    let peers = args.iter().any(|a| a == "--peers");
    let seconds = args
        .iter()
        .position(|a| a == "--duration")
        .and_then(|i| args.get(i + 1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    ensure_wrk()?;
    run(
        "cargo build --release -p launcher -p bench-baseline",
        cargo().args([
            "build",
            "--release",
            "--quiet",
            "-p",
            "launcher",
            "-p",
            "bench-baseline",
        ]),
    )?;
    let release = target_dir().join("release");
    let binary = release.join("dice-mcp");
    let dir = target_dir().join("bench");
    fs::create_dir_all(&dir).with_context(|| format!("could not create {}", dir.display()))?;
    let keys = dir.join("keys");
    let keygen = Command::new(&binary)
        .args(["keygen", "--force", "--out"])
        .arg(&keys)
        .output()?;
    if !keygen.status.success() {
        bail!("keygen failed: {}", String::from_utf8_lossy(&keygen.stderr));
    }
    let token_out = Command::new(&binary)
        .args(["token", "--iss", "dice-mcp", "--ttl", "1h", "--key"])
        .arg(keys.join("private.pem"))
        .output()?;
    let token = String::from_utf8_lossy(&token_out.stdout).trim().to_owned();
    let public = keys.join("public.pem").to_string_lossy().into_owned();
    let bearer = vec![("Authorization".to_owned(), format!("Bearer {token}"))];
    let runtime = tokio::runtime::Runtime::new().context("no async runtime")?;
    let mut bench = Bench {
        dir: dir.clone(),
        seconds,
        results: Vec::new(),
    };
    let started = Instant::now();

    // The ceiling: bare axum, static JSON.
    let mut command = pinned(&release.join("bench-baseline"));
    command.arg("0");
    let server = Server::spawn(command)?;
    let target = Target {
        url: server.url.clone(),
        headers: vec![],
    };
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
    bench.measure(
        "dice-mcp stateless + JWT",
        &server,
        &Target {
            url: server.url.clone(),
            headers: bearer.clone(),
        },
    )?;
    server.stop()?;

    let server = serve(&["--stateless", "--transport", "streamable"])?;
    bench.measure(
        "dice-mcp stateless, no auth",
        &server,
        &Target {
            url: server.url.clone(),
            headers: vec![],
        },
    )?;
    server.stop()?;

    let server = serve(&[&["--transport", "streamable"][..], &auth].concat())?;
    let session = runtime.block_on(open_session(&server.url, &token))?;
    let mut headers = bearer.clone();
    headers.push(("Mcp-Session-Id".to_owned(), session));
    bench.measure(
        "dice-mcp stateful + JWT (one session)",
        &server,
        &Target {
            url: server.url.clone(),
            headers,
        },
    )?;
    server.stop()?;

    let server = serve(&[&["--stateless", "--transport", "sse"][..], &auth].concat())?;
    let messages = runtime.block_on(open_sse_session(&server.url, &token))?;
    bench.measure(
        "dice-mcp /sse + JWT (202s; replies on the stream)",
        &server,
        &Target {
            url: messages,
            headers: bearer.clone(),
        },
    )?;
    server.stop()?;

    if peers {
        crate::bench_peers::measure(&mut bench_peers_context(&mut bench, &public, &bearer))?;
    }
    let load_seconds = started.elapsed().as_secs_f64();

    // Start-up, size, memory.
    let mut cold = Vec::new();
    for _ in 0..5 {
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
    let binary_bytes = fs::metadata(&binary)?.len();
    let server = serve(&["--transport", "streamable", "--max-sessions", "20000"])?;
    std::thread::sleep(Duration::from_millis(300));
    let idle_kib = memory_kib(server.pid(), "VmRSS");
    let sessions_started = Instant::now();
    runtime.block_on(open_and_close_sessions(&server.url, 10_000))?;
    let sessions_seconds = sessions_started.elapsed().as_secs_f64();
    std::thread::sleep(Duration::from_millis(300));
    let after_sessions_kib = memory_kib(server.pid(), "VmRSS");
    let sessions_peak_kib = memory_kib(server.pid(), "VmHWM");
    server.stop()?;

    report(
        &bench.results,
        &dir,
        json!({
            "cold_start_ms_median": cold[cold.len() / 2],
            "cold_start_ms_all": cold,
            "binary_bytes": binary_bytes,
            "rss_idle_kib": idle_kib,
            "rss_after_10000_sessions_kib": after_sessions_kib,
            "rss_peak_during_10000_sessions_kib": sessions_peak_kib,
            "seconds_for_10000_sessions": sessions_seconds,
            "load_seconds": load_seconds,
            "measure_seconds_per_point": seconds,
        }),
    )
}

fn bench_peers_context<'a>(
    bench: &'a mut Bench,
    public: &'a str,
    bearer: &'a [(String, String)],
) -> PeerContext<'a> {
    PeerContext {
        bench,
        public,
        bearer,
    }
}

/// What the peer rows need from the bench.
pub struct PeerContext<'a> {
    bench: &'a mut Bench,
    /// The public key PEM the peers verify tokens with.
    pub public: &'a str,
    bearer: &'a [(String, String)],
}

impl PeerContext<'_> {
    /// Measures a started peer server at `url` with the bench's token.
    pub fn measure(&mut self, row: &str, server: &Server) -> anyhow::Result<()> {
        let target = Target {
            url: server.url.clone(),
            headers: self.bearer.to_vec(),
        };
        self.bench.measure(row, server, &target)
    }

    /// Starts a command pinned to CPU 0.
    pub fn pinned(&self, program: &Path) -> Command {
        pinned(program)
    }
}

async fn open_session(url: &str, token: &str) -> anyhow::Result<String> {
    let http = reqwest::Client::new();
    let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "bench", "version": "0"}}});
    let response = http
        .post(url)
        .bearer_auth(token)
        .header("accept", "application/json, text/event-stream")
        .json(&init)
        .send()
        .await?;
    let session = response
        .headers()
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
        .context("no session id from initialize")?
        .to_owned();
    let _ = response.bytes().await;
    http.post(url)
        .bearer_auth(token)
        .header("accept", "application/json, text/event-stream")
        .header("mcp-session-id", &session)
        .json(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
        .send()
        .await?;
    Ok(session)
}

/// Opens `/sse`, initializes the session, leaves a task draining the stream, and returns the
/// session's message URL.
async fn open_sse_session(mcp_url: &str, token: &str) -> anyhow::Result<String> {
    use futures_util::StreamExt;
    let base = mcp_url
        .trim_end_matches("/mcp")
        .trim_end_matches("/sse")
        .to_owned();
    let http = reqwest::Client::new();
    let response = http
        .get(format!("{base}/sse"))
        .bearer_auth(token)
        .header("accept", "text/event-stream")
        .send()
        .await?;
    let mut body = response.bytes_stream();
    let mut seen = Vec::new();
    let endpoint = loop {
        let chunk = body.next().await.context("the SSE stream ended")??;
        seen.extend_from_slice(&chunk);
        let text = String::from_utf8_lossy(&seen).replace("\r\n", "\n");
        if let Some(data) = text.split("event: endpoint\ndata: ").nth(1)
            && let Some(path) = data.split('\n').next()
            && text.contains("\n\n")
        {
            break format!("{base}{path}");
        }
    };
    tokio::spawn(async move { while body.next().await.is_some() {} });
    let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2024-11-05", "capabilities": {}, "clientInfo": {"name": "bench", "version": "0"}}});
    http.post(&endpoint)
        .bearer_auth(token)
        .json(&init)
        .send()
        .await?;
    tokio::time::sleep(Duration::from_millis(100)).await;
    http.post(&endpoint)
        .bearer_auth(token)
        .json(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
        .send()
        .await?;
    Ok(endpoint)
}

/// Opens and closes `count` stateful sessions, 8 at a time.
async fn open_and_close_sessions(url: &str, count: usize) -> anyhow::Result<()> {
    use futures_util::StreamExt;
    let http = reqwest::Client::new();
    let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "bench", "version": "0"}}});
    let results: Vec<anyhow::Result<()>> = futures_util::stream::iter(0..count)
        .map(|_| {
            let (http, init) = (http.clone(), init.clone());
            async move {
                let response = http
                    .post(url)
                    .header("accept", "application/json, text/event-stream")
                    .json(&init)
                    .send()
                    .await?;
                let session = response
                    .headers()
                    .get("mcp-session-id")
                    .and_then(|v| v.to_str().ok())
                    .context("no session id")?
                    .to_owned();
                let _ = response.bytes().await;
                http.delete(url)
                    .header("mcp-session-id", session)
                    .send()
                    .await?;
                Ok(())
            }
        })
        .buffer_unordered(8)
        .collect()
        .await;
    results.into_iter().collect()
}

fn report(results: &[Measure], dir: &Path, extras: Value) -> anyhow::Result<()> {
    let baseline = |c: u32| {
        results
            .iter()
            .find(|m| m.row.contains("baseline") && m.concurrency == c)
            .map(|m| m.requests_per_sec)
    };
    let fastmcp = |c: u32| {
        results
            .iter()
            .find(|m| m.row.starts_with("FastMCP") && m.concurrency == c)
            .map(|m| m.requests_per_sec)
    };
    println!(
        "\n| server | c | requests/s | p50 ms | p99 ms | errors | peak RSS MiB | vs axum | vs FastMCP |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    let ratio = |value: f64, base: Option<f64>| match base {
        Some(base) if base > 0.0 => format!("{:.2}×", value / base),
        _ => "-".to_owned(),
    };
    for m in results {
        println!(
            "| {} | {} | {:.0} | {:.2} | {:.2} | {} | {:.1} | {} | {} |",
            m.row,
            m.concurrency,
            m.requests_per_sec,
            m.p50_ms,
            m.p99_ms,
            m.errors,
            m.peak_rss_kib as f64 / 1024.0,
            ratio(m.requests_per_sec, baseline(m.concurrency)),
            ratio(m.requests_per_sec, fastmcp(m.concurrency)),
        );
    }
    println!(
        "\ncold start (exec to first 200 on /healthz), median of 5: {:.1} ms\nbinary: {:.1} MiB\n\
         RSS idle: {:.1} MiB; after 10 000 stateful sessions opened and closed: {:.1} MiB (peak {:.1} MiB)",
        extras["cold_start_ms_median"].as_f64().unwrap_or(0.0),
        extras["binary_bytes"].as_f64().unwrap_or(0.0) / 1_048_576.0,
        extras["rss_idle_kib"].as_f64().unwrap_or(0.0) / 1024.0,
        extras["rss_after_10000_sessions_kib"]
            .as_f64()
            .unwrap_or(0.0)
            / 1024.0,
        extras["rss_peak_during_10000_sessions_kib"]
            .as_f64()
            .unwrap_or(0.0)
            / 1024.0,
    );
    let json = json!({
        "rows": results.iter().map(|m| json!({
            "server": m.row, "concurrency": m.concurrency, "requests_per_sec": m.requests_per_sec,
            "p50_ms": m.p50_ms, "p99_ms": m.p99_ms, "errors": m.errors, "peak_rss_kib": m.peak_rss_kib,
            "ratio_to_axum": baseline(m.concurrency).map(|b| m.requests_per_sec / b),
            "ratio_to_fastmcp": fastmcp(m.concurrency).map(|b| m.requests_per_sec / b),
        })).collect::<Vec<_>>(),
        "extras": extras,
    });
    let path = dir.join("results.json");
    fs::write(&path, serde_json::to_string_pretty(&json)?)
        .with_context(|| format!("could not write {}", path.display()))?;
    println!("\nJSON: {}", path.display());
    let _ = workspace_root();
    Ok(())
}
