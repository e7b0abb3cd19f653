//! What the soak saw: every outcome of every kind of traffic, counted per server, with the
//! outcomes each kind is allowed to have; and the `/healthz` probe's latencies.

use std::{
    collections::BTreeMap,
    sync::{Mutex, PoisonError},
};

use serde_json::{Value, json};

/// One kind of traffic and the outcomes it may have. Any other outcome (a 5xx other than a
/// `503` with `Retry-After`, a timeout, a connection error, a status the kind must not get)
/// is unexpected and fails the soak.
#[derive(Debug)]
pub struct Kind {
    /// What the row is called in the report.
    pub name: &'static str,
    /// The outcome labels that are fine for this kind.
    pub expected: &'static [&'static str],
    /// Whether each outcome is one HTTP request or connection (else an observation, such as
    /// an answer arriving on a stream).
    pub is_request: bool,
}

impl Kind {
    const fn request(name: &'static str, expected: &'static [&'static str]) -> Self {
        Self {
            name,
            expected,
            is_request: true,
        }
    }

    /// Whether `label` is an allowed outcome of this kind.
    pub fn allows(&self, label: &str) -> bool {
        self.expected.contains(&label)
    }
}

/// A refusal that tells the client when to come back: fine under load.
const SHED: &str = "503 retry-after";
/// A session refused because its principal holds its quota: fine, with `Retry-After`.
const QUOTA: &str = "429 retry-after";

/// `POST /mcp` `tools/call roll_dice` on the stateless server.
pub const STATELESS_CALL: Kind = Kind::request("stateless tools/call", &["200", SHED]);
/// `initialize` opening a stateful session.
pub const SESSION_INITIALIZE: Kind = Kind::request("session initialize", &["200", SHED, QUOTA]);
/// `notifications/initialized` in a session.
pub const SESSION_INITIALIZED: Kind =
    Kind::request("session notifications/initialized", &["202", SHED]);
/// `tools/list` in a session.
pub const SESSION_LIST: Kind = Kind::request("session tools/list", &["200", SHED]);
/// `tools/call` in a session.
pub const SESSION_CALL: Kind = Kind::request("session tools/call", &["200", SHED]);
/// `DELETE /mcp` ending a session.
pub const SESSION_DELETE: Kind = Kind::request("session DELETE", &["204", SHED]);
/// A call naming a session that was just deleted.
pub const CALL_AFTER_DELETE: Kind = Kind::request("tools/call after DELETE", &["404", SHED]);
/// A session left open on purpose, for the server's idle expiry to close.
pub const SESSION_ABANDONED: Kind = Kind {
    name: "session left to expire (not a request)",
    expected: &["left open"],
    is_request: false,
};
/// `GET /sse` by a client that reads its stream.
pub const SSE_OPEN: Kind = Kind::request("/sse open (read)", &["200", SHED, QUOTA]);
/// `POST /messages/` by a client that reads its stream.
pub const SSE_POST: Kind = Kind::request("/messages/ post (read stream)", &["202", SHED]);
/// The answer to such a post arriving on the stream.
pub const SSE_ANSWER: Kind = Kind {
    name: "answer on the read stream (not a request)",
    expected: &["arrived"],
    is_request: false,
};
/// `GET /sse` by a client that never reads past the endpoint event.
pub const SSE_UNREAD_OPEN: Kind = Kind::request("/sse open (never read)", &["200", SHED, QUOTA]);
/// `POST /messages/` (a large `roll`) to a stream nobody reads.
pub const SSE_UNREAD_POST: Kind = Kind::request(
    "/messages/ post (never-read stream)",
    &["202", "429 retry-after", SHED],
);
/// `POST /messages/` naming no open session.
pub const SSE_UNKNOWN_SESSION: Kind = Kind::request("/messages/ unknown session", &["404", SHED]);
/// `POST /mcp` with a body that is not JSON.
pub const MALFORMED: Kind = Kind::request("malformed JSON body", &["400", SHED]);
/// No `Authorization` header.
pub const NO_TOKEN: Kind = Kind::request("bad token: none", &["401"]);
/// `Authorization: Basic …`.
pub const WRONG_SCHEME: Kind = Kind::request("bad token: Basic scheme", &["401"]);
/// A bearer value that is not a JWT.
pub const GARBAGE_TOKEN: Kind = Kind::request("bad token: garbage", &["401"]);
/// An unsigned JWT (`alg: none`).
pub const ALG_NONE_TOKEN: Kind = Kind::request("bad token: alg none", &["401"]);
/// A JWT signed by another key.
pub const WRONG_KEY_TOKEN: Kind = Kind::request("bad token: wrong signature", &["401"]);
/// A JWT from another issuer.
pub const WRONG_ISSUER_TOKEN: Kind = Kind::request("bad token: wrong issuer", &["401"]);
/// A JWT past its expiry (and the leeway).
pub const EXPIRED_TOKEN: Kind = Kind::request("bad token: expired", &["401"]);
/// A request head declaring a body over the limit (nothing of the body sent).
pub const OVERSIZE_DECLARED: Kind = Kind::request("oversize: Content-Length 4 MiB", &["413"]);
/// A chunked body over the limit.
pub const OVERSIZE_CHUNKED: Kind = Kind::request("oversize: chunked 1.06 MiB", &["413"]);
/// A connection trickling its request head one header every half second.
pub const SLOW_HEAD: Kind = Kind::request("slowloris: head trickled", &["closed at its timeout"]);
/// A connection that sends nothing.
pub const SLOW_SILENT: Kind = Kind::request("slowloris: nothing sent", &["closed at its timeout"]);
/// A complete head, then a body trickled a byte every half second.
pub const SLOW_BODY: Kind = Kind::request("slowloris: body trickled", &["408"]);
/// The concurrent `GET /healthz` probe.
pub const HEALTHZ: Kind = Kind::request("/healthz probe", &["200"]);

/// Outcome counts per server and kind, the first detail of each unexpected outcome, and the
/// probe latencies.
#[derive(Debug, Default)]
pub struct Tally {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// (server, kind) → label → count. Kinds are kept by reference to their constant.
    counts: BTreeMap<(&'static str, &'static str), Row>,
    /// (server, kind, label) → the first error message or body seen with it.
    details: BTreeMap<(&'static str, &'static str, String), String>,
    /// server → `/healthz` latencies in milliseconds.
    probe_ms: BTreeMap<&'static str, Vec<f64>>,
}

#[derive(Debug)]
struct Row {
    kind: &'static Kind,
    outcomes: BTreeMap<String, u64>,
}

/// One row of the report.
#[derive(Debug, Clone)]
pub struct Line {
    /// Which server.
    pub server: &'static str,
    /// Which kind.
    pub kind: &'static Kind,
    /// Label → count.
    pub outcomes: BTreeMap<String, u64>,
}

impl Line {
    /// How many outcomes in all.
    pub fn total(&self) -> u64 {
        self.outcomes.values().sum()
    }

    /// How many outcomes the kind does not allow.
    pub fn unexpected(&self) -> u64 {
        self.outcomes
            .iter()
            .filter(|(label, _)| !self.kind.allows(label))
            .map(|(_, n)| n)
            .sum()
    }
}

impl Tally {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // Counters have no invariant a panic half-way could break.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Counts one outcome.
    pub fn record(&self, server: &'static str, kind: &'static Kind, label: &str) {
        let mut inner = self.lock();
        let row = inner
            .counts
            .entry((server, kind.name))
            .or_insert_with(|| Row {
                kind,
                outcomes: BTreeMap::new(),
            });
        match row.outcomes.get_mut(label) {
            Some(count) => *count += 1,
            None => {
                row.outcomes.insert(label.to_owned(), 1);
            }
        }
    }

    /// Counts one outcome and, if the kind does not allow it and it is the first of its
    /// label, keeps `detail` (an error chain, a body) for the report.
    pub fn record_detail(
        &self,
        server: &'static str,
        kind: &'static Kind,
        label: &str,
        detail: impl FnOnce() -> String,
    ) {
        self.record(server, kind, label);
        if !kind.allows(label) {
            self.lock()
                .details
                .entry((server, kind.name, label.to_owned()))
                .or_insert_with(detail);
        }
    }

    /// Adds one `/healthz` latency.
    pub fn probe_latency(&self, server: &'static str, milliseconds: f64) {
        self.lock()
            .probe_ms
            .entry(server)
            .or_default()
            .push(milliseconds);
    }

    /// Every row, by server then kind name.
    pub fn lines(&self) -> Vec<Line> {
        self.lock()
            .counts
            .iter()
            .map(|(&(server, _), row)| Line {
                server,
                kind: row.kind,
                outcomes: row.outcomes.clone(),
            })
            .collect()
    }

    /// The first detail of each unexpected outcome: (server, kind, label, detail).
    pub fn details(&self) -> Vec<(String, String, String, String)> {
        self.lock()
            .details
            .iter()
            .map(|((server, kind, label), detail)| {
                (
                    (*server).to_owned(),
                    (*kind).to_owned(),
                    label.clone(),
                    detail.clone(),
                )
            })
            .collect()
    }

    /// `/healthz` latency percentiles of one server.
    pub fn probe(&self, server: &'static str) -> Percentiles {
        let mut samples = self
            .lock()
            .probe_ms
            .get(server)
            .cloned()
            .unwrap_or_default();
        samples.sort_by(f64::total_cmp);
        Percentiles::of(&samples)
    }
}

/// p50, p99 and max of some latencies, in milliseconds.
#[derive(Debug, Clone, Copy, Default)]
pub struct Percentiles {
    /// How many samples.
    pub count: usize,
    /// Median.
    pub p50: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Largest.
    pub max: f64,
}

impl Percentiles {
    /// Of sorted samples (nearest rank).
    fn of(sorted: &[f64]) -> Self {
        let rank = |q: f64| {
            let index = ((q * sorted.len() as f64).ceil() as usize).saturating_sub(1);
            sorted.get(index).copied().unwrap_or(0.0)
        };
        Self {
            count: sorted.len(),
            p50: rank(0.50),
            p99: rank(0.99),
            max: sorted.last().copied().unwrap_or(0.0),
        }
    }

    /// As JSON.
    pub fn to_json(self) -> Value {
        json!({"count": self.count, "p50_ms": self.p50, "p99_ms": self.p99, "max_ms": self.max})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles_of_one_to_hundred() {
        let samples: Vec<f64> = (1..=100).map(f64::from).collect();
        let p = Percentiles::of(&samples);
        assert_eq!((p.count, p.p50, p.p99, p.max), (100, 50.0, 99.0, 100.0));
    }

    #[test]
    fn an_outcome_the_kind_does_not_allow_is_unexpected_and_keeps_its_detail() {
        let tally = Tally::default();
        tally.record("a", &STATELESS_CALL, "200");
        tally.record_detail("a", &STATELESS_CALL, "500", || "boom".into());
        tally.record_detail("a", &STATELESS_CALL, "503 retry-after", || "shed".into());
        let lines = tally.lines();
        assert_eq!(lines.len(), 1);
        assert_eq!((lines[0].total(), lines[0].unexpected()), (3, 1));
        let details = tally.details();
        assert_eq!(details.len(), 1);
        assert_eq!(details[0].2, "500");
    }
}
