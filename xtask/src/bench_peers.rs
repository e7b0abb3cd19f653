//! The `--peers` rows of `cargo xtask bench`: FastMCP and the TypeScript SDK serving the same
//! tool, stateless with JSON answers, checking the same RS256 token. Their packages come from
//! the interop installs (`target/interop/venv`, pinned) and `target/bench/node`.

use std::{fs, path::PathBuf, process::Command};

use anyhow::Context;

use crate::{
    bench::PeerContext,
    server::{Server, free_port},
    target_dir, workspace_root,
};

/// Installs and measures the peers.
pub fn measure(context: &mut PeerContext<'_>) -> anyhow::Result<()> {
    let interop = target_dir().join("interop");
    let python = crate::interop::python_venv(&interop)?;
    let port = free_port()?.to_string();
    let script = workspace_root().join("xtask/bench/fastmcp_server.py");
    let mut command = context.pinned(&python);
    command.arg(script).args([
        "--port",
        &port,
        "--public-key",
        context.public,
        "--issuer",
        "dice-mcp",
    ]);
    let server = Server::spawn(command)?;
    context.measure("FastMCP 4.2.3 stateless + JWT", &server)?;
    server.kill();

    let node_dir = ts_packages()?;
    let port = free_port()?.to_string();
    let mut command = context.pinned(&node_dir.join("node_modules/.bin/node"));
    command
        .current_dir(&node_dir)
        .arg(workspace_root().join("xtask/bench/ts_sdk_server.mjs"))
        .args([
            "--port",
            &port,
            "--public-key",
            context.public,
            "--issuer",
            "dice-mcp",
        ]);
    let server = Server::spawn(command)?;
    context.measure("TypeScript SDK 1.32.2 stateless + JWT", &server)?;
    server.kill();
    Ok(())
}

/// `npm ci` of xtask/bench/package.json into `target/bench/node` when its lock changed.
fn ts_packages() -> anyhow::Result<PathBuf> {
    let node_dir = target_dir().join("bench").join("node");
    let source = workspace_root().join("xtask/bench");
    let lock = fs::read_to_string(source.join("package-lock.json"))
        .context("could not read xtask/bench/package-lock.json")?;
    let stamp = node_dir.join(".installed-lock");
    if fs::read_to_string(&stamp).ok().as_deref() != Some(lock.as_str()) {
        fs::create_dir_all(&node_dir)?;
        for file in ["package.json", "package-lock.json"] {
            fs::copy(source.join(file), node_dir.join(file))
                .with_context(|| format!("could not copy {file}"))?;
        }
        crate::run(
            "npm ci (target/bench/node)",
            Command::new("npm")
                .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
                .current_dir(&node_dir),
        )?;
        fs::write(&stamp, lock)?;
    }
    Ok(node_dir)
}
