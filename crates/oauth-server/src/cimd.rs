//! Client ID metadata documents (CIMD): a `client_id` that is an `https` URL names a JSON
//! document, published by the client, that says who it is and where it may be redirected.
//! No registration is needed; the document is fetched on first use and cached.
//!
//! The fetch is the server reaching out to a URL a stranger chose, so it is bounded: `https`
//! only, every address the name resolves to must be public (no loopback, private,
//! link-local or otherwise local ranges; the connection goes to the address that was
//! checked, so a second DNS answer cannot swap it), no redirects, a timeout and a size cap.

use std::{
    collections::HashMap,
    net::{IpAddr, SocketAddr},
    sync::{Mutex, PoisonError},
    time::{Duration, Instant},
};

use serde::Deserialize;

use crate::{redirect, store::Client};

/// Longest a fetch may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest document accepted.
const MAX_DOCUMENT_BYTES: usize = 64 * 1024;
/// How long a fetched document is used before it is fetched again.
const CACHE_TTL: Duration = Duration::from_secs(600);
/// Most documents cached.
const MAX_CACHED: usize = 256;

/// Whether a `client_id` names a metadata document rather than a registration.
pub(crate) fn is_document_url(client_id: &str) -> bool {
    client_id.starts_with("https://") || client_id.starts_with("http://")
}

/// The documents fetched, and whether loopback and plain-http URLs are allowed (tests only).
pub(crate) struct Documents {
    cache: Mutex<HashMap<String, (Client, Instant)>>,
    allow_local: bool,
}

#[derive(Deserialize)]
struct Document {
    client_id: String,
    #[serde(default)]
    redirect_uris: Vec<String>,
    client_name: Option<String>,
    token_endpoint_auth_method: Option<String>,
}

impl Documents {
    pub(crate) fn new(allow_local: bool) -> Self {
        Self {
            cache: Mutex::default(),
            allow_local,
        }
    }

    /// The client the document at `url` describes, fetched or from the cache; or why it
    /// cannot be used.
    pub(crate) async fn client(&self, url: &str) -> Result<Client, String> {
        if let Some((client, fetched)) = self.lock().get(url)
            && fetched.elapsed() < CACHE_TTL
        {
            return Ok(client.clone());
        }
        let client = self.fetch(url).await?;
        let mut cache = self.lock();
        let now = Instant::now();
        cache.retain(|_, (_, fetched)| now.duration_since(*fetched) < CACHE_TTL);
        if cache.len() < MAX_CACHED {
            cache.insert(url.to_owned(), (client.clone(), now));
        }
        Ok(client)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Client, Instant)>> {
        self.cache.lock().unwrap_or_else(PoisonError::into_inner)
    }

    async fn fetch(&self, raw: &str) -> Result<Client, String> {
        let url = url::Url::parse(raw).map_err(|_| "the client_id is not a URL".to_owned())?;
        let scheme_ok = url.scheme() == "https" || (self.allow_local && url.scheme() == "http");
        if !scheme_ok || url.path() == "/" || url.fragment().is_some() || url.username() != "" {
            return Err(
                "a client_id URL must be https, with a path and without fragment or user".into(),
            );
        }
        let host = url
            .host_str()
            .ok_or_else(|| "the client_id URL has no host".to_owned())?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let port = url.port_or_known_default().unwrap_or(443);
        let addresses: Vec<SocketAddr> = tokio::time::timeout(
            FETCH_TIMEOUT,
            tokio::net::lookup_host((host.as_str(), port)),
        )
        .await
        .map_err(|_| format!("resolving {host} took too long"))?
        .map_err(|_| format!("{host} does not resolve"))?
        .collect();
        let Some(first) = addresses.first().copied() else {
            return Err(format!("{host} does not resolve"));
        };
        if !self.allow_local && addresses.iter().any(|address| !is_public(address.ip())) {
            return Err(format!(
                "{host} resolves to a private or local address, which this server does not fetch"
            ));
        }
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(FETCH_TIMEOUT)
            .resolve(&host, first)
            .build()
            .map_err(|_| "the server could not make an HTTP client".to_owned())?;
        let mut response = http
            .get(url.clone())
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|error| format!("could not fetch the client metadata document: {error}"))?;
        if !response.status().is_success() {
            return Err(format!(
                "the client metadata document answered HTTP {} (redirects are not followed)",
                response.status()
            ));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|error| format!("could not read the client metadata document: {error}"))?
        {
            if body.len() + chunk.len() > MAX_DOCUMENT_BYTES {
                return Err(format!(
                    "the client metadata document is over {MAX_DOCUMENT_BYTES} bytes"
                ));
            }
            body.extend_from_slice(&chunk);
        }
        let document: Document = serde_json::from_slice(&body)
            .map_err(|error| format!("the client metadata document is not valid: {error}"))?;
        if document.client_id != raw {
            return Err("the document's client_id is not the URL it was fetched from".into());
        }
        if document.redirect_uris.is_empty() {
            return Err("the client metadata document lists no redirect_uris".into());
        }
        if let Some(why) = document
            .redirect_uris
            .iter()
            .find_map(|uri| redirect::refuse_registration(uri))
        {
            return Err(format!("the client metadata document: {why}"));
        }
        let method = document
            .token_endpoint_auth_method
            .unwrap_or_else(|| "none".to_owned());
        if method != "none" {
            return Err(format!(
                "token_endpoint_auth_method {method:?} is not supported for metadata-document \
                 clients; use none (with PKCE)"
            ));
        }
        Ok(Client {
            client_name: document.client_name.map(|n| n.chars().take(200).collect()),
            redirect_uris: document.redirect_uris,
            token_endpoint_auth_method: method,
            secret_sha256: None,
            registered_at: crate::store::now(),
            last_used_at: None,
        })
    }
}

/// Whether an address is on the public internet: not loopback, private, link-local,
/// shared (CGNAT), unique-local, multicast, documentation or unspecified.
fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b))
                || (a == 198 && (b == 18 || b == 19)))
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || first == 0x2001 && v6.segments()[1] == 0x0db8)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_addresses_are_fetched() {
        for local in [
            "127.0.0.1",
            "10.0.0.1",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "224.0.0.1",
        ] {
            assert!(!is_public(local.parse().unwrap()), "{local}");
        }
        for public in ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111"] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
    }

    #[tokio::test]
    async fn local_and_plain_http_urls_are_refused_unless_allowed() {
        let documents = Documents::new(false);
        for url in [
            "https://127.0.0.1:9/client.json",
            "https://localhost:9/client.json",
            "http://example.com/client.json",
            "https://example.com/",
        ] {
            assert!(documents.client(url).await.is_err(), "{url}");
        }
    }
}
