//! Micro-benchmarks of the work on Steward's hot paths: policy evaluation at
//! 1, 100 and 10 000 policies on a resource set, an RPT status lookup served
//! from the cache, access-token (JWT) signing and verification, and minting a
//! permission ticket.
//!
//! `cargo bench --bench core`

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use serde_json::{Map, json};
use steward::core::keys::KeyRing;
use steward::domain::policy::{self, DecisionRequest, Policy, PolicyDefinition};
use steward::domain::secret::{self, OsEntropy};
use steward::domain::ticket::TICKET_BYTES;
use steward::domain::token::AccessTokenClaims;
use steward::store::Store;

/// `count` policies on one set; only the last one permits the asker, so
/// every policy is looked at.
fn policies(count: usize) -> Vec<Policy> {
    (0..count)
        .map(|i| {
            let subject = if i + 1 == count {
                "bob".to_string()
            } else {
                format!("user-{i}")
            };
            let definition: PolicyDefinition = serde_json::from_value(json!({
                "name": format!("policy {i}"),
                "scopes": ["view", "edit"],
                "subjects": [subject],
                "claims": [{"name": "email", "one_of": ["bob@example.com", "alice@example.com"]}],
            }))
            .unwrap();
            Policy {
                id: format!("p{i}"),
                definition,
            }
        })
        .collect()
}

/// A migrated store on a fresh SQLite file (an in-memory URL would give each
/// pooled connection its own empty database).
async fn temp_store() -> Store {
    let path = std::env::temp_dir().join(format!("steward-bench-{}.db", uuid::Uuid::new_v4()));
    let store = Store::connect(&format!("sqlite://{}?mode=rwc", path.display()))
        .await
        .unwrap();
    store.migrate().await.unwrap();
    store
}

fn policy_evaluation(c: &mut Criterion) {
    let mut group = c.benchmark_group("policy_evaluation");
    let registered = vec!["view".to_string(), "edit".to_string(), "delete".to_string()];
    let requested = vec!["view".to_string()];
    let mut claims = Map::new();
    claims.insert("email".into(), json!("bob@example.com"));
    for count in [1usize, 100, 10_000] {
        let set = policies(count);
        group.bench_with_input(BenchmarkId::from_parameter(count), &set, |b, set| {
            b.iter(|| {
                let decision = policy::decide(
                    black_box(set),
                    &DecisionRequest {
                        client_id: "app",
                        subject: "bob",
                        claims: &claims,
                        requested_scopes: &requested,
                        registered_scopes: &registered,
                        owner_approved: false,
                        now: 1_000,
                    },
                );
                black_box(decision)
            });
        });
    }
    group.finish();
}

fn jwt(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let keys = runtime.block_on(async {
        let store = temp_store().await;
        KeyRing::load_or_create(&store, &OsEntropy, 1_000, 0)
            .await
            .unwrap()
    });
    let claims = AccessTokenClaims {
        iss: "http://127.0.0.1:8080".into(),
        sub: "alice".into(),
        client_id: "photoz".into(),
        scope: "uma_protection".into(),
        iat: 1_000,
        exp: 4_600,
        jti: "jti".into(),
        nbf: None,
        rqp_claims: None,
        grant: None,
    };
    let token = keys.sign(&claims).unwrap();
    c.bench_function("jwt_sign", |b| {
        b.iter(|| keys.sign(black_box(&claims)).unwrap())
    });
    c.bench_function("jwt_verify", |b| {
        b.iter(|| keys.verify(black_box(&token)).unwrap())
    });
}

fn rpt_lookup_in_cache(c: &mut Criterion) {
    use steward::domain::rpt::Permission;
    use steward::store::rpts::{self, RptRecord};
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (store, hash) = runtime.block_on(async {
        let store = temp_store().await;
        let hash = secret::token_hash("an-rpt");
        rpts::insert(
            &store,
            &RptRecord {
                token_hash: hash.clone(),
                client_id: "client".into(),
                subject: "bob".into(),
                resource_server: Some("rs".into()),
                created_at: 0,
                expires_at: None,
                revoked_at: None,
            },
        )
        .await
        .unwrap();
        for i in 0..10 {
            let permission = Permission {
                owner: "alice".into(),
                resource_set_id: format!("set-{i}"),
                scopes: vec!["view".into()],
                issued_at: 0,
                expires_at: 10_000,
            };
            rpts::add_permission(&store, &hash, "rs", &permission)
                .await
                .unwrap();
        }
        // One process and no other writer: one look at the change counter
        // keeps cached answers servable for the whole run (a served replica
        // looks every `cache_refresh_ms`). Then warm the cache.
        store.set_staleness_bound(std::time::Duration::from_secs(3600));
        store.refresh_cache().await.unwrap();
        rpts::status_view(&store, &hash, "rs")
            .await
            .unwrap()
            .unwrap();
        (store, hash)
    });
    c.bench_function("rpt_status_cache_hit", |b| {
        b.iter(|| {
            runtime
                .block_on(rpts::status_view(&store, black_box(&hash), "rs"))
                .unwrap()
        });
    });
}

fn ticket_creation(c: &mut Criterion) {
    c.bench_function("ticket_mint_and_hash", |b| {
        b.iter(|| {
            let ticket = secret::mint(&OsEntropy, TICKET_BYTES).unwrap();
            black_box(secret::token_hash(&ticket))
        });
    });
}

criterion_group!(
    benches,
    policy_evaluation,
    rpt_lookup_in_cache,
    jwt,
    ticket_creation
);
criterion_main!(benches);
