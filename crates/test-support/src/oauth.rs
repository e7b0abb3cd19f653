//! What an OAuth client computes for itself.

use base64::Engine;
use sha2::{Digest, Sha256};

/// A PKCE pair (RFC 7636): a random verifier and its `S256` challenge, the base64url of the
/// verifier's SHA-256.
pub fn pkce() -> (String, String) {
    let encode = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let verifier = encode(&rand::random::<[u8; 32]>());
    let challenge = encode(&Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}
