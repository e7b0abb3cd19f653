//! [`AuthError`]: why a request was refused, as types: [`AuthErrorKind`] says which RFC 6750
//! answer it gets, [`InvalidTokenReason`] and [`InvalidRequestReason`] say what was wrong
//! (their `Display` is the `error_description` sent to the client).

use std::fmt;

use jsonwebtoken::Algorithm;

use crate::MAX_TOKEN_BYTES;

/// Why a request was refused; the layer turns it into an RFC 6750 answer.
///
/// Match on [`AuthError::kind`] for the class of refusal, or on the variants for the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// No bearer token (no header, another scheme, or a token elsewhere than the header).
    #[error("no bearer token")]
    Missing,
    /// The Authorization header is malformed.
    #[error("invalid request: {0}")]
    InvalidRequest(InvalidRequestReason),
    /// The token is not acceptable; the reason never includes the token.
    #[error("invalid token: {reason}")]
    InvalidToken {
        /// What is wrong with it.
        reason: InvalidTokenReason,
        /// jsonwebtoken's error, when it is the one that refused the token.
        #[source]
        source: Option<jsonwebtoken::errors::Error>,
    },
    /// The token lacks a required scope.
    #[error("insufficient scope; required: {}", required.join(" "))]
    InsufficientScope {
        /// The scopes required.
        required: Vec<String>,
    },
    /// No keys to verify with (a JWKS URL that never answered).
    #[error("keys unavailable: the token signing keys could not be fetched")]
    KeysUnavailable,
}

/// The class of an [`AuthError`]: which status and RFC 6750 error code it is answered with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AuthErrorKind {
    /// No bearer token: `401` with a challenge that has no error code.
    Missing,
    /// A malformed Authorization header: `400 invalid_request`.
    InvalidRequest,
    /// A token that is not acceptable: `401 invalid_token`.
    InvalidToken,
    /// A valid token without a required scope: `403 insufficient_scope`.
    InsufficientScope,
    /// No keys to check the token with: `503`, retry later.
    KeysUnavailable,
}

impl AuthError {
    /// The class of refusal.
    pub fn kind(&self) -> AuthErrorKind {
        match self {
            Self::Missing => AuthErrorKind::Missing,
            Self::InvalidRequest(_) => AuthErrorKind::InvalidRequest,
            Self::InvalidToken { .. } => AuthErrorKind::InvalidToken,
            Self::InsufficientScope { .. } => AuthErrorKind::InsufficientScope,
            Self::KeysUnavailable => AuthErrorKind::KeysUnavailable,
        }
    }

    /// Why the token was refused, for an [`AuthErrorKind::InvalidToken`].
    pub fn invalid_token_reason(&self) -> Option<InvalidTokenReason> {
        match self {
            Self::InvalidToken { reason, .. } => Some(*reason),
            _ => None,
        }
    }

    /// A token refused for `reason`, with no underlying error.
    pub(crate) fn invalid_token(reason: InvalidTokenReason) -> Self {
        Self::InvalidToken {
            reason,
            source: None,
        }
    }
}

impl From<InvalidTokenReason> for AuthError {
    fn from(reason: InvalidTokenReason) -> Self {
        Self::invalid_token(reason)
    }
}

impl From<InvalidRequestReason> for AuthError {
    fn from(reason: InvalidRequestReason) -> Self {
        Self::InvalidRequest(reason)
    }
}

/// What is wrong with an `Authorization` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum InvalidRequestReason {
    /// More than one `Authorization` header.
    SeveralHeaders,
    /// The header value is not ASCII.
    NotAscii,
    /// `Bearer` with nothing after it.
    NoToken,
}

impl fmt::Display for InvalidRequestReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::SeveralHeaders => "send one Authorization header, not several",
            Self::NotAscii => "the Authorization header is not ASCII",
            Self::NoToken => "the Bearer scheme needs a token after it",
        })
    }
}

/// What is wrong with a bearer token. `Display` is the person-readable reason sent as
/// `error_description`; it never includes the token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum InvalidTokenReason {
    /// Longer than [`MAX_TOKEN_BYTES`]; refused before any parsing.
    TooLong,
    /// Not `header.payload.signature` with a JSON header and payload.
    Malformed,
    /// Signed with an algorithm the verifier does not accept (`none` and HMAC never are).
    WrongAlgorithm(Algorithm),
    /// Its `kid` names no key the verifier has (or it has none and there are several keys).
    UnknownKey,
    /// The signature does not verify with the key.
    BadSignature,
    /// `exp` has passed (beyond the leeway).
    Expired,
    /// `nbf` is in the future (beyond the leeway).
    NotYetValid,
    /// `iat` is in the future (beyond the leeway).
    IssuedInFuture,
    /// `iss` is not one of the accepted issuers.
    WrongIssuer,
    /// `aud` names none of the accepted audiences.
    WrongAudience,
    /// A required claim is absent (or, as jsonwebtoken counts it, of the wrong type).
    MissingClaim(&'static str),
    /// A claim is present with the wrong type.
    WrongClaimType(&'static str),
    /// Refused for another reason; the error's source says which.
    Unverifiable,
}

impl fmt::Display for InvalidTokenReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLong => write!(f, "the token is longer than {MAX_TOKEN_BYTES} bytes"),
            Self::Malformed => f.write_str("the token is not a well-formed JWT"),
            Self::WrongAlgorithm(alg) => write!(f, "tokens signed with {alg:?} are not accepted"),
            Self::UnknownKey => f.write_str("the token was signed with an unknown key (kid)"),
            Self::BadSignature => f.write_str("the token's signature does not verify"),
            Self::Expired => f.write_str("the token has expired"),
            Self::NotYetValid => f.write_str("the token is not valid yet (nbf is in the future)"),
            Self::IssuedInFuture => f.write_str(
                "the token's iat is in the future: it claims to be issued later than now",
            ),
            Self::WrongIssuer => f.write_str("the token's issuer is not accepted"),
            Self::WrongAudience => f.write_str("the token's audience is not accepted"),
            Self::MissingClaim(claim) => write!(
                f,
                "the token has no {claim} claim, which is required and must be {}",
                claim_type(claim)
            ),
            Self::WrongClaimType(claim) => {
                write!(f, "the token's {claim} claim must be {}", claim_type(claim))
            }
            Self::Unverifiable => f.write_str("the token could not be verified"),
        }
    }
}

/// The type each claim must have, for refusal messages.
fn claim_type(claim: &str) -> &'static str {
    match claim {
        "exp" | "nbf" | "iat" => "a number of seconds since the epoch",
        "iss" | "sub" | "jti" => "a string",
        "aud" => "a string or an array of strings",
        "scope" => "a space-separated string",
        "scp" => "a space-separated string or an array of strings",
        _ => "well-formed",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_follow_the_variants() {
        assert_eq!(AuthError::Missing.kind(), AuthErrorKind::Missing);
        assert_eq!(
            AuthError::from(InvalidRequestReason::NoToken).kind(),
            AuthErrorKind::InvalidRequest
        );
        let expired = AuthError::from(InvalidTokenReason::Expired);
        assert_eq!(expired.kind(), AuthErrorKind::InvalidToken);
        assert_eq!(
            expired.invalid_token_reason(),
            Some(InvalidTokenReason::Expired)
        );
        assert_eq!(AuthError::KeysUnavailable.invalid_token_reason(), None);
    }

    #[test]
    fn reasons_name_the_claim_and_its_type() {
        assert_eq!(
            InvalidTokenReason::MissingClaim("aud").to_string(),
            "the token has no aud claim, which is required and must be a string or an array of strings"
        );
        assert_eq!(
            InvalidTokenReason::MissingClaim("iss").to_string(),
            "the token has no iss claim, which is required and must be a string"
        );
        assert_eq!(
            InvalidTokenReason::WrongClaimType("nbf").to_string(),
            "the token's nbf claim must be a number of seconds since the epoch"
        );
        assert_eq!(
            InvalidTokenReason::WrongAlgorithm(Algorithm::HS256).to_string(),
            "tokens signed with HS256 are not accepted"
        );
    }
}
