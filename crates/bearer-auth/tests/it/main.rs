//! bearer-auth over real HTTP on 127.0.0.1 (the bad-token matrix, JWKS URLs), claim checks
//! through the verifier, key files.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod claims;
mod jwks_url;
mod key_files;
mod matrix;
mod support;
