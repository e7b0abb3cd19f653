//! `cargo xtask interop`: real MCP clients against the real `dice-mcp serve` on 127.0.0.1.
//!
//! Clients are installed from the package registries into `target/interop/` at pinned
//! versions (`xtask/interop/requirements.txt`) and reused across runs. Each row is one real
//! client process against one real server process; a failing row prints the client's output
//! and the server's log tail.

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

/// What every row needs: the binary, the clients, a key pair and a token for it.
struct Interop {
    binary: PathBuf,
    python: PathBuf,
    dir: PathBuf,
    public_key: String,
    token: String,
    rows: Vec<Row>,
}

impl Interop {
    /// Runs `command` as one row: it passes when it exits 0.
    fn row(
        &mut self,
        client: &str,
        transport: &str,
        server: Option<&Server>,
        command: &mut Command,
    ) {
        let started = Instant::now();
        let output = command.output();
        let ok = matches!(&output, Ok(out) if out.status.success());
        if !ok {
            let (stdout, stderr) = match &output {
                Ok(out) => (
                    String::from_utf8_lossy(&out.stdout).into_owned(),
                    String::from_utf8_lossy(&out.stderr).into_owned(),
                ),
                Err(error) => (String::new(), format!("could not start: {error}")),
            };
            let log = server.map(|s| s.log_tail(40)).unwrap_or_default();
            eprintln!(
                "--- FAIL: {client} ({transport}) ---\nclient stdout:\n{stdout}\nclient \
                 stderr:\n{stderr}\nserver log tail:\n{log}\n---"
            );
        }
        self.rows.push(Row {
            client: client.to_owned(),
            transport: transport.to_owned(),
            ok,
            seconds: started.elapsed().as_secs_f64(),
        });
    }

    fn python(&self, script: &str) -> Command {
        let mut command = Command::new(&self.python);
        command.arg(workspace_root().join("xtask/interop").join(script));
        command
    }

    fn serve(&self, args: &[&str]) -> anyhow::Result<Server> {
        let mut all = vec!["--addr", "127.0.0.1:0"];
        all.extend_from_slice(args);
        Server::start(&self.binary, &all)
    }

    fn serve_with_auth(&self) -> anyhow::Result<Server> {
        let key = self.public_key.clone();
        self.serve(&["--stateless", "--public-key", &key, "--issuer", "dice-mcp"])
    }
}

fn sse_url(mcp_url: &str) -> String {
    format!("{}/sse", mcp_url.trim_end_matches("/mcp"))
}

pub fn interop(binary: &Path) -> anyhow::Result<()> {
    let started = Instant::now();
    let dir = crate::target_dir().join("interop");
    let python = python_venv(&dir)?;
    let keys = dir.join("keys");
    let keygen = Command::new(binary)
        .args(["keygen", "--force", "--out"])
        .arg(&keys)
        .output()
        .context("could not run dice-mcp keygen")?;
    if !keygen.status.success() {
        bail!(
            "dice-mcp keygen failed: {}",
            String::from_utf8_lossy(&keygen.stderr)
        );
    }
    let token = Command::new(binary)
        .args(["token", "--iss", "dice-mcp", "--ttl", "30m", "--key"])
        .arg(keys.join("private.pem"))
        .output()
        .context("could not run dice-mcp token")?;
    let mut run = Interop {
        binary: binary.to_path_buf(),
        python,
        public_key: keys.join("public.pem").to_string_lossy().into_owned(),
        token: String::from_utf8_lossy(&token.stdout).trim().to_owned(),
        dir,
        rows: Vec::new(),
    };

    python_sdk_rows(&mut run)?;
    fastmcp_rows(&mut run)?;
    openai_flow_rows(&mut run)?;
    token_rows(&mut run)?;

    println!("\n| client | transport | result | seconds |\n|---|---|---|---|");
    for row in &run.rows {
        let result = if row.ok { "pass" } else { "FAIL" };
        println!(
            "| {} | {} | {result} | {:.1} |",
            row.client, row.transport, row.seconds
        );
    }
    let failed = run.rows.iter().filter(|row| !row.ok).count();
    println!(
        "\ninterop took {:.0} s\ninterop: {} passed, {failed} failed",
        started.elapsed().as_secs_f64(),
        run.rows.len() - failed
    );
    if failed > 0 {
        bail!("{failed} interop row(s) failed; see the output above");
    }
    Ok(())
}

/// The official Python SDK (`mcp`), every lifecycle mode, both transports, with and
/// without auth.
fn python_sdk_rows(run: &mut Interop) -> anyhow::Result<()> {
    let server = run.serve_with_auth()?;
    let (mcp, sse) = (server.url.clone(), sse_url(&server.url));
    let token = run.token.clone();
    for mode in ["legacy", "auto", "2026-07-28"] {
        let mut command = run.python("python_sdk_client.py");
        command.args([&mcp, mode, &token]);
        run.row(
            &format!("python mcp SDK, mode {mode}"),
            "streamable HTTP, stateless, token",
            Some(&server),
            &mut command,
        );
    }
    let mut command = run.python("python_sdk_client.py");
    command.args([&sse, "legacy", &token]);
    run.row(
        "python mcp SDK sse_client",
        "SSE (/sse), token",
        Some(&server),
        &mut command,
    );
    server.stop()?;

    let server = run.serve(&[])?;
    let (mcp, sse) = (server.url.clone(), sse_url(&server.url));
    for mode in ["legacy", "auto", "2026-07-28"] {
        let mut command = run.python("python_sdk_client.py");
        command.args([&mcp, mode]);
        run.row(
            &format!("python mcp SDK, mode {mode}"),
            "streamable HTTP, stateful",
            Some(&server),
            &mut command,
        );
    }
    let mut command = run.python("python_sdk_client.py");
    command.args([&sse, "legacy"]);
    run.row(
        "python mcp SDK sse_client",
        "SSE (/sse)",
        Some(&server),
        &mut command,
    );
    server.stop()
}

/// FastMCP: its `Client` with `BearerAuth` on both transports, its `RSAKeyPair` tokens
/// accepted by `serve`, and our tokens accepted by its `JWTVerifier`.
fn fastmcp_rows(run: &mut Interop) -> anyhow::Result<()> {
    let server = run.serve_with_auth()?;
    let token = run.token.clone();
    for (url, transport) in [
        (server.url.clone(), "streamable HTTP, stateless, token"),
        (sse_url(&server.url), "SSE (/sse), token"),
    ] {
        let mut command = run.python("fastmcp_interop.py");
        command.args(["client", &url, &token]);
        run.row(
            "FastMCP Client + BearerAuth",
            transport,
            Some(&server),
            &mut command,
        );
    }
    server.stop()?;

    let server = run.serve(&[])?;
    let url = server.url.clone();
    let mut command = run.python("fastmcp_interop.py");
    command.args(["client", &url, "-", "legacy"]);
    run.row(
        "FastMCP Client, mode legacy (DELETE at close)",
        "streamable HTTP, stateful",
        Some(&server),
        &mut command,
    );
    server.stop()?;

    // FastMCP mints; dice-mcp verifies (its public key, issuer and audience).
    let theirs = run.dir.join("tokens").join("fastmcp");
    let issuer = "https://fastmcp.test";
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .context("no free port")?
        .port();
    let audience = format!("http://127.0.0.1:{port}/mcp");
    let minted = run
        .python("fastmcp_interop.py")
        .arg("mint")
        .arg(&theirs)
        .args([issuer, &audience])
        .output()
        .context("could not run fastmcp_interop.py mint")?;
    let fastmcp_token = String::from_utf8_lossy(&minted.stdout).trim().to_owned();
    let public = theirs.join("public.pem").to_string_lossy().into_owned();
    let addr = format!("127.0.0.1:{port}");
    let server = Server::start(
        &run.binary,
        &[
            "--addr",
            &addr,
            "--stateless",
            "--public-key",
            &public,
            "--issuer",
            issuer,
            "--audience",
            &audience,
        ],
    )?;
    let mut command = run.python("fastmcp_interop.py");
    command.args(["client", &server.url, &fastmcp_token]);
    run.row(
        "FastMCP RSAKeyPair token -> dice-mcp serve",
        "streamable HTTP, stateless",
        Some(&server),
        &mut command,
    );
    server.stop()?;

    // dice-mcp mints; FastMCP's JWTVerifier verifies.
    let audience = "https://dice.test/mcp";
    let ours = Command::new(&run.binary)
        .args(["token", "--iss", "dice-mcp", "--aud", audience, "--key"])
        .arg(run.dir.join("keys").join("private.pem"))
        .output()
        .context("could not run dice-mcp token")?;
    let our_token = String::from_utf8_lossy(&ours.stdout).trim().to_owned();
    let public = run.public_key.clone();
    let mut command = run.python("fastmcp_interop.py");
    command.args(["verify", &public, &our_token, "dice-mcp", audience]);
    run.row(
        "dice-mcp token -> FastMCP JWTVerifier",
        "-",
        None,
        &mut command,
    );
    Ok(())
}

/// OpenAI's client, replayed: `dice-mcp check` sends its exact sequence (initialize id 0 on
/// 2025-03-26 as openai-mcp/1.0.0, initialized, tools/list, a call, DELETE, another call).
fn openai_flow_rows(run: &mut Interop) -> anyhow::Result<()> {
    let server = run.serve_with_auth()?;
    for (url, transport) in [
        (server.url.clone(), "streamable HTTP, stateless, token"),
        (sse_url(&server.url), "SSE (/sse), token"),
    ] {
        let mut command = Command::new(&run.binary);
        command.args(["check", "--url", &url, "--token", &run.token]);
        run.row(
            "OpenAI Responses client flow (dice-mcp check)",
            transport,
            Some(&server),
            &mut command,
        );
    }
    server.stop()
}

/// Tokens across implementations: PyJWT's accepted by `serve`, ours verified by PyJWT.
fn token_rows(run: &mut Interop) -> anyhow::Result<()> {
    let theirs = run.dir.join("tokens").join("pyjwt");
    let minted = run
        .python("pyjwt_tokens.py")
        .args(["mint"])
        .arg(&theirs)
        .arg("pyjwt-issuer")
        .output()
        .context("could not run pyjwt_tokens.py mint")?;
    let pyjwt_token = String::from_utf8_lossy(&minted.stdout).trim().to_owned();
    let public = theirs.join("public.pem").to_string_lossy().into_owned();
    if minted.status.success() {
        let server = run.serve(&[
            "--stateless",
            "--public-key",
            &public,
            "--issuer",
            "pyjwt-issuer",
        ])?;
        let mut command = run.python("pyjwt_tokens.py");
        command.args(["call", &server.url, &pyjwt_token]);
        run.row(
            "PyJWT token -> dice-mcp serve --public-key",
            "streamable HTTP, stateless",
            Some(&server),
            &mut command,
        );
        server.stop()?;
    } else {
        eprintln!(
            "--- PyJWT mint failed ---\n{}",
            String::from_utf8_lossy(&minted.stderr)
        );
        run.rows.push(Row {
            client: "PyJWT token -> dice-mcp serve --public-key".into(),
            transport: "-".into(),
            ok: false,
            seconds: 0.0,
        });
    }

    let public = run.public_key.clone();
    let jwks = run
        .dir
        .join("keys")
        .join("jwks.json")
        .to_string_lossy()
        .into_owned();
    let token = run.token.clone();
    let mut command = run.python("pyjwt_tokens.py");
    command.args(["verify", &public, &jwks, &token, "dice-mcp"]);
    run.row(
        "dice-mcp token -> PyJWT verify (kid = RFC 7638)",
        "-",
        None,
        &mut command,
    );
    Ok(())
}

/// Creates `target/interop/venv` and installs the pinned clients when they changed.
fn python_venv(dir: &Path) -> anyhow::Result<PathBuf> {
    let venv = dir.join("venv");
    let python = venv.join("bin").join("python");
    let requirements = workspace_root().join("xtask/interop/requirements.txt");
    let wanted = fs::read_to_string(&requirements)
        .with_context(|| format!("could not read {}", requirements.display()))?;
    let stamp = venv.join(".installed-requirements");
    if fs::read_to_string(&stamp).ok().as_deref() == Some(wanted.as_str()) && python.exists() {
        return Ok(python);
    }
    fs::create_dir_all(dir).with_context(|| format!("could not create {}", dir.display()))?;
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
