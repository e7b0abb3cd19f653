//! [`OAuthConfig`]: the issuer, the one resource tokens are for, lifetimes and bounds.

use std::time::Duration;

use crate::Error;

/// Settings of an [`AuthorizationServer`](crate::AuthorizationServer), as plain data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthConfig {
    pub(crate) issuer: String,
    pub(crate) resource: String,
    pub(crate) scopes: Vec<String>,
    pub(crate) subject: String,
    pub(crate) access_token_ttl: Duration,
    pub(crate) refresh_token_ttl: Duration,
    pub(crate) code_ttl: Duration,
    pub(crate) max_clients: usize,
    pub(crate) max_body_bytes: usize,
    pub(crate) server_name: String,
    pub(crate) allow_local_client_documents: bool,
}

/// Default lifetime of an access token.
pub const DEFAULT_ACCESS_TOKEN_TTL: Duration = Duration::from_secs(3600);
/// Default lifetime of a refresh token (each use rotates it and starts a new one).
pub const DEFAULT_REFRESH_TOKEN_TTL: Duration = Duration::from_secs(30 * 24 * 3600);
/// Lifetime of an authorization code.
pub const CODE_TTL: Duration = Duration::from_secs(60);
/// Default most registered clients.
pub const DEFAULT_MAX_CLIENTS: usize = 100;

impl OAuthConfig {
    /// A server whose issuer is `issuer` (the public base URL, e.g. `https://abc.ngrok.app`,
    /// without a trailing slash) issuing tokens for `resource` (the protected resource's URL,
    /// e.g. `https://abc.ngrok.app/mcp`), with the defaults: scope `mcp`, subject `owner`,
    /// access tokens for an hour, refresh tokens for 30 days, 100 clients.
    pub fn new(issuer: impl Into<String>, resource: impl Into<String>) -> Result<Self, Error> {
        let issuer = issuer.into().trim_end_matches('/').to_owned();
        let parsed = url::Url::parse(&issuer).map_err(|source| Error::InvalidUrl {
            what: "issuer",
            source,
        })?;
        if !matches!(parsed.scheme(), "https" | "http")
            || parsed.query().is_some()
            || parsed.fragment().is_some()
        {
            return Err(Error::Issuer(issuer));
        }
        let resource = resource.into();
        url::Url::parse(&resource).map_err(|source| Error::InvalidUrl {
            what: "resource",
            source,
        })?;
        Ok(Self {
            issuer,
            resource,
            scopes: vec!["mcp".to_owned()],
            subject: "owner".to_owned(),
            access_token_ttl: DEFAULT_ACCESS_TOKEN_TTL,
            refresh_token_ttl: DEFAULT_REFRESH_TOKEN_TTL,
            code_ttl: CODE_TTL,
            max_clients: DEFAULT_MAX_CLIENTS,
            max_body_bytes: 16 * 1024,
            server_name: "this server".to_owned(),
            allow_local_client_documents: false,
        })
    }

    /// The scopes offered (`scopes_supported`) and granted when a client asks for none.
    pub fn with_scopes(mut self, scopes: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// The `sub` of every access token: the one owner.
    pub fn with_subject(mut self, subject: impl Into<String>) -> Self {
        self.subject = subject.into();
        self
    }

    /// How long access tokens last.
    pub fn with_access_token_ttl(mut self, ttl: Duration) -> Self {
        self.access_token_ttl = ttl;
        self
    }

    /// How long a refresh token lasts unused.
    pub fn with_refresh_token_ttl(mut self, ttl: Duration) -> Self {
        self.refresh_token_ttl = ttl;
        self
    }

    /// Most clients that may be registered at once; further registrations are refused.
    pub fn with_max_clients(mut self, max: usize) -> Self {
        self.max_clients = max;
        self
    }

    /// The name the consent page gives the server ("Allow CLIENT to use NAME?").
    pub fn with_server_name(mut self, name: impl Into<String>) -> Self {
        self.server_name = name.into();
        self
    }

    /// For tests only: fetch client metadata documents from loopback and private addresses
    /// and over plain http. Never in a server others can reach: it lets a client id make
    /// this server request any local URL.
    pub fn allow_local_client_documents_for_tests(mut self, allow: bool) -> Self {
        self.allow_local_client_documents = allow;
        self
    }

    /// The issuer (the public base URL).
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The resource tokens are issued for.
    pub fn resource(&self) -> &str {
        &self.resource
    }

    /// The scopes offered.
    pub fn scopes(&self) -> &[String] {
        &self.scopes
    }

    /// The URL of an endpoint of this server.
    pub(crate) fn endpoint(&self, path: &str) -> String {
        format!("{}{path}", self.issuer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_issuer_must_be_an_http_url_without_query_or_fragment() {
        let config = OAuthConfig::new("https://a.example/", "https://a.example/mcp").unwrap();
        assert_eq!(config.issuer(), "https://a.example");
        assert_eq!(config.endpoint("/token"), "https://a.example/token");
        for bad in [
            "a.example",
            "ftp://a.example",
            "https://a.example/?x=1",
            "https://a.example#f",
        ] {
            assert!(
                OAuthConfig::new(bad, "https://a.example/mcp").is_err(),
                "{bad}"
            );
        }
        assert!(OAuthConfig::new("https://a.example", "not a url").is_err());
    }
}
