//! The `/sse` row's load: wrk can only count the `202` a `POST /messages/` gets, while the
//! answer arrives later on the session's stream. This client measures the real round trip:
//! N sessions, each with its stream open, each posting a `tools/call` and waiting for the
//! reply with that id on its stream before the next. It runs as `cargo xtask sse-load` in
//! its own process so the bench can pin it to the load CPU as it does wrk.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures_util::StreamExt;
use serde_json::{Value, json};
use sse_stream::SseStream;

use super::wrk::Measured;

/// What `cargo xtask sse-load` takes (a task for the bench, hidden from help).
#[derive(Debug, Clone, clap::Args)]
pub struct Options {
    /// The server's `/sse` URL.
    #[arg(long)]
    pub url: String,
    /// The bearer token.
    #[arg(long)]
    pub token: String,
    /// Sessions, each with one request in flight.
    #[arg(long)]
    pub concurrency: u32,
    /// How long to measure, after a one-second warm-up.
    #[arg(long)]
    pub seconds: u64,
}

/// Runs the load on one thread and prints what it measured ([`Measured`]) as one JSON line.
pub fn run(options: &Options) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("no async runtime")?;
    let measured = runtime.block_on(load(options))?;
    println!("{}", serde_json::to_string(&measured)?);
    Ok(())
}

async fn load(options: &Options) -> anyhow::Result<Measured> {
    let http = reqwest::Client::new();
    let mut sessions = Vec::new();
    for _ in 0..options.concurrency {
        sessions.push(Session::open(&http, &options.url, &options.token).await?);
    }
    let warm_until = Instant::now() + Duration::from_secs(1);
    let until = warm_until + Duration::from_secs(options.seconds);
    // All on this one thread: the sessions take turns as their replies arrive.
    let runs = sessions.into_iter().map(|mut session| async move {
        let mut latencies = Vec::new();
        let mut errors = 0_u64;
        while Instant::now() < until {
            let started = Instant::now();
            match session.call().await {
                Ok(()) if started >= warm_until => latencies.push(started.elapsed()),
                Ok(()) => {}
                Err(_) => errors += 1,
            }
        }
        (latencies, errors)
    });
    let mut latencies = Vec::new();
    let mut errors = 0;
    for (some, failed) in futures_util::future::join_all(runs).await {
        latencies.extend(some);
        errors += failed;
    }
    if latencies.is_empty() {
        bail!("no /sse call completed ({errors} failed)");
    }
    latencies.sort();
    let at = |q: f64| {
        let index = ((latencies.len() as f64 - 1.0) * q).round() as usize;
        latencies[index].as_secs_f64() * 1000.0
    };
    Ok(Measured {
        requests_per_sec: latencies.len() as f64 / options.seconds as f64,
        p50_ms: at(0.50),
        p99_ms: at(0.99),
        errors,
    })
}

type Events = std::pin::Pin<
    Box<dyn futures_util::Stream<Item = Result<sse_stream::Sse, sse_stream::Error>> + Send>,
>;

/// One initialized `/sse` session: its stream and where it posts.
struct Session {
    http: reqwest::Client,
    token: String,
    endpoint: String,
    events: Events,
    next_id: u64,
}

impl Session {
    async fn open(http: &reqwest::Client, url: &str, token: &str) -> anyhow::Result<Self> {
        let response = super::session::get_sse(http, url, Some(token)).await?;
        let base = url.trim_end_matches("/sse").to_owned();
        let mut events: Events = Box::pin(SseStream::from_bytes_stream(response.bytes_stream()));
        let path = loop {
            let event = events
                .next()
                .await
                .context("the /sse stream ended before its endpoint event")?
                .context("could not read the /sse stream")?;
            if event.event.as_deref() == Some("endpoint") {
                break event.data.context("an endpoint event without data")?;
            }
        };
        let mut session = Self {
            http: http.clone(),
            token: token.to_owned(),
            endpoint: format!("{base}{path}"),
            events,
            next_id: 0,
        };
        session
            .request(
                json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
                "protocolVersion": "2024-11-05", "capabilities": {},
                "clientInfo": {"name": "bench", "version": "0"}}}),
            )
            .await?;
        session
            .post(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
            .await?;
        Ok(session)
    }

    async fn post(&self, body: &Value) -> anyhow::Result<()> {
        self.http
            .post(&self.endpoint)
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .await
            .context("POST /messages/ failed")?
            .error_for_status()
            .context("POST /messages/ was refused")?;
        Ok(())
    }

    /// Posts `body` and waits for the message on the stream with its id.
    async fn request(&mut self, body: Value) -> anyhow::Result<Value> {
        let id = body["id"].clone();
        self.post(&body).await?;
        loop {
            let event = self
                .events
                .next()
                .await
                .context("the /sse stream ended")?
                .context("could not read the /sse stream")?;
            let Some(data) = event.data else { continue };
            let message: Value = serde_json::from_str(&data).context("a reply that is not JSON")?;
            if message["id"] == id {
                return Ok(message);
            }
        }
    }

    /// One `tools/call roll_dice` and its reply.
    async fn call(&mut self) -> anyhow::Result<()> {
        self.next_id += 1;
        let reply = self
            .request(
                json!({"jsonrpc": "2.0", "id": self.next_id, "method": "tools/call",
                            "params": {"name": "roll_dice", "arguments": {"n_dice": 3}}}),
            )
            .await?;
        if reply.get("result").is_none() {
            bail!("not a result: {reply}");
        }
        Ok(())
    }
}
