//! `dice-mcp keygen` and `dice-mcp token`.

use anyhow::Context;
use bearer_auth::{Audience, RsaKeyPair, TokenRequest, mint_token};

use crate::cli::{KeygenArgs, TokenArgs};

/// Generates and saves a key pair; prints the paths and the kid, never the private key.
pub fn keygen(args: KeygenArgs) -> anyhow::Result<()> {
    let pair = RsaKeyPair::generate(args.bits).context("could not generate the key pair")?;
    let saved = pair
        .save(&args.out, args.force)
        .map_err(|error| match error {
            bearer_auth::Error::Exists(_) => {
                anyhow::Error::new(error).context("keys are there already: pass --force to replace them (tokens signed with the old key stop working)")
            }
            other => anyhow::Error::new(other),
        })
        .with_context(|| format!("could not write the keys into {}", args.out.display()))?;
    println!(
        "wrote {} (private key, mode 0600: keep it secret)",
        saved.private.display()
    );
    println!("wrote {}", saved.public.display());
    println!("wrote {}", saved.jwks.display());
    println!("kid   {}", pair.public().kid());
    println!();
    println!(
        "next: dice-mcp serve --stateless --public-key {} --issuer dice-mcp",
        saved.public.display()
    );
    println!("      dice-mcp token --key {}", saved.private.display());
    Ok(())
}

/// Mints a token and prints only the token.
pub fn token(args: TokenArgs) -> anyhow::Result<()> {
    let pair = RsaKeyPair::load(&args.key).with_context(|| {
        format!(
            "could not read the private key {}; create one with `dice-mcp keygen --out DIR`",
            args.key.display()
        )
    })?;
    let mut request = TokenRequest::new(args.sub, args.iss, args.ttl).with_scopes(args.scopes);
    request.audience = match args.audiences.len() {
        0 => None,
        1 => args.audiences.into_iter().next().map(Audience::One),
        _ => Some(Audience::Many(args.audiences)),
    };
    let token = mint_token(&pair, &request).context("check --ttl (at most 366d)")?;
    println!("{token}");
    Ok(())
}
