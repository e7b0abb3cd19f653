//! [`Error`]: what can fail while configuring the server or reading and writing its store.

use std::path::PathBuf;

/// Errors from configuration and the [`Store`](crate::Store).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A URL setting does not parse.
    #[error("the {what} is not a URL")]
    InvalidUrl {
        /// Which setting.
        what: &'static str,
        /// The cause.
        #[source]
        source: url::ParseError,
    },
    /// The issuer is not an `http(s)` URL without query and fragment.
    #[error("the issuer {0:?} must be an https (or, locally, http) URL without query or fragment")]
    Issuer(String),
    /// The store file could not be read or written.
    #[error("could not access the OAuth store {}", path.display())]
    Store {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The store file is not what this crate writes.
    #[error("the OAuth store {} is damaged; move it away to start over", path.display())]
    DamagedStore {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
    /// An access token could not be minted.
    #[error("could not mint an access token")]
    Mint(#[source] bearer_auth::Error),
}
