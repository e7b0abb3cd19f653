//! The command line: `dice-mcp serve`, its flags and their environment variables.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use clap::{Args, Parser, Subcommand, ValueEnum, builder::TypedValueParser};

/// Put MCP dice tools on the internet, safely, for OpenAI's Responses API and every other
/// remote MCP client (Claude, Cursor, VS Code, MCP Inspector).
#[derive(Debug, Parser)]
#[command(name = "dice-mcp", version, about, long_about = None)]
#[command(after_help = "Start here:\n  dice-mcp dev\n  \
    serves with a token, prints the URL, the token and an OpenAI snippet;\n  \
    with NGROK_AUTHTOKEN set it publishes an HTTPS URL OpenAI can reach.\n\n\
    With tokens (what a public server needs):\n  \
    dice-mcp keygen --out keys\n  \
    dice-mcp serve --stateless --public-key keys/public.pem --issuer dice-mcp\n  \
    curl -H \"Authorization: Bearer $(dice-mcp token --key keys/private.pem)\" ...\n\n\
    Every flag can also be set from its environment variable (shown in each command's --help).\n\
    Logs go to stderr; set RUST_LOG (e.g. RUST_LOG=debug) for more.")]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve roll_dice and roll over MCP: Streamable HTTP at /mcp, legacy SSE at /sse.
    #[command(after_help = "Examples:\n  \
        dice-mcp serve                       # stateful, on 127.0.0.1:8000\n  \
        dice-mcp serve --stateless           # what OpenAI's Responses API needs\n  \
        dice-mcp serve --allowed-host abc.ngrok.app   # behind a tunnel or proxy\n  \
        dice-mcp serve --transport sse       # only the legacy /sse endpoint\n\n\
        Try it:\n  \
        curl -s http://127.0.0.1:8000/healthz")]
    Serve(Box<ServeArgs>),
    /// Generate an RSA key pair for signing tokens: DIR/private.pem (mode 0600),
    /// DIR/public.pem and DIR/jwks.json.
    #[command(after_help = "Example:\n  dice-mcp keygen --out keys\n\n\
        Keep private.pem secret: whoever has it can mint tokens for your server.\n\
        Give serve the public half: --public-key keys/public.pem (or --jwks keys/jwks.json).")]
    Keygen(KeygenArgs),
    /// Mint a signed token (RS256). Prints only the token, so $(dice-mcp token ...) works.
    #[command(after_help = "Examples:\n  \
        dice-mcp token --key keys/private.pem\n  \
        dice-mcp token --key keys/private.pem --aud https://abc.ngrok.app/mcp --scope dice:roll --ttl 15m\n\n\
        Anyone holding the token can call the server until it expires: keep TTLs short.")]
    Token(TokenArgs),
    /// Serve with tokens, publish through ngrok (when NGROK_AUTHTOKEN is set), and print the
    /// URL, a dev token and a ready-to-paste OpenAI snippet.
    #[cfg_attr(
        not(feature = "tunnel"),
        command(
            about = "Serve with tokens on this machine only (this build has no tunnel), and \
                     print the URL, a dev token and a ready-to-paste OpenAI snippet.",
            long_about = None,
            after_help = "Examples:\n  \
            dice-mcp dev                              # local only: http://127.0.0.1:8000/mcp\n\n\
            Built without the `tunnel` feature: dev cannot publish through ngrok, and refuses\n\
            NGROK_AUTHTOKEN and --domain. The dev key pair is created once in the platform\n\
            data directory (--keys-dir to change); each run mints a fresh token."
        )
    )]
    #[cfg_attr(
        feature = "tunnel",
        command(after_help = "Examples:\n  \
        dice-mcp dev                              # local only: http://127.0.0.1:8000/mcp\n  \
        NGROK_AUTHTOKEN=... dice-mcp dev          # public HTTPS URL through ngrok\n  \
        dice-mcp dev --domain dice.ngrok.app      # on your reserved ngrok domain\n\n\
        The dev key pair is created once in the platform data directory (--keys-dir to\n\
        change); each run mints a fresh token for the URL it prints.")
    )]
    Dev(DevArgs),
    /// Preflight a server the way OpenAI's client talks to it: metadata, auth challenge,
    /// initialize, tools/list (schemas within OpenAI's subset), a call, DELETE then call.
    #[command(after_help = "Examples:\n  \
        dice-mcp check --url http://127.0.0.1:8000/mcp --token \"$TOKEN\"\n  \
        dice-mcp check --url https://abc.ngrok.app/sse --token \"$TOKEN\" --json\n\n\
        Exit code 0 when nothing failed (warnings allowed).")]
    #[command(mut_arg("timeout", |arg| arg.help(
        "How long each request may take: 10s, 2m (a plain number is seconds) [default: 10s]")))]
    Check(CheckArgs),
    /// Ask OpenAI's Responses API a question with this MCP server as a tool (the guide's
    /// Python snippet, in Rust): prints each MCP call and the model's answer.
    #[command(after_help = "Example:\n  \
        OPENAI_API_KEY=sk-... dice-mcp ask --url https://abc.ngrok.app/mcp --token \"$TOKEN\" \"Roll 3 dice\"\n\n\
        The URL must be reachable from the internet: use the one `dice-mcp dev` prints\n\
        with NGROK_AUTHTOKEN set. When OpenAI cannot list the tools, run `dice-mcp check`.")]
    #[command(mut_arg("timeout", |arg| arg.help(
        "How long to wait for OpenAI's answer: 90s, 5m (a plain number is seconds) [default: 2m]")))]
    #[command(mut_arg("url", |arg| arg.help(
        "The public MCP URL OpenAI should call (the one `dice-mcp dev` prints)")))]
    // Without the `tunnel` feature there is no OpenAI client: hidden, and it says so.
    #[cfg_attr(not(feature = "tunnel"), command(hide = true))]
    Ask(AskArgs),
    /// The OAuth clients `dev` has registered (Claude, ChatGPT, Cursor, VS Code, SDKs): list
    /// them, or revoke one.
    #[command(after_help = "Examples:\n  \
        dice-mcp oauth clients\n  \
        dice-mcp oauth revoke 4Qk2...\n\n\
        Revoking removes the client and its refresh tokens at once; an access token it\n\
        already holds keeps working until it expires (at most an hour).")]
    Oauth(OauthArgs),
    /// Ask a running server whether it is up: GET its /healthz, exit 0 on 200 OK and 1
    /// otherwise, saying what was wrong. For health checks where there is no curl (the
    /// distroless image in deploy/Dockerfile runs it as its HEALTHCHECK).
    #[command(after_help = "Examples:\n  \
        dice-mcp health                                   # http://127.0.0.1:8000/healthz\n  \
        dice-mcp health --url http://127.0.0.1:9000/healthz --timeout 1s\n\n\
        In a Dockerfile:\n  \
        HEALTHCHECK CMD [\"/usr/local/bin/dice-mcp\", \"health\"]\n\n\
        The default URL matches serve's default port; when serve listens elsewhere\n\
        (DICE_MCP_ADDR), set DICE_MCP_HEALTH_URL to the same port. Redirects are not\n\
        followed and proxy variables are ignored: the answer is the server's own.")]
    Health(HealthArgs),
}

/// Flags of `dice-mcp oauth`.
#[derive(Debug, Clone, Args)]
pub struct OauthArgs {
    /// What to do.
    #[command(subcommand)]
    pub action: OauthAction,

    /// The directory of the dev keys, where the client store (oauth.json) is kept (default:
    /// the platform data directory, as for `dev`).
    #[arg(long, value_name = "DIR", env = "DICE_MCP_KEYS_DIR", global = true)]
    pub keys_dir: Option<PathBuf>,
}

/// What `dice-mcp oauth` does.
#[derive(Debug, Clone, Subcommand)]
pub enum OauthAction {
    /// List registered clients with when they last got a token.
    Clients,
    /// Revoke a client: remove it and its refresh tokens.
    Revoke {
        /// The client_id, as `oauth clients` lists it.
        #[arg(allow_hyphen_values = true)]
        client_id: String,
    },
}

/// Flags of `dice-mcp ask`.
#[derive(Debug, Clone, Args)]
pub struct AskArgs {
    /// The MCP server OpenAI should call (its URL must be public), and how long to wait
    /// for OpenAI (default 2m).
    #[command(flatten)]
    pub target: TargetArgs,

    /// The model to ask.
    #[arg(long, default_value = "gpt-4.1")]
    pub model: String,

    /// The Responses API base URL.
    #[arg(
        long,
        env = "OPENAI_BASE_URL",
        default_value = "https://api.openai.com/v1"
    )]
    pub openai_base_url: String,

    /// The OpenAI API key.
    #[arg(long, env = "OPENAI_API_KEY", hide_env_values = true, hide = true)]
    pub api_key: Option<String>,

    /// The tool's server_label.
    #[arg(long, default_value = "dice")]
    pub server_label: String,

    /// What to ask.
    #[arg(default_value = "Roll a few dice!")]
    pub prompt: String,
}

/// Flags of `dice-mcp check`.
#[derive(Debug, Clone, Args)]
pub struct CheckArgs {
    /// The MCP server to check, and how long each request may take (default 10s).
    #[command(flatten)]
    pub target: TargetArgs,

    /// Print a JSON report instead of lines.
    #[arg(long)]
    pub json: bool,
}

/// Which MCP server a client command talks to, as you would give it to OpenAI.
#[derive(Debug, Clone, Args)]
pub struct TargetArgs {
    /// The MCP URL, as you would give it to OpenAI (…/mcp, or …/sse for the legacy
    /// transport).
    #[arg(long)]
    pub url: String,

    /// The bearer token to send, as in the OpenAI tool's headers.Authorization.
    #[arg(long, env = "DICE_MCP_TOKEN", hide_env_values = true)]
    pub token: Option<String>,

    /// How long to wait: 10s, 2m (a plain number is seconds).
    #[arg(long, value_parser = parse_duration, alias = "timeout-secs")]
    pub timeout: Option<Duration>,
}

impl TargetArgs {
    /// The `--timeout` given, or `default`.
    pub fn timeout_or(&self, default: Duration) -> Duration {
        self.timeout.unwrap_or(default)
    }
}

/// Where the server listens, and whether it logs each request.
#[derive(Debug, Clone, Args)]
pub struct ListenArgs {
    /// Address to listen on. Keep it on loopback and publish through a tunnel (`dev` does);
    /// port 0 picks a free port (the log line says which).
    #[arg(long, env = "DICE_MCP_ADDR", default_value = "127.0.0.1:8000")]
    pub addr: SocketAddr,

    /// Log one line per request (method, path without the query, status, latency) at
    /// info level. Tokens and session ids are never in it.
    #[arg(long, env = "DICE_MCP_ACCESS_LOG")]
    pub access_log: bool,
}

/// Bounds on what the dice tools do for one call.
#[derive(Debug, Clone, Args)]
pub struct DiceArgs {
    /// Most dice one roll_dice call may roll.
    #[arg(long, env = "DICE_MCP_MAX_DICE", default_value_t = dice_tools::DEFAULT_MAX_DICE,
          value_parser = clap::value_parser!(u32).range(1..=i64::from(dice_tools::MAX_DICE_LIMIT)))]
    pub max_dice: u32,
}

impl DiceArgs {
    /// The dice tools' settings these flags ask for.
    pub fn config(&self) -> anyhow::Result<dice_tools::DiceConfig> {
        use anyhow::Context as _;
        dice_tools::DiceConfig::default()
            .with_max_dice(self.max_dice)
            .context("invalid --max-dice")
    }
}

/// Flags of `dice-mcp dev`.
#[derive(Debug, Clone, Args)]
pub struct DevArgs {
    /// The loopback address the tunnel forwards to, and the access log.
    #[command(flatten)]
    pub listen: ListenArgs,

    /// Keep sessions (the default is stateless, which OpenAI's client needs).
    #[arg(long)]
    pub stateful: bool,

    /// Where the dev key pair lives (default: the platform data directory, e.g.
    /// $XDG_DATA_HOME/dice-mcp/dev-keys).
    #[arg(long, value_name = "DIR", env = "DICE_MCP_KEYS_DIR")]
    pub keys_dir: Option<PathBuf>,

    /// Lifetime of the printed token: 90s, 15m, 12h, 7d.
    #[arg(long, default_value = "12h", value_parser = parse_duration)]
    pub ttl: Duration,

    /// Your ngrok authtoken; without one, dev serves locally only.
    #[arg(
        long,
        env = "NGROK_AUTHTOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub ngrok_authtoken: Option<String>,

    /// A reserved ngrok domain to publish on (e.g. dice.ngrok.app).
    #[arg(long, env = "DICE_MCP_NGROK_DOMAIN")]
    pub domain: Option<String>,

    /// Do not publish, even when NGROK_AUTHTOKEN is set.
    #[arg(long)]
    pub local: bool,

    /// Do not run the OAuth authorization server (clients such as Claude and ChatGPT
    /// connectors then cannot connect; the printed static token still works).
    #[arg(long, env = "DICE_MCP_NO_OAUTH")]
    pub no_oauth: bool,

    /// Model named in the printed OpenAI snippet.
    #[arg(long, default_value = "gpt-4.1")]
    pub model: String,

    /// Dice limits.
    #[command(flatten)]
    pub dice: DiceArgs,

    /// ngrok server address (host:port), for tests and private ngrok deployments.
    #[arg(long, env = "DICE_MCP_NGROK_SERVER_ADDR", hide = true)]
    pub ngrok_server_addr: Option<String>,

    /// How long to wait for ngrok before giving up: 15s, 1m (a plain number is seconds).
    #[arg(
        long,
        env = "DICE_MCP_NGROK_TIMEOUT",
        default_value = "15s",
        value_parser = parse_duration,
        alias = "ngrok-timeout-secs",
        hide = true
    )]
    pub ngrok_timeout: Duration,
}

/// Flags of `dice-mcp keygen`.
#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// Directory to write the keys into (created with mode 0700 if missing).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,

    /// Key size in bits: 2048, 3072 or 4096.
    #[arg(long, default_value_t = 2048, value_parser = clap::builder::PossibleValuesParser::new(["2048", "3072", "4096"]).map(|s| s.parse::<usize>().unwrap_or(2048)))]
    pub bits: usize,

    /// Replace keys already in DIR. Tokens signed with the old key stop working.
    #[arg(long)]
    pub force: bool,
}

/// Flags of `dice-mcp token`.
#[derive(Debug, Args)]
pub struct TokenArgs {
    /// The private key PEM (from dice-mcp keygen).
    #[arg(long, value_name = "PEM", env = "DICE_MCP_KEY")]
    pub key: PathBuf,

    /// Subject (sub): who the token is for.
    #[arg(long, default_value = "dev")]
    pub sub: String,

    /// Issuer (iss); serve --issuer must match it.
    #[arg(long, default_value = "dice-mcp")]
    pub iss: String,

    /// Audience (aud), usually the server's MCP URL; repeat for several. serve --audience
    /// must name one of them.
    #[arg(long = "aud", value_name = "AUD")]
    pub audiences: Vec<String>,

    /// Scope to grant; repeat for several (written space-separated into `scope`).
    #[arg(long = "scope", value_name = "SCOPE")]
    pub scopes: Vec<String>,

    /// Lifetime: 90s, 15m, 1h, 7d (at most 366d).
    #[arg(long, default_value = "1h", value_parser = parse_duration)]
    pub ttl: Duration,
}

/// Parses `90s`, `15m`, `1h`, `7d` (and combinations like `1h 30m`); a plain number is
/// seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let duration = match text.trim().parse::<u64>() {
        Ok(seconds) => Duration::from_secs(seconds),
        Err(_) => humantime::parse_duration(text)
            .map_err(|e| format!("{e}; write a duration such as 90s, 15m, 1h or 7d"))?,
    };
    if duration.is_zero() {
        return Err("the duration must be longer than zero".into());
    }
    Ok(duration)
}

/// A rest period: a duration, or `0`/`off` for none (zero).
pub fn parse_rest(text: &str) -> Result<Duration, String> {
    match text.trim() {
        "0" | "off" => Ok(Duration::ZERO),
        _ => parse_duration(text),
    }
}

/// Flags of `dice-mcp serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Where to listen, and the access log.
    #[command(flatten)]
    pub listen: ListenArgs,

    /// Answer every request on its own, without sessions (JSON responses). Needed by
    /// OpenAI's Responses API, which deletes its session and then keeps calling tools.
    #[arg(long, env = "DICE_MCP_STATELESS")]
    pub stateless: bool,

    /// Share stateful /mcp sessions with every server pointed at the same Redis
    /// (redis://HOST:PORT[/DB]), so a session opened on one replica works on all: its
    /// owner, DELETE and idle expiry hold everywhere. While Redis is unreachable new
    /// sessions get 503. Not with --stateless, which has no sessions.
    #[arg(long, value_name = "URL", env = "DICE_MCP_SESSION_STORE")]
    pub session_store: Option<String>,

    /// Which MCP transports to serve: Streamable HTTP at /mcp (preferred), the legacy
    /// HTTP+SSE transport at /sse (for older clients and configs copied from FastMCP's
    /// guide), or both.
    #[arg(long, env = "DICE_MCP_TRANSPORT", value_enum, default_value_t = TransportArg::Both)]
    pub transport: TransportArg,

    /// For replicas behind a load balancer that hashes /sse and /messages/ on session_id
    /// (deploy/nginx): answer GET /sse with a 307 to /sse?session_id=NEW, so the legacy
    /// stream and its posts reach the one replica holding the stream. Clients follow it.
    #[arg(long, env = "DICE_MCP_SSE_SESSION_REDIRECT")]
    pub sse_session_redirect: bool,

    /// Also accept this Host header (e.g. your tunnel's or proxy's public host name).
    /// Loopback names are always accepted; any other Host gets 403 (DNS-rebinding guard).
    /// Repeat the flag, or separate with commas in the environment variable.
    #[arg(
        long = "allowed-host",
        env = "DICE_MCP_ALLOWED_HOSTS",
        value_delimiter = ','
    )]
    pub allowed_hosts: Vec<String>,

    /// Dice limits.
    #[command(flatten)]
    pub dice: DiceArgs,

    /// Most sessions open at once (stateful /mcp sessions and /sse streams together);
    /// further ones get 503.
    #[arg(long, env = "DICE_MCP_MAX_SESSIONS", default_value_t = mcp_core::DEFAULT_MAX_SESSIONS,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub max_sessions: usize,

    /// Most sessions one token holder (issuer and subject of the token) may keep open at
    /// once, so one client cannot take them all; its further ones get 429. Without
    /// authentication only --max-sessions applies.
    #[arg(long, env = "DICE_MCP_MAX_SESSIONS_PER_PRINCIPAL", default_value_t = mcp_core::DEFAULT_MAX_SESSIONS_PER_PRINCIPAL,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub max_sessions_per_principal: usize,

    /// How long a stateful session may stay unused, and an /sse session go without a post,
    /// before it is closed: 90s, 5m (a plain number is seconds).
    #[arg(long, env = "DICE_MCP_SESSION_IDLE", default_value = "5m", value_parser = parse_duration,
          alias = "session-idle-secs")]
    pub session_idle: Duration,

    /// A stateful /mcp session with no request in flight and no stream open for this long
    /// rests: its worker and handler (about 60 KiB) are dropped, and its next request
    /// restores it from its stored initialize, as another replica would. A resting session
    /// keeps its id, its owner and its place under --max-sessions, and still ends after
    /// --session-idle. 0 or off: sessions never rest.
    #[arg(long, env = "DICE_MCP_SESSION_REST", default_value = "30s", value_parser = parse_rest)]
    pub session_rest: Duration,

    /// Largest request body accepted, in bytes; larger ones get 413 (at once when the
    /// declared Content-Length is larger, without 100 Continue).
    #[arg(long, env = "DICE_MCP_MAX_BODY_BYTES", default_value_t = mcp_core::DEFAULT_MAX_BODY_BYTES,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=64 * 1024 * 1024))]
    pub max_body_bytes: usize,

    /// Serve Prometheus metrics at /metrics on this listener, to loopback Hosts only (a
    /// tunnel or proxy sends the public host, which gets 404): requests by route and status,
    /// latency, open sessions and connections, auth refusals, tool calls, load shedding.
    #[arg(long, env = "DICE_MCP_METRICS")]
    pub metrics: bool,

    /// Serve /metrics on this address instead (e.g. 127.0.0.1:9464, or a private address
    /// Prometheus scrapes), to any Host; implies --metrics.
    #[arg(long, value_name = "ADDR", env = "DICE_MCP_METRICS_ADDR")]
    pub metrics_addr: Option<SocketAddr>,

    /// Who may call: the keys tokens are checked against, and what they must say.
    #[command(flatten, next_help_heading = "Authentication")]
    pub auth: AuthArgs,

    /// Connection and request bounds.
    #[command(flatten)]
    pub limits: LimitArgs,
}

/// Bearer-token authentication of `serve`: the keys, the claims required, the RFC 9728
/// metadata.
#[derive(Debug, Clone, Args)]
pub struct AuthArgs {
    /// Require bearer tokens signed by this RSA public key (PEM, e.g. keys/public.pem).
    #[arg(
        long,
        value_name = "PEM",
        env = "DICE_MCP_PUBLIC_KEY",
        conflicts_with = "jwks"
    )]
    pub public_key: Option<PathBuf>,

    /// Require bearer tokens signed by a key of this JWKS: a file, or an http(s) URL (cached
    /// for 5 minutes, refetched on an unknown kid at most every 30 s, last good keys kept).
    #[arg(long, value_name = "PATH_OR_URL", env = "DICE_MCP_JWKS")]
    pub jwks: Option<String>,

    /// Accept only tokens from this issuer (iss); repeat for several.
    #[arg(
        long = "issuer",
        value_name = "ISS",
        env = "DICE_MCP_ISSUERS",
        value_delimiter = ','
    )]
    pub issuers: Vec<String>,

    /// Accept only tokens for this audience (aud); repeat for several. Usually the public
    /// MCP URL.
    #[arg(
        long = "audience",
        value_name = "AUD",
        env = "DICE_MCP_AUDIENCES",
        value_delimiter = ','
    )]
    pub audiences: Vec<String>,

    /// Require this scope in every token (403 otherwise); repeat for several.
    #[arg(
        long = "required-scope",
        value_name = "SCOPE",
        env = "DICE_MCP_REQUIRED_SCOPES",
        value_delimiter = ','
    )]
    pub required_scopes: Vec<String>,

    /// The public URL of the MCP endpoint, for the RFC 9728 metadata and the
    /// WWW-Authenticate challenge (default: http://ADDR/mcp).
    #[arg(long, value_name = "URL", env = "DICE_MCP_RESOURCE_URL")]
    pub resource_url: Option<String>,

    /// An OAuth authorization server that issues tokens for this server, listed in the
    /// RFC 9728 metadata so OAuth-capable clients can find it; repeat for several.
    #[arg(
        long = "authorization-server",
        value_name = "URL",
        env = "DICE_MCP_AUTHORIZATION_SERVERS",
        value_delimiter = ','
    )]
    pub authorization_servers: Vec<String>,

    /// Allow listening on a non-loopback address without authentication. Anyone who can
    /// reach the address can then call the tools.
    #[arg(long, env = "DICE_MCP_INSECURE_NO_AUTH")]
    pub insecure_no_auth: bool,

    /// Also run an OAuth 2.1 authorization server for you alone, so clients that cannot be
    /// given a token (Claude, ChatGPT, Cursor, VS Code) can connect: approve each in the
    /// browser with the pairing code printed on this terminal. Tokens are signed with the
    /// key pair in --keys-dir (created on first use); clients are kept there too.
    #[arg(long, env = "DICE_MCP_OAUTH")]
    pub oauth: bool,

    /// The OAuth issuer: the public base URL clients reach this server at (default: the
    /// origin of --resource-url, else http://ADDR).
    #[arg(
        long,
        value_name = "URL",
        env = "DICE_MCP_OAUTH_ISSUER",
        requires = "oauth"
    )]
    pub oauth_issuer: Option<String>,

    /// With --oauth: where its key pair and client store live (default: the platform data
    /// directory, the same as `dev`'s).
    #[arg(
        long,
        value_name = "DIR",
        env = "DICE_MCP_KEYS_DIR",
        requires = "oauth"
    )]
    pub keys_dir: Option<PathBuf>,
}

/// Bounds that keep a public server up whatever clients send: connections, timeouts,
/// in-flight requests, shutdown. Durations read 10s, 2m, 1h (a plain number is seconds).
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Limits")]
pub struct LimitArgs {
    /// Most TCP connections open at once; beyond it new ones get 503 and are closed at once
    /// while the open ones are served. Default: 10000, or less when the open-file limit
    /// (ulimit -n) is lower.
    #[arg(long, env = "DICE_MCP_MAX_CONNECTIONS",
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub max_connections: Option<usize>,

    /// Time a client has to send a request's headers; on HTTP/1.1 also how long a
    /// kept-alive connection may wait for its next request.
    #[arg(long, env = "DICE_MCP_HEADER_READ_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub header_read_timeout: Duration,

    /// A connection (HTTP/1.1 or HTTP/2) with nothing in flight for this long is closed.
    #[arg(long, env = "DICE_MCP_IDLE_TIMEOUT", default_value = "60s", value_parser = parse_duration)]
    pub idle_timeout: Duration,

    /// Longest a request may take to be read and answered (408 beyond it); streams, once
    /// started, are not cut by it.
    #[arg(long, env = "DICE_MCP_REQUEST_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    pub request_timeout: Duration,

    /// Most MCP requests handled at once; more get 503 with Retry-After at once.
    #[arg(long, env = "DICE_MCP_MAX_IN_FLIGHT", default_value_t = mcp_core::DEFAULT_MAX_IN_FLIGHT,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub max_in_flight: usize,

    /// Largest request head (request line and headers) in bytes; larger ones get 431.
    #[arg(long, env = "DICE_MCP_MAX_HEADER_BYTES", default_value_t = mcp_core::DEFAULT_MAX_HEADER_BYTES,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1024..=1024 * 1024))]
    pub max_header_bytes: usize,

    /// Most concurrent streams per HTTP/2 connection.
    #[arg(long, env = "DICE_MCP_H2_MAX_STREAMS", default_value_t = mcp_core::DEFAULT_H2_MAX_STREAMS,
          value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub h2_max_streams: u32,

    /// On SIGTERM/Ctrl-C: time requests in flight get to finish; then every stream and
    /// connection is closed and the process exits (within this plus one second).
    #[arg(long, env = "DICE_MCP_SHUTDOWN_GRACE", default_value = "10s", value_parser = parse_duration)]
    pub shutdown_grace: Duration,

    /// Requests each token holder (or, without authentication, each client IP address) may
    /// make, such as 20/s, 600/m or 5000/h; bursts up to the count pass, beyond it 429
    /// with Retry-After. Default: no limit.
    #[arg(long, env = "DICE_MCP_RATE_LIMIT", value_parser = parse_rate)]
    pub rate_limit: Option<mcp_core::RateLimit>,
}

/// Reads a rate such as `20/s`, `600/m`, `5000/h` or `100/10s`.
pub fn parse_rate(text: &str) -> Result<mcp_core::RateLimit, String> {
    let help = "write a rate such as 20/s, 600/m or 5000/h";
    let (count, period) = text
        .trim()
        .split_once('/')
        .ok_or_else(|| format!("{text:?} has no `/`; {help}"))?;
    let requests = count
        .trim()
        .parse::<std::num::NonZeroU32>()
        .map_err(|e| format!("{count:?} is not a count of requests above zero ({e}); {help}"))?;
    let period = period.trim();
    let per = match period {
        "s" | "sec" | "second" => Duration::from_secs(1),
        "m" | "min" | "minute" => Duration::from_secs(60),
        "h" | "hour" => Duration::from_secs(3600),
        other => parse_duration(other).map_err(|e| format!("{e}; {help}"))?,
    };
    Ok(mcp_core::RateLimit { requests, per })
}

impl Default for LimitArgs {
    fn default() -> Self {
        Self {
            max_connections: None,
            header_read_timeout: mcp_core::DEFAULT_HEADER_READ_TIMEOUT,
            idle_timeout: mcp_core::DEFAULT_IDLE_TIMEOUT,
            request_timeout: mcp_core::DEFAULT_REQUEST_TIMEOUT,
            max_in_flight: mcp_core::DEFAULT_MAX_IN_FLIGHT,
            max_header_bytes: mcp_core::DEFAULT_MAX_HEADER_BYTES,
            h2_max_streams: mcp_core::DEFAULT_H2_MAX_STREAMS,
            shutdown_grace: mcp_core::DEFAULT_SHUTDOWN_GRACE,
            rate_limit: None,
        }
    }
}

/// `--transport` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TransportArg {
    /// Streamable HTTP at /mcp only.
    Streamable,
    /// Legacy HTTP+SSE at /sse and /messages/ only.
    Sse,
    /// Both.
    Both,
}

impl From<TransportArg> for mcp_core::Transports {
    fn from(value: TransportArg) -> Self {
        match value {
            TransportArg::Streamable => Self::StreamableHttp,
            TransportArg::Sse => Self::Sse,
            TransportArg::Both => Self::Both,
        }
    }
}

/// Flags of `dice-mcp health`.
#[derive(Debug, Clone, Args)]
pub struct HealthArgs {
    /// The health endpoint to GET: the server's /healthz, on loopback when run beside it.
    #[arg(
        long,
        env = "DICE_MCP_HEALTH_URL",
        default_value = "http://127.0.0.1:8000/healthz"
    )]
    pub url: url::Url,

    /// How long the answer may take before the server counts as unhealthy: 3s, 500ms (a
    /// plain number is seconds).
    #[arg(long, env = "DICE_MCP_HEALTH_TIMEOUT", default_value = "3s", value_parser = parse_duration)]
    pub timeout: Duration,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn oauth_revoke_takes_a_client_id_that_starts_with_a_hyphen() {
        // Ids from before they were hex could start with `-`.
        let cli = Cli::try_parse_from(["dice-mcp", "oauth", "revoke", "-Cx_9"]).unwrap();
        let Command::Oauth(args) = cli.command else {
            panic!("not oauth: {cli:?}");
        };
        let OauthAction::Revoke { client_id } = args.action else {
            panic!("not revoke: {args:?}");
        };
        assert_eq!(client_id, "-Cx_9");
    }

    #[test]
    fn serve_flags_parse_with_defaults_and_overrides() {
        let cli = Cli::try_parse_from(["dice-mcp", "serve"]).unwrap();
        let Command::Serve(args) = cli.command else {
            panic!("not serve")
        };
        assert_eq!(args.listen.addr.to_string(), "127.0.0.1:8000");
        assert!(!args.stateless);
        assert_eq!(args.dice.max_dice, 1000);
        assert_eq!(args.transport, TransportArg::Both);

        let cli = Cli::try_parse_from([
            "dice-mcp",
            "serve",
            "--stateless",
            "--addr",
            "127.0.0.1:0",
            "--allowed-host",
            "a.example",
            "--allowed-host",
            "b.example",
            "--max-dice",
            "7",
        ])
        .unwrap();
        let Command::Serve(args) = cli.command else {
            panic!("not serve")
        };
        assert!(args.stateless);
        assert_eq!(args.allowed_hosts, ["a.example", "b.example"]);
        assert_eq!(args.dice.max_dice, 7);
    }

    #[test]
    fn check_and_ask_share_the_target_flags_and_read_durations() {
        let target = |argv: &[&str]| match Cli::try_parse_from(argv).unwrap().command {
            Command::Check(args) => args.target,
            Command::Ask(args) => args.target,
            other => panic!("parsed {other:?}"),
        };
        let url = "http://127.0.0.1:1/mcp";
        let check = target(&["dice-mcp", "check", "--url", url, "--timeout", "2m"]);
        assert_eq!(check.timeout_or(Duration::ZERO), Duration::from_secs(120));
        let old = target(&["dice-mcp", "ask", "--url", url, "--timeout-secs", "7"]);
        assert_eq!(old.timeout_or(Duration::ZERO), Duration::from_secs(7));
        let default = target(&["dice-mcp", "check", "--url", url, "--token", "t"]);
        assert_eq!(
            default.timeout_or(Duration::from_secs(10)),
            Duration::from_secs(10)
        );
        assert_eq!(default.token.as_deref(), Some("t"));
        assert!(
            Cli::try_parse_from(["dice-mcp", "check", "--url", url, "--timeout", "soon"]).is_err()
        );
    }

    #[test]
    fn session_idle_reads_durations_and_the_old_seconds_flag() {
        let idle = |flags: &[&str]| {
            let cli = Cli::try_parse_from([&["dice-mcp", "serve"][..], flags].concat()).unwrap();
            let Command::Serve(args) = cli.command else {
                panic!("not serve")
            };
            args.session_idle
        };
        assert_eq!(idle(&[]), Duration::from_secs(300));
        assert_eq!(idle(&["--session-idle", "90s"]), Duration::from_secs(90));
        assert_eq!(idle(&["--session-idle", "2m"]), Duration::from_secs(120));
        assert_eq!(
            idle(&["--session-idle-secs", "45"]),
            Duration::from_secs(45)
        );
        assert!(Cli::try_parse_from(["dice-mcp", "serve", "--session-idle", "0"]).is_err());
    }

    #[test]
    fn session_rest_defaults_to_30s_and_turns_off_with_0_or_off() {
        let rest = |flags: &[&str]| {
            let cli = Cli::try_parse_from([&["dice-mcp", "serve"][..], flags].concat()).unwrap();
            let Command::Serve(args) = cli.command else {
                panic!("not serve")
            };
            args.session_rest
        };
        assert_eq!(rest(&[]), Duration::from_secs(30));
        assert_eq!(rest(&["--session-rest", "2m"]), Duration::from_secs(120));
        assert_eq!(rest(&["--session-rest", "0"]), Duration::ZERO);
        assert_eq!(rest(&["--session-rest", "off"]), Duration::ZERO);
        assert!(Cli::try_parse_from(["dice-mcp", "serve", "--session-rest", "soon"]).is_err());
    }

    #[test]
    fn rates_read_like_a_person_writes_them() {
        let rate = |requests: u32, secs: u64| mcp_core::RateLimit {
            requests: std::num::NonZeroU32::new(requests).unwrap(),
            per: Duration::from_secs(secs),
        };
        assert_eq!(parse_rate("20/s"), Ok(rate(20, 1)));
        assert_eq!(parse_rate("600/m"), Ok(rate(600, 60)));
        assert_eq!(parse_rate("5000/h"), Ok(rate(5000, 3600)));
        assert_eq!(parse_rate("100/10s"), Ok(rate(100, 10)));
        assert!(parse_rate("0/s").is_err());
        assert!(parse_rate("20").unwrap_err().contains("20/s"));
        assert!(parse_rate("20/0s").is_err());
        assert!(parse_rate("x/s").is_err());
    }

    #[test]
    fn durations_read_like_a_person_writes_them() {
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("7d"), Ok(Duration::from_secs(7 * 86400)));
        assert_eq!(parse_duration("45"), Ok(Duration::from_secs(45)));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("0").is_err());
        assert!(parse_duration("soon").unwrap_err().contains("15m"));
    }

    #[test]
    fn public_key_and_jwks_are_exclusive() {
        let both = Cli::try_parse_from([
            "dice-mcp",
            "serve",
            "--public-key",
            "a.pem",
            "--jwks",
            "b.json",
        ]);
        assert!(both.is_err());
        assert!(
            Cli::try_parse_from(["dice-mcp", "keygen", "--out", "k", "--bits", "1024"]).is_err()
        );
    }

    #[test]
    fn out_of_range_values_are_refused_by_the_parser() {
        assert!(Cli::try_parse_from(["dice-mcp", "serve", "--max-dice", "0"]).is_err());
        assert!(Cli::try_parse_from(["dice-mcp", "serve", "--max-sessions", "0"]).is_err());
        assert!(Cli::try_parse_from(["dice-mcp", "serve", "--addr", "nowhere"]).is_err());
        assert!(Cli::try_parse_from(["dice-mcp", "serve", "--transport", "ws"]).is_err());
    }
}
