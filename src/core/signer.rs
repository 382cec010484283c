//! The one place access tokens (PATs, AATs) are signed: every grant decides
//! *what* to issue as a [`TokenOrder`]; this leaf turns it into a JWT.

use super::Core;
use crate::domain::secret::{self, Secret};
use crate::domain::token::{AccessTokenClaims, MAX_TOKEN_LEN};
use crate::domain::{Error, UnixTime};

/// What a grant decided to issue, before it is signed.
#[derive(Debug, Clone)]
pub(super) struct TokenOrder {
    /// The resource owner (PAT) or requesting party (AAT).
    pub subject: String,
    /// The client the token is issued to.
    pub client_id: String,
    pub scopes: Vec<String>,
    /// The requesting party's claims an AAT carries.
    pub rqp_claims: Option<serde_json::Map<String, serde_json::Value>>,
    /// The browser grant the token belongs to (revoked with it).
    pub grant_id: Option<String>,
    /// Browser grants: the next refresh token (rotated on every use).
    pub refresh_token: Option<Secret>,
}

/// An issued bearer access token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedToken {
    pub access_token: Secret,
    pub token_type: &'static str,
    pub expires_in: i64,
    pub scope: String,
    /// Browser-flow grants: the next refresh token (rotated on every use).
    pub refresh_token: Option<Secret>,
}

impl Core {
    /// Signs `order` with the current key. Refused when the requesting
    /// party's claims make it larger than any bearer token Steward would
    /// accept back (`domain::token::MAX_TOKEN_LEN`).
    pub(super) fn sign(&self, order: TokenOrder, now: UnixTime) -> Result<IssuedToken, Error> {
        let ttl = i64::try_from(self.inner.policy.access_token_ttl).unwrap_or(i64::MAX);
        let claims = AccessTokenClaims {
            iss: self.inner.policy.issuer.clone(),
            sub: order.subject,
            client_id: order.client_id,
            scope: order.scopes.join(" "),
            iat: now,
            exp: now.saturating_add(ttl),
            jti: secret::mint(self.inner.entropy.as_ref(), 16)?,
            nbf: None,
            rqp_claims: order.rqp_claims,
            grant: order.grant_id,
        };
        let access_token = self.keys().sign(&claims)?;
        if access_token.len() > MAX_TOKEN_LEN {
            return Err(Error::InvalidGrant(
                "the requesting party carries too many claims to fit in an access token".into(),
            ));
        }
        Ok(IssuedToken {
            access_token: Secret::new(access_token),
            token_type: "Bearer",
            expires_in: ttl,
            scope: claims.scope,
            refresh_token: order.refresh_token,
        })
    }
}
