//! [`RedisSessionStore`]: mcp-core's [`SessionStore`] in Redis, so that every replica of a
//! stateful MCP server serves every session.
//!
//! Each session is one string key, `dice-mcp:session:{id}`, holding the JSON mcp-core
//! writes, set with `SET … EX ttl` and kept alive with `EXPIRE` on each use; `DELETE` of
//! the session is `DEL`. The connection is redis-rs's [`ConnectionManager`]: one
//! multiplexed connection, opened on first use and reopened by itself after Redis comes
//! back. While Redis is unreachable every call fails within about a second, and mcp-core
//! answers `503` for the sessions it needed.
//!
//! ```
//! use std::sync::Arc;
//! use mcp_core::{HttpConfig, McpServer};
//! use session_redis::RedisSessionStore;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // Connects on first use, so this works before Redis is up.
//! let store = Arc::new(RedisSessionStore::open("redis://127.0.0.1:6379/0")?);
//! let handler = dice_tools::DiceTools::default();
//! let server = McpServer::with_session_store(HttpConfig::default(), move || handler.clone(), store)?;
//! let app = server.router();
//! // let listener = tokio::net::TcpListener::bind("127.0.0.1:8000").await?;
//! // server.serve(listener, app, mcp_core::shutdown_signal()).await?;
//! # drop(app);
//! # Ok(()) }
//! ```

use std::time::Duration;

use mcp_core::{SessionStore, StoreError};
use redis::{
    AsyncCommands, Client, RedisError,
    aio::{ConnectionManager, ConnectionManagerConfig},
};

/// The prefix of every session key; the session id follows it.
pub const KEY_PREFIX: &str = "dice-mcp:session:";

/// How long one attempt to connect, or one command, may take before it fails.
pub const TIMEOUT: Duration = Duration::from_secs(1);

/// What went wrong with Redis.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The URL is not a Redis URL (`redis://HOST:PORT[/DB]`).
    #[error("not a Redis URL (expected redis://HOST:PORT[/DB])")]
    InvalidUrl(#[source] RedisError),
    /// The connection could not be set up.
    #[error("could not set up the Redis connection")]
    Connect(#[source] RedisError),
    /// A command failed: Redis is unreachable, timed out or refused it.
    #[error("Redis {command} failed")]
    Command {
        /// The command (`GET`, `SET`, `EXPIRE`, `DEL`, `PING`).
        command: &'static str,
        /// What redis-rs said.
        #[source]
        source: RedisError,
    },
}

/// Sessions kept in Redis. Cheap to clone; clones share the connection.
#[derive(Clone)]
pub struct RedisSessionStore {
    connection: ConnectionManager,
}

impl std::fmt::Debug for RedisSessionStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisSessionStore").finish_non_exhaustive()
    }
}

impl RedisSessionStore {
    /// A store on the Redis at `url` (`redis://HOST:PORT[/DB]`, with `user:password@` if
    /// Redis wants it). Nothing is sent yet: the connection opens on first use, so a
    /// server starts while Redis is still down (see [`Self::ping`] to check it now).
    /// Must be called inside a Tokio runtime, which the connection's task runs on.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidUrl`] if `url` is not a Redis URL, [`Error::Connect`] if the
    /// connection cannot be set up.
    pub fn open(url: &str) -> Result<Self, Error> {
        let client = Client::open(url).map_err(Error::InvalidUrl)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(TIMEOUT))
            .set_response_timeout(Some(TIMEOUT))
            // One quick retry per command; the manager reconnects again on the next one.
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(200));
        let connection =
            ConnectionManager::new_lazy_with_config(client, config).map_err(Error::Connect)?;
        Ok(Self { connection })
    }

    /// Asks Redis whether it is there (`PING`).
    ///
    /// # Errors
    ///
    /// [`Error::Command`] if it does not answer.
    pub async fn ping(&self) -> Result<(), Error> {
        let mut connection = self.connection.clone();
        redis::cmd("PING")
            .query_async::<()>(&mut connection)
            .await
            .map_err(|source| Error::Command {
                command: "PING",
                source,
            })
    }
}

/// The key of session `id`.
fn key(id: &str) -> String {
    format!("{KEY_PREFIX}{id}")
}

/// Whole seconds for `EX`/`EXPIRE`, at least one (Redis refuses zero).
fn seconds(ttl: Duration) -> u64 {
    ttl.as_secs().max(1)
}

fn failed(command: &'static str) -> impl FnOnce(RedisError) -> StoreError {
    move |source| Box::new(Error::Command { command, source })
}

#[async_trait::async_trait]
impl SessionStore for RedisSessionStore {
    async fn load(&self, id: &str) -> Result<Option<String>, StoreError> {
        let mut connection = self.connection.clone();
        connection.get(key(id)).await.map_err(failed("GET"))
    }

    async fn save(&self, id: &str, entry: &str, ttl: Duration) -> Result<(), StoreError> {
        let mut connection = self.connection.clone();
        connection
            .set_ex(key(id), entry, seconds(ttl))
            .await
            .map_err(failed("SET"))
    }

    async fn touch(&self, id: &str, ttl: Duration) -> Result<bool, StoreError> {
        let mut connection = self.connection.clone();
        let seconds = i64::try_from(seconds(ttl)).unwrap_or(i64::MAX);
        connection
            .expire(key(id), seconds)
            .await
            .map_err(failed("EXPIRE"))
    }

    async fn delete(&self, id: &str) -> Result<(), StoreError> {
        let mut connection = self.connection.clone();
        connection.del(key(id)).await.map_err(failed("DEL"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttls_are_whole_seconds_never_zero() {
        assert_eq!(seconds(Duration::from_millis(300)), 1);
        assert_eq!(seconds(Duration::from_secs(300)), 300);
        assert_eq!(seconds(Duration::from_millis(2_900)), 2);
    }

    #[tokio::test]
    async fn a_url_that_is_not_redis_is_refused() {
        assert!(matches!(
            RedisSessionStore::open("http://localhost:6379"),
            Err(Error::InvalidUrl(_))
        ));
    }
}
