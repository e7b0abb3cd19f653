//! The text tools served for real on 127.0.0.1 behind bearer-auth, talked to with reqwest.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use bearer_auth::{Audience, RsaKeyPair, TokenRequest, Verifier, VerifierConfig, mint_token};
use custom_tool_server::{MAX_TEXT_CHARS, NAME, STRIPPED_KEYWORDS, app, mcp_server};
use serde_json::{Value, json};
use test_support::{post_rpc, rpc_message};

/// Keywords `dice-mcp check` flags as outside OpenAI's subset; the tools' flat argument
/// struct must not produce any of them.
const UNSUPPORTED_KEYWORDS: [&str; 6] = ["$ref", "$defs", "definitions", "allOf", "oneOf", "not"];

/// The server on a free loopback port: its MCP URL and a token it accepts.
async fn start() -> (String, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://{}{}",
        listener.local_addr().unwrap(),
        mcp_core::MCP_PATH
    );
    let pair = RsaKeyPair::generate(2048).unwrap();
    let config = VerifierConfig {
        issuers: vec![NAME.to_owned()],
        audiences: vec![url.clone()],
        ..VerifierConfig::default()
    };
    let verifier = Verifier::new(pair.public().clone(), config).unwrap();
    let request = TokenRequest::new("tester", NAME, Duration::from_secs(60))
        .with_audience(Audience::One(url.clone()));
    let token = mint_token(&pair, &request).unwrap();
    let server = mcp_server().unwrap();
    let app = app(&server, verifier, &url).unwrap();
    tokio::spawn(async move {
        server
            .serve(listener, app, std::future::pending())
            .await
            .unwrap();
    });
    (url, token)
}

/// The `result` of a JSON-RPC request to the server, with the token.
async fn call(url: &str, token: &str, id: u64, method: &str, params: Value) -> Value {
    let body = json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params });
    let response = post_rpc(url, Some(token), &body).await;
    assert_eq!(response.status(), 200);
    let message = rpc_message(response, id).await;
    message
        .get("result")
        .cloned()
        .unwrap_or_else(|| panic!("no result: {message}"))
}

/// Every key anywhere in `value` that names a keyword in `keywords`, outside `properties`.
fn keywords_in(value: &Value, keywords: &[&str], found: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                if keywords.contains(&key.as_str()) {
                    found.push(key.clone());
                }
                if key == "properties" {
                    if let Value::Object(properties) = child {
                        properties
                            .values()
                            .for_each(|schema| keywords_in(schema, keywords, found));
                    }
                } else {
                    keywords_in(child, keywords, found);
                }
            }
        }
        Value::Array(items) => items
            .iter()
            .for_each(|item| keywords_in(item, keywords, found)),
        _ => {}
    }
}

#[tokio::test]
async fn tools_list_gives_annotated_tools_with_openai_safe_schemas() {
    let (url, token) = start().await;
    let result = call(&url, &token, 1, "tools/list", json!({})).await;
    let tools = result["tools"].as_array().unwrap();
    let names: Vec<&str> = tools.iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["reverse_text", "word_count"]);
    for tool in tools {
        let schema = &tool["inputSchema"];
        assert_eq!(schema["type"], "object", "{tool}");
        assert_eq!(schema["properties"]["text"]["type"], "string", "{tool}");
        assert_eq!(schema["required"], json!(["text"]), "{tool}");
        let mut found = Vec::new();
        keywords_in(schema, &STRIPPED_KEYWORDS, &mut found);
        keywords_in(schema, &UNSUPPORTED_KEYWORDS, &mut found);
        assert!(found.is_empty(), "{found:?} in {schema}");
        let annotations = &tool["annotations"];
        assert_eq!(annotations["readOnlyHint"], true, "{tool}");
        assert_eq!(annotations["destructiveHint"], false, "{tool}");
        assert_eq!(annotations["openWorldHint"], false, "{tool}");
    }
}

#[tokio::test]
async fn tools_call_counts_and_reverses_and_an_overlong_text_is_an_is_error_result() {
    let (url, token) = start().await;
    let counted = call(
        &url,
        &token,
        2,
        "tools/call",
        json!({ "name": "word_count", "arguments": { "text": "the quick  brown\nfox" } }),
    )
    .await;
    assert_eq!(counted["isError"], false, "{counted}");
    assert_eq!(counted["content"][0]["text"], "4");

    let reversed = call(
        &url,
        &token,
        3,
        "tools/call",
        json!({ "name": "reverse_text", "arguments": { "text": "héllo" } }),
    )
    .await;
    assert_eq!(reversed["content"][0]["text"], "olléh", "{reversed}");

    let long = "a".repeat(MAX_TEXT_CHARS + 1);
    let refused = call(
        &url,
        &token,
        4,
        "tools/call",
        json!({ "name": "word_count", "arguments": { "text": long } }),
    )
    .await;
    assert_eq!(refused["isError"], true, "{refused}");
    let text = refused["content"][0]["text"].as_str().unwrap();
    assert!(text.contains("at most 10000"), "{text}");
}

#[tokio::test]
async fn without_a_token_mcp_gets_401_pointing_at_the_metadata() {
    let (url, _token) = start().await;
    let body = json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {} });
    let response = post_rpc(&url, None, &body).await;
    assert_eq!(response.status(), 401);
    let challenge = response.headers()["www-authenticate"].to_str().unwrap();
    assert!(challenge.contains("resource_metadata="), "{challenge}");
}

/// `text` with all whitespace removed and a trailing comma before a closing bracket
/// dropped, so an excerpt matches its source whatever the indentation and line breaks.
fn squeezed(text: &str) -> String {
    let bare: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    bare.replace(",)", ")")
        .replace(",}", "}")
        .replace(",]", "]")
}

/// Whether the pieces of `excerpt` between `…` appear in `source` in that order.
fn excerpt_of(excerpt: &str, source: &str) -> Result<(), String> {
    let source = squeezed(source);
    let mut rest = source.as_str();
    for piece in excerpt.split('…').map(squeezed).filter(|p| !p.is_empty()) {
        match rest.find(&piece) {
            Some(at) => rest = &rest[at + piece.len()..],
            None => return Err(piece),
        }
    }
    Ok(())
}

#[test]
fn excerpt_of_wants_each_piece_in_order() {
    let source = "fn a() {\n    one();\n    two(x,\n    );\n}\n";
    assert!(excerpt_of("fn a() { one(); … two(x); }", source).is_ok());
    assert!(excerpt_of("two(x); … one();", source).is_err());
    assert!(excerpt_of("fn a() { three(); }", source).is_err());
}

/// Every ```rust block in docs/writing-tools.md follows a `<!-- from PATH -->` line and is
/// an excerpt of that file, so the guide cannot drift from the code it explains.
#[test]
fn the_guides_rust_excerpts_are_in_the_example_source() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let guide = std::fs::read_to_string(root.join("docs/writing-tools.md")).unwrap();
    let mut checked = 0;
    let mut lines = guide.lines().peekable();
    let mut from: Option<&str> = None;
    while let Some(line) = lines.next() {
        if let Some(path) = line
            .strip_prefix("<!-- from ")
            .and_then(|rest| rest.strip_suffix(" -->"))
        {
            from = Some(path);
            continue;
        }
        if line != "```rust" {
            continue;
        }
        let path = from
            .take()
            .unwrap_or_else(|| panic!("a ```rust block with no `<!-- from PATH -->` above it"));
        let excerpt: Vec<&str> = lines.by_ref().take_while(|l| *l != "```").collect();
        let source = std::fs::read_to_string(root.join(path)).unwrap();
        if let Err(piece) = excerpt_of(&excerpt.join("\n"), &source) {
            panic!("docs/writing-tools.md quotes {path}, which has no `{piece}` (where quoted)");
        }
        checked += 1;
    }
    assert!(checked >= 3, "only {checked} excerpts found");
}
