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

use crate::domain::secret::{self, Entropy};
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
    /// here; expiry and scope are still checked on every use).
    verified: RwLock<HashMap<String, Arc<AccessTokenClaims>>>,
}

/// Most verified tokens remembered; past it the memory is emptied.
const MAX_VERIFIED: usize = 20_000;

impl KeyRing {
    /// Loads the active keys, creating one if there is none. When several
    /// replicas race on first start, all keep the oldest key as signer.
    pub async fn load_or_create(
        store: &Store,
        entropy: &dyn Entropy,
        now: UnixTime,
    ) -> Result<KeyRing, Error> {
        let mut records = store::keys::active(store).await?;
        if records.is_empty() {
            let mut seed = [0u8; 32];
            entropy.fill(&mut seed)?;
            let mut der = ED25519_PKCS8_PREFIX.to_vec();
            der.extend_from_slice(&seed);
            store::keys::insert(
                store,
                &KeyRecord {
                    kid: secret::mint(entropy, 12)?,
                    algorithm: ALGORITHM.into(),
                    private_key: STANDARD.encode(der),
                    created_at: now,
                },
            )
            .await?;
            records = store::keys::active(store).await?;
        }
        KeyRing::from_records(&records)
    }

    fn from_records(records: &[KeyRecord]) -> Result<KeyRing, Error> {
        let mut verifying = HashMap::new();
        let mut jwks = JwkSet { keys: Vec::new() };
        let mut signer = None;
        for record in records.iter().filter(|r| r.algorithm == ALGORITHM) {
            let der = STANDARD
                .decode(&record.private_key)
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
            if signer.is_none() {
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
    /// Issuer, expiry and scope are checked by
    /// [`AccessTokenClaims::authorize`] against the core's clock on every use.
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

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(seed: u8, kid: &str) -> KeyRing {
        let mut der = ED25519_PKCS8_PREFIX.to_vec();
        der.extend_from_slice(&[seed; 32]);
        KeyRing::from_records(&[KeyRecord {
            kid: kid.into(),
            algorithm: ALGORITHM.into(),
            private_key: STANDARD.encode(der),
            created_at: 0,
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
