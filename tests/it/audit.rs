//! The audit / decision log: a full UMA flow leaves one JSON event per
//! ticket registration, decision and RPT issuance, linked ticket → decision
//! → RPT, with no token or secret in it.

use serde_json::{Value, json};
use steward::domain::secret;

use crate::helpers::{TestApp, spawn_app_with};

/// The audit events written so far, waiting until `wanted` are there.
async fn events(path: &std::path::Path, wanted: usize) -> Vec<Value> {
    for _ in 0..100 {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let events: Vec<Value> = text
            .lines()
            .map(|line| serde_json::from_str(line).expect("each line is one JSON event"))
            .collect();
        if events.len() >= wanted {
            return events;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("fewer than {wanted} audit events in {}", path.display());
}

async fn json(response: reqwest::Response, status: u16) -> Value {
    assert_eq!(response.status(), status);
    response.json().await.unwrap()
}

async fn ticket(app: &TestApp, pat: &str) -> String {
    let body = json(
        app.register_permission(
            pat,
            &json!({"resource_set_id": "album", "scopes": ["view"]}),
        )
        .await,
        201,
    )
    .await;
    body["ticket"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn a_full_uma_flow_leaves_the_lineage_ticket_decision_rpt() {
    let path = std::env::temp_dir().join(format!("steward-audit-{}.jsonl", uuid::Uuid::new_v4()));
    let log = path.display().to_string();
    let app = spawn_app_with(move |s| s.audit_log = log).await;
    let rs = app.resource_server("alice").await;
    let created = app
        .put_resource_set(
            &rs.pat,
            "album",
            &json!({"name": "Album", "scopes": ["view"]}),
            None,
        )
        .await;
    assert_eq!(created.status(), 201);
    let (client_id, aat) = app.requester("bob").await;
    let policy = json(
        app.http_client
            .post(app.url("/uma/rs/policy/album"))
            .bearer_auth(&rs.pat)
            .json(&json!({"name": "friends", "scopes": ["view"], "clients": [client_id]}))
            .send()
            .await
            .unwrap(),
        201,
    )
    .await;
    let policy_id = policy["_id"].as_str().unwrap().to_string();

    // UMA 1.0: the ticket alone gets a new RPT.
    let first = ticket(&app, &rs.pat).await;
    let granted = json(
        app.http_client
            .post(app.url("/uma/client/rpt"))
            .bearer_auth(&aat)
            .json(&json!({"ticket": first}))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    let rpt = granted["rpt"].as_str().unwrap().to_string();

    // draft-06: a blank RPT (which replaces the first), then a refused request.
    let blank = app.empty_rpt(&aat).await;
    let (stranger, stranger_aat) = app.requester("mallory").await;
    let second = ticket(&app, &rs.pat).await;
    let stranger_rpt = app.empty_rpt(&stranger_aat).await;
    let refused = app
        .http_client
        .post(app.url("/uma/client/perm"))
        .bearer_auth(&stranger_aat)
        .json(&json!({"rpt": stranger_rpt, "ticket": second}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);

    let events = events(&path, 8).await;
    let of = |kind: &str| -> Vec<&Value> { events.iter().filter(|e| e["event"] == kind).collect() };
    let registered = of("ticket_registered");
    assert_eq!(registered.len(), 2, "{events:#?}");
    let first_id = registered[0]["ticket_id"].as_str().unwrap();
    assert_eq!(registered[0]["resource_server"], rs.client_id.as_str());
    assert_eq!(registered[0]["owner"], "alice");
    assert_eq!(registered[0]["resource_set_id"], "album");
    assert_eq!(registered[0]["scopes"], json!(["view"]));

    // ticket → decision → RPT, by ids that are not the secrets.
    let rpt_id = secret::token_hash(&rpt);
    let decided: Vec<&Value> = of("permission_decided")
        .into_iter()
        .filter(|e| e["ticket_id"] == first_id)
        .collect();
    assert_eq!(decided.len(), 1, "{events:#?}");
    let decision = decided[0];
    assert_eq!(decision["outcome"], "permit");
    assert_eq!(decision["policy_ids"], json!([policy_id]));
    // A client_credentials AAT: the client is the requesting party.
    assert_eq!(decision["requesting_party"], client_id.as_str());
    assert_eq!(decision["client_id"], client_id.as_str());
    assert_eq!(decision["rpt_id"], rpt_id.as_str());
    let issued = of("rpt_issued");
    let minted = issued
        .iter()
        .find(|e| e["rpt_id"] == rpt_id.as_str())
        .expect("the RPT's issuance");
    assert_eq!(
        minted["ticket_id"], first_id,
        "the RPT names the ticket it came from"
    );
    assert!(
        issued
            .iter()
            .any(|e| e["rpt_id"] == secret::token_hash(&blank).as_str())
    );
    let revoked = of("rpt_revoked");
    assert!(
        revoked.iter().any(|e| e["rpt_id"] == rpt_id.as_str()),
        "the blank RPT replaced it"
    );

    let denied = of("permission_decided")
        .into_iter()
        .find(|e| e["requesting_party"] == stranger.as_str())
        .expect("the refusal is a decision too");
    assert_eq!(denied["outcome"], "deny");
    assert!(denied.get("rpt_id").is_none());
    for event in &events {
        assert!(event["at"].as_i64().is_some());
    }

    // Never a token or a secret.
    let text = std::fs::read_to_string(&path).unwrap();
    for secret in [
        &rpt,
        &blank,
        &first,
        &second,
        &aat,
        &rs.pat,
        &rs.client_secret,
        &stranger_rpt,
    ] {
        assert!(
            !text.contains(secret.as_str()),
            "the audit log leaks a secret"
        );
    }
    app.stop().await;
}
