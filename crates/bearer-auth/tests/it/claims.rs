//! Claims the operator configured must be present and well-typed; refusals name the claim.

use std::time::Duration;

use bearer_auth::{AuthError, AuthErrorKind, Verifier, VerifierConfig};
use serde_json::{Value, json};

use crate::support::*;

fn verifier(config: VerifierConfig) -> Verifier {
    Verifier::new(main_key().public().clone(), config).unwrap()
}

/// `good_claims()` with `changes` applied; a `null` change removes the claim.
fn claims_with(changes: Value) -> Value {
    let mut claims = good_claims();
    let map = claims.as_object_mut().unwrap();
    for (name, value) in changes.as_object().unwrap() {
        if value.is_null() {
            map.remove(name);
        } else {
            map.insert(name.clone(), value.clone());
        }
    }
    claims
}

fn token(claims: &Value) -> String {
    sign(main_key(), Some(main_key().public().kid()), claims)
}

#[tokio::test]
async fn missing_or_mistyped_claims_are_refused_with_a_reason_naming_the_claim() {
    let verifier = verifier(verifier_config());
    let now = now();
    // (what is wrong, claim changes, text the reason must contain)
    let cases = [
        ("no aud", json!({"aud": null}), "aud"),
        ("aud a number", json!({"aud": 5}), "aud"),
        ("aud an array of numbers", json!({"aud": [5]}), "aud"),
        ("no iss", json!({"iss": null}), "iss"),
        ("iss a number", json!({"iss": 5}), "iss"),
        ("iss an array", json!({"iss": [ISSUER]}), "iss"),
        ("no exp", json!({"exp": null}), "exp"),
        (
            "exp a string",
            json!({"exp": (now + 600).to_string()}),
            "exp",
        ),
        ("nbf a string", json!({"nbf": now.to_string()}), "nbf"),
        ("nbf in the future", json!({"nbf": now + 600}), "nbf"),
        ("iat a string", json!({"iat": now.to_string()}), "iat"),
        ("iat negative", json!({"iat": -1}), "iat"),
        ("iat in the future", json!({"iat": now + 600}), "iat"),
        ("scope a number", json!({"scope": 7}), "scope"),
        ("scope an array", json!({"scope": [SCOPE]}), "scope"),
        ("scp a number", json!({"scope": null, "scp": 7}), "scp"),
        (
            "scp an array with a number",
            json!({"scope": null, "scp": [SCOPE, 7]}),
            "scp",
        ),
    ];
    for (what, changes, claim) in cases {
        let token = token(&claims_with(changes));
        match verifier.verify(&token).await {
            Err(AuthError::InvalidToken { reason, .. }) => {
                let reason = reason.to_string();
                assert!(
                    reason.contains(claim),
                    "{what}: {reason:?} names no {claim}"
                );
                assert!(
                    !reason.contains(&token),
                    "{what}: the reason echoes the token"
                );
            }
            other => panic!("{what}: expected invalid_token, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_missing_scope_claim_is_insufficient_scope() {
    let verifier = verifier(verifier_config());
    let refused = verifier
        .verify(&token(&claims_with(json!({"scope": null}))))
        .await;
    assert_eq!(
        refused.map_err(|error| error.kind()).err(),
        Some(AuthErrorKind::InsufficientScope)
    );
}

#[tokio::test]
async fn times_within_the_leeway_and_the_allowed_shapes_pass() {
    let verifier = verifier(VerifierConfig {
        leeway: Duration::from_secs(30),
        ..verifier_config()
    });
    let now = now();
    for (what, changes) in [
        (
            "iat and nbf 10 s ahead",
            json!({"iat": now + 10, "nbf": now + 10}),
        ),
        ("iat as a fraction", json!({"iat": now as f64 - 0.5})),
        ("no iat, no nbf", json!({"iat": null, "nbf": null})),
        ("aud as an array", json!({"aud": ["other", RESOURCE]})),
        ("scp as an array", json!({"scope": null, "scp": [SCOPE]})),
        ("scp as a string", json!({"scope": null, "scp": SCOPE})),
    ] {
        let verified = verifier.verify(&token(&claims_with(changes))).await;
        assert!(verified.is_ok(), "{what}: {verified:?}");
    }
}

#[tokio::test]
async fn unconfigured_aud_and_iss_stay_optional() {
    let verifier = verifier(VerifierConfig::default());
    let verified = verifier
        .verify(&token(&claims_with(json!({"aud": null, "iss": null}))))
        .await;
    assert!(verified.is_ok(), "{verified:?}");
}
