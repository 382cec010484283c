//! Permission registration (draft-06 §3.2): `POST /uma/rs/perm` with a PAT.

// Helpers outside `#[test]` fns panic on purpose: a failed step fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::header::{CONTENT_TYPE, LOCATION, WWW_AUTHENTICATE};
use serde_json::{Value, json};
use steward::grpc::proto::RegisterPermissionRequest;
use steward::grpc::proto::permission_service_client::PermissionServiceClient;

use crate::helpers::{ResourceServer, TestApp, bearer, grpc_error_code, spawn_app, spawn_app_with};

/// A running app with one resource server that registered `album` with
/// scopes `view` and `all`.
async fn app_with_album() -> (TestApp, ResourceServer) {
    let app = spawn_app().await;
    let rs = app.resource_server("alice").await;
    register_album(&app, &rs).await;
    (app, rs)
}

async fn register_album(app: &TestApp, rs: &ResourceServer) {
    let created = app
        .put_resource_set(
            &rs.pat,
            "album",
            &json!({"name": "Album", "scopes": ["view", "all"]}),
            None,
        )
        .await;
    assert_eq!(created.status(), 201, "resource set registered");
}

/// POSTs a raw body with a content type to the permission endpoint.
async fn post_raw(
    app: &TestApp,
    pat: Option<&str>,
    content_type: &str,
    body: impl Into<reqwest::Body>,
) -> reqwest::Response {
    let mut request = app
        .http_client
        .post(app.url("/uma/rs/perm"))
        .header(CONTENT_TYPE, content_type)
        .body(body);
    if let Some(pat) = pat {
        request = request.bearer_auth(pat);
    }
    request.send().await.expect("POST permission")
}

/// Asserts an error response's status and `error` code; returns the body.
async fn assert_error(response: reqwest::Response, status: u16, code: &str) -> Value {
    assert_eq!(response.status(), status, "HTTP status for `{code}`");
    let body: Value = response.json().await.expect("JSON error body");
    assert_eq!(body["error"], code, "error code in {body}");
    assert_eq!(body["status"], "error", "UMA error shape in {body}");
    body
}

#[tokio::test]
async fn registering_a_permission_returns_201_a_location_and_a_ticket() {
    let (app, rs) = app_with_album().await;
    assert_eq!(steward::store::ticket_count(&app.store).await.unwrap(), 0);

    let response = app
        .register_permission(
            &rs.pat,
            &json!({"resource_set_id": "album", "scopes": ["view"]}),
        )
        .await;
    assert_eq!(response.status(), 201);
    let location = response
        .headers()
        .get(LOCATION)
        .expect("Location header")
        .to_str()
        .unwrap()
        .to_string();
    let prefix = format!("{}/uma/rs/perm/", app.issuer);
    assert!(
        location.starts_with(&prefix),
        "Location {location} starts with {prefix}"
    );
    assert!(location.len() > prefix.len(), "Location names the ticket");
    let body: Value = response.json().await.unwrap();
    let object = body.as_object().expect("a JSON object");
    assert_eq!(object.len(), 1, "only `ticket` in {body}");
    let ticket = body["ticket"].as_str().expect("ticket is a string");
    let raw = URL_SAFE_NO_PAD
        .decode(ticket)
        .expect("ticket is base64url without padding");
    assert!(raw.len() >= 16, "ticket carries at least 128 bits");
    assert!(
        !location.contains(ticket),
        "the Location must not reveal the ticket itself"
    );
    assert_eq!(steward::store::ticket_count(&app.store).await.unwrap(), 1);
    assert!(
        !app.dump().await.contains(ticket),
        "the ticket is stored only hashed"
    );
    app.stop().await;
}

#[tokio::test]
async fn the_wrapped_requested_permission_form_is_accepted() {
    let (app, rs) = app_with_album().await;
    let response = app
        .register_permission(
            &rs.pat,
            &json!({"requested_permission": {"resource_set_id": "album", "scopes": ["view", "all"]}}),
        )
        .await;
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.unwrap();
    assert!(body["ticket"].is_string());
    assert_eq!(steward::store::ticket_count(&app.store).await.unwrap(), 1);
    app.stop().await;
}

#[tokio::test]
async fn fifty_tickets_are_all_distinct_and_none_is_stored_in_clear() {
    let (app, rs) = app_with_album().await;
    let mut tickets = HashSet::new();
    let mut locations = HashSet::new();
    for _ in 0..50 {
        let response = app
            .register_permission(
                &rs.pat,
                &json!({"resource_set_id": "album", "scopes": ["view"]}),
            )
            .await;
        assert_eq!(response.status(), 201);
        let location = response.headers()[LOCATION].to_str().unwrap().to_string();
        locations.insert(location);
        let body: Value = response.json().await.unwrap();
        let ticket = body["ticket"].as_str().unwrap().to_string();
        assert!(URL_SAFE_NO_PAD.decode(&ticket).unwrap().len() >= 16);
        tickets.insert(ticket);
    }
    assert_eq!(tickets.len(), 50, "every ticket is fresh");
    assert_eq!(locations.len(), 50, "every ticket has its own Location");
    assert_eq!(steward::store::ticket_count(&app.store).await.unwrap(), 50);
    let dump = app.dump().await;
    for ticket in &tickets {
        assert!(!dump.contains(ticket.as_str()), "ticket stored in clear");
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_registrations_are_each_stored_as_asked() {
    // Concurrent inserts are written together in one statement; every
    // caller must still get its own ticket, stored with its own request.
    let (app, rs) = app_with_album().await;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..64 {
        let client = app.http_client.clone();
        let url = app.url("/uma/rs/perm");
        let pat = rs.pat.clone();
        let scopes = if i % 2 == 0 {
            vec!["view"]
        } else {
            vec!["view", "all"]
        };
        tasks.spawn(async move {
            let response = client
                .post(url)
                .bearer_auth(pat)
                .json(&json!({"resource_set_id": "album", "scopes": scopes}))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 201);
            let body: Value = response.json().await.unwrap();
            (scopes, body["ticket"].as_str().unwrap().to_string())
        });
    }
    let issued = tasks.join_all().await;
    assert_eq!(steward::store::ticket_count(&app.store).await.unwrap(), 64);
    let distinct: HashSet<&String> = issued.iter().map(|(_, t)| t).collect();
    assert_eq!(distinct.len(), 64);
    for (scopes, ticket) in &issued {
        let stored = steward::store::tickets::find_by_hash(
            &app.store,
            &steward::domain::secret::token_hash(ticket),
        )
        .await
        .unwrap()
        .expect("every answered ticket is stored");
        assert_eq!(stored.resource_set_id, "album");
        assert_eq!(&stored.scopes, scopes, "the ticket carries its own request");
    }
    app.stop().await;
}

#[tokio::test]
async fn an_unregistered_resource_set_is_invalid_resource_set_id() {
    let (app, rs) = app_with_album().await;
    let before = app.dump().await;
    let response = app
        .register_permission(
            &rs.pat,
            &json!({"resource_set_id": "no-such-set", "scopes": ["view"]}),
        )
        .await;
    assert_error(response, 400, "invalid_resource_set_id").await;
    assert_eq!(app.dump().await, before, "nothing written");
    app.stop().await;
}

#[tokio::test]
async fn another_resource_servers_set_is_invalid_resource_set_id() {
    let app = spawn_app().await;
    let owner_of_album = app.resource_server("alice").await;
    register_album(&app, &owner_of_album).await;
    // Another resource server for another owner, and one for the same owner:
    // neither may name a set registered by `owner_of_album`.
    let stranger = app.resource_server("mallory").await;
    let sibling = app.resource_server("alice").await;
    let before = app.dump().await;
    for other in [&stranger, &sibling] {
        let response = app
            .register_permission(
                &other.pat,
                &json!({"resource_set_id": "album", "scopes": ["view"]}),
            )
            .await;
        assert_error(response, 400, "invalid_resource_set_id").await;
    }
    assert_eq!(app.dump().await, before, "nothing written");
    assert_eq!(steward::store::ticket_count(&app.store).await.unwrap(), 0);
    // The owner itself still can.
    let response = app
        .register_permission(
            &owner_of_album.pat,
            &json!({"resource_set_id": "album", "scopes": ["view"]}),
        )
        .await;
    assert_eq!(response.status(), 201);
    app.stop().await;
}

#[tokio::test]
async fn a_scope_not_registered_on_the_set_is_invalid_scope() {
    let (app, rs) = app_with_album().await;
    let before = app.dump().await;
    for scopes in [json!(["delete"]), json!(["view", "delete"])] {
        let response = app
            .register_permission(
                &rs.pat,
                &json!({"resource_set_id": "album", "scopes": scopes}),
            )
            .await;
        assert_error(response, 400, "invalid_scope").await;
    }
    assert_eq!(app.dump().await, before, "nothing written");
    app.stop().await;
}

#[tokio::test]
async fn malformed_requests_are_invalid_request_and_change_nothing() {
    let (app, rs) = app_with_album().await;
    let before = app.dump().await;
    let bodies = [
        json!({"scopes": ["view"]}),
        json!({"resource_set_id": "album"}),
        json!({"resource_set_id": "album", "scopes": []}),
        json!({"resource_set_id": "", "scopes": ["view"]}),
        json!({"resource_set_id": 7, "scopes": ["view"]}),
        json!({"resource_set_id": ["album"], "scopes": ["view"]}),
        json!({"resource_set_id": "album", "scopes": "view"}),
        json!({"resource_set_id": "album", "scopes": [1]}),
        json!({"resource_set_id": "album", "scopes": {"view": true}}),
        json!({"requested_permission": "album"}),
        json!({"requested_permission": {"scopes": ["view"]}}),
        json!(["album", ["view"]]),
        json!("album"),
        json!({}),
    ];
    for body in &bodies {
        let response = app.register_permission(&rs.pat, body).await;
        assert_eq!(response.status(), 400, "400 for {body}");
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["error"], "invalid_request", "for {body}: {error}");
        assert_eq!(app.dump().await, before, "nothing written for {body}");
    }
    for raw in ["{", "{\"resource_set_id\": \"album\",}", "", "   ", "null"] {
        let response = post_raw(&app, Some(&rs.pat), "application/json", raw).await;
        assert_error(response, 400, "invalid_request").await;
        assert_eq!(app.dump().await, before, "nothing written for {raw:?}");
    }
    app.stop().await;
}

#[tokio::test]
async fn a_non_json_content_type_is_415() {
    let (app, rs) = app_with_album().await;
    let before = app.dump().await;
    let body = json!({"resource_set_id": "album", "scopes": ["view"]}).to_string();
    for content_type in ["text/plain", "application/x-www-form-urlencoded"] {
        let response = post_raw(&app, Some(&rs.pat), content_type, body.clone()).await;
        assert_error(response, 415, "unsupported_media_type").await;
    }
    assert_eq!(app.dump().await, before);
    // The same body as JSON is accepted: the refusal was about the type.
    let response = post_raw(&app, Some(&rs.pat), "application/json", body).await;
    assert_eq!(response.status(), 201);
    app.stop().await;
}

#[tokio::test]
async fn a_body_above_max_body_bytes_is_413() {
    let app = spawn_app_with(|s| s.max_body_bytes = 2048).await;
    let rs = app.resource_server("alice").await;
    register_album(&app, &rs).await;
    let before = app.dump().await;
    let padding = "x".repeat(4096);
    let body = json!({"resource_set_id": "album", "scopes": ["view"], "padding": padding});
    let response = app.register_permission(&rs.pat, &body).await;
    assert_error(response, 413, "request_too_large").await;
    assert_eq!(app.dump().await, before);
    // Just under the limit is fine.
    let body = json!({"resource_set_id": "album", "scopes": ["view"], "padding": "x".repeat(1500)});
    let response = app.register_permission(&rs.pat, &body).await;
    assert_eq!(response.status(), 201);
    app.stop().await;
}

#[tokio::test]
async fn without_a_valid_pat_it_is_401() {
    let (app, rs) = app_with_album().await;
    let before = app.dump().await;
    let body = json!({"resource_set_id": "album", "scopes": ["view"]}).to_string();

    let response = post_raw(&app, None, "application/json", body.clone()).await;
    assert_eq!(response.status(), 401);
    let challenge = response.headers()[WWW_AUTHENTICATE].to_str().unwrap();
    assert!(challenge.starts_with("Bearer"), "challenge {challenge}");
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["error"], "invalid_token");

    let response = post_raw(&app, Some("not-a-pat"), "application/json", body.clone()).await;
    assert_eq!(response.status(), 401);
    let challenge = response.headers()[WWW_AUTHENTICATE].to_str().unwrap();
    assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
    assert_error(response, 401, "invalid_token").await;

    // A tampered PAT (one signature character changed) is refused too.
    let tampered = tamper(&rs.pat);
    let response = post_raw(&app, Some(&tampered), "application/json", body).await;
    assert_error(response, 401, "invalid_token").await;

    assert_eq!(app.dump().await, before);
    assert_eq!(steward::store::ticket_count(&app.store).await.unwrap(), 0);
    app.stop().await;
}

/// The token with one character of its signature changed.
fn tamper(token: &str) -> String {
    let at = token.rfind('.').expect("a JWS") + 5;
    let mut chars: Vec<char> = token.chars().collect();
    chars[at] = if chars[at] == 'A' { 'B' } else { 'A' };
    chars.into_iter().collect()
}

#[tokio::test]
async fn an_expired_pat_is_401() {
    let (app, rs) = app_with_album().await;
    let before = app.dump().await;
    app.clock.advance(3600 + 1);
    let response = app
        .register_permission(
            &rs.pat,
            &json!({"resource_set_id": "album", "scopes": ["view"]}),
        )
        .await;
    assert_error(response, 401, "invalid_token").await;
    assert_eq!(app.dump().await, before);
    app.stop().await;
}

#[tokio::test]
async fn the_ticket_lifetime_follows_ticket_ttl() {
    let app = spawn_app_with(|s| s.ticket_ttl = 120).await;
    let rs = app.resource_server("alice").await;
    register_album(&app, &rs).await;
    let mut client = PermissionServiceClient::new(app.channel().await);
    let issued = client
        .register_permission(bearer(
            RegisterPermissionRequest {
                resource_set_id: "album".into(),
                scopes: vec!["view".into()],
            },
            &rs.pat,
        ))
        .await
        .expect("permission registered over gRPC")
        .into_inner();
    assert_eq!(issued.expires_at, app.clock_now() + 120);
    assert!(URL_SAFE_NO_PAD.decode(&issued.ticket).unwrap().len() >= 16);
    assert!(!issued.ticket_id.is_empty());
    assert_ne!(issued.ticket_id, issued.ticket);

    // The expiry is computed from the clock at registration time.
    app.clock.advance(1000);
    let later = client
        .register_permission(bearer(
            RegisterPermissionRequest {
                resource_set_id: "album".into(),
                scopes: vec!["all".into()],
            },
            &rs.pat,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(later.expires_at, app.clock_now() + 120);
    assert_eq!(later.expires_at, issued.expires_at + 1000);
    app.stop().await;
}

#[tokio::test]
async fn the_default_ticket_lifetime_is_the_default_ticket_ttl() {
    let (app, rs) = app_with_album().await;
    let mut client = PermissionServiceClient::new(app.channel().await);
    let issued = client
        .register_permission(bearer(
            RegisterPermissionRequest {
                resource_set_id: "album".into(),
                scopes: vec!["view".into()],
            },
            &rs.pat,
        ))
        .await
        .unwrap()
        .into_inner();
    let default_ttl = i64::try_from(steward::config::Settings::default().ticket_ttl).unwrap();
    assert_eq!(issued.expires_at, app.clock_now() + default_ttl);
    // Refusals over gRPC carry the same codes.
    let refused = client
        .register_permission(bearer(
            RegisterPermissionRequest {
                resource_set_id: "album".into(),
                scopes: vec![],
            },
            &rs.pat,
        ))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::InvalidArgument);
    assert_eq!(grpc_error_code(&refused), "invalid_request");
    app.stop().await;
}
