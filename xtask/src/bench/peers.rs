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
    let fastmcp = pinned(&python);
    measure_one(
        context,
        "FastMCP 4.2.3 stateless + JWT",
        fastmcp,
        &workspace_root().join("xtask/bench/fastmcp_server.py"),
    )?;

    let node_dir = target_dir().join("bench").join("node");
    install::npm_ci(&workspace_root().join("xtask/bench"), &node_dir)?;
    let mut node = pinned(&node_dir.join("node_modules/.bin/node"));
    node.current_dir(&node_dir);
    measure_one(
        context,
        "TypeScript SDK 1.32.2 stateless + JWT",
        node,
        &workspace_root().join("xtask/bench/ts_sdk_server.mjs"),
    )
}

/// Runs `script` under `interpreter` on a free port, checking tokens against the bench's
/// public key, and measures it as the row `name`.
fn measure_one(
    context: &mut PeerContext<'_>,
    name: &str,
    mut interpreter: std::process::Command,
    script: &std::path::Path,
) -> anyhow::Result<()> {
    let port = free_port()?.to_string();
    interpreter.arg(script).args([
        "--port",
        &port,
        "--public-key",
        context.public,
        "--issuer",
        "dice-mcp",
    ]);
    let server = Server::spawn(interpreter)?;
    context.measure(name, &server)?;
    server.kill();
    Ok(())
}
