//! The `dice-mcp` command as a library: the binary's `main` parses the command line and calls
//! [`run`]; tests call the pieces ([`dev`], [`publish`]) directly.

#[cfg(feature = "tunnel")]
pub mod ask;
pub mod check;
pub mod cli;
pub mod dev;
mod health;
mod keys;
pub mod metrics;
mod oauth;
pub mod publish;
mod serve;
pub mod sse_client;

use anyhow::Context;
use tracing_subscriber::EnvFilter;

/// Runs a parsed command line; the error carries the advice to print.
pub fn run(cli: cli::Cli) -> anyhow::Result<()> {
    match cli.command {
        cli::Command::Serve(args) => serve::run(*args),
        cli::Command::Keygen(args) => keys::keygen(args),
        cli::Command::Token(args) => keys::token(args),
        cli::Command::Dev(args) => dev::run(args),
        cli::Command::Check(args) => check::run(args),
        #[cfg(feature = "tunnel")]
        cli::Command::Ask(args) => ask::run(args),
        #[cfg(not(feature = "tunnel"))]
        cli::Command::Ask(_) => anyhow::bail!(
            "this dice-mcp was built without the `tunnel` feature, so it has no OpenAI client: \
             `ask` is not available; build it with default features \
             (`cargo install --path crates/launcher`), or call the Responses API yourself"
        ),
        cli::Command::Oauth(args) => oauth::run(&args),
        cli::Command::Health(args) => health::run(&args),
    }
}

/// Logs to stderr, filtered by `RUST_LOG` (default: info, rmcp's per-request lines hidden).
pub fn init_logging() {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,rmcp=warn")),
        )
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .init();
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Runtime::new()
        .context("could not start the async runtime; is the system out of threads or memory?")
}
