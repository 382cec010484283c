//! UMA API scopes in every spelling the generations used, and the rules for
//! which scopes a client may be granted.

use std::collections::BTreeSet;

use super::Error;

/// Draft-06 PAT scope.
pub const PROTECTION_URI: &str = "http://docs.kantarainitiative.org/uma/scopes/prot.json";
/// UMA 1.0+ PAT scope.
pub const PROTECTION: &str = "uma_protection";
/// Draft-06 AAT scope as written in §1.3/§1.5.
pub const AUTHORIZATION_URI: &str = "http://docs.kantarainitiative.org/uma/scopes/authorization";
/// Draft-06 AAT scope as written in §3.4.1 and Appendix A.
pub const AUTHORIZATION_JSON_URI: &str = "http://docs.kantarainitiative.org/uma/scopes/authz.json";
/// UMA 1.0+ AAT scope.
pub const AUTHORIZATION: &str = "uma_authorization";

/// The two protected UMA APIs a token can open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiScope {
    /// The protection API (PAT).
    Protection,
    /// The authorization API (AAT).
    Authorization,
}

impl ApiScope {
    /// Recognises any spelling of an API scope.
    pub fn parse(scope: &str) -> Option<ApiScope> {
        match scope {
            PROTECTION | PROTECTION_URI => Some(ApiScope::Protection),
            AUTHORIZATION | AUTHORIZATION_URI | AUTHORIZATION_JSON_URI => {
                Some(ApiScope::Authorization)
            }
            _ => None,
        }
    }

    /// The short (UMA 1.0+) name.
    pub fn short_name(self) -> &'static str {
        match self {
            ApiScope::Protection => PROTECTION,
            ApiScope::Authorization => AUTHORIZATION,
        }
    }
}

/// Maps every alias of an API scope to its short name; other scopes are kept.
pub fn canonical(scope: &str) -> &str {
    match ApiScope::parse(scope) {
        Some(api) => api.short_name(),
        None => scope,
    }
}

/// Splits an OAuth `scope` parameter (RFC 6749 §3.3) into its scopes.
pub fn split(scope: &str) -> Vec<String> {
    let mut seen = BTreeSet::new();
    scope
        .split(' ')
        .filter(|s| !s.is_empty())
        .filter(|s| seen.insert(*s))
        .map(str::to_string)
        .collect()
}

/// Does the space-separated `granted` scope string include `api` in any spelling?
pub fn grants(granted: &str, api: ApiScope) -> bool {
    granted.split(' ').any(|s| ApiScope::parse(s) == Some(api))
}

/// Decides the scopes of a token: the requested ones (all of them allowed
/// for the client), or the client's registered ones when none are requested.
pub fn grant(requested: &str, registered: &[String]) -> Result<Vec<String>, Error> {
    let allowed: BTreeSet<&str> = registered.iter().map(|s| canonical(s)).collect();
    let requested = split(requested);
    if requested.is_empty() {
        if registered.is_empty() {
            return Err(Error::InvalidScope(
                "the client has no registered scopes; name one in `scope`".into(),
            ));
        }
        return Ok(registered.to_vec());
    }
    if let Some(bad) = requested.iter().find(|s| !allowed.contains(canonical(s))) {
        return Err(Error::InvalidScope(format!(
            "scope `{bad}` is not registered for this client"
        )));
    }
    Ok(requested)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_pat_and_aat_spelling_is_recognised() {
        assert_eq!(ApiScope::parse(PROTECTION_URI), Some(ApiScope::Protection));
        assert_eq!(ApiScope::parse(PROTECTION), Some(ApiScope::Protection));
        assert_eq!(
            ApiScope::parse(AUTHORIZATION),
            Some(ApiScope::Authorization)
        );
        assert_eq!(
            ApiScope::parse(AUTHORIZATION_URI),
            Some(ApiScope::Authorization)
        );
        assert_eq!(
            ApiScope::parse(AUTHORIZATION_JSON_URI),
            Some(ApiScope::Authorization)
        );
        assert_eq!(ApiScope::parse("read"), None);
    }

    #[test]
    fn a_client_registered_with_one_spelling_may_ask_for_another() {
        let registered = vec![PROTECTION.to_string()];
        assert_eq!(
            grant(PROTECTION_URI, &registered),
            Ok(vec![PROTECTION_URI.to_string()])
        );
    }

    #[test]
    fn unregistered_scope_is_refused() {
        let registered = vec![PROTECTION.to_string()];
        assert!(matches!(
            grant("uma_authorization", &registered),
            Err(Error::InvalidScope(_))
        ));
        assert!(matches!(
            grant("uma_protection admin", &registered),
            Err(Error::InvalidScope(_))
        ));
    }

    #[test]
    fn empty_request_gets_the_registered_scopes() {
        let registered = vec![PROTECTION.to_string()];
        assert_eq!(grant("", &registered), Ok(registered.clone()));
        assert!(grant("", &[]).is_err());
    }

    #[test]
    fn grants_checks_any_spelling() {
        assert!(grants("openid uma_protection", ApiScope::Protection));
        assert!(grants(PROTECTION_URI, ApiScope::Protection));
        assert!(!grants("uma_authorization", ApiScope::Protection));
    }

    #[test]
    fn split_drops_empties_and_duplicates() {
        assert_eq!(split(" a  b a "), vec!["a".to_string(), "b".to_string()]);
    }
}
