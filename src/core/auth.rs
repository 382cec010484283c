//! Bearer-token authentication of protection and authorization API calls.

use super::Core;
use crate::domain::scope::ApiScope;
use crate::domain::{Error, Namespace};

/// Longest bearer token we are willing to parse.
pub(super) const MAX_TOKEN_LEN: usize = 8 * 1024;

impl Core {
    /// Authenticates an `Authorization` header value (HTTP header or gRPC
    /// metadata) for `api`; returns the namespace the token speaks for.
    pub fn authenticate(
        &self,
        authorization: Option<&str>,
        api: ApiScope,
    ) -> Result<Namespace, Error> {
        let token = bearer_token(authorization)?;
        let claims = self.inner.keys.verify(token)?;
        claims.authorize(&self.inner.policy.issuer, self.now(), api)
    }
}

/// Extracts the token of a `Bearer` credential (RFC 6750 §2.1). Any other
/// scheme counts as no token at all.
pub(super) fn bearer_token(authorization: Option<&str>) -> Result<&str, Error> {
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
