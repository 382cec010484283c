//! RPT status (draft-06 §3.3): `POST /uma/rs/status` (JSON `{"rpt"}` → array
//! or `{"rpt_status":"invalid"}`) and `POST /uma/rs/introspect` (form
//! `token=` → `{"active", …}`).

// Helpers outside `#[test]` fns panic on purpose: a failed step fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use reqwest::header::{CACHE_CONTROL, CONTENT_TYPE, WWW_AUTHENTICATE};
use serde_json::{Value, json};
use steward::domain::UnixTime;
use steward::domain::rpt::Permission;
use steward::domain::secret::{self, OsEntropy};
use steward::store::{self, rpts::RptRecord};

use crate::helpers::{ResourceServer, T0, TestApp, spawn_app};

/// A running app with one resource server that registered `album`
/// (`view`, `all`) and `doc` (`read`, `write`).
async fn app_with_sets() -> (TestApp, ResourceServer) {
    let app = spawn_app().await;
    let rs = app.resource_server("alice").await;
    for (rsid, scopes) in [
        ("album", json!(["view", "all"])),
        ("doc", json!(["read", "write"])),
    ] {
        let created = app
            .put_resource_set(
                &rs.pat,
                rsid,
                &json!({"name": rsid, "scopes": scopes}),
                None,
            )
            .await;
        assert_eq!(created.status(), 201, "`{rsid}` registered");
    }
    (app, rs)
}

/// `POST /uma/rs/status` with a JSON body and an optional PAT.
async fn status_request(app: &TestApp, pat: Option<&str>, body: &Value) -> reqwest::Response {
    let mut request = app.http_client.post(app.url("/uma/rs/status")).json(body);
    if let Some(pat) = pat {
        request = request.bearer_auth(pat);
    }
    request.send().await.expect("POST status")
}

/// The status answer for `rpt`, asserting 200 and `Cache-Control: no-store`;
/// arrays come back sorted by resource set id (the order is not specified).
async fn status(app: &TestApp, pat: &str, body: &Value) -> Value {
    let response = status_request(app, Some(pat), body).await;
    assert_eq!(response.status(), 200, "status answers 200");
    assert_no_store_json(&response);
    let mut answer: Value = response.json().await.unwrap();
    if let Some(items) = answer.as_array_mut() {
        items.sort_by(|a, b| {
            a["resource_set_id"]
                .as_str()
                .cmp(&b["resource_set_id"].as_str())
        });
    }
    answer
}

/// `POST /uma/rs/introspect` with form parameters and an optional PAT.
async fn introspect_request(
    app: &TestApp,
    pat: Option<&str>,
    form: &[(&str, &str)],
) -> reqwest::Response {
    let mut request = app
        .http_client
        .post(app.url("/uma/rs/introspect"))
        .form(form);
    if let Some(pat) = pat {
        request = request.bearer_auth(pat);
    }
    request.send().await.expect("POST introspect")
}

/// The introspection answer for `rpt` (200, no-store asserted), with
/// `permissions` sorted by resource set id.
async fn introspect(app: &TestApp, pat: &str, rpt: &str) -> Value {
    let response = introspect_request(app, Some(pat), &[("token", rpt)]).await;
    assert_eq!(response.status(), 200, "introspection answers 200");
    assert_no_store_json(&response);
    let mut answer: Value = response.json().await.unwrap();
    // (`get_mut`, not indexing: `answer["permissions"]` would insert a null.)
    if let Some(items) = answer.get_mut("permissions").and_then(Value::as_array_mut) {
        items.sort_by(|a, b| {
            a["resource_set_id"]
                .as_str()
                .cmp(&b["resource_set_id"].as_str())
        });
    }
    answer
}

fn assert_no_store_json(response: &reqwest::Response) {
    assert_eq!(
        response
            .headers()
            .get(CACHE_CONTROL)
            .map(|v| v.to_str().unwrap()),
        Some("no-store")
    );
    let content_type = response.headers()[CONTENT_TYPE].to_str().unwrap();
    assert!(
        content_type.starts_with("application/json"),
        "content type {content_type}"
    );
}

/// Stores an RPT bound to `rs` with an expiry and/or a revocation instant
/// (the helper's `insert_rpt` makes neither) and one permission on `album`.
async fn insert_rpt_with(
    app: &TestApp,
    rs: &ResourceServer,
    expires_at: Option<UnixTime>,
    revoked_at: Option<UnixTime>,
    permission_exp: UnixTime,
) -> String {
    let rpt = secret::mint(&OsEntropy, 32).unwrap();
    let hash = secret::token_hash(&rpt);
    store::rpts::insert(
        &app.store,
        &RptRecord {
            token_hash: hash.clone(),
            client_id: "uma-client".into(),
            subject: "bob".into(),
            resource_server: Some(rs.client_id.clone()),
            created_at: app.clock_now(),
            expires_at,
            revoked_at,
        },
    )
    .await
    .unwrap();
    store::rpts::add_permission(
        &app.store,
        &hash,
        &rs.client_id,
        &Permission {
            owner: rs.owner.clone(),
            resource_set_id: "album".into(),
            scopes: vec!["view".into()],
            issued_at: app.clock_now(),
            expires_at: permission_exp,
        },
    )
    .await
    .unwrap();
    rpt
}

fn invalid() -> Value {
    json!({"rpt_status": "invalid"})
}

#[tokio::test]
async fn a_valid_rpt_shows_exactly_its_permissions() {
    let (app, rs) = app_with_sets().await;
    let album_exp = app.clock_now() + 60;
    let doc_exp = app.clock_now() + 600;
    let rpt = app
        .insert_rpt(
            Some(&rs),
            &[
                ("album", &["view", "all"], album_exp),
                ("doc", &["read"], doc_exp),
            ],
        )
        .await;
    assert_eq!(
        status(&app, &rs.pat, &json!({"rpt": rpt})).await,
        json!([
            {"resource_set_id": "album", "scopes": ["view", "all"], "exp": album_exp},
            {"resource_set_id": "doc", "scopes": ["read"], "exp": doc_exp},
        ])
    );
    let answer = introspect(&app, &rs.pat, &rpt).await;
    assert_eq!(
        answer,
        json!({
            "active": true,
            "iat": T0,
            "permissions": [
                {"resource_set_id": "album", "scopes": ["view", "all"], "exp": album_exp, "iat": T0},
                {"resource_set_id": "doc", "scopes": ["read"], "exp": doc_exp, "iat": T0},
            ],
        }),
        "an RPT without expiry has no `exp`"
    );
    app.stop().await;
}

#[tokio::test]
async fn an_unknown_rpt_is_invalid() {
    let (app, rs) = app_with_sets().await;
    // A real RPT exists, so "invalid" is not just an empty table.
    let _known = app
        .insert_rpt(Some(&rs), &[("album", &["view"], app.clock_now() + 60)])
        .await;
    for unknown in ["no-such-rpt", &"x".repeat(2000)] {
        assert_eq!(
            status(&app, &rs.pat, &json!({"rpt": unknown})).await,
            invalid()
        );
        assert_eq!(
            introspect(&app, &rs.pat, unknown).await,
            json!({"active": false})
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn an_rpt_bound_to_another_resource_server_is_invalid_here() {
    let (app, rs) = app_with_sets().await;
    let exp = app.clock_now() + 60;
    let rpt = app
        .insert_rpt(Some(&rs), &[("album", &["view"], exp)])
        .await;
    // Another resource server of the same owner, and one of another owner,
    // both with a set of the same id.
    let sibling = app.resource_server("alice").await;
    let stranger = app.resource_server("mallory").await;
    for other in [&sibling, &stranger] {
        let created = app
            .put_resource_set(
                &other.pat,
                "album",
                &json!({"name": "Album", "scopes": ["view"]}),
                None,
            )
            .await;
        assert_eq!(created.status(), 201);
        assert_eq!(
            status(&app, &other.pat, &json!({"rpt": rpt})).await,
            invalid()
        );
        assert_eq!(
            introspect(&app, &other.pat, &rpt).await,
            json!({"active": false})
        );
        // host_id cannot talk the AS into answering for another host.
        assert_eq!(
            status(
                &app,
                &other.pat,
                &json!({"rpt": rpt, "host_id": rs.client_id})
            )
            .await,
            invalid()
        );
    }
    // Still valid for the resource server it is bound to.
    assert_eq!(
        status(&app, &rs.pat, &json!({"rpt": rpt})).await,
        json!([{"resource_set_id": "album", "scopes": ["view"], "exp": exp}])
    );
    app.stop().await;
}

#[tokio::test]
async fn an_expired_permission_disappears() {
    let (app, rs) = app_with_sets().await;
    let short = app.clock_now() + 60;
    let long = app.clock_now() + 600;
    let rpt = app
        .insert_rpt(
            Some(&rs),
            &[("album", &["view"], short), ("doc", &["read"], long)],
        )
        .await;
    app.clock.advance(59);
    assert_eq!(
        status(&app, &rs.pat, &json!({"rpt": rpt})).await,
        json!([
            {"resource_set_id": "album", "scopes": ["view"], "exp": short},
            {"resource_set_id": "doc", "scopes": ["read"], "exp": long},
        ]),
        "one second before exp the permission still holds"
    );
    app.clock.advance(1);
    assert_eq!(
        status(&app, &rs.pat, &json!({"rpt": rpt})).await,
        json!([{"resource_set_id": "doc", "scopes": ["read"], "exp": long}]),
        "from exp on the permission must not be honoured"
    );
    let answer = introspect(&app, &rs.pat, &rpt).await;
    assert_eq!(answer["active"], true);
    assert_eq!(
        answer["permissions"],
        json!([{"resource_set_id": "doc", "scopes": ["read"], "exp": long, "iat": T0}])
    );
    app.clock.advance(600);
    assert_eq!(
        status(&app, &rs.pat, &json!({"rpt": rpt})).await,
        json!([]),
        "a valid RPT whose permissions all expired shows none"
    );
    app.stop().await;
}

#[tokio::test]
async fn deleting_the_resource_set_removes_its_permission() {
    let (app, rs) = app_with_sets().await;
    let exp = app.clock_now() + 600;
    let rpt = app
        .insert_rpt(
            Some(&rs),
            &[("album", &["view"], exp), ("doc", &["read"], exp)],
        )
        .await;
    let deleted = app
        .http_client
        .delete(app.url("/uma/rs/resource_set/album"))
        .bearer_auth(&rs.pat)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    assert_eq!(
        status(&app, &rs.pat, &json!({"rpt": rpt})).await,
        json!([{"resource_set_id": "doc", "scopes": ["read"], "exp": exp}])
    );
    // Re-registering a set under the same id does not resurrect the grant.
    let created = app
        .put_resource_set(
            &rs.pat,
            "album",
            &json!({"name": "Album again", "scopes": ["view"]}),
            None,
        )
        .await;
    assert_eq!(created.status(), 201);
    assert_eq!(
        status(&app, &rs.pat, &json!({"rpt": rpt})).await,
        json!([{"resource_set_id": "doc", "scopes": ["read"], "exp": exp}])
    );
    app.stop().await;
}

#[tokio::test]
async fn dropping_a_scope_from_the_set_narrows_the_permission() {
    let (app, rs) = app_with_sets().await;
    let exp = app.clock_now() + 600;
    let rpt = app
        .insert_rpt(
            Some(&rs),
            &[("album", &["view", "all"], exp), ("doc", &["write"], exp)],
        )
        .await;
    let updated = app
        .put_resource_set(
            &rs.pat,
            "album",
            &json!({"name": "Album", "scopes": ["view"]}),
            Some("*"),
        )
        .await;
    assert!(
        updated.status().is_success(),
        "update: {}",
        updated.status()
    );
    let updated = app
        .put_resource_set(
            &rs.pat,
            "doc",
            &json!({"name": "doc", "scopes": ["read"]}),
            Some("*"),
        )
        .await;
    assert!(
        updated.status().is_success(),
        "update: {}",
        updated.status()
    );
    assert_eq!(
        status(&app, &rs.pat, &json!({"rpt": rpt})).await,
        json!([{"resource_set_id": "album", "scopes": ["view"], "exp": exp}]),
        "`all` is gone from album; doc's only scope is gone, and so is its permission"
    );
    app.stop().await;
}

#[tokio::test]
async fn resource_set_id_filters_and_host_id_is_ignored() {
    let (app, rs) = app_with_sets().await;
    let exp = app.clock_now() + 600;
    let rpt = app
        .insert_rpt(
            Some(&rs),
            &[("album", &["view"], exp), ("doc", &["read"], exp)],
        )
        .await;
    assert_eq!(
        status(
            &app,
            &rs.pat,
            &json!({"rpt": rpt, "resource_set_id": "doc"})
        )
        .await,
        json!([{"resource_set_id": "doc", "scopes": ["read"], "exp": exp}])
    );
    assert_eq!(
        status(
            &app,
            &rs.pat,
            &json!({"rpt": rpt, "resource_set_id": "unknown"})
        )
        .await,
        json!([])
    );
    let all = json!([
        {"resource_set_id": "album", "scopes": ["view"], "exp": exp},
        {"resource_set_id": "doc", "scopes": ["read"], "exp": exp},
    ]);
    assert_eq!(status(&app, &rs.pat, &json!({"rpt": rpt})).await, all);
    assert_eq!(
        status(
            &app,
            &rs.pat,
            &json!({"rpt": rpt, "host_id": "photoz.example.com"})
        )
        .await,
        all
    );
    assert_eq!(
        status(
            &app,
            &rs.pat,
            &json!({"rpt": rpt, "host_id": "photoz.example.com", "resource_set_id": "album"})
        )
        .await,
        json!([{"resource_set_id": "album", "scopes": ["view"], "exp": exp}])
    );
    app.stop().await;
}

#[tokio::test]
async fn a_missing_rpt_is_invalid_request() {
    let (app, rs) = app_with_sets().await;
    for body in [
        json!({}),
        json!({"resource_set_id": "album"}),
        json!({"rpt": ""}),
        json!({"rpt": 42}),
        json!({"rpt": ["a"]}),
        json!(["rpt"]),
    ] {
        let response = status_request(&app, Some(&rs.pat), &body).await;
        assert_eq!(response.status(), 400, "400 for {body}");
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["error"], "invalid_request", "for {body}: {error}");
    }
    for form in [&[][..], &[("token", "")][..], &[("rpt", "abc")][..]] {
        let response = introspect_request(&app, Some(&rs.pat), form).await;
        assert_eq!(response.status(), 400, "400 for {form:?}");
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["error"], "invalid_request", "for {form:?}: {error}");
    }
    app.stop().await;
}

#[tokio::test]
async fn without_a_pat_it_is_401() {
    let (app, rs) = app_with_sets().await;
    let rpt = app
        .insert_rpt(Some(&rs), &[("album", &["view"], app.clock_now() + 60)])
        .await;
    let response = status_request(&app, None, &json!({"rpt": rpt})).await;
    assert_eq!(response.status(), 401);
    assert!(response.headers().contains_key(WWW_AUTHENTICATE));
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["error"], "invalid_token");
    assert!(
        !error.to_string().contains("album"),
        "nothing about the RPT leaks"
    );

    let response = status_request(&app, Some("garbage"), &json!({"rpt": rpt})).await;
    assert_eq!(response.status(), 401);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["error"], "invalid_token");

    let response = introspect_request(&app, None, &[("token", rpt.as_str())]).await;
    assert_eq!(response.status(), 401);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["error"], "invalid_token");

    // Using the RPT itself as the bearer token is no better.
    let response = status_request(&app, Some(&rpt), &json!({"rpt": rpt})).await;
    assert_eq!(response.status(), 401);
    app.stop().await;
}

#[tokio::test]
async fn an_rpt_with_no_permissions_bound_to_no_resource_server_is_valid_and_empty() {
    let (app, rs) = app_with_sets().await;
    let rpt = app.insert_rpt(None, &[]).await;
    assert_eq!(status(&app, &rs.pat, &json!({"rpt": rpt})).await, json!([]));
    assert_eq!(
        introspect(&app, &rs.pat, &rpt).await,
        json!({"active": true, "iat": T0, "permissions": []})
    );
    // Any resource server may ask about an unbound RPT.
    let other = app.resource_server("bob").await;
    assert_eq!(
        status(&app, &other.pat, &json!({"rpt": rpt})).await,
        json!([])
    );
    app.stop().await;
}

#[tokio::test]
async fn the_rpt_is_stored_only_hashed_and_status_writes_nothing() {
    let (app, rs) = app_with_sets().await;
    let rpt = app
        .insert_rpt(Some(&rs), &[("album", &["view"], app.clock_now() + 60)])
        .await;
    let before = app.dump().await;
    assert!(!before.contains(&rpt), "the RPT is not stored in clear");
    let _ = status(&app, &rs.pat, &json!({"rpt": rpt})).await;
    let _ = introspect(&app, &rs.pat, &rpt).await;
    let _ = status(&app, &rs.pat, &json!({"rpt": "unknown"})).await;
    assert_eq!(app.dump().await, before, "status queries write nothing");
    app.stop().await;
}

#[tokio::test]
async fn an_expired_rpt_is_invalid_from_its_exp_on() {
    let (app, rs) = app_with_sets().await;
    let rpt_exp = app.clock_now() + 100;
    let perm_exp = app.clock_now() + 1000;
    let rpt = insert_rpt_with(&app, &rs, Some(rpt_exp), None, perm_exp).await;
    assert_eq!(
        status(&app, &rs.pat, &json!({"rpt": rpt})).await,
        json!([{"resource_set_id": "album", "scopes": ["view"], "exp": perm_exp}])
    );
    assert_eq!(
        introspect(&app, &rs.pat, &rpt).await,
        json!({
            "active": true,
            "iat": T0,
            "exp": rpt_exp,
            "permissions": [
                {"resource_set_id": "album", "scopes": ["view"], "exp": perm_exp, "iat": T0}
            ],
        })
    );
    app.clock.advance(100);
    assert_eq!(status(&app, &rs.pat, &json!({"rpt": rpt})).await, invalid());
    assert_eq!(
        introspect(&app, &rs.pat, &rpt).await,
        json!({"active": false})
    );
    app.stop().await;
}

#[tokio::test]
async fn a_revoked_rpt_is_invalid() {
    let (app, rs) = app_with_sets().await;
    let rpt = insert_rpt_with(
        &app,
        &rs,
        None,
        Some(app.clock_now()),
        app.clock_now() + 1000,
    )
    .await;
    assert_eq!(status(&app, &rs.pat, &json!({"rpt": rpt})).await, invalid());
    assert_eq!(
        introspect(&app, &rs.pat, &rpt).await,
        json!({"active": false})
    );
    app.stop().await;
}
