//! Envoy external authorization on the gRPC port, driven with a real gRPC
//! client: the resource server describes its HTTP surface (enforcement
//! profile + `uris` on its sets), and `Check` answers as a UMA resource
//! server would (digest §5).

// Helpers outside `#[test]` fns panic on purpose: a failed step fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;

use envoy_types::ext_authz::v3::pb::{CheckRequest, CheckResponse, HttpResponse};
use envoy_types::pb::envoy::service::auth::v3::AttributeContext;
use envoy_types::pb::envoy::service::auth::v3::attribute_context::{HttpRequest, Request};
use envoy_types::pb::envoy::service::auth::v3::authorization_client::AuthorizationClient;
use serde_json::{Value, json};
use steward::config::Unmatched;
use steward::grpc::proto::enforcement_service_client::EnforcementServiceClient;
use steward::grpc::proto::{self, GetEnforcementProfileRequest, ScopeList};

use crate::helpers::{ResourceServer, TestApp, bearer, grpc_error_code, spawn_app, spawn_app_with};

const HOST: &str = "photoz.example.com";

/// A resource server for alice with `album` (view, edit) at `/albums/**`, a
/// policy letting anyone view it, and a profile mapping GET → view and
/// PUT → edit on HOST.
async fn photoz(app: &TestApp) -> ResourceServer {
    let rs = app.resource_server("alice").await;
    let created = app
        .put_resource_set(
            &rs.pat,
            "album",
            &json!({"name": "Album", "scopes": ["view", "edit"], "uris": ["/albums/**"]}),
            None,
        )
        .await;
    assert_eq!(created.status(), 201);
    let policy = app
        .http_client
        .post(app.url("/uma/rs/policy/album"))
        .bearer_auth(&rs.pat)
        .json(&json!({"name": "anyone views", "scopes": ["view"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(policy.status(), 201);
    let profile = put_profile(
        app,
        &rs.pat,
        &json!({"hosts": [HOST], "methods": {"GET": ["view"], "PUT": ["edit"]}}),
    )
    .await;
    assert_eq!(profile.status(), 200);
    rs
}

async fn put_profile(app: &TestApp, pat: &str, profile: &Value) -> reqwest::Response {
    app.http_client
        .put(app.url("/uma/rs/enforcement"))
        .bearer_auth(pat)
        .json(profile)
        .send()
        .await
        .unwrap()
}

fn check_request(
    host: &str,
    method: &str,
    path: &str,
    authorization: Option<&str>,
) -> CheckRequest {
    let mut headers = HashMap::new();
    if let Some(value) = authorization {
        headers.insert("authorization".to_string(), value.to_string());
    }
    CheckRequest {
        attributes: Some(AttributeContext {
            request: Some(Request {
                http: Some(HttpRequest {
                    method: method.into(),
                    host: host.into(),
                    path: path.into(),
                    headers,
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }),
    }
}

async fn check(app: &TestApp, request: CheckRequest) -> CheckResponse {
    AuthorizationClient::new(app.channel().await)
        .check(request)
        .await
        .expect("Check answers")
        .into_inner()
}

/// (gRPC code, HTTP status, headers, body) of a Denied answer.
fn denied(response: &CheckResponse) -> (i32, i32, HashMap<String, String>, String) {
    let code = response.status.as_ref().map_or(0, |s| s.code);
    let Some(HttpResponse::DeniedResponse(denied)) = &response.http_response else {
        panic!("expected a Denied answer, got {response:?}");
    };
    let headers = denied
        .headers
        .iter()
        .filter_map(|h| h.header.as_ref())
        .map(|h| (h.key.to_ascii_lowercase(), h.value.clone()))
        .collect();
    (
        code,
        denied.status.as_ref().map_or(0, |s| s.code),
        headers,
        denied.body.clone(),
    )
}

/// (upstream headers set, headers removed) of an OK answer.
fn allowed(response: &CheckResponse) -> (HashMap<String, String>, Vec<String>) {
    assert_eq!(
        response.status.as_ref().map(|s| s.code),
        Some(0),
        "{response:?}"
    );
    let Some(HttpResponse::OkResponse(ok)) = &response.http_response else {
        panic!("expected an OK answer with headers, got {response:?}");
    };
    let headers = ok
        .headers
        .iter()
        .filter_map(|h| h.header.as_ref())
        .map(|h| (h.key.clone(), h.value.clone()))
        .collect();
    (headers, ok.headers_to_remove.clone())
}

#[tokio::test]
async fn denied_with_a_ticket_then_permitted_after_the_client_uses_it() {
    let app = spawn_app().await;
    photoz(&app).await;

    // No RPT: 401 with the AS's URI, no ticket.
    let answer = check(
        &app,
        check_request(HOST, "GET", "/albums/paris/1.jpg", None),
    )
    .await;
    let (code, http, headers, _) = denied(&answer);
    assert_eq!((code, http), (16, 401), "UNAUTHENTICATED, 401");
    let challenge = &headers["www-authenticate"];
    assert!(
        challenge.starts_with("UMA realm=\"steward\""),
        "{challenge}"
    );
    assert!(
        challenge.contains(&format!("as_uri=\"{}\"", app.issuer)),
        "{challenge}"
    );
    assert!(
        challenge.contains(&format!("host_id=\"{HOST}\"")),
        "{challenge}"
    );
    assert!(!challenge.contains("ticket"), "{challenge}");

    // An RPT without the permission: Steward registers it and answers 403
    // with the ticket in the header (UMA 1.0) and the body (draft-06).
    let (client_id, aat) = app.requester("bob").await;
    let rpt = app.empty_rpt(&aat).await;
    let authorization = format!("Bearer {rpt}");
    let request = || check_request(HOST, "GET", "/albums/paris/1.jpg", Some(&authorization));
    let answer = check(&app, request()).await;
    let (code, http, headers, body) = denied(&answer);
    assert_eq!((code, http), (7, 403), "PERMISSION_DENIED, 403");
    let body: Value = serde_json::from_str(&body).unwrap();
    let ticket = body["ticket"]
        .as_str()
        .expect("a ticket in the body")
        .to_string();
    let challenge = &headers["www-authenticate"];
    assert!(
        challenge.contains(&format!("ticket=\"{ticket}\"")),
        "{challenge}"
    );
    assert!(
        challenge.contains("error=\"insufficient_scope\""),
        "{challenge}"
    );
    assert_eq!(headers["content-type"], "application/json");

    // The unmodified UMA client goes on from there.
    let granted = app
        .http_client
        .post(app.url("/uma/client/perm"))
        .bearer_auth(&aat)
        .json(&json!({"rpt": rpt, "ticket": ticket}))
        .send()
        .await
        .unwrap();
    assert_eq!(granted.status(), 200, "{:?}", granted.text().await);

    // The same Check now passes, naming the party and the scopes, and the
    // RPT is not forwarded.
    let answer = check(&app, request()).await;
    let (upstream, removed) = allowed(&answer);
    assert_eq!(upstream["x-steward-subject"], client_id);
    assert_eq!(upstream["x-steward-client"], client_id);
    assert_eq!(upstream["x-steward-scopes"], "view");
    assert!(removed.contains(&"authorization".to_string()));
    assert!(
        upstream.values().all(|v| !v.contains(&rpt)),
        "never the RPT"
    );

    // Editing needs `edit`, which no policy grants: denied with a new ticket.
    let answer = check(
        &app,
        check_request(HOST, "PUT", "/albums/paris/1.jpg", Some(&authorization)),
    )
    .await;
    let (_, http, _, body) = denied(&answer);
    assert_eq!(http, 403);
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_ne!(body["ticket"].as_str(), Some(ticket.as_str()));
    app.stop().await;
}

#[tokio::test]
async fn bad_requests_get_defined_denials_never_an_ok() {
    let app = spawn_app().await;
    let rs = photoz(&app).await;
    let (_, aat) = app.requester("bob").await;
    let rpt = app.empty_rpt(&aat).await;

    // An RPT for another resource server is not valid here.
    let other = app.resource_server("carol").await;
    let put = app
        .put_resource_set(
            &other.pat,
            "notes",
            &json!({"name": "Notes", "scopes": ["read"], "uris": ["/notes/**"]}),
            None,
        )
        .await;
    assert_eq!(put.status(), 201);
    let foreign_rpt = app
        .insert_rpt(
            Some(&other),
            &[("notes", &["read"], app.clock_now() + 3600)],
        )
        .await;

    let tickets_before = steward::store::ticket_count(&app.store).await.unwrap();
    let huge = format!("Bearer {}", "x".repeat(8000));
    let cases: Vec<(&str, CheckRequest, i32)> = vec![
        (
            "unknown host",
            check_request(
                "evil.example.com",
                "GET",
                "/albums/1",
                Some(&format!("Bearer {rpt}")),
            ),
            403,
        ),
        (
            "no matching set",
            check_request(HOST, "GET", "/elsewhere", Some(&format!("Bearer {rpt}"))),
            403,
        ),
        (
            "unmapped method",
            check_request(HOST, "DELETE", "/albums/1", Some(&format!("Bearer {rpt}"))),
            403,
        ),
        (
            "basic scheme",
            check_request(HOST, "GET", "/albums/1", Some("Basic dXNlcjpwdw==")),
            401,
        ),
        (
            "malformed bearer",
            check_request(HOST, "GET", "/albums/1", Some("Bearer a b")),
            401,
        ),
        (
            "huge header",
            check_request(HOST, "GET", "/albums/1", Some(&huge)),
            401,
        ),
        (
            "unknown RPT",
            check_request(HOST, "GET", "/albums/1", Some("Bearer made-up")),
            401,
        ),
        (
            "another server's RPT",
            check_request(
                HOST,
                "GET",
                "/albums/1",
                Some(&format!("Bearer {foreign_rpt}")),
            ),
            401,
        ),
        ("no HTTP attributes", CheckRequest { attributes: None }, 400),
    ];
    for (what, request, status) in cases {
        let answer = check(&app, request).await;
        let (code, http, headers, body) = denied(&answer);
        assert_eq!(http, status, "{what}: {answer:?}");
        assert_ne!(code, 0, "{what}: never OK");
        assert!(
            !headers.contains_key("www-authenticate")
                || !headers["www-authenticate"].contains("ticket"),
            "{what}: no ticket"
        );
        assert!(!body.contains("ticket"), "{what}: no ticket in {body}");
    }
    assert_eq!(
        steward::store::ticket_count(&app.store).await.unwrap(),
        tickets_before,
        "refusals register no permission"
    );
    drop(rs);
    app.stop().await;
}

#[tokio::test]
async fn unmatched_requests_follow_the_configured_default() {
    let app = spawn_app_with(|s| s.ext_authz_unmatched = Unmatched::Allow).await;
    photoz(&app).await;
    let answer = check(&app, check_request("other.example.com", "GET", "/", None)).await;
    assert_eq!(
        answer.status.as_ref().map(|s| s.code),
        Some(0),
        "allowed: {answer:?}"
    );
    assert!(answer.http_response.is_none(), "passed through untouched");
    // What a profile covers is still enforced.
    let answer = check(&app, check_request(HOST, "GET", "/albums/1", None)).await;
    assert_eq!(denied(&answer).1, 401);
    app.stop().await;
}

#[tokio::test]
async fn a_configured_token_is_required_from_the_check_caller() {
    let app =
        spawn_app_with(|s| s.ext_authz_token = Some(steward::config::Secret::new("mesh-secret")))
            .await;
    photoz(&app).await;
    let mut client = AuthorizationClient::new(app.channel().await);
    let status = client
        .check(check_request(HOST, "GET", "/albums/1", None))
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unauthenticated);
    let status = client
        .check(bearer(
            check_request(HOST, "GET", "/albums/1", None),
            "wrong",
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unauthenticated);
    let answer = client
        .check(bearer(
            check_request(HOST, "GET", "/albums/1", None),
            "mesh-secret",
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(denied(&answer).1, 401, "the request itself is then decided");
    app.stop().await;
}

#[tokio::test]
async fn profiles_are_managed_with_the_pat_and_hosts_are_exclusive() {
    let app = spawn_app().await;
    let rs = app.resource_server("alice").await;
    let url = app.url("/uma/rs/enforcement");
    let get = app
        .http_client
        .get(&url)
        .bearer_auth(&rs.pat)
        .send()
        .await
        .unwrap();
    assert_eq!(get.status(), 404);

    let stored = put_profile(
        &app,
        &rs.pat,
        &json!({"hosts": ["Photoz.Example.com"], "methods": {"get": ["view"]},
                "upstream_headers": {"subject": "x-user"}}),
    )
    .await;
    assert_eq!(stored.status(), 200);
    let stored: Value = stored.json().await.unwrap();
    assert_eq!(stored["hosts"], json!(["photoz.example.com"]));
    assert_eq!(stored["methods"], json!({"GET": ["view"]}));
    assert_eq!(stored["upstream_headers"]["subject"], "x-user");
    assert_eq!(stored["upstream_headers"]["scopes"], "x-steward-scopes");
    let get: Value = app
        .http_client
        .get(&url)
        .bearer_auth(&rs.pat)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(get, stored);

    // Refusals change nothing: bad profiles, a host another server holds,
    // no PAT, bad uris on a resource set.
    let before = app.dump().await;
    let other = app.resource_server("carol").await;
    let before_other = app.dump().await;
    for (pat, body, status) in [
        (
            &rs.pat,
            json!({"hosts": [], "methods": {"GET": ["view"]}}),
            400,
        ),
        (
            &rs.pat,
            json!({"hosts": ["a b"], "methods": {"GET": ["view"]}}),
            400,
        ),
        (&rs.pat, json!({"hosts": ["x.example"], "methods": {}}), 400),
        (
            &rs.pat,
            json!({"hosts": ["x.example"], "methods": {"GET": ["view"]}, "extra": 1}),
            400,
        ),
        (
            &other.pat,
            json!({"hosts": ["photoz.example.com"], "methods": {"GET": ["view"]}}),
            400,
        ),
    ] {
        let response = put_profile(&app, pat, &body).await;
        assert_eq!(response.status(), status, "{body}");
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["error"], "invalid_request", "{error}");
    }
    let no_pat = app
        .http_client
        .put(&url)
        .json(&json!({"hosts": ["y.example"], "methods": {"GET": ["view"]}}))
        .send()
        .await
        .unwrap();
    assert_eq!(no_pat.status(), 401);
    let bad_uris = app
        .put_resource_set(
            &rs.pat,
            "x",
            &json!({"name": "X", "scopes": ["v"], "uris": ["no-slash"]}),
            None,
        )
        .await;
    assert_eq!(bad_uris.status(), 400);
    assert_eq!(app.dump().await, before_other, "nothing changed");
    assert_ne!(before, before_other, "(carol's client was registered)");

    // The same over gRPC.
    let mut grpc = EnforcementServiceClient::new(app.channel().await);
    let profile = grpc
        .get_enforcement_profile(bearer(GetEnforcementProfileRequest {}, &rs.pat))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(profile.hosts, vec!["photoz.example.com"]);
    let taken = grpc
        .set_enforcement_profile(bearer(
            proto::EnforcementProfile {
                hosts: vec!["photoz.example.com".into()],
                methods: HashMap::from([(
                    "GET".into(),
                    ScopeList {
                        scopes: vec!["read".into()],
                    },
                )]),
                upstream_headers: None,
            },
            &other.pat,
        ))
        .await
        .unwrap_err();
    assert_eq!(grpc_error_code(&taken), "invalid_request");

    // Deleting releases the host for another resource server.
    let deleted = app
        .http_client
        .delete(&url)
        .bearer_auth(&rs.pat)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    let again = app
        .http_client
        .delete(&url)
        .bearer_auth(&rs.pat)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 404);
    let claimed = put_profile(
        &app,
        &other.pat,
        &json!({"hosts": ["photoz.example.com"], "methods": {"GET": ["read"]}}),
    )
    .await;
    assert_eq!(claimed.status(), 200);
    app.stop().await;
}

#[tokio::test]
async fn a_lost_database_gives_a_denial_never_an_ok() {
    let Ok(base) = std::env::var("TEST_DATABASE_URL") else {
        eprintln!("skipped: TEST_DATABASE_URL is not set (PostgreSQL-only test)");
        return;
    };
    let app = spawn_app().await;
    photoz(&app).await;
    let (_, aat) = app.requester("bob").await;
    let rpt = app.empty_rpt(&aat).await;
    // The database disappears under the running server (connections cut,
    // no new ones possible).
    let name = app.database_url.rsplit_once('/').unwrap().1.to_string();
    let admin = sea_orm::Database::connect(base.as_str()).await.unwrap();
    sea_orm::ConnectionTrait::execute_unprepared(
        &admin,
        &format!("DROP DATABASE \"{name}\" WITH (FORCE)"),
    )
    .await
    .unwrap();
    admin.close().await.ok();
    // A host not looked up before is not cached, so this reaches the
    // database (and waits out the pool's acquire timeout).
    let started = std::time::Instant::now();
    let answer = check(
        &app,
        check_request(
            "lost.example.com",
            "GET",
            "/albums/1",
            Some(&format!("Bearer {rpt}")),
        ),
    )
    .await;
    let (code, http, _, body) = denied(&answer);
    assert_ne!(code, 0, "never OK: {answer:?}");
    assert_eq!(http, 503, "temporarily unavailable: {body}");
    eprintln!("denied after {:?}", started.elapsed());
}
