//! The soak's traffic: one async worker per client, each looping until the deadline and
//! counting every outcome in the [`Tally`]. Legitimate clients use reqwest; hostile ones
//! (oversize heads, slowloris) write raw bytes on a `TcpStream`.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use reqwest::{Client, RequestBuilder, Response};
use serde_json::{Value, json};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    task::JoinSet,
    time::{MissedTickBehavior, interval, sleep, sleep_until, timeout},
};

use super::tally::{self, Kind, Tally};

/// How many clients of each kind run at once. Moderate on purpose: on a 2-core machine
/// that also runs the load generator, more would only show the in-flight cap shedding.
#[derive(Debug, Clone, Copy)]
pub struct Mix {
    /// Loops of stateless `tools/call` on the stateless server.
    pub stateless: usize,
    /// Loops of initialize, initialized, list, call, DELETE, call-after-DELETE.
    pub sessions: usize,
    /// `/sse` clients that read their stream.
    pub sse_readers: usize,
    /// `/sse` clients that never read their stream but keep posting.
    pub sse_unread: usize,
    /// Slowloris connections per server and variant (head, silent, body).
    pub slowloris: usize,
    /// Whether the paced hostile loops (bad tokens, malformed, oversize) run.
    pub hostile: bool,
}

impl Mix {
    /// The soak proper.
    pub const SOAK: Self = Self {
        stateless: 16,
        sessions: 6,
        sse_readers: 4,
        sse_unread: 20,
        slowloris: 8,
        hostile: true,
    };
    /// One of each, for the warm-up before the baseline is taken; no slowloris (they
    /// would still be open when the baseline is measured).
    pub const WARM_UP: Self = Self {
        stateless: 1,
        sessions: 1,
        sse_readers: 1,
        sse_unread: 1,
        slowloris: 0,
        hostile: true,
    };
}

/// Longest any one request may take before it counts as a timeout.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Calls one read `/sse` stream makes before it is closed and another opened.
const SSE_CALLS_PER_STREAM: u64 = 50;
/// How long a never-read stream is posted to before it is dropped and another opened.
const UNREAD_STREAM_LIFE: Duration = Duration::from_secs(30);
/// Pace of posts to one never-read stream.
const UNREAD_POST_EVERY: Duration = Duration::from_millis(100);
/// A roll whose answer is about 70 KB: at 10 posts a second, a never-read stream fills the
/// loopback socket buffers (up to 4 MiB sending, 128 KiB receiving, as the reader never
/// reads) within seconds, and from then on the server's bound on answers waiting on a
/// stream (`429` beyond 16) is what keeps its memory flat.
const BIG_ROLL: &str = "1000d6+1000d6+1000d6+1000d6+1000d6";
/// How often each session loop leaves a session open for the idle expiry to close.
const ABANDON_EVERY: Duration = Duration::from_secs(2);
/// Pace of the hostile loops, each on its own.
const BAD_TOKEN_EVERY: Duration = Duration::from_millis(5);
const MALFORMED_EVERY: Duration = Duration::from_millis(20);
const OVERSIZE_EVERY: Duration = Duration::from_millis(50);
/// Pace of the `/healthz` probe on each server.
const PROBE_EVERY: Duration = Duration::from_millis(50);
/// Pace of a slowloris connection's trickle.
const TRICKLE_EVERY: Duration = Duration::from_millis(500);
/// A slowloris connection still open this long after the header-read (or request) timeout
/// has survived it.
const SURVIVAL_MARGIN: Duration = Duration::from_secs(5);
/// A slowloris connection closed within this of its timeout was closed by that timeout.
const CLOSE_SLACK: Duration = Duration::from_secs(2);
/// The declared body of an oversize head: over the default 1 MiB limit.
const DECLARED_BYTES: usize = 4 * 1024 * 1024;
/// Chunks of the chunked oversize body: 17 × 64 KiB = 1.06 MiB, just over the limit.
const CHUNKS: usize = 17;
const CHUNK_BYTES: usize = 64 * 1024;
/// An unsigned JWT (`{"alg":"none"}`) claiming `sub: dev`, `iss: dice-mcp`, `exp: 2100`.
const ALG_NONE: &str = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.\
eyJzdWIiOiJkZXYiLCJpc3MiOiJkaWNlLW1jcCIsImV4cCI6NDEwMjQ0NDgwMH0.";

/// One server under test.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// Its name in the report.
    pub name: &'static str,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// `127.0.0.1:PORT`.
    pub addr: String,
}

impl Endpoint {
    /// From the MCP URL the server logged (`http://127.0.0.1:PORT/mcp`).
    pub fn from_mcp_url(name: &'static str, url: &str) -> Self {
        let base = url
            .trim_end_matches('/')
            .trim_end_matches("/mcp")
            .to_owned();
        let addr = base
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_owned();
        Self { name, base, addr }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

/// The tokens the clients use: one valid token per role (each is its own principal, so
/// the per-principal session quota is not shared by unrelated loops), and bad ones.
#[derive(Debug, Clone)]
pub struct Tokens {
    /// Stateless calls.
    pub stateless: String,
    /// Stateful session loops.
    pub sessions: String,
    /// `/sse` readers.
    pub sse: String,
    /// Never-read `/sse` streams.
    pub unread: String,
    /// Malformed and oversize requests (which need a valid token to get past auth).
    pub hostile: String,
    /// Signed by another key.
    pub wrong_key: String,
    /// From another issuer.
    pub wrong_issuer: String,
    /// Expires at `expired_from` (its `exp` plus the server's 30 s leeway, plus a margin).
    pub expiring: String,
    /// From when `expiring` is refused.
    pub expired_from: Instant,
}

/// What the workers share.
#[derive(Debug)]
pub struct Setup {
    /// The `--stateless` server.
    pub stateless: Endpoint,
    /// The stateful server (`/mcp` sessions and `/sse`).
    pub stateful: Endpoint,
    /// The tokens.
    pub tokens: Tokens,
    /// The servers' `--header-read-timeout`.
    pub header_read_timeout: Duration,
    /// The servers' `--request-timeout`.
    pub request_timeout: Duration,
}

/// A client for legitimate traffic. Its idle connections are dropped after 1 s, well
/// before the server closes kept-alive connections at its header-read timeout, so a
/// request never races the server's close of the connection it reuses.
pub fn client() -> anyhow::Result<Client> {
    Ok(Client::builder()
        .no_proxy()
        .pool_idle_timeout(Duration::from_secs(1))
        .connect_timeout(Duration::from_secs(5))
        .build()?)
}

/// The workers `run` starts several alike of.
#[derive(Clone, Copy)]
enum Worker {
    Stateless,
    Sessions,
    SseReader,
}

/// Runs `mix` against both servers until `end`; returns once every worker has stopped.
/// Workers still running `REQUEST_TIMEOUT` + 5 s after `end` are aborted; the count of
/// those is returned (it should be zero: a worker that does not stop is a hung request).
pub async fn run(
    setup: Arc<Setup>,
    mix: Mix,
    end: Instant,
    tally: Arc<Tally>,
) -> anyhow::Result<usize> {
    let mut workers = JoinSet::new();
    let (stateless_client, session_client) = (client()?, client()?);
    let (sse_client, probe_client) = (client()?, client()?);
    let repeated = [
        (mix.stateless, &stateless_client, Worker::Stateless),
        (mix.sessions, &session_client, Worker::Sessions),
        (mix.sse_readers, &sse_client, Worker::SseReader),
    ];
    for (count, client, worker) in repeated {
        for _ in 0..count {
            let (client, setup, tally) = (client.clone(), Arc::clone(&setup), Arc::clone(&tally));
            match worker {
                Worker::Stateless => workers.spawn(stateless_calls(client, setup, end, tally)),
                Worker::Sessions => workers.spawn(sessions(client, setup, end, tally)),
                Worker::SseReader => workers.spawn(sse_reader(client, setup, end, tally)),
            };
        }
    }
    for index in 0..mix.sse_unread {
        // Staggered, so the streams are not all dropped and reopened at the same moment.
        let stagger = UNREAD_STREAM_LIFE.mul_f64(index as f64 / mix.sse_unread.max(1) as f64);
        workers.spawn(sse_unread(
            sse_client.clone(),
            Arc::clone(&setup),
            end,
            stagger,
            Arc::clone(&tally),
        ));
    }
    for endpoint in [&setup.stateless, &setup.stateful] {
        for _ in 0..mix.slowloris {
            for variant in [Slow::Head, Slow::Silent, Slow::Body] {
                workers.spawn(slowloris(
                    endpoint.clone(),
                    variant,
                    Arc::clone(&setup),
                    end,
                    Arc::clone(&tally),
                ));
            }
        }
        workers.spawn(probe(
            probe_client.clone(),
            endpoint.clone(),
            end,
            Arc::clone(&tally),
        ));
    }
    if mix.hostile {
        workers.spawn(bad_tokens(
            stateless_client.clone(),
            Arc::clone(&setup),
            end,
            Arc::clone(&tally),
        ));
        workers.spawn(malformed(
            stateless_client.clone(),
            Arc::clone(&setup),
            end,
            Arc::clone(&tally),
        ));
        workers.spawn(oversize(
            stateless_client.clone(),
            Arc::clone(&setup),
            end,
            Arc::clone(&tally),
        ));
    }
    drop((stateless_client, session_client, sse_client, probe_client));
    let stop_by = tokio::time::Instant::from_std(end + REQUEST_TIMEOUT + Duration::from_secs(5));
    while !workers.is_empty() {
        match tokio::time::timeout_at(stop_by, workers.join_next()).await {
            Ok(_) => {}
            Err(_) => break,
        }
    }
    let stuck = workers.len();
    workers.abort_all();
    while workers.join_next().await.is_some() {}
    Ok(stuck)
}

/// What a request got: its outcome label, and what the checks need.
pub(crate) struct Answer {
    pub(crate) label: String,
    pub(crate) status: u16,
    pub(crate) session: Option<String>,
    pub(crate) body: String,
}

/// A request that got no answer: its label and the error chain.
pub(crate) struct Failure {
    pub(crate) label: String,
    detail: String,
}

/// The label of an answer: the status, with `retry-after` when a `429`/`503` says when to
/// come back, and `no challenge` when a `401` lacks `WWW-Authenticate`.
fn status_label(response: &Response) -> String {
    let status = response.status().as_u16();
    let headers = response.headers();
    match status {
        429 | 503 if headers.contains_key("retry-after") => format!("{status} retry-after"),
        401 if !headers.contains_key("www-authenticate") => "401 no challenge".to_owned(),
        _ => status.to_string(),
    }
}

fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn failure(error: &reqwest::Error) -> Failure {
    let label = if error.is_timeout() {
        "timeout"
    } else if error.is_connect() {
        "connect error"
    } else if error.is_body() || error.is_decode() {
        "body error"
    } else {
        "transport error"
    };
    Failure {
        label: label.to_owned(),
        detail: error_chain(error),
    }
}

/// Sends `request` (with the request timeout) and reads the whole answer.
pub(crate) async fn send(request: RequestBuilder) -> Result<Answer, Failure> {
    let response = request
        .timeout(REQUEST_TIMEOUT)
        .send()
        .await
        .map_err(|e| failure(&e))?;
    let label = status_label(&response);
    let status = response.status().as_u16();
    let session = response
        .headers()
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = response.text().await.map_err(|e| failure(&e))?;
    Ok(Answer {
        label,
        status,
        session,
        body,
    })
}

/// Counts `result` under `kind`; `check` may relabel a successful answer whose body is
/// wrong. Returns the answer when it has the status `ok`.
fn note(
    tally: &Tally,
    server: &'static str,
    kind: &'static Kind,
    result: Result<Answer, Failure>,
    ok: u16,
    check: impl FnOnce(&Answer) -> bool,
) -> Option<Answer> {
    match result {
        Ok(answer) if answer.status == ok => {
            if check(&answer) {
                tally.record(server, kind, &answer.label);
                Some(answer)
            } else {
                let label = format!("{} unexpected body", answer.label);
                tally.record_detail(server, kind, &label, || truncate(&answer.body));
                None
            }
        }
        Ok(answer) => {
            tally.record_detail(server, kind, &answer.label, || truncate(&answer.body));
            None
        }
        Err(failure) => {
            tally.record_detail(server, kind, &failure.label, || failure.detail);
            None
        }
    }
}

fn truncate(text: &str) -> String {
    text.chars().take(300).collect()
}

pub(crate) fn mcp_post(client: &Client, url: &str, token: &str) -> RequestBuilder {
    client
        .post(url)
        .bearer_auth(token)
        .header("accept", "application/json, text/event-stream")
}

pub(crate) fn call(id: u64, tool: &str, arguments: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
           "params": {"name": tool, "arguments": arguments}})
}

pub(crate) fn initialize(id: u64, revision: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": "initialize", "params": {
        "protocolVersion": revision, "capabilities": {},
        "clientInfo": {"name": "xtask-soak", "version": "0"}}})
}

pub(crate) fn initialized() -> Value {
    json!({"jsonrpc": "2.0", "method": "notifications/initialized"})
}

/// A successful `roll_dice` answer: a result that is not a tool error.
pub(crate) fn rolled(answer: &Answer) -> bool {
    answer.body.contains("\"result\"") && answer.body.contains("\"isError\":false")
}

async fn stateless_calls(client: Client, setup: Arc<Setup>, end: Instant, tally: Arc<Tally>) {
    let endpoint = &setup.stateless;
    let url = endpoint.url("/mcp");
    let mut id = 0;
    while Instant::now() < end {
        id += 1;
        let request = mcp_post(&client, &url, &setup.tokens.stateless).json(&call(
            id,
            "roll_dice",
            json!({"n_dice": 3}),
        ));
        let answer = send(request).await;
        note(
            &tally,
            endpoint.name,
            &tally::STATELESS_CALL,
            answer,
            200,
            rolled,
        );
    }
}

async fn sessions(client: Client, setup: Arc<Setup>, end: Instant, tally: Arc<Tally>) {
    let endpoint = &setup.stateful;
    let server = endpoint.name;
    let url = endpoint.url("/mcp");
    let token = &setup.tokens.sessions;
    let mut last_abandoned = Instant::now();
    while Instant::now() < end {
        let opened = send(mcp_post(&client, &url, token).json(&initialize(0, "2025-06-18"))).await;
        let Some(session) = note(
            &tally,
            server,
            &tally::SESSION_INITIALIZE,
            opened,
            200,
            |a| a.session.is_some() && a.body.contains("\"result\""),
        )
        .and_then(|answer| answer.session) else {
            sleep(Duration::from_millis(100)).await;
            continue;
        };
        let in_session = |request: RequestBuilder| {
            request
                .header("mcp-session-id", &session)
                .header("mcp-protocol-version", "2025-06-18")
        };
        let sent = send(in_session(mcp_post(&client, &url, token)).json(&initialized())).await;
        note(
            &tally,
            server,
            &tally::SESSION_INITIALIZED,
            sent,
            202,
            |_| true,
        );
        let list = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"});
        let listed = send(in_session(mcp_post(&client, &url, token)).json(&list)).await;
        note(&tally, server, &tally::SESSION_LIST, listed, 200, |a| {
            a.body.contains("roll_dice")
        });
        let called = send(in_session(mcp_post(&client, &url, token)).json(&call(
            2,
            "roll_dice",
            json!({"n_dice": 3}),
        )))
        .await;
        note(&tally, server, &tally::SESSION_CALL, called, 200, rolled);
        if last_abandoned.elapsed() >= ABANDON_EVERY {
            last_abandoned = Instant::now();
            tally.record(server, &tally::SESSION_ABANDONED, "left open");
            continue;
        }
        let deleted = send(in_session(client.delete(&url).bearer_auth(token))).await;
        note(&tally, server, &tally::SESSION_DELETE, deleted, 204, |_| {
            true
        });
        let after = send(in_session(mcp_post(&client, &url, token)).json(&call(
            3,
            "roll_dice",
            json!({"n_dice": 3}),
        )))
        .await;
        note(
            &tally,
            server,
            &tally::CALL_AFTER_DELETE,
            after,
            404,
            |_| true,
        );
    }
}

/// The events of an SSE body, read by `sse-stream` (the decoder rmcp uses), as (name, data).
struct Events {
    stream: std::pin::Pin<
        Box<dyn futures_util::Stream<Item = Result<sse_stream::Sse, sse_stream::Error>> + Send>,
    >,
}

impl Events {
    fn new(response: Response) -> Self {
        Self {
            stream: Box::pin(sse_stream::SseStream::from_bytes_stream(
                response.bytes_stream(),
            )),
        }
    }

    /// The next event with data, as (name, data); `None` when the stream ends or fails.
    async fn next(&mut self) -> Option<(String, String)> {
        use futures_util::StreamExt;
        loop {
            let event = self.stream.next().await?.ok()?;
            if let Some(data) = event.data {
                return Some((event.event.unwrap_or_else(|| "message".to_owned()), data));
            }
        }
    }

    /// Waits (up to the request timeout) for the answer to request `id`.
    async fn answer(&mut self, id: u64) -> bool {
        let wanted = async {
            while let Some((name, data)) = self.next().await {
                if name == "message"
                    && serde_json::from_str::<Value>(&data)
                        .is_ok_and(|message| message.get("id") == Some(&json!(id)))
                {
                    return true;
                }
            }
            false
        };
        timeout(REQUEST_TIMEOUT, wanted).await.unwrap_or(false)
    }
}

/// `GET /sse` until the endpoint event: the stream and the session's message URL, or
/// `None` (counted) when it was refused or broke.
async fn open_sse(
    client: &Client,
    endpoint: &Endpoint,
    token: &str,
    kind: &'static Kind,
    tally: &Tally,
) -> Option<(Events, String)> {
    let request = client
        .get(endpoint.url("/sse"))
        .bearer_auth(token)
        .header("accept", "text/event-stream")
        .send();
    let response = match timeout(REQUEST_TIMEOUT, request).await {
        Err(_) => {
            tally.record_detail(endpoint.name, kind, "timeout", || {
                "no answer head within the request timeout".into()
            });
            return None;
        }
        Ok(Err(error)) => {
            let failure = failure(&error);
            tally.record_detail(endpoint.name, kind, &failure.label, || failure.detail);
            return None;
        }
        Ok(Ok(response)) => response,
    };
    let label = status_label(&response);
    if response.status().as_u16() != 200 {
        let body = timeout(REQUEST_TIMEOUT, response.text())
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or_default();
        tally.record_detail(endpoint.name, kind, &label, || truncate(&body));
        return None;
    }
    let mut events = Events::new(response);
    match timeout(REQUEST_TIMEOUT, events.next()).await {
        Ok(Some((name, path))) if name == "endpoint" => {
            tally.record(endpoint.name, kind, &label);
            Some((events, endpoint.url(&path)))
        }
        other => {
            tally.record_detail(endpoint.name, kind, "200 without an endpoint event", || {
                format!("{other:?}")
            });
            None
        }
    }
}

async fn sse_reader(client: Client, setup: Arc<Setup>, end: Instant, tally: Arc<Tally>) {
    let endpoint = &setup.stateful;
    let server = endpoint.name;
    let token = &setup.tokens.sse;
    while Instant::now() < end {
        let Some((mut events, messages)) =
            open_sse(&client, endpoint, token, &tally::SSE_OPEN, &tally).await
        else {
            sleep(Duration::from_millis(200)).await;
            continue;
        };
        let post = |message: &Value| {
            client
                .post(&messages)
                .bearer_auth(token)
                .json(message)
                .send()
        };
        let posted = send_built(post(&initialize(0, "2024-11-05"))).await;
        if note(&tally, server, &tally::SSE_POST, posted, 202, |_| true).is_none() {
            continue;
        }
        let arrived = events.answer(0).await;
        tally.record(server, &tally::SSE_ANSWER, answer_label(arrived));
        if !arrived {
            continue;
        }
        let posted = send_built(post(&initialized())).await;
        note(&tally, server, &tally::SSE_POST, posted, 202, |_| true);
        for id in 1..=SSE_CALLS_PER_STREAM {
            if Instant::now() >= end {
                break;
            }
            let posted = send_built(post(&call(id, "roll_dice", json!({"n_dice": 3})))).await;
            if note(&tally, server, &tally::SSE_POST, posted, 202, |_| true).is_none() {
                break;
            }
            let arrived = events.answer(id).await;
            tally.record(server, &tally::SSE_ANSWER, answer_label(arrived));
            if !arrived {
                break;
            }
        }
    }
}

fn answer_label(arrived: bool) -> &'static str {
    if arrived {
        "arrived"
    } else {
        "missing after the request timeout"
    }
}

/// [`send`] for a request future already built (`RequestBuilder::send` called), bounded by
/// the request timeout.
async fn send_built(
    request: impl std::future::Future<Output = reqwest::Result<Response>>,
) -> Result<Answer, Failure> {
    let response = match timeout(REQUEST_TIMEOUT, request).await {
        Err(_) => {
            return Err(Failure {
                label: "timeout".into(),
                detail: "no answer within the request timeout".into(),
            });
        }
        Ok(result) => result.map_err(|e| failure(&e))?,
    };
    let label = status_label(&response);
    let status = response.status().as_u16();
    let body = match timeout(REQUEST_TIMEOUT, response.text()).await {
        Ok(Ok(body)) => body,
        Ok(Err(error)) => return Err(failure(&error)),
        Err(_) => {
            return Err(Failure {
                label: "timeout".into(),
                detail: "the body did not end within the request timeout".into(),
            });
        }
    };
    Ok(Answer {
        label,
        status,
        session: None,
        body,
    })
}

async fn sse_unread(
    client: Client,
    setup: Arc<Setup>,
    end: Instant,
    stagger: Duration,
    tally: Arc<Tally>,
) {
    let endpoint = &setup.stateful;
    let server = endpoint.name;
    let token = &setup.tokens.unread;
    let mut first = true;
    while Instant::now() < end {
        let Some((events, messages)) =
            open_sse(&client, endpoint, token, &tally::SSE_UNREAD_OPEN, &tally).await
        else {
            sleep(Duration::from_millis(200)).await;
            continue;
        };
        // From here on the stream is held but never read again.
        let life = if first { stagger } else { UNREAD_STREAM_LIFE };
        first = false;
        let life_end = end.min(Instant::now() + life.max(Duration::from_secs(1)));
        let post = |message: &Value| {
            client
                .post(&messages)
                .bearer_auth(token)
                .json(message)
                .send()
        };
        let posted = send_built(post(&initialize(0, "2024-11-05"))).await;
        note(&tally, server, &tally::SSE_UNREAD_POST, posted, 202, |_| {
            true
        });
        let posted = send_built(post(&initialized())).await;
        note(&tally, server, &tally::SSE_UNREAD_POST, posted, 202, |_| {
            true
        });
        let mut ticker = interval(UNREAD_POST_EVERY);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut id = 0;
        while Instant::now() < life_end {
            ticker.tick().await;
            id += 1;
            let posted = send_built(post(&call(id, "roll", json!({"expression": BIG_ROLL})))).await;
            match posted {
                Ok(answer) => {
                    tally.record_detail(server, &tally::SSE_UNREAD_POST, &answer.label, || {
                        truncate(&answer.body)
                    })
                }
                Err(failure) => {
                    tally.record_detail(server, &tally::SSE_UNREAD_POST, &failure.label, || {
                        failure.detail
                    })
                }
            }
        }
        drop(events);
    }
}

async fn bad_tokens(client: Client, setup: Arc<Setup>, end: Instant, tally: Arc<Tally>) {
    let tokens = &setup.tokens;
    let variants: [(&'static Kind, Option<String>); 7] = [
        (&tally::NO_TOKEN, None),
        (&tally::WRONG_SCHEME, Some("Basic c29hazpzb2Fr".to_owned())),
        (&tally::GARBAGE_TOKEN, Some("Bearer not-a-jwt".to_owned())),
        (&tally::ALG_NONE_TOKEN, Some(format!("Bearer {ALG_NONE}"))),
        (
            &tally::WRONG_KEY_TOKEN,
            Some(format!("Bearer {}", tokens.wrong_key)),
        ),
        (
            &tally::WRONG_ISSUER_TOKEN,
            Some(format!("Bearer {}", tokens.wrong_issuer)),
        ),
        (
            &tally::EXPIRED_TOKEN,
            Some(format!("Bearer {}", tokens.expiring)),
        ),
    ];
    let mut ticker = interval(BAD_TOKEN_EVERY);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut round = 0usize;
    while Instant::now() < end {
        ticker.tick().await;
        round += 1;
        let (kind, authorization) = &variants[round % variants.len()];
        if std::ptr::eq(*kind, &tally::EXPIRED_TOKEN) && Instant::now() < tokens.expired_from {
            continue;
        }
        // Every route that needs a token, on both servers.
        let (endpoint, request) = match (round / variants.len()) % 4 {
            0 => (
                &setup.stateless,
                client.post(setup.stateless.url("/mcp")).json(&call(
                    1,
                    "roll_dice",
                    json!({"n_dice": 3}),
                )),
            ),
            1 => (
                &setup.stateful,
                client
                    .post(setup.stateful.url("/mcp"))
                    .json(&initialize(0, "2025-06-18")),
            ),
            2 => (&setup.stateful, client.get(setup.stateful.url("/sse"))),
            _ => (
                &setup.stateful,
                client
                    .post(setup.stateful.url("/messages/?session_id=0"))
                    .json(&initialized()),
            ),
        };
        let request = request.header("accept", "application/json, text/event-stream");
        let request = match authorization {
            Some(value) => request.header("authorization", value),
            None => request,
        };
        let answer = send(request).await;
        note(&tally, endpoint.name, kind, answer, 401, |_| true);
    }
}

async fn malformed(client: Client, setup: Arc<Setup>, end: Instant, tally: Arc<Tally>) {
    let token = &setup.tokens.hostile;
    let mut ticker = interval(MALFORMED_EVERY);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut round = 0usize;
    while Instant::now() < end {
        ticker.tick().await;
        round += 1;
        let (endpoint, kind, status, request) = match round % 3 {
            0 => (&setup.stateless, &tally::MALFORMED, 400, {
                mcp_post(&client, &setup.stateless.url("/mcp"), token)
            }),
            1 => (&setup.stateful, &tally::MALFORMED, 400, {
                mcp_post(&client, &setup.stateful.url("/mcp"), token)
            }),
            _ => (&setup.stateful, &tally::SSE_UNKNOWN_SESSION, 404, {
                client
                    .post(setup.stateful.url("/messages/?session_id=00000000"))
                    .bearer_auth(token)
            }),
        };
        let request = request.header("content-type", "application/json");
        let request = if status == 400 {
            request.body("{\"jsonrpc\": \"2.0\", \"id\": 1, \"method\": ")
        } else {
            request.json(&call(1, "roll_dice", json!({"n_dice": 3})))
        };
        let answer = send(request).await;
        note(&tally, endpoint.name, kind, answer, status, |_| true);
    }
}

async fn oversize(client: Client, setup: Arc<Setup>, end: Instant, tally: Arc<Tally>) {
    let token = &setup.tokens.hostile;
    let mut ticker = interval(OVERSIZE_EVERY);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut round = 0usize;
    while Instant::now() < end {
        ticker.tick().await;
        round += 1;
        let endpoint = if round.is_multiple_of(2) {
            &setup.stateless
        } else {
            &setup.stateful
        };
        if round % 4 < 2 {
            match declared_oversize(endpoint, token).await {
                Ok(label) => tally.record(endpoint.name, &tally::OVERSIZE_DECLARED, &label),
                Err(failure) => tally.record_detail(
                    endpoint.name,
                    &tally::OVERSIZE_DECLARED,
                    &failure.label,
                    || failure.detail,
                ),
            }
        } else {
            let chunks = futures_util::stream::iter(
                (0..CHUNKS).map(|_| Ok::<_, std::io::Error>(vec![b' '; CHUNK_BYTES])),
            );
            let request = mcp_post(&client, &endpoint.url("/mcp"), token)
                .header("content-type", "application/json")
                .body(reqwest::Body::wrap_stream(chunks));
            let answer = send(request).await;
            note(
                &tally,
                endpoint.name,
                &tally::OVERSIZE_CHUNKED,
                answer,
                413,
                |_| true,
            );
        }
    }
}

/// A raw head declaring a 4 MiB body, none of which is sent; the label of the status line
/// that comes back.
async fn declared_oversize(endpoint: &Endpoint, token: &str) -> Result<String, Failure> {
    let io = |error: std::io::Error| Failure {
        label: "transport error".into(),
        detail: error_chain(&error),
    };
    let exchange = async {
        let mut stream = TcpStream::connect(&endpoint.addr)
            .await
            .map_err(|e| Failure {
                label: "connect error".into(),
                detail: error_chain(&e),
            })?;
        let head = format!(
            "POST /mcp HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {token}\r\n\
             Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\n\
             Content-Length: {DECLARED_BYTES}\r\n\r\n",
            endpoint.addr
        );
        stream.write_all(head.as_bytes()).await.map_err(io)?;
        let mut received = Vec::new();
        let mut buffer = [0u8; 4096];
        while !received.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = stream.read(&mut buffer).await.map_err(io)?;
            if n == 0 {
                break;
            }
            received.extend_from_slice(&buffer[..n]);
        }
        Ok(status_line_label(&received).unwrap_or_else(|| "closed without an answer".into()))
    };
    timeout(REQUEST_TIMEOUT, exchange)
        .await
        .unwrap_or_else(|_| {
            Err(Failure {
                label: "timeout".into(),
                detail: "no answer to an oversize head within the request timeout".into(),
            })
        })
}

/// `"413"` from `HTTP/1.1 413 Payload Too Large\r\n…`.
fn status_line_label(received: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(received);
    let code = text.strip_prefix("HTTP/1.1 ")?.get(..3)?;
    code.parse::<u16>().ok().map(|c| c.to_string())
}

/// What a slowloris connection holds back.
#[derive(Debug, Clone, Copy)]
enum Slow {
    /// Sends a request line, then one header line every half second, never the blank line.
    Head,
    /// Sends nothing at all.
    Silent,
    /// Sends a complete head declaring a small body, then a byte of it every half second.
    Body,
}

async fn slowloris(
    endpoint: Endpoint,
    variant: Slow,
    setup: Arc<Setup>,
    end: Instant,
    tally: Arc<Tally>,
) {
    let (kind, limit) = match variant {
        Slow::Head => (&tally::SLOW_HEAD, setup.header_read_timeout),
        Slow::Silent => (&tally::SLOW_SILENT, setup.header_read_timeout),
        Slow::Body => (&tally::SLOW_BODY, setup.request_timeout),
    };
    let token = &setup.tokens.hostile;
    while Instant::now() < end {
        let mut stream = match TcpStream::connect(&endpoint.addr).await {
            Ok(stream) => stream,
            Err(error) => {
                tally.record_detail(endpoint.name, kind, "connect error", || error_chain(&error));
                sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        let opened = Instant::now();
        let first = match variant {
            Slow::Head => format!("POST /mcp HTTP/1.1\r\nHost: {}\r\n", endpoint.addr),
            Slow::Silent => String::new(),
            Slow::Body => format!(
                "POST /mcp HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {token}\r\n\
                 Content-Type: application/json\r\n\
                 Accept: application/json, text/event-stream\r\nContent-Length: 100\r\n\r\n{{",
                endpoint.addr
            ),
        };
        let mut closed = stream.write_all(first.as_bytes()).await.is_err();
        let mut received = Vec::new();
        let mut buffer = [0u8; 1024];
        let give_up = opened + limit + SURVIVAL_MARGIN;
        let mut header = 0u32;
        while !closed {
            tokio::select! {
                read = stream.read(&mut buffer) => match read {
                    Ok(0) | Err(_) => closed = true,
                    Ok(n) => received.extend_from_slice(&buffer[..n]),
                },
                () = sleep(TRICKLE_EVERY) => {
                    if Instant::now() >= give_up {
                        break;
                    }
                    header += 1;
                    let trickle = match variant {
                        Slow::Head => format!("x-slow-{header}: a\r\n"),
                        Slow::Silent => continue,
                        Slow::Body => " ".to_owned(),
                    };
                    closed = stream.write_all(trickle.as_bytes()).await.is_err();
                }
                () = sleep_until(tokio::time::Instant::from_std(end)) => break,
            }
        }
        let held = opened.elapsed();
        if !closed {
            if Instant::now() >= give_up {
                tally.record_detail(endpoint.name, kind, "open past its timeout", || {
                    format!("still open after {held:?} (timeout {limit:?})")
                });
            }
            // Else the soak ended while it was open: not an outcome.
            continue;
        }
        let label = match status_line_label(&received) {
            Some(status) => status,
            None if held + CLOSE_SLACK < limit => "closed before its timeout".to_owned(),
            None if held <= limit + CLOSE_SLACK => "closed at its timeout".to_owned(),
            None => "closed late".to_owned(),
        };
        tally.record_detail(endpoint.name, kind, &label, || {
            format!(
                "after {held:?} (timeout {limit:?}); received {:?}",
                String::from_utf8_lossy(&received)
            )
        });
    }
}

async fn probe(client: Client, endpoint: Endpoint, end: Instant, tally: Arc<Tally>) {
    let url = endpoint.url("/healthz");
    let mut ticker = interval(PROBE_EVERY);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    while Instant::now() < end {
        ticker.tick().await;
        let started = Instant::now();
        let answer = send(client.get(&url)).await;
        let milliseconds = started.elapsed().as_secs_f64() * 1000.0;
        if note(&tally, endpoint.name, &tally::HEALTHZ, answer, 200, |_| {
            true
        })
        .is_some()
        {
            tally.probe_latency(endpoint.name, milliseconds);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_line_gives_the_code() {
        assert_eq!(
            status_line_label(b"HTTP/1.1 413 Payload Too Large\r\n\r\n").as_deref(),
            Some("413")
        );
        assert_eq!(status_line_label(b"garbage"), None);
    }

    #[test]
    fn endpoint_from_the_logged_url() {
        let endpoint = Endpoint::from_mcp_url("a", "http://127.0.0.1:4321/mcp");
        assert_eq!(endpoint.base, "http://127.0.0.1:4321");
        assert_eq!(endpoint.addr, "127.0.0.1:4321");
    }
}
