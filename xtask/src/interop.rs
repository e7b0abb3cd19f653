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
        let server = Server::start(binary, args)?;
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
    rows.extend(token_rows(binary, &python)?);
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

/// Runs `python SCRIPT ARGS`, returning whether it passed and its combined output.
fn python_step(python: &Path, script: &str, args: &[&str]) -> anyhow::Result<(bool, String)> {
    let output = Command::new(python)
        .arg(workspace_root().join("xtask/interop").join(script))
        .args(args)
        .output()
        .with_context(|| format!("could not run {script}"))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    Ok((output.status.success(), text))
}

/// Tokens across implementations: PyJWT's accepted by `serve`, ours verified by PyJWT.
fn token_rows(binary: &Path, python: &Path) -> anyhow::Result<Vec<Row>> {
    let dir = crate::target_dir().join("interop").join("tokens");
    let _ = fs::remove_dir_all(&dir);
    let mut rows = Vec::new();

    let started = Instant::now();
    let theirs = dir.join("pyjwt");
    let theirs_str = theirs.to_string_lossy().into_owned();
    let (minted, token) = python_step(
        python,
        "pyjwt_tokens.py",
        &["mint", &theirs_str, "pyjwt-issuer"],
    )?;
    let mut ok = minted;
    if minted {
        let public = theirs.join("public.pem").to_string_lossy().into_owned();
        let server = Server::start(
            binary,
            &[
                "--addr",
                "127.0.0.1:0",
                "--stateless",
                "--public-key",
                &public,
                "--issuer",
                "pyjwt-issuer",
            ],
        )?;
        let (called, output) = python_step(
            python,
            "pyjwt_tokens.py",
            &["call", &server.url, token.trim()],
        )?;
        if !called {
            eprintln!(
                "--- PyJWT token against dice-mcp failed ---\n{output}\nserver log tail:\n{}\n---",
                server.log_tail(40)
            );
        }
        ok = called;
        server.stop()?;
    } else {
        eprintln!("--- PyJWT mint failed ---\n{token}\n---");
    }
    rows.push(Row {
        client: "PyJWT 2.15.1 token → dice-mcp serve --public-key".into(),
        transport: "streamable HTTP, stateless".into(),
        ok,
        seconds: started.elapsed().as_secs_f64(),
    });

    let started = Instant::now();
    let ours = dir.join("ours");
    let ours_str = ours.to_string_lossy().into_owned();
    let keygen = Command::new(binary)
        .args(["keygen", "--out", &ours_str])
        .output()?;
    let private = ours.join("private.pem").to_string_lossy().into_owned();
    let token = Command::new(binary)
        .args(["token", "--key", &private, "--iss", "dice-mcp"])
        .output()?;
    let token = String::from_utf8_lossy(&token.stdout).trim().to_owned();
    let public = ours.join("public.pem").to_string_lossy().into_owned();
    let jwks = ours.join("jwks.json").to_string_lossy().into_owned();
    let (verified, output) = if keygen.status.success() && !token.is_empty() {
        python_step(
            python,
            "pyjwt_tokens.py",
            &["verify", &public, &jwks, &token, "dice-mcp"],
        )?
    } else {
        (false, String::from_utf8_lossy(&keygen.stderr).into_owned())
    };
    if !verified {
        eprintln!("--- dice-mcp token under PyJWT failed ---\n{output}\n---");
    }
    rows.push(Row {
        client: "dice-mcp token → PyJWT 2.15.1 verify".into(),
        transport: "—".into(),
        ok: verified,
        seconds: started.elapsed().as_secs_f64(),
    });
    Ok(rows)
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
