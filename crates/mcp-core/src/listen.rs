//! The serve loop (behind [`McpServer::serve`](crate::McpServer::serve)): accepts TCP connections and runs HTTP/1.1 and HTTP/2 on them
//! with hyper-util under [`ConnectionLimits`], then shuts down within a bounded time.
//!
//! Written here because `axum::serve` runs hyper without a timer (so hyper's header-read
//! timeout is silently off), has no cap on connections, no idle timeout and no HTTP/2
//! settings, and its graceful shutdown waits for every connection forever. hyper-util has
//! the per-connection builder this uses, not an accept loop with those bounds.

use std::{
    convert::Infallible,
    future::Future,
    net::SocketAddr,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    task::{Context, Poll},
    time::{Duration, Instant},
};

use axum::{
    Router,
    body::{Body, Bytes},
    extract::ConnectInfo,
    http::{HeaderValue, Request, Response, Version, header},
};
use hyper::body::Incoming;
use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    server::conn::auto,
};
use tokio::{
    net::{TcpListener, TcpStream},
    sync::{OwnedSemaphorePermit, Semaphore},
    task::JoinSet,
};
use tokio_util::sync::CancellationToken;
use tower::Service;
use tower_http::normalize_path::NormalizePath;

use crate::{
    Error,
    idle::{IdleClock, quiet_for},
};

/// Default cap on open connections.
pub const DEFAULT_MAX_CONNECTIONS: usize = 10_000;
/// Default time a client has to send a request's headers. On HTTP/1.1 it also bounds how
/// long a kept-alive connection may wait for its next request.
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Default time a connection with nothing in flight is kept open.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Default largest request head (request line and headers, HTTP/1.1) or header list
/// (HTTP/2); larger ones get `431`.
pub const DEFAULT_MAX_HEADER_BYTES: usize = 32 * 1024;
/// Default most concurrent HTTP/2 streams per connection.
pub const DEFAULT_H2_MAX_STREAMS: u32 = 16;
/// Default interval of HTTP/2 keep-alive pings; a ping unanswered as long closes the
/// connection.
pub const DEFAULT_H2_KEEP_ALIVE: Duration = Duration::from_secs(20);

/// hyper refuses read buffers smaller than this (it asserts), so smaller header limits
/// are raised to it.
const MIN_READ_BUFFER: usize = 8 * 1024;
/// Most header fields in one HTTP/1.1 request.
const MAX_HEADERS: usize = 64;
/// HTTP/2 flow-control windows and the per-stream send buffer: what one client can make
/// the server hold per stream and per connection.
const H2_STREAM_WINDOW: u32 = 256 * 1024;
const H2_CONNECTION_WINDOW: u32 = 1024 * 1024;
const H2_SEND_BUFFER: usize = 128 * 1024;
/// After the shutdown signal, how long connections keep reading before they are told to
/// close: a request already on the wire when the signal came is read and answered
/// (`Connection: close`) instead of being cut off with the idle connection carrying it.
const DRAIN_SETTLE: Duration = Duration::from_millis(250);
/// After the grace period, how long cancelled streams get to write their last bytes
/// before every remaining connection is dropped.
const FINAL_CLOSE: Duration = Duration::from_millis(500);
/// Connections beyond the cap that are told why (the `503` and a lingering close) at once;
/// beyond these too, a connection is closed without an answer.
pub const OVERFLOW_ANSWERS: usize = 32;
/// How long a refused connection is given to send its request and read the `503`: closing
/// a socket with unread input sends a reset, which makes clients drop the answer.
const LINGER: Duration = Duration::from_millis(500);
/// What a connection beyond the cap is told before it is closed.
const OVER_CAPACITY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nretry-after: 1\r\n\
connection: close\r\ncontent-type: text/plain\r\ncontent-length: 62\r\n\r\n\
Service Unavailable: too many open connections; retry shortly\n";

/// Bounds on what one TCP connection can hold and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Most connections open at once. Beyond it a new connection is answered `503` with
    /// `Retry-After` and closed at once; the open ones keep being served.
    pub max_connections: usize,
    /// Time to receive a request's headers (slowloris bound). On HTTP/1.1 it also closes
    /// a kept-alive connection that sends no next request for as long.
    pub header_read_timeout: Duration,
    /// A connection (HTTP/1.1 or HTTP/2) with no request in flight and no response
    /// streaming for this long is closed.
    pub idle_timeout: Duration,
    /// Largest request head; larger ones get `431`.
    pub max_header_bytes: usize,
    /// Most concurrent streams one HTTP/2 connection may open.
    pub h2_max_concurrent_streams: u32,
    /// Interval of HTTP/2 keep-alive pings (and how long an answer may take).
    pub h2_keep_alive: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            max_connections: DEFAULT_MAX_CONNECTIONS,
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            max_header_bytes: DEFAULT_MAX_HEADER_BYTES,
            h2_max_concurrent_streams: DEFAULT_H2_MAX_STREAMS,
            h2_keep_alive: DEFAULT_H2_KEEP_ALIVE,
        }
    }
}

impl ConnectionLimits {
    pub(crate) fn validate(&self) -> Result<(), Error> {
        let invalid = |what: &str| Err(Error::InvalidConfig(what.to_owned()));
        if self.max_connections == 0 {
            return invalid("the connection cap must be at least 1");
        }
        if self.header_read_timeout.is_zero() || self.idle_timeout.is_zero() {
            return invalid("the header-read and idle timeouts must be longer than zero");
        }
        if self.h2_keep_alive.is_zero() {
            return invalid("the HTTP/2 keep-alive interval must be longer than zero");
        }
        if self.h2_max_concurrent_streams == 0 {
            return invalid("HTTP/2 connections must allow at least one stream");
        }
        if self.max_header_bytes < 1024 {
            return invalid("the header size limit must be at least 1024 bytes");
        }
        Ok(())
    }
}

/// hyper's connection builder with every bound of `limits` set.
fn http_builder(limits: &ConnectionLimits) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(limits.max_header_bytes.max(MIN_READ_BUFFER))
        .max_headers(MAX_HEADERS);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(limits.h2_max_concurrent_streams)
        .max_header_list_size(u32::try_from(limits.max_header_bytes).unwrap_or(u32::MAX))
        .keep_alive_interval(limits.h2_keep_alive)
        .keep_alive_timeout(limits.h2_keep_alive)
        .initial_stream_window_size(H2_STREAM_WINDOW)
        .initial_connection_window_size(H2_CONNECTION_WINDOW)
        .max_send_buf_size(H2_SEND_BUFFER);
    builder
}

/// Serves `app` on `listener` until `signal` resolves (or `cancellation` is cancelled),
/// then shuts down:
///
/// 1. stops accepting; responses from then on say `Connection: close`;
/// 2. after a short settle (so requests already on the wire are read and answered), tells
///    every connection to close: idle ones close at once, busy ones after their current
///    request (HTTP/2: `GOAWAY`);
/// 3. `grace` after the signal, cancels `cancellation` (every session and
///    stream, and half a second later drops whatever connection is still open, half-sent
///    requests included.
///
/// It therefore returns within the grace period plus one second, whatever clients do.
///
/// A path with a trailing slash is answered as the path without it (`/mcp/` as `/mcp`):
/// tower-http's `NormalizePath` rewrites it before routing, with no redirect.
pub(crate) async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnectionLimits,
    grace: Duration,
    cancellation: CancellationToken,
    signal: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    let builder = Arc::new(http_builder(&limits));
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let overflow = Arc::new(Semaphore::new(OVERFLOW_ANSWERS));
    let phases = Arc::new(Phases::default());
    let mut connections = JoinSet::new();
    let mut was_full = false;
    tokio::pin!(signal);
    loop {
        tokio::select! {
            () = &mut signal => break,
            () = cancellation.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((tcp, peer)) => {
                    let Ok(permit) = Arc::clone(&slots).try_acquire_owned() else {
                        if !was_full {
                            tracing::warn!(
                                max = limits.max_connections,
                                "connection cap reached: refusing new connections with 503"
                            );
                        }
                        was_full = true;
                        if let Ok(permit) = Arc::clone(&overflow).try_acquire_owned() {
                            metrics::counter!("mcp_http_connections_refused_total").increment(1);
                            tokio::spawn(refuse_over_capacity(tcp, permit));
                        }
                        continue;
                    };
                    was_full = false;
                    // Replies are written in several small pieces (headers, then SSE
                    // events): without TCP_NODELAY, Nagle's algorithm and delayed ACKs add
                    // ~40 ms to each.
                    if let Err(error) = tcp.set_nodelay(true) {
                        tracing::debug!(%error, "could not set TCP_NODELAY");
                    }
                    connections.spawn(serve_connection(
                        Arc::clone(&builder),
                        tcp,
                        peer,
                        app.clone(),
                        Arc::clone(&phases),
                        limits,
                        permit,
                    ));
                }
                Err(error) => {
                    if !is_per_connection_error(&error) {
                        // Out of file descriptors, most likely: back off instead of spinning.
                        tracing::error!(%error, "could not accept a connection; retrying in 200 ms");
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    let started = Instant::now();
    tracing::info!(
        open_connections = connections.len(),
        grace_secs = grace.as_secs_f32(),
        "shutting down: no new connections, draining requests"
    );
    phases.draining.store(true, Ordering::Release);
    wait_until(&mut connections, started + DRAIN_SETTLE.min(grace)).await;
    phases.closing.cancel();
    let drained = wait_until(&mut connections, started + grace).await;
    // Sessions and streams (SSE) end now; their connections get a moment to say so.
    cancellation.cancel();
    if !drained {
        wait_until(&mut connections, Instant::now() + FINAL_CLOSE).await;
    }
    let forced = connections.len();
    connections.shutdown().await;
    if forced > 0 {
        tracing::info!(
            forced,
            "closed connections still open after the grace period"
        );
    }
    tracing::info!(elapsed_ms = started.elapsed().as_millis(), "server stopped");
    Ok(())
}

/// Waits until every connection task has ended or `deadline` passes; says whether all ended.
async fn wait_until(connections: &mut JoinSet<()>, deadline: Instant) -> bool {
    let sleep = tokio::time::sleep_until(deadline.into());
    tokio::pin!(sleep);
    while !connections.is_empty() {
        tokio::select! {
            _ = connections.join_next() => {}
            () = &mut sleep => return connections.is_empty(),
        }
    }
    true
}

/// Errors of one incoming connection, after which accepting the next works at once.
fn is_per_connection_error(error: &std::io::Error) -> bool {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    matches!(
        error.kind(),
        ConnectionRefused | ConnectionAborted | ConnectionReset
    )
}

/// Tells a connection beyond the cap why, and closes it: the `503`, then a lingering close
/// (the request the client sends meanwhile is read and dropped) so the answer is not lost
/// to a reset. Bounded by [`LINGER`] and, in number, by [`OVERFLOW_ANSWERS`].
async fn refuse_over_capacity(mut tcp: TcpStream, _permit: OwnedSemaphorePermit) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let _ = tokio::time::timeout(LINGER, async {
        tcp.write_all(OVER_CAPACITY).await?;
        tcp.shutdown().await?;
        let mut sink = [0u8; 1024];
        while tcp.read(&mut sink).await? > 0 {}
        Ok::<_, std::io::Error>(())
    })
    .await;
}

/// The shutdown phases every connection watches.
#[derive(Debug, Default)]
struct Phases {
    /// Set at the signal: HTTP/1 responses say `Connection: close`.
    draining: AtomicBool,
    /// Cancelled after the settle: connections shut down gracefully.
    closing: CancellationToken,
}

/// One open connection in the `mcp_http_open_connections` gauge, for as long as it lives.
struct OpenConnection;

impl OpenConnection {
    fn count() -> Self {
        metrics::gauge!("mcp_http_open_connections").increment(1.0);
        Self
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        metrics::gauge!("mcp_http_open_connections").decrement(1.0);
    }
}

/// Runs one connection until it ends, is idle too long, or the server closes it.
async fn serve_connection(
    builder: Arc<auto::Builder<TokioExecutor>>,
    tcp: TcpStream,
    peer: SocketAddr,
    app: Router,
    phases: Arc<Phases>,
    limits: ConnectionLimits,
    _permit: OwnedSemaphorePermit,
) {
    let _open = OpenConnection::count();
    // hyper-util reads a connection's first bytes (to tell HTTP/1.1 from HTTP/2) before
    // hyper's header timer exists, so a client that sends nothing would wait there until
    // the idle timeout: the header-read timeout bounds that wait too.
    let mut first_byte = [0u8; 1];
    if tokio::time::timeout(limits.header_read_timeout, tcp.peek(&mut first_byte))
        .await
        .is_err()
    {
        tracing::debug!("closed a connection that sent nothing");
        return;
    }
    let idle_timeout = limits.idle_timeout;
    let activity = Arc::new(Activity::new());
    let service = hyper::service::service_fn({
        let activity = Arc::clone(&activity);
        let phases = Arc::clone(&phases);
        move |request: Request<Incoming>| {
            let guard = activity.begin();
            let version = request.version();
            let mut app = NormalizePath::trim_trailing_slash(app.clone());
            let mut request = request.map(Body::new);
            // As `axum::serve` does: handlers and layers can ask who is connected.
            request.extensions_mut().insert(ConnectInfo(peer));
            let response = app.call(request);
            let phases = Arc::clone(&phases);
            async move {
                let response = match response.await {
                    Ok(response) => response,
                    Err(never) => match never {},
                };
                let (mut parts, body) = response.into_parts();
                if version <= Version::HTTP_11 && phases.draining.load(Ordering::Acquire) {
                    parts
                        .headers
                        .insert(header::CONNECTION, HeaderValue::from_static("close"));
                }
                Ok::<_, Infallible>(Response::from_parts(
                    parts,
                    TrackedBody {
                        body,
                        _guard: guard,
                    },
                ))
            }
        }
    });
    let connection = builder.serve_connection(TokioIo::new(tcp), service);
    tokio::pin!(connection);
    let idle = quiet_for(idle_timeout, || activity.idle_for());
    tokio::pin!(idle);
    let mut closing = false;
    loop {
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(error) = result {
                    tracing::debug!(%error, "connection ended with an error");
                }
                return;
            }
            () = phases.closing.cancelled(), if !closing => {
                closing = true;
                connection.as_mut().graceful_shutdown();
            }
            () = &mut idle, if !closing => {
                tracing::debug!("closing a connection idle for {idle_timeout:?}");
                closing = true;
                connection.as_mut().graceful_shutdown();
            }
        }
    }
}

/// What one connection has in flight: requests being handled plus response bodies still
/// streaming, and since when it has had none.
#[derive(Debug)]
struct Activity {
    in_flight: AtomicUsize,
    /// Touched whenever `in_flight` drops to zero.
    last_done: IdleClock,
}

impl Activity {
    fn new() -> Self {
        Self {
            in_flight: AtomicUsize::new(0),
            last_done: IdleClock::start(),
        }
    }

    fn begin(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        InFlight(Arc::clone(self))
    }

    fn idle_for(&self) -> Duration {
        if self.in_flight.load(Ordering::Acquire) > 0 {
            return Duration::ZERO;
        }
        self.last_done.since_touch()
    }
}

/// One request or streaming response in flight on a connection.
#[derive(Debug)]
struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.last_done.touch();
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A response body that keeps its request counted as in flight until it is done or dropped.
struct TrackedBody {
    body: Body,
    _guard: InFlight,
}

impl http_body::Body for TrackedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idle_time_counts_only_while_nothing_is_in_flight() {
        let activity = Arc::new(Activity::new());
        let guard = activity.begin();
        std::thread::sleep(Duration::from_millis(30));
        assert_eq!(activity.idle_for(), Duration::ZERO, "busy is never idle");
        drop(guard);
        assert!(activity.idle_for() < Duration::from_millis(20));
        std::thread::sleep(Duration::from_millis(30));
        assert!(activity.idle_for() >= Duration::from_millis(30));
    }

    #[test]
    fn limits_that_would_wedge_the_server_are_refused() {
        assert!(ConnectionLimits::default().validate().is_ok());
        for broken in [
            ConnectionLimits {
                max_connections: 0,
                ..ConnectionLimits::default()
            },
            ConnectionLimits {
                header_read_timeout: Duration::ZERO,
                ..ConnectionLimits::default()
            },
            ConnectionLimits {
                max_header_bytes: 10,
                ..ConnectionLimits::default()
            },
            ConnectionLimits {
                h2_max_concurrent_streams: 0,
                ..ConnectionLimits::default()
            },
        ] {
            assert!(broken.validate().is_err(), "{broken:?}");
        }
    }

    #[test]
    fn the_over_capacity_answer_has_the_length_it_declares() {
        let text = std::str::from_utf8(OVER_CAPACITY).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.contains(&format!("content-length: {}", body.len())));
    }
}
