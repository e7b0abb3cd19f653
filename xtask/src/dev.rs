//! `cargo xtask dev`: run the built `dice-mcp dev`, passing the arguments through, and stay
//! until it has stopped, so that Ctrl-C ends with dice-mcp drained and its port free, and
//! xtask exits with dice-mcp's code.
//!
//! dice-mcp runs in xtask's process group, so the terminal's Ctrl-C (SIGINT) reaches both:
//! xtask only has to not die of it, and then wait. A SIGTERM, which only xtask gets, is
//! passed on to dice-mcp.

use std::{
    path::Path,
    process::{ExitCode, ExitStatus},
};

use anyhow::Context;
use tokio::signal::unix::{SignalKind, signal};

/// Runs `BINARY dev ARGS` until it exits; returns its exit code (128 + N when signal N
/// ended it, as a shell reports it).
pub fn dev(binary: &Path, args: &[String]) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("could not start the async runtime")?;
    let status = runtime.block_on(run_until_exit(binary, args))?;
    if !status.success() {
        eprintln!("xtask: dice-mcp dev exited with {status}");
    }
    Ok(exit_code(status))
}

async fn run_until_exit(binary: &Path, args: &[String]) -> anyhow::Result<ExitStatus> {
    // From here on SIGINT no longer ends xtask (tokio keeps its handler for the process's
    // life); it was the default that left dice-mcp running after xtask had gone.
    let mut interrupt =
        signal(SignalKind::interrupt()).context("could not handle Ctrl-C (SIGINT)")?;
    let mut terminate = signal(SignalKind::terminate()).context("could not handle SIGTERM")?;
    let mut child = tokio::process::Command::new(binary)
        .arg("dev")
        .args(args)
        .spawn()
        .with_context(|| format!("could not start {}", binary.display()))?;
    loop {
        tokio::select! {
            status = child.wait() => return status.context("waiting for dice-mcp dev"),
            // dice-mcp got it from the terminal too and is draining; wait for it.
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {
                if let Some(pid) = child.id() {
                    let _ = tokio::process::Command::new("kill")
                        .args(["-TERM", &pid.to_string()])
                        .status()
                        .await;
                }
            }
        }
    }
}

/// The code a shell would report for `status`.
fn exit_code(status: ExitStatus) -> ExitCode {
    use std::os::unix::process::ExitStatusExt;
    let code = status
        .code()
        .or_else(|| status.signal().map(|signal| 128 + signal))
        .unwrap_or(1);
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}
