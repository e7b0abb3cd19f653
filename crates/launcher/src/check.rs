//! `dice-mcp check`: a preflight that talks to a server the way OpenAI's client does, and
//! says, step by step, whether OpenAI will be able to use it.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use reqwest::{Client, Response, StatusCode, header};
use serde::Serialize;
use serde_json::{Value, json};

use crate::{cli::CheckArgs, sse_client::SseStream};

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

/// Schema keywords outside what OpenAI's tool import reliably accepts.
const UNSUPPORTED_KEYWORDS: [&str; 11] = [
    "$ref",
    "$defs",
    "definitions",
    "allOf",
    "oneOf",
    "not",
    "if",
    "then",
    "else",
    "patternProperties",
    "dependentSchemas",
];

/// What OpenAI's MCP client sends first.
fn initialize_body() -> Value {
    json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-03-26", "capabilities": {},
        "clientInfo": {"name": "openai-mcp", "version": "1.0.0"}}})
}

const ACCEPT_BOTH: &str = "application/json, text/event-stream";

/// Why a JSON-RPC exchange gave no reply.
#[derive(Debug, thiserror::Error)]
enum RpcError {
    /// The request did not get an HTTP answer.
    #[error("request failed: {0}")]
    Send(#[source] reqwest::Error),
    /// An HTTP status other than the one expected; for a refused token, what the server's
    /// challenge said about why.
    #[error("HTTP {status}{}", refusal.as_deref().map(|r| format!(" ({r})")).unwrap_or_default())]
    Status {
        status: StatusCode,
        refusal: Option<String>,
    },
    /// An answer, but not the reply.
    #[error("{0}")]
    NoReply(String),
}

impl RpcError {
    fn from_response(response: &Response) -> Self {
        let refusal = response
            .headers()
            .get(header::WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .and_then(refusal_reason);
        Self::Status {
            status: response.status(),
            refusal,
        }
    }

    fn is_unauthorized(&self) -> bool {
        matches!(self, Self::Status { status, .. } if *status == StatusCode::UNAUTHORIZED)
    }
}

/// The `error` and `error_description` of an RFC 6750 challenge, as one phrase:
/// `invalid_token: the token has expired`.
fn refusal_reason(challenge: &str) -> Option<String> {
    let param = |name: &str| {
        let start = challenge.find(&format!("{name}=\""))? + name.len() + 2;
        let end = challenge[start..].find('"')?;
        Some(challenge[start..start + end].to_owned())
    };
    match (param("error"), param("error_description")) {
        (Some(error), Some(description)) => Some(format!("{error}: {description}")),
        (error, description) => error.or(description),
    }
}

/// Whether OpenAI's servers could reach `url`: not at a loopback, private, link-local or
/// otherwise local address or name. `None` when they could; else why not.
fn unreachable_from_openai(url: &reqwest::Url) -> Option<String> {
    match url.host()? {
        url::Host::Domain(name) => {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            (name == "localhost"
                || name.ends_with(".localhost")
                || name.ends_with(".local")
                || name.ends_with(".internal")
                || !name.contains('.'))
            .then(|| format!("{name} is a local name"))
        }
        url::Host::Ipv4(ip) => (ip.is_loopback()
            || ip.is_private()
            || ip.is_link_local()
            || ip.is_unspecified()
            || ip.octets()[0] == 100 && (64..128).contains(&ip.octets()[1]))
        .then(|| format!("{ip} is a loopback or private address")),
        url::Host::Ipv6(ip) => (ip.is_loopback()
            || ip.is_unspecified()
            || (ip.segments()[0] & 0xfe00) == 0xfc00
            || (ip.segments()[0] & 0xffc0) == 0xfe80)
            .then(|| format!("{ip} is a loopback or private address")),
    }
}

struct Checker {
    http: Client,
    url: reqwest::Url,
    token: Option<String>,
    steps: Vec<Step>,
    session: Option<String>,
    sse: Option<(SseStream, reqwest::Url)>,
}

impl Checker {
    fn record(
        &mut self,
        step: &'static str,
        started: Instant,
        status: Status,
        detail: impl Into<String>,
    ) -> Status {
        self.steps.push(Step {
            step,
            status,
            ms: started.elapsed().as_millis(),
            detail: detail.into(),
        });
        status
    }

    fn post(&self, body: &Value, with_token: bool) -> reqwest::RequestBuilder {
        let target = match &self.sse {
            Some((_, endpoint)) => endpoint.clone(),
            None => self.url.clone(),
        };
        let mut request = self
            .http
            .post(target)
            .header(header::ACCEPT, ACCEPT_BOTH)
            .json(body);
        if let (true, Some(token)) = (with_token, &self.token) {
            request = request.bearer_auth(token);
        }
        if let Some(session) = &self.session {
            request = request.header("mcp-session-id", session);
        }
        request
    }

    /// Sends a request and returns its JSON-RPC reply (from JSON, an SSE body, or the
    /// legacy SSE stream), or the HTTP status when there is none.
    async fn rpc(&mut self, body: &Value) -> Result<Value, RpcError> {
        let response = self.post(body, true).send().await.map_err(RpcError::Send)?;
        let status = response.status();
        if self.sse.is_some() {
            if status != StatusCode::ACCEPTED {
                return Err(RpcError::from_response(&response));
            }
            let id = body["id"].clone();
            let Some((stream, _)) = self.sse.as_mut() else {
                return Err(RpcError::NoReply("no stream".into()));
            };
            return stream.reply_to(&id).await.ok_or_else(|| {
                RpcError::NoReply(
                    "the stream ended (or was silent for 10 s) before the reply".into(),
                )
            });
        }
        if !status.is_success() {
            return Err(RpcError::from_response(&response));
        }
        if let Some(session) = response
            .headers()
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok())
        {
            self.session = Some(session.to_owned());
        }
        reply_from(response, &body["id"])
            .await
            .map_err(RpcError::NoReply)
    }

    async fn metadata(&mut self) -> Status {
        let started = Instant::now();
        let origin = self.url.origin().ascii_serialization();
        let path = self.url.path().trim_end_matches('/');
        let url = format!("{origin}/.well-known/oauth-protected-resource{path}");
        match self.http.get(&url).send().await {
            Err(error) => self.record(
                "reach",
                started,
                Status::Fail,
                format!(
                    "cannot reach {}: {error}; is the server running, and is the URL right?",
                    self.url
                ),
            ),
            Ok(response) if response.status() == StatusCode::OK => {
                let body: Value = response.json().await.unwrap_or(Value::Null);
                match body["resource"].as_str() {
                    Some(resource) => self.record(
                        "metadata",
                        started,
                        Status::Pass,
                        format!("RFC 9728 resource {resource}"),
                    ),
                    None => self.record(
                        "metadata",
                        started,
                        Status::Warn,
                        "the metadata has no resource field",
                    ),
                }
            }
            Ok(response) => self.record(
                "metadata",
                started,
                Status::Warn,
                format!(
                    "no RFC 9728 metadata at {url} ({}); OpenAI does not need it, OAuth clients do",
                    response.status()
                ),
            ),
        }
    }

    async fn open_sse(&mut self) -> Status {
        let started = Instant::now();
        let mut request = self
            .http
            .get(self.url.clone())
            .header(header::ACCEPT, "text/event-stream");
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        let response = match request.send().await {
            Ok(response) => response,
            Err(error) => {
                return self.record(
                    "sse stream",
                    started,
                    Status::Fail,
                    format!("cannot open the stream: {error}"),
                );
            }
        };
        if response.status() != StatusCode::OK {
            let hint = if response.status() == StatusCode::UNAUTHORIZED {
                "; pass --token"
            } else {
                ""
            };
            return self.record(
                "sse stream",
                started,
                Status::Fail,
                format!("HTTP {}{hint}", response.status()),
            );
        }
        let mut stream = SseStream::new(response);
        match stream.next_event().await {
            Some(event) if event.event == "endpoint" => match self.url.join(&event.data) {
                Ok(endpoint) => {
                    let detail = format!("endpoint {}", endpoint.path());
                    self.sse = Some((stream, endpoint));
                    self.record("sse stream", started, Status::Pass, detail)
                }
                Err(_) => self.record(
                    "sse stream",
                    started,
                    Status::Fail,
                    format!("bad endpoint {:?}", event.data),
                ),
            },
            _ => self.record(
                "sse stream",
                started,
                Status::Fail,
                "no endpoint event on the stream",
            ),
        }
    }

    async fn challenge(&mut self) -> Status {
        let started = Instant::now();
        let (mut request, step) = if self.sse.is_some() {
            (
                self.http
                    .get(self.url.clone())
                    .header(header::ACCEPT, "text/event-stream"),
                "auth challenge",
            )
        } else {
            (
                self.http
                    .post(self.url.clone())
                    .header(header::ACCEPT, ACCEPT_BOTH)
                    .json(&initialize_body()),
                "auth challenge",
            )
        };
        request = request.timeout(Duration::from_secs(5));
        let response = match request.send().await {
            Ok(response) => response,
            Err(error) => {
                return self.record(
                    step,
                    started,
                    Status::Fail,
                    format!("request failed: {error}"),
                );
            }
        };
        let status = response.status();
        let challenge = response
            .headers()
            .get(header::WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        drop(response);
        match (self.token.is_some(), status) {
            (true, StatusCode::UNAUTHORIZED) if challenge.to_ascii_lowercase().starts_with("bearer") => {
                self.record(step, started, Status::Pass, "401 without a token, with a Bearer challenge")
            }
            (true, StatusCode::UNAUTHORIZED) => self.record(step, started, Status::Warn, "401 without a token, but no Bearer challenge (RFC 6750)"),
            (true, s) if s.is_success() => self.record(step, started, Status::Warn, "the server answers without a token: anyone who can reach it can call the tools"),
            (false, StatusCode::UNAUTHORIZED) => self.record(step, started, Status::Fail, "the server requires a token: pass --token (OpenAI needs it in headers.Authorization)"),
            (false, s) if s.is_success() => self.record(step, started, Status::Warn, "no authentication: anyone who can reach the URL can call the tools"),
            (_, s) => self.record(step, started, Status::Fail, format!("unexpected HTTP {s}")),
        }
    }

    async fn initialize(&mut self) -> Status {
        let started = Instant::now();
        match self.rpc(&initialize_body()).await {
            Err(why) => {
                let hint = if why.is_unauthorized() {
                    "; the token was refused: check --token (its audience, issuer and expiry)"
                } else {
                    ""
                };
                self.record("initialize", started, Status::Fail, format!("{why}{hint}"))
            }
            Ok(reply) if reply["result"]["capabilities"]["tools"].is_object() => {
                let server = &reply["result"]["serverInfo"];
                let detail = format!(
                    "protocol {}, server {} {}, session: {}",
                    reply["result"]["protocolVersion"].as_str().unwrap_or("?"),
                    server["name"].as_str().unwrap_or("?"),
                    server["version"].as_str().unwrap_or("?"),
                    if self.session.is_some() {
                        "yes (stateful)"
                    } else {
                        "none (stateless)"
                    },
                );
                self.record("initialize", started, Status::Pass, detail)
            }
            Ok(reply) if reply.get("error").is_some() => self.record(
                "initialize",
                started,
                Status::Fail,
                format!("error: {}", reply["error"]),
            ),
            Ok(_) => self.record(
                "initialize",
                started,
                Status::Fail,
                "the server offers no tools capability",
            ),
        }
    }

    async fn initialized(&mut self) -> Status {
        let started = Instant::now();
        let body = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        match self.post(&body, true).send().await {
            Ok(response)
                if response.status() == StatusCode::ACCEPTED || response.status().is_success() =>
            {
                self.record(
                    "initialized",
                    started,
                    Status::Pass,
                    format!("HTTP {}", response.status()),
                )
            }
            Ok(response) => self.record(
                "initialized",
                started,
                Status::Warn,
                format!("HTTP {}", response.status()),
            ),
            Err(error) => self.record(
                "initialized",
                started,
                Status::Fail,
                format!("request failed: {error}"),
            ),
        }
    }

    async fn list_tools(&mut self) -> (Status, Vec<String>) {
        let started = Instant::now();
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}});
        let reply = match self.rpc(&body).await {
            Ok(reply) => reply,
            Err(why) => {
                return (
                    self.record("tools/list", started, Status::Fail, why.to_string()),
                    vec![],
                );
            }
        };
        let Some(tools) = reply["result"]["tools"].as_array() else {
            return (
                self.record(
                    "tools/list",
                    started,
                    Status::Fail,
                    format!("no tools in {reply}"),
                ),
                vec![],
            );
        };
        let names: Vec<String> = tools
            .iter()
            .filter_map(|t| t["name"].as_str().map(str::to_owned))
            .collect();
        let mut problems = Vec::new();
        let mut fatal = false;
        for tool in tools {
            let name = tool["name"].as_str().unwrap_or("?");
            if tool["inputSchema"]["type"] != "object" {
                fatal = true;
                problems.push(format!("{name}: inputSchema.type must be \"object\""));
            }
            let mut found = Vec::new();
            find_keywords(&tool["inputSchema"], "", &mut found);
            if !found.is_empty() {
                problems.push(format!(
                    "{name}: {} (outside what OpenAI accepts)",
                    found.join(", ")
                ));
            }
        }
        let status = if fatal {
            Status::Fail
        } else if problems.is_empty() {
            Status::Pass
        } else {
            Status::Warn
        };
        let mut detail = format!("{} tools: {}", names.len(), names.join(", "));
        if problems.is_empty() {
            detail.push_str("; schemas within OpenAI's subset");
        } else {
            detail.push_str(&format!("; {}", problems.join("; ")));
        }
        (self.record("tools/list", started, status, detail), names)
    }

    async fn call_roll_dice(&mut self, step: &'static str, id: i64) -> Result<(), String> {
        let body = json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
                          "params": {"name": "roll_dice", "arguments": {"n_dice": 2}}});
        let reply = self.rpc(&body).await.map_err(|why| why.to_string())?;
        if reply["result"]["isError"] == true || reply.get("error").is_some() {
            return Err(format!("{step} answered an error: {reply}"));
        }
        Ok(())
    }

    async fn delete_then_call(&mut self) -> Status {
        let started = Instant::now();
        let mut request = self.http.delete(self.url.clone());
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some(session) = &self.session {
            request = request.header("mcp-session-id", session);
        }
        let deleted = request.send().await.map(|r| r.status());
        match self.call_roll_dice("tools/call after DELETE", 3).await {
            Ok(()) => self.record(
                "delete, then call",
                started,
                Status::Pass,
                format!(
                    "DELETE answered {}; calls still work after it",
                    deleted
                        .map(|s| s.to_string())
                        .unwrap_or_else(|e| e.to_string())
                ),
            ),
            Err(why) => self.record(
                "delete, then call",
                started,
                Status::Warn,
                format!(
                    "{why}: OpenAI will fail on this server (it deletes its session and keeps \
                 calling); use stateless mode (serve --stateless)"
                ),
            ),
        }
    }
}

async fn reply_from(response: Response, id: &Value) -> Result<Value, String> {
    let is_sse = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("text/event-stream"));
    if is_sse {
        return SseStream::new(response)
            .reply_to(id)
            .await
            .ok_or_else(|| "the event stream ended before the reply".into());
    }
    response
        .json::<Value>()
        .await
        .map_err(|e| format!("the reply is not JSON: {e}"))
}

fn find_keywords(schema: &Value, path: &str, found: &mut Vec<String>) {
    match schema {
        Value::Object(map) => {
            for (key, value) in map {
                let here = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                if UNSUPPORTED_KEYWORDS.contains(&key.as_str()) && path_is_schema(path) {
                    found.push(here.clone());
                }
                find_keywords(value, &here, found);
            }
        }
        Value::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                find_keywords(item, &format!("{path}[{index}]"), found);
            }
        }
        _ => {}
    }
}

/// Whether `path` names a schema, not the inside of `properties` (where any name is fine).
fn path_is_schema(path: &str) -> bool {
    !path.ends_with("properties")
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
    let mut checker = Checker {
        http,
        url,
        token,
        steps: Vec::new(),
        session: None,
        sse: None,
    };

    let started = Instant::now();
    match unreachable_from_openai(&checker.url) {
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
    if checker.token.is_some() || !sse {
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
        &args.url,
        args.token.clone(),
        Duration::from_secs(args.timeout_secs),
    ))?;
    let failed = steps.iter().filter(|s| s.status == Status::Fail).count();
    let warned = steps.iter().filter(|s| s.status == Status::Warn).count();
    let passed = steps.iter().filter(|s| s.status == Status::Pass).count();
    if args.json {
        let report = json!({"url": args.url, "ok": failed == 0, "steps": steps});
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
            args.url
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_challenge_gives_its_error_and_description() {
        assert_eq!(
            refusal_reason(
                r#"Bearer realm="dice-mcp", error="invalid_token", error_description="the token has expired""#
            )
            .as_deref(),
            Some("invalid_token: the token has expired")
        );
        assert_eq!(
            refusal_reason(r#"Bearer error="insufficient_scope""#).as_deref(),
            Some("insufficient_scope")
        );
        assert_eq!(refusal_reason(r#"Bearer realm="x""#), None);
    }

    #[test]
    fn local_and_private_urls_are_flagged_and_public_ones_are_not() {
        let check = |url: &str| unreachable_from_openai(&reqwest::Url::parse(url).unwrap());
        for local in [
            "http://127.0.0.1:8000/mcp",
            "http://localhost:8000/mcp",
            "http://api.localhost/mcp",
            "http://10.1.2.3/mcp",
            "http://192.168.0.10/mcp",
            "http://172.16.5.4/mcp",
            "http://169.254.1.1/mcp",
            "http://100.100.1.1/mcp",
            "http://[::1]:8000/mcp",
            "http://[fd00::1]/mcp",
            "http://myserver:8000/mcp",
            "http://printer.local/mcp",
        ] {
            assert!(check(local).is_some(), "{local}");
        }
        for public in [
            "https://abc.ngrok.app/mcp",
            "https://example.com/mcp",
            "http://8.8.8.8/mcp",
            "http://[2001:db8::1]/mcp",
        ] {
            assert_eq!(check(public), None, "{public}");
        }
    }
}
