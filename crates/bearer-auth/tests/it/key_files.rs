//! Key files on disk: modes, no silent overwrite, round trips, JWKS and thumbprints.

use std::os::unix::fs::PermissionsExt;

use bearer_auth::{KeySet, PublicKey, RsaKeyPair};

use crate::support::main_key;

#[test]
fn save_writes_private_key_0600_and_refuses_to_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let keys_dir = dir.path().join("keys");
    let saved = main_key().save(&keys_dir, false).unwrap();
    let mode = std::fs::metadata(&saved.private)
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600, "private.pem mode {mode:o}");
    let dir_mode = std::fs::metadata(&keys_dir).unwrap().permissions().mode() & 0o777;
    assert_eq!(dir_mode, 0o700, "key dir mode {dir_mode:o}");

    let first = std::fs::read_to_string(&saved.private).unwrap();
    let second = RsaKeyPair::generate(2048).unwrap();
    let refused = second.save(&keys_dir, false).unwrap_err();
    assert!(
        matches!(refused, bearer_auth::Error::Exists(ref path) if path.ends_with("private.pem")),
        "{refused}"
    );
    assert_eq!(
        std::fs::read_to_string(&saved.private).unwrap(),
        first,
        "first key intact"
    );

    second.save(&keys_dir, true).unwrap();
    assert_ne!(std::fs::read_to_string(&saved.private).unwrap(), first);
    let mode = std::fs::metadata(&saved.private)
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
}

#[test]
fn saved_files_load_back_to_the_same_key() {
    let dir = tempfile::tempdir().unwrap();
    let saved = main_key().save(dir.path(), false).unwrap();
    let loaded = RsaKeyPair::load(&saved.private).unwrap();
    assert_eq!(loaded.public().kid(), main_key().public().kid());
    let public = PublicKey::load(&saved.public).unwrap();
    assert_eq!(public.kid(), main_key().public().kid());
    let set = KeySet::load_jwks(&saved.jwks).unwrap();
    assert_eq!(set.kids().collect::<Vec<_>>(), [main_key().public().kid()]);
}

#[test]
fn kid_is_the_rfc_7638_thumbprint() {
    // Recompute by hand: SHA-256 over {"e":…,"kty":"RSA","n":…} with no spaces.
    let jwk = serde_json::to_value(main_key().public().jwk()).unwrap();
    let canonical = format!(
        r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#,
        jwk["e"].as_str().unwrap(),
        jwk["n"].as_str().unwrap()
    );
    use sha2::Digest;
    let digest = sha2::Sha256::digest(canonical.as_bytes());
    assert_eq!(crate::support::b64(&digest), main_key().public().kid());
    assert_eq!(jwk["e"], "AQAB", "no leading zero bytes in e");
    assert_eq!(jwk["kid"], main_key().public().kid());
    assert_eq!(jwk["alg"], "RS256");
    assert_eq!(jwk["use"], "sig");
}

#[test]
fn bad_inputs_are_errors_that_say_what_is_expected() {
    assert!(
        RsaKeyPair::generate(1024)
            .unwrap_err()
            .to_string()
            .contains("2048")
    );
    let not_pem = RsaKeyPair::from_private_pem("hello")
        .unwrap_err()
        .to_string();
    assert!(not_pem.contains("BEGIN PRIVATE KEY"), "{not_pem}");
    let public_as_private = RsaKeyPair::from_private_pem(main_key().public().pem()).unwrap_err();
    assert!(public_as_private.to_string().contains("private key"));
    assert!(PublicKey::from_pem(main_key().private_pem()).is_err());
    let missing = RsaKeyPair::load(std::path::Path::new("/nonexistent/private.pem")).unwrap_err();
    assert!(
        missing.to_string().contains("/nonexistent/private.pem"),
        "{missing}"
    );
    assert!(KeySet::from_jwks_json("{}").is_err());
    assert!(KeySet::from_jwks_json(r#"{"keys":[]}"#).is_err());
    let debug = format!("{:?}", main_key());
    assert!(
        !debug.contains("PRIVATE"),
        "Debug must not print the key: {debug}"
    );
}

#[test]
fn a_key_from_a_jwk_has_the_same_pem_as_the_key_it_came_from() {
    let public = main_key().public().clone();
    let from_jwk = PublicKey::from_jwk(public.jwk()).unwrap();
    assert!(from_jwk.pem().starts_with("-----BEGIN PUBLIC KEY-----"));
    assert_eq!(from_jwk.pem(), public.pem());
    assert_eq!(from_jwk.kid(), public.kid());
}
