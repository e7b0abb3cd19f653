//! Command output quoted in the guides under `docs/` is what the commands print: each
//! quoted block sits between `<!-- NAME -->` markers, and a test runs the command and
//! compares, with the values that change from run to run (port, token, expiry, pairing
//! code) replaced by the placeholders the guide shows. The README's token walkthrough is
//! run as written, each command through `sh`, its output compared with the `#` lines below
//! it.

use std::path::Path;

use crate::{
    binary::{BIN, start_command},
    support::DevProcess,
};

/// The fenced block between `<!-- name -->` and `<!-- /name -->` in `docs/FILE`.
fn quoted(file: &str, name: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../docs")
        .join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    let start = format!("<!-- {name} -->");
    let end = format!("<!-- /{name} -->");
    let block = text
        .split_once(&start)
        .and_then(|(_, rest)| rest.split_once(&end))
        .unwrap_or_else(|| panic!("no {start} … {end} in {}", path.display()))
        .0;
    let body = block
        .trim()
        .strip_prefix("```text\n")
        .and_then(|b| b.strip_suffix("```"))
        .unwrap_or_else(|| panic!("{start} holds no ```text block"));
    body.trim_end().to_owned()
}

#[tokio::test]
async fn the_dev_output_in_the_openai_guide_is_what_dev_prints() {
    let mut dev = DevProcess::start(&[]).await;
    let lines = dev.lines_until("Ctrl-C stops the server.").await;
    let value = |prefix: &str| {
        lines
            .iter()
            .find_map(|line| line.trim().strip_prefix(prefix))
            .unwrap_or_else(|| panic!("no {prefix:?} line in {lines:#?}"))
            .trim()
            .to_owned()
    };
    let url = value("MCP URL:");
    let base = url.strip_suffix("/mcp").unwrap();
    let token = value("Token:");
    let expires = value("Expires:");
    let expiry = expires.split(" (in").next().unwrap();
    let code = value("Pairing code:");
    let printed = lines
        .join("\n")
        .replace(&token, "<TOKEN>")
        .replace(base, "http://127.0.0.1:<PORT>")
        .replace(expiry, "<EXPIRY>")
        .replace(&code, "<CODE>");
    assert_eq!(
        quoted("openai.md", "dev-output"),
        printed.trim(),
        "docs/openai.md quotes dev's output: update it to what dev prints now"
    );
}

/// The text between `<!-- name -->` and `<!-- /name -->` in the README.
fn readme_region(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md");
    let text = std::fs::read_to_string(&path).unwrap();
    let start = format!("<!-- {name} -->");
    let end = format!("<!-- /{name} -->");
    text.split_once(&start)
        .and_then(|(_, rest)| rest.split_once(&end))
        .unwrap_or_else(|| panic!("no {start} … {end} in the README"))
        .0
        .to_owned()
}

/// One shell command of a quoted block (continuation lines joined, a trailing `  # comment`
/// dropped) and the `# ` lines right below it: what it prints.
#[derive(Debug)]
struct Step {
    command: String,
    expected: Vec<String>,
}

/// The steps of every ```sh block in `region`.
fn steps(region: &str) -> Vec<Step> {
    let mut steps: Vec<Step> = Vec::new();
    let mut in_sh = false;
    let mut pending = String::new();
    for line in region.lines() {
        let line = line.trim_end();
        if line.starts_with("```") {
            in_sh = !in_sh && line == "```sh";
            continue;
        }
        if !in_sh || line.is_empty() {
            continue;
        }
        if let Some(output) = line.strip_prefix("# ") {
            steps
                .last_mut()
                .expect("output before any command")
                .expected
                .push(output.to_owned());
            continue;
        }
        let line = line.split("  # ").next().unwrap().trim_end();
        match line.strip_suffix('\\') {
            Some(head) => pending.push_str(head),
            None => {
                pending.push_str(line);
                steps.push(Step {
                    command: std::mem::take(&mut pending),
                    expected: Vec::new(),
                });
            }
        }
    }
    steps
}

/// Whether `actual` has the shape of `expected`: `...` stands for any text, and any run of
/// digits for any other (dice and ports change from run to run).
fn same_shape(expected: &str, actual: &str) -> bool {
    let digits = |text: &str| {
        let mut out = String::new();
        for c in text.chars() {
            if !c.is_ascii_digit() {
                out.push(c);
            } else if !out.ends_with('0') {
                out.push('0');
            }
        }
        out
    };
    let (expected, actual) = (digits(expected), digits(actual));
    let pieces: Vec<&str> = expected.split("...").collect();
    let mut rest = actual.as_str();
    for (i, piece) in pieces.iter().enumerate() {
        let found = if i == 0 {
            rest.starts_with(piece).then_some(0)
        } else if i == pieces.len() - 1 {
            rest.ends_with(piece).then(|| rest.len() - piece.len())
        } else {
            rest.find(piece)
        };
        match found {
            Some(at) => rest = &rest[at + piece.len()..],
            None => return false,
        }
    }
    pieces.len() > 1 || rest.is_empty()
}

#[test]
fn same_shape_lets_digits_and_ellipses_vary_and_nothing_else() {
    assert!(same_shape(
        r#"{"text":"[4, 1, 6]"}...}"#,
        r#"{"text":"[2, 6, 13]"},"x":1}"#
    ));
    assert!(same_shape(
        "HTTP/1.1 401 Unauthorized",
        "HTTP/1.1 401 Unauthorized"
    ));
    assert!(!same_shape(
        "HTTP/1.1 401 Unauthorized",
        "HTTP/1.1 401 Unauthorised"
    ));
    assert!(!same_shape(r#"{"text":"[4]"}..."#, r#"{"text":"4"}"#));
    assert!(!same_shape("a...b", "a"));
}

/// Runs the README's "Requiring tokens" commands (keygen, serve, token, the two curls) and
/// then "Call it by hand", as a user would paste them: `dice-mcp` is the binary under test
/// on `PATH`, `serve` gets `--addr 127.0.0.1:0` and the README's port 8000 becomes the one
/// it took.
#[tokio::test]
async fn the_readme_token_walkthrough_prints_what_it_says() {
    let dir = tempfile::tempdir().unwrap();
    let bin_dir = Path::new(BIN).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut token = String::new();
    let mut addr: Option<String> = None;
    let mut server = None;
    let walkthrough = steps(&readme_region("requiring-tokens"));
    let by_hand = steps(&readme_region("call-by-hand"));
    assert!(
        walkthrough.len() >= 5 && by_hand.len() == 1,
        "{walkthrough:#?} {by_hand:#?}"
    );
    for step in walkthrough.iter().chain(&by_hand) {
        let local = |text: &str| match &addr {
            Some(addr) => text.replace("127.0.0.1:8000", addr),
            None => text.to_owned(),
        };
        if let Some(args) = step.command.strip_prefix("dice-mcp serve ") {
            let mut command = tokio::process::Command::new(BIN);
            command
                .arg("serve")
                .args(args.split_whitespace())
                .args(["--addr", "127.0.0.1:0"])
                .current_dir(dir.path())
                .env_remove("RUST_LOG");
            let (child, url, _log) = start_command(command).await;
            let host = url
                .strip_prefix("http://")
                .unwrap()
                .split('/')
                .next()
                .unwrap();
            addr = Some(host.to_owned());
            server = Some(child);
            continue;
        }
        let (assigns, script) = match step.command.split_once("=$(") {
            Some((name, rest)) if name.chars().all(|c| c.is_ascii_uppercase()) => {
                (true, rest.strip_suffix(')').unwrap().to_owned())
            }
            _ => (false, local(&step.command)),
        };
        let output = tokio::process::Command::new("sh")
            .args(["-c", &script])
            .current_dir(dir.path())
            .env("PATH", &path)
            .env("TOKEN", &token)
            .output()
            .await
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "`{script}` failed: {}\n{stdout}{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        if assigns {
            token = stdout.trim().to_owned();
            assert_eq!(token.split('.').count(), 3, "not a JWT: {token}");
        }
        let lines: Vec<&str> = stdout.lines().map(str::trim_end).collect();
        if !step.expected.is_empty() {
            assert_eq!(
                lines.len(),
                step.expected.len(),
                "`{script}` printed {stdout}"
            );
            for (expected, actual) in step.expected.iter().zip(&lines) {
                assert!(
                    same_shape(&local(expected), actual),
                    "the README says `{script}` prints\n  {expected}\nbut it printed\n  {actual}"
                );
            }
        }
        if step.command.contains("tools/call") {
            let reply: serde_json::Value = serde_json::from_str(&stdout)
                .unwrap_or_else(|e| panic!("`{script}` printed no JSON ({e}): {stdout}"));
            assert_eq!(reply["result"]["isError"], false, "{reply}");
        }
    }
    assert!(server.is_some(), "the walkthrough starts no server");
}

/// Each option of `dice-mcp serve --help`: its long name, environment variable and default.
fn serve_options(help: &str) -> Vec<(String, Option<String>, Option<String>)> {
    let mut options: Vec<(String, Option<String>, Option<String>)> = Vec::new();
    for line in help.lines() {
        let indent = line.len() - line.trim_start().len();
        let text = line.trim();
        if indent <= 6 && text.starts_with('-') {
            let long = text
                .split_whitespace()
                .find(|word| word.starts_with("--"))
                .unwrap()
                .trim_end_matches(',');
            options.push((long.to_owned(), None, None));
        } else if let Some(option) = options.last_mut() {
            if let Some(env) = text.strip_prefix("[env: ") {
                option.1 = Some(env.split('=').next().unwrap().to_owned());
            } else if let Some(default) = text.strip_prefix("[default: ") {
                option.2 = Some(default.trim_end_matches(']').to_owned());
            }
        }
    }
    options
}

/// The README's tables of `serve` flags and `serve --help` say the same: every flag in
/// either is in the other, with the same environment variable, and a default the help shows
/// is the one the table gives.
#[tokio::test]
async fn the_readme_flag_tables_match_serve_help() {
    let output = tokio::process::Command::new(BIN)
        .args(["serve", "--help"])
        .output()
        .await
        .unwrap();
    assert!(output.status.success());
    let options = serve_options(&String::from_utf8_lossy(&output.stdout));
    assert!(options.len() > 20, "{options:?}");
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md"))
            .unwrap();
    // Rows of the serve tables: `| `--flag ARG` | `ENV` ... | default | meaning |`.
    let rows: Vec<Vec<&str>> = readme
        .lines()
        .filter(|line| line.starts_with("| `--"))
        .map(|line| line.split(" | ").collect())
        .collect();
    let row_of = |flag: &str| {
        rows.iter()
            .find(|cells| cells[0].trim_start_matches("| `").split([' ', '`']).next() == Some(flag))
    };
    for (flag, env, default) in &options {
        if flag == "--help" {
            continue;
        }
        let row = row_of(flag).unwrap_or_else(|| panic!("the README's serve tables lack {flag}"));
        if let Some(env) = env {
            assert!(
                row[1].contains(&format!("`{env}`")),
                "the README gives {flag} the variable {}, serve --help {env}",
                row[1]
            );
        }
        if let Some(default) = default {
            assert!(
                row.len() == 4 && row[2].contains(default.as_str()),
                "the README gives {flag} the default {:?}, serve --help {default}",
                row.get(2)
            );
        }
    }
    for cells in &rows {
        let flag = cells[0]
            .trim_start_matches("| `")
            .split([' ', '`'])
            .next()
            .unwrap();
        assert!(
            options.iter().any(|(long, _, _)| long == flag),
            "the README documents {flag}, which serve --help does not have"
        );
    }
}
