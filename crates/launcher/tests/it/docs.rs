//! Command output quoted in the guides under `docs/` is what the commands print: each
//! quoted block sits between `<!-- NAME -->` markers, and a test runs the command and
//! compares, with the values that change from run to run (port, token, expiry, pairing
//! code) replaced by the placeholders the guide shows.

use crate::support::DevProcess;

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
