//! Runs the mint-and-verify program and checks what it prints and what it is built from.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

/// The program's standard output, after checking it exited successfully.
fn run_example() -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_mint-and-verify"))
        .output()
        .expect("run mint-and-verify");
    assert!(
        output.status.success(),
        "mint-and-verify failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("UTF-8 output")
}

#[test]
fn the_minted_token_verifies_and_the_forged_ones_are_refused_with_their_reasons() {
    let out = run_example();
    let line = |prefix: &str| {
        out.lines()
            .find(|line| line.starts_with(prefix))
            .unwrap_or_else(|| panic!("no line starting {prefix:?} in:\n{out}"))
            .to_owned()
    };
    assert!(line("generated a 2048-bit RSA key pair").contains("kid "));
    assert!(line("minted a token for sub=alice").contains("aud=https://api.example"));
    assert_eq!(
        line("verified:"),
        "verified: sub=alice iss=https://issuer.example aud=https://api.example \
         scopes=[\"notes:read\"]"
    );
    assert!(
        line("tampered token refused:").ends_with("(InvalidToken, BadSignature)"),
        "{out}"
    );
    assert!(
        line("token for another audience refused:").ends_with("(InvalidToken, WrongAudience)"),
        "{out}"
    );
}

#[test]
fn neither_axum_nor_an_http_client_is_compiled() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let output = Command::new(cargo)
        .args([
            "tree",
            "-p",
            "mint-and-verify",
            "-e",
            "normal",
            "--prefix",
            "none",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run cargo tree");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let tree = String::from_utf8(output.stdout).expect("UTF-8 output");
    assert!(tree.contains("bearer-auth"), "unexpected tree:\n{tree}");
    for banned in ["axum", "hyper", "reqwest"] {
        let found: Vec<&str> = tree
            .lines()
            .filter(|line| line.split_whitespace().next() == Some(banned))
            .collect();
        assert!(found.is_empty(), "{banned} is in the tree: {found:?}");
    }
}
