//! The README walk-through, end to end.

use serde_json::{Value, json};

use crate::helpers::spawn_app;

#[tokio::test]
async fn pat_resource_set_permission_and_status() {
    let app = spawn_app().await;
    let rs = app.resource_server("alice").await;
    let created = app
        .put_resource_set(
            &rs.pat,
            "album",
            &json!({"name": "Album", "scopes": ["view", "all"]}),
            None,
        )
        .await;
    assert_eq!(created.status(), 201);
    let ticket = app
        .register_permission(
            &rs.pat,
            &json!({"resource_set_id": "album", "scopes": ["view"]}),
        )
        .await;
    assert_eq!(ticket.status(), 201);
    let body: Value = ticket.json().await.unwrap();
    assert!(body["ticket"].as_str().unwrap().len() >= 22);

    let rpt = app
        .insert_rpt(Some(&rs), &[("album", &["view"], app.clock_now() + 60)])
        .await;
    let status: Value = app
        .http_client
        .post(app.url("/uma/rs/status"))
        .bearer_auth(&rs.pat)
        .json(&json!({"rpt": rpt}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        status,
        json!([{"resource_set_id": "album", "scopes": ["view"], "exp": app.clock_now() + 60}])
    );
    app.stop().await;
}
