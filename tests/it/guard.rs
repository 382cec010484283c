//! The example resource server (examples/photoz.rs), guarded by the tower
//! layer, through the whole story over HTTP: 401 with as_uri, 403 with a
//! ticket, the client uses the ticket, then 200.

// Helpers outside `#[test]` fns panic on purpose: a failed step fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use reqwest::header::WWW_AUTHENTICATE;
use serde_json::{Value, json};
use steward::guard::{GuardConfig, UmaGuardLayer};

use crate::helpers::{TestApp, spawn_app};

#[allow(dead_code)] // the example's `main` is not used here
#[path = "../../examples/photoz.rs"]
mod photoz;

/// Starts photoz against `app` on an ephemeral port; its base URL.
async fn start_photoz(app: &TestApp) -> String {
    // The guard judges permission expiry by the wall clock, as a real
    // resource server does; bring the test server's clock to it.
    let wall = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    app.clock.advance(wall - app.clock_now());
    let (client_id, secret) = app.create_client("alice", &["uma_protection"]).await;
    photoz::register(&app.issuer, &client_id, &secret)
        .await
        .unwrap();
    // Alice's policy: anyone may view her albums.
    let pat: Value = app
        .token_request(&client_id, &secret, "uma_protection")
        .await
        .json()
        .await
        .unwrap();
    let policy = app
        .http_client
        .post(app.url("/uma/rs/policy/albums"))
        .bearer_auth(pat["access_token"].as_str().unwrap())
        .json(&json!({"name": "anyone views", "scopes": ["view"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(policy.status(), 201);
    let layer = UmaGuardLayer::new(
        GuardConfig {
            as_uri: app.issuer.clone(),
            client_id,
            client_secret: secret.into(),
            realm: "photoz".into(),
            host_id: "photoz.example.com".into(),
        },
        photoz::resolver(),
    )
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, photoz::router(layer)).await });
    url
}

#[tokio::test]
async fn the_guarded_example_walks_the_whole_uma_story() {
    let app = spawn_app().await;
    let photoz = start_photoz(&app).await;
    let client = reqwest::Client::new();
    let album = format!("{photoz}/albums/paris");

    // Unguarded paths pass untouched.
    let health = client.get(format!("{photoz}/health")).send().await.unwrap();
    assert_eq!(health.status(), 200);

    // No RPT: 401 pointing at the AS.
    let answer = client.get(&album).send().await.unwrap();
    assert_eq!(answer.status(), 401);
    let challenge = answer.headers()[WWW_AUTHENTICATE]
        .to_str()
        .unwrap()
        .to_string();
    assert!(challenge.starts_with("UMA realm=\"photoz\""), "{challenge}");
    assert!(
        challenge.contains(&format!("as_uri=\"{}\"", app.issuer)),
        "{challenge}"
    );

    // An invalid RPT: the same 401, no ticket.
    let answer = client
        .get(&album)
        .bearer_auth("made-up")
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 401);
    assert!(
        !answer.headers()[WWW_AUTHENTICATE]
            .to_str()
            .unwrap()
            .contains("ticket")
    );

    // An RPT without the permission: 403 with a ticket.
    let (_, aat) = app.requester("bob").await;
    let rpt = app.empty_rpt(&aat).await;
    let answer = client.get(&album).bearer_auth(&rpt).send().await.unwrap();
    assert_eq!(answer.status(), 403);
    let challenge = answer.headers()[WWW_AUTHENTICATE]
        .to_str()
        .unwrap()
        .to_string();
    let body: Value = answer.json().await.unwrap();
    let ticket = body["ticket"].as_str().expect("a ticket").to_string();
    assert!(
        challenge.contains(&format!("ticket=\"{ticket}\"")),
        "{challenge}"
    );
    assert!(
        challenge.contains("error=\"insufficient_scope\""),
        "{challenge}"
    );

    // The client asks Steward for the permission with that ticket ...
    let granted = app
        .http_client
        .post(app.url("/uma/client/perm"))
        .bearer_auth(&aat)
        .json(&json!({"rpt": rpt, "ticket": ticket}))
        .send()
        .await
        .unwrap();
    assert_eq!(granted.status(), 200);

    // ... and the same request now passes, with the grant as an extension.
    let answer = client.get(&album).bearer_auth(&rpt).send().await.unwrap();
    assert_eq!(answer.status(), 200);
    let body: Value = answer.json().await.unwrap();
    assert_eq!(body["album"], "paris");
    assert_eq!(body["granted"], json!(["view"]));

    // Editing needs `edit`: refused with a new ticket.
    let answer = client.put(&album).bearer_auth(&rpt).send().await.unwrap();
    assert_eq!(answer.status(), 403);
    let body: Value = answer.json().await.unwrap();
    assert_ne!(body["ticket"].as_str(), Some(ticket.as_str()));

    // The AS gone: the guard fails closed.
    app.stop().await;
    let answer = client.get(&album).bearer_auth(&rpt).send().await.unwrap();
    assert_eq!(answer.status(), 503);
}
