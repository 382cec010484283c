//! Token signing keys: Ed25519 (`EdDSA`), generated on first start, persisted,
//! published as a JWK Set with `kid`s. Verification only accepts `EdDSA`
//! tokens whose `kid` names one of our keys, so `alg=none`, HMAC confusion
//! and foreign keys are refused before any signature is checked.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use jsonwebtoken::jwk::{Jwk, JwkSet, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};

use crate::domain::secret::{self, Entropy, Secret};
use crate::domain::token::AccessTokenClaims;
use crate::domain::{Error, UnixTime};
use crate::store::{self, Store, keys::KeyRecord};

const ALGORITHM: &str = "EdDSA";

/// PKCS#8 v1 prefix of an Ed25519 private key (RFC 8410 §7); the 32-byte
/// seed follows it.
const ED25519_PKCS8_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

/// The signer and every key that still verifies.
pub struct KeyRing {
    signing_kid: String,
    signing_key: EncodingKey,
    verifying: HashMap<String, DecodingKey>,
    jwks: String,
    /// Tokens whose signature was already checked (only genuine ones get
    /// here; validity period and scope are still checked on every use).
    verified: RwLock<HashMap<String, Arc<AccessTokenClaims>>>,
}

/// Most verified tokens remembered; past it the memory is emptied.
const MAX_VERIFIED: usize = 20_000;

/// Seconds a retired key keeps verifying beyond the access-token lifetime
/// (the clock skew tokens are accepted with).
const RETIRED_KEY_GRACE: i64 = crate::domain::token::CLOCK_SKEW;

/// How often a replica reloads its keys even when no rotation was seen
/// (retired keys age out of the JWKS).
const RELOAD_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

/// Keys retired at or before this instant verify nothing still alive.
fn forgotten_before(policy: &super::CorePolicy, now: UnixTime) -> UnixTime {
    let ttl = i64::try_from(policy.access_token_ttl).unwrap_or(i64::MAX / 2);
    now.saturating_sub(ttl.saturating_add(RETIRED_KEY_GRACE))
}

/// The key ring the settings ask for: PEM files, or the database's keys.
pub(super) async fn load(
    store: &Store,
    policy: &super::CorePolicy,
    entropy: &dyn Entropy,
    now: UnixTime,
) -> Result<KeyRing, Error> {
    match &policy.signing_key_file {
        Some(signer) => KeyRing::from_files(signer, policy.previous_signing_key_file.as_deref()),
        None => KeyRing::load_or_create(store, entropy, now, forgotten_before(policy, now)).await,
    }
}

impl super::Core {
    /// Rotates the signing key now: new tokens are signed with a new key;
    /// the old one stays in the JWKS and verifies until every token it
    /// signed has expired. Returns the new `kid`. Other replicas switch
    /// within one cache refresh.
    pub async fn rotate_keys(&self) -> Result<String, Error> {
        self.rotate(None)
            .await?
            .ok_or_else(|| Error::Internal("the rotation did not happen".into()))
    }

    async fn rotate(&self, only_if_older_than_days: Option<u64>) -> Result<Option<String>, Error> {
        let policy = &self.inner.policy;
        if policy.signing_key_file.is_some() {
            return Err(Error::invalid_request(
                "signing keys come from files (signing_key_file): rotate by installing a new key file and moving the old one to previous_signing_key_file",
            ));
        }
        let now = self.now();
        let next = generate(self.inner.entropy.as_ref(), now)?;
        let created_before = only_if_older_than_days.map(|days| {
            now.saturating_sub(i64::try_from(days.saturating_mul(86_400)).unwrap_or(i64::MAX))
        });
        let rotated = store::keys::rotate(
            &self.inner.store,
            &next,
            created_before,
            forgotten_before(policy, now),
        )
        .await?;
        if !rotated {
            return Ok(None);
        }
        tracing::info!(kid = %next.kid, "signing key rotated");
        self.reload_keys().await?;
        Ok(Some(next.kid))
    }

    /// Reloads the key ring from the database (file keys never change).
    pub async fn reload_keys(&self) -> Result<(), Error> {
        if self.inner.policy.signing_key_file.is_some() {
            return Ok(());
        }
        let revision = self.inner.store.key_revision();
        let ring = load(
            &self.inner.store,
            &self.inner.policy,
            self.inner.entropy.as_ref(),
            self.now(),
        )
        .await?;
        *self
            .inner
            .keys
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = std::sync::Arc::new(ring);
        *self
            .inner
            .keys_loaded
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) =
            (revision, std::time::Instant::now());
        Ok(())
    }

    /// Periodic key upkeep (after each cache refresh): rotate when the
    /// signer is older than `key_rotation_days`, and reload when a rotation
    /// happened elsewhere or a minute passed.
    pub async fn maintain_keys(&self) -> Result<(), Error> {
        if self.inner.policy.signing_key_file.is_some() {
            return Ok(());
        }
        let (seen, loaded_at) = *self
            .inner
            .keys_loaded
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let days = self.inner.policy.key_rotation_days;
        if days > 0
            && loaded_at.elapsed() >= RELOAD_EVERY
            && self.rotate(Some(days)).await?.is_some()
        {
            return Ok(());
        }
        if seen != self.inner.store.key_revision() || loaded_at.elapsed() >= RELOAD_EVERY {
            self.reload_keys().await?;
        }
        Ok(())
    }
}

/// A freshly generated Ed25519 key, ready to store.
pub(crate) fn generate(entropy: &dyn Entropy, now: UnixTime) -> Result<KeyRecord, Error> {
    let mut seed = [0u8; 32];
    entropy.fill(&mut seed)?;
    let mut der = ED25519_PKCS8_PREFIX.to_vec();
    der.extend_from_slice(&seed);
    Ok(KeyRecord {
        kid: secret::mint(entropy, 12)?,
        algorithm: ALGORITHM.into(),
        private_key: Secret::new(STANDARD.encode(der)),
        created_at: now,
        retired_at: None,
    })
}

impl KeyRing {
    /// Loads the keys that still verify (retired after `retired_after`),
    /// creating a signer if there is none. When several replicas race on
    /// first start, all end up signing with the newest key and verifying both.
    pub async fn load_or_create(
        store: &Store,
        entropy: &dyn Entropy,
        now: UnixTime,
        retired_after: UnixTime,
    ) -> Result<KeyRing, Error> {
        let mut records = store::keys::usable(store, retired_after).await?;
        if !records.iter().any(|r| r.retired_at.is_none()) {
            store::keys::insert(store, &generate(entropy, now)?).await?;
            records = store::keys::usable(store, retired_after).await?;
        }
        KeyRing::from_records(&records)
    }

    /// Keys from PEM files (PKCS#8 Ed25519, e.g. a mounted Kubernetes
    /// Secret): `signer` signs, `previous` (if any) still verifies. Their
    /// `kid`s derive from the public keys, so every replica agrees.
    pub fn from_files(
        signer: &std::path::Path,
        previous: Option<&std::path::Path>,
    ) -> Result<KeyRing, Error> {
        let mut records = Vec::new();
        for (path, retired) in std::iter::once((signer, false)).chain(previous.map(|p| (p, true))) {
            let pem = std::fs::read_to_string(path).map_err(|e| {
                Error::invalid_request(format!("cannot read signing key {}: {e}", path.display()))
            })?;
            let der = pem_der(&pem).ok_or_else(|| {
                Error::invalid_request(format!(
                    "{} is not a PEM `PRIVATE KEY` (PKCS#8 Ed25519)",
                    path.display()
                ))
            })?;
            if der.len() != ED25519_PKCS8_PREFIX.len() + 32
                || !der.starts_with(&ED25519_PKCS8_PREFIX)
            {
                return Err(Error::invalid_request(format!(
                    "{} is not an Ed25519 private key (generate one with `openssl genpkey -algorithm ed25519`)",
                    path.display()
                )));
            }
            let encoding = EncodingKey::from_ed_der(&der);
            let jwk = Jwk::from_encoding_key(&encoding, Algorithm::EdDSA)
                .map_err(|e| Error::invalid_request(format!("unusable signing key: {e}")))?;
            let public = match &jwk.algorithm {
                jsonwebtoken::jwk::AlgorithmParameters::OctetKeyPair(okp) => okp.x.clone(),
                _ => return Err(Error::Internal("an Ed25519 key without x".into())),
            };
            records.push(KeyRecord {
                kid: secret::token_hash(&public)[..16].to_string(),
                algorithm: ALGORITHM.into(),
                private_key: Secret::new(STANDARD.encode(&der)),
                created_at: 0,
                retired_at: retired.then_some(0),
            });
        }
        KeyRing::from_records(&records)
    }

    /// Builds the ring from stored keys, newest first: the newest key not
    /// retired signs; every key verifies and is published.
    fn from_records(records: &[KeyRecord]) -> Result<KeyRing, Error> {
        let mut verifying = HashMap::new();
        let mut jwks = JwkSet { keys: Vec::new() };
        let mut signer = None;
        for record in records.iter().filter(|r| r.algorithm == ALGORITHM) {
            let der = STANDARD
                .decode(record.private_key.expose())
                .map_err(|e| Error::Internal(format!("corrupt signing key: {e}")))?;
            let encoding = EncodingKey::from_ed_der(&der);
            let mut jwk = Jwk::from_encoding_key(&encoding, Algorithm::EdDSA)
                .map_err(|e| Error::Internal(format!("unusable signing key: {e}")))?;
            jwk.common.key_id = Some(record.kid.clone());
            jwk.common.public_key_use = Some(PublicKeyUse::Signature);
            let decoding = DecodingKey::from_jwk(&jwk)
                .map_err(|e| Error::Internal(format!("unusable verifying key: {e}")))?;
            verifying.insert(record.kid.clone(), decoding);
            jwks.keys.push(jwk);
            if signer.is_none() && record.retired_at.is_none() {
                signer = Some((record.kid.clone(), encoding));
            }
        }
        let Some((signing_kid, signing_key)) = signer else {
            return Err(Error::Internal("no usable signing key".into()));
        };
        let jwks = serde_json::to_string(&jwks)
            .map_err(|e| Error::Internal(format!("cannot render JWKS: {e}")))?;
        Ok(KeyRing {
            signing_kid,
            signing_key,
            verifying,
            jwks,
            verified: RwLock::new(HashMap::new()),
        })
    }

    /// The `kid` new tokens are signed with.
    pub fn signing_kid(&self) -> &str {
        &self.signing_kid
    }

    /// Signs access-token claims with the current key.
    pub fn sign(&self, claims: &AccessTokenClaims) -> Result<String, Error> {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.signing_kid.clone());
        header.typ = Some("at+jwt".into());
        jsonwebtoken::encode(&header, claims, &self.signing_key)
            .map_err(|e| Error::Internal(format!("cannot sign token: {e}")))
    }

    /// Verifies signature and shape, remembering genuine tokens so a token
    /// used again costs a map lookup instead of an Ed25519 verification.
    /// Issuer, validity period (`exp`, `iat`, `nbf`) and scope are checked
    /// by [`AccessTokenClaims::authorize`] against the core's clock on every
    /// use, never remembered.
    pub fn verify(&self, token: &str) -> Result<Arc<AccessTokenClaims>, Error> {
        let known = self
            .verified
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(token)
            .cloned();
        if let Some(claims) = known {
            return Ok(claims);
        }
        let claims = Arc::new(self.verify_signature(token)?);
        let mut verified = self
            .verified
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if verified.len() >= MAX_VERIFIED {
            verified.clear();
        }
        verified.insert(token.to_string(), claims.clone());
        Ok(claims)
    }

    /// The signature and shape check itself, without memory.
    pub fn verify_signature(&self, token: &str) -> Result<AccessTokenClaims, Error> {
        let invalid = |why: &str| Error::InvalidToken(why.to_string());
        let header = jsonwebtoken::decode_header(token).map_err(|_| invalid("malformed token"))?;
        if header.alg != Algorithm::EdDSA {
            return Err(invalid("unsupported token algorithm"));
        }
        let kid = header
            .kid
            .ok_or_else(|| invalid("the token names no key"))?;
        let key = self
            .verifying
            .get(&kid)
            .ok_or_else(|| invalid("the token was not signed by this server"))?;
        let mut validation = Validation::new(Algorithm::EdDSA);
        // Time is not checked here: this runs once per token (the result is
        // remembered) and would read the system clock. `exp`, `iat` and
        // `nbf` are checked by `AccessTokenClaims::authorize` on every use.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        validation.required_spec_claims.clear();
        jsonwebtoken::decode::<AccessTokenClaims>(token, key, &validation)
            .map(|data| data.claims)
            .map_err(|_| invalid("the token signature or claims are invalid"))
    }

    /// The public keys as an RFC 7517 JWK Set document.
    pub fn jwks(&self) -> &str {
        &self.jwks
    }
}

/// The DER inside a PEM `PRIVATE KEY` block.
fn pem_der(pem: &str) -> Option<Vec<u8>> {
    let body = pem
        .split("-----BEGIN PRIVATE KEY-----")
        .nth(1)?
        .split("-----END PRIVATE KEY-----")
        .next()?;
    let base64: String = body.chars().filter(|c| !c.is_whitespace()).collect();
    STANDARD.decode(base64).ok()
}

impl super::Core {
    /// The public signing keys (JWK Set JSON), for `jwks_uri`.
    pub fn jwks(&self) -> String {
        self.keys().jwks().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(seed: u8, kid: &str) -> KeyRing {
        let mut der = ED25519_PKCS8_PREFIX.to_vec();
        der.extend_from_slice(&[seed; 32]);
        KeyRing::from_records(&[KeyRecord {
            kid: kid.into(),
            algorithm: ALGORITHM.into(),
            private_key: Secret::new(STANDARD.encode(der)),
            created_at: 0,
            retired_at: None,
        }])
        .unwrap()
    }

    fn claims() -> AccessTokenClaims {
        AccessTokenClaims {
            iss: "http://as".into(),
            sub: "alice".into(),
            client_id: "rs".into(),
            scope: "uma_protection".into(),
            iat: 0,
            exp: 10,
            jti: "j".into(),
            nbf: None,
            rqp_claims: None,
            grant: None,
        }
    }

    #[test]
    fn signed_tokens_verify_and_the_jwks_names_the_kid() {
        let keys = ring(7, "k1");
        let token = keys.sign(&claims()).unwrap();
        assert_eq!(*keys.verify(&token).unwrap(), claims());
        assert_eq!(*keys.verify(&token).unwrap(), claims(), "remembered");
        let jwks: serde_json::Value = serde_json::from_str(keys.jwks()).unwrap();
        assert_eq!(jwks["keys"][0]["kid"], "k1");
        assert_eq!(jwks["keys"][0]["kty"], "OKP");
        assert!(
            jwks["keys"][0].get("d").is_none(),
            "private part must not be published"
        );
    }

    #[test]
    fn a_remembered_token_is_still_held_to_its_nbf_on_every_use() {
        use crate::domain::scope::ApiScope;
        let keys = ring(7, "k1");
        let early = AccessTokenClaims {
            exp: 10_000,
            nbf: Some(5_000),
            ..claims()
        };
        let token = keys.sign(&early).unwrap();
        for _ in 0..2 {
            let verified = keys.verify(&token).unwrap();
            assert!(matches!(
                verified.authorize("http://as", 1_000, ApiScope::Protection),
                Err(Error::InvalidToken(_))
            ));
        }
        let verified = keys.verify(&token).unwrap();
        assert!(
            verified
                .authorize("http://as", 5_000, ApiScope::Protection)
                .is_ok()
        );
    }

    #[test]
    fn tokens_from_another_key_tampered_or_unsigned_are_refused() {
        let keys = ring(7, "k1");
        let foreign = ring(8, "k1").sign(&claims()).unwrap();
        assert!(keys.verify(&foreign).is_err());

        let token = keys.sign(&claims()).unwrap();
        let mut parts: Vec<&str> = token.split('.').collect();
        let mut evil = claims();
        evil.sub = "mallory".into();
        let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(serde_json::to_vec(&evil).unwrap());
        parts[1] = &payload;
        assert!(keys.verify(&parts.join(".")).is_err());

        let none_header = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(br#"{"alg":"none","kid":"k1"}"#);
        let unsigned = format!("{none_header}.{payload}.");
        assert!(keys.verify(&unsigned).is_err());
        assert!(keys.verify("not a jwt").is_err());
    }
}
