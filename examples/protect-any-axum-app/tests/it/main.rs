//! The protected app over real HTTP on 127.0.0.1, and what it is built from.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{process::Command, time::Duration};

use bearer_auth::{Audience, RsaKeyPair, TokenRequest, Verifier, VerifierConfig, mint_token};
use protect_any_axum_app::{REALM, app};
use reqwest::{StatusCode, header::WWW_AUTHENTICATE};

/// The app served on a free loopback port, its base URL, and the key its tokens need.
async fn start() -> (String, RsaKeyPair) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let pair = RsaKeyPair::generate(2048).unwrap();
    let config = VerifierConfig {
        issuers: vec![REALM.to_owned()],
        audiences: vec![base.clone()],
        ..VerifierConfig::default()
    };
    let verifier = Verifier::new(pair.public().clone(), config).unwrap();
    let app = app(verifier, &base).unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (base, pair)
}

#[tokio::test]
async fn hello_needs_a_token_and_the_challenge_leads_to_the_metadata() {
    let (base, pair) = start().await;
    let client = reqwest::Client::new();

    let refused = client.get(format!("{base}/hello")).send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    let challenge = refused.headers()[WWW_AUTHENTICATE]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(challenge.starts_with("Bearer "), "{challenge}");
    let metadata_url = format!("{base}/.well-known/oauth-protected-resource");
    assert!(
        challenge.contains(&format!("resource_metadata=\"{metadata_url}\"")),
        "{challenge}"
    );

    let metadata = client.get(&metadata_url).send().await.unwrap();
    assert_eq!(metadata.status(), StatusCode::OK);
    let document: serde_json::Value = metadata.json().await.unwrap();
    assert_eq!(document["resource"], base.as_str());
    assert_eq!(
        document["bearer_methods_supported"],
        serde_json::json!(["header"])
    );

    let request = TokenRequest::new("alice", REALM, Duration::from_secs(60))
        .with_audience(Audience::One(base.clone()));
    let token = mint_token(&pair, &request).unwrap();
    let greeted = client
        .get(format!("{base}/hello"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(greeted.status(), StatusCode::OK);
    assert_eq!(greeted.text().await.unwrap(), "hello, alice");
}

#[tokio::test]
async fn a_token_for_another_audience_gets_401_invalid_token() {
    let (base, pair) = start().await;
    let request = TokenRequest::new("alice", REALM, Duration::from_secs(60))
        .with_audience(Audience::One("https://elsewhere.example".into()));
    let token = mint_token(&pair, &request).unwrap();
    let refused = reqwest::Client::new()
        .get(format!("{base}/hello"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    let challenge = refused.headers()[WWW_AUTHENTICATE].to_str().unwrap();
    assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
}

#[test]
fn rmcp_is_not_in_the_dependency_tree() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let output = Command::new(cargo)
        .args([
            "tree",
            "-p",
            "protect-any-axum-app",
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
    assert!(tree.lines().any(|line| line.starts_with("axum ")), "{tree}");
    let found: Vec<&str> = tree
        .lines()
        .filter(|line| line.split_whitespace().next() == Some("rmcp"))
        .collect();
    assert!(found.is_empty(), "rmcp is in the tree: {found:?}");
}
