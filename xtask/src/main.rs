//! `cargo xtask`: the project's chores. `dev` runs the server locally with a ready-to-paste
//! example; `ci` runs every check CI runs, in order.

use std::{
    env,
    io::{BufRead, BufReader, Write},
    path::{Path, PathBuf},
    process::{Command, ExitCode, Stdio},
};

use anyhow::{Context, bail};

const USAGE: &str = "\
usage: cargo xtask <task> [args]

tasks:
  dev [SERVE-FLAGS]   build dice-mcp and serve it on 127.0.0.1:8000 (stateless, as OpenAI
                      needs; --stateful to change), then print the URL and examples.
                      Other flags go to `dice-mcp serve` (see `dice-mcp serve --help`).
  ci                  fmt --check, clippy -D warnings, tests, docs -D warnings: what CI runs.
";

fn main() -> ExitCode {
    let mut args = env::args().skip(1);
    let task = args.next();
    let rest: Vec<String> = args.collect();
    let result = match task.as_deref() {
        Some("dev") => dev(&rest),
        Some("ci") => ci(),
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

fn cargo() -> Command {
    let mut command = Command::new(env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    command.current_dir(workspace_root());
    command
}

fn run(step: &str, command: &mut Command) -> anyhow::Result<()> {
    eprintln!("xtask: {step}");
    let status = command
        .status()
        .with_context(|| format!("could not start `{step}`; is cargo on PATH?"))?;
    if !status.success() {
        bail!("`{step}` failed ({status})");
    }
    Ok(())
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
    eprintln!("xtask: ci passed");
    Ok(())
}

fn dev(args: &[String]) -> anyhow::Result<()> {
    run(
        "cargo build -p launcher",
        cargo().args(["build", "--quiet", "-p", "launcher"]),
    )?;
    let binary = target_dir().join("debug").join("dice-mcp");

    let stateful = args.iter().any(|a| a == "--stateful");
    let passthrough: Vec<&String> = args.iter().filter(|a| *a != "--stateful").collect();
    let mut server = Command::new(&binary);
    server
        .arg("serve")
        .args(&passthrough)
        .stderr(Stdio::piped());
    if env::var_os("DICE_MCP_ADDR").is_none() {
        server.env("DICE_MCP_ADDR", "127.0.0.1:8000");
    }
    if !stateful {
        server.env("DICE_MCP_STATELESS", "true");
    }
    let mut child = server
        .spawn()
        .with_context(|| format!("could not start {}", binary.display()))?;
    let stderr = child.stderr.take().context("no stderr from dice-mcp")?;
    let mut announced = false;
    for line in BufReader::new(stderr).lines() {
        let Ok(line) = line else { break };
        eprintln!("{line}");
        if !announced && let Some(url) = listening_url(&line) {
            announced = true;
            print_banner(&url, stateful);
        }
    }
    let status = child.wait().context("waiting for dice-mcp")?;
    if !status.success() {
        bail!("dice-mcp exited with {status}");
    }
    Ok(())
}

fn target_dir() -> PathBuf {
    env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"))
}

fn listening_url(line: &str) -> Option<String> {
    let rest = line.split("listening on ").nth(1)?;
    rest.split_whitespace().next().map(str::to_owned)
}

fn print_banner(url: &str, stateful: bool) {
    let mode = if stateful { "stateful" } else { "stateless" };
    let call = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"roll_dice","arguments":{"n_dice":3}}}"#;
    let session_note = if stateful {
        "  (stateful: send `initialize` first and pass its Mcp-Session-Id header on each call)\n"
    } else {
        ""
    };
    let banner = format!(
        "
────────────────────────────────────────────────────────────────────────
 dice-mcp is serving ({mode}) at

   {url}

 Roll three dice with curl:

   curl -s {url} \\
     -H 'content-type: application/json' \\
     -H 'accept: application/json, text/event-stream' \\
     -d '{call}'
{session_note}
 From Python (pip install mcp):

   import asyncio
   from mcp import ClientSession
   from mcp.client.streamable_http import streamablehttp_client

   async def main():
       async with streamablehttp_client(\"{url}\") as (r, w, _):
           async with ClientSession(r, w) as s:
               await s.initialize()
               print(await s.call_tool(\"roll_dice\", {{\"n_dice\": 3}}))

   asyncio.run(main())

 MCP Inspector: npx @modelcontextprotocol/inspector --cli {url} --method tools/list

 This server is local only: nothing outside this machine can reach it.
 Ctrl-C stops it.
────────────────────────────────────────────────────────────────────────
"
    );
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(banner.as_bytes());
    let _ = stdout.flush();
}
