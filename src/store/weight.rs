//! Approximate heap sizes of cached keys and values, so each cache map can
//! be bounded by bytes and not only by entries: a value is as large as what
//! was stored (a resource set with its extensions, a policy with its
//! conditions), and a count alone would let a few large ones, or many keys
//! near the identifier limits, take the process's memory.
//!
//! The figures are estimates (string and collection contents plus a fixed
//! overhead per item), good enough to keep a map within its budget.

use std::collections::HashMap;
use std::sync::Arc;

/// Bookkeeping a map entry costs beyond its contents (hash slot, pointers).
const OVERHEAD: usize = 48;

/// An estimate of the memory a cached key or value holds.
pub(crate) trait Weight {
    fn weight(&self) -> usize;
}

impl Weight for String {
    fn weight(&self) -> usize {
        self.len() + 24
    }
}

impl Weight for () {
    fn weight(&self) -> usize {
        0
    }
}

impl Weight for bool {
    fn weight(&self) -> usize {
        1
    }
}

impl<T: Weight> Weight for Option<T> {
    fn weight(&self) -> usize {
        8 + self.as_ref().map_or(0, Weight::weight)
    }
}

impl<T: Weight + ?Sized> Weight for Arc<T> {
    fn weight(&self) -> usize {
        16 + (**self).weight()
    }
}

impl<T: Weight> Weight for Vec<T> {
    fn weight(&self) -> usize {
        24 + self.iter().map(Weight::weight).sum::<usize>()
    }
}

impl<K: Weight, V: Weight> Weight for HashMap<K, V> {
    fn weight(&self) -> usize {
        48 + self
            .iter()
            .map(|(k, v)| k.weight() + v.weight() + 8)
            .sum::<usize>()
    }
}

impl<A: Weight, B: Weight> Weight for (A, B) {
    fn weight(&self) -> usize {
        self.0.weight() + self.1.weight()
    }
}

impl<A: Weight, B: Weight, C: Weight> Weight for (A, B, C) {
    fn weight(&self) -> usize {
        self.0.weight() + self.1.weight() + self.2.weight()
    }
}

impl Weight for serde_json::Value {
    fn weight(&self) -> usize {
        use serde_json::Value;
        32 + match self {
            Value::String(s) => s.len(),
            Value::Array(items) => items.iter().map(Weight::weight).sum(),
            Value::Object(map) => map.weight(),
            Value::Null | Value::Bool(_) | Value::Number(_) => 0,
        }
    }
}

impl Weight for serde_json::Map<String, serde_json::Value> {
    fn weight(&self) -> usize {
        self.iter().map(|(k, v)| k.len() + 24 + v.weight()).sum()
    }
}

/// What one entry of a map costs: key, value and bookkeeping.
pub(crate) fn entry<K: Weight, V: Weight>(key: &K, value: &V) -> usize {
    key.weight() + value.weight() + OVERHEAD
}

impl Weight for crate::domain::rpt::Permission {
    fn weight(&self) -> usize {
        self.owner.weight() + self.resource_set_id.weight() + self.scopes.weight() + 16
    }
}

impl Weight for super::rpts::RptRecord {
    fn weight(&self) -> usize {
        self.token_hash.weight()
            + self.client_id.weight()
            + self.subject.weight()
            + self.resource_server.weight()
            + 48
    }
}

impl Weight for super::rpts::CachedStatus {
    fn weight(&self) -> usize {
        self.record.weight() + self.permissions.weight() + self.registered.weight()
    }
}

impl Weight for crate::domain::resource_set::ResourceSetDescription {
    fn weight(&self) -> usize {
        self.name.weight()
            + self.icon_uri.weight()
            + self.scopes.weight()
            + self.kind.weight()
            + self.extensions.weight()
    }
}

impl Weight for super::resource_sets::StoredResourceSet {
    fn weight(&self) -> usize {
        self.description.weight() + 8
    }
}

impl Weight for crate::domain::policy::Policy {
    fn weight(&self) -> usize {
        // The definition's JSON length stands for its conditions.
        self.id.weight() + serde_json::to_vec(&self.definition).map_or(1024, |json| json.len() * 2)
    }
}

impl Weight for super::pending::PendingRecord {
    fn weight(&self) -> usize {
        self.id.weight()
            + self.access.resource_set_id.weight()
            + self.access.scopes.weight()
            + self.access.client_id.weight()
            + self.access.subject.weight()
            + 32
    }
}

impl Weight for super::clients::VerifiedClient {
    fn weight(&self) -> usize {
        let r = &self.record;
        self.secret_sha256.weight()
            + r.client_id.weight()
            + r.secret_hash.weight()
            + r.name.weight()
            + r.owner.weight()
            + r.scopes.weight()
            + r.grant_types.weight()
            + r.redirect_uris.weight()
            + r.registration_token_hash.weight()
            + 16
    }
}

impl Weight for super::enforcement::HostedProfile {
    fn weight(&self) -> usize {
        self.client_id.weight()
            + serde_json::to_vec(&self.profile).map_or(1024, |json| json.len() * 2)
    }
}

impl Weight for crate::domain::enforcement::PathIndex {
    fn weight(&self) -> usize {
        self.approximate_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_grow_with_contents() {
        let small = "a".to_string();
        let large = "a".repeat(10_000);
        assert!(large.weight() >= 10_000);
        assert!(large.weight() > small.weight());
        assert!(vec![large.clone(), large.clone()].weight() >= 20_000);
        assert!(Some(large.clone()).weight() > None::<String>.weight());
        assert!(
            serde_json::json!({"k": large.clone(), "list": [large.clone()]}).weight() >= 20_000
        );
        assert!(entry(&(small.clone(), large.clone()), &true) >= 10_000);
    }
}
