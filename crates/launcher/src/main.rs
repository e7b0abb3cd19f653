//! `dice-mcp`: serve the dice tools over MCP (Streamable HTTP and legacy SSE), and make and
//! use the keys and tokens that protect them.

mod cli;
mod keys;
mod serve;

use clap::Parser;
use tracing_subscriber::EnvFilter;

fn main() -> std::process::ExitCode {
    let cli = cli::Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            // rmcp logs every stateless request at info: keep that out of the default view.
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,rmcp=warn")),
        )
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .init();
    let result = match cli.command {
        cli::Command::Serve(args) => serve::run(args),
        cli::Command::Keygen(args) => keys::keygen(args),
        cli::Command::Token(args) => keys::token(args),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
