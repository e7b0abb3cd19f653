//! An OAuth 2.1 authorization server for a single owner, so that clients that cannot be
//! given a static bearer token (Claude and ChatGPT connectors, Cursor, VS Code, the MCP SDKs'
//! OAuth clients) can obtain one: the owner approves each client once in the browser by
//! typing a pairing code the program shows them on its own terminal.
//!
//! - Discovery: [RFC 8414] metadata at `/.well-known/oauth-authorization-server`.
//! - Registration: [RFC 7591] dynamic client registration at `/register` (public clients
//!   with PKCE, or clients with a secret), or none: a `client_id` that is an `https` URL
//!   names the client's metadata document (CIMD), fetched with bounds and cached.
//! - Authorization: the code flow at `/authorize` with PKCE (`S256` only), resource
//!   indicators ([RFC 8707]), the `iss` response parameter ([RFC 9207]) and a consent page
//!   that asks for the pairing code.
//! - Tokens: `/token` exchanges codes (single use, 60 s) and rotates refresh tokens; reusing
//!   a rotated refresh token revokes its whole family. Access tokens are RS256 JWTs minted
//!   with [`bearer_auth::mint_token`], so a [`bearer_auth::Verifier`] trusting the owner's
//!   key and the issuer accepts them unchanged.
//! - Persistence: registered clients and refresh tokens (only their SHA-256) live in a
//!   [`Store`], a JSON file written atomically with mode 0600.
//!
//! It knows nothing about MCP: the resource it issues tokens for is a URL it is given.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use oauth_server::{AuthorizationServer, OAuthConfig, Store};
//! let key = bearer_auth::RsaKeyPair::generate(2048)?;
//! let config = OAuthConfig::new("https://abc.ngrok.app", "https://abc.ngrok.app/mcp")?;
//! let server = AuthorizationServer::new(config, key, Store::in_memory());
//! let mut codes = server.pairing_codes();
//! println!("Pairing code: {}", *codes.borrow_and_update());
//! let app: axum::Router = server.router(); // mount beside the protected resource
//! # let _ = app; Ok(()) }
//! ```
//!
//! [RFC 8414]: https://www.rfc-editor.org/rfc/rfc8414
//! [RFC 7591]: https://www.rfc-editor.org/rfc/rfc7591
//! [RFC 8707]: https://www.rfc-editor.org/rfc/rfc8707
//! [RFC 9207]: https://www.rfc-editor.org/rfc/rfc9207

mod cimd;
mod config;
mod consent;
mod error;
mod pairing;
mod redirect;
mod server;
mod store;

pub use config::OAuthConfig;
pub use error::Error;
pub use pairing::PairingCode;
pub use server::{AUTHORIZE_PATH, AuthorizationServer, METADATA_PATH, REGISTER_PATH, TOKEN_PATH};
pub use store::{ClientSummary, Store};

/// Whether two strings are equal, comparing every byte (no early exit on the first
/// difference): for the pairing code, client secrets and PKCE challenges.
pub(crate) fn constant_time_eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0
}
