//! `dice-mcp serve`: wires the dice tools into mcp-core's router and runs it.

use std::{sync::Arc, time::Duration};

use axum::http::header;
use tower_http::{sensitive_headers::SetSensitiveRequestHeadersLayer, trace::TraceLayer};

use anyhow::{Context, bail};
use bearer_auth::{
    BearerAuth, KeySet, KeySource, PublicKey, RemoteJwks, ResourceMetadata, VerifiedClaims,
    Verifier, VerifierConfig,
};
use dice_tools::{DiceConfig, DiceTools};
use mcp_core::{
    ConnectionLimits, HttpConfig, HttpConfigBuilder, McpServer, Principal, RequestLimits,
    SessionLimits, SessionMode, SessionStore, Transports,
};
use oauth_server::{AuthorizationServer, OAuthConfig};

use crate::cli::{AuthArgs, LimitArgs, ServeArgs};

/// Runs the server until SIGINT/SIGTERM.
pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    crate::runtime()?.block_on(serve(args))
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let dice = args.dice.config()?;
    let mode = if args.stateless {
        SessionMode::Stateless
    } else {
        SessionMode::Stateful
    };
    let transports = Transports::from(args.transport);
    let config = HttpConfig::builder()
        .session_mode(mode)
        .transports(transports)
        .sse_session_redirect(args.sse_session_redirect)
        .session_limits(SessionLimits {
            max_sessions: args.max_sessions,
            max_per_principal: args.max_sessions_per_principal,
            idle_timeout: args.session_idle,
            rest_after: (!args.session_rest.is_zero()).then_some(args.session_rest),
        })
        .allowed_hosts(args.allowed_hosts.iter().cloned())
        .max_body_bytes(args.max_body_bytes);
    let config = with_limits(config, &args.limits)
        .build()
        .context("check --allowed-host, --max-sessions, --max-body-bytes and the limits")?;

    let session_store = session_store(args.session_store.as_deref(), mode).await?;
    let has_key = args.auth.public_key.is_some() || args.auth.jwks.is_some() || args.auth.oauth;
    if !has_key && !args.listen.addr.ip().is_loopback() && !args.auth.insecure_no_auth {
        bail!(
            "refusing to listen on {}, which other machines can reach, without \
             authentication. Require tokens with --public-key PEM or --jwks PATH_OR_URL \
             (create keys with `dice-mcp keygen`), listen on 127.0.0.1 and publish through \
             a tunnel, or pass --insecure-no-auth if you really mean it",
            args.listen.addr
        );
    }
    let listener = bind(args.listen.addr).await?;
    let local = listener
        .local_addr()
        .context("could not read the address the server is listening on")?;
    let auth = auth_from_args(&args.auth, local).await?;
    if auth.is_none() && !local.ip().is_loopback() {
        tracing::warn!(
            "listening on {local} without authentication (--insecure-no-auth): anyone who \
             can reach it can call the tools"
        );
    }

    let metrics = if args.metrics || args.metrics_addr.is_some() {
        Some(crate::metrics::install()?)
    } else {
        None
    };
    let server = dice_server(config, dice, session_store)?;
    let mut app = build_app(
        &server,
        auth.as_ref().map(|protection| &protection.auth),
        auth.as_ref()
            .and_then(|protection| protection.oauth.as_ref())
            .map(AuthorizationServer::router),
        args.listen.access_log,
    );
    let mut metrics_listener = None;
    if let Some(handle) = metrics {
        app = app.layer(axum::middleware::from_fn(crate::metrics::track));
        match args.metrics_addr {
            Some(addr) => {
                let listener = bind(addr).await?;
                let at = listener
                    .local_addr()
                    .context("could not read the metrics address")?;
                tracing::info!("metrics at http://{at}{}", crate::metrics::METRICS_PATH);
                metrics_listener = Some((
                    listener,
                    crate::metrics::routes(handle, server.clone(), false),
                ));
            }
            None => {
                app = app.merge(crate::metrics::routes(handle, server.clone(), true));
                tracing::info!(
                    "metrics at http://{local}{} (loopback Host only)",
                    crate::metrics::METRICS_PATH
                );
            }
        }
    }
    let mode = if args.stateless {
        "stateless"
    } else {
        "stateful"
    };
    // The first URL is the one to use; "listening on URL" is what scripts (and xtask) read.
    if transports.streamable_http() {
        tracing::info!(
            "dice-mcp listening on http://{local}{} ({mode})",
            mcp_core::MCP_PATH
        );
    }
    if transports.sse() {
        let lead = if transports.streamable_http() {
            "legacy SSE clients use"
        } else {
            "dice-mcp listening on"
        };
        tracing::info!("{lead} http://{local}{} (SSE)", mcp_core::SSE_PATH);
    }
    match &auth {
        Some(Protection {
            auth: (_, metadata),
            ..
        }) => tracing::info!(
            "bearer tokens required; metadata at {}",
            metadata.metadata_url()
        ),
        None => tracing::info!("no authentication: any local client can call the tools"),
    }
    if let Some(oauth) = auth
        .as_ref()
        .and_then(|protection| protection.oauth.as_ref())
    {
        tracing::info!(
            issuer = oauth.config().issuer(),
            "OAuth authorization server running; approve clients with the pairing code printed on stdout"
        );
        crate::dev::print_pairing_codes(oauth.pairing_codes(), true);
    }
    let main = server.serve(listener, app, mcp_core::shutdown_signal());
    match metrics_listener {
        // Both stop together: the first to finish shutting down cancels the other.
        Some((listener, routes)) => {
            let metrics = server.serve(listener, routes, mcp_core::shutdown_signal());
            let (main, metrics) = tokio::join!(main, metrics);
            main.and(metrics)
        }
        None => main.await,
    }
    .context("the server stopped with an error")?;
    tracing::info!("dice-mcp stopped");
    Ok(())
}

/// The connection, request and shutdown bounds of `limits` on `builder`; serve and dev
/// bound the server the same way.
pub(crate) fn with_limits(builder: HttpConfigBuilder, limits: &LimitArgs) -> HttpConfigBuilder {
    builder
        .connection_limits(ConnectionLimits {
            max_connections: connection_cap(limits.max_connections),
            header_read_timeout: limits.header_read_timeout,
            idle_timeout: limits.idle_timeout,
            max_header_bytes: limits.max_header_bytes,
            h2_max_concurrent_streams: limits.h2_max_streams,
            ..ConnectionLimits::default()
        })
        .request_limits(RequestLimits {
            timeout: limits.request_timeout,
            max_in_flight: limits.max_in_flight,
            rate: limits.rate_limit,
        })
        .shutdown_grace(limits.shutdown_grace)
}

/// File descriptors kept for everything but client connections (listener, logs, JWKS
/// fetches, the runtime) and for answering connections beyond the cap.
const FD_RESERVE: u64 = 64 + mcp_core::OVERFLOW_ANSWERS as u64;

/// The connection cap: the one asked for, or the default, but never more than the open-file
/// limit leaves room for. A cap above it would let connections exhaust the descriptors, and
/// then the server could accept nothing (not even a health check) instead of refusing fast.
fn connection_cap(requested: Option<usize>) -> usize {
    let wanted = requested.unwrap_or(mcp_core::DEFAULT_MAX_CONNECTIONS);
    let Some(fds) = raise_open_file_limit() else {
        return wanted;
    };
    let room = usize::try_from(fds.saturating_sub(FD_RESERVE).max(16)).unwrap_or(usize::MAX);
    if wanted > room {
        if requested.is_some() {
            tracing::warn!(
                "--max-connections {wanted} is more than the open-file limit ({fds}) allows; \
                 using {room} (raise it with `ulimit -n`)"
            );
        }
        return room;
    }
    wanted
}

/// The open-file limit, raised to its hard maximum first (as Go's runtime does): a server
/// should not be bounded by a shell's conservative soft default.
#[cfg(unix)]
fn raise_open_file_limit() -> Option<u64> {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    if let (Some(current), Some(maximum)) = (limit.current, limit.maximum)
        && current < maximum
    {
        let raised = Rlimit {
            current: Some(maximum),
            maximum: Some(maximum),
        };
        if setrlimit(Resource::Nofile, raised).is_ok() {
            return Some(maximum);
        }
    }
    getrlimit(Resource::Nofile).current
}

#[cfg(not(unix))]
fn raise_open_file_limit() -> Option<u64> {
    None
}

/// Binds the server's address, with advice when the port is taken.
pub(crate) async fn bind(addr: std::net::SocketAddr) -> anyhow::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr).await.with_context(|| {
        format!(
            "could not listen on {addr}: is another server using that port? \
             Pick another with --addr 127.0.0.1:PORT (port 0 picks a free one)"
        )
    })
}

/// The MCP server of the dice tools under `config`, its sessions shared through `store`
/// when there is one.
pub(crate) fn dice_server(
    config: HttpConfig,
    dice: DiceConfig,
    store: Option<Arc<dyn SessionStore>>,
) -> anyhow::Result<McpServer> {
    let tools = DiceTools::new(dice);
    let factory = move || tools.clone();
    Ok(match store {
        Some(store) => McpServer::with_session_store(config, factory, store)
            .context("could not share sessions through the --session-store")?,
        None => McpServer::new(config, factory),
    })
}

/// The store named by `--session-store`, if any: Redis at `url`, asked once whether it is
/// there (a server still starts without it; new sessions get 503 until it answers).
async fn session_store(
    url: Option<&str>,
    mode: SessionMode,
) -> anyhow::Result<Option<Arc<dyn SessionStore>>> {
    let Some(url) = url else {
        return Ok(None);
    };
    if mode == SessionMode::Stateless {
        bail!(
            "--session-store shares stateful sessions between servers, and --stateless has \
             none: drop --session-store, or --stateless"
        );
    }
    let at = redis_location(url);
    let store = session_redis::RedisSessionStore::open(url).with_context(|| {
        format!(
            "--session-store {at}: expected redis://HOST:PORT[/DB], e.g. redis://127.0.0.1:6379/0"
        )
    })?;
    match store.ping().await {
        Ok(()) => tracing::info!("sessions shared through Redis at {at}"),
        Err(error) => tracing::warn!(
            error = %anyhow::Error::from(error),
            "Redis at {at} does not answer yet; new sessions get 503 until it does"
        ),
    }
    Ok(Some(Arc::new(store)))
}

/// Where a Redis URL points, without its password, for messages and logs.
fn redis_location(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) => {
            if parsed.password().is_some() {
                let _ = parsed.set_password(Some("***"));
            }
            parsed.to_string()
        }
        Err(_) => "(not a URL)".to_owned(),
    }
}

/// The whole router: MCP routes (behind the auth layer when there is one), the metadata, and
/// `/healthz`; with `access_log`, one log line per request.
pub(crate) fn build_app(
    server: &McpServer,
    auth: Option<&(BearerAuth, ResourceMetadata)>,
    public: Option<axum::Router>,
    access_log: bool,
) -> axum::Router {
    let mcp = server.mcp_routes();
    let app = match auth {
        // One tower stack, layered once: the auth check, then the principal it verified.
        Some((auth, metadata)) => mcp
            .layer(
                tower::ServiceBuilder::new()
                    .layer(auth.layer())
                    .map_request(principal_from_claims),
            )
            .merge(metadata.router())
            .merge(mcp_core::health_routes()),
        None => mcp.merge(mcp_core::health_routes()),
    };
    let app = match public {
        Some(routes) => app.merge(routes),
        None => app,
    };
    if !access_log {
        return app;
    }
    // bearer-auth marks Authorization sensitive on the MCP routes already; the access log
    // sees every route, with or without auth, so the outermost layer marks it first.
    app.layer(
        TraceLayer::new_for_http()
            // The path only: a query can carry a session id (`/messages/?session_id=`),
            // which is as good as a credential to whoever reads the log.
            .make_span_with(|request: &axum::extract::Request| {
                tracing::info_span!(
                    "request",
                    method = %request.method(),
                    path = %request.uri().path(),
                )
            })
            .on_request(())
            .on_response(
                |response: &axum::response::Response, latency: Duration, _: &tracing::Span| {
                    tracing::info!(
                        target: "dice_mcp::access",
                        status = response.status().as_u16(),
                        latency_us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX),
                        "answered"
                    );
                },
            )
            .on_body_chunk(())
            .on_eos(())
            .on_failure(()),
    )
    .layer(SetSensitiveRequestHeadersLayer::new([
        header::AUTHORIZATION,
    ]))
}

/// Names the request's [`Principal`] after the verified token (its issuer and subject), so
/// mcp-core keeps each session to the token holder that opened it and counts quotas and
/// rates per holder. Runs after the auth layer, which only lets verified requests through.
fn principal_from_claims(mut request: axum::extract::Request) -> axum::extract::Request {
    if let Some(claims) = request.extensions().get::<VerifiedClaims>() {
        let principal = principal_of(claims);
        request.extensions_mut().insert(principal);
    }
    request
}

/// Issuer and subject, as one principal; a token without `sub` stands for its issuer alone.
fn principal_of(claims: &VerifiedClaims) -> Principal {
    let issuer = claims.issuer.as_deref().unwrap_or_default();
    let subject = claims.subject.as_deref().unwrap_or_default();
    // A JSON array keeps ("a b", "c") apart from ("a", "b c"); two strings always
    // serialize.
    Principal::new(serde_json::to_string(&[issuer, subject]).unwrap_or_default())
}

/// What protects the server: the bearer-auth layer and the RFC 9728 metadata, and the
/// authorization server when `--oauth` runs one.
pub(crate) struct Protection {
    pub(crate) auth: (BearerAuth, ResourceMetadata),
    pub(crate) oauth: Option<AuthorizationServer>,
}

/// The protection the flags ask for; `None` without a key source (and without `--oauth`).
async fn auth_from_args(
    args: &AuthArgs,
    local: std::net::SocketAddr,
) -> anyhow::Result<Option<Protection>> {
    let resource = args
        .resource_url
        .clone()
        .unwrap_or_else(|| format!("http://{local}{}", mcp_core::MCP_PATH));
    // The authorization server's key: its public half is trusted beside the others.
    let oauth = if args.oauth {
        Some(oauth_from_args(args, &resource, local)?)
    } else {
        None
    };
    let oauth_key = oauth.as_ref().map(|(_, key)| key.public().clone());
    let keys = match (&args.public_key, &args.jwks, oauth_key) {
        (Some(path), _, extra) => {
            let key = PublicKey::load(path).with_context(|| {
                format!(
                    "could not load --public-key {}; it must be an RSA public key PEM such as \
                     the public.pem `dice-mcp keygen` writes",
                    path.display()
                )
            })?;
            let set = KeySet::single(key);
            KeySource::Static(extra.map_or(set.clone(), |extra| set.with_key(extra)))
        }
        (None, Some(jwks), extra)
            if jwks.starts_with("http://") || jwks.starts_with("https://") =>
        {
            if extra.is_some() {
                bail!(
                    "--oauth cannot be combined with a --jwks URL: its tokens are signed with \
                     the key in --keys-dir, which the remote JWKS does not hold. Publish that \
                     key in your JWKS and drop --oauth, or use --public-key or a JWKS file"
                );
            }
            let remote = RemoteJwks::new(jwks.as_str()).context("invalid --jwks URL")?;
            if let Err(error) = remote.refresh().await {
                tracing::warn!(%error, "could not fetch the JWKS yet; will retry on the first token");
            }
            KeySource::Remote(remote)
        }
        (None, Some(path), extra) => {
            let set = KeySet::load_jwks(std::path::Path::new(path))
                .with_context(|| format!("could not load --jwks {path}"))?;
            KeySource::Static(extra.map_or(set.clone(), |extra| set.with_key(extra)))
        }
        (None, None, Some(extra)) => KeySource::Static(KeySet::single(extra)),
        (None, None, None) => {
            if !args.issuers.is_empty()
                || !args.audiences.is_empty()
                || !args.required_scopes.is_empty()
            {
                bail!(
                    "--issuer, --audience and --required-scope need a key to check tokens with: \
                     add --public-key PEM or --jwks PATH_OR_URL"
                );
            }
            return Ok(None);
        }
    };
    let mut issuers = args.issuers.clone();
    let mut audiences = args.audiences.clone();
    let mut authorization_servers = args.authorization_servers.clone();
    if let Some((server, _)) = &oauth {
        let issuer = server.config().issuer().to_owned();
        authorization_servers.push(issuer.clone());
        // An empty list accepts any issuer (and audience); a list gets the server's own.
        if !issuers.is_empty() {
            issuers.push(issuer);
        }
        if !audiences.is_empty() {
            audiences.push(resource.clone());
        }
    }
    if issuers.is_empty() {
        tracing::warn!("no --issuer: tokens from any issuer signed by the key are accepted");
    }
    let mut metadata = ResourceMetadata::new(resource.clone())
        .context("invalid --resource-url")?
        .with_scopes(args.required_scopes.iter().cloned())
        .with_authorization_servers(authorization_servers)
        .with_name("dice-mcp");
    if oauth.is_some() && args.required_scopes.is_empty() {
        metadata = metadata.with_scopes([crate::dev::OAUTH_SCOPE.to_owned()]);
    }
    let config = VerifierConfig {
        issuers,
        audiences,
        required_scopes: args.required_scopes.clone(),
        ..VerifierConfig::default()
    };
    let verifier = Verifier::new(keys, config).context("invalid token settings")?;
    Ok(Some(Protection {
        auth: protection(verifier, metadata),
        oauth: oauth.map(|(server, _)| server),
    }))
}

/// The authorization server of `--oauth`, and the key it signs with.
fn oauth_from_args(
    args: &AuthArgs,
    resource: &str,
    local: std::net::SocketAddr,
) -> anyhow::Result<(AuthorizationServer, bearer_auth::RsaKeyPair)> {
    let dir = match &args.keys_dir {
        Some(dir) => dir.clone(),
        None => crate::dev::default_keys_dir()
            .context("no data directory on this system; pass --keys-dir DIR")?,
    };
    let key = crate::dev::load_or_create_keys(&dir)?;
    let issuer = match &args.oauth_issuer {
        Some(issuer) => issuer.clone(),
        None => match url::Url::parse(resource) {
            Ok(url) if args.resource_url.is_some() => url.origin().ascii_serialization(),
            _ => format!("http://{local}"),
        },
    };
    let mut scopes = args.required_scopes.clone();
    if scopes.is_empty() {
        scopes.push(crate::dev::OAUTH_SCOPE.to_owned());
    }
    let config = OAuthConfig::new(issuer, resource)
        .context("invalid --oauth-issuer (an http(s) base URL such as https://dice.example.com)")?
        .with_scopes(scopes)
        .with_server_name("dice-mcp");
    let store = crate::dev::open_oauth_store(&dir, "")?;
    Ok((AuthorizationServer::new(config, key.clone(), store), key))
}

/// The auth layer for `verifier`, its challenges pointing at `metadata`: serve and dev
/// protect the same way.
pub(crate) fn protection(
    verifier: Verifier,
    metadata: ResourceMetadata,
) -> (BearerAuth, ResourceMetadata) {
    let auth =
        BearerAuth::new(verifier, "dice-mcp").with_resource_metadata(metadata.metadata_url());
    (auth, metadata)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_session_store_is_refused_with_stateless_saying_why() {
        let Err(error) =
            session_store(Some("redis://127.0.0.1:6379/0"), SessionMode::Stateless).await
        else {
            panic!("a session store was accepted in stateless mode");
        };
        let message = format!("{error:#}");
        assert!(
            message.contains("--session-store") && message.contains("--stateless"),
            "{message}"
        );
    }

    #[tokio::test]
    async fn a_session_store_that_is_not_redis_is_refused() {
        let Err(error) = session_store(Some("http://cache:6379"), SessionMode::Stateful).await
        else {
            panic!("an http URL was accepted as a session store");
        };
        assert!(
            format!("{error:#}").contains("redis://HOST:PORT"),
            "{error:#}"
        );
    }

    #[test]
    fn a_redis_password_never_reaches_the_log() {
        let shown = redis_location("redis://user:hunter2@cache.internal:6379/2");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("cache.internal:6379/2"), "{shown}");
    }
}
