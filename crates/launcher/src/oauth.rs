//! `dice-mcp oauth`: the owner's view of the clients `dev` registered, and revocation.

use std::time::{Duration, UNIX_EPOCH};

use anyhow::{Context, bail};

use crate::{
    cli::{OauthAction, OauthArgs},
    dev::{OAUTH_STORE_FILE, default_keys_dir, open_oauth_store},
};

/// Runs `dice-mcp oauth clients|revoke`.
pub fn run(args: &OauthArgs) -> anyhow::Result<()> {
    let dir = match &args.keys_dir {
        Some(dir) => dir.clone(),
        None => {
            default_keys_dir().context("no data directory on this system; pass --keys-dir DIR")?
        }
    };
    let path = dir.join(OAUTH_STORE_FILE);
    let store = open_oauth_store(&dir, "")?;
    match &args.action {
        OauthAction::Clients => {
            let clients = store
                .clients()
                .context("could not read the OAuth clients")?;
            if clients.is_empty() {
                println!(
                    "No OAuth clients are registered (store: {}).",
                    path.display()
                );
                return Ok(());
            }
            for client in clients {
                let last = client.last_used_at.map_or_else(|| "never".to_owned(), when);
                println!(
                    "{}  {}\n    registered {}, last token {}, {} live refresh token(s)\n    redirects to {}",
                    client.client_id,
                    client.name.as_deref().unwrap_or("(no name)"),
                    when(client.registered_at),
                    last,
                    client.live_refresh_tokens,
                    client.redirect_uris.join(", "),
                );
            }
            Ok(())
        }
        OauthAction::Revoke { client_id } => {
            if !store
                .revoke(client_id)
                .context("could not update the OAuth client store")?
            {
                bail!("no client {client_id:?} is registered; `dice-mcp oauth clients` lists them");
            }
            println!(
                "Revoked {client_id}: it can get no more tokens. An access token it holds works \
                 until it expires (at most an hour)."
            );
            Ok(())
        }
    }
}

/// A time in seconds since the epoch, as RFC 3339.
fn when(seconds: u64) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(seconds)).to_string()
}
