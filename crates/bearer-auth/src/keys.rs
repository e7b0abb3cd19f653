//! [`RsaKeyPair`] and [`PublicKey`]: generate, load and save RSA keys as PEM, export JWK/JWKS.

use std::{
    fs,
    io::Write,
    path::{Path, PathBuf},
};

use jsonwebtoken::{
    Algorithm, DecodingKey, EncodingKey,
    jwk::{
        AlgorithmParameters, CommonParameters, Jwk, JwkSet, KeyAlgorithm, PublicKeyUse,
        RSAKeyParameters, RSAKeyType, ThumbprintHash,
    },
};
use rsa::{
    PrivateKey as RsaPrivateKey, PublicKey as RsaPublicKey,
    pkcs1::DecodeRsaPublicKey,
    pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey, LineEnding},
    traits::PublicKeyParts,
};

use crate::Error;

/// Key sizes [`RsaKeyPair::generate`] accepts.
pub const ALLOWED_BITS: [usize; 3] = [2048, 3072, 4096];
/// Default key size.
pub const DEFAULT_BITS: usize = 2048;

/// File names [`RsaKeyPair::save`] writes.
pub const PRIVATE_KEY_FILE: &str = "private.pem";
/// See [`PRIVATE_KEY_FILE`].
pub const PUBLIC_KEY_FILE: &str = "public.pem";
/// See [`PRIVATE_KEY_FILE`].
pub const JWKS_FILE: &str = "jwks.json";

/// An RSA public key, as a verifier needs it: PEM, JWK and the decoding key, with its
/// RFC 7638 thumbprint as key id.
#[derive(Clone)]
pub struct PublicKey {
    pem: String,
    jwk: Jwk,
    kid: String,
    decoding: DecodingKey,
}

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PublicKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl PublicKey {
    fn from_rsa(key: &RsaPublicKey) -> Result<Self, Error> {
        let pem = key
            .to_public_key_pem(LineEnding::LF)
            .map_err(Error::EncodePublicKey)?;
        // JWK integers are unsigned big-endian without leading zeros (RFC 7518 §6.3.1).
        let n = base64url(strip_leading_zeros(&key.n_bytes()));
        let e = base64url(strip_leading_zeros(&key.e_bytes()));
        let mut jwk = Jwk {
            common: CommonParameters {
                public_key_use: Some(PublicKeyUse::Signature),
                key_algorithm: Some(KeyAlgorithm::RS256),
                ..CommonParameters::default()
            },
            algorithm: AlgorithmParameters::RSA(RSAKeyParameters {
                key_type: RSAKeyType::RSA,
                n: n.clone(),
                e: e.clone(),
            }),
        };
        let kid = jwk
            .thumbprint(ThumbprintHash::SHA256)
            .map_err(Error::Thumbprint)?;
        jwk.common.key_id = Some(kid.clone());
        let decoding = DecodingKey::from_rsa_components(&n, &e).map_err(Error::UnusableKey)?;
        Ok(Self {
            pem,
            jwk,
            kid,
            decoding,
        })
    }

    /// Parses an SPKI (`PUBLIC KEY`) or PKCS#1 (`RSA PUBLIC KEY`) PEM.
    pub fn from_pem(pem: &str) -> Result<Self, Error> {
        let key = match RsaPublicKey::from_public_key_pem(pem) {
            Ok(key) => key,
            Err(spki) => {
                RsaPublicKey::from_pkcs1_pem(pem).map_err(|_| Error::NotPublicKeyPem(spki))?
            }
        };
        Self::from_rsa(&key)
    }

    /// Reads [`Self::from_pem`] from a file.
    pub fn load(path: &Path) -> Result<Self, Error> {
        let pem = read(path)?;
        Self::from_pem(&pem).map_err(|e| e.in_file(path))
    }

    /// Builds a key from a JWK (RSA only); its `kid` is kept if present, else the thumbprint.
    pub fn from_jwk(jwk: &Jwk) -> Result<Self, Error> {
        let AlgorithmParameters::RSA(rsa) = &jwk.algorithm else {
            return Err(Error::NotRsaKey);
        };
        let decoding =
            DecodingKey::from_rsa_components(&rsa.n, &rsa.e).map_err(Error::UnusableKey)?;
        let kid = match &jwk.common.key_id {
            Some(kid) => kid.clone(),
            None => jwk
                .thumbprint(ThumbprintHash::SHA256)
                .map_err(Error::Thumbprint)?,
        };
        let pem = jwk_public_pem(rsa)?;
        Ok(Self {
            pem,
            jwk: jwk.clone(),
            kid,
            decoding,
        })
    }

    /// The key id: the RFC 7638 SHA-256 thumbprint (or the JWK's own `kid`).
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The SPKI PEM (for a key from a JWK, encoded from its modulus and exponent).
    pub fn pem(&self) -> &str {
        &self.pem
    }

    /// The key as a JWK with `kid`, `use: sig`, `alg: RS256`.
    pub fn jwk(&self) -> &Jwk {
        &self.jwk
    }

    pub(crate) fn decoding_key(&self) -> &DecodingKey {
        &self.decoding
    }
}

/// An RSA key pair for signing dev tokens (FastMCP's `RSAKeyPair`, in Rust).
///
/// ```
/// use bearer_auth::RsaKeyPair;
/// let pair = RsaKeyPair::generate(2048).unwrap();
/// assert!(pair.private_pem().starts_with("-----BEGIN PRIVATE KEY-----"));
/// assert_eq!(pair.public().kid().len(), 43); // base64url SHA-256
/// ```
#[derive(Clone)]
pub struct RsaKeyPair {
    private_pem: String,
    encoding: EncodingKey,
    public: PublicKey,
}

impl std::fmt::Debug for RsaKeyPair {
    /// Never prints the private key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RsaKeyPair")
            .field("kid", &self.public.kid)
            .finish_non_exhaustive()
    }
}

impl RsaKeyPair {
    /// Generates a key pair of 2048, 3072 or 4096 bits from the OS-seeded CSPRNG.
    pub fn generate(bits: usize) -> Result<Self, Error> {
        if !ALLOWED_BITS.contains(&bits) {
            return Err(Error::KeySize(bits));
        }
        let private = RsaPrivateKey::new(&mut rand::rng(), bits).map_err(Error::Generate)?;
        Self::from_rsa(private)
    }

    fn from_rsa(private: RsaPrivateKey) -> Result<Self, Error> {
        let private_pem = private
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(Error::EncodePrivateKey)?
            .to_string();
        let encoding =
            EncodingKey::from_rsa_pem(private_pem.as_bytes()).map_err(Error::UnusableKey)?;
        let public = PublicKey::from_rsa(&private.to_public_key())?;
        Ok(Self {
            private_pem,
            encoding,
            public,
        })
    }

    /// Parses a PKCS#8 (`PRIVATE KEY`) or PKCS#1 (`RSA PRIVATE KEY`) PEM.
    pub fn from_private_pem(pem: &str) -> Result<Self, Error> {
        use rsa::pkcs1::DecodeRsaPrivateKey;
        let private = match RsaPrivateKey::from_pkcs8_pem(pem) {
            Ok(private) => private,
            Err(pkcs8) => {
                RsaPrivateKey::from_pkcs1_pem(pem).map_err(|_| Error::NotPrivateKeyPem(pkcs8))?
            }
        };
        Self::from_rsa(private)
    }

    /// Reads [`Self::from_private_pem`] from a file.
    pub fn load(path: &Path) -> Result<Self, Error> {
        let pem = read(path)?;
        Self::from_private_pem(&pem).map_err(|e| e.in_file(path))
    }

    /// The PKCS#8 PEM of the private key. Handle with care: whoever has it can mint tokens.
    pub fn private_pem(&self) -> &str {
        &self.private_pem
    }

    /// The public half.
    pub fn public(&self) -> &PublicKey {
        &self.public
    }

    /// A JWKS holding the public key.
    pub fn jwks(&self) -> JwkSet {
        JwkSet {
            keys: vec![self.public.jwk.clone()],
        }
    }

    pub(crate) fn encoding_key(&self) -> &EncodingKey {
        &self.encoding
    }

    /// Writes `DIR/private.pem` (mode 0600), `DIR/public.pem` and `DIR/jwks.json`, creating
    /// `DIR` (mode 0700) if needed. Refuses to replace existing files unless `force`; nothing
    /// is written when it refuses.
    pub fn save(&self, dir: &Path, force: bool) -> Result<SavedKeys, Error> {
        let saved = SavedKeys::in_dir(dir);
        if !force {
            for path in [&saved.private, &saved.public, &saved.jwks] {
                if path.exists() {
                    return Err(Error::Exists(path.clone()));
                }
            }
        }
        create_private_dir(dir)?;
        let jwks = serde_json::to_string_pretty(&self.jwks()).map_err(Error::EncodeJwks)?;
        write_file(&saved.private, self.private_pem.as_bytes(), true)?;
        write_file(&saved.public, self.public.pem.as_bytes(), false)?;
        write_file(&saved.jwks, format!("{jwks}\n").as_bytes(), false)?;
        Ok(saved)
    }

    /// The algorithm tokens from this pair are signed with.
    pub fn algorithm(&self) -> Algorithm {
        Algorithm::RS256
    }
}

/// Where [`RsaKeyPair::save`] wrote the keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedKeys {
    /// `DIR/private.pem`, mode 0600.
    pub private: PathBuf,
    /// `DIR/public.pem`.
    pub public: PathBuf,
    /// `DIR/jwks.json`.
    pub jwks: PathBuf,
}

impl SavedKeys {
    /// The paths the files have in `dir`.
    pub fn in_dir(dir: &Path) -> Self {
        Self {
            private: dir.join(PRIVATE_KEY_FILE),
            public: dir.join(PUBLIC_KEY_FILE),
            jwks: dir.join(JWKS_FILE),
        }
    }
}

pub(crate) fn read(path: &Path) -> Result<String, Error> {
    fs::read_to_string(path).map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })
}

fn create_private_dir(dir: &Path) -> Result<(), Error> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(|source| Error::Write {
        path: dir.to_path_buf(),
        source,
    })
}

/// Writes a file; a secret one is created with mode 0600 from the start (never world-readable,
/// not even for a moment), and an existing one has its mode reset to 0600.
fn write_file(path: &Path, contents: &[u8], secret: bool) -> Result<(), Error> {
    let io = |source| Error::Write {
        path: path.to_path_buf(),
        source,
    };
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    if secret {
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    }
    let mut file = options.open(path).map_err(io)?;
    #[cfg(unix)]
    if secret {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(fs::Permissions::from_mode(0o600))
            .map_err(io)?;
    }
    file.write_all(contents).map_err(io)?;
    file.sync_all().map_err(io)
}

fn strip_leading_zeros(bytes: &[u8]) -> &[u8] {
    let first = bytes
        .iter()
        .position(|b| *b != 0)
        .unwrap_or(bytes.len().saturating_sub(1));
    &bytes[first..]
}

/// The SPKI PEM of an RSA JWK's modulus and exponent.
fn jwk_public_pem(rsa: &RSAKeyParameters) -> Result<String, Error> {
    use base64::Engine;
    let decode = |component: &'static str, text: &str| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(text.trim_end_matches('='))
            .map_err(|source| Error::JwkComponent { component, source })
    };
    let n = rsa::BoxedUint::from_be_slice_vartime(&decode("n", &rsa.n)?);
    let e = rsa::BoxedUint::from_be_slice_vartime(&decode("e", &rsa.e)?);
    RsaPublicKey::new(n, e)
        .map_err(Error::InvalidRsaKey)?
        .to_public_key_pem(LineEnding::LF)
        .map_err(Error::EncodePublicKey)
}

pub(crate) fn base64url(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}
