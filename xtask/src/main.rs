//! `cargo xtask`: the project's chores. `dev` runs the server locally with a ready-to-paste
//! example; `ci` runs every check CI runs, in order; `interop` drives the server with real
//! clients; `bench`, `soak` and `fuzz` measure and attack it. The command line is parsed
//! by clap here; each task lives in its module.

mod bench;
mod dev;
mod fuzz;
mod install;
mod interop;
mod scale;
mod server;
mod soak;

use std::{
    env,
    path::{Path, PathBuf},
    process::{Command, ExitCode},
};

use anyhow::{Context, bail};
use clap::{CommandFactory, Parser, Subcommand};

/// The project's chores: run the server, check, measure and attack it.
#[derive(Debug, Parser)]
#[command(
    name = "cargo xtask",
    bin_name = "cargo xtask",
    after_help = "`cargo xtask help TASK` shows a task's details; `cargo xtask dev --help` \
                  shows the flags of `dice-mcp dev`."
)]
struct Cli {
    #[command(subcommand)]
    task: Option<Task>,
}

#[derive(Debug, Subcommand)]
enum Task {
    /// Build dice-mcp and run `dice-mcp dev` (arguments pass through) until Ctrl-C.
    ///
    /// Serves the dice tools with a token on 127.0.0.1:8000, publishes them through ngrok
    /// when NGROK_AUTHTOKEN is set, and prints the URL, the token and an OpenAI snippet. The
    /// debug build shows cargo's progress (a first build takes minutes). Every argument goes
    /// to `dice-mcp dev` untouched, `--help` too: `cargo xtask dev --help` shows its flags
    /// (`--addr`, `--domain`, ...). Ctrl-C stops dice-mcp, which drains and frees the port;
    /// xtask waits for it and exits with its exit code.
    #[command(disable_help_flag = true)]
    Dev {
        /// Arguments for `dice-mcp dev`.
        #[arg(
            trailing_var_arg = true,
            allow_hyphen_values = true,
            value_name = "DEV-FLAGS"
        )]
        args: Vec<String>,
    },
    /// Everything CI runs: fmt --check, clippy -D warnings, tests (and bearer-auth without
    /// default features), docs -D warnings, interop, a one-minute soak, the scale test.
    Ci,
    /// Real clients against the real binary on 127.0.0.1.
    ///
    /// The Python and TypeScript SDKs, FastMCP, MCP Inspector and the conformance suite,
    /// pinned and installed into target/interop/ (needs python3 with venv, and npm), each
    /// against `dice-mcp serve`; the SDKs' OAuth clients and headless Chromium (Debian's,
    /// installed with apt-get when missing) on the consent page against `dice-mcp dev`'s
    /// authorization server. Prints one table, client | transport | result | seconds.
    Interop,
    /// Requests/s, p50/p99 and memory of dice-mcp against a bare axum baseline.
    ///
    /// Builds release; each server runs on CPU 0, wrk on CPU 1 (installed from Debian when
    /// missing), with a tools/call at concurrency 1, 16 and 64 after a warm-up. Rows: axum
    /// static JSON (the ceiling), dice-mcp stateless with and without JWT, stateful with one
    /// session, /sse; FastMCP and the TypeScript SDK with --peers. Then cold start, binary
    /// size, and RSS idle and after 10 000 sessions. JSON in target/bench/results.json.
    Bench(bench::Options),
    /// Legitimate and hostile traffic at once for N minutes; fails on a wrong answer or a
    /// leak.
    ///
    /// Builds the release dice-mcp, starts a --stateless and a stateful server on 127.0.0.1
    /// with tokens required, and for N minutes runs at once: stateless tools/call, stateful
    /// sessions opened and closed (some left to expire), /sse streams read and never read,
    /// bad tokens, malformed and oversize bodies, slowloris connections, and a /healthz
    /// probe every 50 ms. Prints requests and outcomes per kind, /healthz p50/p99/max, and
    /// each server's RSS and open fds at start, peak and end; fails on any outcome a kind
    /// must not get (a 5xx other than 503 + Retry-After, a timeout, a connection error, an
    /// unexpected status) or when RSS or fds do not come back near their baseline after the
    /// load. JSON in target/soak/report.json.
    Soak(soak::Options),
    /// Replicas behind nginx, sessions in Redis, on 127.0.0.1: what scaling out does.
    ///
    /// Installs nginx and redis-server from Debian when missing, builds the release
    /// dice-mcp, and runs two replicas behind nginx with deploy/nginx's config (round robin
    /// for /mcp, session_id hash for /sse): the official Python SDK through nginx, stateless
    /// and stateful (sessions in Redis); stateless load with 1 and 2 replicas and the
    /// per-replica split from each /metrics; a replica SIGTERMed mid-run (every call must
    /// still be answered); one stateful session hopping replicas on every request; Redis
    /// restarted mid-run (only new sessions may be refused, 503 + Retry-After). JSON in
    /// target/scale-test/report.json.
    ScaleTest(scale::Options),
    /// The bench's /sse load client (the bench runs it pinned to the load CPU).
    #[command(hide = true)]
    SseLoad(bench::sse_load::Options),
    /// Run the cargo-fuzz targets under fuzz/ for N minutes each (needs nightly).
    ///
    /// `cargo xtask fuzz [--minutes N] [--merge] [TARGET...]`: runs each target (all without
    /// a TARGET) with `cargo +nightly fuzz` for N minutes (default 1; 0 with --merge only
    /// merges), then prints per target the executions, executions per second, corpus size
    /// and crashes. New corpus entries go to target/fuzz/corpus/; --merge copies the most
    /// useful into the committed seeds under fuzz/corpus/. The arguments go to the fuzz
    /// task's own parser.
    #[command(disable_help_flag = true)]
    Fuzz {
        /// `[--minutes N] [--merge] [TARGET...]`
        #[arg(
            trailing_var_arg = true,
            allow_hyphen_values = true,
            value_name = "ARGS"
        )]
        args: Vec<String>,
    },
}

fn main() -> ExitCode {
    let Cli { task } = Cli::parse();
    let result = match task {
        Some(Task::Dev { args }) => build_binary().and_then(|binary| dev::dev(&binary, &args)),
        Some(Task::Ci) => ci().map(|()| ExitCode::SUCCESS),
        Some(Task::Interop) => install::preflight()
            .and_then(|()| build_binary())
            .and_then(|binary| interop::interop(&binary))
            .map(|()| ExitCode::SUCCESS),
        Some(Task::Bench(options)) => bench::bench(&options).map(|()| ExitCode::SUCCESS),
        Some(Task::SseLoad(options)) => bench::sse_load::run(&options).map(|()| ExitCode::SUCCESS),
        Some(Task::Soak(options)) => soak::soak(&options).map(|()| ExitCode::SUCCESS),
        Some(Task::ScaleTest(options)) => scale::scale_test(&options).map(|()| ExitCode::SUCCESS),
        Some(Task::Fuzz { args }) => fuzz::fuzz(&args).map(|()| ExitCode::SUCCESS),
        None => Cli::command()
            .print_help()
            .map(|()| ExitCode::SUCCESS)
            .context("could not print the help"),
    };
    match result {
        Ok(code) => code,
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

/// Builds the `dice-mcp` binary (debug), showing cargo's progress, and returns its path.
fn build_binary() -> anyhow::Result<PathBuf> {
    run(
        "cargo build -p launcher",
        cargo().args(["build", "-p", "launcher"]),
    )?;
    Ok(target_dir().join("debug").join("dice-mcp"))
}

fn ci() -> anyhow::Result<()> {
    install::preflight()?;
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
    // session-redis's tests start their own redis-server, and fail without one.
    install::debian_package("redis-server", "redis-server")?;
    // A launcher test runs the README's curl commands as written.
    install::debian_package("curl", "curl")?;
    run("cargo test", cargo().args(["test", "--workspace"]))?;
    minimal_features()?;
    // The simplest example runs as its README says (the examples' tests ran above).
    run(
        "examples: run each",
        cargo().args(["run", "-q", "-p", "mint-and-verify"]),
    )?;
    run(
        "cargo doc -D warnings",
        cargo()
            .args(["doc", "--workspace", "--no-deps"])
            .env("RUSTDOCFLAGS", "-D warnings"),
    )?;
    package_libraries()?;
    interop::interop(&build_binary()?)?;
    soak::soak(&soak::Options { minutes: 1.0 })?;
    scale::scale_test(&scale::Options {
        seconds: 6,
        concurrency: 16,
    })?;
    eprintln!("xtask: ci passed");
    Ok(())
}

/// bearer-auth without its default features (keys, minting, verification only) builds,
/// passes its tests and lints, and pulls in no web stack; nor does dice-tools. The
/// server-only `dice-mcp` (launcher without `tunnel`) builds and lints.
fn minimal_features() -> anyhow::Result<()> {
    let bare = ["-p", "bearer-auth", "--no-default-features"];
    run(
        "bearer-auth without default features: clippy",
        cargo()
            .arg("clippy")
            .args(bare)
            .args(["--all-targets", "--", "-D", "warnings"]),
    )?;
    run(
        "bearer-auth without default features: tests",
        cargo().arg("test").args(bare),
    )?;
    reject_web_stack(
        "bearer-auth without default features",
        &bare,
        "keep axum, reqwest and hyper behind the `layer` and `remote-jwks` features",
    )?;
    // The server-only dice-mcp: no ngrok, no OpenAI client.
    let server_only = ["-p", "launcher", "--no-default-features"];
    run(
        "launcher without the tunnel feature: build",
        cargo().arg("build").args(server_only),
    )?;
    run(
        "launcher without the tunnel feature: clippy",
        cargo()
            .arg("clippy")
            .args(server_only)
            .args(["--all-targets", "--", "-D", "warnings"]),
    )?;
    reject_web_stack(
        "dice-tools",
        &["-p", "dice-tools"],
        "the tools crate has no HTTP: keep the server stack in mcp-core",
    )?;
    Ok(())
}

/// Fails when `cargo tree` with `args` lists axum, reqwest, hyper or tower-http among the
/// normal (non-dev) dependencies; `what` names the build, `fix` says how to get out.
fn reject_web_stack(what: &str, args: &[&str], fix: &str) -> anyhow::Result<()> {
    let tree = cargo()
        .arg("tree")
        .args(args)
        .args(["-e", "normal", "--prefix", "none"])
        .output()
        .context("could not run cargo tree")?;
    anyhow::ensure!(
        tree.status.success(),
        "cargo tree {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&tree.stderr)
    );
    let listing = String::from_utf8_lossy(&tree.stdout);
    let web = web_stack_in(&listing);
    anyhow::ensure!(
        web.is_empty(),
        "{what} depends on a web stack: {web:?}; {fix}"
    );
    eprintln!("xtask: {what}: no web stack in its dependencies");
    Ok(())
}

/// The lines of a `cargo tree --prefix none` listing that name a web-stack crate.
fn web_stack_in(tree: &str) -> Vec<&str> {
    tree.lines()
        .filter(|line| {
            ["axum ", "reqwest ", "hyper ", "tower-http "]
                .iter()
                .any(|name| line.starts_with(name))
        })
        .collect()
}

/// The libraries people depend on, in dependency order.
const PUBLISHED_CRATES: [&str; 5] = [
    "dice-tools",
    "bearer-auth",
    "mcp-core",
    "oauth-server",
    "session-redis",
];

/// Packages every library as crates.io would get it (manifest rewritten, path dependencies
/// turned into versioned ones, README included), without publishing. `--no-verify`: the
/// packaged crates are not rebuilt from their tarballs (the workspace build already compiled
/// them, and their integration tests use test-support, which is never published); cargo
/// resolves the unpublished path dependencies (mcp-core for session-redis, bearer-auth for
/// oauth-server) against the packages it builds in the same run.
fn package_libraries() -> anyhow::Result<()> {
    let mut command = cargo();
    command.args(["package", "--no-verify", "--allow-dirty"]);
    for name in PUBLISHED_CRATES {
        command.args(["-p", name]);
    }
    run("cargo package (the libraries)", &mut command)?;
    // Each package carries its README and both license texts (symlinks to the root's).
    for name in PUBLISHED_CRATES {
        let listed = cargo()
            .args(["package", "--list", "--allow-dirty", "-p", name])
            .output()
            .with_context(|| format!("listing the files of the {name} package"))?;
        let listed = String::from_utf8_lossy(&listed.stdout);
        let missing = missing_package_files(&listed);
        if !missing.is_empty() {
            anyhow::bail!(
                "the {name} package lacks {}; add them to crates/{name}/ (the licenses as \
                 symlinks to the workspace root's)",
                missing.join(", ")
            );
        }
    }
    Ok(())
}

/// The files every published package must hold that `listing` (`cargo package --list`)
/// lacks.
fn missing_package_files(listing: &str) -> Vec<&'static str> {
    ["README.md", "LICENSE-MIT", "LICENSE-APACHE"]
        .into_iter()
        .filter(|file| !listing.lines().any(|line| line.trim() == *file))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_package_without_its_licenses_is_named_short_of_them() {
        let full = "Cargo.toml\nLICENSE-APACHE\nLICENSE-MIT\nREADME.md\nsrc/lib.rs\n";
        assert!(missing_package_files(full).is_empty());
        assert_eq!(
            missing_package_files("Cargo.toml\nREADME.md\nsrc/LICENSE-MIT\n"),
            ["LICENSE-MIT", "LICENSE-APACHE"]
        );
    }

    #[test]
    fn web_stack_check_flags_axum_and_hyper_but_not_their_namesakes() {
        let tree = "dice-tools v0.1.0 (/w/crates/dice-tools)\nrmcp v3.11.0\naxum-core v0.5.0\n\
                    hyper v1.7.0\nhyper-util v0.1.0\naxum v0.8.4\ntokio v1.54.1\n";
        assert_eq!(web_stack_in(tree), ["hyper v1.7.0", "axum v0.8.4"]);
        assert!(web_stack_in("dice-tools v0.1.0\nrand v0.10.0\n").is_empty());
    }

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("xtask").chain(args.iter().copied()))
    }

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn bench_refuses_a_duration_that_is_not_whole_seconds() {
        for bad in ["abc", "0", "-1", "2.5"] {
            assert!(parse(&["bench", "--duration", bad]).is_err(), "{bad}");
        }
        let Ok(Cli {
            task: Some(Task::Bench(options)),
        }) = parse(&["bench", "--peers", "--duration", "2"])
        else {
            panic!("bench --peers --duration 2 did not parse");
        };
        assert!(options.peers);
        assert_eq!(options.duration, 2);
        let Ok(Cli {
            task: Some(Task::Bench(options)),
        }) = parse(&["bench"])
        else {
            panic!("bench did not parse");
        };
        assert!(!options.peers);
        assert_eq!(options.duration, 5);
    }

    #[test]
    fn dev_and_fuzz_pass_every_argument_through() {
        let Ok(Cli {
            task: Some(Task::Dev { args }),
        }) = parse(&["dev", "--addr", "127.0.0.1:9000", "--help", "-x"])
        else {
            panic!("dev did not parse");
        };
        assert_eq!(args, ["--addr", "127.0.0.1:9000", "--help", "-x"]);
        let Ok(Cli {
            task: Some(Task::Fuzz { args }),
        }) = parse(&["fuzz", "--minutes", "2", "--merge", "jsonrpc"])
        else {
            panic!("fuzz did not parse");
        };
        assert_eq!(args, ["--minutes", "2", "--merge", "jsonrpc"]);
    }

    #[test]
    fn unknown_tasks_and_flags_are_refused() {
        assert!(parse(&["deploy"]).is_err());
        assert!(parse(&["ci", "--fast"]).is_err());
        assert!(parse(&["soak", "--minutes", "0"]).is_err());
    }
}
