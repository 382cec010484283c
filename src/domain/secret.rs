//! Secrets Steward mints (tickets, RPTs, client secrets) and how they are
//! stored: only as hashes, compared in constant time.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::Error;

/// A value that must never be printed: a password, a client secret, a
/// bearer token, a private key. `Debug` shows `Secret(***)`; the value is
/// reached only by [`Secret::expose`], at the one place that needs it.
#[derive(Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The value, for the one place that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The value, moved out (to put on the wire).
    pub fn into_exposed(self) -> String {
        self.0
    }

    /// Whether no value was given (an omitted parameter).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Secret {
        Secret(value)
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// A source of cryptographically secure random bytes. Passed in so tests can
/// make minted values predictable and the domain stays free of I/O.
pub trait Entropy: Send + Sync {
    /// Fills `buf` with random bytes.
    fn fill(&self, buf: &mut [u8]) -> Result<(), Error>;
}

/// The operating system's CSPRNG.
#[derive(Debug, Default, Clone, Copy)]
pub struct OsEntropy;

impl Entropy for OsEntropy {
    fn fill(&self, buf: &mut [u8]) -> Result<(), Error> {
        getrandom::fill(buf).map_err(|e| Error::Internal(format!("os random source failed: {e}")))
    }
}

/// Mints an opaque, URL-safe secret of `bytes` random bytes.
pub fn mint(entropy: &dyn Entropy, bytes: usize) -> Result<String, Error> {
    let mut buf = vec![0u8; bytes];
    entropy.fill(&mut buf)?;
    Ok(URL_SAFE_NO_PAD.encode(buf))
}

/// The stored form of a high-entropy token: hex SHA-256. A fast hash is
/// right here because the token itself carries ≥128 bits of entropy.
pub fn token_hash(token: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digest = Sha256::digest(token.as_bytes());
    let mut out = String::with_capacity(64);
    for byte in digest {
        out.push(char::from(HEX[usize::from(byte >> 4)]));
        out.push(char::from(HEX[usize::from(byte & 0x0f)]));
    }
    out
}

/// A configured shared secret that callers present (Envoy's `Check` token,
/// the façade's credential), kept as its SHA-256: each check hashes what
/// was presented once and compares two digests of one length in constant
/// time, whatever the lengths of the secret and the attempt.
#[derive(Clone, PartialEq, Eq)]
pub struct SharedSecretDigest(String);

impl SharedSecretDigest {
    /// The digest of `secret`.
    pub fn of(secret: &str) -> SharedSecretDigest {
        SharedSecretDigest(token_hash(secret))
    }

    /// Whether `presented` is the secret.
    pub fn matches(&self, presented: &str) -> bool {
        constant_time_eq(&token_hash(presented), &self.0)
    }
}

impl std::fmt::Debug for SharedSecretDigest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SharedSecretDigest(***)")
    }
}

/// Constant-time comparison of two secrets or hashes.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shared_secret_matches_only_itself_and_never_prints() {
        let digest = SharedSecretDigest::of("ci-ext-authz-token-0123456789");
        assert!(digest.matches("ci-ext-authz-token-0123456789"));
        for wrong in [
            "",
            "ci-ext-authz-token-012345678",
            "ci-ext-authz-token-0123456789 ",
            "x",
        ] {
            assert!(!digest.matches(wrong), "{wrong:?}");
        }
        assert!(!format!("{digest:?}").contains("ci-ext"));
    }

    #[test]
    fn minted_secrets_have_the_asked_entropy_and_differ() {
        let a = mint(&OsEntropy, 32).unwrap();
        let b = mint(&OsEntropy, 32).unwrap();
        assert_ne!(a, b);
        assert_eq!(URL_SAFE_NO_PAD.decode(&a).unwrap().len(), 32);
    }

    #[test]
    fn hash_is_stable_hex() {
        let h = token_hash("abc");
        assert_eq!(
            h,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(constant_time_eq(&h, &token_hash("abc")));
        assert!(!constant_time_eq(&h, &token_hash("abd")));
    }
}
