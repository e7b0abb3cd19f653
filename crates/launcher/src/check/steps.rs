//! The steps of `check`, each recorded with its status, latency and advice.

use std::time::{Duration, Instant};

use reqwest::{StatusCode, header};
use rmcp::model::{CallToolResult, InitializeResult, ListToolsResult};
use serde_json::{Value, json};

use super::{
    Status, Step,
    schema::find_keywords,
    transport::{ACCEPT_BOTH, Link, Transport},
};
use crate::sse_client::SseStream;

/// The `initialize` parameters OpenAI's MCP client sends.
pub(super) fn initialize_params() -> Value {
    json!({"protocolVersion": "2025-03-26", "capabilities": {},
           "clientInfo": {"name": "openai-mcp", "version": "1.0.0"}})
}

/// What OpenAI's MCP client sends first.
pub(super) fn initialize_body() -> Value {
    json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": initialize_params()})
}

/// Whether OpenAI's servers could reach `url`: not at a loopback, private, link-local or
/// otherwise local address or name. `None` when they could; else why not.
pub(super) fn unreachable_from_openai(url: &reqwest::Url) -> Option<String> {
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

/// The checks' state: the link to the server and the steps so far.
pub(super) struct Checker {
    pub(super) link: Link,
    pub(super) steps: Vec<Step>,
}

impl Checker {
    pub(super) fn record(
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

    pub(super) async fn metadata(&mut self) -> Status {
        let started = Instant::now();
        let origin = self.link.url.origin().ascii_serialization();
        let path = self.link.url.path().trim_end_matches('/');
        let url = format!("{origin}/.well-known/oauth-protected-resource{path}");
        match self.link.http.get(&url).send().await {
            Err(error) => self.record(
                "reach",
                started,
                Status::Fail,
                format!(
                    "cannot reach {}: {error}; is the server running, and is the URL right?",
                    self.link.url
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

    /// `GET` of the stream at `url`, with the token.
    async fn get_sse(&self, url: &reqwest::Url) -> reqwest::Result<reqwest::Response> {
        let mut request = self
            .link
            .http
            .get(url.clone())
            .header(header::ACCEPT, "text/event-stream");
        if let Some(token) = &self.link.token {
            request = request.bearer_auth(token);
        }
        request.send().await
    }

    /// `GET` of the stream, following one same-origin `307`: a server behind a balancer
    /// that hashes on session_id (serve --sse-session-redirect) names the session first;
    /// the SDKs follow it, and so does check, once. Elsewhere redirects stay off. The
    /// answer and whether it was redirected, or what went wrong.
    async fn open_sse_following(&self) -> Result<(reqwest::Response, bool), String> {
        let response = self
            .get_sse(&self.link.url)
            .await
            .map_err(|error| format!("cannot open the stream: {error}"))?;
        let target = (response.status() == StatusCode::TEMPORARY_REDIRECT)
            .then(|| response.headers().get(header::LOCATION))
            .flatten()
            .and_then(|location| location.to_str().ok())
            .and_then(|location| self.link.url.join(location).ok())
            .filter(|target| target.origin() == self.link.url.origin());
        let Some(target) = target else {
            return Ok((response, false));
        };
        let response = self
            .get_sse(&target)
            .await
            .map_err(|error| format!("cannot open the stream {target} redirected to: {error}"))?;
        Ok((response, true))
    }

    pub(super) async fn open_sse(&mut self) -> Status {
        let started = Instant::now();
        let (response, redirected) = match self.open_sse_following().await {
            Ok(opened) => opened,
            Err(detail) => return self.record("sse stream", started, Status::Fail, detail),
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
            Some(event) if event.event == "endpoint" => match self.link.url.join(&event.data) {
                Ok(endpoint) => {
                    let detail = if redirected {
                        format!(
                            "endpoint {} (after a redirect naming the session)",
                            endpoint.path()
                        )
                    } else {
                        format!("endpoint {}", endpoint.path())
                    };
                    self.link.transport = Transport::Sse { stream, endpoint };
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

    pub(super) async fn challenge(&mut self) -> Status {
        let started = Instant::now();
        let (mut request, step) = if self.link.is_sse() {
            (
                self.link
                    .http
                    .get(self.link.url.clone())
                    .header(header::ACCEPT, "text/event-stream"),
                "auth challenge",
            )
        } else {
            (
                self.link
                    .http
                    .post(self.link.url.clone())
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
        match (self.link.token.is_some(), status) {
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

    pub(super) async fn initialize(&mut self) -> Status {
        let started = Instant::now();
        let reply = self
            .link
            .call::<InitializeResult>(0, "initialize", initialize_params())
            .await;
        match reply {
            Err(why) => {
                let hint = if why.is_unauthorized() {
                    "; the token was refused: check --token (its audience, issuer and expiry)"
                } else {
                    ""
                };
                self.record("initialize", started, Status::Fail, format!("{why}{hint}"))
            }
            Ok(result) if result.capabilities.tools.is_some() => {
                let detail = format!(
                    "protocol {}, server {} {}, session: {}",
                    result.protocol_version,
                    result.server_info.name,
                    result.server_info.version,
                    if self.link.session().is_some() {
                        "yes (stateful)"
                    } else {
                        "none (stateless)"
                    },
                );
                self.record("initialize", started, Status::Pass, detail)
            }
            Ok(_) => self.record(
                "initialize",
                started,
                Status::Fail,
                "the server offers no tools capability",
            ),
        }
    }

    pub(super) async fn initialized(&mut self) -> Status {
        let started = Instant::now();
        let body = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        match self.link.post(&body, true).send().await {
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

    pub(super) async fn list_tools(&mut self) -> (Status, Vec<String>) {
        let started = Instant::now();
        let listed = self
            .link
            .call::<ListToolsResult>(1, "tools/list", json!({}))
            .await;
        let tools = match listed {
            Ok(listed) => listed.tools,
            Err(why) => {
                return (
                    self.record("tools/list", started, Status::Fail, why.to_string()),
                    vec![],
                );
            }
        };
        let names: Vec<String> = tools.iter().map(|tool| tool.name.to_string()).collect();
        let mut problems = Vec::new();
        let mut fatal = false;
        for tool in &tools {
            let name = &tool.name;
            let schema = Value::Object(tool.input_schema.as_ref().clone());
            if schema["type"] != "object" {
                fatal = true;
                problems.push(format!("{name}: inputSchema.type must be \"object\""));
            }
            let mut found = Vec::new();
            find_keywords(&schema, "", &mut found);
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
        let annotations: Vec<String> = tools.iter().map(describe_annotations).collect();
        detail.push_str(&format!("; annotations: {}", annotations.join("; ")));
        (self.record("tools/list", started, status, detail), names)
    }

    pub(super) async fn call_roll_dice(
        &mut self,
        step: &'static str,
        id: i64,
    ) -> Result<(), String> {
        let params = json!({"name": "roll_dice", "arguments": {"n_dice": 2}});
        let result = self
            .link
            .call::<CallToolResult>(id, "tools/call", params)
            .await
            .map_err(|why| format!("{step}: {why}"))?;
        if result.is_error == Some(true) {
            let text = serde_json::to_string(&result.content).unwrap_or_default();
            return Err(format!("{step} answered a tool error: {text}"));
        }
        Ok(())
    }

    pub(super) async fn delete_then_call(&mut self) -> Status {
        let started = Instant::now();
        let mut request = self.link.http.delete(self.link.url.clone());
        if let Some(token) = &self.link.token {
            request = request.bearer_auth(token);
        }
        if let Some(session) = self.link.session() {
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

/// A tool's annotations as `check` reports them: the hints it sets, and its title.
/// OpenAI's `allowed_tools` can select tools by `readOnlyHint`, so a tool without one is
/// said to be out of that filter's reach.
fn describe_annotations(tool: &rmcp::model::Tool) -> String {
    let name = &tool.name;
    let Some(annotations) = &tool.annotations else {
        return format!("{name} none (allowed_tools read_only will not select it)");
    };
    let hint = |value: Option<bool>, yes: &str, no: &str| {
        value.map(|value| if value { yes.to_owned() } else { no.to_owned() })
    };
    let mut parts: Vec<String> = [
        hint(annotations.read_only_hint, "read-only", "not read-only"),
        hint(
            annotations.destructive_hint,
            "destructive",
            "not destructive",
        ),
        hint(annotations.idempotent_hint, "idempotent", "not idempotent"),
        hint(annotations.open_world_hint, "open world", "closed world"),
    ]
    .into_iter()
    .flatten()
    .collect();
    if let Some(title) = &annotations.title {
        parts.push(format!("title {title:?}"));
    }
    if parts.is_empty() {
        return format!("{name} none set");
    }
    format!("{name} {}", parts.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn a_tool_without_annotations_is_said_to_be_out_of_the_read_only_filter() {
        let tool = rmcp::model::Tool::new("t", "d", std::sync::Arc::new(serde_json::Map::new()));
        assert_eq!(
            super::describe_annotations(&tool),
            "t none (allowed_tools read_only will not select it)"
        );
    }
}
