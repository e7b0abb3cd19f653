//! Serves the protected app on 127.0.0.1 (port from the first argument, else `PORT`, else
//! 3000) with a key pair generated at start, and prints a token to try it with.

use std::time::Duration;

use anyhow::Context;
use bearer_auth::{
    Audience, DEFAULT_BITS, RsaKeyPair, TokenRequest, Verifier, VerifierConfig, mint_token,
};
use protect_any_axum_app::{REALM, app};

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
    let resource = format!("http://{}", listener.local_addr()?);

    let pair = RsaKeyPair::generate(DEFAULT_BITS).context("generating an RSA key pair")?;
    let config = VerifierConfig {
        issuers: vec![REALM.to_owned()],
        audiences: vec![resource.clone()],
        ..VerifierConfig::default()
    };
    let verifier = Verifier::new(pair.public().clone(), config).context("building the verifier")?;
    let request = TokenRequest::new("demo", REALM, Duration::from_secs(3600))
        .with_audience(Audience::One(resource.clone()));
    let token = mint_token(&pair, &request).context("minting the demo token")?;

    let app = app(verifier, &resource).context("building the app")?;
    println!("listening on {resource}");
    println!("token (valid one hour): {token}");
    println!("try: curl -i {resource}/hello");
    println!("     curl -H 'Authorization: Bearer {token}' {resource}/hello");
    axum::serve(listener, app).await.context("serving")?;
    Ok(())
}
