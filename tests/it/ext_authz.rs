//! Envoy external authorization on the gRPC port, driven with a real gRPC
//! client: the resource server describes its HTTP surface (enforcement
//! profile + `uris` on its sets), and `Check` answers as a UMA resource
//! server would (digest §5).

// Helpers outside `#[test]` fns panic on purpose: a failed step fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;

use envoy_types::ext_authz::v3::pb::{CheckRequest, CheckResponse, HttpResponse};
use envoy_types::pb::envoy::config::core::v3::{HeaderMap, HeaderValue};
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

pub(crate) fn check_request(
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
    let (set, removed) = allowed(&answer);
    assert!(set.is_empty(), "passed through untouched…");
    assert_eq!(
        removed,
        ["x-steward-subject", "x-steward-client", "x-steward-scopes"],
        "…but for client-made identity headers"
    );
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
                case_insensitive_paths: false,
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

// ---------------------------------------------------------------------------
// Normal forms at the edge (issue 12): paths, hosts, identity headers.
// ---------------------------------------------------------------------------

/// A Check request in Envoy's shape, with headers, scheme and the raw
/// header form (`encode_raw_headers`) on demand.
#[derive(Clone)]
struct Req {
    host: String,
    scheme: String,
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    raw: bool,
}

fn req(host: &str, method: &str, path: &str) -> Req {
    Req {
        host: host.into(),
        scheme: "https".into(),
        method: method.into(),
        path: path.into(),
        headers: Vec::new(),
        raw: false,
    }
}

impl Req {
    fn header(mut self, name: &str, value: &str) -> Req {
        self.headers.push((name.into(), value.into()));
        self
    }

    fn bearer(self, rpt: &str) -> Req {
        self.header("authorization", &format!("Bearer {rpt}"))
    }

    fn scheme(mut self, scheme: &str) -> Req {
        self.scheme = scheme.into();
        self
    }

    /// Headers as `header_map` (one entry per header line, raw bytes).
    fn raw(mut self) -> Req {
        self.raw = true;
        self
    }

    fn build(&self) -> CheckRequest {
        let mut http = HttpRequest {
            method: self.method.clone(),
            host: self.host.clone(),
            path: self.path.clone(),
            scheme: self.scheme.clone(),
            ..Default::default()
        };
        if self.raw {
            http.header_map = Some(HeaderMap {
                headers: self
                    .headers
                    .iter()
                    .map(|(k, v)| HeaderValue {
                        key: k.clone(),
                        raw_value: v.as_bytes().to_vec(),
                        ..Default::default()
                    })
                    .collect(),
            });
        } else {
            // What Envoy does with duplicates in this form: join with `,`.
            for (k, v) in &self.headers {
                http.headers
                    .entry(k.clone())
                    .and_modify(|joined| {
                        joined.push(',');
                        joined.push_str(v);
                    })
                    .or_insert_with(|| v.clone());
            }
        }
        CheckRequest {
            attributes: Some(AttributeContext {
                request: Some(Request {
                    http: Some(http),
                    ..Default::default()
                }),
                ..Default::default()
            }),
        }
    }
}

async fn ask(app: &TestApp, request: &Req) -> CheckResponse {
    check(app, request.build()).await
}

/// Asserts the 400 refusal: INVALID_ARGUMENT, `invalid_request` JSON,
/// `no-store`, no challenge and no ticket.
fn assert_refused(answer: &CheckResponse, what: &str) {
    let (code, http, headers, body) = denied(answer);
    assert_eq!((code, http), (3, 400), "{what}: {answer:?}");
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["error"], "invalid_request", "{what}: {body}");
    assert!(body["error_description"].is_string(), "{what}: {body}");
    assert!(body.get("ticket").is_none(), "{what}: {body}");
    assert_eq!(headers["cache-control"], "no-store", "{what}");
    assert!(!headers.contains_key("www-authenticate"), "{what}");
}

/// Alice's albums a1 (`/albums/a1/**`) and b2 (`/albums/b2/**`), both
/// (view, edit), under `profile`.
async fn albums(app: &TestApp, profile: &Value) -> ResourceServer {
    let rs = app.resource_server("alice").await;
    for (id, uri) in [("a1", "/albums/a1/**"), ("b2", "/albums/b2/**")] {
        let created = app
            .put_resource_set(
                &rs.pat,
                id,
                &json!({"name": id, "scopes": ["view", "edit"], "uris": [uri]}),
                None,
            )
            .await;
        assert_eq!(created.status(), 201);
    }
    let stored = put_profile(app, &rs.pat, profile).await;
    assert_eq!(stored.status(), 200, "{:?}", stored.text().await);
    rs
}

/// An RPT holding `view` on a1 only.
async fn a1_viewer(app: &TestApp, rs: &ResourceServer) -> String {
    app.insert_rpt(Some(rs), &[("a1", &["view"], app.clock_now() + 3600)])
        .await
}

fn photoz_profile() -> Value {
    json!({"hosts": [HOST], "methods": {"GET": ["view"], "PUT": ["edit"]}})
}

/// Every hostile spelling of "a1's RPT reaches b2" (and other ambiguous
/// targets) the edge must refuse.
fn hostile_paths() -> Vec<String> {
    let mut paths: Vec<String> = [
        "/albums/a1/../b2/secret.jpg",
        "/albums/a1/%2e%2e/b2/secret.jpg",
        "/albums/a1/%2E%2E/b2/secret.jpg",
        "/albums/a1/.%2e/b2/secret.jpg",
        "/albums/a1/%2e./b2/secret.jpg",
        "/albums/a1/./../b2/secret.jpg",
        "/albums/a1/%2e%2e/b2",
        "/albums/a1/.%2E/b2",
        "/albums/a1/b/../../b2/secret.jpg",
        "/albums/a1/./p.jpg",
        "/albums/a1%2F..%2Fb2/secret.jpg",
        "/albums/a1%2f..%2fb2/secret.jpg",
        "/albums/a1%5C..%5Cb2/secret.jpg",
        "/albums/a1%5c..%5cb2/secret.jpg",
        "/albums/a1\\..\\b2/secret.jpg",
        "/albums/a1/..\\b2/secret.jpg",
        "/albums/a1;x/../b2/secret.jpg",
        "/albums/a1/p.jpg;jsessionid=1",
        "/albums/a1/p.jpg%3Bx",
        "/albums/a1/%252e%252e/b2/secret.jpg",
        "/albums/a1/%252E%252E/b2/secret.jpg",
        "/albums/a1/%25%32%65%25%32%65/b2/secret.jpg",
        "/albums/a1/%zz",
        "/albums/a1/%2",
        "/albums/a1/%",
        "/albums/a1/%00",
        "/albums/a1/p.jpg%0a",
        "/albums/a1/%7f",
        "/albums/a1/%C3",
        "/albums/a1/%FF",
        "/albums/a1/p.jpg#x",
        "/albums/a1/p .jpg",
        "/albums/a1/caf\u{e9}.jpg",
        "//albums/b2/secret.jpg",
        "*",
        "albums/a1/p.jpg",
        "https://photoz.example.com/albums/b2/secret.jpg",
        "",
    ]
    .iter()
    .map(|p| p.to_string())
    .collect();
    paths.push(format!("/albums/a1/{}", "x".repeat(9 * 1024)));
    paths
}

#[tokio::test]
async fn dot_segments_and_other_ambiguous_paths_are_refused_without_a_ticket() {
    let app = spawn_app().await;
    let rs = albums(&app, &photoz_profile()).await;
    let rpt = a1_viewer(&app, &rs).await;

    // The OK path still works, and b2 is really out of a1's RPT's reach
    // (403 with the ticket that is due there).
    let (set, _) = allowed(&ask(&app, &req(HOST, "GET", "/albums/a1/p.jpg").bearer(&rpt)).await);
    assert_eq!(set["x-steward-subject"], "bob");
    let answer = ask(
        &app,
        &req(HOST, "GET", "/albums/b2/secret.jpg").bearer(&rpt),
    )
    .await;
    let (_, http, _, body) = denied(&answer);
    assert_eq!(http, 403);
    assert!(body.contains("ticket"), "{body}");

    let tickets = steward::store::ticket_count(&app.store).await.unwrap();
    let before = app.dump().await;
    for path in hostile_paths() {
        for method in ["GET", "PUT", "DELETE"] {
            let answer = ask(&app, &req(HOST, method, &path).bearer(&rpt)).await;
            assert_refused(&answer, &format!("{method} {path:?}"));
        }
        // With no token at all, too.
        assert_refused(&ask(&app, &req(HOST, "GET", &path)).await, &path);
    }
    assert_eq!(
        steward::store::ticket_count(&app.store).await.unwrap(),
        tickets,
        "refused paths register no ticket"
    );
    assert_eq!(app.dump().await, before, "nothing changed");
    app.stop().await;
}

#[tokio::test]
async fn ambiguous_paths_never_pass_through_in_allow_mode() {
    let app = spawn_app_with(|s| s.ext_authz_unmatched = Unmatched::Allow).await;
    let rs = albums(&app, &photoz_profile()).await;
    let rpt = a1_viewer(&app, &rs).await;

    // Allow mode is on: an unmatched path passes with no token…
    let (set, _) = allowed(&ask(&app, &req(HOST, "GET", "/public/p.jpg")).await);
    assert!(set.is_empty());
    // …and the albums still need one.
    assert_eq!(
        denied(&ask(&app, &req(HOST, "GET", "/albums/a1/p.jpg")).await).1,
        401
    );

    let tickets = steward::store::ticket_count(&app.store).await.unwrap();
    let before = app.dump().await;
    let mut smuggled: Vec<String> = [
        "/public/../albums/a1/p.jpg",
        "/public/%2e%2e/albums/a1/p.jpg",
        "/public/%2E%2E/albums/a1/p.jpg",
        "/public/.%2e/albums/a1/p.jpg",
        "/public/./../albums/a1/p.jpg",
        "/public/x/../../albums/a1/p.jpg",
        "/public%2F..%2Falbums/a1/p.jpg",
        "/public%5C..%5Calbums/a1/p.jpg",
        "/public\\..\\albums/a1/p.jpg",
        "/public;/../albums/a1/p.jpg",
        "/public/%252e%252e/albums/a1/p.jpg",
        "//public/../albums/a1/p.jpg",
        "/public/%2e%2e%2falbums/a1/p.jpg",
    ]
    .iter()
    .map(|p| p.to_string())
    .collect();
    smuggled.extend(hostile_paths());
    for path in &smuggled {
        assert_refused(&ask(&app, &req(HOST, "GET", path)).await, path);
        assert_refused(&ask(&app, &req(HOST, "GET", path).bearer(&rpt)).await, path);
        // An unmapped method on the same path does not slip through either.
        assert_refused(&ask(&app, &req(HOST, "PATCH", path)).await, path);
    }
    assert_eq!(
        steward::store::ticket_count(&app.store).await.unwrap(),
        tickets
    );
    assert_eq!(app.dump().await, before, "nothing changed");

    // On a host nobody claimed, the unmatched rule applies as before.
    let (set, _) = allowed(
        &ask(
            &app,
            &req("elsewhere.example", "GET", "/public/../albums/a1/p.jpg"),
        )
        .await,
    );
    assert!(set.is_empty());
    app.stop().await;
}

#[tokio::test]
async fn normal_forms_of_a_path_reach_the_same_set() {
    let app = spawn_app().await;
    let rs = albums(&app, &photoz_profile()).await;
    let rpt = a1_viewer(&app, &rs).await;

    for path in [
        "/albums/a1/p.jpg",
        "/albums//a1///p.jpg",
        "/albums/a1/p.jpg/",
        "/alb%75ms/a1/p.jpg",
        "/%61%6C%62%75%6D%73/%61%31/p.jpg",
        "/albums/a1/p.jpg?next=../../b2/secret.jpg;x#y",
        "/albums/a1/my%20photo.jpg",
    ] {
        let (set, _) = allowed(&ask(&app, &req(HOST, "GET", path).bearer(&rpt)).await);
        assert_eq!(set["x-steward-subject"], "bob", "{path}");
    }
    // An encoded b2 is b2: the ticket that is due there.
    let answer = ask(
        &app,
        &req(HOST, "GET", "/albums/%62%32/secret.jpg").bearer(&rpt),
    )
    .await;
    let (_, http, _, body) = denied(&answer);
    assert_eq!(http, 403);
    assert!(body.contains("ticket"), "{body}");

    // Paths are case-sensitive by default: `/ALBUMS/…` is no album (and
    // gets no ticket).
    let tickets = steward::store::ticket_count(&app.store).await.unwrap();
    let answer = ask(
        &app,
        &req(HOST, "GET", "/ALBUMS/b2/secret.jpg").bearer(&rpt),
    )
    .await;
    let (_, http, _, body) = denied(&answer);
    assert_eq!(http, 403);
    assert!(body.contains("access_denied"), "{body}");
    assert_eq!(
        steward::store::ticket_count(&app.store).await.unwrap(),
        tickets
    );

    // A case-insensitive upstream: patterns and paths compare lower-cased.
    let mut profile = photoz_profile();
    profile["case_insensitive_paths"] = json!(true);
    let stored = put_profile(&app, &rs.pat, &profile).await;
    assert_eq!(stored.status(), 200);
    let stored: Value = stored.json().await.unwrap();
    assert_eq!(stored["case_insensitive_paths"], true);
    for path in ["/ALBUMS/A1/P.JPG", "/Albums/a1/p.jpg", "/%41lbums/A1/x"] {
        let (set, _) = allowed(&ask(&app, &req(HOST, "GET", path).bearer(&rpt)).await);
        assert_eq!(set["x-steward-subject"], "bob", "{path}");
    }
    let answer = ask(
        &app,
        &req(HOST, "GET", "/ALBUMS/B2/SECRET.JPG").bearer(&rpt),
    )
    .await;
    let (_, http, _, body) = denied(&answer);
    assert_eq!(http, 403, "b2 in capitals is b2");
    assert!(body.contains("ticket"), "{body}");
    let tickets = steward::store::ticket_count(&app.store).await.unwrap();
    for path in ["/albums/b2/secret.jpg.", "/albums/b2/secret.jpg%20"] {
        assert_refused(&ask(&app, &req(HOST, "GET", path).bearer(&rpt)).await, path);
    }
    assert_eq!(
        steward::store::ticket_count(&app.store).await.unwrap(),
        tickets
    );
    app.stop().await;
}

#[tokio::test]
async fn uris_patterns_in_no_normal_form_are_refused_at_registration() {
    let app = spawn_app().await;
    let rs = albums(&app, &photoz_profile()).await;
    let before = app.dump().await;
    for pattern in [
        "/albums/../b2/**",
        "/albums/./a1",
        "/albums/%2e%2e/b2",
        "/albums/.%2E/b2",
        "/albums%2Fb2",
        "/albums%5cb2",
        "/albums\\b2",
        "/albums;v=1/**",
        "/albums%3Bv=1",
        "/albums/%252e%252e",
        "/albums/%zz",
        "/albums/%00",
        "/albums#x",
        "/albums?x",
    ] {
        let response = app
            .put_resource_set(
                &rs.pat,
                "c3",
                &json!({"name": "c3", "scopes": ["view"], "uris": [pattern]}),
                None,
            )
            .await;
        assert_eq!(response.status(), 400, "{pattern}");
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["error"], "invalid_request", "{pattern}");
        assert!(
            error["error_description"]
                .as_str()
                .unwrap()
                .contains("uri pattern"),
            "{error}"
        );
    }
    assert_eq!(app.dump().await, before, "nothing stored");
    app.stop().await;
}

#[tokio::test]
async fn a_host_is_one_resource_servers_on_every_port_and_in_every_spelling() {
    let app = spawn_app().await;
    let a = albums(
        &app,
        &json!({"hosts": [HOST, "bücher.example", "[::1]", "127.0.0.1"],
                "methods": {"GET": ["view"], "PUT": ["edit"]}}),
    )
    .await;
    let stored: Value = app
        .http_client
        .get(app.url("/uma/rs/enforcement"))
        .bearer_auth(&a.pat)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        stored["hosts"],
        json!([HOST, "xn--bcher-kva.example", "[::1]", "127.0.0.1"]),
        "stored in normal form"
    );

    // B: a set covering everything with an "anyone" policy for both
    // scopes; its own host is fine.
    let b = app.resource_server("carol").await;
    let put = app
        .put_resource_set(
            &b.pat,
            "everything",
            &json!({"name": "All", "scopes": ["view", "edit"], "uris": ["/**"]}),
            None,
        )
        .await;
    assert_eq!(put.status(), 201);
    let policy = app
        .http_client
        .post(app.url("/uma/rs/policy/everything"))
        .bearer_auth(&b.pat)
        .json(&json!({"name": "anyone", "scopes": ["view", "edit"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(policy.status(), 201);
    let before = app.dump().await;
    for (spelling, named) in [
        ("photoz.example.com:8080", HOST),
        ("PHOTOZ.example.com.", HOST),
        ("photoz.example.com:443", HOST),
        ("Photoz.Example.Com.:8080", HOST),
        ("ｐｈｏｔｏｚ.example.com", HOST),
        ("xn--bcher-kva.example", "xn--bcher-kva.example"),
        ("BÜCHER.example:8443", "xn--bcher-kva.example"),
        ("[0:0::1]:8080", "[::1]"),
        ("[0000:0000:0000:0000:0000:0000:0000:0001]", "[::1]"),
        ("[::ffff:127.0.0.1]", "127.0.0.1"),
        ("0x7f.0.0.1:80", "127.0.0.1"),
        ("127.0.0.1.", "127.0.0.1"),
    ] {
        let response = put_profile(
            &app,
            &b.pat,
            &json!({"hosts": ["b.example", spelling], "methods": {"GET": ["view"], "PUT": ["edit"]}}),
        )
        .await;
        assert_eq!(response.status(), 400, "{spelling}");
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["error"], "invalid_request", "{spelling}");
        let description = error["error_description"].as_str().unwrap();
        assert!(
            description.contains(&format!("`{named}`")),
            "{spelling}: {description}"
        );
    }
    // The same over gRPC.
    let taken = EnforcementServiceClient::new(app.channel().await)
        .set_enforcement_profile(bearer(
            proto::EnforcementProfile {
                hosts: vec!["PHOTOZ.EXAMPLE.COM.:8080".into()],
                methods: HashMap::from([(
                    "GET".into(),
                    ScopeList {
                        scopes: vec!["view".into()],
                    },
                )]),
                upstream_headers: None,
                case_insensitive_paths: false,
            },
            &b.pat,
        ))
        .await
        .unwrap_err();
    assert_eq!(grpc_error_code(&taken), "invalid_request");
    assert_eq!(app.dump().await, before, "refused claims change nothing");
    let own = put_profile(
        &app,
        &b.pat,
        &json!({"hosts": ["b.example", "b.example:8080"], "methods": {"GET": ["view"], "PUT": ["edit"]}}),
    )
    .await;
    assert_eq!(own.status(), 200, "one host on two ports is one claim");

    // Every spelling of A's hosts is decided by A: A's RPT passes…
    let rpt = a1_viewer(&app, &a).await;
    for host in [
        "PHOTOZ.example.com.",
        "photoz.example.com:8080",
        "photoz.example.com:443",
        "Photoz.Example.Com.:8080",
        "bücher.example",
        "xn--bcher-kva.example.:8443",
        "[0:0::1]:8080",
        "[::ffff:127.0.0.1]",
        "127.0.0.1:80",
    ] {
        let (set, _) =
            allowed(&ask(&app, &req(host, "GET", "/albums/a1/p.jpg").bearer(&rpt)).await);
        assert_eq!(set["x-steward-subject"], "bob", "{host}");
    }
    // …B's "anyone may edit" never applies there: B's RPT is another
    // resource server's (401), and without one A's challenge names the host.
    let b_rpt = app
        .insert_rpt(
            Some(&b),
            &[("everything", &["view", "edit"], app.clock_now() + 3600)],
        )
        .await;
    let tickets = steward::store::ticket_count(&app.store).await.unwrap();
    for host in ["photoz.example.com:8080", "PHOTOZ.example.com."] {
        let answer = ask(&app, &req(host, "PUT", "/albums/a1/p.jpg").bearer(&b_rpt)).await;
        let (code, http, _, _) = denied(&answer);
        assert_eq!((code, http), (16, 401), "{host}: {answer:?}");
    }
    assert_eq!(
        steward::store::ticket_count(&app.store).await.unwrap(),
        tickets
    );
    let answer = ask(
        &app,
        &req("PHOTOZ.example.com.:8080", "GET", "/albums/a1/p.jpg"),
    )
    .await;
    let (_, http, headers, _) = denied(&answer);
    assert_eq!(http, 401);
    assert!(
        headers["www-authenticate"].contains("host_id=\"photoz.example.com:8080\""),
        "{headers:?}"
    );
    // B's own host is B's.
    let (set, _) = allowed(&ask(&app, &req("B.example.:8080", "PUT", "/x").bearer(&b_rpt)).await);
    assert_eq!(set["x-steward-scopes"], "edit");
    app.stop().await;
}

#[tokio::test]
async fn ports_listed_in_a_profile_restrict_it_but_the_host_stays_claimed() {
    let app = spawn_app().await;
    let a = albums(
        &app,
        &json!({"hosts": ["api.example.com:8443", "web.example.com:443"],
                "methods": {"GET": ["view"]}}),
    )
    .await;
    let rpt = a1_viewer(&app, &a).await;
    let path = "/albums/a1/p.jpg";
    allowed(&ask(&app, &req("api.example.com:8443", "GET", path).bearer(&rpt)).await);
    // No port: the scheme's default.
    allowed(&ask(&app, &req("web.example.com", "GET", path).bearer(&rpt)).await);
    allowed(
        &ask(
            &app,
            &req("web.example.com:443", "GET", path)
                .scheme("http")
                .bearer(&rpt),
        )
        .await,
    );
    let tickets = steward::store::ticket_count(&app.store).await.unwrap();
    for request in [
        req("api.example.com", "GET", path),
        req("api.example.com:9000", "GET", path),
        req("web.example.com", "GET", path).scheme("http"),
        req("web.example.com", "GET", path).scheme(""),
    ] {
        let answer = ask(&app, &request.clone().bearer(&rpt)).await;
        let (_, http, _, body) = denied(&answer);
        assert_eq!(http, 403, "{}: unmatched", request.host);
        assert!(body.contains("access_denied"), "{body}");
    }
    assert_eq!(
        steward::store::ticket_count(&app.store).await.unwrap(),
        tickets
    );
    // The ports A does not serve are still nobody else's.
    let b = app.resource_server("carol").await;
    for host in [
        "api.example.com",
        "api.example.com:443",
        "web.example.com:80",
    ] {
        let response = put_profile(
            &app,
            &b.pat,
            &json!({"hosts": [host], "methods": {"GET": ["view"]}}),
        )
        .await;
        assert_eq!(response.status(), 400, "{host}");
    }
    app.stop().await;
}

#[tokio::test]
async fn unparseable_or_conflicting_authorities_are_refused_even_in_allow_mode() {
    let app = spawn_app_with(|s| s.ext_authz_unmatched = Unmatched::Allow).await;
    let rs = albums(&app, &photoz_profile()).await;
    let rpt = a1_viewer(&app, &rs).await;
    let tickets = steward::store::ticket_count(&app.store).await.unwrap();
    let path = "/albums/a1/p.jpg";
    let mut cases: Vec<(String, Req)> = [
        "",
        "user@photoz.example.com",
        "photoz.example.com:0",
        "photoz.example.com:65536",
        "photoz.example.com:",
        "photoz.example.com:http",
        "photoz.example.com,evil.example",
        "photoz.example.com, photoz.example.com",
        "[::1",
        "::1",
        "photoz example.com",
        "ph%6ftoz.example.com",
        "photoz.example.com/",
        "photoz..example.com",
    ]
    .iter()
    .map(|h| (format!("authority {h:?}"), req(h, "GET", path)))
    .collect();
    cases.push((
        format!("{}-byte host", 254),
        req(&format!("{}.example", "a".repeat(245)), "GET", path),
    ));
    // `:authority` and `host` disagree (HttpRequest.host empty or not).
    cases.push((
        ":authority vs host".into(),
        req("", "GET", path)
            .header(":authority", HOST)
            .header("host", "evil.example"),
    ));
    cases.push((
        "http.host vs host".into(),
        req(HOST, "GET", path).header("host", "evil.example"),
    ));
    // Two Host headers, in either header form.
    for raw in [false, true] {
        let mut twice = req("", "GET", path)
            .header("host", HOST)
            .header("host", "evil.example");
        let mut same_twice = req("", "GET", path)
            .header("host", HOST)
            .header("host", HOST);
        if raw {
            twice = twice.raw();
            same_twice = same_twice.raw();
        }
        cases.push((format!("two hosts (raw: {raw})"), twice));
        cases.push((format!("one host twice (raw: {raw})"), same_twice));
    }
    for (what, request) in cases {
        assert_refused(&ask(&app, &request).await, &what);
        assert_refused(&ask(&app, &request.clone().bearer(&rpt)).await, &what);
    }
    assert_eq!(
        steward::store::ticket_count(&app.store).await.unwrap(),
        tickets
    );
    // Spellings of one host agree.
    let answer = ask(
        &app,
        &req("", "GET", path)
            .header(":authority", "PHOTOZ.example.com")
            .header("host", "photoz.example.com.")
            .bearer(&rpt),
    )
    .await;
    allowed(&answer);
    app.stop().await;
}

#[tokio::test]
async fn duplicate_authorization_headers_are_never_one_token() {
    let app = spawn_app().await;
    let rs = albums(&app, &photoz_profile()).await;
    let rpt = a1_viewer(&app, &rs).await;
    let path = "/albums/a1/p.jpg";
    let bearer_value = format!("Bearer {rpt}");
    for raw in [false, true] {
        let one = req(HOST, "GET", path).header("authorization", &bearer_value);
        let one = if raw { one.raw() } else { one };
        let (set, _) = allowed(&ask(&app, &one).await);
        assert_eq!(set["x-steward-subject"], "bob", "raw: {raw}");
        for second in [
            bearer_value.as_str(),
            "Bearer other",
            "",
            "Basic dXNlcjpwdw==",
        ] {
            let twice = one.clone().header("authorization", second);
            let answer = ask(&app, &twice).await;
            let (code, http, _, _) = denied(&answer);
            assert_eq!((code, http), (16, 401), "raw: {raw}, second {second:?}");
        }
    }
    // Header names differing in case are one header.
    let answer = ask(
        &app,
        &req(HOST, "GET", path)
            .header("authorization", &bearer_value)
            .header("Authorization", &bearer_value),
    )
    .await;
    assert_eq!(denied(&answer).1, 401);
    app.stop().await;
}

#[tokio::test]
async fn client_made_identity_headers_never_reach_the_upstream() {
    let app = spawn_app_with(|s| s.ext_authz_unmatched = Unmatched::Allow).await;
    let rs = albums(
        &app,
        &json!({"hosts": [HOST, "api.example.com:8443"], "methods": {"GET": ["view"]},
                "upstream_headers": {"subject": "X-User", "client": "x-app"}}),
    )
    .await;
    let rpt = a1_viewer(&app, &rs).await;
    let forged = |r: Req| {
        r.header("x-steward-subject", "admin")
            .header("x-steward-client", "admin")
            .header("x-steward-scopes", "edit")
            .header("x-user", "admin")
            .header("x-app", "admin")
    };
    let defaults = ["x-steward-subject", "x-steward-client", "x-steward-scopes"];
    let profile_names = ["x-user", "x-app", "x-steward-scopes"];

    for raw in [false, true] {
        let shape = |r: Req| if raw { forged(r).raw() } else { forged(r) };
        // A host with no profile: the default names go.
        let (set, removed) = allowed(&ask(&app, &shape(req("other.example", "GET", "/"))).await);
        assert!(set.is_empty());
        for name in defaults {
            assert!(removed.contains(&name.to_string()), "{name} in {removed:?}");
        }
        // The profile's host, passed through: unmatched path, unmapped
        // method, a port the profile does not list.
        for (what, request) in [
            ("unmatched path", req(HOST, "GET", "/public/p.jpg")),
            ("unmapped method", req(HOST, "DELETE", "/albums/a1/p.jpg")),
            (
                "unlisted port",
                req("api.example.com:9000", "GET", "/albums/a1/p.jpg"),
            ),
        ] {
            let (set, removed) = allowed(&ask(&app, &shape(request).bearer(&rpt)).await);
            assert!(set.is_empty(), "{what}");
            for name in profile_names.iter().chain(&defaults) {
                assert!(
                    removed.contains(&name.to_string()),
                    "{what} (raw: {raw}): {name} in {removed:?}"
                );
            }
            assert!(
                !removed.contains(&"authorization".to_string()),
                "{what}: not ours"
            );
        }
        // Allowed: the profile's names are overwritten with the truth, the
        // other defaults removed, and never a name that was just set.
        let answer = ask(
            &app,
            &shape(req(HOST, "GET", "/albums/a1/p.jpg")).bearer(&rpt),
        )
        .await;
        let (set, removed) = allowed(&answer);
        assert_eq!(set["x-user"], "bob");
        assert_eq!(set["x-app"], "uma-client");
        assert_eq!(set["x-steward-scopes"], "view");
        for name in ["x-steward-subject", "x-steward-client", "authorization"] {
            assert!(removed.contains(&name.to_string()), "{name} in {removed:?}");
        }
        for name in profile_names {
            assert!(
                !removed.contains(&name.to_string()),
                "{name} is set, not removed"
            );
        }
    }
    app.stop().await;
}

#[tokio::test]
async fn old_host_claims_are_brought_to_the_normal_form() {
    use migration::{Migrator, MigratorTrait};
    use sea_orm::ConnectionTrait;

    // A database as the previous version left it: claims per `host:port`,
    // two servers sharing a host across ports, spellings as written.
    let url = crate::helpers::fresh_database_url().await;
    let db = sea_orm::Database::connect(url.as_str()).await.unwrap();
    Migrator::up(&db, Some(8)).await.unwrap();
    let profile = |hosts: &[&str]| {
        json!({"hosts": hosts, "methods": {"GET": ["view"]},
               "upstream_headers": {"subject": "x-steward-subject", "client": "x-steward-client",
                                    "scopes": "x-steward-scopes"}})
        .to_string()
    };
    for (client, hosts, at) in [
        ("rs-a", vec!["photoz.example.com"], 100),
        ("rs-b", vec!["photoz.example.com:8080", "b.example"], 200),
        ("rs-c", vec!["[0:0::1]:8080", "xn--bcher-kva.example"], 50),
    ] {
        db.execute_unprepared(&format!(
            "INSERT INTO enforcement_profiles (client_id, profile, updated_at) VALUES ('{client}', '{}', {at})",
            profile(&hosts)
        ))
        .await
        .unwrap();
        for host in hosts {
            db.execute_unprepared(&format!(
                "INSERT INTO enforcement_hosts (host, client_id) VALUES ('{host}', '{client}')"
            ))
            .await
            .unwrap();
        }
    }
    db.close().await.unwrap();

    // The server migrates on start.
    let app = spawn_app_with(|s| s.database_url = steward::config::Secret::new(url.clone())).await;
    let dump = app.dump().await;
    for (host, client) in [
        ("photoz.example.com", "rs-a"),
        ("b.example", "rs-b"),
        ("[::1]", "rs-c"),
        ("xn--bcher-kva.example", "rs-c"),
    ] {
        assert!(
            dump.contains(&format!("host: \"{host}\", client_id: \"{client}\"")),
            "{host} → {client} in {dump}"
        );
    }
    assert!(!dump.contains("photoz.example.com:8080"), "{dump}");
    assert!(!dump.contains("[0:0::1]"), "{dump}");
    assert!(
        dump.contains(r#"\"hosts\":[\"b.example\"]"#),
        "the younger profile lost the shared host: {dump}"
    );
    assert!(
        dump.contains(r#"\"hosts\":[\"[::1]:8080\",\"xn--bcher-kva.example\"]"#),
        "{dump}"
    );
    // Port 8080 of A's host is A's (no sets: unmatched, A's headers).
    let answer = ask(&app, &req("photoz.example.com:8080", "GET", "/x")).await;
    let (_, http, _, body) = denied(&answer);
    assert_eq!(http, 403, "{body}");
    app.stop().await;
}
