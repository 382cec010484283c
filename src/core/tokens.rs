//! The token endpoint's rules and RPT status.

use super::Core;
use crate::domain::identifier::{self, Kind};
use crate::domain::rpt::{self, Permission};
use crate::domain::scope;
use crate::domain::secret;
use crate::domain::token::AccessTokenClaims;
use crate::domain::{Error, Namespace, UnixTime};
use crate::store;

/// The JWT bearer grant (RFC 7523).
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// Claims of an assertion that are not about the requesting party.
const ASSERTION_ONLY_CLAIMS: [&str; 6] = ["iss", "aud", "exp", "iat", "nbf", "jti"];

/// Grant types the token endpoint knows by name but does not serve.
const KNOWN_GRANT_TYPES: [&str; 2] = ["password", "urn:ietf:params:oauth:grant-type:saml2-bearer"];

/// A token request after the façade (or a gRPC caller) parsed it.
#[derive(Debug, Clone, Default)]
pub struct TokenRequest {
    pub grant_type: String,
    pub client_id: String,
    pub client_secret: String,
    /// Space-separated, as on the wire.
    pub scope: String,
    /// The assertion of the JWT bearer grant.
    pub assertion: String,
    /// `authorization_code`: the code, the redirect URI it was sent to, and
    /// the PKCE verifier.
    pub code: String,
    pub redirect_uri: String,
    pub code_verifier: String,
    /// `refresh_token`: the refresh token.
    pub refresh_token: String,
}

impl TokenRequest {
    /// Every parameter is an identifier of some kind: refused here, before
    /// any is looked up, when it holds control characters or is too long.
    fn check(&self) -> Result<(), Error> {
        identifier::check("grant_type", &self.grant_type, Kind::Text)?;
        identifier::check("client_id", &self.client_id, Kind::Id)?;
        identifier::check("client_secret", &self.client_secret, Kind::Token)?;
        identifier::scope_parameter("scope", &self.scope)?;
        identifier::check("assertion", &self.assertion, Kind::Token)?;
        identifier::check("code", &self.code, Kind::Token)?;
        identifier::check("redirect_uri", &self.redirect_uri, Kind::Text)?;
        identifier::check("code_verifier", &self.code_verifier, Kind::Text)?;
        identifier::check("refresh_token", &self.refresh_token, Kind::Token)?;
        Ok(())
    }
}

/// An issued bearer access token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedToken {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    pub scope: String,
    /// Browser-flow grants: the next refresh token (rotated on every use).
    pub refresh_token: Option<String>,
}

/// What RPT status says about an RPT to one resource server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RptStatus {
    /// Unknown, revoked, expired, or bound to another resource server.
    Invalid,
    /// Valid, with the permissions this resource server may see.
    Active {
        issued_at: UnixTime,
        expires_at: Option<UnixTime>,
        permissions: Vec<Permission>,
        /// The client it was issued to.
        client_id: String,
        /// The requesting party.
        subject: String,
    },
}

impl Core {
    /// The grant types the token endpoint serves (what discovery lists).
    pub fn grant_types_supported(&self) -> Vec<&'static str> {
        let mut grants = vec!["client_credentials", "authorization_code", "refresh_token"];
        if !self.inner.trusted.is_empty() {
            grants.push(JWT_BEARER);
        }
        grants
    }

    /// Issues an access token: `client_credentials` (RFC 6749 §4.4; for an
    /// AAT the client is the requesting party) or the JWT bearer grant
    /// (RFC 7523; the assertion's subject and claims are the requesting party's).
    pub async fn issue_token(&self, request: TokenRequest) -> Result<IssuedToken, Error> {
        request.check()?;
        let grant_type = request.grant_type.as_str();
        match grant_type {
            "" => return Err(Error::invalid_request("`grant_type` is required")),
            "client_credentials"
            | super::grants::AUTHORIZATION_CODE
            | super::grants::REFRESH_TOKEN => {}
            JWT_BEARER if !self.inner.trusted.is_empty() => {}
            other if KNOWN_GRANT_TYPES.contains(&other) || other == JWT_BEARER => {
                return Err(Error::UnsupportedGrantType(format!(
                    "grant type `{other}` is not enabled on this server"
                )));
            }
            other => {
                return Err(Error::UnsupportedGrantType(format!(
                    "unknown grant type `{}`",
                    other.chars().take(100).collect::<String>()
                )));
            }
        }
        let client = self
            .authenticate_token_client(&request.client_id, &request.client_secret, grant_type)
            .await?;
        if !client.grant_types.iter().any(|g| g == grant_type) {
            return Err(Error::UnauthorizedClient(format!(
                "this client may not use the {grant_type} grant"
            )));
        }
        match grant_type {
            super::grants::AUTHORIZATION_CODE => return self.redeem_code(&client, &request).await,
            super::grants::REFRESH_TOKEN => return self.refresh(&client, &request).await,
            _ => {}
        }
        let scopes = scope::grant(&request.scope, &client.scopes)?;
        let now = self.now();
        let wants_aat = scopes
            .iter()
            .any(|s| scope::ApiScope::parse(s) == Some(scope::ApiScope::Authorization));
        let wants_pat = scopes
            .iter()
            .any(|s| scope::ApiScope::parse(s) == Some(scope::ApiScope::Protection));
        let (subject, rqp_claims) = if grant_type == JWT_BEARER {
            if request.assertion.is_empty() {
                return Err(Error::invalid_request("`assertion` is required"));
            }
            if wants_pat {
                return Err(Error::InvalidScope(
                    "a JWT bearer assertion yields AATs, not PATs".into(),
                ));
            }
            let claims = self
                .inner
                .trusted
                .verify(&request.assertion, now)
                .await
                .map_err(|why| Error::InvalidGrant(format!("assertion refused: {why}")))?;
            let subject = claims
                .get("sub")
                .and_then(serde_json::Value::as_str)
                .filter(|s| identifier::require("sub", s, Kind::Id).is_ok())
                .ok_or_else(|| Error::InvalidGrant("the assertion has no usable subject".into()))?
                .to_string();
            // The registered JWT claims describe the assertion, not the person.
            let claims = claims
                .into_iter()
                .filter(|(name, _)| !ASSERTION_ONLY_CLAIMS.contains(&name.as_str()))
                .collect();
            (subject, Some(claims))
        } else if wants_aat && !wants_pat {
            // client_credentials AAT: the client acts for itself.
            (client.client_id.clone(), None)
        } else {
            (client.owner.clone(), None)
        };
        self.sign_access_token(subject, client.client_id, &scopes, rqp_claims, None, now)
    }

    /// Signs a PAT/AAT for `subject` and `client_id` (every grant's last
    /// step). Refused when the requesting party's claims make it larger than
    /// any bearer token Steward would accept back.
    pub(super) fn sign_access_token(
        &self,
        subject: String,
        client_id: String,
        scopes: &[String],
        rqp_claims: Option<serde_json::Map<String, serde_json::Value>>,
        grant: Option<String>,
        now: UnixTime,
    ) -> Result<IssuedToken, Error> {
        let ttl = i64::try_from(self.inner.policy.access_token_ttl).unwrap_or(i64::MAX);
        let claims = AccessTokenClaims {
            iss: self.inner.policy.issuer.clone(),
            sub: subject,
            client_id,
            scope: scopes.join(" "),
            iat: now,
            exp: now.saturating_add(ttl),
            jti: secret::mint(self.inner.entropy.as_ref(), 16)?,
            nbf: None,
            rqp_claims,
            grant,
        };
        let access_token = self.keys().sign(&claims)?;
        if access_token.len() > super::auth::MAX_TOKEN_LEN {
            return Err(Error::InvalidGrant(
                "the requesting party carries too many claims to fit in an access token".into(),
            ));
        }
        Ok(IssuedToken {
            access_token,
            token_type: "Bearer",
            expires_in: ttl,
            scope: claims.scope,
            refresh_token: None,
        })
    }

    /// RPT status for the resource server `ns` (draft-06 §3.3.1): the RPT's
    /// currently valid permissions on this server's resource sets.
    pub async fn rpt_status(
        &self,
        ns: &Namespace,
        rpt: &str,
        resource_set_id: Option<&str>,
    ) -> Result<RptStatus, Error> {
        identifier::require("rpt", rpt, Kind::Token)?;
        identifier::check("resource_set_id", resource_set_id.unwrap_or(""), Kind::Id)?;
        if rpt.len() > 1024 {
            return Ok(RptStatus::Invalid);
        }
        let hash = secret::token_hash(rpt);
        let Some(view) = store::rpts::status_view(&self.inner.store, &hash, &ns.client_id).await?
        else {
            return Ok(RptStatus::Invalid);
        };
        let record = &view.record;
        let now = self.now();
        let expired = record.expires_at.is_some_and(|exp| now >= exp);
        let foreign = record
            .resource_server
            .as_deref()
            .is_some_and(|rs| rs != ns.client_id);
        if record.revoked_at.is_some() || expired || foreign {
            return Ok(RptStatus::Invalid);
        }
        Ok(RptStatus::Active {
            issued_at: record.created_at,
            expires_at: record.expires_at,
            client_id: record.client_id.clone(),
            subject: record.subject.clone(),
            permissions: rpt::visible_permissions(
                view.permissions.clone(),
                &view.registered,
                resource_set_id,
                now,
            ),
        })
    }

    /// The public signing keys (JWK Set JSON).
    pub fn jwks(&self) -> String {
        self.keys().jwks().to_string()
    }
}
