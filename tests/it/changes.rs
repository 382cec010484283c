//! The change stream (`ChangeService/WatchChanges`) and the revision that
//! decision answers carry.

// Helpers outside `#[test]` fns panic on purpose: a failed step fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use serde_json::{Value, json};
use steward::grpc::proto::change::Kind;
use steward::grpc::proto::change_service_client::ChangeServiceClient;
use steward::grpc::proto::decision_service_client::DecisionServiceClient;
use steward::grpc::proto::{Change, DecideRequest, WatchChangesRequest};
use tonic::Streaming;

use crate::helpers::{ResourceServer, TestApp, bearer, spawn_app};

async fn watch(app: &TestApp, pat: &str, since: i64) -> Result<Streaming<Change>, tonic::Status> {
    ChangeServiceClient::new(app.channel().await)
        .watch_changes(bearer(
            WatchChangesRequest {
                since_revision: since,
            },
            pat,
        ))
        .await
        .map(tonic::Response::into_inner)
}

async fn next(stream: &mut Streaming<Change>) -> Change {
    tokio::time::timeout(Duration::from_secs(10), stream.message())
        .await
        .expect("a change within 10 s")
        .expect("the stream is healthy")
        .expect("the stream is open")
}

async fn put_set(app: &TestApp, rs: &ResourceServer, rsid: &str, if_match: Option<&str>) {
    let response = app
        .put_resource_set(
            &rs.pat,
            rsid,
            &json!({"name": rsid, "scopes": ["view", "edit"]}),
            if_match,
        )
        .await;
    assert!(response.status().is_success(), "{}", response.status());
}

async fn post_policy(app: &TestApp, rs: &ResourceServer, rsid: &str) -> String {
    let response = app
        .http_client
        .post(app.url(&format!("/uma/rs/policy/{rsid}")))
        .bearer_auth(&rs.pat)
        .json(&json!({"name": "anyone views", "scopes": ["view"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.unwrap();
    body["_id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn changes_stream_in_commit_order_for_the_caller_only() {
    let app = spawn_app().await;
    let rs = app.resource_server("alice").await;
    let other = app.resource_server("carol").await;
    let mut stream = watch(&app, &rs.pat, 0).await.unwrap();

    put_set(&app, &rs, "album", None).await;
    put_set(&app, &other, "not-mine", None).await; // another resource server's
    let policy = post_policy(&app, &rs, "album").await;
    put_set(&app, &rs, "album", Some("\"1\"")).await;
    let deleted = app
        .http_client
        .delete(app.url(&format!("/uma/rs/policy/album/{policy}")))
        .bearer_auth(&rs.pat)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);

    // An RPT bound to alice's server, then superseded by a new one for its AAT.
    let viewers = post_policy(&app, &rs, "album").await;
    let (_, aat) = app.requester("bob").await;
    let first = app.empty_rpt(&aat).await;
    let ticket: Value = app
        .register_permission(
            &rs.pat,
            &json!({"resource_set_id": "album", "scopes": ["view"]}),
        )
        .await
        .json()
        .await
        .unwrap();
    let granted = app
        .http_client
        .post(app.url("/uma/client/perm"))
        .bearer_auth(&aat)
        .json(&json!({"rpt": first, "ticket": ticket["ticket"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(granted.status(), 200);
    let _second = app.empty_rpt(&aat).await;
    let removed = app
        .http_client
        .delete(app.url("/uma/rs/resource_set/album"))
        .bearer_auth(&rs.pat)
        .send()
        .await
        .unwrap();
    assert_eq!(removed.status(), 204);

    let expected = [
        (Kind::ResourceSetCreated, "album", ""),
        (Kind::PolicyCreated, "album", policy.as_str()),
        (Kind::ResourceSetUpdated, "album", ""),
        (Kind::PolicyDeleted, "album", policy.as_str()),
        (Kind::PolicyCreated, "album", viewers.as_str()),
        (Kind::RptRevoked, "", ""),
        (Kind::ResourceSetDeleted, "album", ""),
    ];
    let mut revisions = Vec::new();
    let mut seen = Vec::new();
    for (kind, rsid, policy_id) in expected {
        let change = next(&mut stream).await;
        assert_eq!(change.kind(), kind, "{change:?}");
        assert_eq!(change.resource_set_id, rsid, "{change:?}");
        assert_eq!(change.policy_id, policy_id, "{change:?}");
        if kind == Kind::RptRevoked {
            assert_eq!(change.rpt_hash, steward::domain::secret::token_hash(&first));
            assert!(!change.rpt_hash.contains(&first), "never the RPT");
        } else {
            assert_eq!(change.owner, "alice");
        }
        revisions.push(change.revision);
        seen.push(change);
    }
    assert!(revisions.windows(2).all(|w| w[0] < w[1]), "{revisions:?}");
    drop(stream);

    // Resuming after the second change replays from the third.
    let mut resumed = watch(&app, &rs.pat, revisions[1]).await.unwrap();
    assert_eq!(next(&mut resumed).await, seen[2]);
    drop(resumed);

    // Decisions say which revision they reflect: never more than the
    // database's, and (once the replica looked) at least the last change.
    let mut decisions = DecisionServiceClient::new(app.channel().await);
    put_set(&app, &rs, "diary", None).await;
    let mut reflected = 0;
    for _ in 0..100 {
        let answer = decisions
            .decide(bearer(
                DecideRequest {
                    resource_set_id: "diary".into(),
                    scopes: vec!["view".into()],
                    client_id: "app".into(),
                    subject: "bob".into(),
                    claim_tokens: vec![],
                },
                &rs.pat,
            ))
            .await
            .unwrap()
            .into_inner();
        let current = steward::store::changes::current_revision(&app.store)
            .await
            .unwrap();
        assert!(
            answer.revision <= current,
            "{} > {current}",
            answer.revision
        );
        reflected = answer.revision;
        if reflected >= revisions[6] {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        reflected >= revisions[6],
        "decisions caught up: {reflected}"
    );
    app.stop().await;
}

#[tokio::test]
async fn bad_or_pruned_starting_points_are_refused() {
    let app = spawn_app().await;
    let rs = app.resource_server("alice").await;
    let status = watch(&app, &rs.pat, -1).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    let status = watch(&app, "not-a-pat", 0).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unauthenticated);

    put_set(&app, &rs, "album", None).await;
    put_set(&app, &rs, "diary", None).await;
    let early = steward::store::changes::current_revision(&app.store)
        .await
        .unwrap()
        - 1;
    let pruned = steward::store::changes::prune(&app.store, i64::MAX)
        .await
        .unwrap();
    assert_eq!(pruned, 2, "both changes pruned");
    let status = watch(&app, &rs.pat, early).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::FailedPrecondition, "{status:?}");
    // From the current revision all is well, and new changes arrive.
    let mut stream = watch(&app, &rs.pat, 0).await.unwrap();
    put_set(&app, &rs, "notes", None).await;
    let change = next(&mut stream).await;
    assert_eq!(change.kind(), Kind::ResourceSetCreated);
    assert_eq!(change.resource_set_id, "notes");
    drop(stream);
    app.stop().await;
}
