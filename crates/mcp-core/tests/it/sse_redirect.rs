//! `/sse` behind a balancer that hashes on `session_id`: with the session redirect on,
//! `GET /sse` names the session before it opens, so the stream and its posts carry the
//! same `session_id`. Two servers stand in for two replicas: the stream opens on the one
//! the `session_id` is sent to, and its posts work there (and only there).

use mcp_core::{HttpConfig, McpServer};
use reqwest::{StatusCode, header};
use serde_json::json;
use test_support::{EventStream, http, initialize_body, initialized_notification, open_sse};

use crate::{Running, Sleeper, sleep_call, start_app};

async fn start_replica(redirect: bool) -> (McpServer, Running) {
    let config = HttpConfig::builder()
        .sse_session_redirect(redirect)
        .build()
        .unwrap();
    let server = McpServer::new(config, || Sleeper);
    let app = server.router();
    (server.clone(), start_app(server, app).await)
}

/// Where `GET /sse` sends the client: the `Location`, checked to name a new session.
async fn redirect_target(base: &str) -> String {
    let response = open_sse(&format!("{base}/sse")).await;
    assert_eq!(response.status(), StatusCode::TEMPORARY_REDIRECT);
    assert_eq!(response.headers()[header::CACHE_CONTROL], "no-store");
    let location = response.headers()[header::LOCATION].to_str().unwrap();
    let id = location
        .strip_prefix("/sse?session_id=")
        .unwrap_or_else(|| panic!("{location}"));
    assert_eq!(id.len(), 32, "{location}");
    location.to_owned()
}

/// Posts `message` to the endpoint `path` on `base`; the status.
async fn post(base: &str, path: &str, message: &serde_json::Value) -> StatusCode {
    http()
        .post(format!("{base}{path}"))
        .json(message)
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn get_sse_redirects_to_a_named_session_which_opens_where_it_is_sent() {
    let (a, replica_a) = start_replica(true).await;
    let (_, replica_b) = start_replica(true).await;

    let location = redirect_target(&replica_a.url).await;
    assert_eq!(a.open_sessions(), 0, "a redirect opens no session");
    let id = location.rsplit('=').next().unwrap().to_owned();

    // The balancer hashed the id to replica B: the stream opens there, under that id.
    let response = open_sse(&format!("{}{location}", replica_b.url)).await;
    assert_eq!(response.status(), StatusCode::OK);
    let mut stream = EventStream::from_response(response);
    let endpoint = stream.endpoint().await;
    assert_eq!(endpoint, format!("/messages/?session_id={id}"));

    // Its posts, hashed on the same id, reach B and are answered on the stream.
    let init = initialize_body(0, "2024-11-05", "legacy");
    assert_eq!(
        post(&replica_b.url, &endpoint, &init).await,
        StatusCode::ACCEPTED
    );
    assert_eq!(
        stream.reply_to(&json!(0)).await["result"]["protocolVersion"],
        "2024-11-05"
    );
    let initialized = initialized_notification();
    assert_eq!(
        post(&replica_b.url, &endpoint, &initialized).await,
        StatusCode::ACCEPTED
    );
    assert_eq!(
        post(&replica_b.url, &endpoint, &sleep_call(0)).await,
        StatusCode::ACCEPTED
    );
    assert_eq!(
        stream.reply_to(&json!(1)).await["result"]["content"][0]["text"],
        "slept"
    );
    // Replica A never held the stream: a post there is 404, which is why the balancer
    // must send it to B.
    assert_eq!(
        post(&replica_a.url, &endpoint, &sleep_call(0)).await,
        StatusCode::NOT_FOUND
    );

    // The id is taken while the stream is open.
    let again = open_sse(&format!("{}{location}", replica_b.url)).await;
    assert_eq!(again.status(), StatusCode::CONFLICT);
    assert!(again.text().await.unwrap().contains("open already"));
}

#[tokio::test]
async fn a_session_id_the_server_would_not_make_is_refused() {
    let (server, replica) = start_replica(true).await;
    for id in [
        "",
        "short",
        "0123456789ABCDEF0123456789ABCDEF",
        "0123456789abcdef0123456789abcdef0",
        "../../../../etc/passwd",
    ] {
        let response = http()
            .get(format!("{}/sse?session_id={id}", replica.url))
            .header(header::ACCEPT, "text/event-stream")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{id:?}");
        assert!(
            response.text().await.unwrap().contains("32 lowercase hex"),
            "{id:?}"
        );
    }
    assert_eq!(server.open_sessions(), 0);
}

#[tokio::test]
async fn without_the_redirect_get_sse_opens_at_once_under_a_new_id() {
    let (_, replica) = start_replica(false).await;
    let chosen = "0123456789abcdef0123456789abcdef";
    let response = open_sse(&format!("{}/sse?session_id={chosen}", replica.url)).await;
    assert_eq!(response.status(), StatusCode::OK);
    let endpoint = EventStream::from_response(response).endpoint().await;
    assert!(endpoint.starts_with("/messages/?session_id="), "{endpoint}");
    assert!(
        !endpoint.contains(chosen),
        "a client does not choose the id: {endpoint}"
    );
}
