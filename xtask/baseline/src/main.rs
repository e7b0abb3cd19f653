//! The benchmark's baseline: a bare axum handler answering `POST /mcp` with the static JSON a
//! `tools/call roll_dice` reply has. It does what any axum service must (accept, parse HTTP,
//! route, read the whole request body, write), and nothing MCP, JWT or dice: the ceiling
//! dice-mcp is measured against.
//!
//! usage: bench-baseline PORT

use axum::{Router, body::Bytes, http::header, routing::post};

const REPLY: &str = r#"{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"[4, 2, 6]"}],"structuredContent":{"result":[4,2,6]},"isError":false}}"#;

fn main() -> std::io::Result<()> {
    let port: u16 = std::env::args()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let app = Router::new().route(
            "/mcp",
            // `Bytes` reads the body to its end, as a handler that uses it must.
            post(|body: Bytes| async move {
                std::hint::black_box(body);
                ([(header::CONTENT_TYPE, "application/json")], REPLY)
            }),
        );
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
        eprintln!(
            "baseline listening on http://{}/mcp",
            listener.local_addr()?
        );
        let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
            let _ = tcp.set_nodelay(true);
        });
        axum::serve(listener, app).await
    })
}
