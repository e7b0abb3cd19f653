//! Every way a bearer token can be wrong, each with its status and challenge, through the
//! layer on a router (`oneshot`: what is tested is the answer, not the socket).

use bearer_auth::{Audience, TokenRequest, mint_token};
use http::{StatusCode, header};
use jsonwebtoken::{EncodingKey, Header};
use serde_json::{Value, json};

use crate::support::*;

struct Case {
    name: &'static str,
    authorization: Option<String>,
    query: &'static str,
    status: StatusCode,
    /// Text the WWW-Authenticate header must contain (besides realm and resource_metadata).
    challenge: Option<&'static str>,
}

fn bearer(token: &str) -> Option<String> {
    Some(format!("Bearer {token}"))
}

/// The good claims with `"alg": "none"` and no signature.
fn none_alg_token() -> String {
    format!(
        "{}.{}.",
        b64(br#"{"alg":"none","typ":"JWT"}"#),
        b64(good_claims().to_string().as_bytes())
    )
}

/// The good claims signed with HS256 keyed by the public key's PEM (algorithm confusion),
/// naming the main key's kid.
fn confused_token() -> String {
    let main = main_key();
    let mut hs_header = Header::new(jsonwebtoken::Algorithm::HS256);
    hs_header.kid = Some(main.public().kid().to_owned());
    jsonwebtoken::encode(
        &hs_header,
        &good_claims(),
        &EncodingKey::from_secret(main.public().pem().as_bytes()).unwrap(),
    )
    .unwrap()
}

fn cases() -> Vec<Case> {
    let main = main_key();
    let kid = Some(main.public().kid());
    let now = now();
    let with = |changes: Value| {
        let mut claims = good_claims();
        for (k, v) in changes.as_object().unwrap() {
            claims[k] = v.clone();
        }
        claims
    };
    let without = |name: &str| {
        let mut claims = good_claims();
        claims.as_object_mut().unwrap().remove(name);
        claims
    };
    let good = sign(main, kid, &good_claims());
    let none_alg = none_alg_token();
    let confused = confused_token();
    let mut parts: Vec<&str> = good.split('.').collect();
    let tampered_payload = b64(with(json!({"sub": "admin"})).to_string().as_bytes());
    parts[1] = &tampered_payload;
    let tampered = parts.join(".");

    let invalid = Some("invalid_token");
    vec![
        Case {
            name: "no header",
            authorization: None,
            query: "",
            status: StatusCode::UNAUTHORIZED,
            challenge: None,
        },
        Case {
            name: "Basic scheme",
            authorization: Some("Basic dXNlcjpwYXNz".into()),
            query: "",
            status: StatusCode::UNAUTHORIZED,
            challenge: None,
        },
        Case {
            name: "garbage",
            authorization: bearer("not-a-jwt"),
            query: "",
            status: StatusCode::UNAUTHORIZED,
            challenge: invalid,
        },
        Case {
            name: "other key's signature",
            authorization: bearer(&sign(other_key(), kid, &good_claims())),
            query: "",
            status: StatusCode::UNAUTHORIZED,
            challenge: invalid,
        },
        Case {
            name: "expired",
            authorization: bearer(&sign(
                main,
                kid,
                &with(json!({"iat": now - 7200, "nbf": now - 7200, "exp": now - 120})),
            )),
            query: "",
            status: StatusCode::UNAUTHORIZED,
            challenge: invalid,
        },
        Case {
            name: "nbf in the future",
            authorization: bearer(&sign(
                main,
                kid,
                &with(json!({"nbf": now + 600, "exp": now + 1200})),
            )),
            query: "",
            status: StatusCode::UNAUTHORIZED,
            challenge: invalid,
        },
        Case {
            name: "no exp",
            authorization: bearer(&sign(main, kid, &without("exp"))),
            query: "",
            status: StatusCode::UNAUTHORIZED,
            challenge: invalid,
        },
        Case {
            name: "no aud while audiences are configured",
            authorization: bearer(&sign(main, kid, &without("aud"))),
            query: "",
            status: StatusCode::UNAUTHORIZED,
            challenge: invalid,
        },
        Case {
            name: "no iss while issuers are configured",
            authorization: bearer(&sign(main, kid, &without("iss"))),
            query: "",
            status: StatusCode::UNAUTHORIZED,
            challenge: invalid,
        },
        Case {
            name: "iat in the future",
            authorization: bearer(&sign(
                main,
                kid,
                &with(json!({"iat": now + 600, "exp": now + 1200})),
            )),
            query: "",
            status: StatusCode::UNAUTHORIZED,
            challenge: invalid,
        },
        Case {
            name: "exp as a string",
            authorization: bearer(&sign(
                main,
                kid,
                &with(json!({"exp": (now + 600).to_string()})),
            )),
            query: "",
            status: StatusCode::UNAUTHORIZED,
            challenge: invalid,
        },
        Case {
            name: "iat as a string",
            authorization: bearer(&sign(main, kid, &with(json!({"iat": now.to_string()})))),
            query: "",
            status: StatusCode::UNAUTHORIZED,
            challenge: invalid,
        },
        Case {
            name: "iss as an array holding the accepted issuer",
            authorization: bearer(&sign(main, kid, &with(json!({"iss": [ISSUER]})))),
            query: "",
            status: StatusCode::UNAUTHORIZED,
            challenge: invalid,
        },
        Case {
            name: "scope as a number",
            authorization: bearer(&sign(main, kid, &with(json!({"scope": 7})))),
            query: "",
            status: StatusCode::UNAUTHORIZED,
            challenge: invalid,
        },
        Case {
            name: "wrong iss",
            authorization: bearer(&sign(main, kid, &with(json!({"iss": "someone-else"})))),
            query: "",
            status: StatusCode::UNAUTHORIZED,
            challenge: invalid,
        },
        Case {
            name: "wrong aud",
            authorization: bearer(&sign(
                main,
                kid,
                &with(json!({"aud": "https://elsewhere/mcp"})),
            )),
            query: "",
            status: StatusCode::UNAUTHORIZED,
            challenge: invalid,
        },
        Case {
            name: "missing scope",
            authorization: bearer(&sign(main, kid, &with(json!({"scope": "other"})))),
            query: "",
            status: StatusCode::FORBIDDEN,
            challenge: Some("insufficient_scope"),
        },
        Case {
            name: "alg none",
            authorization: bearer(&none_alg),
            query: "",
            status: StatusCode::UNAUTHORIZED,
            challenge: invalid,
        },
        Case {
            name: "HS256 with the public key as secret",
            authorization: bearer(&confused),
            query: "",
            status: StatusCode::UNAUTHORIZED,
            challenge: invalid,
        },
        Case {
            name: "tampered payload",
            authorization: bearer(&tampered),
            query: "",
            status: StatusCode::UNAUTHORIZED,
            challenge: invalid,
        },
        Case {
            name: "unknown kid",
            authorization: bearer(&sign(
                other_key(),
                Some(other_key().public().kid()),
                &good_claims(),
            )),
            query: "",
            status: StatusCode::UNAUTHORIZED,
            challenge: invalid,
        },
        Case {
            name: "token only in ?access_token=",
            authorization: None,
            query: "?access_token=TOKEN",
            status: StatusCode::UNAUTHORIZED,
            challenge: None,
        },
        Case {
            name: "16 KiB header",
            authorization: bearer(&"a".repeat(16 * 1024)),
            query: "",
            status: StatusCode::UNAUTHORIZED,
            challenge: invalid,
        },
        Case {
            name: "empty bearer",
            authorization: Some("Bearer ".into()),
            query: "",
            status: StatusCode::BAD_REQUEST,
            challenge: Some("invalid_request"),
        },
        Case {
            name: "valid",
            authorization: bearer(&good),
            query: "",
            status: StatusCode::OK,
            challenge: None,
        },
        Case {
            name: "lowercase bearer",
            authorization: Some(format!("bearer {good}")),
            query: "",
            status: StatusCode::OK,
            challenge: None,
        },
    ]
}

#[tokio::test]
async fn every_bad_token_gets_the_rfc_6750_answer_and_good_ones_pass() {
    let app = protected_app(main_key().public().clone(), verifier_config());
    let good = sign(main_key(), Some(main_key().public().kid()), &good_claims());
    for case in cases() {
        let query = case.query.replace("TOKEN", &good);
        let answer = get(
            &app,
            &format!("/whoami{query}"),
            case.authorization.as_deref(),
        )
        .await;
        assert_eq!(answer.status, case.status, "{}", case.name);
        let challenge = answer.challenge();
        let connection = answer
            .headers
            .get(header::CONNECTION)
            .map(|v| v.to_str().unwrap().to_owned());
        if case.status != StatusCode::OK {
            // The body was not read: the connection must not be reused.
            assert_eq!(connection.as_deref(), Some("close"), "{}", case.name);
        }
        let body = answer.body;
        if case.status == StatusCode::OK {
            assert!(challenge.is_none(), "{}", case.name);
            assert_eq!(
                body["sub"], "tester",
                "{}: claims reach the handler",
                case.name
            );
            continue;
        }
        let challenge = challenge.unwrap_or_else(|| panic!("{}: no WWW-Authenticate", case.name));
        assert!(
            challenge.starts_with("Bearer realm=\"dice-mcp\""),
            "{}: {challenge}",
            case.name
        );
        assert!(
            challenge.contains(r#"resource_metadata="http://resource.test/.well-known/oauth-protected-resource/mcp""#),
            "{}: {challenge}",
            case.name
        );
        match case.challenge {
            Some(code) => {
                assert!(
                    challenge.contains(&format!("error=\"{code}\"")),
                    "{}: {challenge}",
                    case.name
                );
                assert!(
                    challenge.contains("error_description=\""),
                    "{}: {challenge}",
                    case.name
                );
                assert_eq!(body["error"], code, "{}", case.name);
            }
            None => assert!(!challenge.contains("error="), "{}: {challenge}", case.name),
        }
        assert!(
            body["error_description"]
                .as_str()
                .is_some_and(|d| !d.is_empty()),
            "{}",
            case.name
        );
        if let Some(value) = &case.authorization
            && let Some(token) = value.split(' ').nth(1)
            && token.len() > 20
        {
            assert!(
                !challenge.contains(token),
                "{}: the challenge echoes the token",
                case.name
            );
            assert!(
                !body.to_string().contains(token),
                "{}: the body echoes the token",
                case.name
            );
        }
    }
}

/// The `error_description` of each refusal, word for word (in the body and the challenge):
/// clients show it to people, and `dice-mcp check` repeats it.
#[tokio::test]
async fn refusals_say_what_is_wrong_in_their_error_description() {
    let app = protected_app(main_key().public().clone(), verifier_config());
    let main = main_key();
    let kid = Some(main.public().kid());
    let now = now();
    let with = |changes: Value| {
        let mut claims = good_claims();
        for (k, v) in changes.as_object().unwrap() {
            claims[k] = v.clone();
        }
        claims
    };
    let cases = [
        (
            "Bearer ".to_owned(),
            "the Bearer scheme needs a token after it",
        ),
        (
            "Bearer not-a-jwt".to_owned(),
            "the token is not a well-formed JWT",
        ),
        (
            format!("Bearer {}", none_alg_token()),
            "the token is not a well-formed JWT",
        ),
        (
            format!("Bearer {}", confused_token()),
            "tokens signed with HS256 are not accepted",
        ),
        (
            format!("Bearer {}", "a".repeat(16 * 1024)),
            "the token is longer than 8192 bytes",
        ),
        (
            format!("Bearer {}", sign(other_key(), kid, &good_claims())),
            "the token's signature does not verify",
        ),
        (
            format!(
                "Bearer {}",
                sign(
                    other_key(),
                    Some(other_key().public().kid()),
                    &good_claims()
                )
            ),
            "the token was signed with an unknown key (kid)",
        ),
        (
            format!(
                "Bearer {}",
                sign(main, kid, &with(json!({"exp": now - 120})))
            ),
            "the token has expired",
        ),
        (
            format!(
                "Bearer {}",
                sign(main, kid, &with(json!({"nbf": now + 600})))
            ),
            "the token is not valid yet (nbf is in the future)",
        ),
        (
            format!(
                "Bearer {}",
                sign(main, kid, &with(json!({"iat": now + 600})))
            ),
            "the token's iat is in the future: it claims to be issued later than now",
        ),
        (
            format!(
                "Bearer {}",
                sign(main, kid, &with(json!({"iss": "someone-else"})))
            ),
            "the token's issuer is not accepted",
        ),
        (
            format!(
                "Bearer {}",
                sign(main, kid, &with(json!({"aud": "https://elsewhere/mcp"})))
            ),
            "the token's audience is not accepted",
        ),
        (
            format!(
                "Bearer {}",
                sign(main, kid, &with(json!({"exp": (now + 600).to_string()})))
            ),
            "the token has no exp claim, which is required and must be a number of seconds since the epoch",
        ),
        (
            format!(
                "Bearer {}",
                sign(main, kid, &with(json!({"iss": [ISSUER]})))
            ),
            "the token's iss claim must be a string",
        ),
        (
            format!("Bearer {}", sign(main, kid, &with(json!({"scope": 7})))),
            "the token's scope claim must be a space-separated string",
        ),
        (
            format!(
                "Bearer {}",
                sign(main, kid, &with(json!({"scope": "other"})))
            ),
            "the token lacks a required scope: dice:roll",
        ),
    ];
    for (authorization, description) in cases {
        let answer = get(&app, "/whoami", Some(&authorization)).await;
        let challenge = answer.challenge().unwrap();
        assert_eq!(answer.body["error_description"], description, "{challenge}");
        assert!(
            challenge.contains(&format!("error_description=\"{description}\"")),
            "{challenge}"
        );
    }
}

#[tokio::test]
async fn insufficient_scope_names_the_required_scope() {
    let app = protected_app(main_key().public().clone(), verifier_config());
    let mut claims = good_claims();
    claims["scope"] = json!("read");
    let token = sign(main_key(), Some(main_key().public().kid()), &claims);
    let answer = get(&app, "/whoami", bearer(&token).as_deref()).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    let challenge = answer.challenge().unwrap();
    assert!(challenge.contains(r#"scope="dice:roll""#), "{challenge}");
}

#[tokio::test]
async fn minted_tokens_pass_with_audience_lists_and_extra_claims() {
    let app = protected_app(main_key().public().clone(), verifier_config());
    let request = TokenRequest::new("minted", ISSUER, std::time::Duration::from_secs(60))
        .with_audience(Audience::Many(vec!["other".into(), RESOURCE.into()]))
        .with_scopes([SCOPE, "extra"])
        .with_claim("team", json!("dice"));
    let token = mint_token(main_key(), &request).unwrap();
    let answer = get(&app, "/whoami", bearer(&token).as_deref()).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.body["sub"], "minted");
    assert_eq!(answer.body["scopes"], json!(["dice:roll", "extra"]));

    let header = jsonwebtoken::decode_header(&token).unwrap();
    assert_eq!(header.kid.as_deref(), Some(main_key().public().kid()));
    let claims = jsonwebtoken::dangerous::insecure_decode::<Value>(&token)
        .unwrap()
        .claims;
    assert_eq!(claims["aud"], json!(["other", RESOURCE]));
    assert_eq!(claims["team"], "dice");
    assert_eq!(claims["iss"], ISSUER);
    assert_eq!(claims["scope"], "dice:roll extra");
    let (iat, nbf, exp) = (
        claims["iat"].as_u64().unwrap(),
        claims["nbf"].as_u64().unwrap(),
        claims["exp"].as_u64().unwrap(),
    );
    assert_eq!((nbf, exp - iat), (iat, 60));
    assert!(claims["jti"].as_str().unwrap().len() >= 16);
    let again = mint_token(main_key(), &request).unwrap();
    let jti_again = jsonwebtoken::dangerous::insecure_decode::<Value>(&again)
        .unwrap()
        .claims["jti"]
        .clone();
    assert_ne!(claims["jti"], jti_again, "every token gets its own jti");
}

#[tokio::test]
async fn metadata_is_public_and_follows_rfc_9728() {
    let app = protected_app(main_key().public().clone(), verifier_config());
    for path in [
        "/.well-known/oauth-protected-resource",
        "/.well-known/oauth-protected-resource/mcp",
    ] {
        let answer = get(&app, path, None).await;
        assert_eq!(answer.status, StatusCode::OK, "{path}");
        let body = answer.body;
        assert_eq!(body["resource"], RESOURCE);
        assert_eq!(body["bearer_methods_supported"], json!(["header"]));
        assert_eq!(body["scopes_supported"], json!([SCOPE]));
        assert!(body.get("authorization_servers").is_none());
    }
}
