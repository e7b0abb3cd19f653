//! The command line: `dice-mcp serve`, its flags and their environment variables.

use std::net::SocketAddr;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Put MCP dice tools on the internet, safely, for OpenAI's Responses API and every other
/// remote MCP client (Claude, Cursor, VS Code, MCP Inspector).
#[derive(Debug, Parser)]
#[command(name = "dice-mcp", version, about, long_about = None)]
#[command(after_help = "Start here:\n  dice-mcp serve --stateless\n  \
    then point a client at http://127.0.0.1:8000/mcp\n\n\
    Every flag can also be set from its environment variable (shown in each command's --help).\n\
    Logs go to stderr; set RUST_LOG (e.g. RUST_LOG=debug) for more.")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

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
    Serve(ServeArgs),
}

/// Flags of `dice-mcp serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on. Keep it on loopback and publish through a tunnel; port 0 picks
    /// a free port (the log line says which).
    #[arg(long, env = "DICE_MCP_ADDR", default_value = "127.0.0.1:8000")]
    pub addr: SocketAddr,

    /// Answer every request on its own, without sessions (JSON responses). Needed by
    /// OpenAI's Responses API, which deletes its session and then keeps calling tools.
    #[arg(long, env = "DICE_MCP_STATELESS")]
    pub stateless: bool,

    /// Which MCP transports to serve: Streamable HTTP at /mcp (preferred), the legacy
    /// HTTP+SSE transport at /sse (for older clients and configs copied from FastMCP's
    /// guide), or both.
    #[arg(long, env = "DICE_MCP_TRANSPORT", value_enum, default_value_t = TransportArg::Both)]
    pub transport: TransportArg,

    /// Also accept this Host header (e.g. your tunnel's or proxy's public host name).
    /// Loopback names are always accepted; any other Host gets 403 (DNS-rebinding guard).
    /// Repeat the flag, or separate with commas in the environment variable.
    #[arg(
        long = "allowed-host",
        env = "DICE_MCP_ALLOWED_HOSTS",
        value_delimiter = ','
    )]
    pub allowed_hosts: Vec<String>,

    /// Most dice one roll_dice call may roll.
    #[arg(long, env = "DICE_MCP_MAX_DICE", default_value_t = dice_tools::DEFAULT_MAX_DICE,
          value_parser = clap::value_parser!(u32).range(1..=i64::from(dice_tools::MAX_DICE_LIMIT)))]
    pub max_dice: u32,

    /// Most sessions open at once (stateful /mcp sessions and /sse streams together);
    /// further ones get 503.
    #[arg(long, env = "DICE_MCP_MAX_SESSIONS", default_value_t = mcp_core::DEFAULT_MAX_SESSIONS,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub max_sessions: usize,

    /// Seconds a stateful session may stay unused before it is closed.
    #[arg(long, env = "DICE_MCP_SESSION_IDLE_SECS", default_value_t = mcp_core::DEFAULT_SESSION_IDLE.as_secs(),
          value_parser = clap::value_parser!(u64).range(1..))]
    pub session_idle_secs: u64,

    /// Largest request body accepted, in bytes; larger ones get 413.
    #[arg(long, env = "DICE_MCP_MAX_BODY_BYTES", default_value_t = mcp_core::DEFAULT_MAX_BODY_BYTES,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=64 * 1024 * 1024))]
    pub max_body_bytes: usize,
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

impl From<TransportArg> for mcp_core::Endpoints {
    fn from(value: TransportArg) -> Self {
        match value {
            TransportArg::Streamable => Self::Streamable,
            TransportArg::Sse => Self::Sse,
            TransportArg::Both => Self::Both,
        }
    }
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
    fn serve_flags_parse_with_defaults_and_overrides() {
        let cli = Cli::try_parse_from(["dice-mcp", "serve"]).unwrap();
        let Command::Serve(args) = cli.command;
        assert_eq!(args.addr.to_string(), "127.0.0.1:8000");
        assert!(!args.stateless);
        assert_eq!(args.max_dice, 1000);
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
        let Command::Serve(args) = cli.command;
        assert!(args.stateless);
        assert_eq!(args.allowed_hosts, ["a.example", "b.example"]);
        assert_eq!(args.max_dice, 7);
    }

    #[test]
    fn out_of_range_values_are_refused_by_the_parser() {
        assert!(Cli::try_parse_from(["dice-mcp", "serve", "--max-dice", "0"]).is_err());
        assert!(Cli::try_parse_from(["dice-mcp", "serve", "--max-sessions", "0"]).is_err());
        assert!(Cli::try_parse_from(["dice-mcp", "serve", "--addr", "nowhere"]).is_err());
        assert!(Cli::try_parse_from(["dice-mcp", "serve", "--transport", "ws"]).is_err());
    }
}
