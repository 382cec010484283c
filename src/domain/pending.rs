//! Requests held for the resource owner's approval: which access one is
//! about and where it stands. Values only; the store keeps them, the core
//! decides with them, the adapters render them.

/// Which access a decision or a held request is about: a party (client
/// and requesting party) asking for scopes on one resource set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    pub resource_set_id: String,
    /// Requested scopes (order does not matter).
    pub scopes: Vec<String>,
    pub client_id: String,
    pub subject: String,
}

impl Access {
    /// The requested scopes in one canonical spelling (sorted, without
    /// repeats, space-separated), so that two requests for the same scopes
    /// in another order are one held request.
    pub fn scopes_key(&self) -> String {
        let mut scopes = self.scopes.clone();
        scopes.sort();
        scopes.dedup();
        scopes.join(" ")
    }
}

/// The state of a held request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PendingStatus {
    Pending,
    Approved,
    Denied,
}

impl PendingStatus {
    /// The spelling the store and the protocols use.
    pub fn as_str(self) -> &'static str {
        match self {
            PendingStatus::Pending => "pending",
            PendingStatus::Approved => "approved",
            PendingStatus::Denied => "denied",
        }
    }

    /// The status a spelling names.
    pub fn parse(text: &str) -> Option<PendingStatus> {
        [
            PendingStatus::Pending,
            PendingStatus::Approved,
            PendingStatus::Denied,
        ]
        .into_iter()
        .find(|status| status.as_str() == text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_in_any_order_are_one_key() {
        let access = |scopes: &[&str]| Access {
            resource_set_id: "rs".into(),
            scopes: scopes.iter().map(|s| (*s).to_string()).collect(),
            client_id: "c".into(),
            subject: "s".into(),
        };
        assert_eq!(access(&["view", "edit"]).scopes_key(), "edit view");
        assert_eq!(
            access(&["edit", "view", "edit"]).scopes_key(),
            access(&["view", "edit"]).scopes_key()
        );
    }

    #[test]
    fn statuses_read_back_what_they_spell() {
        for status in [
            PendingStatus::Pending,
            PendingStatus::Approved,
            PendingStatus::Denied,
        ] {
            assert_eq!(PendingStatus::parse(status.as_str()), Some(status));
        }
        assert_eq!(PendingStatus::parse("maybe"), None);
    }
}
