//! `dice-mcp`: serve the dice tools over MCP (Streamable HTTP and legacy SSE), make and use
//! the keys and tokens that protect them, and publish them for OpenAI.

use clap::Parser;

// The request path allocates a great deal (rmcp builds a service, channels and a task per
// stateless request): glibc's malloc and free were a third of the profile. jemalloc is as
// fast at this, and with its background threads on it hands memory freed after a burst
// back to the OS within seconds even when no request comes (dirty pages decay over 10 s).
// mimalloc, used before, was a few percent faster but purges only when the process
// allocates again: after 2000 connections an idle server kept ~100 MB of a 13 MB
// baseline. Measured in the closing note of the hardening issue.
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> std::process::ExitCode {
    // Purge freed pages in the background rather than on the next allocation. Where
    // jemalloc cannot start the threads it keeps working, only without the purge.
    let _ = tikv_jemalloc_ctl::background_thread::write(true);
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
