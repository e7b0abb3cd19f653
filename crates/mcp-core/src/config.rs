//! [`HttpConfig`] and its builder: the settings of MCP over HTTP, as plain data. The live
//! state they bound (sessions, cancellation) belongs to [`McpServer`](crate::McpServer).

use std::time::Duration;

use crate::{Error, listen::ConnectionLimits};

/// Default request body limit: 1 MiB.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;
/// Default cap on concurrent sessions (stateful `/mcp` and `/sse` together).
pub const DEFAULT_MAX_SESSIONS: usize = 1_000;
/// Default most sessions one principal may hold open at once.
pub const DEFAULT_MAX_SESSIONS_PER_PRINCIPAL: usize = 100;
/// Default idle time after which a stateful session is dropped.
pub const DEFAULT_SESSION_IDLE: Duration = Duration::from_secs(300);
/// Default interval between SSE keep-alive comments.
pub const DEFAULT_SSE_KEEP_ALIVE: Duration = Duration::from_secs(15);
/// Default time in-flight requests get to finish after a shutdown signal.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Default time a request may take from its first byte to its response head (bodies are
/// read within it; streams, once started, are not bounded by it).
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Default most MCP requests handled at once; more are shed with `503`.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 1024;

/// Bounds on MCP requests, across every connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestLimits {
    /// Longest a request may take to be read and answered (its response head); beyond it
    /// the client gets `408`. A response that streams (SSE) is not cut once it started.
    pub timeout: Duration,
    /// Most MCP requests in the handler at once; beyond it new ones get `503` with
    /// `Retry-After` at once, never a queue.
    pub max_in_flight: usize,
    /// Requests each [`Principal`](crate::Principal) (or, for requests without one, each
    /// client IP address) may make; beyond it `429` with `Retry-After`. `None`: no limit.
    pub rate: Option<RateLimit>,
}

/// A rate: at most `requests` per `per`, in bursts of up to `requests`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Requests allowed in each period (and the largest burst).
    pub requests: std::num::NonZeroU32,
    /// The period.
    pub per: Duration,
}

impl Default for RequestLimits {
    fn default() -> Self {
        Self {
            timeout: DEFAULT_REQUEST_TIMEOUT,
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
            rate: None,
        }
    }
}

/// How `/mcp` keeps (or does not keep) client state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SessionMode {
    /// Sessions via `Mcp-Session-Id`: `initialize` opens one, `DELETE` closes it, a
    /// standalone `GET` stream carries server notifications. Bounded by [`SessionLimits`].
    #[default]
    Stateful,
    /// No sessions: every POST is answered on its own, as JSON. What OpenAI's client needs,
    /// since it deletes its session and then keeps calling tools.
    Stateless,
}

/// Which MCP transports the router serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Transports {
    /// Streamable HTTP at `/mcp` only.
    StreamableHttp,
    /// The legacy 2024-11-05 HTTP+SSE transport at `/sse` + `/messages/` only.
    Sse,
    /// Both, side by side.
    #[default]
    Both,
}

impl Transports {
    /// Whether `/mcp` is served.
    pub fn streamable_http(self) -> bool {
        matches!(self, Self::StreamableHttp | Self::Both)
    }

    /// Whether `/sse` and `/messages/` are served.
    pub fn sse(self) -> bool {
        matches!(self, Self::Sse | Self::Both)
    }
}

/// Bounds on sessions: stateful `/mcp` sessions and `/sse` streams share one cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionLimits {
    /// Most sessions open at once; a new one beyond it gets `503`.
    pub max_sessions: usize,
    /// Most sessions one [`Principal`](crate::Principal) may hold open at once, so one
    /// client cannot take the whole cap; beyond it its new ones get `429`. Requests that
    /// carry no principal are bounded by `max_sessions` alone.
    pub max_per_principal: usize,
    /// A stateful `/mcp` session unused for this long is closed, and so is an `/sse`
    /// session (with its stream) whose client has posted nothing for as long.
    pub idle_timeout: Duration,
    /// A stateful `/mcp` session with nothing in flight and no stream open for this long
    /// *rests*: its worker, its handler and their channels (about 60 KiB) are dropped, and
    /// only what rmcp needs to restore it is kept (the `initialize` parameters and the
    /// owner, in the session store, or in memory without one; about 1 KiB). Its next
    /// request restores it first, as another replica would, with a new handler from the
    /// factory: so leave this `None` (the default) if your handler keeps state per session.
    /// A resting session still counts against `max_sessions` and still ends after
    /// `idle_timeout` unused. Ignored when not shorter than `idle_timeout`.
    pub rest_after: Option<Duration>,
}

impl Default for SessionLimits {
    fn default() -> Self {
        Self {
            max_sessions: DEFAULT_MAX_SESSIONS,
            max_per_principal: DEFAULT_MAX_SESSIONS_PER_PRINCIPAL,
            idle_timeout: DEFAULT_SESSION_IDLE,
            rest_after: None,
        }
    }
}

/// Every setting of MCP over HTTP, as plain data: what is served, and the bounds on it.
/// Build it with [`HttpConfig::builder`]; an [`McpServer`](crate::McpServer) made from it
/// holds the state (open sessions, cancellation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpConfig {
    pub(crate) session_mode: SessionMode,
    pub(crate) transports: Transports,
    pub(crate) limits: SessionLimits,
    pub(crate) allowed_hosts: Vec<String>,
    pub(crate) allowed_origins: Vec<String>,
    pub(crate) max_body_bytes: usize,
    pub(crate) connections: ConnectionLimits,
    pub(crate) requests: RequestLimits,
    pub(crate) sse_keep_alive: Option<Duration>,
    pub(crate) sse_session_redirect: bool,
    pub(crate) direct_dispatch: bool,
    pub(crate) shutdown_grace: Duration,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfigBuilder::default().build_unchecked()
    }
}

impl HttpConfig {
    /// Starts a builder with the defaults: stateful `/mcp` and `/sse` both served, loopback
    /// hosts only, 1 MiB bodies, 1000 sessions.
    ///
    /// ```
    /// use mcp_core::{HttpConfig, SessionMode};
    /// let config = HttpConfig::builder()
    ///     .session_mode(SessionMode::Stateless)
    ///     .allowed_host("example.ngrok.app")
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(config.session_mode(), SessionMode::Stateless);
    /// assert!(config.allowed_hosts().iter().any(|h| h == "example.ngrok.app"));
    /// ```
    pub fn builder() -> HttpConfigBuilder {
        HttpConfigBuilder::default()
    }

    /// Whether `/mcp` keeps sessions.
    pub fn session_mode(&self) -> SessionMode {
        self.session_mode
    }

    /// Which transports are served.
    pub fn transports(&self) -> Transports {
        self.transports
    }

    /// The session bounds.
    pub fn session_limits(&self) -> SessionLimits {
        self.limits
    }

    /// Hosts (`host` or `host:port`) accepted in the `Host` header.
    pub fn allowed_hosts(&self) -> &[String] {
        &self.allowed_hosts
    }

    /// Browser origins accepted in the `Origin` header (requests without one always pass).
    pub fn allowed_origins(&self) -> &[String] {
        &self.allowed_origins
    }

    /// Largest request body accepted, in bytes.
    pub fn max_body_bytes(&self) -> usize {
        self.max_body_bytes
    }

    /// The bounds on connections.
    pub fn connection_limits(&self) -> ConnectionLimits {
        self.connections
    }

    /// The bounds on requests.
    pub fn request_limits(&self) -> RequestLimits {
        self.requests
    }

    /// How long in-flight requests may run after a shutdown signal before streams are cut.
    pub fn shutdown_grace(&self) -> Duration {
        self.shutdown_grace
    }

    /// Interval of SSE keep-alive comments, if any.
    pub fn sse_keep_alive(&self) -> Option<Duration> {
        self.sse_keep_alive
    }

    /// Whether `GET /sse` is redirected to a URL naming its session; see
    /// [`HttpConfigBuilder::sse_session_redirect`].
    pub fn sse_session_redirect(&self) -> bool {
        self.sse_session_redirect
    }

    /// Whether stateless requests rmcp would answer with one JSON message are handed to the
    /// handler directly; see [`HttpConfigBuilder::direct_dispatch`].
    pub fn direct_dispatch(&self) -> bool {
        self.direct_dispatch
    }
}

/// Builder for [`HttpConfig`].
#[derive(Debug, Clone)]
pub struct HttpConfigBuilder {
    session_mode: SessionMode,
    transports: Transports,
    limits: SessionLimits,
    extra_hosts: Vec<String>,
    max_body_bytes: usize,
    connections: ConnectionLimits,
    requests: RequestLimits,
    sse_keep_alive: Option<Duration>,
    sse_session_redirect: bool,
    direct_dispatch: bool,
    shutdown_grace: Duration,
}

impl Default for HttpConfigBuilder {
    fn default() -> Self {
        Self {
            session_mode: SessionMode::default(),
            transports: Transports::default(),
            limits: SessionLimits::default(),
            extra_hosts: Vec::new(),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            connections: ConnectionLimits::default(),
            requests: RequestLimits::default(),
            sse_keep_alive: Some(DEFAULT_SSE_KEEP_ALIVE),
            sse_session_redirect: false,
            direct_dispatch: true,
            shutdown_grace: DEFAULT_SHUTDOWN_GRACE,
        }
    }
}

/// Hosts always accepted: the loopback names a local client uses.
const LOOPBACK_HOSTS: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

impl HttpConfigBuilder {
    /// Sets whether `/mcp` keeps sessions.
    pub fn session_mode(mut self, mode: SessionMode) -> Self {
        self.session_mode = mode;
        self
    }

    /// Sets which transports are served.
    pub fn transports(mut self, transports: Transports) -> Self {
        self.transports = transports;
        self
    }

    /// Sets the session cap and idle timeout.
    pub fn session_limits(mut self, limits: SessionLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Accepts one more `Host` (e.g. the public tunnel's host), besides loopback. Browser
    /// requests from `https://HOST` and `http://HOST` are accepted too.
    pub fn allowed_host(mut self, host: impl Into<String>) -> Self {
        self.extra_hosts.push(host.into());
        self
    }

    /// Accepts several more hosts; see [`Self::allowed_host`].
    pub fn allowed_hosts(mut self, hosts: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.extra_hosts.extend(hosts.into_iter().map(Into::into));
        self
    }

    /// Largest request body accepted; larger ones get `413`.
    pub fn max_body_bytes(mut self, bytes: usize) -> Self {
        self.max_body_bytes = bytes;
        self
    }

    /// Sets the bounds on connections (cap, timeouts, header size, HTTP/2 settings).
    pub fn connection_limits(mut self, limits: ConnectionLimits) -> Self {
        self.connections = limits;
        self
    }

    /// Sets the bounds on requests (timeout, in-flight cap).
    pub fn request_limits(mut self, limits: RequestLimits) -> Self {
        self.requests = limits;
        self
    }

    /// Interval of SSE keep-alive comments; `None` turns them off.
    pub fn sse_keep_alive(mut self, interval: Option<Duration>) -> Self {
        self.sse_keep_alive = interval;
        self
    }

    /// Behind a load balancer that hashes on `session_id` (several replicas serving the
    /// legacy transport): `GET /sse` without a `session_id` is answered `307` to
    /// `/sse?session_id=NEW`, and `GET /sse?session_id=ID` opens the stream under that id.
    /// The stream and every `POST /messages/?session_id=ID` for it then carry the same
    /// `session_id`, so the balancer sends them to the one replica holding the stream. Off
    /// by default: one replica needs no extra round trip. The id must look like the ones
    /// the server makes (32 lowercase hex digits) and not be open already.
    pub fn sse_session_redirect(mut self, redirect: bool) -> Self {
        self.sse_session_redirect = redirect;
        self
    }

    /// Stateless only: hand a request straight to the handler (`Service::handle_request`,
    /// rmcp's own dispatch and model types) when its answer is one JSON message, instead of
    /// building rmcp's per-request service, transport and task. That is a `tools/call`,
    /// `tools/list` or other request on a revision before 2026-07-28 (an
    /// `MCP-Protocol-Version` header naming one, or none) with no `_meta` (so no progress
    /// token: the handler has nothing to stream) and no SEP-2243 `Mcp-*` headers, sent with
    /// plain `Accept` and `Content-Type` headers. Everything else (`initialize`,
    /// `server/discover`, notifications, per-request `_meta`, anything rmcp refuses) goes
    /// through rmcp's stateless service as before, so the answers are rmcp's either way.
    ///
    /// On by default. A handler served directly that sends a notification or a request to
    /// the client through `context.peer` anyway (none was asked for) has it dropped with a
    /// warning; turn this off for such a handler. A handler that panics is answered with a
    /// JSON-RPC internal error (`-32603`) at once, where rmcp's path waits for the request
    /// timeout.
    pub fn direct_dispatch(mut self, direct: bool) -> Self {
        self.direct_dispatch = direct;
        self
    }

    /// Time in-flight requests get to finish after a shutdown signal.
    pub fn shutdown_grace(mut self, grace: Duration) -> Self {
        self.shutdown_grace = grace;
        self
    }

    /// Checks the settings and builds the config.
    pub fn build(self) -> Result<HttpConfig, Error> {
        if self.max_body_bytes == 0 {
            return Err(Error::InvalidConfig(
                "the request body limit must be at least 1 byte".into(),
            ));
        }
        if self.limits.max_sessions == 0 || self.limits.max_per_principal == 0 {
            return Err(Error::InvalidConfig(
                "the session cap and the per-principal session quota must be at least 1".into(),
            ));
        }
        if self.limits.idle_timeout.is_zero() {
            return Err(Error::InvalidConfig(
                "the session idle timeout must be longer than zero".into(),
            ));
        }
        if self.limits.rest_after.is_some_and(|rest| rest.is_zero()) {
            return Err(Error::InvalidConfig(
                "a session's rest period must be longer than zero (None never rests one)".into(),
            ));
        }
        self.connections.validate()?;
        if self.requests.rate.is_some_and(|rate| rate.per.is_zero()) {
            return Err(Error::InvalidConfig(
                "a rate limit's period must be longer than zero".into(),
            ));
        }
        if self.requests.timeout.is_zero() || self.requests.max_in_flight == 0 {
            return Err(Error::InvalidConfig(
                "the request timeout and in-flight cap must be above zero".into(),
            ));
        }
        for host in &self.extra_hosts {
            let valid = !host.is_empty()
                && host.len() <= 253
                && host
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'));
            if !valid {
                return Err(Error::InvalidConfig(format!(
                    "allowed host {host:?} is not a host name or host:port (e.g. example.ngrok.app)"
                )));
            }
        }
        Ok(self.build_unchecked())
    }

    fn build_unchecked(self) -> HttpConfig {
        let mut allowed_hosts: Vec<String> = LOOPBACK_HOSTS
            .iter()
            .map(|host| (*host).to_owned())
            .collect();
        let mut allowed_origins = Vec::new();
        for host in LOOPBACK_HOSTS {
            let host = if host.contains(':') {
                format!("[{host}]")
            } else {
                host.to_owned()
            };
            allowed_origins.push(format!("http://{host}:*"));
            allowed_origins.push(format!("https://{host}:*"));
        }
        for host in self.extra_hosts {
            let lowered = host.to_ascii_lowercase();
            let origin_host = if lowered.contains(':') {
                lowered.clone()
            } else {
                format!("{lowered}:*")
            };
            allowed_origins.push(format!("https://{origin_host}"));
            allowed_origins.push(format!("http://{origin_host}"));
            if !allowed_hosts.contains(&lowered) {
                allowed_hosts.push(lowered);
            }
        }
        HttpConfig {
            session_mode: self.session_mode,
            transports: self.transports,
            limits: self.limits,
            allowed_hosts,
            allowed_origins,
            max_body_bytes: self.max_body_bytes,
            connections: self.connections,
            requests: self.requests,
            sse_keep_alive: self.sse_keep_alive,
            sse_session_redirect: self.sse_session_redirect,
            direct_dispatch: self.direct_dispatch,
            shutdown_grace: self.shutdown_grace,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_stateful_loopback_and_one_mebibyte() {
        let config = HttpConfig::default();
        assert_eq!(config.session_mode(), SessionMode::Stateful);
        assert_eq!(config.transports(), Transports::Both);
        assert_eq!(config.session_limits().max_sessions, 1000);
        assert_eq!(config.allowed_hosts(), ["localhost", "127.0.0.1", "::1"]);
        assert_eq!(config.max_body_bytes(), 1024 * 1024);
        assert!(
            config
                .allowed_origins()
                .iter()
                .any(|o| o == "http://localhost:*")
        );
    }

    #[test]
    fn extra_hosts_are_lowercased_and_allowed_as_origins() {
        let config = HttpConfig::builder()
            .allowed_host("Abc.NGROK.app")
            .build()
            .unwrap();
        assert!(config.allowed_hosts().iter().any(|h| h == "abc.ngrok.app"));
        assert!(
            config
                .allowed_origins()
                .iter()
                .any(|o| o == "https://abc.ngrok.app:*")
        );
    }

    #[test]
    fn nonsense_settings_are_refused() {
        assert!(HttpConfig::builder().max_body_bytes(0).build().is_err());
        assert!(HttpConfig::builder().allowed_host("").build().is_err());
        assert!(HttpConfig::builder().allowed_host("a b").build().is_err());
        assert!(
            HttpConfig::builder()
                .allowed_host("https://x.io")
                .build()
                .is_err()
        );
        let no_sessions = SessionLimits {
            max_sessions: 0,
            ..SessionLimits::default()
        };
        assert!(
            HttpConfig::builder()
                .session_limits(no_sessions)
                .build()
                .is_err()
        );
        let no_idle = SessionLimits {
            idle_timeout: Duration::ZERO,
            ..SessionLimits::default()
        };
        assert!(
            HttpConfig::builder()
                .session_limits(no_idle)
                .build()
                .is_err()
        );
        let no_rest = SessionLimits {
            rest_after: Some(Duration::ZERO),
            ..SessionLimits::default()
        };
        assert!(
            HttpConfig::builder()
                .session_limits(no_rest)
                .build()
                .is_err()
        );
    }
}
