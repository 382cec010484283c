//! Read-through caches for the hot paths (RPT status, decisions, permission
//! registration, client authentication), so that answering needs no database
//! round trip while nothing changed.
//!
//! Correctness: every write through this [`Store`](super::Store) drops the
//! caches after it commits, and bumps the database's change counter in its
//! transaction; [`Cache::refresh`] (polled by each replica) drops them when
//! another replica's write moved the counter. A reader only fills the cache if
//! no drop happened while it was reading (generation check under the map's
//! lock), so a stale value is never put back after a drop.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use crate::domain::Error;

/// Most entries one map keeps; past it the map is emptied (bounded memory
/// whatever keys callers make up).
const MAX_ENTRIES: usize = 200_000;

/// One cached query.
pub(crate) struct CacheMap<K, V> {
    entries: RwLock<HashMap<K, V>>,
}

impl<K: Eq + Hash, V: Clone> CacheMap<K, V> {
    fn new() -> Self {
        CacheMap {
            entries: RwLock::new(HashMap::new()),
        }
    }

    fn get(&self, key: &K) -> Option<V> {
        self.entries
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(key)
            .cloned()
    }

    fn clear(&self) {
        self.entries
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clear();
    }
}

/// The caches of one store handle (shared by its clones).
pub(crate) struct Cache {
    /// Bumped before every drop; readers compare it to decide whether to fill.
    generation: AtomicU64,
    /// The database change counter last seen.
    revision: AtomicI64,
    pub(crate) rpt_status: CacheMap<(String, String), Arc<super::rpts::CachedStatus>>,
    pub(crate) resource_sets:
        CacheMap<(String, String, String), Option<super::resource_sets::StoredResourceSet>>,
    pub(crate) policies:
        CacheMap<(String, String, String), Arc<Vec<crate::domain::policy::Policy>>>,
    pub(crate) pending: CacheMap<String, Option<super::pending::PendingRecord>>,
    pub(crate) clients: CacheMap<String, Arc<super::clients::VerifiedClient>>,
}

impl Cache {
    pub(crate) fn new() -> Cache {
        Cache {
            generation: AtomicU64::new(0),
            revision: AtomicI64::new(i64::MIN),
            rpt_status: CacheMap::new(),
            resource_sets: CacheMap::new(),
            policies: CacheMap::new(),
            pending: CacheMap::new(),
            clients: CacheMap::new(),
        }
    }

    /// Drops every cached answer.
    pub(crate) fn invalidate(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.rpt_status.clear();
        self.resource_sets.clear();
        self.policies.clear();
        self.pending.clear();
        self.clients.clear();
    }

    /// Drops the caches if the database change counter moved since last seen.
    pub(crate) fn observe(&self, revision: i64) {
        if self.revision.swap(revision, Ordering::SeqCst) != revision {
            self.invalidate();
        }
    }

    /// The cached value, or `load`'s (cached unless a drop happened meanwhile).
    pub(crate) async fn read_through<K, V, F, Fut>(
        &self,
        map: &CacheMap<K, V>,
        key: K,
        load: F,
    ) -> Result<V, Error>
    where
        K: Eq + Hash,
        V: Clone,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V, Error>>,
    {
        if let Some(value) = map.get(&key) {
            return Ok(value);
        }
        let generation = self.generation.load(Ordering::SeqCst);
        let value = load().await?;
        self.fill(map, key, &value, generation);
        Ok(value)
    }

    /// Puts a value loaded at `generation` into the cache, unless a drop
    /// happened since.
    pub(crate) fn fill<K: Eq + Hash, V: Clone>(
        &self,
        map: &CacheMap<K, V>,
        key: K,
        value: &V,
        generation: u64,
    ) {
        let mut entries = map
            .entries
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if self.generation.load(Ordering::SeqCst) != generation {
            return;
        }
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(key, value.clone());
    }

    /// The current generation (for callers that fill by hand).
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// A cached value, if any.
    pub(crate) fn get<K: Eq + Hash, V: Clone>(&self, map: &CacheMap<K, V>, key: &K) -> Option<V> {
        map.get(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_drop_during_a_load_keeps_the_stale_value_out() {
        let cache = Cache::new();
        let value = cache
            .read_through(&cache.pending, "k".to_string(), || async {
                cache.invalidate(); // a write commits while we read
                Ok(None)
            })
            .await
            .unwrap();
        assert_eq!(value, None);
        assert!(cache.pending.get(&"k".to_string()).is_none(), "not cached");

        cache
            .read_through(&cache.pending, "k".to_string(), || async { Ok(None) })
            .await
            .unwrap();
        assert!(cache.pending.get(&"k".to_string()).is_some(), "cached");
        cache.observe(5);
        assert!(
            cache.pending.get(&"k".to_string()).is_none(),
            "dropped on a new revision"
        );
        cache
            .read_through(&cache.pending, "k".to_string(), || async { Ok(None) })
            .await
            .unwrap();
        cache.observe(5);
        assert!(
            cache.pending.get(&"k".to_string()).is_some(),
            "same revision keeps it"
        );
    }
}
