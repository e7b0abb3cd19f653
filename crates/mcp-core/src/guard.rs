//! The DNS-rebinding guard: `Host` must be loopback or configured, and an `Origin`, when a
//! browser sends one, must be local or configured. Applied to every MCP route (`/mcp`,
//! `/sse`, `/messages/`). It is the only such check: rmcp's own (inside its Streamable HTTP
//! service) is turned off, so one parser decides for every route.
//!
//! Written here because rmcp's check lives inside its Streamable HTTP service, and the SSE
//! transport (which rmcp no longer ships) needs the same rule.

use std::sync::Arc;

use axum::{
    body::Body,
    http::{HeaderMap, Request, Uri, header, uri::Authority},
    response::{IntoResponse, Response},
};
use tower_http::validate_request::ValidateRequest;

use crate::refusal::Refusal;

/// One allowed `Host`: a host name or address, with an optional port.
#[derive(Debug, Clone, PartialEq, Eq)]
struct HostRule {
    host: String,
    port: Option<u16>,
}

/// One allowed `Origin`: scheme, host and a port (`None` = any port).
#[derive(Debug, Clone, PartialEq, Eq)]
struct OriginRule {
    scheme: String,
    host: String,
    port: Option<u16>,
}

/// The parsed allow-lists.
#[derive(Debug, Clone)]
pub(crate) struct HostGuard {
    hosts: Vec<HostRule>,
    origins: Vec<OriginRule>,
}

fn normalize(host: &str) -> String {
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase()
}

/// Splits `host`, `host:port`, `::1`, `[::1]:8000` into host and port.
fn split_authority(value: &str) -> Option<(String, Option<u16>)> {
    if value.parse::<std::net::Ipv6Addr>().is_ok() {
        return Some((normalize(value), None));
    }
    let authority: Authority = value.parse().ok()?;
    Some((normalize(authority.host()), authority.port_u16()))
}

impl HostGuard {
    /// Parses the config's lists: hosts as `host[:port]`, origins as `scheme://host:port`
    /// or `scheme://host:*`. Entries that do not parse are skipped (the builder validated
    /// them).
    pub(crate) fn new(allowed_hosts: &[String], allowed_origins: &[String]) -> Self {
        let hosts = allowed_hosts
            .iter()
            .filter_map(|entry| split_authority(entry))
            .map(|(host, port)| HostRule { host, port })
            .collect();
        let origins = allowed_origins
            .iter()
            .filter_map(|entry| {
                let (scheme, rest) = entry.split_once("://")?;
                let (host, port) = match rest.strip_suffix(":*") {
                    Some(host) => (normalize(host), None),
                    None => {
                        let (host, port) = split_authority(rest)?;
                        (host, Some(port.unwrap_or(default_port(scheme))))
                    }
                };
                Some(OriginRule {
                    scheme: scheme.to_ascii_lowercase(),
                    host,
                    port,
                })
            })
            .collect();
        Self { hosts, origins }
    }

    /// Whether the request names an allowed host: the `Host` header and, for an
    /// absolute-form target (`POST http://host/mcp`) or HTTP/2's `:authority`, the URI's
    /// authority too (RFC 9112 §3.2.2 says a server uses the latter), both must be allowed.
    fn host_allowed(&self, uri: &Uri, headers: &HeaderMap) -> bool {
        let header = headers.get(header::HOST).map(|v| v.to_str().ok());
        let authority = uri.authority().map(|a| Some(a.as_str()));
        let mut named = header.into_iter().chain(authority).peekable();
        named.peek().is_some()
            && named.all(|value| value.is_some_and(|v| self.names_allowed_host(v)))
    }

    fn names_allowed_host(&self, value: &str) -> bool {
        let Some((host, port)) = split_authority(value) else {
            return false;
        };
        self.hosts
            .iter()
            .any(|rule| rule.host == host && rule.port.is_none_or(|p| Some(p) == port))
    }

    fn origin_allowed(&self, headers: &HeaderMap) -> bool {
        let Some(origin) = headers.get(header::ORIGIN) else {
            return true; // not a browser: nothing to rebind
        };
        let Some(origin) = origin.to_str().ok().and_then(|o| o.parse::<Uri>().ok()) else {
            return false;
        };
        let (Some(scheme), Some(authority)) = (origin.scheme_str(), origin.authority()) else {
            return false; // includes `Origin: null`
        };
        let scheme = scheme.to_ascii_lowercase();
        let host = normalize(authority.host());
        let port = authority.port_u16().unwrap_or(default_port(&scheme));
        self.origins.iter().any(|rule| {
            rule.scheme == scheme && rule.host == host && rule.port.is_none_or(|p| p == port)
        })
    }
}

fn default_port(scheme: &str) -> u16 {
    if scheme.eq_ignore_ascii_case("https") {
        443
    } else {
        80
    }
}

/// The guard as tower-http request validation on every MCP route: `400 Bad Request` for
/// more than one `Host`, `403 Forbidden` for a foreign `Host` (or absolute-form authority)
/// or `Origin`.
#[derive(Debug, Clone)]
pub(crate) struct CheckHostAndOrigin(pub(crate) Arc<HostGuard>);

impl<B> ValidateRequest<B> for CheckHostAndOrigin {
    type ResponseBody = Body;

    fn validate(&mut self, request: &mut Request<B>) -> Result<(), Response> {
        let guard = &self.0;
        if request
            .headers()
            .get_all(header::HOST)
            .iter()
            .nth(1)
            .is_some()
        {
            tracing::warn!("refused a request with more than one Host header");
            return Err(Refusal::MultipleHosts.into_response());
        }
        if !guard.host_allowed(request.uri(), request.headers()) {
            tracing::warn!(host = ?request.headers().get(header::HOST), "refused a foreign Host (DNS rebinding guard)");
            return Err(Refusal::ForeignHost.into_response());
        }
        if !guard.origin_allowed(request.headers()) {
            tracing::warn!(origin = ?request.headers().get(header::ORIGIN), "refused a foreign Origin");
            return Err(Refusal::ForeignOrigin.into_response());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn guard() -> HostGuard {
        let config = crate::HttpConfig::builder()
            .allowed_host("abc.ngrok.app")
            .allowed_host("proxy.example:8443")
            .build()
            .unwrap();
        HostGuard::new(config.allowed_hosts(), config.allowed_origins())
    }

    fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(name.clone(), HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn loopback_and_configured_hosts_pass_others_do_not() {
        let guard = guard();
        let uri = Uri::from_static("/mcp");
        for ok in [
            "localhost",
            "localhost:8000",
            "127.0.0.1:1",
            "[::1]:8000",
            "ABC.ngrok.app",
            "proxy.example:8443",
        ] {
            assert!(
                guard.host_allowed(&uri, &headers(&[(header::HOST, ok)])),
                "{ok}"
            );
        }
        for bad in [
            "evil.example",
            "abc.ngrok.app.evil.example",
            "proxy.example:9999",
            "127.0.0.2",
            "",
        ] {
            assert!(
                !guard.host_allowed(&uri, &headers(&[(header::HOST, bad)])),
                "{bad}"
            );
        }
        assert!(
            !guard.host_allowed(&uri, &HeaderMap::new()),
            "no Host at all"
        );
    }

    #[test]
    fn an_absolute_form_authority_must_be_allowed_too() {
        let guard = guard();
        let local = headers(&[(header::HOST, "127.0.0.1:8000")]);
        let foreign = Uri::from_static("http://evil.example/mcp");
        assert!(
            !guard.host_allowed(&foreign, &local),
            "authority evil, Host local"
        );
        let own = Uri::from_static("http://abc.ngrok.app/mcp");
        assert!(guard.host_allowed(&own, &headers(&[(header::HOST, "abc.ngrok.app")])));
        assert!(
            guard.host_allowed(&own, &HeaderMap::new()),
            "HTTP/2 :authority alone"
        );
    }

    #[test]
    fn local_and_configured_origins_pass_others_do_not() {
        let guard = guard();
        for ok in [
            "http://localhost:6274",
            "https://abc.ngrok.app",
            "http://[::1]:3000",
            "https://proxy.example:8443",
        ] {
            assert!(
                guard.origin_allowed(&headers(&[(header::ORIGIN, ok)])),
                "{ok}"
            );
        }
        for bad in [
            "https://evil.example",
            "null",
            "https://proxy.example",
            "file://",
            "garbage",
        ] {
            assert!(
                !guard.origin_allowed(&headers(&[(header::ORIGIN, bad)])),
                "{bad}"
            );
        }
        assert!(
            guard.origin_allowed(&HeaderMap::new()),
            "no Origin: not a browser"
        );
    }
}
