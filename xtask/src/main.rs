//! `cargo xtask`: the project's chores. `dev` runs the server locally with a ready-to-paste
//! example; `ci` runs every check CI runs, in order; `interop` drives the server with real
//! clients.

mod bench;
mod bench_peers;
mod dev;
mod interop;
mod server;
mod soak;

use std::{
    env,
    path::{Path, PathBuf},
    process::{Command, ExitCode},
};

use anyhow::{Context, bail};

const USAGE: &str = "\
usage: cargo xtask <task> [args]

tasks:
  dev [DEV-FLAGS]     build dice-mcp and run `dice-mcp dev`: serve with a token on
                      127.0.0.1:8000, publish through ngrok when NGROK_AUTHTOKEN is set,
                      print the URL, the token and an OpenAI snippet (see
                      `dice-mcp dev --help`).
  ci                  fmt --check, clippy -D warnings, tests, docs -D warnings, interop,
                      a one-minute soak: everything CI runs.
  interop             real clients (Python and TypeScript SDKs, FastMCP, MCP Inspector,
                      the conformance suite; pinned, installed into target/interop/)
                      against the real binary on 127.0.0.1.
  bench [--peers] [--duration SECS]
                      requests/s, p50/p99 and memory of dice-mcp against a bare axum
                      baseline (and FastMCP and the TS SDK with --peers), server on CPU 0,
                      wrk on CPU 1; cold start and binary size. JSON in target/bench/.
  soak [--minutes N]  legitimate and hostile traffic at once for N minutes (default 1;
                      0.5 works) against a --stateless and a stateful release server:
                      outcomes per kind, /healthz p50/p99, RSS and fds at start, peak and
                      end; fails on an unexpected answer or when RSS or fds do not come
                      back near baseline. JSON in target/soak/report.json.
";

fn main() -> ExitCode {
    let mut args = env::args().skip(1);
    let task = args.next();
    let rest: Vec<String> = args.collect();
    let result = match task.as_deref() {
        Some("dev") => build_binary().and_then(|binary| dev::dev(&binary, &rest)),
        Some("ci") => ci(),
        Some("interop") => build_binary().and_then(|binary| interop::interop(&binary)),
        Some("bench") => bench::bench(&rest),
        Some("soak") => soak::soak(&rest),
        Some("-h" | "--help" | "help") | None => {
            print!("{USAGE}");
            Ok(())
        }
        Some(other) => Err(anyhow::anyhow!("unknown task `{other}`\n\n{USAGE}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("xtask: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

fn target_dir() -> PathBuf {
    env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"))
}

fn cargo() -> Command {
    let mut command = Command::new(env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    command.current_dir(workspace_root());
    command
}

fn run(step: &str, command: &mut Command) -> anyhow::Result<()> {
    eprintln!("xtask: {step}");
    let status = command
        .status()
        .with_context(|| format!("could not start `{step}`"))?;
    if !status.success() {
        bail!("`{step}` failed ({status})");
    }
    Ok(())
}

/// Builds the `dice-mcp` binary (debug) and returns its path.
fn build_binary() -> anyhow::Result<PathBuf> {
    run(
        "cargo build -p launcher",
        cargo().args(["build", "--quiet", "-p", "launcher"]),
    )?;
    Ok(target_dir().join("debug").join("dice-mcp"))
}

fn ci() -> anyhow::Result<()> {
    run(
        "cargo fmt --check",
        cargo().args(["fmt", "--all", "--", "--check"]),
    )?;
    run(
        "cargo clippy -D warnings",
        cargo().args([
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ]),
    )?;
    run("cargo test", cargo().args(["test", "--workspace"]))?;
    run(
        "cargo doc -D warnings",
        cargo()
            .args(["doc", "--workspace", "--no-deps"])
            .env("RUSTDOCFLAGS", "-D warnings"),
    )?;
    interop::interop(&build_binary()?)?;
    soak::soak(&["--minutes".to_owned(), "1".to_owned()])?;
    eprintln!("xtask: ci passed");
    Ok(())
}
