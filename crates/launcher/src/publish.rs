//! Publishing a local server: the [`Publisher`] trait, [`LocalOnly`] (no tunnel) and, with
//! the `tunnel` feature, `Ngrok` (an HTTPS endpoint from the `ngrok` crate, inside this
//! process).

use std::{future::Future, net::SocketAddr, pin::Pin};

#[cfg(feature = "tunnel")]
mod ngrok;
#[cfg(feature = "tunnel")]
pub use ngrok::{DEFAULT_NGROK_TIMEOUT, Ngrok};

/// A boxed future, so the trait stays object-safe.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Where the server can be reached, and how to stop being reachable there.
pub struct Published {
    /// Base URL clients use, without a trailing slash (`https://abc.ngrok.app`).
    pub base_url: String,
    /// The host clients send in `Host`, to add to the allowed hosts (`None` for loopback).
    pub host: Option<String>,
    /// Whether the URL is reachable from the internet (OpenAI needs that).
    pub public: bool,
    closer: Option<Box<dyn FnOnce() -> BoxFuture<'static, ()> + Send>>,
}

impl Published {
    /// A publication with a closing action (run by [`Self::close`]).
    pub fn new(
        base_url: String,
        host: Option<String>,
        public: bool,
        closer: Option<Box<dyn FnOnce() -> BoxFuture<'static, ()> + Send>>,
    ) -> Self {
        Self {
            base_url,
            host,
            public,
            closer,
        }
    }

    /// Stops publishing (closes the tunnel).
    pub async fn close(mut self) {
        if let Some(close) = self.closer.take() {
            close().await;
        }
    }
}

/// Makes a server listening on a loopback address reachable somewhere.
pub trait Publisher: Send + Sync {
    /// Publishes `local` and says where it can now be reached.
    fn publish(&self, local: SocketAddr) -> BoxFuture<'_, anyhow::Result<Published>>;
    /// A one-word name for logs and messages.
    fn name(&self) -> &'static str;
}

/// No tunnel: the local URL is the URL.
#[derive(Debug, Default, Clone, Copy)]
pub struct LocalOnly;

impl Publisher for LocalOnly {
    fn publish(&self, local: SocketAddr) -> BoxFuture<'_, anyhow::Result<Published>> {
        Box::pin(async move { Ok(Published::new(format!("http://{local}"), None, false, None)) })
    }

    fn name(&self) -> &'static str {
        "local"
    }
}
