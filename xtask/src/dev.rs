//! `cargo xtask dev`: build dice-mcp and run `dice-mcp dev`, passing the arguments through.

use std::{path::Path, process::Command};

use anyhow::{Context, bail};

pub fn dev(binary: &Path, args: &[String]) -> anyhow::Result<()> {
    let status = Command::new(binary)
        .arg("dev")
        .args(args)
        .status()
        .with_context(|| format!("could not start {}", binary.display()))?;
    if !status.success() {
        bail!("dice-mcp dev exited with {status}");
    }
    Ok(())
}
