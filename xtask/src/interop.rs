//! `cargo xtask interop`: real MCP clients against the real `dice-mcp serve` on 127.0.0.1,
//! and real OAuth clients (the SDKs' own, and Chromium on the consent page) against
//! `dice-mcp dev`'s authorization server.
//!
//! Clients are installed from the package registries into `target/interop/` at pinned
//! versions (`xtask/interop/requirements.txt`, `xtask/interop/package-lock.json`) and reused
//! across runs; Chromium is Debian's. Each row is one real client process against one real
//! server process; a failing row prints the client's output and the server's log tail.

use std::{
    fs,
    path::{Path, PathBuf},
    process::Command,
    time::Instant,
};

use anyhow::{Context, bail};

use crate::{install, server::Server, workspace_root};

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
    /// `target/interop/node`, where `npm ci` put the pinned Node packages (and Node 22).
    node_dir: PathBuf,
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
        self.row_expecting(client, transport, server, command, &[]);
    }

    /// Runs `command` as one row: it passes when it exits 0 and its stdout contains every
    /// `expected` text.
    fn row_expecting(
        &mut self,
        client: &str,
        transport: &str,
        server: Option<&Server>,
        command: &mut Command,
        expected: &[&str],
    ) {
        let started = Instant::now();
        let output = command.output();
        let ok = matches!(&output, Ok(out) if out.status.success()
            && expected.iter().all(|text| String::from_utf8_lossy(&out.stdout).contains(text)));
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
        self.push(Row {
            client: client.to_owned(),
            transport: transport.to_owned(),
            ok,
            seconds: started.elapsed().as_secs_f64(),
        });
    }

    /// Keeps `row` for the table at the end, and says at once how it went.
    fn push(&mut self, row: Row) {
        eprintln!(
            "interop: {} {} ({}) {:.1} s",
            if row.ok { "pass" } else { "FAIL" },
            row.client,
            row.transport,
            row.seconds
        );
        self.rows.push(row);
    }

    /// A row that failed before its client could run, and why.
    fn failed_row(&mut self, client: &str, transport: &str, why: &anyhow::Error) {
        eprintln!("--- FAIL: {client} ({transport}) ---\n{why:#}\n---");
        self.push(Row {
            client: client.to_owned(),
            transport: transport.to_owned(),
            ok: false,
            seconds: 0.0,
        });
    }

    fn python(&self, script: &str) -> Command {
        let mut command = Command::new(&self.python);
        command.arg(workspace_root().join("xtask/interop").join(script));
        command
    }

    /// `node` (22, from the npm registry's `node` package) running in `target/interop/node`.
    fn node(&self) -> Command {
        let mut command = Command::new(self.node_dir.join("node_modules/.bin/node"));
        command.current_dir(&self.node_dir);
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

    /// `dice-mcp dev` with its data (key pair, OAuth clients) in a fresh `target/interop/dev/NAME`,
    /// and the file that holds its current pairing code.
    fn dev(&self, name: &str) -> anyhow::Result<(Server, PathBuf)> {
        let data = self.dir.join("dev").join(name);
        if data.exists() {
            fs::remove_dir_all(&data)
                .with_context(|| format!("could not clear {}", data.display()))?;
        }
        fs::create_dir_all(&data)
            .with_context(|| format!("could not create {}", data.display()))?;
        let code_file = data.join("pairing-code");
        let server = Server::start_dev(&self.binary, &data, &code_file)?;
        Ok((server, code_file))
    }
}

fn sse_url(mcp_url: &str) -> String {
    format!("{}/sse", mcp_url.trim_end_matches("/mcp"))
}

pub fn interop(binary: &Path) -> anyhow::Result<()> {
    let started = Instant::now();
    let dir = crate::target_dir().join("interop");
    let python = python_venv(&dir)?;
    let node_dir = dir.join("node");
    install::npm_ci(&workspace_root().join("xtask/interop"), &node_dir)?;
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
        node_dir,
        public_key: keys.join("public.pem").to_string_lossy().into_owned(),
        token: String::from_utf8_lossy(&token.stdout).trim().to_owned(),
        dir,
        rows: Vec::new(),
    };

    python_sdk_rows(&mut run)?;
    typescript_sdk_rows(&mut run)?;
    inspector_rows(&mut run)?;
    conformance_rows(&mut run)?;
    fastmcp_rows(&mut run)?;
    openai_flow_rows(&mut run)?;
    token_rows(&mut run)?;
    oauth_rows(&mut run)?;

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

/// The official TypeScript SDK client, both transports, with and without auth.
fn typescript_sdk_rows(run: &mut Interop) -> anyhow::Result<()> {
    let script = workspace_root().join("xtask/interop/ts_sdk_client.mjs");
    for (with_auth, label) in [(true, "stateless, token"), (false, "stateful")] {
        let server = if with_auth {
            run.serve_with_auth()?
        } else {
            run.serve(&[])?
        };
        for (url, transport, name) in [
            (server.url.clone(), "streamable", "streamable HTTP"),
            (sse_url(&server.url), "sse", "SSE (/sse)"),
        ] {
            let mut command = run.node();
            command.arg(&script).args([url.as_str(), transport]);
            if with_auth {
                command.arg(&run.token);
            }
            run.row(
                "TypeScript SDK client 1.32.2",
                &format!("{name}, {label}"),
                Some(&server),
                &mut command,
            );
        }
        server.stop()?;
    }
    Ok(())
}

/// MCP Inspector's CLI: tools/list and tools/call, with the bearer header.
fn inspector_rows(run: &mut Interop) -> anyhow::Result<()> {
    let server = run.serve_with_auth()?;
    let inspector = run
        .node_dir
        .join("node_modules/@modelcontextprotocol/inspector/clients/launcher/build/index.js");
    let state = run.node_dir.join("inspector");
    let header = format!("Authorization: Bearer {}", run.token);
    let cases: [(&[&str], &[&str]); 2] = [
        (&["--method", "tools/list"], &["\"roll_dice\"", "\"roll\""]),
        (
            &[
                "--method",
                "tools/call",
                "--tool-name",
                "roll_dice",
                "--tool-arg",
                "n_dice=2",
            ],
            &["\"isError\":false", "structuredContent"],
        ),
    ];
    for (args, expected) in cases {
        let mut command = run.node();
        command
            // Keep its state under target/, never open a browser, never use a keychain.
            .env("MCP_STORAGE_DIR", state.join("storage"))
            .env("MCP_CATALOG_PATH", state.join("mcp.json"))
            .env("MCP_CLIENT_CONFIG_PATH", state.join("client.json"))
            .env("MCP_INSPECTOR_SECRET_STORE", "memory")
            .env("MCP_AUTO_OPEN_ENABLED", "false")
            .arg(&inspector)
            .args([
                "--cli",
                &server.url,
                "--transport",
                "http",
                "--header",
                &header,
            ])
            .args(["--stored-auth-only", "--format", "json"])
            .args(args);
        let method = args[1];
        run.row_expecting(
            &format!("MCP Inspector 2.12.0 CLI, {method}"),
            "streamable HTTP, stateless, token",
            Some(&server),
            &mut command,
            expected,
        );
    }
    server.stop()
}

/// The official conformance suite's server scenarios, against a baseline that lists (with
/// reasons, in xtask/interop/conformance-expected.json) the scenarios a tools-only server
/// cannot pass. With a baseline the suite fails on a new failure, on a warning, and on a
/// listed scenario that starts passing, so the table stays exact.
fn conformance_rows(run: &mut Interop) -> anyhow::Result<()> {
    let expected_path = workspace_root().join("xtask/interop/conformance-expected.json");
    let expected: serde_json::Value = serde_json::from_str(
        &fs::read_to_string(&expected_path)
            .with_context(|| format!("could not read {}", expected_path.display()))?,
    )
    .context("conformance-expected.json is not JSON")?;
    let names = |key: &str| -> Vec<serde_json::Value> {
        expected[key].as_array().cloned().unwrap_or_default()
    };
    let suite = run
        .node_dir
        .join("node_modules/@modelcontextprotocol/conformance/dist/index.js");
    let out = run.node_dir.join("conformance");
    fs::create_dir_all(&out).with_context(|| format!("could not create {}", out.display()))?;
    for (mode, args, extra) in [
        (
            "stateless",
            &["--stateless"][..],
            vec!["stateless_also", "pending_suite"],
        ),
        ("stateful", &[][..], vec!["pending_suite"]),
    ] {
        let mut baseline = names("server");
        for key in extra {
            baseline.extend(names(key));
        }
        let baseline_path = out.join(format!("{mode}-expected.json"));
        fs::write(
            &baseline_path,
            serde_json::json!({ "server": baseline }).to_string(),
        )
        .with_context(|| format!("could not write {}", baseline_path.display()))?;
        let server = run.serve(args)?;
        let mut command = run.node();
        command
            .arg(&suite)
            .args(["server", "--url", &server.url, "--suite", "all", "-o"])
            .arg(out.join(mode))
            .arg("--expected-failures")
            .arg(&baseline_path);
        run.row(
            "conformance suite 0.1.16, all server scenarios",
            &format!("streamable HTTP, {mode}"),
            Some(&server),
            &mut command,
        );
        server.stop()?;
    }
    Ok(())
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
    let port = crate::server::free_port().context("no free port")?;
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
        run.push(Row {
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

/// OAuth with `dice-mcp dev` as the authorization server, one fresh `dev` per row: the
/// Python and TypeScript SDKs' own OAuth clients from the first 401 to a refreshed token
/// (the scripts play the browser on the consent form), and headless Chromium on the consent
/// page, a wrong code then the right one, to a loopback redirect.
fn oauth_rows(run: &mut Interop) -> anyhow::Result<()> {
    let sdk_transport = "streamable HTTP, dev: 401, DCR, consent, PKCE, refresh";
    let sdk_expected = ["tools: roll, roll_dice", "rolled: [", "refreshed: yes"];
    let (server, code_file) = run.dev("python-sdk")?;
    let mut command = run.python("python_sdk_oauth.py");
    command.arg(&server.url).arg(&code_file);
    run.row_expecting(
        "python-sdk oauth (mcp 2.3.0 OAuthClientProvider)",
        sdk_transport,
        Some(&server),
        &mut command,
        &sdk_expected,
    );
    server.stop()?;

    let (server, code_file) = run.dev("ts-sdk")?;
    let mut command = run.node();
    command
        .arg(workspace_root().join("xtask/interop/ts_sdk_oauth.mjs"))
        .arg(&server.url)
        .arg(&code_file);
    run.row_expecting(
        "ts-sdk oauth (SDK 1.32.2 authProvider)",
        sdk_transport,
        Some(&server),
        &mut command,
        &sdk_expected,
    );
    server.stop()?;

    let client = "chromium consent (Debian chromium, playwright-core 1.65.2)";
    let transport = "dev: consent page, wrong then right code, loopback redirect";
    if let Err(why) = install::debian_package("chromium", CHROMIUM) {
        run.failed_row(client, transport, &why);
        return Ok(());
    }
    let (server, code_file) = run.dev("chromium")?;
    let mut command = run.node();
    command
        .arg(workspace_root().join("xtask/interop/consent_browser.mjs"))
        .arg(&server.url)
        .arg(&code_file)
        .arg(CHROMIUM);
    run.row_expecting(
        client,
        transport,
        Some(&server),
        &mut command,
        &[
            "wrong code: the form again",
            "approved: ",
            "tools: roll, roll_dice",
        ],
    );
    server.stop()
}

/// Debian's Chromium, which `consent_browser.mjs` launches.
const CHROMIUM: &str = "/usr/bin/chromium";

/// The Python of `target/interop/venv`, with the pinned clients of
/// `xtask/interop/requirements.txt` installed (FastMCP among them, which `bench --peers`
/// serves from it too).
pub fn python_venv(dir: &Path) -> anyhow::Result<PathBuf> {
    install::python_venv(
        &dir.join("venv"),
        &workspace_root().join("xtask/interop/requirements.txt"),
    )
}
