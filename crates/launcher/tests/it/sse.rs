//! The legacy HTTP+SSE transport at `/sse` + `/messages/`: rmcp's client over it, the
//! endpoint event, keep-alives, cleanup after disconnects, the shared session cap, a
//! client that stops reading. (Its refusals and the guard on it are tested on mcp-core's
//! router.)

use std::time::Duration;

use dice_tools::DiceConfig;
use mcp_core::{HttpConfig, SessionLimits, SessionMode, Transports};
use reqwest::{StatusCode, header};
use rmcp::{
    ServiceExt,
    model::{
        CallToolRequestParams, ClientCapabilities, ClientConfig, Implementation, ProtocolVersion,
    },
};
use serde_json::{Value, json};
use test_support::{
    EventStream, UnreadSse, http, initialize_body, initialized_notification, mcp_post, open_sse,
};

use crate::support::{TestServer, rmcp_sse_transport};

async fn open(server: &TestServer, path: &str) -> EventStream {
    let response = open_sse(&format!("{}{path}", server.base)).await;
    assert_eq!(response.status(), StatusCode::OK);
    let content_type = response.headers()[header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        content_type.starts_with("text/event-stream"),
        "{content_type}"
    );
    EventStream::from_response(response)
}

#[tokio::test]
async fn rmcp_client_over_sse_lists_and_calls_on_2024_and_2025_revisions() {
    let server = TestServer::start(SessionMode::Stateless).await;
    for version in [ProtocolVersion::V_2024_11_05, ProtocolVersion::V_2025_03_26] {
        let transport = rmcp_sse_transport(&server.base, &format!("{}/sse", server.base)).await;
        let client = ClientConfig::new(
            ClientCapabilities::default(),
            Implementation::new("it", "0"),
        )
        .with_protocol_version(version.clone())
        .serve(transport)
        .await
        .unwrap();
        assert_eq!(client.peer_info().unwrap().protocol_version, version);
        let tools = client.list_all_tools().await.unwrap();
        let roll_dice = tools.iter().find(|t| t.name == "roll_dice").unwrap();
        assert_eq!(
            Value::Object((*roll_dice.input_schema).clone()),
            json!({"type":"object","properties":{"n_dice":{"type":"integer"}},"required":["n_dice"]})
        );
        let Value::Object(args) = json!({"n_dice": 4}) else {
            unreachable!()
        };
        let result = client
            .call_tool(CallToolRequestParams::new("roll_dice").with_arguments(args))
            .await
            .unwrap();
        let rolls = result.structured_content.unwrap()["result"]
            .as_array()
            .unwrap()
            .clone();
        assert_eq!(rolls.len(), 4);
        assert!(rolls.iter().all(|r| (1..=6).contains(&r.as_i64().unwrap())));
        let Value::Object(args) = json!({"expression": "4d6kh3+2"}) else {
            unreachable!()
        };
        let result = client
            .call_tool(CallToolRequestParams::new("roll").with_arguments(args))
            .await
            .unwrap();
        let total = result.structured_content.unwrap()["total"]
            .as_i64()
            .unwrap();
        assert!((5..=20).contains(&total));
        let Value::Object(args) = json!({"n_dice": 0}) else {
            unreachable!()
        };
        let result = client
            .call_tool(CallToolRequestParams::new("roll_dice").with_arguments(args))
            .await
            .unwrap();
        assert_eq!(result.is_error, Some(true));
        client.cancel().await.unwrap();
    }
    server.stop().await;
}

#[tokio::test]
async fn first_event_names_a_relative_messages_url_and_replies_arrive_as_message_events() {
    let server = TestServer::start(SessionMode::Stateful).await;
    for path in ["/sse", "/sse/"] {
        let mut stream = open(&server, path).await;
        let url = stream.endpoint().await;
        assert!(url.starts_with("/messages/?session_id="), "{url}");
        let response = http()
            .post(format!("{}{url}", server.base))
            .json(&initialize_body(0, "2024-11-05", "it"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::ACCEPTED);
        let reply = stream.next_event().await.unwrap();
        assert_eq!(reply.event, "message");
        let reply: Value = serde_json::from_str(&reply.data).unwrap();
        assert_eq!(reply["id"], 0);
        assert_eq!(reply["result"]["protocolVersion"], "2024-11-05");
    }
    server.stop().await;
}

#[tokio::test]
async fn keep_alive_comments_flow_on_idle_streams() {
    let builder = HttpConfig::builder()
        .session_mode(SessionMode::Stateless)
        .sse_keep_alive(Some(Duration::from_millis(100)));
    let server = TestServer::start_with(builder, DiceConfig::default()).await;
    // Comments are not events (sse-stream drops them), so the stream is read as bytes here.
    let mut response = open_sse(&format!("{}/sse", server.base)).await;
    let mut text = String::new();
    let found = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(chunk) = response.chunk().await.unwrap() {
            text.push_str(&String::from_utf8_lossy(&chunk));
            // The endpoint event, then a comment line on the idle stream.
            if text.contains("event: endpoint") && text.lines().any(|l| l.starts_with(':')) {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(
        found,
        Ok(true),
        "no keep-alive comment within 10 s: {text:?}"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_thousand_dropped_streams_leave_no_session_behind() {
    let builder = HttpConfig::builder()
        .session_mode(SessionMode::Stateless)
        .sse_keep_alive(Some(Duration::from_millis(200)));
    let server = TestServer::start_with(builder, DiceConfig::default()).await;
    let mut peak = 0;
    for _batch in 0..20 {
        let mut open_now = Vec::new();
        for _ in 0..50 {
            let mut stream = open(&server, "/sse").await;
            stream.endpoint().await;
            open_now.push(stream);
        }
        peak = peak.max(server.server.open_sessions());
        drop(open_now);
    }
    assert!(peak >= 50, "sessions were counted while open (peak {peak})");
    let mut left = usize::MAX;
    for _ in 0..100 {
        left = server.server.open_sessions();
        if left == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(left, 0, "sessions still open 10 s after their clients left");
    server.stop().await;
}

#[tokio::test]
async fn sse_streams_and_stateful_sessions_share_one_cap() {
    let limits = SessionLimits {
        max_sessions: 2,
        idle_timeout: Duration::from_secs(60),
        ..SessionLimits::default()
    };
    let builder = HttpConfig::builder()
        .session_mode(SessionMode::Stateful)
        .session_limits(limits);
    let server = TestServer::start_with(builder, DiceConfig::default()).await;
    let mut first = open(&server, "/sse").await;
    first.endpoint().await;
    test_support::open_session(&server.mcp_url, "2025-06-18", |request| request).await;

    let third = open_sse(&format!("{}/sse", server.base)).await;
    assert_eq!(third.status(), StatusCode::SERVICE_UNAVAILABLE);
    let init = mcp_post(&server.mcp_url)
        .json(&initialize_body(1, "2025-06-18", "it"))
        .send()
        .await
        .unwrap();
    assert_eq!(init.status(), StatusCode::SERVICE_UNAVAILABLE);
    server.stop().await;
}

#[tokio::test]
async fn endpoints_setting_serves_only_the_chosen_transport() {
    let sse_only = HttpConfig::builder().transports(Transports::Sse);
    let server = TestServer::start_with(sse_only, DiceConfig::default()).await;
    let mcp = mcp_post(&server.mcp_url)
        .json(&initialize_body(1, "2025-06-18", "it"))
        .send()
        .await
        .unwrap();
    assert_eq!(mcp.status(), StatusCode::NOT_FOUND);
    open(&server, "/sse").await;
    server.stop().await;

    let streamable_only = HttpConfig::builder().transports(Transports::StreamableHttp);
    let server = TestServer::start_with(streamable_only, DiceConfig::default()).await;
    let sse = http()
        .get(format!("{}/sse", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(sse.status(), StatusCode::NOT_FOUND);
    server.stop().await;
}

#[tokio::test]
async fn a_stream_nobody_reads_makes_messages_answer_429_instead_of_buffering() {
    let server = TestServer::start(SessionMode::Stateful).await;
    // A client with a small receive buffer that reads the endpoint event, then never again.
    let stream = UnreadSse::open(&server.base).await;
    let post_url = &stream.messages_url;
    let http = http();
    let initialize = initialize_body(0, "2024-11-05", "slow-reader");
    let status = http
        .post(post_url)
        .json(&initialize)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, StatusCode::ACCEPTED);
    http.post(post_url)
        .json(&initialized_notification())
        .send()
        .await
        .unwrap();
    // Big answers: ten 1000-dice terms with up to seven digits each.
    let expression = ["1000d1000000"; 10].join("+");
    let mut accepted = 0;
    let mut refused = None;
    for id in 1..=3000 {
        let call = json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
            "params": {"name": "roll", "arguments": {"expression": expression}}});
        let response = http.post(post_url).json(&call).send().await.unwrap();
        match response.status() {
            StatusCode::ACCEPTED => accepted += 1,
            StatusCode::TOO_MANY_REQUESTS => {
                refused = Some(response.headers().get("retry-after").cloned());
                break;
            }
            other => panic!("unexpected {other} after {accepted} accepted posts"),
        }
    }
    let retry_after = refused
        .unwrap_or_else(|| panic!("3000 posts were all accepted while the stream was never read"));
    assert_eq!(retry_after.unwrap(), "1");
    // The session's unanswered work is bounded. Each answer is about 150 kB (10 000 rolls
    // of up to seven digits, as text and as structured content); 1 MiB or 16 answers may
    // wait unread, about 6 of these, and the socket buffers (a few MB on loopback) hold
    // some 10 more: 17 were accepted here. Unbounded, all 3000 would be.
    assert!(
        accepted < 50,
        "{accepted} answers accepted while the stream was never read"
    );
    drop(stream);
}

#[tokio::test]
async fn an_sse_session_without_posts_is_closed_after_the_idle_timeout() {
    let limits = SessionLimits {
        idle_timeout: Duration::from_millis(600),
        ..SessionLimits::default()
    };
    let server = TestServer::start_with(
        HttpConfig::builder().session_limits(limits),
        DiceConfig::default(),
    )
    .await;
    let mut stream = open(&server, "/sse").await;
    stream.endpoint().await;
    assert_eq!(server.server.open_sessions(), 1);
    let ended = tokio::time::timeout(Duration::from_secs(5), stream.next_event()).await;
    assert!(
        matches!(ended, Ok(None)),
        "an idle /sse stream stayed open: {ended:?}"
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        server.server.open_sessions(),
        0,
        "the session's place was freed"
    );
}
