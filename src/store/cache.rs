//! Read-through caches for the hot paths (RPT status, decisions, permission
//! registration, client authentication), so that answering needs no database
//! round trip while nothing changed.
//!
//! Correctness: every write through this [`Store`](super::Store) drops the
//! caches after it commits, and bumps the database's change counter in its
//! transaction; [`Cache::observe`] (polled by each replica) drops them when
//! another replica's write moved the counter. A reader only fills a map if
//! that map was not dropped while it was reading (the map's generation,
//! checked under its lock), so a stale value is never put back after a drop.
//!
//! Freshness: a replica that cannot read the change counter (its database
//! connection is gone) cannot know what other replicas changed, so a cached
//! answer is served only while the last successful look at the counter is
//! recent ([`Cache::set_staleness_bound`]); past that every lookup goes to
//! the database, which answers or fails (503) — never an answer that may
//! have been revoked elsewhere.
//!
//! The client memo (verified client secrets) is not dropped by those writes:
//! no write to sets, policies, tickets or RPTs can change a client, and
//! dropping it would send every client back through argon2 after any write.
//! Clients cannot be changed or deleted yet; whatever does so must clear
//! `clients` (and, across replicas, bump a counter of its own).

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use super::weight::{self, Weight};
use crate::domain::Error;

/// How long cached answers stay servable after the last successful look at
/// the change counter, unless the application sets its own bound.
const DEFAULT_STALENESS_BOUND: Duration = Duration::from_millis(1500);

/// Most entries one map keeps; past it the map is emptied (bounded memory
/// whatever keys callers make up).
const MAX_ENTRIES: usize = 200_000;

/// Most bytes (estimated, see [`super::weight`]) one map holds; past it the
/// map is emptied. Nine maps: at most ~300 MiB of cached answers in all.
const MAX_BYTES: usize = 32 * 1024 * 1024;

/// The entries of one map and their estimated size.
struct Entries<K, V> {
    map: HashMap<K, V>,
    bytes: usize,
}

/// One cached query.
pub(crate) struct CacheMap<K, V> {
    /// Bumped before every drop; readers compare it to decide whether to fill.
    generation: AtomicU64,
    entries: RwLock<Entries<K, V>>,
    max_bytes: usize,
}

impl<K: Eq + Hash + Weight, V: Clone + Weight> CacheMap<K, V> {
    fn new() -> Self {
        CacheMap::with_budget(MAX_BYTES)
    }

    fn with_budget(max_bytes: usize) -> Self {
        CacheMap {
            generation: AtomicU64::new(0),
            entries: RwLock::new(Entries {
                map: HashMap::new(),
                bytes: 0,
            }),
            max_bytes,
        }
    }

    fn get(&self, key: &K) -> Option<V> {
        self.entries
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .map
            .get(key)
            .cloned()
    }

    /// The estimated bytes the map holds now.
    pub(crate) fn bytes(&self) -> usize {
        self.entries
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .bytes
    }

    /// The generation to pass to [`CacheMap::fill`] (read before loading).
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    pub(crate) fn clear(&self) {
        let mut entries = self
            .entries
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        self.generation.fetch_add(1, Ordering::SeqCst);
        entries.map.clear();
        entries.map.shrink_to(0);
        entries.bytes = 0;
    }

    /// Puts a value loaded at `generation` into the map, unless the map was
    /// dropped since.
    pub(crate) fn fill(&self, key: K, value: &V, generation: u64) {
        let mut entries = self
            .entries
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if self.generation.load(Ordering::SeqCst) != generation {
            return;
        }
        let cost = weight::entry(&key, value);
        if cost > self.max_bytes / 16 {
            // One answer this large is not worth a sixteenth of the budget.
            return;
        }
        if entries.map.len() >= MAX_ENTRIES || entries.bytes + cost > self.max_bytes {
            entries.map.clear();
            entries.map.shrink_to(0);
            entries.bytes = 0;
        }
        if let Some(old) = entries.map.insert(key, value.clone()) {
            // The same key filled twice (two concurrent loads): count it once.
            entries.bytes = entries.bytes.saturating_sub(old.weight());
        }
        entries.bytes += cost;
    }
}

/// The caches of one store handle (shared by its clones).
pub(crate) struct Cache {
    /// When this cache was made; the freshness deadline counts from it.
    epoch: Instant,
    /// Cached answers may be served until this many ms after `epoch`: the
    /// start of the last successful look at the change counter plus the
    /// staleness bound. 0 (before the first look): never.
    fresh_until_ms: AtomicU64,
    /// How long after a successful look cached answers stay servable, ms.
    staleness_bound_ms: AtomicU64,
    /// The database change counter last seen.
    revision: AtomicI64,
    pub(crate) rpt_status: CacheMap<(String, String), Arc<super::rpts::CachedStatus>>,
    pub(crate) resource_sets:
        CacheMap<(String, String, String), Option<super::resource_sets::StoredResourceSet>>,
    pub(crate) policies:
        CacheMap<(String, String, String), Arc<Vec<crate::domain::policy::Policy>>>,
    /// Every held request on one resource set, keyed by (resource server,
    /// owner, set): one entry per set that exists, whatever parties ask.
    pub(crate) pending: CacheMap<(String, String, String), Arc<Vec<super::pending::PendingRecord>>>,
    pub(crate) clients: CacheMap<String, Arc<super::clients::VerifiedClient>>,
    /// Every claimed host → the resource server that claimed it, as one
    /// entry: an unknown host is answered from it without an entry of its own.
    pub(crate) host_claims: CacheMap<(), Arc<HashMap<String, String>>>,
    /// Enforcement profiles by resource server (only for claimed hosts).
    pub(crate) hosts: CacheMap<String, Option<Arc<super::enforcement::HostedProfile>>>,
    /// Keyed by (client id, case-insensitive paths).
    pub(crate) paths: CacheMap<(String, bool), Arc<crate::domain::enforcement::PathIndex>>,
    /// Whether an authorization grant (of an `authorization_code` token) is revoked.
    pub(crate) grants: CacheMap<String, bool>,
    /// The clients counter (`revisions::Counter::Clients`) last seen.
    client_revision: AtomicI64,
}

impl Cache {
    pub(crate) fn new() -> Cache {
        Cache {
            epoch: Instant::now(),
            fresh_until_ms: AtomicU64::new(0),
            staleness_bound_ms: AtomicU64::new(DEFAULT_STALENESS_BOUND.as_millis() as u64),
            revision: AtomicI64::new(i64::MIN),
            rpt_status: CacheMap::new(),
            resource_sets: CacheMap::new(),
            policies: CacheMap::new(),
            pending: CacheMap::new(),
            clients: CacheMap::new(),
            host_claims: CacheMap::new(),
            hosts: CacheMap::new(),
            paths: CacheMap::new(),
            grants: CacheMap::new(),
            client_revision: AtomicI64::new(i64::MIN),
        }
    }

    /// Drops every cached answer about resource sets, policies, held
    /// requests, RPTs and enforcement profiles.
    pub(crate) fn invalidate(&self) {
        self.rpt_status.clear();
        self.resource_sets.clear();
        self.policies.clear();
        self.pending.clear();
        self.host_claims.clear();
        self.hosts.clear();
        self.paths.clear();
        self.grants.clear();
    }

    /// Drops the client memo when the clients counter moved (a client was
    /// updated or deleted, here or on another replica).
    pub(crate) fn observe_clients(&self, revision: i64) {
        if self.client_revision.load(Ordering::SeqCst) != revision {
            self.clients.clear();
        }
        self.client_revision.store(revision, Ordering::SeqCst);
    }

    /// Drops the caches if the database change counter moved since last
    /// seen, then records it — in that order, so whoever reads the new
    /// revision finds no answer older than it. `looked_at` is when the read
    /// of the counter started: every change committed before it is known
    /// now, so cached answers are servable for the staleness bound from
    /// then. (One refresher calls this.)
    pub(crate) fn observe(&self, revision: i64, looked_at: Instant) {
        if self.revision.load(Ordering::SeqCst) != revision {
            self.invalidate();
        }
        self.revision.store(revision, Ordering::SeqCst);
        let bound = self.staleness_bound_ms.load(Ordering::SeqCst);
        let until = self.millis(looked_at).saturating_add(bound);
        self.fresh_until_ms.fetch_max(until, Ordering::SeqCst);
    }

    /// How long after a successful look at the counter cached answers may
    /// be served.
    pub(crate) fn set_staleness_bound(&self, bound: Duration) {
        let ms = u64::try_from(bound.as_millis()).unwrap_or(u64::MAX);
        self.staleness_bound_ms.store(ms, Ordering::SeqCst);
    }

    /// Whether cached answers may be served now.
    pub(crate) fn is_fresh(&self) -> bool {
        self.millis(Instant::now()) < self.fresh_until_ms.load(Ordering::SeqCst)
    }

    fn millis(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.epoch).as_millis()).unwrap_or(u64::MAX)
    }

    /// The change counter last observed (`i64::MIN` before the first look).
    pub(crate) fn revision(&self) -> i64 {
        self.revision.load(Ordering::SeqCst)
    }

    /// The cached value, or `load`'s (cached unless a drop happened meanwhile).
    pub(crate) async fn read_through<K, V, F, Fut>(
        &self,
        map: &CacheMap<K, V>,
        key: K,
        load: F,
    ) -> Result<V, Error>
    where
        K: Eq + Hash + Weight,
        V: Clone + Weight,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V, Error>>,
    {
        if let Some(value) = self.get(map, &key) {
            return Ok(value);
        }
        let generation = map.generation();
        let value = load().await?;
        map.fill(key, &value, generation);
        Ok(value)
    }

    /// Like [`Cache::read_through`] for lookups whose key the caller chose
    /// (an id that may not exist): only found values are kept, so made-up
    /// keys never take memory.
    pub(crate) async fn read_through_found<K, V, F, Fut>(
        &self,
        map: &CacheMap<K, Option<V>>,
        key: K,
        load: F,
    ) -> Result<Option<V>, Error>
    where
        K: Eq + Hash + Weight,
        V: Clone + Weight,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Option<V>, Error>>,
    {
        if let Some(value) = self.get(map, &key) {
            return Ok(value);
        }
        let generation = map.generation();
        let value = load().await?;
        if value.is_some() {
            map.fill(key, &value, generation);
        }
        Ok(value)
    }

    /// The estimated bytes each map holds, for the `steward_cache_bytes`
    /// gauge.
    pub(crate) fn sizes(&self) -> [(&'static str, usize); 9] {
        [
            ("rpt_status", self.rpt_status.bytes()),
            ("resource_sets", self.resource_sets.bytes()),
            ("policies", self.policies.bytes()),
            ("pending", self.pending.bytes()),
            ("clients", self.clients.bytes()),
            ("host_claims", self.host_claims.bytes()),
            ("profiles", self.hosts.bytes()),
            ("paths", self.paths.bytes()),
            ("grants", self.grants.bytes()),
        ]
    }

    /// A cached value, if any and if cached answers are servable now.
    pub(crate) fn get<K: Eq + Hash + Weight, V: Clone + Weight>(
        &self,
        map: &CacheMap<K, V>,
        key: &K,
    ) -> Option<V> {
        if !self.is_fresh() {
            return None;
        }
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
            .read_through(&cache.grants, "k".to_string(), || async {
                cache.invalidate(); // a write commits while we read
                Ok(false)
            })
            .await
            .unwrap();
        assert!(!value);
        assert!(cache.grants.get(&"k".to_string()).is_none(), "not cached");

        cache
            .read_through(&cache.grants, "k".to_string(), || async { Ok(false) })
            .await
            .unwrap();
        assert!(cache.grants.get(&"k".to_string()).is_some(), "cached");
        cache.observe(5, Instant::now());
        assert!(
            cache.grants.get(&"k".to_string()).is_none(),
            "dropped on a new revision"
        );
        cache
            .read_through(&cache.grants, "k".to_string(), || async { Ok(false) })
            .await
            .unwrap();
        cache.observe(5, Instant::now());
        assert!(
            cache.grants.get(&"k".to_string()).is_some(),
            "same revision keeps it"
        );
    }

    #[tokio::test]
    async fn cached_answers_are_served_only_within_the_bound_of_the_last_look() {
        let cache = Cache::new();
        cache.set_staleness_bound(Duration::from_millis(200));
        let loads = std::sync::atomic::AtomicU32::new(0);
        let read = || {
            cache.read_through(&cache.grants, "k".to_string(), || async {
                loads.fetch_add(1, Ordering::SeqCst);
                Ok(false)
            })
        };
        read().await.unwrap();
        read().await.unwrap();
        assert_eq!(loads.load(Ordering::SeqCst), 2, "never looked: no cache");
        // The first look (a new revision) drops what was loaded before it.
        cache.observe(1, Instant::now());
        read().await.unwrap();
        read().await.unwrap();
        read().await.unwrap();
        assert_eq!(loads.load(Ordering::SeqCst), 3, "fresh: served from memory");
        // The database stops answering: no successful look for longer than the bound.
        tokio::time::sleep(Duration::from_millis(250)).await;
        read().await.unwrap();
        assert_eq!(
            loads.load(Ordering::SeqCst),
            4,
            "stale: back to the database"
        );
        assert!(cache.get(&cache.grants, &"k".to_string()).is_none());
        // A look that started long ago does not make it fresh again.
        cache.observe(1, Instant::now() - Duration::from_secs(1));
        assert!(!cache.is_fresh());
        cache.observe(1, Instant::now());
        assert!(cache.get(&cache.grants, &"k".to_string()).is_some());
    }

    #[test]
    fn a_map_stays_within_its_byte_budget() {
        let map: CacheMap<String, Option<String>> = CacheMap::with_budget(64 * 1024);
        for n in 0..10_000 {
            let key = format!("{n:0>200}");
            map.fill(key, &Some("v".repeat(300)), map.generation());
            assert!(map.bytes() <= 64 * 1024, "{} bytes", map.bytes());
        }
        assert!(map.bytes() > 0);
        // One value larger than a sixteenth of the budget is never kept.
        map.clear();
        map.fill("big".into(), &Some("x".repeat(8 * 1024)), map.generation());
        assert_eq!(map.bytes(), 0);
        assert!(map.get(&"big".to_string()).is_none());
    }

    #[tokio::test]
    async fn made_up_keys_are_not_remembered() {
        let cache = Cache::new();
        cache.observe(1, Instant::now());
        for n in 0..100 {
            let key = (
                "rs".to_string(),
                "alice".to_string(),
                format!("no-such-set-{n}"),
            );
            let found = cache
                .read_through_found(&cache.resource_sets, key, || async { Ok(None) })
                .await
                .unwrap();
            assert!(found.is_none());
        }
        assert_eq!(
            cache.resource_sets.bytes(),
            0,
            "no entry for a set that does not exist"
        );
    }

    #[tokio::test]
    async fn client_memos_survive_other_writes_but_not_a_client_change() {
        let cache = Cache::new();
        let generation = cache.clients.generation();
        cache.rpt_status.fill(
            ("rpt".to_string(), "rs".to_string()),
            &Arc::new(super::super::rpts::CachedStatus {
                record: super::super::rpts::RptRecord {
                    token_hash: "rpt".into(),
                    client_id: "c".into(),
                    subject: "s".into(),
                    resource_server: None,
                    created_at: 0,
                    expires_at: None,
                    revoked_at: None,
                },
                permissions: Vec::new(),
                registered: Default::default(),
            }),
            cache.rpt_status.generation(),
        );
        cache.invalidate();
        cache.observe(7, Instant::now());
        assert!(cache.rpt_status.get(&("rpt".into(), "rs".into())).is_none());
        // A verification that started before those drops is still kept.
        let verified = Arc::new(super::super::clients::VerifiedClient {
            secret_sha256: "h".into(),
            record: super::super::clients::ClientRecord {
                client_id: "c".into(),
                secret_hash: "x".into(),
                name: "n".into(),
                owner: "o".into(),
                scopes: Vec::new(),
                grant_types: Vec::new(),
                redirect_uris: Vec::new(),
                created_at: 0,
                auth_method: super::super::clients::AuthMethod::SecretBasic,
                registration_token_hash: None,
            },
        });
        cache.clients.fill("c".into(), &verified, generation);
        assert!(cache.clients.get(&"c".to_string()).is_some());
        cache.invalidate();
        assert!(cache.clients.get(&"c".to_string()).is_some());
        cache.observe_clients(1);
        assert!(cache.clients.get(&"c".to_string()).is_none());
    }
}
