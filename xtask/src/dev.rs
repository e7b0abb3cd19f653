//! `cargo xtask dev`: serve dice-mcp locally and print how to call it.

use std::{env, io::Write, path::Path};

use anyhow::bail;

use crate::server::Server;

pub fn dev(binary: &Path, args: &[String]) -> anyhow::Result<()> {
    let stateful = args.iter().any(|a| a == "--stateful");
    let passthrough: Vec<&str> = args
        .iter()
        .map(String::as_str)
        .filter(|a| *a != "--stateful")
        .collect();
    let mut envs = Vec::new();
    if env::var_os("DICE_MCP_ADDR").is_none() {
        envs.push(("DICE_MCP_ADDR", "127.0.0.1:8000"));
    }
    if !stateful {
        envs.push(("DICE_MCP_STATELESS", "true"));
    }
    let server = Server::start(binary, &passthrough, &envs, true)?;
    print_banner(&server.url, stateful);
    let status = server.wait()?;
    if !status.success() {
        bail!("dice-mcp exited with {status}");
    }
    Ok(())
}

fn print_banner(url: &str, stateful: bool) {
    let mode = if stateful { "stateful" } else { "stateless" };
    let call = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"roll_dice","arguments":{"n_dice":3}}}"#;
    let session_note = if stateful {
        "  (stateful: send `initialize` first and pass its Mcp-Session-Id header on each call)\n"
    } else {
        ""
    };
    let sse_url = format!("{}/sse", url.trim_end_matches("/mcp"));
    let banner = format!(
        "
────────────────────────────────────────────────────────────────────────
 dice-mcp is serving ({mode}) at

   {url}        Streamable HTTP: use this one
   {sse_url}        legacy HTTP+SSE, for older clients

 Roll three dice with curl:

   curl -s {url} \\
     -H 'content-type: application/json' \\
     -H 'accept: application/json, text/event-stream' \\
     -d '{call}'
{session_note}
 From Python (pip install 'mcp>=2'):

   import asyncio
   from mcp import Client

   async def main():
       async with Client(\"{url}\") as client:
           print(await client.call_tool(\"roll_dice\", {{\"n_dice\": 3}}))

   asyncio.run(main())

 MCP Inspector: npx @modelcontextprotocol/inspector --cli {url} --method tools/list

 This server is local only: nothing outside this machine can reach it.
 Ctrl-C stops it.
────────────────────────────────────────────────────────────────────────
"
    );
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(banner.as_bytes());
    let _ = stdout.flush();
}
