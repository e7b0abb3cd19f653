//! Serves the text tools on 127.0.0.1 (port from the first argument, else `PORT`, else
//! 3000) at `/mcp`, stateless, behind a bearer token minted at start with a fresh key.

use std::time::Duration;

use anyhow::Context;
use bearer_auth::{
    Audience, DEFAULT_BITS, RsaKeyPair, TokenRequest, Verifier, VerifierConfig, mint_token,
};
use custom_tool_server::{NAME, app, mcp_server};

/// The port when neither an argument nor `PORT` names one.
const DEFAULT_PORT: u16 = 3000;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let port = match std::env::args()
        .nth(1)
        .or_else(|| std::env::var("PORT").ok())
    {
        Some(port) => port
            .parse::<u16>()
            .with_context(|| format!("invalid port {port:?}; pass a number such as 8080"))?,
        None => DEFAULT_PORT,
    };
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .with_context(|| format!("binding 127.0.0.1:{port}; is the port free?"))?;
    let resource = format!("http://{}{}", listener.local_addr()?, mcp_core::MCP_PATH);

    let pair = RsaKeyPair::generate(DEFAULT_BITS).context("generating an RSA key pair")?;
    let config = VerifierConfig {
        issuers: vec![NAME.to_owned()],
        audiences: vec![resource.clone()],
        ..VerifierConfig::default()
    };
    let verifier = Verifier::new(pair.public().clone(), config).context("building the verifier")?;
    let request = TokenRequest::new("demo", NAME, Duration::from_secs(3600))
        .with_audience(Audience::One(resource.clone()));
    let token = mint_token(&pair, &request).context("minting the demo token")?;

    let server = mcp_server().context("configuring the MCP server")?;
    let app = app(&server, verifier, &resource).context("building the app")?;
    println!("MCP endpoint: {resource}");
    println!("token (valid one hour): {token}");
    server
        .serve(listener, app, mcp_core::shutdown_signal())
        .await
        .context("serving")?;
    Ok(())
}
