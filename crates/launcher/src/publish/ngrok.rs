//! [`Ngrok`]: an HTTPS endpoint from the `ngrok` crate, inside this process (the `tunnel`
//! feature).

use std::{net::SocketAddr, time::Duration};

use anyhow::{Context, anyhow};

use super::{BoxFuture, Published, Publisher};

/// An ngrok HTTPS endpoint forwarding to the local server, opened with the `ngrok` crate.
#[derive(Clone)]
pub struct Ngrok {
    authtoken: String,
    domain: Option<String>,
    server_addr: Option<String>,
    timeout: Duration,
}

impl std::fmt::Debug for Ngrok {
    /// Never prints the authtoken.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ngrok")
            .field("domain", &self.domain)
            .finish_non_exhaustive()
    }
}

/// How long connecting to ngrok may take before `dev` gives up.
pub const DEFAULT_NGROK_TIMEOUT: Duration = Duration::from_secs(15);

impl Ngrok {
    /// A publisher using `authtoken`, optionally on a reserved `domain`.
    pub fn new(authtoken: String, domain: Option<String>) -> Self {
        Self {
            authtoken,
            domain,
            server_addr: None,
            timeout: DEFAULT_NGROK_TIMEOUT,
        }
    }

    /// Connects to another ngrok server address (`host:port`) instead of ngrok's service.
    pub fn with_server_addr(mut self, addr: Option<String>) -> Self {
        self.server_addr = addr;
        self
    }

    /// Gives up connecting after `timeout`.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    async fn open(&self, local: SocketAddr) -> anyhow::Result<Published> {
        use ngrok::config::ForwarderBuilder;
        use ngrok::tunnel::{EndpointInfo, TunnelCloser};

        let mut builder = ngrok::Session::builder();
        builder.authtoken(self.authtoken.clone());
        if let Some(addr) = &self.server_addr {
            builder
                .server_addr(addr.clone())
                .map_err(|e| anyhow!("invalid ngrok server address {addr:?}: {e}"))?;
        }
        let session = builder.connect().await.map_err(|error| {
            let detail = error_chain(&error);
            match error {
                ngrok::session::ConnectError::Auth(_) => anyhow!(
                    "ngrok refused the authtoken ({detail}); check NGROK_AUTHTOKEN (your token \
                     is on the ngrok dashboard), or run locally with --local"
                ),
                _ => anyhow!(
                    "could not reach ngrok ({detail}); check your network, or run locally \
                     with --local"
                ),
            }
        })?;
        let mut endpoint = session.http_endpoint();
        if let Some(domain) = &self.domain {
            endpoint.domain(domain.clone());
        }
        let to = url::Url::parse(&format!("http://{local}"))
            .context("the local address is not a URL")?;
        let mut forwarder = endpoint.listen_and_forward(to).await.map_err(|error| {
            anyhow!(
                "ngrok would not open the endpoint ({}); check --domain (it must be reserved \
                 on your ngrok account), or run locally with --local",
                error_chain(&error)
            )
        })?;
        let base_url = forwarder.url().trim_end_matches('/').to_owned();
        let host = url::Url::parse(&base_url)
            .ok()
            .and_then(|url| url.host_str().map(str::to_owned));
        let closer: Box<dyn FnOnce() -> BoxFuture<'static, ()> + Send> = Box::new(move || {
            Box::pin(async move {
                let mut session = session;
                if let Err(error) = forwarder.close().await {
                    tracing::warn!(%error, "could not close the ngrok endpoint cleanly");
                }
                let _ = session.close().await;
            })
        });
        Ok(Published::new(base_url, host, true, Some(closer)))
    }
}

impl Publisher for Ngrok {
    fn publish(&self, local: SocketAddr) -> BoxFuture<'_, anyhow::Result<Published>> {
        Box::pin(async move {
            match tokio::time::timeout(self.timeout, self.open(local)).await {
                Ok(result) => result,
                Err(_) => Err(anyhow!(
                    "ngrok did not answer within {} s; check your network (or a firewall), \
                     or run locally with --local",
                    self.timeout.as_secs()
                )),
            }
        })
    }

    fn name(&self) -> &'static str {
        "ngrok"
    }
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
