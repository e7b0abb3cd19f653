//! RFC 9728 OAuth 2.0 protected-resource metadata, served unauthenticated at
//! `/.well-known/oauth-protected-resource` and its path-suffixed forms.

use axum::{Json, Router, extract::Path, routing::get};
use serde::Serialize;

use crate::{ConfigError, Error};

/// Where the metadata lives.
pub const METADATA_PATH: &str = "/.well-known/oauth-protected-resource";

/// The metadata document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResourceMetadata {
    /// The protected resource's URL (e.g. `https://example.ngrok.app/mcp`).
    pub resource: String,
    /// Authorization servers that issue tokens for it (omitted when empty).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub authorization_servers: Vec<String>,
    /// Always `["header"]`: tokens are read from `Authorization` only.
    pub bearer_methods_supported: Vec<String>,
    /// Scopes the resource understands.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub scopes_supported: Vec<String>,
    /// A human-readable name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_name: Option<String>,
}

impl ResourceMetadata {
    /// Metadata for `resource`, an absolute http(s) URL without query or fragment.
    pub fn new(resource: impl Into<String>) -> Result<Self, Error> {
        let resource = resource.into();
        let url = match url::Url::parse(&resource) {
            Ok(url) => url,
            Err(source) => {
                return Err(Error::InvalidUrl {
                    url: resource,
                    source,
                });
            }
        };
        if !matches!(url.scheme(), "http" | "https")
            || url.query().is_some()
            || url.fragment().is_some()
        {
            return Err(ConfigError::ResourceUrl(resource).into());
        }
        Ok(Self {
            resource,
            authorization_servers: Vec::new(),
            bearer_methods_supported: vec!["header".into()],
            scopes_supported: Vec::new(),
            resource_name: None,
        })
    }

    /// Adds authorization servers.
    pub fn with_authorization_servers(mut self, servers: impl IntoIterator<Item = String>) -> Self {
        self.authorization_servers.extend(servers);
        self
    }

    /// Adds supported scopes.
    pub fn with_scopes(mut self, scopes: impl IntoIterator<Item = String>) -> Self {
        self.scopes_supported.extend(scopes);
        self
    }

    /// Sets the human-readable name.
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.resource_name = Some(name.into());
        self
    }

    /// The URL of this document as RFC 9728 §3.1 builds it: the well-known path inserted
    /// between the resource's origin and path (`https://h/mcp` →
    /// `https://h/.well-known/oauth-protected-resource/mcp`).
    pub fn metadata_url(&self) -> String {
        match url::Url::parse(&self.resource) {
            Ok(url) => {
                let origin = url.origin().ascii_serialization();
                let path = url.path().trim_end_matches('/');
                format!("{origin}{METADATA_PATH}{path}")
            }
            Err(_) => METADATA_PATH.to_owned(),
        }
    }

    /// The document for a request at the well-known path plus `suffix`: the resource is the
    /// configured origin with that path, so a client that asks for `/sse` learns `…/sse`.
    fn for_suffix(&self, suffix: Option<&str>) -> Self {
        let mut document = self.clone();
        if let (Some(suffix), Ok(url)) = (suffix, url::Url::parse(&self.resource)) {
            document.resource = format!(
                "{}/{}",
                url.origin().ascii_serialization(),
                suffix.trim_matches('/')
            );
        }
        document
    }

    /// An axum router answering `GET` at the well-known path and below it.
    pub fn router(&self) -> Router {
        let root = self.clone();
        let suffixed = self.clone();
        Router::new()
            .route(
                METADATA_PATH,
                get(move || async move { Json(root.for_suffix(None)) }),
            )
            .route(
                &format!("{METADATA_PATH}/{{*suffix}}"),
                get(move |Path(suffix): Path<String>| async move {
                    Json(suffixed.for_suffix(Some(&suffix)))
                }),
            )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_url_inserts_the_well_known_path() {
        let meta = ResourceMetadata::new("https://abc.ngrok.app/mcp").unwrap();
        assert_eq!(
            meta.metadata_url(),
            "https://abc.ngrok.app/.well-known/oauth-protected-resource/mcp"
        );
        let root = ResourceMetadata::new("http://127.0.0.1:8000/").unwrap();
        assert_eq!(
            root.metadata_url(),
            "http://127.0.0.1:8000/.well-known/oauth-protected-resource"
        );
    }

    #[test]
    fn bad_resource_urls_are_refused() {
        assert!(ResourceMetadata::new("not a url").is_err());
        assert!(ResourceMetadata::new("ftp://x/y").is_err());
        assert!(ResourceMetadata::new("https://x/y?q=1").is_err());
    }

    #[test]
    fn suffixed_documents_name_the_suffixed_resource() {
        let meta = ResourceMetadata::new("https://abc.ngrok.app/mcp").unwrap();
        assert_eq!(
            meta.for_suffix(Some("sse")).resource,
            "https://abc.ngrok.app/sse"
        );
        assert_eq!(meta.for_suffix(None).resource, "https://abc.ngrok.app/mcp");
    }
}
