//! Mint and verify a bearer token with bearer-auth alone: no server, no axum, no reqwest.
//!
//! Generates an RSA key pair in memory, mints a token, verifies it, then shows that a token
//! whose payload was changed and a token minted for another audience are both refused, each
//! with its typed [`AuthError`]. Exits non-zero if any step goes otherwise.

use std::time::Duration;

use anyhow::{Context, bail};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use bearer_auth::{
    Audience, AuthError, DEFAULT_BITS, RsaKeyPair, TokenRequest, Verifier, VerifierConfig,
    mint_token,
};

/// Who signs the tokens (`iss`).
const ISSUER: &str = "https://issuer.example";
/// The API the tokens are for (`aud`).
const AUDIENCE: &str = "https://api.example";
/// The scope granted.
const SCOPE: &str = "notes:read";
/// How long a token lives.
const TTL: Duration = Duration::from_secs(3600);

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let pair = RsaKeyPair::generate(DEFAULT_BITS).context("generating an RSA key pair")?;
    println!(
        "generated a {DEFAULT_BITS}-bit RSA key pair, kid {}",
        pair.public().kid()
    );

    let token = mint_token(&pair, &request_for(AUDIENCE)).context("minting a token")?;
    println!(
        "minted a token for sub=alice iss={ISSUER} aud={AUDIENCE} scope=\"{SCOPE}\" ttl={}s",
        TTL.as_secs()
    );

    let config = VerifierConfig {
        issuers: vec![ISSUER.to_owned()],
        audiences: vec![AUDIENCE.to_owned()],
        required_scopes: vec![SCOPE.to_owned()],
        ..VerifierConfig::default()
    };
    let verifier = Verifier::new(pair.public().clone(), config).context("building the verifier")?;

    let claims = verifier
        .verify(&token)
        .await
        .context("the freshly minted token was refused")?;
    let audiences: Vec<&str> = claims.audience.iter().flat_map(Audience::iter).collect();
    println!(
        "verified: sub={} iss={} aud={} scopes={:?}",
        claims.subject.as_deref().unwrap_or("(none)"),
        claims.issuer.as_deref().unwrap_or("(none)"),
        audiences.join(","),
        claims.scopes,
    );

    let tampered = with_subject(&token, "mallory")?;
    report_refusal("tampered token", verifier.verify(&tampered).await)?;

    let elsewhere = mint_token(&pair, &request_for("https://other.example"))
        .context("minting a token for another audience")?;
    report_refusal(
        "token for another audience",
        verifier.verify(&elsewhere).await,
    )?;
    Ok(())
}

/// The token request used throughout, for `audience`.
fn request_for(audience: &str) -> TokenRequest {
    TokenRequest::new("alice", ISSUER, TTL)
        .with_audience(Audience::One(audience.to_owned()))
        .with_scopes([SCOPE])
}

/// `token` with its payload's `sub` replaced, keeping the original signature: what an
/// attacker who wants to be someone else would send.
fn with_subject(token: &str, subject: &str) -> anyhow::Result<String> {
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature)) = (parts.next(), parts.next(), parts.next())
    else {
        bail!("a minted token is not header.payload.signature");
    };
    let bytes = URL_SAFE_NO_PAD
        .decode(payload)
        .context("decoding the token's payload")?;
    let mut claims: serde_json::Value =
        serde_json::from_slice(&bytes).context("reading the token's payload as JSON")?;
    claims["sub"] = subject.into();
    let forged = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims)?);
    Ok(format!("{header}.{forged}.{signature}"))
}

/// Prints why `what` was refused; fails if it was accepted.
fn report_refusal<T>(what: &str, outcome: Result<T, AuthError>) -> anyhow::Result<()> {
    match outcome {
        Ok(_) => bail!("{what} was accepted; it should have been refused"),
        Err(error) => {
            let reason = error
                .invalid_token_reason()
                .map_or_else(|| "-".to_owned(), |reason| format!("{reason:?}"));
            println!("{what} refused: {error} ({:?}, {reason})", error.kind());
            Ok(())
        }
    }
}
