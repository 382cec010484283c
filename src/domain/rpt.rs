//! What an RPT shows a resource server (draft-06 §3.3.1): its permissions that
//! are still valid, on resource sets that are still registered, limited to
//! scopes that are still registered.

use std::collections::HashMap;

use super::UnixTime;

/// Bytes of entropy in an RPT: 256 bits.
pub const RPT_BYTES: usize = 32;

/// A permission attached to an RPT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Permission {
    /// The resource owner whose policy granted it (and whose set it is on).
    pub owner: String,
    /// Resource set id in the resource server's namespace.
    pub resource_set_id: String,
    /// Granted scopes.
    pub scopes: Vec<String>,
    /// Granted at.
    pub issued_at: UnixTime,
    /// From this instant on the permission must not be honoured.
    pub expires_at: UnixTime,
}

/// The current scopes of registered resource sets, by (owner, resource set id).
pub type RegisteredScopes = HashMap<(String, String), Vec<String>>;

/// The permissions a status answer may show: unexpired, on a still-registered
/// set, with scopes narrowed to the registered ones, optionally only for one set.
pub fn visible_permissions(
    permissions: Vec<Permission>,
    registered: &RegisteredScopes,
    only: Option<&str>,
    now: UnixTime,
) -> Vec<Permission> {
    permissions
        .into_iter()
        .filter(|p| now < p.expires_at)
        .filter(|p| only.is_none_or(|id| id == p.resource_set_id))
        .filter_map(|mut p| {
            let current = registered.get(&(p.owner.clone(), p.resource_set_id.clone()))?;
            p.scopes.retain(|s| current.contains(s));
            (!p.scopes.is_empty()).then_some(p)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn perm(id: &str, scopes: &[&str], exp: UnixTime) -> Permission {
        Permission {
            owner: "alice".into(),
            resource_set_id: id.into(),
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            issued_at: 0,
            expires_at: exp,
        }
    }

    #[test]
    fn expired_unregistered_and_narrowed_scopes_are_hidden() {
        let registered = HashMap::from([
            (
                ("alice".to_string(), "a".to_string()),
                vec!["view".to_string()],
            ),
            (
                ("alice".to_string(), "b".to_string()),
                vec!["view".to_string(), "edit".to_string()],
            ),
            (
                ("bob".to_string(), "gone".to_string()),
                vec!["view".to_string()],
            ),
        ]);
        let perms = vec![
            perm("a", &["view", "edit"], 2_000),
            perm("b", &["edit"], 1_000),
            perm("gone", &["view"], 2_000),
            perm("a", &["edit"], 2_000),
        ];
        let shown = visible_permissions(perms, &registered, None, 1_000);
        assert_eq!(shown, vec![perm("a", &["view"], 2_000)]);
    }

    #[test]
    fn filter_by_resource_set() {
        let registered = HashMap::from([
            (
                ("alice".to_string(), "a".to_string()),
                vec!["v".to_string()],
            ),
            (
                ("alice".to_string(), "b".to_string()),
                vec!["v".to_string()],
            ),
        ]);
        let perms = vec![perm("a", &["v"], 10), perm("b", &["v"], 10)];
        let shown = visible_permissions(perms, &registered, Some("b"), 0);
        assert_eq!(shown, vec![perm("b", &["v"], 10)]);
    }
}
