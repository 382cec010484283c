//! Access tokens (PATs, later AATs): the claims Steward signs and the checks
//! it makes on them once the signature is verified.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::scope::{self, ApiScope};
use super::{Error, Namespace, UnixTime};

/// Seconds a token may claim to start (`iat`, `nbf`) ahead of this server's
/// clock: replicas' clocks drift apart a little, and a token one replica
/// issued must work at once on another. Expiry has no such allowance.
pub const CLOCK_SKEW: i64 = 60;

/// The claims of a Steward access token (a signed JWT).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessTokenClaims {
    /// Steward's issuer URL.
    pub iss: String,
    /// The subject the token acts for: the resource owner for a PAT.
    pub sub: String,
    /// The OAuth client the token was issued to.
    pub client_id: String,
    /// Space-separated granted scopes.
    pub scope: String,
    /// Issued at.
    pub iat: UnixTime,
    /// Expires at.
    pub exp: UnixTime,
    /// Not valid before (Steward does not set it; a token that names it is
    /// held to it, within [`CLOCK_SKEW`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<UnixTime>,
    /// Unique token id.
    pub jti: String,
    /// Verified claims about the requesting party (from a JWT-bearer
    /// assertion); signed into the AAT so policies can trust them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rqp_claims: Option<Map<String, Value>>,
    /// The browser-flow grant (authorization code, refresh token) this token
    /// was issued under; the token dies when the grant is revoked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant: Option<String>,
}

impl AccessTokenClaims {
    /// Checks what the signature cannot: issuer, validity period (`exp`,
    /// `iat`, `nbf`), and that the token opens `api`. Runs on every use
    /// (verified signatures are remembered, these checks are not). Returns
    /// the namespace the token speaks for.
    pub fn authorize(
        &self,
        issuer: &str,
        now: UnixTime,
        api: ApiScope,
    ) -> Result<Namespace, Error> {
        self.check(issuer, now, api)?;
        Ok(Namespace {
            client_id: self.client_id.clone(),
            owner: self.sub.clone(),
        })
    }

    /// The same checks for an AAT; returns the requesting party it speaks for.
    pub fn requester(&self, issuer: &str, now: UnixTime) -> Result<Requester, Error> {
        self.check(issuer, now, ApiScope::Authorization)?;
        Ok(Requester {
            client_id: self.client_id.clone(),
            subject: self.sub.clone(),
            aat_id: self.jti.clone(),
            claims: self.rqp_claims.clone().unwrap_or_default(),
        })
    }

    fn check(&self, issuer: &str, now: UnixTime, api: ApiScope) -> Result<(), Error> {
        if self.iss != issuer {
            return Err(Error::InvalidToken(
                "the token was issued by someone else".into(),
            ));
        }
        if now >= self.exp {
            return Err(Error::InvalidToken("the access token expired".into()));
        }
        let latest_start = now.saturating_add(CLOCK_SKEW);
        if self.iat > latest_start || self.nbf.is_some_and(|nbf| nbf > latest_start) {
            return Err(Error::InvalidToken("the token is not valid yet".into()));
        }
        if !scope::grants(&self.scope, api) {
            return Err(Error::InsufficientScope(format!(
                "this API needs a token with the {} scope",
                api.short_name()
            )));
        }
        Ok(())
    }
}

/// The requesting party and client an AAT speaks for.
#[derive(Debug, Clone, PartialEq)]
pub struct Requester {
    pub client_id: String,
    /// The requesting party.
    pub subject: String,
    /// The AAT's `jti` (one live RPT per AAT).
    pub aat_id: String,
    /// Verified claims carried by the AAT.
    pub claims: Map<String, Value>,
}

/// Longest bearer token we are willing to parse.
pub const MAX_TOKEN_LEN: usize = 8 * 1024;

/// Extracts the token of a `Bearer` credential (RFC 6750 §2.1). Any other
/// scheme counts as no token at all.
pub fn bearer_token(authorization: Option<&str>) -> Result<&str, Error> {
    let value = authorization.ok_or(Error::MissingToken)?.trim();
    let (scheme, token) = value.split_once(' ').ok_or(Error::MissingToken)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(Error::MissingToken);
    }
    let token = token.trim();
    if token.is_empty() || token.len() > MAX_TOKEN_LEN || token.contains(char::is_whitespace) {
        return Err(Error::InvalidToken("malformed bearer token".into()));
    }
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pat() -> AccessTokenClaims {
        AccessTokenClaims {
            iss: "https://as.example.com".into(),
            sub: "alice".into(),
            client_id: "photoz".into(),
            scope: scope::PROTECTION_URI.into(),
            iat: 1_000,
            exp: 4_600,
            jti: "j".into(),
            nbf: None,
            rqp_claims: None,
            grant: None,
        }
    }

    #[test]
    fn a_valid_pat_opens_its_namespace() {
        let ns = pat()
            .authorize("https://as.example.com", 2_000, ApiScope::Protection)
            .unwrap();
        assert_eq!(
            ns,
            Namespace {
                client_id: "photoz".into(),
                owner: "alice".into()
            }
        );
    }

    #[test]
    fn expiry_issuer_and_scope_are_enforced() {
        let claims = pat();
        assert!(matches!(
            claims.authorize("https://as.example.com", 4_600, ApiScope::Protection),
            Err(Error::InvalidToken(_))
        ));
        assert!(matches!(
            claims.authorize("https://evil.example.com", 2_000, ApiScope::Protection),
            Err(Error::InvalidToken(_))
        ));
        assert!(matches!(
            claims.authorize("https://as.example.com", 2_000, ApiScope::Authorization),
            Err(Error::InsufficientScope(_))
        ));
        assert!(matches!(
            claims.authorize("https://as.example.com", 100, ApiScope::Protection),
            Err(Error::InvalidToken(_))
        ));
    }

    #[test]
    fn a_token_is_not_valid_before_its_nbf_beyond_the_skew() {
        let at = |nbf: Option<UnixTime>, now: UnixTime| {
            let claims = AccessTokenClaims { nbf, ..pat() };
            (
                claims.authorize("https://as.example.com", now, ApiScope::Protection),
                claims.requester("https://as.example.com", now),
            )
        };
        // An hour ahead: refused on both APIs.
        let (pat_use, aat_use) = at(Some(2_000 + 3_600), 2_000);
        assert!(matches!(pat_use, Err(Error::InvalidToken(_))));
        assert!(matches!(aat_use, Err(Error::InvalidToken(_))));
        // One second beyond the skew: refused; at the skew: accepted.
        assert!(matches!(
            at(Some(2_000 + CLOCK_SKEW + 1), 2_000).0,
            Err(Error::InvalidToken(_))
        ));
        assert!(at(Some(2_000 + CLOCK_SKEW), 2_000).0.is_ok());
        assert!(at(Some(2_000 + 30), 2_000).0.is_ok());
        // Past, or absent: accepted.
        assert!(at(Some(1_500), 2_000).0.is_ok());
        assert!(at(None, 2_000).0.is_ok());
        // A token becomes valid once the clock reaches its nbf (less the skew).
        assert!(at(Some(2_600), 2_000).0.is_err());
        assert!(at(Some(2_600), 2_600 - CLOCK_SKEW).0.is_ok());
        assert!(at(Some(2_600), 2_600).0.is_ok());
        // An nbf cannot bring forward a token whose iat is ahead.
        let early = AccessTokenClaims {
            iat: 2_000 + 3_600,
            nbf: Some(1_000),
            ..pat()
        };
        assert!(
            early
                .authorize("https://as.example.com", 2_000, ApiScope::Protection)
                .is_err()
        );
    }

    #[test]
    fn nbf_is_read_from_the_token_and_only_as_a_whole_number() {
        let mut json = serde_json::to_value(pat()).unwrap();
        assert!(json.get("nbf").is_none(), "not written when absent");
        json["nbf"] = serde_json::json!(5_000);
        let claims: AccessTokenClaims = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(claims.nbf, Some(5_000));
        // Other shapes do not parse, so the token is refused, not unchecked.
        for odd in [
            serde_json::json!(5_000.5),
            serde_json::json!("5000"),
            serde_json::json!(u64::MAX),
        ] {
            json["nbf"] = odd;
            assert!(serde_json::from_value::<AccessTokenClaims>(json.clone()).is_err());
        }
    }

    #[test]
    fn bearer_parsing() {
        assert_eq!(bearer_token(Some("Bearer abc")), Ok("abc"));
        assert_eq!(bearer_token(Some("bearer  abc ")), Ok("abc"));
        assert_eq!(bearer_token(None), Err(Error::MissingToken));
        assert_eq!(bearer_token(Some("Basic abc")), Err(Error::MissingToken));
        assert_eq!(bearer_token(Some("Bearer")), Err(Error::MissingToken));
        assert!(matches!(
            bearer_token(Some("Bearer a b")),
            Err(Error::InvalidToken(_))
        ));
        let huge = format!("Bearer {}", "a".repeat(MAX_TOKEN_LEN + 1));
        assert!(matches!(
            bearer_token(Some(&huge)),
            Err(Error::InvalidToken(_))
        ));
    }
}
