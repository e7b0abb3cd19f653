//! `dice-mcp ask`: FastMCP guide's final Python snippet, in Rust. Calls OpenAI's Responses
//! API with the MCP server as a tool and prints the answer and each MCP call.

use std::time::Duration;

use anyhow::{Context, bail};
use serde_json::{Value, json};

use crate::cli::AskArgs;

/// How long `ask` waits for OpenAI unless `--timeout` says otherwise.
const DEFAULT_ASK_TIMEOUT: Duration = Duration::from_secs(120);

/// The Responses API request body, exactly as the guide's snippet builds it.
pub fn request_body(args: &AskArgs) -> Value {
    let mut tool = json!({
        "type": "mcp",
        "server_label": args.server_label,
        "server_url": args.target.url,
        "require_approval": "never",
    });
    if let Some(token) = &args.target.token {
        tool["headers"] = json!({ "Authorization": format!("Bearer {token}") });
    }
    json!({ "model": args.model, "tools": [tool], "input": args.prompt })
}

/// What the response said: MCP activity lines, then the answer.
pub fn describe_output(response: &Value) -> (Vec<String>, String) {
    let mut lines = Vec::new();
    let mut answer = Vec::new();
    for item in response["output"].as_array().into_iter().flatten() {
        match item["type"].as_str() {
            Some("mcp_list_tools") => {
                let names: Vec<&str> = item["tools"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|t| t["name"].as_str())
                    .collect();
                lines.push(format!(
                    "listed tools from {}: {}",
                    item["server_label"].as_str().unwrap_or("?"),
                    names.join(", ")
                ));
            }
            Some("mcp_call") => {
                let name = item["name"].as_str().unwrap_or("?");
                let arguments = item["arguments"].as_str().unwrap_or("{}");
                let outcome = match item["error"].as_str() {
                    Some(error) if !error.is_empty() => format!("error: {error}"),
                    _ => item["output"].as_str().unwrap_or("").to_owned(),
                };
                lines.push(format!("called {name}({arguments}) -> {outcome}"));
            }
            Some("message") => {
                for part in item["content"].as_array().into_iter().flatten() {
                    if part["type"] == "output_text"
                        && let Some(text) = part["text"].as_str()
                    {
                        answer.push(text.to_owned());
                    }
                }
            }
            _ => {}
        }
    }
    (lines, answer.join("\n"))
}

/// Turns an OpenAI error into advice.
fn explain_error(status: reqwest::StatusCode, body: &Value, url: &str) -> anyhow::Error {
    let message = body["error"]["message"]
        .as_str()
        .unwrap_or("no message")
        .to_owned();
    if status.as_u16() == 424 || message.contains("Error retrieving tool list") {
        return anyhow::anyhow!(
            "OpenAI could not use the MCP server at {url}: {message}\n\
             Run `dice-mcp check --url {url} --token <token>` to see why. Common causes: the \
             URL is not reachable from the internet (publish with `dice-mcp dev` and \
             NGROK_AUTHTOKEN), the token is wrong or expired, or the server is stateful \
             (serve --stateless)."
        );
    }
    if status == reqwest::StatusCode::UNAUTHORIZED {
        return anyhow::anyhow!("OpenAI rejected the API key ({message}); check OPENAI_API_KEY");
    }
    anyhow::anyhow!("OpenAI answered {status}: {message}")
}

/// `dice-mcp ask`.
pub fn run(args: AskArgs) -> anyhow::Result<()> {
    let Some(api_key) = args.api_key.clone().filter(|k| !k.trim().is_empty()) else {
        bail!("set OPENAI_API_KEY (an OpenAI API key) to ask the Responses API");
    };
    if let Ok(url) = reqwest::Url::parse(&args.target.url)
        && url.host_str().is_some_and(|h| {
            h == "localhost"
                || h.parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        })
    {
        eprintln!(
            "warning: {} is a loopback URL; OpenAI's servers cannot reach it. Publish with \
             `dice-mcp dev` (NGROK_AUTHTOKEN set) and use the public URL.",
            args.target.url
        );
    }
    crate::runtime()?.block_on(async {
        let http = reqwest::Client::builder()
            .timeout(args.target.timeout_or(DEFAULT_ASK_TIMEOUT))
            .build()
            .context("could not build an HTTP client")?;
        let endpoint = format!("{}/responses", args.openai_base_url.trim_end_matches('/'));
        let response = http
            .post(&endpoint)
            .bearer_auth(api_key.trim())
            .json(&request_body(&args))
            .send()
            .await
            .with_context(|| {
                format!("could not reach {endpoint}; check your network or --openai-base-url")
            })?;
        let status = response.status();
        let body: Value = response
            .json()
            .await
            .with_context(|| format!("{endpoint} did not answer JSON ({status})"))?;
        if !status.is_success() {
            return Err(explain_error(status, &body, &args.target.url));
        }
        let (lines, answer) = describe_output(&body);
        for line in lines {
            println!("[mcp] {line}");
        }
        println!("{answer}");
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_items_become_lines_and_an_answer() {
        let response = json!({"output": [
            {"type": "mcp_list_tools", "server_label": "dice", "tools": [{"name": "roll_dice"}, {"name": "roll"}]},
            {"type": "mcp_call", "name": "roll_dice", "arguments": "{\"n_dice\":3}", "output": "[1, 2, 3]", "error": null},
            {"type": "mcp_call", "name": "roll", "arguments": "{}", "output": null, "error": "bad"},
            {"type": "message", "content": [{"type": "output_text", "text": "You rolled 1, 2 and 3."}]}
        ]});
        let (lines, answer) = describe_output(&response);
        assert_eq!(
            lines,
            [
                "listed tools from dice: roll_dice, roll",
                "called roll_dice({\"n_dice\":3}) -> [1, 2, 3]",
                "called roll({}) -> error: bad",
            ]
        );
        assert_eq!(answer, "You rolled 1, 2 and 3.");
    }

    #[test]
    fn a_424_becomes_advice_to_run_check() {
        let body = json!({"error": {"message": "Error retrieving tool list from MCP server: 'dice'. Http status code: 401"}});
        let error = explain_error(
            reqwest::StatusCode::FAILED_DEPENDENCY,
            &body,
            "https://x/mcp",
        )
        .to_string();
        assert!(
            error.contains("dice-mcp check --url https://x/mcp"),
            "{error}"
        );
    }
}
