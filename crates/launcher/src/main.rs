//! `dice-mcp`: serve the dice tools over MCP (Streamable HTTP and legacy SSE), make and use
//! the keys and tokens that protect them, and publish them for OpenAI.

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = launcher::cli::Cli::parse();
    launcher::init_logging();
    match launcher::run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
