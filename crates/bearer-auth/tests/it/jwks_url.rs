//! Keys from a JWKS URL served on 127.0.0.1: rotation, outages, garbage, concurrent refreshes
//! and oversized documents.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use axum::{
    Router,
    body::{Body, Bytes},
    extract::State,
    http::{StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use bearer_auth::{
    AuthErrorKind, Error, InvalidTokenReason, MAX_JWKS_BYTES, RemoteJwks, Verifier, VerifierConfig,
};
use futures::StreamExt;

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
    serve(app).await
}

/// Serves `app` on 127.0.0.1; returns the URL of its `/jwks.json`.
async fn serve(app: Router) -> String {
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
    let remote = RemoteJwks::with_timing(&url, Duration::from_secs(3600), Duration::ZERO).unwrap();
    let verifier = Verifier::new(remote.clone(), uncached()).unwrap();
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
    let remote =
        RemoteJwks::with_timing(&url, Duration::from_secs(3600), Duration::from_secs(3600))
            .unwrap();
    let verifier = Verifier::new(remote.clone(), uncached()).unwrap();
    assert!(verifier.verify(&token(main_key())).await.is_ok());
    *answer.lock().unwrap() = jwks_of(other_key());
    // Within the refresh interval an unknown kid does not trigger another fetch.
    let refused = verifier.verify(&token(other_key())).await.unwrap_err();
    assert_eq!(
        refused.invalid_token_reason(),
        Some(InvalidTokenReason::UnknownKey),
        "{refused:?}"
    );
    assert_eq!(remote.kids().await, [main_key().public().kid().to_owned()]);
}

#[tokio::test]
async fn an_outage_keeps_the_last_good_keys() {
    let answer = Arc::new(Mutex::new(jwks_of(main_key())));
    let url = jwks_server(answer.clone()).await;
    // TTL zero: every verification tries to refresh.
    let remote = RemoteJwks::with_timing(&url, Duration::ZERO, Duration::ZERO).unwrap();
    let verifier = Verifier::new(remote.clone(), uncached()).unwrap();
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
    let remote = RemoteJwks::with_timing(&url, Duration::ZERO, Duration::ZERO).unwrap();
    let verifier = Verifier::new(remote.clone(), uncached()).unwrap();
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
    let remote = RemoteJwks::new(&url).unwrap();
    let verifier = Verifier::new(remote, uncached()).unwrap();
    let refused = verifier.verify(&token(main_key())).await.unwrap_err();
    assert_eq!(
        refused.kind(),
        AuthErrorKind::KeysUnavailable,
        "{refused:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_unknown_kids_share_one_fetch() {
    let jwks = Arc::new(Mutex::new(
        serde_json::to_string(&main_key().jwks()).unwrap(),
    ));
    let hits = Arc::new(AtomicUsize::new(0));
    let app = Router::new().route(
        "/jwks.json",
        get({
            let (jwks, hits) = (jwks.clone(), hits.clone());
            move || async move {
                hits.fetch_add(1, Ordering::SeqCst);
                // Slow enough that every verification below arrives while the fetch runs.
                tokio::time::sleep(Duration::from_millis(200)).await;
                jwks.lock().unwrap().clone()
            }
        }),
    );
    let url = serve(app).await;
    // No refresh interval: only the single-flight keeps the fetches down to one.
    let remote = RemoteJwks::with_timing(&url, Duration::from_secs(3600), Duration::ZERO).unwrap();
    let verifier = Arc::new(Verifier::new(remote, uncached()).unwrap());
    assert!(verifier.verify(&token(main_key())).await.is_ok());
    assert_eq!(hits.load(Ordering::SeqCst), 1, "the first fetch");

    *jwks.lock().unwrap() = serde_json::to_string(&other_key().jwks()).unwrap();
    let token = token(other_key());
    let verifications: Vec<_> = (0..20)
        .map(|_| {
            let (verifier, token) = (verifier.clone(), token.clone());
            tokio::spawn(async move { verifier.verify(&token).await })
        })
        .collect();
    for verification in verifications {
        let verified = verification.await.unwrap();
        assert!(
            verified.is_ok(),
            "the shared fetch found the new kid: {verified:?}"
        );
    }
    assert_eq!(
        hits.load(Ordering::SeqCst),
        2,
        "20 verifications with a new kid fetched once"
    );
}

#[tokio::test]
async fn a_streamed_jwks_over_the_limit_is_refused_before_it_is_all_read() {
    const CHUNK: usize = 64 * 1024;
    const TOTAL: usize = 10 * 1024 * 1024;
    let sent = Arc::new(AtomicUsize::new(0));
    let app = Router::new().route(
        "/jwks.json",
        get({
            let sent = sent.clone();
            move || async move {
                // 160 chunks, 5 ms apart, no Content-Length: chunked transfer encoding.
                let chunks = futures::stream::unfold(0, move |n| {
                    let sent = sent.clone();
                    async move {
                        if n * CHUNK >= TOTAL {
                            return None;
                        }
                        tokio::time::sleep(Duration::from_millis(5)).await;
                        sent.fetch_add(CHUNK, Ordering::SeqCst);
                        let chunk = Bytes::from(vec![b' '; CHUNK]);
                        Some((Ok::<_, std::io::Error>(chunk), n + 1))
                    }
                });
                Body::from_stream(chunks)
            }
        }),
    );
    let url = serve(app).await;
    let remote = RemoteJwks::new(&url).unwrap();
    let refused = remote.refresh().await.unwrap_err();
    assert!(
        matches!(&refused, Error::JwksTooLarge { limit, .. } if *limit == MAX_JWKS_BYTES),
        "{refused:?}"
    );
    let sent = sent.load(Ordering::SeqCst);
    assert!(
        sent < 4 * MAX_JWKS_BYTES,
        "refused after {sent} of {TOTAL} bytes: the body was read past the limit"
    );
    assert!(remote.kids().await.is_empty());
}

#[tokio::test]
async fn an_announced_length_over_the_limit_is_refused_before_the_body() {
    let app = Router::new().route(
        "/jwks.json",
        get(|| async {
            // Announces 10 MiB, sends 2 bytes, then nothing: only the header can refuse it fast.
            let first = futures::stream::once(async { Ok::<_, std::io::Error>(Bytes::from("{}")) });
            let body = Body::from_stream(first.chain(futures::stream::pending()));
            Response::builder()
                .header(header::CONTENT_LENGTH, 10 * 1024 * 1024)
                .body(body)
                .unwrap()
        }),
    );
    let url = serve(app).await;
    let remote = RemoteJwks::new(&url).unwrap();
    let refused = tokio::time::timeout(Duration::from_secs(3), remote.refresh())
        .await
        .expect("refused from the Content-Length, without waiting for the body")
        .unwrap_err();
    assert!(matches!(refused, Error::JwksTooLarge { .. }), "{refused:?}");
}
