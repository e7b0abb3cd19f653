//! Token verification cost: a cache miss against raw `jsonwebtoken::decode` (the ratio should
//! be near 1.0: the verifier adds little around the RSA check), and a cache hit (the point of
//! the cache: it should be at least 20× cheaper than a miss).
//!
//! `cargo bench -p bearer-auth --bench verify`

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::{hint::black_box, time::Duration};

use bearer_auth::{KeySource, RsaKeyPair, TokenRequest, Verifier, VerifierConfig, mint_token};
use criterion::{Criterion, criterion_group, criterion_main};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};

fn verify(c: &mut Criterion) {
    let pair = RsaKeyPair::generate(2048).unwrap();
    let request = TokenRequest::new("bench", "dice-mcp", Duration::from_secs(3600))
        .with_scopes(["dice:roll"]);
    let token = mint_token(&pair, &request).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let config = VerifierConfig {
        issuers: vec!["dice-mcp".into()],
        required_scopes: vec!["dice:roll".into()],
        ..VerifierConfig::default()
    };
    let keys = KeySource::public_key(pair.public().clone());
    let uncached = Verifier::new(
        keys.clone(),
        VerifierConfig {
            cache_capacity: 0,
            ..config.clone()
        },
    )
    .unwrap();
    let cached = Verifier::new(keys, config).unwrap();
    runtime.block_on(cached.verify(&token)).unwrap();

    let decoding = DecodingKey::from_rsa_pem(pair.public().pem().as_bytes()).unwrap();
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_issuer(&["dice-mcp"]);
    validation.validate_aud = false;

    let mut group = c.benchmark_group("verify");
    group.bench_function("raw jsonwebtoken::decode", |b| {
        b.iter(|| {
            jsonwebtoken::decode::<Map<String, Value>>(black_box(&token), &decoding, &validation)
                .unwrap()
        })
    });
    group.bench_function("Verifier, cache miss", |b| {
        b.iter(|| {
            runtime
                .block_on(uncached.verify(black_box(&token)))
                .unwrap()
        })
    });
    let (message, signature) = token.rsplit_once('.').unwrap();
    let signature =
        base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, signature)
            .unwrap();
    // The RSA check alone, the key's components parsed per call as jsonwebtoken's aws_lc_rs
    // backend does: what a miss costs beyond it is token parsing and claim checks.
    let jwk = pair.public().jwk().clone();
    let jsonwebtoken::jwk::AlgorithmParameters::RSA(rsa_jwk) = &jwk.algorithm else {
        panic!("not an RSA JWK")
    };
    let b64 = |text: &str| {
        base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, text).unwrap()
    };
    let (n, e) = (b64(&rsa_jwk.n), b64(&rsa_jwk.e));
    group.bench_function("aws-lc-rs RS256 check alone", |b| {
        b.iter(|| {
            aws_lc_rs::signature::RsaPublicKeyComponents { n: &n, e: &e }
                .verify(
                    &aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256,
                    black_box(message.as_bytes()),
                    black_box(&signature),
                )
                .unwrap()
        })
    });
    group.bench_function("Verifier, cache hit", |b| {
        b.iter(|| runtime.block_on(cached.verify(black_box(&token))).unwrap())
    });
    group.finish();
}

criterion_group!(benches, verify);
criterion_main!(benches);
