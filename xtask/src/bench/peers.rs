//! The `--peers` rows of `cargo xtask bench`: FastMCP and the TypeScript SDK serving the same
//! tool, stateless with JSON answers, checking the same RS256 token. FastMCP comes from the
//! interop venv (`target/interop/venv`, pinned), the TypeScript SDK from `npm ci` of
//! `xtask/bench/package-lock.json` into `target/bench/node`.

use super::{PeerContext, pinned};
use crate::{
    install,
    server::{Server, free_port},
    target_dir, workspace_root,
};

/// Installs and measures the peers.
pub(super) fn measure(context: &mut PeerContext<'_>) -> anyhow::Result<()> {
    let python = crate::interop::python_venv(&target_dir().join("interop"))?;
    let port = free_port()?.to_string();
    let script = workspace_root().join("xtask/bench/fastmcp_server.py");
    let mut command = pinned(&python);
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

    let node_dir = target_dir().join("bench").join("node");
    install::npm_ci(&workspace_root().join("xtask/bench"), &node_dir)?;
    let port = free_port()?.to_string();
    let mut command = pinned(&node_dir.join("node_modules/.bin/node"));
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
