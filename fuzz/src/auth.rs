//! The `authorization_header` and `jwks_document` targets: bearer-auth's layer, verifier and
//! JWKS parsing, with a fixed test key so signed inputs replay.

use std::{
    convert::Infallible,
    sync::LazyLock,
    time::{SystemTime, UNIX_EPOCH},
};

use axum::body::Body;
use base64::{
    Engine,
    engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig, general_purpose},
};
use bearer_auth::{
    BearerAuth, KeySet, KeySource, RsaKeyPair, VerifiedClaims, Verifier, VerifierConfig,
};
use http::{HeaderValue, Request, Response, StatusCode, header};
use jsonwebtoken::{Algorithm, EncodingKey, Header, jwk::AlgorithmParameters};
use serde_json::{Value, json};
use tower::{Service, ServiceBuilder, ServiceExt, service_fn};

use crate::harness;

/// A key made for these targets and used nowhere else; its private half is public on
/// purpose, so the committed seeds can carry tokens it signed.
const TEST_PRIVATE_KEY: &str = include_str!("../keys/test-only-private.pem");
const ISSUER: &str = "fuzz-issuer";
const AUDIENCE: &str = "fuzz-audience";
const SCOPE: &str = "dice:roll";
/// 2100-01-01: the harness's own tokens do not expire while anyone fuzzes.
const FAR_FUTURE: u64 = 4_102_444_800;

struct TestKey {
    pair: RsaKeyPair,
    encoding: EncodingKey,
    /// HS256 keyed by the public key's PEM: what an algorithm-confusion attacker signs with.
    confused: EncodingKey,
    /// The modulus, big-endian, without leading zeros.
    modulus: Vec<u8>,
}

#[allow(
    clippy::expect_used,
    reason = "a committed key that parses; the harness has nothing to fuzz without it"
)]
static KEY: LazyLock<TestKey> = LazyLock::new(|| {
    let pair = RsaKeyPair::from_private_pem(TEST_PRIVATE_KEY).expect("the test key parses");
    let encoding =
        EncodingKey::from_rsa_pem(TEST_PRIVATE_KEY.as_bytes()).expect("the test key signs");
    let AlgorithmParameters::RSA(rsa) = &pair.public().jwk().algorithm else {
        panic!("the test key is not RSA");
    };
    let modulus = decode_unsigned(&rsa.n).expect("the test key's modulus decodes");
    let confused = EncodingKey::from_secret(pair.public().pem().as_bytes())
        .expect("any bytes are an HMAC secret");
    TestKey {
        pair,
        encoding,
        confused,
        modulus,
    }
});

/// base64url as leniently as anyone might read it: padding or not, stray trailing bits.
const LENIENT_BASE64URL: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// A base64url big-endian unsigned integer, leading zeros dropped.
fn decode_unsigned(text: &str) -> Option<Vec<u8>> {
    let bytes = LENIENT_BASE64URL.decode(text).ok()?;
    let start = bytes
        .iter()
        .position(|byte| *byte != 0)
        .unwrap_or(bytes.len());
    Some(bytes[start..].to_vec())
}

fn b64(bytes: &[u8]) -> String {
    general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}

/// `header.payload.signature` over the raw bytes given, signed with `algorithm` and `key`.
fn sign_raw(header: &[u8], payload: &[u8], key: &EncodingKey, algorithm: Algorithm) -> String {
    let message = format!("{}.{}", b64(header), b64(payload));
    let signature = jsonwebtoken::crypto::sign(message.as_bytes(), key, algorithm)
        .unwrap_or_else(|error| panic!("the harness could not sign: {error}"));
    format!("{message}.{signature}")
}

/// The protected service: bearer-auth's layer, as the launcher configures it (issuer,
/// audience and scope all required), in front of a handler that checks what it was let
/// through.
type Protected = tower::util::BoxCloneSyncService<Request<Body>, Response<Body>, Infallible>;

#[allow(clippy::expect_used, reason = "a fixed, valid verifier config")]
static PROTECTED: LazyLock<Protected> = LazyLock::new(|| {
    let config = VerifierConfig {
        issuers: vec![ISSUER.into()],
        audiences: vec![AUDIENCE.into()],
        required_scopes: vec![SCOPE.into()],
        ..VerifierConfig::default()
    };
    let keys = KeySource::public_key(KEY.pair.public().clone());
    let verifier = Verifier::new(keys, config).expect("the fuzz verifier config is valid");
    let auth = BearerAuth::new(verifier, "dice-mcp")
        .with_resource_metadata("http://localhost/.well-known/oauth-protected-resource/mcp");
    let service = ServiceBuilder::new()
        .layer(auth.layer())
        .service(service_fn(|request: Request<Body>| async move {
            check_let_through(&request);
            Ok::<_, Infallible>(Response::new(Body::from("let through")))
        }));
    tower::util::BoxCloneSyncService::new(service)
});

/// What a request the layer let through must carry: verified claims that meet every
/// requirement, from a token whose header names RS256.
fn check_let_through(request: &Request<Body>) {
    let claims = request
        .extensions()
        .get::<VerifiedClaims>()
        .unwrap_or_else(|| panic!("let through without verified claims"));
    let leeway = bearer_auth::DEFAULT_LEEWAY.as_secs();
    let now = unix_now();
    assert_eq!(claims.issuer.as_deref(), Some(ISSUER), "{claims:?}");
    assert!(claims.has_scope(SCOPE), "{claims:?}");
    let audience_ok = claims
        .audience
        .as_ref()
        .is_some_and(|audience| audience.iter().any(|aud| aud == AUDIENCE));
    assert!(audience_ok, "let through with aud {:?}", claims.audience);
    assert!(
        claims.expires_at.saturating_add(leeway) >= now,
        "let through expired: {claims:?}"
    );
    for (name, seconds) in [("nbf", claims.not_before), ("iat", claims.issued_at)] {
        if let Some(seconds) = seconds {
            assert!(
                seconds <= now.saturating_add(leeway),
                "let through with {name} {seconds}"
            );
        }
    }
    let token = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().split_once(' '))
        .map(|(_, token)| token.trim())
        .unwrap_or_else(|| panic!("let through without a bearer token"));
    let token_header = token
        .split('.')
        .next()
        .and_then(|part| LENIENT_BASE64URL.decode(part).ok())
        .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok())
        .unwrap_or_else(|| panic!("let through a token whose header does not decode"));
    assert_eq!(token_header["alg"], "RS256", "let through {token_header}");
}

/// Sends an `Authorization` header through bearer-auth's layer.
///
/// The first byte chooses how the rest becomes the header: 0 as it is; 1 as the payload of
/// a token signed with the test key (RS256, its `kid`); 2 as `header`, newline, `payload`
/// of a token signed with the test key (RS256); 3 the same, signed with HS256 keyed by the
/// public key's PEM (the algorithm-confusion attack), which must never pass. The claims
/// are checked whenever the signature is good, so the fuzzer reaches them.
///
/// Checks: the answer is 200, 400, 401 or 403 (never 5xx); a refusal carries a
/// `WWW-Authenticate` challenge and a JSON error; no token is echoed in the answer; a
/// request let through has claims that meet the issuer, audience, scope and time rules,
/// from an RS256 token; nothing panics.
pub fn authorization_header(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let value: Vec<u8> = match mode % 4 {
        0 => rest.to_vec(),
        1 => {
            let header = json!({"alg": "RS256", "typ": "JWT", "kid": KEY.pair.public().kid()});
            let token = sign_raw(
                header.to_string().as_bytes(),
                rest,
                &KEY.encoding,
                Algorithm::RS256,
            );
            format!("Bearer {token}").into_bytes()
        }
        signed => {
            let (header, payload) = match rest.iter().position(|byte| *byte == b'\n') {
                Some(at) => (&rest[..at], &rest[at + 1..]),
                None => (rest, &b"{}"[..]),
            };
            let token = if signed == 2 {
                sign_raw(header, payload, &KEY.encoding, Algorithm::RS256)
            } else {
                sign_raw(header, payload, &KEY.confused, Algorithm::HS256)
            };
            format!("Bearer {token}").into_bytes()
        }
    };
    // hyper refuses header values with control characters before any layer sees them.
    let Ok(value) = HeaderValue::from_bytes(&value) else {
        return;
    };
    let request = Request::builder()
        .uri("/mcp")
        .header(header::AUTHORIZATION, value.clone())
        .body(Body::empty())
        .unwrap_or_else(|error| panic!("could not build the request: {error}"));
    let response = harness::block_on(async {
        let mut service = PROTECTED.clone();
        let ready = service.ready().await.unwrap_or_else(|never| match never {});
        ready
            .call(request)
            .await
            .unwrap_or_else(|never| match never {})
    });
    let status = response.status();
    assert!(
        [
            StatusCode::OK,
            StatusCode::BAD_REQUEST,
            StatusCode::UNAUTHORIZED,
            StatusCode::FORBIDDEN
        ]
        .contains(&status),
        "answered {status}"
    );
    if mode % 4 == 3 {
        assert_ne!(
            status,
            StatusCode::OK,
            "an HS256 token keyed by the public key passed"
        );
    }
    let challenge = response
        .headers()
        .get(header::WWW_AUTHENTICATE)
        .map(|challenge| String::from_utf8_lossy(challenge.as_bytes()).into_owned());
    let body = harness::block_on(async {
        http_body_util::BodyExt::collect(response.into_body())
            .await
            .unwrap_or_else(|error| panic!("the answer's body failed: {error}"))
            .to_bytes()
    });
    let body = String::from_utf8_lossy(&body).into_owned();
    if status != StatusCode::OK {
        let challenge = challenge.unwrap_or_else(|| panic!("a {status} without a challenge"));
        assert!(challenge.starts_with("Bearer "), "challenge {challenge}");
        let error: Value = serde_json::from_str(&body)
            .unwrap_or_else(|error| panic!("a {status} whose body is not JSON ({error}): {body}"));
        assert!(error["error"].is_string(), "{body}");
        // Long words only: a short one ("a", "Bearer") may be in any message by chance.
        let sent = String::from_utf8_lossy(value.as_bytes()).into_owned();
        for word in sent
            .split_ascii_whitespace()
            .filter(|word| word.len() >= 24)
        {
            assert!(!challenge.contains(word), "the challenge echoes the token");
            assert!(!body.contains(word), "the error body echoes the token");
        }
    }
}

/// Tokens signed with the test key, one per way a JWKS can name it: by its thumbprint,
/// without `kid` (matched when the set holds one key), and by a chosen `kid`.
static TOKENS: LazyLock<[String; 3]> = LazyLock::new(|| {
    let claims = json!({"sub": "fuzz", "iss": ISSUER, "exp": FAR_FUTURE});
    let payload = claims.to_string();
    let header = |kid: Option<&str>| {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = kid.map(str::to_owned);
        serde_json::to_vec(&header)
            .unwrap_or_else(|error| panic!("could not encode a JWT header: {error}"))
    };
    [Some(KEY.pair.public().kid()), None, Some("fuzz-kid")].map(|kid| {
        sign_raw(
            &header(kid),
            payload.as_bytes(),
            &KEY.encoding,
            Algorithm::RS256,
        )
    })
});

/// Parses the input as a JWKS document (as `--jwks` reads a file or a URL's body), then
/// verifies the harness's tokens against the keys it yielded.
///
/// Checks: nothing panics; a set that parses names at least one key; a token verifies only
/// when the document holds the test key's modulus (in any base64url spelling).
pub fn jwks_document(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(set) = KeySet::from_jwks_json(text) else {
        return;
    };
    assert!(set.kids().next().is_some(), "a key set with no key");
    let config = VerifierConfig {
        cache_capacity: 0,
        ..VerifierConfig::default()
    };
    let verifier = Verifier::new(set, config)
        .unwrap_or_else(|error| panic!("could not build a verifier: {error}"));
    for token in TOKENS.iter() {
        let verified = harness::block_on(verifier.verify(token));
        if verified.is_ok() {
            let document: Value = serde_json::from_str(text)
                .unwrap_or_else(|error| panic!("a JWKS that parsed is not JSON: {error}"));
            assert!(
                holds_modulus(&document, &KEY.modulus),
                "a token verified against a JWKS without its key"
            );
        }
    }
}

/// Whether any string in `value` is a base64url spelling of `modulus`.
fn holds_modulus(value: &Value, modulus: &[u8]) -> bool {
    match value {
        Value::String(text) => decode_unsigned(text).is_some_and(|bytes| bytes == modulus),
        Value::Array(items) => items.iter().any(|item| holds_modulus(item, modulus)),
        Value::Object(fields) => fields.values().any(|item| holds_modulus(item, modulus)),
        _ => false,
    }
}
