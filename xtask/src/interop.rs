//! `cargo xtask interop`: real MCP clients against the real `dice-mcp serve` on 127.0.0.1.
//!
//! Clients are installed from the package registries into `target/interop/` at pinned
//! versions (see `xtask/interop/requirements.txt`) and reused across runs.

use std::{
    fs,
    path::{Path, PathBuf},
    process::Command,
    time::Instant,
};

use anyhow::{Context, bail};

use crate::{server::Server, workspace_root};

struct Row {
    client: String,
    transport: String,
    ok: bool,
    seconds: f64,
}

pub fn interop(binary: &Path) -> anyhow::Result<()> {
    let python = python_venv()?;
    let script = workspace_root().join("xtask/interop/python_sdk_client.py");
    let mut rows = Vec::new();
    for (server_mode, args) in [
        ("stateless", &["--addr", "127.0.0.1:0", "--stateless"][..]),
        ("stateful", &["--addr", "127.0.0.1:0"][..]),
    ] {
        let server = Server::start(binary, args, &[], false)?;
        let sse_url = format!("{}/sse", server.url.trim_end_matches("/mcp"));
        let cases = [
            ("streamable HTTP", server.url.as_str(), "legacy"),
            ("streamable HTTP", server.url.as_str(), "auto"),
            ("streamable HTTP", server.url.as_str(), "2026-07-28"),
            ("SSE", sse_url.as_str(), "legacy"),
        ];
        for (transport, url, client_mode) in cases {
            let started = Instant::now();
            let output = Command::new(&python)
                .arg(&script)
                .args([url, client_mode])
                .output()
                .context("could not run the Python client")?;
            let ok = output.status.success();
            if !ok {
                eprintln!(
                    "--- python mcp ({client_mode}) at {url} ({server_mode} server) failed ---\n\
                     client stdout:\n{}\nclient stderr:\n{}\nserver log tail:\n{}\n---",
                    String::from_utf8_lossy(&output.stdout),
                    String::from_utf8_lossy(&output.stderr),
                    server.log_tail(40),
                );
            }
            rows.push(Row {
                client: format!("python mcp SDK, mode {client_mode}"),
                transport: if transport == "SSE" {
                    "SSE (/sse)".to_owned()
                } else {
                    format!("{transport}, {server_mode}")
                },
                ok,
                seconds: started.elapsed().as_secs_f64(),
            });
        }
        server.stop()?;
    }
    println!("\n| client | transport | result | seconds |\n|---|---|---|---|");
    for row in &rows {
        let result = if row.ok { "pass" } else { "FAIL" };
        println!(
            "| {} | {} | {result} | {:.1} |",
            row.client, row.transport, row.seconds
        );
    }
    let failed = rows.iter().filter(|row| !row.ok).count();
    println!("\ninterop: {} passed, {failed} failed", rows.len() - failed);
    if failed > 0 {
        bail!("{failed} interop row(s) failed; see the output above");
    }
    Ok(())
}

/// Creates `target/interop/venv` and installs the pinned clients when they changed.
fn python_venv() -> anyhow::Result<PathBuf> {
    let dir = crate::target_dir().join("interop");
    let venv = dir.join("venv");
    let python = venv.join("bin").join("python");
    let requirements = workspace_root().join("xtask/interop/requirements.txt");
    let wanted = fs::read_to_string(&requirements)
        .with_context(|| format!("could not read {}", requirements.display()))?;
    let stamp = venv.join(".installed-requirements");
    if fs::read_to_string(&stamp).ok().as_deref() == Some(wanted.as_str()) && python.exists() {
        return Ok(python);
    }
    fs::create_dir_all(&dir).with_context(|| format!("could not create {}", dir.display()))?;
    crate::run(
        "python3 -m venv target/interop/venv",
        Command::new("python3")
            .args(["-m", "venv", "--clear"])
            .arg(&venv),
    )
    .context(
        "Python 3 with the venv module is needed for interop (apt-get install python3-venv)",
    )?;
    crate::run(
        "pip install -r xtask/interop/requirements.txt",
        Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "-r",
            ])
            .arg(&requirements),
    )?;
    fs::write(&stamp, wanted).with_context(|| format!("could not write {}", stamp.display()))?;
    Ok(python)
}
