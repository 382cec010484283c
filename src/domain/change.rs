//! Changes an enforcement point caches around: when one is reported, the
//! decisions it made about that resource set (or that RPT) may be stale.

use super::UnixTime;

/// What changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    ResourceSetCreated,
    ResourceSetUpdated,
    ResourceSetDeleted,
    PolicyCreated,
    PolicyDeleted,
    /// An RPT was revoked (superseded by a newer RPT for its AAT).
    RptRevoked,
}

impl ChangeKind {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::ResourceSetCreated => "resource_set_created",
            ChangeKind::ResourceSetUpdated => "resource_set_updated",
            ChangeKind::ResourceSetDeleted => "resource_set_deleted",
            ChangeKind::PolicyCreated => "policy_created",
            ChangeKind::PolicyDeleted => "policy_deleted",
            ChangeKind::RptRevoked => "rpt_revoked",
        }
    }

    /// The kind a stored spelling names.
    pub fn parse(text: &str) -> Option<ChangeKind> {
        [
            ChangeKind::ResourceSetCreated,
            ChangeKind::ResourceSetUpdated,
            ChangeKind::ResourceSetDeleted,
            ChangeKind::PolicyCreated,
            ChangeKind::PolicyDeleted,
            ChangeKind::RptRevoked,
        ]
        .into_iter()
        .find(|k| k.as_str() == text)
    }
}

/// One change, as recorded (empty strings where a field does not apply).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// Assigned when recorded; strictly increasing in commit order.
    pub revision: i64,
    pub kind: ChangeKind,
    /// The resource server (client id) whose enforcement points care.
    pub resource_server: String,
    pub owner: String,
    pub resource_set_id: String,
    pub policy_id: String,
    /// Hex SHA-256 of the revoked RPT (never the RPT itself).
    pub rpt_hash: String,
    pub at: UnixTime,
}

impl Change {
    /// A change about a resource set or its policy.
    pub fn about_set(
        kind: ChangeKind,
        resource_server: &str,
        owner: &str,
        resource_set_id: &str,
        policy_id: &str,
        at: UnixTime,
    ) -> Change {
        Change {
            revision: 0,
            kind,
            resource_server: resource_server.into(),
            owner: owner.into(),
            resource_set_id: resource_set_id.into(),
            policy_id: policy_id.into(),
            rpt_hash: String::new(),
            at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_through_their_spelling() {
        for kind in [
            ChangeKind::ResourceSetCreated,
            ChangeKind::ResourceSetUpdated,
            ChangeKind::ResourceSetDeleted,
            ChangeKind::PolicyCreated,
            ChangeKind::PolicyDeleted,
            ChangeKind::RptRevoked,
        ] {
            assert_eq!(ChangeKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(ChangeKind::parse("nonsense"), None);
    }
}
