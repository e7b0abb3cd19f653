//! Sessions shared by replicas through a `SessionStore`: here an in-memory one two servers
//! share (the Redis store has its own tests against a real Redis). A session opened on one
//! replica is used on the other, stays its owner's there, ends everywhere on `DELETE`, and
//! a store that fails refuses new sessions with `503`.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use mcp_core::{HttpConfig, McpServer, SessionStore, StoreError};
use reqwest::{Method, StatusCode};
use test_support::{SESSION_HEADER, initialize_body, mcp_post};

use crate::{
    Running, Sleeper,
    owners::{VERSION, in_session, open_session_as, principal_from_header},
    start_app,
};

/// A store in a map, shared by clones; `down` makes every call fail.
#[derive(Debug, Default, Clone)]
struct MemoryStore {
    entries: Arc<Mutex<HashMap<String, String>>>,
    ttls: Arc<Mutex<Vec<Duration>>>,
    down: Arc<AtomicBool>,
    /// Loads that still succeed before every load fails (the store going down between
    /// two reads of one request).
    loads_left: Arc<Mutex<Option<usize>>>,
}

impl MemoryStore {
    fn check(&self) -> Result<(), StoreError> {
        if self.down.load(Ordering::SeqCst) {
            return Err("connection refused".into());
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl SessionStore for MemoryStore {
    async fn load(&self, id: &str) -> Result<Option<String>, StoreError> {
        self.check()?;
        if let Some(left) = self.loads_left.lock().unwrap().as_mut() {
            if *left == 0 {
                return Err("connection reset".into());
            }
            *left -= 1;
        }
        Ok(self.entries.lock().unwrap().get(id).cloned())
    }
    async fn save(&self, id: &str, entry: &str, ttl: Duration) -> Result<(), StoreError> {
        self.check()?;
        self.ttls.lock().unwrap().push(ttl);
        self.entries
            .lock()
            .unwrap()
            .insert(id.to_owned(), entry.to_owned());
        Ok(())
    }
    async fn touch(&self, id: &str, ttl: Duration) -> Result<bool, StoreError> {
        self.check()?;
        self.ttls.lock().unwrap().push(ttl);
        Ok(self.entries.lock().unwrap().contains_key(id))
    }
    async fn delete(&self, id: &str) -> Result<(), StoreError> {
        self.check()?;
        self.entries.lock().unwrap().remove(id);
        Ok(())
    }
}

async fn replica(store: Option<&MemoryStore>) -> Running {
    replica_server(store).await.1
}

/// A replica: a stateful server sharing `store` (or none), principals from `x-principal`.
async fn replica_server(store: Option<&MemoryStore>) -> (McpServer, Running) {
    replica_with(HttpConfig::default(), store).await
}

/// [`replica_server`] with `config`.
async fn replica_with(config: HttpConfig, store: Option<&MemoryStore>) -> (McpServer, Running) {
    let server = match store {
        Some(store) => {
            McpServer::with_session_store(config, || Sleeper, Arc::new(store.clone())).unwrap()
        }
        None => McpServer::new(config, || Sleeper),
    };
    let app = server
        .mcp_routes()
        .layer(axum::middleware::from_fn(principal_from_header));
    (server.clone(), start_app(server, app).await)
}

#[tokio::test]
async fn a_session_opened_on_one_replica_is_served_by_another_sharing_the_store() {
    let store = MemoryStore::default();
    let (a, b) = (replica(Some(&store)).await, replica(Some(&store)).await);
    let id = open_session_as(&a, "alice").await;
    assert_eq!(
        in_session(&b, "alice", &id, Method::POST).await,
        StatusCode::OK
    );
    // Used on B, it is still A's too.
    assert_eq!(
        in_session(&a, "alice", &id, Method::POST).await,
        StatusCode::OK
    );
    // Every entry expires with the session idle timeout.
    let idle = mcp_core::DEFAULT_SESSION_IDLE;
    assert!(store.ttls.lock().unwrap().iter().all(|ttl| *ttl == idle));
}

#[tokio::test]
async fn without_a_store_another_replica_does_not_know_the_session() {
    let (a, b) = (replica(None).await, replica(None).await);
    let id = open_session_as(&a, "alice").await;
    assert_eq!(
        in_session(&b, "alice", &id, Method::POST).await,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn another_principal_gets_404_on_every_replica() {
    let store = MemoryStore::default();
    let (a, b, c) = (
        replica(Some(&store)).await,
        replica(Some(&store)).await,
        replica(Some(&store)).await,
    );
    let id = open_session_as(&a, "alice").await;
    // B has restored it for alice; C has never seen it.
    assert_eq!(
        in_session(&b, "alice", &id, Method::POST).await,
        StatusCode::OK
    );
    for server in [&a, &b, &c] {
        for method in [Method::POST, Method::GET, Method::DELETE] {
            let status = in_session(server, "mallory", &id, method.clone()).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{method} by mallory");
        }
    }
    assert_eq!(
        in_session(&c, "alice", &id, Method::POST).await,
        StatusCode::OK
    );
}

#[tokio::test]
async fn delete_on_one_replica_ends_the_session_on_all() {
    let store = MemoryStore::default();
    let (a, b, c) = (
        replica(Some(&store)).await,
        replica(Some(&store)).await,
        replica(Some(&store)).await,
    );
    let id = open_session_as(&a, "alice").await;
    assert_eq!(
        in_session(&b, "alice", &id, Method::POST).await,
        StatusCode::OK
    );
    // Ended on C, which never held it, and B, which did, forgets it.
    assert_eq!(
        in_session(&c, "alice", &id, Method::DELETE).await,
        StatusCode::NO_CONTENT
    );
    for server in [&a, &b, &c] {
        assert_eq!(
            in_session(server, "alice", &id, Method::POST).await,
            StatusCode::NOT_FOUND
        );
    }
}

#[tokio::test]
async fn a_failing_store_refuses_new_and_restored_sessions_with_503_and_serves_held_ones() {
    let store = MemoryStore::default();
    let (a_server, a) = replica_server(Some(&store)).await;
    let b = replica(Some(&store)).await;
    let id = open_session_as(&a, "alice").await;
    store.down.store(true, Ordering::SeqCst);

    let response = mcp_post(&format!("{}/mcp", a.url))
        .header("x-principal", "alice")
        .json(&initialize_body(1, VERSION, "test"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(response.headers().get(SESSION_HEADER).is_none());
    let text = response.text().await.unwrap();
    assert!(
        text.contains("store that keeps sessions is unreachable"),
        "{text}"
    );
    // B would have to restore it from the store; A holds it and serves it on.
    assert_eq!(
        in_session(&b, "alice", &id, Method::POST).await,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(
        in_session(&a, "alice", &id, Method::POST).await,
        StatusCode::OK
    );
    // The session whose save failed was not left open.
    assert_eq!(a_server.open_sessions(), 1);

    store.down.store(false, Ordering::SeqCst);
    assert_eq!(
        in_session(&b, "alice", &id, Method::POST).await,
        StatusCode::OK
    );
}

#[tokio::test]
async fn copies_of_sessions_deleted_elsewhere_do_not_use_up_the_quota() {
    let store = MemoryStore::default();
    let config = HttpConfig::builder()
        .session_limits(mcp_core::SessionLimits {
            max_per_principal: 2,
            ..mcp_core::SessionLimits::default()
        })
        .build()
        .unwrap();
    let (a, b) = (
        replica_with(config.clone(), Some(&store)).await.1,
        replica_with(config, Some(&store)).await.1,
    );
    // Two sessions opened on A, served once by B (which keeps a copy), deleted on A.
    for _ in 0..2 {
        let id = open_session_as(&a, "alice").await;
        assert_eq!(
            in_session(&b, "alice", &id, Method::POST).await,
            StatusCode::OK
        );
        assert_eq!(
            in_session(&a, "alice", &id, Method::DELETE).await,
            StatusCode::NO_CONTENT
        );
    }
    // B's copies are of sessions that have ended: they do not count against alice.
    let response = mcp_post(&format!("{}/mcp", b.url))
        .header("x-principal", "alice")
        .json(&initialize_body(1, VERSION, "test"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    // A live session does count: with it and one more, alice is at her quota on B.
    let _second = open_session_as(&b, "alice").await;
    let refused = mcp_post(&format!("{}/mcp", b.url))
        .header("x-principal", "alice")
        .json(&initialize_body(1, VERSION, "test"))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn a_store_failing_inside_rmcp_is_503_not_500() {
    let store = MemoryStore::default();
    let (a, b) = (replica(Some(&store)).await, replica(Some(&store)).await);
    let id = open_session_as(&a, "alice").await;
    // B reads the owner, then the store goes down before rmcp reads the session.
    *store.loads_left.lock().unwrap() = Some(1);
    assert_eq!(
        in_session(&b, "alice", &id, Method::POST).await,
        StatusCode::SERVICE_UNAVAILABLE
    );
    *store.loads_left.lock().unwrap() = None;
    // A DELETE that cannot reach the store says so: the session would live on elsewhere.
    store.down.store(true, Ordering::SeqCst);
    assert_eq!(
        in_session(&a, "alice", &id, Method::DELETE).await,
        StatusCode::SERVICE_UNAVAILABLE
    );
    // Retried once the store is back, the DELETE ends it everywhere.
    store.down.store(false, Ordering::SeqCst);
    assert_eq!(
        in_session(&a, "alice", &id, Method::DELETE).await,
        StatusCode::NO_CONTENT
    );
    for server in [&a, &b] {
        assert_eq!(
            in_session(server, "alice", &id, Method::POST).await,
            StatusCode::NOT_FOUND
        );
    }
}
