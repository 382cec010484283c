//! Permission tickets (draft-06 §3.2): what a resource server asks for on a
//! client's behalf, correlated by a short-lived, unguessable handle.

use super::resource_set::ResourceSetDescription;
use super::{Error, UnixTime};

/// Bytes of entropy in a ticket: 128 bits, the digest's floor (§3.2 [REC]).
pub const TICKET_BYTES: usize = 16;

/// A validated request for a permission on one registered resource set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestedPermission {
    /// The resource set id in the caller's namespace.
    pub resource_set_id: String,
    /// The scopes asked for; each registered for the set.
    pub scopes: Vec<String>,
}

impl RequestedPermission {
    /// Checks the requested scopes against the set's registered scopes
    /// (`invalid_scope` if any is not registered).
    pub fn validate(
        resource_set_id: String,
        scopes: Vec<String>,
        registered: &ResourceSetDescription,
    ) -> Result<RequestedPermission, Error> {
        if scopes.is_empty() {
            return Err(Error::invalid_request(
                "`scopes` must list at least one scope",
            ));
        }
        let mut unique: Vec<String> = Vec::with_capacity(scopes.len());
        for scope in scopes {
            if !registered.scopes.contains(&scope) {
                return Err(Error::InvalidScope(format!(
                    "scope `{scope}` is not registered for resource set `{resource_set_id}`"
                )));
            }
            if !unique.contains(&scope) {
                unique.push(scope);
            }
        }
        Ok(RequestedPermission {
            resource_set_id,
            scopes: unique,
        })
    }
}

/// When a ticket minted at `now` with lifetime `ttl_seconds` stops being valid.
pub fn expires_at(now: UnixTime, ttl_seconds: u64) -> UnixTime {
    now.saturating_add(i64::try_from(ttl_seconds).unwrap_or(i64::MAX))
}

/// A ticket is honoured strictly before its expiry instant.
pub fn is_expired(expires_at: UnixTime, now: UnixTime) -> bool {
    now >= expires_at
}

#[cfg(test)]
mod tests {
    use serde_json::Map;

    use super::*;

    fn album() -> ResourceSetDescription {
        ResourceSetDescription::new(
            "album".into(),
            None,
            vec!["view".into(), "all".into()],
            None,
            Map::new(),
        )
        .unwrap()
    }

    #[test]
    fn scopes_must_be_registered() {
        let ok =
            RequestedPermission::validate("a".into(), vec!["view".into(), "view".into()], &album());
        assert_eq!(ok.unwrap().scopes, vec!["view".to_string()]);
        let bad = RequestedPermission::validate("a".into(), vec!["delete".into()], &album());
        assert!(matches!(bad, Err(Error::InvalidScope(_))));
        let empty = RequestedPermission::validate("a".into(), vec![], &album());
        assert!(matches!(empty, Err(Error::InvalidRequest(_))));
    }

    #[test]
    fn expiry_is_exclusive_with_a_fixed_clock() {
        let now = 1_000;
        let exp = expires_at(now, 300);
        assert_eq!(exp, 1_300);
        assert!(!is_expired(exp, 1_299));
        assert!(is_expired(exp, 1_300));
        assert_eq!(expires_at(now, u64::MAX), i64::MAX);
    }
}
