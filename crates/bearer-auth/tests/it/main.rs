//! bearer-auth over real HTTP on 127.0.0.1 (the bad-token matrix, JWKS URLs), claim checks
//! through the verifier, key files.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod claims;
#[cfg(all(feature = "layer", feature = "remote-jwks"))]
mod jwks_url;
mod key_files;
#[cfg(feature = "layer")]
mod matrix;
mod support;
