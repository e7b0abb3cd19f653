//! Keys from a JWKS URL served on 127.0.0.1: rotation, outages and garbage.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{Router, extract::State, http::StatusCode, response::IntoResponse, routing::get};
use bearer_auth::{AuthError, KeySource, RemoteJwks, Verifier, VerifierConfig};

use crate::support::*;

#[derive(Clone)]
enum Answer {
    Jwks(String),
    Down,
    Garbage,
}

async fn jwks_server(answer: Arc<Mutex<Answer>>) -> String {
    let app = Router::new()
        .route(
            "/jwks.json",
            get(|State(answer): State<Arc<Mutex<Answer>>>| async move {
                match answer.lock().unwrap().clone() {
                    Answer::Jwks(json) => (StatusCode::OK, json).into_response(),
                    Answer::Down => StatusCode::SERVICE_UNAVAILABLE.into_response(),
                    Answer::Garbage => (StatusCode::OK, "<html>not json</html>").into_response(),
                }
            }),
        )
        .with_state(answer);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/jwks.json", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

fn jwks_of(key: &bearer_auth::RsaKeyPair) -> Answer {
    Answer::Jwks(serde_json::to_string(&key.jwks()).unwrap())
}

/// No verified-token cache, so every call goes to the key source.
fn uncached() -> VerifierConfig {
    VerifierConfig {
        cache_capacity: 0,
        ..verifier_config()
    }
}

fn token(key: &bearer_auth::RsaKeyPair) -> String {
    sign(key, Some(key.public().kid()), &good_claims())
}

#[tokio::test]
async fn rotation_to_a_new_kid_is_picked_up() {
    let answer = Arc::new(Mutex::new(jwks_of(main_key())));
    let url = jwks_server(answer.clone()).await;
    let remote =
        Arc::new(RemoteJwks::with_timing(&url, Duration::from_secs(3600), Duration::ZERO).unwrap());
    let verifier = Verifier::new(KeySource::Remote(remote.clone()), uncached()).unwrap();
    assert!(verifier.verify(&token(main_key())).await.is_ok());

    *answer.lock().unwrap() = jwks_of(other_key());
    let claims = verifier.verify(&token(other_key())).await;
    assert!(
        claims.is_ok(),
        "the new kid is fetched on demand: {claims:?}"
    );
    assert_eq!(remote.kids().await, [other_key().public().kid().to_owned()]);
}

#[tokio::test]
async fn unknown_kid_refreshes_are_rate_limited() {
    let answer = Arc::new(Mutex::new(jwks_of(main_key())));
    let url = jwks_server(answer.clone()).await;
    let remote = Arc::new(
        RemoteJwks::with_timing(&url, Duration::from_secs(3600), Duration::from_secs(3600))
            .unwrap(),
    );
    let verifier = Verifier::new(KeySource::Remote(remote.clone()), uncached()).unwrap();
    assert!(verifier.verify(&token(main_key())).await.is_ok());
    *answer.lock().unwrap() = jwks_of(other_key());
    // Within the refresh interval an unknown kid does not trigger another fetch.
    let refused = verifier.verify(&token(other_key())).await;
    assert!(
        matches!(refused, Err(AuthError::InvalidToken(_))),
        "{refused:?}"
    );
    assert_eq!(remote.kids().await, [main_key().public().kid().to_owned()]);
}

#[tokio::test]
async fn an_outage_keeps_the_last_good_keys() {
    let answer = Arc::new(Mutex::new(jwks_of(main_key())));
    let url = jwks_server(answer.clone()).await;
    // TTL zero: every verification tries to refresh.
    let remote = Arc::new(RemoteJwks::with_timing(&url, Duration::ZERO, Duration::ZERO).unwrap());
    let verifier = Verifier::new(KeySource::Remote(remote.clone()), uncached()).unwrap();
    assert!(verifier.verify(&token(main_key())).await.is_ok());

    *answer.lock().unwrap() = Answer::Down;
    assert!(remote.refresh().await.is_err());
    assert!(
        verifier.verify(&token(main_key())).await.is_ok(),
        "kept keys still verify"
    );
}

#[tokio::test]
async fn garbage_is_an_error_that_does_not_wipe_the_good_keys() {
    let answer = Arc::new(Mutex::new(jwks_of(main_key())));
    let url = jwks_server(answer.clone()).await;
    let remote = Arc::new(RemoteJwks::with_timing(&url, Duration::ZERO, Duration::ZERO).unwrap());
    let verifier = Verifier::new(KeySource::Remote(remote.clone()), uncached()).unwrap();
    assert!(verifier.verify(&token(main_key())).await.is_ok());

    *answer.lock().unwrap() = Answer::Garbage;
    let error = remote.refresh().await.unwrap_err();
    assert!(error.to_string().contains("not a JWKS"), "{error}");
    assert_eq!(remote.kids().await, [main_key().public().kid().to_owned()]);
    assert!(verifier.verify(&token(main_key())).await.is_ok());
}

#[tokio::test]
async fn no_keys_ever_fetched_is_unavailable_not_invalid() {
    let answer = Arc::new(Mutex::new(Answer::Down));
    let url = jwks_server(answer).await;
    let remote = Arc::new(RemoteJwks::new(&url).unwrap());
    let verifier = Verifier::new(KeySource::Remote(remote), uncached()).unwrap();
    let refused = verifier.verify(&token(main_key())).await;
    assert!(
        matches!(refused, Err(AuthError::KeysUnavailable(_))),
        "{refused:?}"
    );
}
