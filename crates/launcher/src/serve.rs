//! `dice-mcp serve`: wires the dice tools into mcp-core's router and runs it.

use std::time::Duration;

use anyhow::Context;
use dice_tools::{DiceConfig, DiceTools};
use mcp_core::{Endpoints, ServerConfig, SessionLimits, Transport};

use crate::cli::ServeArgs;

/// Runs the server until SIGINT/SIGTERM.
pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new()
        .context("could not start the async runtime; is the system out of threads or memory?")?;
    runtime.block_on(serve(args))
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let dice = DiceConfig::default()
        .with_max_dice(args.max_dice)
        .context("invalid --max-dice")?;
    let transport = if args.stateless {
        Transport::Stateless
    } else {
        Transport::Stateful
    };
    let endpoints = Endpoints::from(args.transport);
    let config = ServerConfig::builder()
        .transport(transport)
        .endpoints(endpoints)
        .session_limits(SessionLimits {
            max_sessions: args.max_sessions,
            idle_timeout: Duration::from_secs(args.session_idle_secs),
        })
        .allowed_hosts(args.allowed_hosts.iter().cloned())
        .max_body_bytes(args.max_body_bytes)
        .build()
        .context("check --allowed-host, --max-sessions and --max-body-bytes")?;

    let tools = DiceTools::new(dice);
    let app = mcp_core::router(&config, move || tools.clone());

    let listener = tokio::net::TcpListener::bind(args.addr)
        .await
        .with_context(|| {
            format!(
                "could not listen on {}: is another server using that port? \
                 Pick another with --addr 127.0.0.1:PORT (port 0 picks a free one)",
                args.addr
            )
        })?;
    let local = listener
        .local_addr()
        .context("could not read the address the server is listening on")?;
    if !local.ip().is_loopback() {
        tracing::warn!(
            "bound to {local}, which is reachable from other machines, without \
             authentication: anyone who can reach it can call the tools. Prefer 127.0.0.1 \
             and a tunnel; requests must still carry an allowed Host (--allowed-host)"
        );
    }
    let mode = if args.stateless {
        "stateless"
    } else {
        "stateful"
    };
    // The first URL is the one to use; "listening on URL" is what scripts (and xtask) read.
    if endpoints.streamable() {
        tracing::info!(
            "dice-mcp listening on http://{local}{} ({mode})",
            mcp_core::MCP_PATH
        );
    }
    if endpoints.sse() {
        let lead = if endpoints.streamable() {
            "legacy SSE clients use"
        } else {
            "dice-mcp listening on"
        };
        tracing::info!("{lead} http://{local}{} (SSE)", mcp_core::SSE_PATH);
    }
    mcp_core::serve(listener, app, &config, mcp_core::shutdown_signal())
        .await
        .context("the server stopped with an error")?;
    tracing::info!("dice-mcp stopped");
    Ok(())
}
