//! Sign-in at a trusted upstream OpenID provider: Steward is an OpenID
//! Connect relying party (authorization code flow with PKCE and a nonce).
//! The ID token is verified like every upstream token (signature, issuer,
//! audience = Steward's client id there, expiry) before its claims open a
//! session.

use serde_json::{Map, Value};

use super::Core;
use super::users::OpenedSession;
use crate::domain::grant::GrantType;
use crate::domain::identifier::{self, Kind};
use crate::domain::redirect::with_query;
use crate::domain::secret::Secret;
use crate::domain::{Error, pkce, secret};

/// ID token claims about the token itself, not the person.
const TOKEN_ONLY_CLAIMS: [&str; 14] = [
    "iss",
    "aud",
    "exp",
    "iat",
    "nbf",
    "jti",
    "nonce",
    "auth_time",
    "at_hash",
    "c_hash",
    "azp",
    "sid",
    "acr",
    "amr",
];

/// A provider's button on the sign-in page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provider {
    pub issuer: String,
    pub label: String,
}

/// The start of an upstream sign-in: where to send the browser, and what
/// the browser must bring back (kept in a cookie, compared on return).
#[derive(Debug, Clone)]
pub struct UpstreamStart {
    pub authorization_url: String,
    pub state: Secret,
    pub nonce: Secret,
    pub code_verifier: Secret,
}

/// What came back from the provider, with what was kept for the check.
#[derive(Debug, Clone, Default)]
pub struct UpstreamReturn {
    pub issuer: String,
    pub code: Secret,
    /// Steward's callback URL (the `redirect_uri` sent to the provider).
    pub callback_uri: String,
    pub code_verifier: Secret,
    pub nonce: Secret,
}

#[derive(serde::Deserialize)]
struct ProviderTokens {
    id_token: Option<String>,
}

impl Core {
    /// The providers offered on the sign-in page.
    pub fn sign_in_providers(&self) -> Vec<Provider> {
        self.inner
            .trusted
            .sign_in_providers()
            .into_iter()
            .map(|c| Provider {
                issuer: c.issuer.clone(),
                label: c.label().to_string(),
            })
            .collect()
    }

    /// Builds the provider's authorization request.
    pub async fn start_upstream_sign_in(
        &self,
        issuer: &str,
        callback_uri: &str,
    ) -> Result<UpstreamStart, Error> {
        identifier::require("issuer", issuer, Kind::Text)?;
        identifier::require("callback_uri", callback_uri, Kind::Text)?;
        let config = self
            .inner
            .trusted
            .config(issuer)
            .filter(|c| c.offers_sign_in())
            .ok_or_else(|| Error::invalid_request("no such sign-in provider"))?;
        let client_id = config.client_id.clone().unwrap_or_default();
        let endpoints = self
            .inner
            .trusted
            .endpoints(issuer)
            .await
            .map_err(|why| Error::Unavailable(format!("the sign-in provider: {why}")))?;
        let entropy = self.inner.entropy.as_ref();
        let state = secret::mint(entropy, 24)?;
        let nonce = secret::mint(entropy, 24)?;
        let code_verifier = secret::mint(entropy, 48)?;
        let authorization_url = with_query(
            &endpoints.authorization_endpoint,
            &[
                ("response_type", "code"),
                ("client_id", &client_id),
                ("redirect_uri", callback_uri),
                ("scope", "openid email profile"),
                ("state", &state),
                ("nonce", &nonce),
                ("code_challenge", &pkce::challenge_of(&code_verifier)),
                ("code_challenge_method", pkce::S256),
            ],
        );
        Ok(UpstreamStart {
            authorization_url,
            state: Secret::new(state),
            nonce: Secret::new(nonce),
            code_verifier: Secret::new(code_verifier),
        })
    }

    /// Redeems the provider's code, verifies the ID token and opens a session
    /// for its subject with its claims.
    pub async fn finish_upstream_sign_in(
        &self,
        back: &UpstreamReturn,
    ) -> Result<OpenedSession, Error> {
        identifier::require("issuer", &back.issuer, Kind::Text)?;
        identifier::check("code", back.code.expose(), Kind::Token)?;
        identifier::require("callback_uri", &back.callback_uri, Kind::Text)?;
        identifier::check("code_verifier", back.code_verifier.expose(), Kind::Text)?;
        identifier::check("nonce", back.nonce.expose(), Kind::Text)?;
        let trusted = &self.inner.trusted;
        let config = trusted
            .config(&back.issuer)
            .filter(|c| c.offers_sign_in())
            .ok_or_else(|| Error::invalid_request("no such sign-in provider"))?;
        if back.code.is_empty() || back.code.expose().len() > 4096 {
            return Err(Error::invalid_request("the provider sent no usable code"));
        }
        let client_id = config.client_id.clone().unwrap_or_default();
        let endpoints = trusted
            .endpoints(&back.issuer)
            .await
            .map_err(|why| Error::Unavailable(format!("the sign-in provider: {why}")))?;
        let form = [
            ("grant_type", GrantType::AuthorizationCode.as_str()),
            ("code", back.code.expose()),
            ("redirect_uri", back.callback_uri.as_str()),
            ("code_verifier", back.code_verifier.expose()),
            ("client_id", client_id.as_str()),
        ];
        let mut call = trusted.http().post(&endpoints.token_endpoint).form(&form);
        if let Some(client_secret) = &config.client_secret {
            call = call.basic_auth(
                form_encode(&client_id),
                Some(form_encode(client_secret.expose())),
            );
        }
        let refused =
            |why: String| Error::AccessDenied(format!("sign-in at the provider failed: {why}"));
        let tokens: ProviderTokens = call
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| refused(format!("its token endpoint answered {e}")))?
            .json()
            .await
            .map_err(|_| refused("its token response is malformed".into()))?;
        let id_token = tokens
            .id_token
            .ok_or_else(|| refused("it sent no ID token".into()))?;
        let claims = trusted
            .verify_for(&id_token, self.now(), Some(&client_id))
            .await
            .map_err(refused)?;
        if claims.get("iss").and_then(Value::as_str) != Some(back.issuer.as_str()) {
            return Err(refused("the ID token is from another issuer".into()));
        }
        let nonce = claims.get("nonce").and_then(Value::as_str).unwrap_or("");
        if back.nonce.is_empty() || !secret::constant_time_eq(nonce, back.nonce.expose()) {
            return Err(refused("the ID token's nonce does not match".into()));
        }
        let subject = claims
            .get("sub")
            .and_then(Value::as_str)
            .filter(|s| identifier::require("sub", s, Kind::Id).is_ok())
            .ok_or_else(|| refused("the ID token has no subject".into()))?
            .to_string();
        let person: Map<String, Value> = claims
            .into_iter()
            .filter(|(name, _)| name != "sub" && !TOKEN_ONLY_CLAIMS.contains(&name.as_str()))
            .collect();
        tracing::info!(issuer = %back.issuer, "user signed in at an upstream provider");
        self.open_session(&subject, &back.issuer, person).await
    }
}

/// Client credentials in HTTP Basic are form-encoded first (RFC 6749 §2.3.1).
fn form_encode(value: &str) -> String {
    serde_urlencoded::to_string([("", value)])
        .map(|s| s.trim_start_matches('=').to_string())
        .unwrap_or_default()
}
