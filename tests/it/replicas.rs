//! Several replicas on one database: answers served from memory follow the
//! writes of other replicas within `cache_refresh_ms`, and a replica's own
//! writes at once.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use steward::config::Secret;

use crate::helpers::{ResourceServer, TestApp, fresh_database_url, spawn_app_with};

const ISSUER: &str = "http://steward.test";
const REFRESH_MS: u64 = 100;

async fn replicas() -> (TestApp, TestApp) {
    let database_url = fresh_database_url().await;
    let settings = |s: &mut steward::config::Settings| {
        s.database_url = Secret::new(database_url.clone());
        s.issuer = Some(ISSUER.into());
        s.cache_refresh_ms = REFRESH_MS;
    };
    let a = spawn_app_with(settings).await;
    let b = spawn_app_with(settings).await;
    (a, b)
}

async fn status(app: &TestApp, rs: &ResourceServer, rpt: &str) -> Value {
    app.http_client
        .post(app.url("/uma/rs/status"))
        .bearer_auth(&rs.pat)
        .json(&json!({ "rpt": rpt }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Polls `app` until its status answer for `rpt` equals `expected`; returns
/// how long that took. Gives up (and fails) well past the promised bound.
async fn converges(app: &TestApp, rs: &ResourceServer, rpt: &str, expected: &Value) -> Duration {
    let started = Instant::now();
    let give_up = Duration::from_millis(REFRESH_MS) + Duration::from_secs(3);
    loop {
        if &status(app, rs, rpt).await == expected {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < give_up,
            "replica still answers the old state after {:?}",
            started.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn a_write_on_one_replica_reaches_the_other_within_the_refresh_interval() {
    let (a, b) = replicas().await;
    let rs = a.resource_server("alice").await;
    let created = a
        .put_resource_set(
            &rs.pat,
            "album",
            &json!({"name": "Album", "scopes": ["view", "edit"]}),
            None,
        )
        .await;
    assert_eq!(created.status(), 201);
    let exp = a.clock_now() + 3600;
    let rpt = a
        .insert_rpt(Some(&rs), &[("album", &["view", "edit"], exp)])
        .await;
    let granted = json!([{"resource_set_id": "album", "scopes": ["view", "edit"], "exp": exp}]);

    // Both replicas answer, and now hold the answer in memory.
    converges(&b, &rs, &rpt, &granted).await;
    assert_eq!(status(&a, &rs, &rpt).await, granted);
    assert_eq!(status(&b, &rs, &rpt).await, granted);

    // A narrows the set: A itself answers the new state at once...
    let narrowed = a
        .put_resource_set(
            &rs.pat,
            "album",
            &json!({"name": "Album", "scopes": ["view"]}),
            Some("\"1\""),
        )
        .await;
    assert_eq!(narrowed.status(), 201);
    let view_only = json!([{"resource_set_id": "album", "scopes": ["view"], "exp": exp}]);
    assert_eq!(status(&a, &rs, &rpt).await, view_only);
    // ...and B within the refresh interval (plus the time of one poll).
    let lag = converges(&b, &rs, &rpt, &view_only).await;
    eprintln!("replica B caught up with an update after {lag:?} (refresh {REFRESH_MS} ms)");

    // B deletes the set; A follows.
    let deleted = b
        .http_client
        .delete(b.url("/uma/rs/resource_set/album"))
        .bearer_auth(&rs.pat)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    assert_eq!(status(&b, &rs, &rpt).await, json!([]));
    let lag = converges(&a, &rs, &rpt, &json!([])).await;
    eprintln!("replica A caught up with a delete after {lag:?} (refresh {REFRESH_MS} ms)");
}

#[tokio::test]
async fn a_revoked_rpt_is_invalid_on_every_replica() {
    let (a, b) = replicas().await;
    let rs = a.resource_server("alice").await;
    a.put_resource_set(
        &rs.pat,
        "album",
        &json!({"name": "Album", "scopes": ["view"]}),
        None,
    )
    .await;
    let (client_id, secret) = a.create_client("bob", &["uma_authorization"]).await;
    let aat: Value = a
        .token_request(&client_id, &secret, "uma_authorization")
        .await
        .json()
        .await
        .unwrap();
    let aat = aat["access_token"].as_str().unwrap().to_string();
    let rpt_request = |app: &TestApp| {
        app.http_client
            .post(app.url("/uma/client/rpt"))
            .bearer_auth(&aat)
            .send()
    };
    let first: Value = rpt_request(&a).await.unwrap().json().await.unwrap();
    let first = first["rpt"].as_str().unwrap().to_string();
    // An RPT without permissions is valid (empty) on both replicas.
    converges(&b, &rs, &first, &json!([])).await;

    // A new RPT for the same AAT, issued on B, revokes the first everywhere.
    let second = rpt_request(&b).await.unwrap();
    assert_eq!(second.status(), 201);
    let invalid = json!({"rpt_status": "invalid"});
    assert_eq!(status(&b, &rs, &first).await, invalid);
    converges(&a, &rs, &first, &invalid).await;
}
