//! `dice-mcp dev`: one command for FastMCP's whole guide. Load (or create) a dev key pair,
//! serve with tokens required, publish through a [`Publisher`] (ngrok when
//! `NGROK_AUTHTOKEN` is set, else local only), mint a token for the published URL, and print
//! what to paste into OpenAI's Responses API.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    sync::Arc,
    time::{Duration, SystemTime},
};

use anyhow::{Context, bail};
use bearer_auth::{
    Audience, KeySource, ResourceMetadata, RsaKeyPair, TokenRequest, Verifier, VerifierConfig,
    mint_token,
};
use mcp_core::{HttpConfig, SessionMode};
use oauth_server::{AuthorizationServer, OAuthConfig, PairingCode, Store};
use tokio::sync::{oneshot, watch};

use crate::{
    cli::DevArgs,
    publish::{LocalOnly, Published, Publisher},
};

/// Issuer of dev tokens.
pub const DEV_ISSUER: &str = "dice-mcp-dev";
/// The scope OAuth clients are offered and granted.
pub const OAUTH_SCOPE: &str = "dice:roll";
/// The file, in the keys directory, that keeps OAuth clients and refresh tokens.
pub const OAUTH_STORE_FILE: &str = "oauth.json";

/// A running dev server: where it is, the token for it, and how to stop it.
pub struct DevServer {
    /// The Streamable HTTP URL (`…/mcp`).
    pub mcp_url: String,
    /// The legacy SSE URL (`…/sse`).
    pub sse_url: String,
    /// A token for [`Self::mcp_url`] (its `aud`).
    pub token: String,
    /// When the token expires.
    pub expires_at: SystemTime,
    /// Whether the URL is reachable from the internet.
    pub public: bool,
    /// Whether sessions are kept (`--stateful`).
    pub stateful: bool,
    /// The pairing codes of the OAuth authorization server (absent with `--no-oauth`).
    pub pairing_codes: Option<watch::Receiver<PairingCode>>,
    published: Published,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Result<(), mcp_core::Error>>,
}

impl DevServer {
    /// Closes the tunnel, then drains and stops the server.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        self.published.close().await;
        let _ = self.stop.send(());
        self.task
            .await
            .context("the server task failed")?
            .context("the server stopped with an error")
    }
}

/// Where dev keys live unless `--keys-dir` says otherwise: the platform data directory
/// (`$XDG_DATA_HOME/dice-mcp/dev-keys` on Linux).
pub fn default_keys_dir() -> Option<PathBuf> {
    dirs::data_dir().map(|dir| dir.join("dice-mcp").join("dev-keys"))
}

/// The OAuth client store in the keys directory `dir` (dev, `serve --oauth` and
/// `dice-mcp oauth` share it); `remedy` is appended to the advice when it cannot be read.
pub(crate) fn open_oauth_store(dir: &Path, remedy: &str) -> anyhow::Result<Store> {
    let path = dir.join(OAUTH_STORE_FILE);
    Store::open(&path).with_context(|| {
        format!(
            "could not open the OAuth client store {}; move it away to start over{remedy}",
            path.display()
        )
    })
}

/// Loads the dev key pair from `dir`, creating it (private key 0600) the first time.
pub fn load_or_create_keys(dir: &Path) -> anyhow::Result<RsaKeyPair> {
    let private = dir.join(bearer_auth::PRIVATE_KEY_FILE);
    if private.exists() {
        return RsaKeyPair::load(&private).with_context(|| {
            format!(
                "could not load the dev key {}; delete {} to start over, or pass --keys-dir",
                private.display(),
                dir.display()
            )
        });
    }
    let pair =
        RsaKeyPair::generate(bearer_auth::DEFAULT_BITS).context("could not generate a dev key")?;
    pair.save(dir, false)
        .with_context(|| format!("could not save the dev key in {}", dir.display()))?;
    tracing::info!(dir = %dir.display(), kid = pair.public().kid(), "created a dev key pair");
    Ok(pair)
}

/// Starts the dev server on `args.listen.addr` and publishes it through `publisher`.
pub async fn start(args: &DevArgs, publisher: &dyn Publisher) -> anyhow::Result<DevServer> {
    if !args.listen.addr.ip().is_loopback() {
        bail!(
            "dev listens on loopback only ({} is not); the tunnel is what makes it public",
            args.listen.addr
        );
    }
    let keys_dir = match &args.keys_dir {
        Some(dir) => dir.clone(),
        None => {
            default_keys_dir().context("no data directory on this system; pass --keys-dir DIR")?
        }
    };
    let pair = load_or_create_keys(&keys_dir)?;
    let dice = args.dice.config()?;

    let listener = crate::serve::bind(args.listen.addr).await?;
    let local: SocketAddr = listener.local_addr().context("no local address")?;
    let published = publisher
        .publish(local)
        .await
        .with_context(|| format!("could not publish through {}", publisher.name()))?;

    // Everything below depends on the published URL: the Host to allow, the audience, the
    // resource. So the token is minted only now that the tunnel is up.
    let mcp_url = format!("{}{}", published.base_url, mcp_core::MCP_PATH);
    let sse_url = format!("{}{}", published.base_url, mcp_core::SSE_PATH);
    let transport = if args.stateful {
        SessionMode::Stateful
    } else {
        SessionMode::Stateless
    };
    let mut builder = crate::serve::with_limits(
        HttpConfig::builder().session_mode(transport),
        &crate::cli::LimitArgs::default(),
    );
    if let Some(host) = &published.host {
        builder = builder.allowed_host(host.clone());
    }
    let config = builder.build().context("invalid server settings")?;

    let mut metadata = ResourceMetadata::new(mcp_url.clone())
        .context("the published URL is not usable")?
        .with_name("dice-mcp (dev)");
    let mut issuers = vec![DEV_ISSUER.to_owned()];
    // The authorization server: its issuer is the public base URL, and it signs with the
    // dev key, so the one verifier accepts its tokens and the static dev token alike.
    let oauth = if args.no_oauth {
        None
    } else {
        let config = OAuthConfig::new(published.base_url.clone(), mcp_url.clone())
            .context("the published URL cannot be an OAuth issuer")?
            .with_scopes([OAUTH_SCOPE])
            .with_server_name("dice-mcp");
        let store = open_oauth_store(&keys_dir, ", or pass --no-oauth")?;
        issuers.push(config.issuer().to_owned());
        metadata = metadata
            .with_authorization_servers([config.issuer().to_owned()])
            .with_scopes([OAUTH_SCOPE.to_owned()]);
        Some(AuthorizationServer::new(config, pair.clone(), store))
    };
    let verifier = Verifier::new(
        KeySource::public_key(pair.public().clone()),
        VerifierConfig {
            issuers,
            audiences: vec![mcp_url.clone()],
            ..VerifierConfig::default()
        },
    )
    .context("invalid token settings")?;
    let protection = crate::serve::protection(verifier, metadata);
    let server = crate::serve::dice_server(config, dice, None)?;
    let app = crate::serve::build_app(
        &server,
        Some(&protection),
        oauth.as_ref().map(AuthorizationServer::router),
        args.listen.access_log,
    );

    let request = TokenRequest::new("dev", DEV_ISSUER, args.ttl)
        .with_audience(Audience::One(mcp_url.clone()));
    let token =
        mint_token(&pair, &request).context("could not mint the dev token (check --ttl)")?;
    let expires_at = SystemTime::now() + args.ttl;

    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        server
            .serve(listener, app, async move {
                let _ = stopped.await;
            })
            .await
    });
    Ok(DevServer {
        mcp_url,
        sse_url,
        token,
        expires_at,
        public: published.public,
        stateful: args.stateful,
        pairing_codes: oauth.as_ref().map(AuthorizationServer::pairing_codes),
        published,
        stop,
        task,
    })
}

/// The publisher the flags and environment choose.
#[cfg(feature = "tunnel")]
fn publisher(args: &DevArgs) -> anyhow::Result<Arc<dyn Publisher>> {
    Ok(match (&args.ngrok_authtoken, args.local) {
        (Some(token), false) if !token.trim().is_empty() => Arc::new(
            crate::publish::Ngrok::new(token.trim().to_owned(), args.domain.clone())
                .with_server_addr(args.ngrok_server_addr.clone())
                .with_timeout(args.ngrok_timeout),
        ),
        _ => Arc::new(LocalOnly),
    })
}

/// Without the `tunnel` feature there is nothing to publish with: local only, and a request
/// to publish (an authtoken or a domain, without `--local`) is refused rather than ignored.
#[cfg(not(feature = "tunnel"))]
fn publisher(args: &DevArgs) -> anyhow::Result<Arc<dyn Publisher>> {
    let asks_to_publish = args
        .ngrok_authtoken
        .as_deref()
        .is_some_and(|token| !token.trim().is_empty())
        || args.domain.is_some();
    anyhow::ensure!(
        args.local || !asks_to_publish,
        "this dice-mcp was built without the `tunnel` feature, so `dev` serves on this \
         machine only and cannot publish through ngrok; unset NGROK_AUTHTOKEN and \
         DICE_MCP_NGROK_DOMAIN (or drop --ngrok-authtoken/--domain, or pass --local), or \
         build it with default features"
    );
    Ok(Arc::new(LocalOnly))
}

/// `dice-mcp dev`: start, print, wait for Ctrl-C, close the tunnel, drain.
pub fn run(args: DevArgs) -> anyhow::Result<()> {
    crate::runtime()?.block_on(async {
        let publisher = publisher(&args)?;
        if args.domain.is_some() && publisher.name() == "local" {
            tracing::warn!("--domain is ignored without an ngrok authtoken");
        }
        let mut server = start(&args, publisher.as_ref()).await?;
        print!("{}", banner(&server, &args.model));
        if let Some(mut codes) = server.pairing_codes.take() {
            codes.borrow_and_update();
            tokio::spawn(async move {
                // A code used or voided is replaced; the owner sees the new one here only.
                while codes.changed().await.is_ok() {
                    let code = codes.borrow_and_update().clone();
                    println!(
                        "\nThe pairing code was used or voided. The next one:\nPairing code: {code}"
                    );
                }
            });
        }
        mcp_core::shutdown_signal().await;
        tracing::info!("closing the tunnel and draining");
        server.shutdown().await
    })
}

/// Prints each pairing code as it is made, on stdout (the owner's terminal, never the log):
/// the current one first when `first` is set (dev's banner already shows it).
pub(crate) fn print_pairing_codes(mut codes: watch::Receiver<PairingCode>, first: bool) {
    let current = codes.borrow_and_update().clone();
    if first {
        println!("Pairing code: {current}");
    }
    tokio::spawn(async move {
        // A code used or voided is replaced; the owner sees the new one here only.
        while codes.changed().await.is_ok() {
            let code = codes.borrow_and_update().clone();
            println!("\nThe pairing code was used or voided. The next one:\nPairing code: {code}");
        }
    });
}

/// What `dev` prints: URLs, token, warning, an OpenAI snippet and a curl.
pub fn banner(server: &DevServer, model: &str) -> String {
    let DevServer {
        mcp_url,
        sse_url,
        token,
        ..
    } = server;
    let expires = humantime::format_rfc3339_seconds(server.expires_at);
    let lifetime = server
        .expires_at
        .duration_since(SystemTime::now())
        .map(|d| {
            humantime::format_duration(Duration::from_secs(d.as_secs().div_ceil(60) * 60))
                .to_string()
        })
        .unwrap_or_else(|_| "expired".into());
    let mode = if server.stateful {
        "stateful"
    } else {
        "stateless"
    };
    let reach = if server.public {
        "public: reachable from the internet, tokens required"
    } else {
        "local: only this machine can reach it, tokens required"
    };
    let publish_hint = if server.public {
        String::new()
    } else {
        "\n  To publish for OpenAI: export NGROK_AUTHTOKEN=<your ngrok token> and run this again.\n"
            .to_owned()
    };
    let call = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"roll_dice","arguments":{"n_dice":3}}}"#;
    let reach_note = if server.public {
        ""
    } else {
        "\n(Local URL: Cursor, VS Code and Claude Code on this machine can use it; Claude and\nChatGPT need the public one, with NGROK_AUTHTOKEN.)"
    };
    let connectors = match &server.pairing_codes {
        Some(codes) => format!(
            "
Claude, ChatGPT, Cursor, VS Code (OAuth): add {mcp_url} as a custom connector
(remote MCP server). Your browser then asks for this code; type it to approve:{reach_note}

Pairing code: {}
",
            *codes.borrow()
        ),
        None => String::new(),
    };
    format!(
        "
dice-mcp dev ({mode}, {reach})

  MCP URL:  {mcp_url}
  SSE URL:  {sse_url}   (legacy clients)
  Token:    {token}
  Expires:  {expires} (in {lifetime})

  ! The token grants access to anyone who holds it. Do not share or commit it.
{publish_hint}
OpenAI Responses API (pip install openai; export OPENAI_API_KEY=...):

from openai import OpenAI

client = OpenAI()
resp = client.responses.create(
    model=\"{model}\",
    tools=[
        {{
            \"type\": \"mcp\",
            \"server_label\": \"dice\",
            \"server_url\": \"{mcp_url}\",
            \"require_approval\": \"never\",
            \"headers\": {{\"Authorization\": \"Bearer {token}\"}},
        }}
    ],
    input=\"Roll a few dice!\",
)
print(resp.output_text)

curl:

curl -s {mcp_url} \\
  -H 'Authorization: Bearer {token}' \\
  -H 'content-type: application/json' \\
  -H 'accept: application/json, text/event-stream' \\
  -d '{call}'

Check before you spend an API call:  dice-mcp check --url {mcp_url} --token <token>
{connectors}
Ctrl-C stops the server{tunnel}.
",
        tunnel = if server.public {
            " and closes the tunnel"
        } else {
            ""
        },
    )
}
