//! Tokens from trusted upstream issuers: JWT-bearer assertions and pushed
//! ID tokens. Signature (asymmetric algorithms only), issuer, audience and
//! expiry are all verified before any claim reaches a policy.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};
use tokio::sync::RwLock;

use crate::config::TrustedIssuer;
use crate::domain::{Error, UnixTime};

/// Seconds of clock skew tolerated on upstream `exp`/`nbf`.
const LEEWAY: i64 = 30;
/// How often an unknown `kid` may trigger a JWKS refetch.
const REFETCH_AFTER: Duration = Duration::from_secs(30);

/// The claim token formats accepted when pushed (UMA 1.0 `claim_tokens`).
pub const ID_TOKEN_FORMATS: [&str; 3] = [
    "http://openid.net/specs/openid-connect-core-1_0.html#IDToken",
    "https://openid.net/specs/openid-connect-core-1_0.html#IDToken",
    "urn:ietf:params:oauth:token-type:id_token",
];

/// The registry of trusted issuers and their keys.
pub struct TrustedIssuers {
    issuers: HashMap<String, IssuerKeys>,
    http: reqwest::Client,
}

struct IssuerKeys {
    config: TrustedIssuer,
    keys: RwLock<Option<(JwkSet, Instant)>>,
    /// The provider's OpenID configuration, once fetched (`discovery_url`).
    discovered: RwLock<Option<Endpoints>>,
}

/// Where an upstream OpenID provider serves its endpoints.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct Endpoints {
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    #[serde(default)]
    pub jwks_uri: Option<String>,
}

/// Why an upstream token was refused (the caller picks the error variant).
pub type Refusal = String;

impl TrustedIssuers {
    /// Loads JWKS files now (a bad file fails start-up); `jwks_uri`s are
    /// fetched on first use.
    pub fn load(configs: &[TrustedIssuer]) -> Result<TrustedIssuers, Error> {
        let mut issuers = HashMap::new();
        for config in configs {
            let keys = match &config.jwks_file {
                Some(path) => {
                    let text = std::fs::read_to_string(path).map_err(|e| {
                        Error::invalid_request(format!("cannot read {}: {e}", path.display()))
                    })?;
                    let set: JwkSet = serde_json::from_str(&text).map_err(|e| {
                        Error::invalid_request(format!("{} is not a JWK Set: {e}", path.display()))
                    })?;
                    Some((set, Instant::now()))
                }
                None => None,
            };
            issuers.insert(
                config.issuer.clone(),
                IssuerKeys {
                    config: config.clone(),
                    keys: RwLock::new(keys),
                    discovered: RwLock::new(None),
                },
            );
        }
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| Error::Internal(format!("cannot build HTTP client: {e}")))?;
        Ok(TrustedIssuers { issuers, http })
    }

    /// Whether any issuer is configured (so the JWT-bearer grant is on).
    pub fn is_empty(&self) -> bool {
        self.issuers.is_empty()
    }

    /// The providers users can sign in at, in issuer order.
    pub fn sign_in_providers(&self) -> Vec<&TrustedIssuer> {
        let mut providers: Vec<_> = self
            .issuers
            .values()
            .map(|i| &i.config)
            .filter(|c| c.offers_sign_in())
            .collect();
        providers.sort_by(|a, b| a.issuer.cmp(&b.issuer));
        providers
    }

    /// A provider's settings.
    pub fn config(&self, issuer: &str) -> Option<&TrustedIssuer> {
        self.issuers.get(issuer).map(|i| &i.config)
    }

    /// The HTTP client for talking to providers (5 s timeout).
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// A provider's endpoints: as configured, or from its discovery document
    /// (fetched once, and again after a failure).
    pub async fn endpoints(&self, issuer: &str) -> Result<Endpoints, Refusal> {
        let trusted = self
            .issuers
            .get(issuer)
            .ok_or_else(|| "the provider is not configured".to_string())?;
        let config = &trusted.config;
        if let (Some(authorization_endpoint), Some(token_endpoint)) =
            (&config.authorization_endpoint, &config.token_endpoint)
        {
            return Ok(Endpoints {
                authorization_endpoint: authorization_endpoint.clone(),
                token_endpoint: token_endpoint.clone(),
                jwks_uri: config.jwks_uri.clone(),
            });
        }
        if let Some(found) = trusted.discovered.read().await.as_ref() {
            return Ok(found.clone());
        }
        let url = config
            .discovery_url
            .as_ref()
            .ok_or_else(|| "the provider has no endpoints configured".to_string())?;
        let found: Endpoints = self
            .http
            .get(url)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| format!("cannot fetch the provider's configuration: {e}"))?
            .json()
            .await
            .map_err(|e| format!("the provider's configuration is malformed: {e}"))?;
        *trusted.discovered.write().await = Some(found.clone());
        Ok(found)
    }

    /// Verifies a token from a trusted issuer; returns its claims.
    pub async fn verify(&self, token: &str, now: UnixTime) -> Result<Map<String, Value>, Refusal> {
        self.verify_for(token, now, None).await
    }

    /// Verifies a token whose audience is `audience` (an ID token issued to
    /// Steward as a relying party names Steward's client id there), or the
    /// issuer's configured audience when `None`.
    pub async fn verify_for(
        &self,
        token: &str,
        now: UnixTime,
        audience: Option<&str>,
    ) -> Result<Map<String, Value>, Refusal> {
        if token.len() > 16 * 1024 {
            return Err("the token is too large".into());
        }
        let header =
            jsonwebtoken::decode_header(token).map_err(|_| "the token is not a JWT".to_string())?;
        if !matches!(
            header.alg,
            Algorithm::RS256
                | Algorithm::RS384
                | Algorithm::RS512
                | Algorithm::PS256
                | Algorithm::PS384
                | Algorithm::PS512
                | Algorithm::ES256
                | Algorithm::ES384
                | Algorithm::EdDSA
        ) {
            return Err(format!("algorithm {:?} is not accepted", header.alg));
        }
        let unverified: Map<String, Value> = jsonwebtoken::dangerous::insecure_decode_claims(token)
            .map_err(|_| "the token's claims are malformed".to_string())?;
        let issuer = unverified
            .get("iss")
            .and_then(Value::as_str)
            .ok_or_else(|| "the token names no issuer".to_string())?;
        let trusted = self
            .issuers
            .get(issuer)
            .ok_or_else(|| "the token's issuer is not trusted".to_string())?;
        let key = self.key(trusted, header.kid.as_deref(), header.alg).await?;
        let mut validation = Validation::new(header.alg);
        validation.set_issuer(&[&trusted.config.issuer]);
        validation.set_audience(&[audience.unwrap_or(&trusted.config.audience)]);
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.set_required_spec_claims(&["iss", "aud", "exp", "sub"]);
        let claims: Map<String, Value> = jsonwebtoken::decode(token, &key, &validation)
            .map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::InvalidAudience => {
                    "the token is for another audience".to_string()
                }
                jsonwebtoken::errors::ErrorKind::InvalidSignature => {
                    "the token's signature is invalid".to_string()
                }
                _ => "the token is invalid".to_string(),
            })?
            .claims;
        let exp = numeric_date(&claims, "exp")?.ok_or("the token has no exp")?;
        if now_f64(now.saturating_sub(LEEWAY)) >= exp {
            return Err("the token expired".into());
        }
        if let Some(nbf) = numeric_date(&claims, "nbf")?
            && nbf > now_f64(now.saturating_add(LEEWAY))
        {
            return Err("the token is not valid yet".into());
        }
        Ok(claims)
    }

    async fn key(
        &self,
        trusted: &IssuerKeys,
        kid: Option<&str>,
        alg: Algorithm,
    ) -> Result<DecodingKey, Refusal> {
        if let Some(key) = find_key(trusted.keys.read().await.as_ref(), kid, alg) {
            return key;
        }
        let discovered = match (&trusted.config.jwks_uri, &trusted.config.discovery_url) {
            (None, Some(_)) => self
                .endpoints(&trusted.config.issuer)
                .await
                .ok()
                .and_then(|e| e.jwks_uri),
            _ => None,
        };
        let Some(uri) = trusted.config.jwks_uri.as_ref().or(discovered.as_ref()) else {
            return Err("no key of the issuer matches the token".into());
        };
        let mut guard = trusted.keys.write().await;
        let stale = guard
            .as_ref()
            .is_none_or(|(_, fetched)| fetched.elapsed() >= REFETCH_AFTER);
        if stale {
            let set = self
                .http
                .get(uri)
                .send()
                .await
                .and_then(reqwest::Response::error_for_status)
                .map_err(|e| format!("cannot fetch the issuer's keys: {e}"))?
                .json::<JwkSet>()
                .await
                .map_err(|e| format!("the issuer's keys are malformed: {e}"))?;
            *guard = Some((set, Instant::now()));
        }
        find_key(guard.as_ref(), kid, alg)
            .unwrap_or_else(|| Err("no key of the issuer matches the token".into()))
    }
}

/// A NumericDate claim (RFC 7519 §2: seconds, possibly fractional);
/// `None` when absent. Any other JSON is refused rather than skipped, so an
/// `nbf` written as a string or a fraction cannot dodge its check.
fn numeric_date(claims: &Map<String, Value>, name: &str) -> Result<Option<f64>, Refusal> {
    match claims.get(name) {
        None => Ok(None),
        Some(value) => value
            .as_f64()
            .filter(|seconds| seconds.is_finite())
            .map(Some)
            .ok_or_else(|| format!("the token's {name} is not a date")),
    }
}

/// `now` for comparing with a NumericDate (exact: Unix times fit an f64).
fn now_f64(now: UnixTime) -> f64 {
    now as f64
}

fn find_key(
    keys: Option<&(JwkSet, Instant)>,
    kid: Option<&str>,
    alg: Algorithm,
) -> Option<Result<DecodingKey, Refusal>> {
    let (set, _) = keys?;
    let jwk = match kid {
        Some(kid) => set.find(kid)?,
        None if set.keys.len() == 1 => &set.keys[0],
        None => return None,
    };
    if let Some(key_alg) = jwk.common.key_algorithm
        && key_alg.to_string() != format!("{alg:?}")
    {
        return Some(Err("the key is not for the token's algorithm".into()));
    }
    Some(DecodingKey::from_jwk(jwk).map_err(|_| "the issuer's key is unusable".to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn dates_are_numbers_and_nothing_else() {
        let claims = |value: Value| json!({ "nbf": value }).as_object().cloned().unwrap();
        assert_eq!(
            numeric_date(&claims(json!(1_000)), "nbf"),
            Ok(Some(1_000.0))
        );
        assert_eq!(
            numeric_date(&claims(json!(1_000.5)), "nbf"),
            Ok(Some(1_000.5))
        );
        assert_eq!(numeric_date(&Map::new(), "nbf"), Ok(None));
        for odd in [json!("1000"), json!(null), json!([1_000]), json!({})] {
            assert!(numeric_date(&claims(odd), "nbf").is_err());
        }
    }
}
