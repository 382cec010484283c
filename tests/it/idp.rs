//! A stand-in upstream OpenID provider for tests: an Ed25519 key, its JWK Set
//! on disk, and ID tokens / JWT-bearer assertions signed with it.

#![allow(dead_code)]

use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Map, Value, json};
use steward::config::TrustedIssuer;
use steward::domain::UnixTime;

/// PKCS#8 v1 prefix of an Ed25519 private key; the 32-byte seed follows.
const ED25519_PKCS8_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

/// An upstream identity provider.
pub struct TestIdp {
    pub issuer: String,
    pub audience: String,
    pub kid: String,
    key: EncodingKey,
    pub jwks: JwkSet,
    pub jwks_path: std::path::PathBuf,
}

impl TestIdp {
    /// A provider with a fresh random key, its JWKS written to a temp file.
    pub fn new(issuer: &str, audience: &str) -> TestIdp {
        let mut der = ED25519_PKCS8_PREFIX.to_vec();
        let seed: [u8; 32] = *uuid::Uuid::new_v4()
            .as_bytes()
            .repeat(2)
            .first_chunk()
            .unwrap();
        der.extend_from_slice(&seed);
        let key = EncodingKey::from_ed_der(&der);
        let kid = format!("idp-{}", uuid::Uuid::new_v4().simple());
        let mut jwk = Jwk::from_encoding_key(&key, Algorithm::EdDSA).unwrap();
        jwk.common.key_id = Some(kid.clone());
        let jwks = JwkSet { keys: vec![jwk] };
        let jwks_path =
            std::env::temp_dir().join(format!("steward-idp-{}.json", uuid::Uuid::new_v4()));
        std::fs::write(&jwks_path, serde_json::to_string(&jwks).unwrap()).unwrap();
        TestIdp {
            issuer: issuer.to_string(),
            audience: audience.to_string(),
            kid,
            key,
            jwks,
            jwks_path,
        }
    }

    /// The `[[trusted_issuers]]` entry for this provider (keys from the file).
    pub fn trusted(&self) -> TrustedIssuer {
        TrustedIssuer {
            issuer: self.issuer.clone(),
            audience: self.audience.clone(),
            jwks_file: Some(self.jwks_path.clone()),
            jwks_uri: None,
            ..Default::default()
        }
    }

    /// A signed token for `sub` with `extra` claims, valid until `exp`.
    pub fn token(&self, sub: &str, extra: Value, exp: UnixTime) -> String {
        let mut claims = Map::new();
        claims.insert("iss".into(), json!(self.issuer));
        claims.insert("aud".into(), json!(self.audience));
        claims.insert("sub".into(), json!(sub));
        claims.insert("exp".into(), json!(exp));
        claims.insert("iat".into(), json!(exp - 600));
        if let Value::Object(extra) = extra {
            claims.extend(extra);
        }
        self.sign(&Value::Object(claims))
    }

    /// Signs arbitrary claims with the provider's key.
    pub fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.key).unwrap()
    }
}
