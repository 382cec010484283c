//! The authorization API end to end (draft-06 §3.4, digest §4, §6, §8): a
//! resource server registers a set, a policy and a permission; a client with
//! an AAT gets an RPT and asks for the permission behind the ticket, over the
//! draft-06 endpoints, the UMA 1.0 single-endpoint flow and gRPC; owner
//! approval of held requests; every refusal leaves the RPT as it was.

// Helpers outside `#[test]` fns panic on purpose: a failed step fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::header::{CACHE_CONTROL, CONTENT_TYPE, WWW_AUTHENTICATE};
use sea_orm::{ConnectionTrait, Database, Statement};
use serde_json::{Value, json};
use steward::grpc::proto::authorization_service_client::AuthorizationServiceClient;
use steward::grpc::proto::{ClaimToken, IssueRptRequest, RequestPermissionRequest};
use tonic::Code;
use tonic_types::StatusExt;

use crate::helpers::{
    ResourceServer, T0, TestApp, bearer, grpc_error_code, spawn_app, spawn_app_with,
};
use crate::idp::TestIdp;

/// The claim token format of a pushed OpenID Connect ID token.
const ID_TOKEN: &str = "http://openid.net/specs/openid-connect-core-1_0.html#IDToken";
const IDP_ISSUER: &str = "https://idp.example.com";
const IDP_AUDIENCE: &str = "steward-audience";
/// The description every `need_claims` / `need_info` carries.
const NEED_CLAIMS_DESCRIPTION: &str = "the requesting party must supply more claims";

/// A UMA client acting for itself: its id and an AAT.
struct Client {
    id: String,
    aat: String,
}

/// A running app, a resource server of `alice` that registered `album`
/// (`view`, `edit`), and the trusted identity provider (if any).
struct Fixture {
    app: TestApp,
    rs: ResourceServer,
    idp: TestIdp,
}

impl Fixture {
    /// An app whose only trusted issuer is the fixture's IdP.
    async fn new() -> Fixture {
        Fixture::with(|_| {}).await
    }

    async fn with(adjust: impl FnOnce(&mut steward::config::Settings)) -> Fixture {
        let idp = TestIdp::new(IDP_ISSUER, IDP_AUDIENCE);
        let trusted = idp.trusted();
        let app = spawn_app_with(|settings| {
            settings.trusted_issuers = vec![trusted];
            adjust(settings);
        })
        .await;
        let rs = app.resource_server("alice").await;
        register_set(&app, &rs, "album", &["view", "edit"]).await;
        Fixture { app, rs, idp }
    }

    /// A valid ID token for `bob@example.com`, as a claim token.
    fn bob_claims(&self) -> Value {
        claim_token(&self.idp.token(
            "bob",
            json!({"email": "bob@example.com"}),
            self.app.clock_now() + 600,
        ))
    }
}

async fn register_set(app: &TestApp, rs: &ResourceServer, rsid: &str, scopes: &[&str]) {
    let created = app
        .put_resource_set(
            &rs.pat,
            rsid,
            &json!({"name": rsid, "scopes": scopes}),
            None,
        )
        .await;
    assert_eq!(created.status(), 201, "resource set `{rsid}` registered");
}

/// `{"format": ID_TOKEN, "token": token}`.
fn claim_token(token: &str) -> Value {
    json!({"format": ID_TOKEN, "token": token})
}

/// The policy that permits `view`/`edit` to whoever proves the email
/// `bob@example.com`.
fn email_policy() -> Value {
    json!({
        "name": "bob by email",
        "scopes": ["view", "edit"],
        "claims": [{"name": "email", "one_of": ["bob@example.com"]}],
    })
}

/// `POST /uma/rs/policy/{rsid}` → 201 `{"_id"}`; returns the id.
async fn create_policy(app: &TestApp, rs: &ResourceServer, rsid: &str, policy: &Value) -> String {
    let response = app
        .http_client
        .post(app.url(&format!("/uma/rs/policy/{rsid}")))
        .bearer_auth(&rs.pat)
        .json(policy)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201, "policy created");
    let body: Value = response.json().await.unwrap();
    let id = body["_id"]
        .as_str()
        .expect("`_id` in the answer")
        .to_string();
    assert_eq!(body, json!({"_id": id}), "the answer is exactly the id");
    id
}

/// A new client of `owner` with an AAT (its `sub` is the client id).
async fn client(app: &TestApp, owner: &str) -> Client {
    let (id, secret) = app.create_client(owner, &["uma_authorization"]).await;
    let aat = aat(app, &id, &secret).await;
    Client { id, aat }
}

async fn aat(app: &TestApp, id: &str, secret: &str) -> String {
    let response = app.token_request(id, secret, "uma_authorization").await;
    assert_eq!(response.status(), 200, "AAT issued");
    let body: Value = response.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_string()
}

/// `POST /uma/client/rpt` with an optional token and optional JSON body.
async fn rpt_request(
    app: &TestApp,
    token: Option<&str>,
    body: Option<&Value>,
) -> reqwest::Response {
    let mut request = app.http_client.post(app.url("/uma/client/rpt"));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(body);
    }
    request.send().await.expect("POST rpt")
}

/// A fresh RPT for `aat` (201, `{"rpt"}`, no-store).
async fn issue_rpt(app: &TestApp, aat: &str) -> String {
    let response = rpt_request(app, Some(aat), None).await;
    assert_eq!(response.status(), 201, "RPT issued");
    assert_no_store_json(&response);
    rpt_of(response).await
}

/// The `rpt` of a success answer whose body is exactly `{"rpt"}`.
async fn rpt_of(response: reqwest::Response) -> String {
    let body: Value = response.json().await.unwrap();
    let rpt = body["rpt"]
        .as_str()
        .expect("`rpt` in the answer")
        .to_string();
    assert!(rpt.len() >= 22, "an RPT carries enough entropy: {rpt}");
    assert_eq!(body, json!({"rpt": rpt}), "the answer is exactly the RPT");
    rpt
}

/// A fresh PAT for `rs`.
async fn pat(app: &TestApp, rs: &ResourceServer) -> String {
    let response = app
        .token_request(&rs.client_id, &rs.client_secret, "uma_protection")
        .await;
    assert_eq!(response.status(), 200, "PAT issued");
    let body: Value = response.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_string()
}

/// A ticket for `scopes` on `rsid`, registered by `rs`.
async fn ticket(app: &TestApp, rs: &ResourceServer, rsid: &str, scopes: &[&str]) -> String {
    let response = app
        .register_permission(&rs.pat, &json!({"resource_set_id": rsid, "scopes": scopes}))
        .await;
    assert_eq!(response.status(), 201, "permission registered");
    let body: Value = response.json().await.unwrap();
    body["ticket"].as_str().unwrap().to_string()
}

/// `POST /uma/client/perm` with `body` and an optional token.
async fn ask(app: &TestApp, token: Option<&str>, body: &Value) -> reqwest::Response {
    let mut request = app.http_client.post(app.url("/uma/client/perm")).json(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.expect("POST perm")
}

/// `POST /uma/client/perm` with a raw body and content type.
async fn ask_raw(app: &TestApp, token: &str, content_type: &str, body: &str) -> reqwest::Response {
    app.http_client
        .post(app.url("/uma/client/perm"))
        .bearer_auth(token)
        .header(CONTENT_TYPE, content_type)
        .body(body.to_string())
        .send()
        .await
        .expect("POST perm")
}

/// The draft-06 RPT status of `rpt` as `rs` sees it (200, no-store).
async fn rpt_status(app: &TestApp, rs: &ResourceServer, rpt: &str) -> Value {
    let response = app
        .http_client
        .post(app.url("/uma/rs/status"))
        .bearer_auth(&rs.pat)
        .json(&json!({"rpt": rpt}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "RPT status answers 200");
    assert_no_store_json(&response);
    let mut answer: Value = response.json().await.unwrap();
    if let Some(items) = answer.as_array_mut() {
        items.sort_by(|a, b| {
            a["resource_set_id"]
                .as_str()
                .cmp(&b["resource_set_id"].as_str())
                .then(a["scopes"].to_string().cmp(&b["scopes"].to_string()))
        });
    }
    answer
}

/// The RFC 7662-style introspection of `rpt` as `rs` sees it.
async fn introspect(app: &TestApp, rs: &ResourceServer, rpt: &str) -> Value {
    let response = app
        .http_client
        .post(app.url("/uma/rs/introspect"))
        .bearer_auth(&rs.pat)
        .form(&[("token", rpt)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "introspection answers 200");
    assert_no_store_json(&response);
    response.json().await.unwrap()
}

fn invalid() -> Value {
    json!({"rpt_status": "invalid"})
}

fn assert_no_store_json(response: &reqwest::Response) {
    assert_eq!(
        response
            .headers()
            .get(CACHE_CONTROL)
            .map(|v| v.to_str().unwrap()),
        Some("no-store"),
        "Cache-Control: no-store"
    );
    let content_type = response.headers()[CONTENT_TYPE].to_str().unwrap();
    assert!(
        content_type.starts_with("application/json"),
        "content type {content_type}"
    );
}

/// Asserts a UMA error's status and `error` code; returns the body.
async fn assert_error(response: reqwest::Response, status: u16, code: &str) -> Value {
    let actual = response.status();
    assert_no_store_json(&response);
    let body: Value = response.json().await.expect("JSON error body");
    assert_eq!(actual, status, "HTTP status for `{code}`: {body}");
    assert_eq!(body["error"], code, "error code in {body}");
    assert_eq!(body["status"], "error", "UMA error shape in {body}");
    assert!(
        body["error_description"]
            .as_str()
            .is_some_and(|d| !d.is_empty()),
        "a description in {body}"
    );
    body
}

/// The exact draft-06 `need_claims` body.
fn need_claims(claims: &[&str]) -> Value {
    json!({
        "status": "error",
        "error": "need_claims",
        "error_description": NEED_CLAIMS_DESCRIPTION,
        "required_claims": claims,
    })
}

/// Runs `sql` (one text column named `r`) on a fresh connection.
async fn rows(app: &TestApp, sql: &str) -> Vec<String> {
    let db = Database::connect(app.database_url.as_str()).await.unwrap();
    let rows = db
        .query_all_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .unwrap();
    let out = rows
        .iter()
        .map(|row| row.try_get::<String>("", "r").unwrap())
        .collect();
    db.close().await.ok();
    out
}

/// Every stored permission of every RPT, rendered.
async fn permission_rows(app: &TestApp) -> Vec<String> {
    rows(
        app,
        "SELECT rpt_hash || '|' || resource_server || '|' || owner || '|' || rsid || '|' \
         || scopes || '|' || CAST(issued_at AS TEXT) || '|' || CAST(expires_at AS TEXT) AS r \
         FROM rpt_permissions ORDER BY id",
    )
    .await
}

/// Every stored RPT, rendered.
async fn rpt_rows(app: &TestApp) -> Vec<String> {
    rows(
        app,
        "SELECT token_hash || '|' || client_id || '|' || subject || '|' \
         || COALESCE(resource_server, '-') || '|' || COALESCE(CAST(revoked_at AS TEXT), '-') AS r \
         FROM rpts ORDER BY token_hash",
    )
    .await
}

/// What a refused request must not change: the RPT's status at `rs`, the
/// stored RPTs and the stored permissions.
#[derive(Debug, PartialEq)]
struct Grants {
    status: Value,
    rpts: Vec<String>,
    permissions: Vec<String>,
}

async fn grants(app: &TestApp, rs: &ResourceServer, rpt: &str) -> Grants {
    Grants {
        status: rpt_status(app, rs, rpt).await,
        rpts: rpt_rows(app).await,
        permissions: permission_rows(app).await,
    }
}

// ---------------------------------------------------------------------------
// 1. draft-06 end to end
// ---------------------------------------------------------------------------

#[tokio::test]
async fn draft06_need_claims_then_pushed_id_token_adds_the_permission_to_the_rpt() {
    let f = Fixture::new().await;
    let app = &f.app;
    create_policy(app, &f.rs, "album", &email_policy()).await;
    let bob = client(app, "bob").await;
    let rpt = issue_rpt(app, &bob.aat).await;
    assert_eq!(
        rpt_status(app, &f.rs, &rpt).await,
        json!([]),
        "a new RPT is valid and carries nothing"
    );
    let ticket = ticket(app, &f.rs, "album", &["view"]).await;

    let refused = ask(app, Some(&bob.aat), &json!({"rpt": rpt, "ticket": ticket})).await;
    assert_eq!(refused.status(), 403);
    assert_no_store_json(&refused);
    assert_eq!(
        refused.json::<Value>().await.unwrap(),
        need_claims(&["email"])
    );
    assert_eq!(rpt_status(app, &f.rs, &rpt).await, json!([]));
    assert!(permission_rows(app).await.is_empty());

    let granted = ask(
        app,
        Some(&bob.aat),
        &json!({"rpt": rpt, "ticket": ticket, "claim_tokens": [f.bob_claims()]}),
    )
    .await;
    assert_eq!(granted.status(), 200);
    assert_no_store_json(&granted);
    assert_eq!(rpt_of(granted).await, rpt, "the same RPT comes back");

    // Exactly the requested scope, for permission_ttl (3600 s).
    assert_eq!(
        rpt_status(app, &f.rs, &rpt).await,
        json!([{"resource_set_id": "album", "scopes": ["view"], "exp": T0 + 3600}])
    );
    assert_eq!(permission_rows(app).await.len(), 1);

    // The permission lapses at its exp; the RPT stays valid.
    // (The PAT lives as long as the permission: take a fresh one to look.)
    f.app.clock.advance(3599);
    assert_eq!(
        rpt_status(app, &f.rs, &rpt).await,
        json!([{"resource_set_id": "album", "scopes": ["view"], "exp": T0 + 3600}])
    );
    let rs = ResourceServer {
        pat: pat(app, &f.rs).await,
        ..f.rs.clone()
    };
    f.app.clock.advance(1);
    assert_eq!(rpt_status(app, &rs, &rpt).await, json!([]));
    f.app.stop().await;
}

#[tokio::test]
async fn a_wrong_claim_value_is_refused_not_asked_for_again() {
    let f = Fixture::new().await;
    let app = &f.app;
    create_policy(app, &f.rs, "album", &email_policy()).await;
    let bob = client(app, "bob").await;
    let rpt = issue_rpt(app, &bob.aat).await;
    let ticket = ticket(app, &f.rs, "album", &["view"]).await;
    let eve = claim_token(&f.idp.token(
        "eve",
        json!({"email": "eve@example.com"}),
        app.clock_now() + 600,
    ));
    let before = grants(app, &f.rs, &rpt).await;
    let refused = ask(
        app,
        Some(&bob.aat),
        &json!({"rpt": rpt, "ticket": ticket, "claim_tokens": [eve]}),
    )
    .await;
    assert_error(refused, 403, "not_authorized_permission").await;
    assert_eq!(grants(app, &f.rs, &rpt).await, before);
    // The ticket was not spent by the refusal.
    let granted = ask(
        app,
        Some(&bob.aat),
        &json!({"rpt": rpt, "ticket": ticket, "claim_tokens": [f.bob_claims()]}),
    )
    .await;
    assert_eq!(granted.status(), 200);
    f.app.stop().await;
}

// ---------------------------------------------------------------------------
// 2. UMA 1.0 flow on the RPT endpoint
// ---------------------------------------------------------------------------

#[tokio::test]
async fn uma1_ticket_only_gets_need_info_then_claim_tokens_get_a_new_rpt() {
    let f = Fixture::new().await;
    let app = &f.app;
    create_policy(app, &f.rs, "album", &email_policy()).await;
    let bob = client(app, "bob").await;
    let ticket = ticket(app, &f.rs, "album", &["view"]).await;

    let refused = rpt_request(app, Some(&bob.aat), Some(&json!({"ticket": ticket}))).await;
    assert_eq!(refused.status(), 403);
    assert_no_store_json(&refused);
    assert_eq!(
        refused.json::<Value>().await.unwrap(),
        json!({
            "status": "error",
            "error": "need_info",
            "error_description": NEED_CLAIMS_DESCRIPTION,
            "error_details": {
                "requesting_party_claims": {
                    "required_claims": [{"name": "email"}],
                    "redirect_user": false,
                    "ticket": ticket,
                }
            }
        })
    );
    assert!(rpt_rows(app).await.is_empty(), "a refusal stores no RPT");

    let granted = rpt_request(
        app,
        Some(&bob.aat),
        Some(&json!({"ticket": ticket, "claim_tokens": [f.bob_claims()]})),
    )
    .await;
    assert_eq!(granted.status(), 200, "UMA 1.0 success is 200, not 201");
    assert_no_store_json(&granted);
    let rpt = rpt_of(granted).await;
    assert_eq!(rpt_rows(app).await.len(), 1, "exactly one RPT stored");

    assert_eq!(
        introspect(app, &f.rs, &rpt).await,
        json!({
            "active": true,
            "iat": T0,
            "permissions": [
                {"resource_set_id": "album", "scopes": ["view"], "exp": T0 + 3600, "iat": T0}
            ],
        })
    );
    assert_eq!(
        rpt_status(app, &f.rs, &rpt).await,
        json!([{"resource_set_id": "album", "scopes": ["view"], "exp": T0 + 3600}])
    );

    // With `rpt` in the body the permission goes to that RPT.
    f.app.clock.advance(10);
    let edit = ticket_for(&f, &["edit"]).await;
    let added = rpt_request(
        app,
        Some(&bob.aat),
        Some(&json!({"ticket": edit, "rpt": rpt, "claim_tokens": [f.bob_claims()]})),
    )
    .await;
    assert_eq!(added.status(), 200);
    assert_eq!(rpt_of(added).await, rpt, "the given RPT comes back");
    assert_eq!(
        rpt_status(app, &f.rs, &rpt).await,
        json!([
            {"resource_set_id": "album", "scopes": ["edit"], "exp": T0 + 10 + 3600},
            {"resource_set_id": "album", "scopes": ["view"], "exp": T0 + 3600},
        ])
    );

    // One live RPT per AAT, whichever dialect minted it.
    let replacement = issue_rpt(app, &bob.aat).await;
    assert_ne!(replacement, rpt);
    assert_eq!(introspect(app, &f.rs, &rpt).await, json!({"active": false}));
    assert_eq!(rpt_status(app, &f.rs, &rpt).await, invalid());
    f.app.stop().await;
}

async fn ticket_for(f: &Fixture, scopes: &[&str]) -> String {
    ticket(&f.app, &f.rs, "album", scopes).await
}

#[tokio::test]
async fn uma1_errors_carry_uma1_names() {
    let f = Fixture::new().await;
    let app = &f.app;
    register_set(app, &f.rs, "private", &["view"]).await;
    create_policy(
        app,
        &f.rs,
        "album",
        &json!({"name": "all", "scopes": ["view"]}),
    )
    .await;
    create_policy(
        app,
        &f.rs,
        "private",
        &json!({"name": "ask", "scopes": ["view"], "approval": "owner"}),
    )
    .await;
    let bob = client(app, "bob").await;

    let unknown = rpt_request(
        app,
        Some(&bob.aat),
        Some(&json!({"ticket": "no-such-ticket-000000000"})),
    )
    .await;
    let body = assert_error(unknown, 400, "invalid_ticket").await;
    assert!(body.get("error_details").is_none(), "{body}");

    let expired = ticket_for(&f, &["view"]).await;
    let used = ticket_for(&f, &["view"]).await;
    let granted = rpt_request(app, Some(&bob.aat), Some(&json!({"ticket": used}))).await;
    assert_eq!(granted.status(), 200);
    let again = rpt_request(app, Some(&bob.aat), Some(&json!({"ticket": used}))).await;
    assert_error(again, 400, "invalid_ticket").await;

    let held = ticket(app, &f.rs, "private", &["view"]).await;
    let submitted = rpt_request(app, Some(&bob.aat), Some(&json!({"ticket": held}))).await;
    assert_error(submitted, 403, "request_submitted").await;

    register_set(app, &f.rs, "secret", &["view"]).await;
    let denied = ticket(app, &f.rs, "secret", &["view"]).await;
    let refused = rpt_request(app, Some(&bob.aat), Some(&json!({"ticket": denied}))).await;
    assert_error(refused, 403, "not_authorized").await;

    f.app.clock.advance(301);
    let late = rpt_request(app, Some(&bob.aat), Some(&json!({"ticket": expired}))).await;
    assert_error(late, 400, "expired_ticket").await;

    // Errors that are not about the ticket or the decision keep their names.
    let bad = rpt_request(app, Some(&bob.aat), Some(&json!({"ticket": 7}))).await;
    assert_error(bad, 400, "invalid_request").await;
    let null = rpt_request(app, Some(&bob.aat), Some(&json!({"ticket": null}))).await;
    assert_error(null, 400, "invalid_request").await;
    let anonymous = rpt_request(app, None, Some(&json!({"ticket": denied}))).await;
    assert_eq!(anonymous.status(), 401);
    f.app.stop().await;
}

// ---------------------------------------------------------------------------
// 3. gRPC
// ---------------------------------------------------------------------------

#[tokio::test]
async fn grpc_issue_rpt_and_request_permission_decide_the_same() {
    let f = Fixture::with(|s| s.permission_ttl = 120).await;
    let app = &f.app;
    create_policy(app, &f.rs, "album", &email_policy()).await;
    let bob = client(app, "bob").await;
    let mut grpc = AuthorizationServiceClient::new(app.channel().await);

    let anonymous = grpc
        .issue_rpt(tonic::Request::new(IssueRptRequest {}))
        .await
        .unwrap_err();
    assert_eq!(anonymous.code(), Code::Unauthenticated);
    let with_pat = grpc
        .issue_rpt(bearer(IssueRptRequest {}, &f.rs.pat))
        .await
        .unwrap_err();
    assert_eq!(with_pat.code(), Code::PermissionDenied);
    assert_eq!(grpc_error_code(&with_pat), "insufficient_scope");

    let rpt = grpc
        .issue_rpt(bearer(IssueRptRequest {}, &bob.aat))
        .await
        .unwrap()
        .into_inner()
        .rpt;
    assert!(rpt.len() >= 22);
    assert_eq!(rpt_status(app, &f.rs, &rpt).await, json!([]));
    let ticket = ticket_for(&f, &["view"]).await;

    let refused = grpc
        .request_permission(bearer(
            RequestPermissionRequest {
                rpt: Some(rpt.clone()),
                ticket: ticket.clone(),
                claim_tokens: vec![],
            },
            &bob.aat,
        ))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);
    assert_eq!(grpc_error_code(&refused), "need_claims");
    let info = refused.get_error_details().error_info().unwrap().clone();
    assert_eq!(info.metadata.get("required_claims").unwrap(), "email");
    assert_eq!(rpt_status(app, &f.rs, &rpt).await, json!([]));

    let unknown = grpc
        .request_permission(bearer(
            RequestPermissionRequest {
                rpt: Some(rpt.clone()),
                ticket: "no-such-ticket-000000000".into(),
                claim_tokens: vec![],
            },
            &bob.aat,
        ))
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Code::InvalidArgument);
    assert_eq!(grpc_error_code(&unknown), "invalid_requester_ticket");

    let token = f.bob_claims()["token"].as_str().unwrap().to_string();
    let granted = grpc
        .request_permission(bearer(
            RequestPermissionRequest {
                rpt: Some(rpt.clone()),
                ticket: ticket.clone(),
                claim_tokens: vec![ClaimToken {
                    format: ID_TOKEN.into(),
                    token: token.clone(),
                }],
            },
            &bob.aat,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(granted.rpt, rpt, "the same RPT comes back");
    assert_eq!(
        rpt_status(app, &f.rs, &rpt).await,
        json!([{"resource_set_id": "album", "scopes": ["view"], "exp": T0 + 120}]),
        "permission_ttl is honoured"
    );

    let used = grpc
        .request_permission(bearer(
            RequestPermissionRequest {
                rpt: Some(rpt.clone()),
                ticket,
                claim_tokens: vec![],
            },
            &bob.aat,
        ))
        .await
        .unwrap_err();
    assert_eq!(grpc_error_code(&used), "invalid_requester_ticket");

    // Without an RPT (the UMA 1.0 flow) a new RPT carries the permission.
    let other = client(app, "bob").await;
    let second = ticket_for(&f, &["edit"]).await;
    let fresh = grpc
        .request_permission(bearer(
            RequestPermissionRequest {
                rpt: None,
                ticket: second,
                claim_tokens: vec![ClaimToken {
                    format: ID_TOKEN.into(),
                    token,
                }],
            },
            &other.aat,
        ))
        .await
        .unwrap()
        .into_inner()
        .rpt;
    assert_ne!(fresh, rpt);
    assert_eq!(
        rpt_status(app, &f.rs, &fresh).await,
        json!([{"resource_set_id": "album", "scopes": ["edit"], "exp": T0 + 120}])
    );
    f.app.stop().await;
}

// ---------------------------------------------------------------------------
// 4. Owner approval
// ---------------------------------------------------------------------------

async fn pending(app: &TestApp, rs: &ResourceServer) -> Vec<Value> {
    let response = app
        .http_client
        .get(app.url("/uma/rs/pending"))
        .bearer_auth(&rs.pat)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "pending list answers 200");
    response.json().await.unwrap()
}

async fn decide(app: &TestApp, token: &str, id: &str, decision: &Value) -> reqwest::Response {
    app.http_client
        .post(app.url(&format!("/uma/rs/pending/{id}")))
        .bearer_auth(token)
        .json(decision)
        .send()
        .await
        .unwrap()
}

fn held(id: &str, client: &Client, status: &str) -> Value {
    json!({
        "_id": id,
        "resource_set_id": "album",
        "scopes": ["view"],
        "client_id": client.id,
        "subject": client.id,
        "status": status,
        "created_at": T0,
    })
}

#[tokio::test]
async fn owner_approval_holds_the_request_until_the_owner_decides() {
    let f = Fixture::new().await;
    let app = &f.app;
    create_policy(
        app,
        &f.rs,
        "album",
        &json!({"name": "ask alice", "scopes": ["view"], "approval": "owner"}),
    )
    .await;
    let bob = client(app, "bob").await;
    let carol = client(app, "carol").await;
    assert_eq!(pending(app, &f.rs).await, Vec::<Value>::new());

    // bob: held, then approved.
    let bob_rpt = issue_rpt(app, &bob.aat).await;
    let first = ticket_for(&f, &["view"]).await;
    let before = grants(app, &f.rs, &bob_rpt).await;
    let held_answer = ask(
        app,
        Some(&bob.aat),
        &json!({"rpt": bob_rpt, "ticket": first}),
    )
    .await;
    assert_error(held_answer, 403, "request_submitted").await;
    // Asking again holds nothing new.
    let again = ask(
        app,
        Some(&bob.aat),
        &json!({"rpt": bob_rpt, "ticket": first}),
    )
    .await;
    assert_error(again, 403, "request_submitted").await;
    assert_eq!(grants(app, &f.rs, &bob_rpt).await, before);
    let list = pending(app, &f.rs).await;
    assert_eq!(list.len(), 1, "{list:?}");
    let bob_request = list[0]["_id"].as_str().unwrap().to_string();
    assert_eq!(list[0], held(&bob_request, &bob, "pending"));

    // Another resource server of the same owner cannot see or decide it.
    let rs2 = app.resource_server("alice").await;
    assert_eq!(pending(app, &rs2).await, Vec::<Value>::new());
    let foreign = decide(app, &rs2.pat, &bob_request, &json!({"decision": "approve"})).await;
    assert_error(foreign, 404, "not_found").await;
    // An AAT cannot decide.
    let by_client = decide(app, &bob.aat, &bob_request, &json!({"decision": "approve"})).await;
    assert_error(by_client, 403, "insufficient_scope").await;
    let nonsense = decide(app, &f.rs.pat, &bob_request, &json!({"decision": "maybe"})).await;
    assert_error(nonsense, 400, "invalid_request").await;
    assert_eq!(pending(app, &f.rs).await[0]["status"], "pending");

    let approved = decide(
        app,
        &f.rs.pat,
        &bob_request,
        &json!({"decision": "approve"}),
    )
    .await;
    assert_eq!(approved.status(), 204);
    assert_eq!(
        pending(app, &f.rs).await,
        vec![held(&bob_request, &bob, "approved")]
    );
    let second = ticket_for(&f, &["view"]).await;
    let granted = ask(
        app,
        Some(&bob.aat),
        &json!({"rpt": bob_rpt, "ticket": second}),
    )
    .await;
    assert_eq!(granted.status(), 200);
    assert_eq!(rpt_of(granted).await, bob_rpt);
    assert_eq!(
        rpt_status(app, &f.rs, &bob_rpt).await,
        json!([{"resource_set_id": "album", "scopes": ["view"], "exp": T0 + 3600}])
    );
    let twice = decide(app, &f.rs.pat, &bob_request, &json!({"decision": "deny"})).await;
    assert_error(twice, 400, "invalid_request").await;
    assert_eq!(pending(app, &f.rs).await[0]["status"], "approved");

    // carol: held, then denied.
    let carol_rpt = issue_rpt(app, &carol.aat).await;
    let third = ticket_for(&f, &["view"]).await;
    let held_answer = ask(
        app,
        Some(&carol.aat),
        &json!({"rpt": carol_rpt, "ticket": third}),
    )
    .await;
    assert_error(held_answer, 403, "request_submitted").await;
    let list = pending(app, &f.rs).await;
    assert_eq!(list.len(), 2, "{list:?}");
    let carol_entry = list
        .iter()
        .find(|r| r["client_id"] == carol.id.as_str())
        .expect("carol's request is held")
        .clone();
    let carol_request = carol_entry["_id"].as_str().unwrap().to_string();
    assert_eq!(carol_entry, held(&carol_request, &carol, "pending"));

    let denied = decide(app, &f.rs.pat, &carol_request, &json!({"decision": "deny"})).await;
    assert_eq!(denied.status(), 204);
    let fourth = ticket_for(&f, &["view"]).await;
    let before = grants(app, &f.rs, &carol_rpt).await;
    let refused = ask(
        app,
        Some(&carol.aat),
        &json!({"rpt": carol_rpt, "ticket": fourth}),
    )
    .await;
    assert_error(refused, 403, "not_authorized_permission").await;
    assert_eq!(grants(app, &f.rs, &carol_rpt).await, before);
    assert_eq!(before.status, json!([]));
    let twice = decide(app, &f.rs.pat, &carol_request, &json!({"decision": "deny"})).await;
    assert_error(twice, 400, "invalid_request").await;
    let mut statuses: Vec<String> = pending(app, &f.rs)
        .await
        .iter()
        .map(|r| format!("{}={}", r["client_id"].as_str().unwrap(), r["status"]))
        .collect();
    statuses.sort();
    let mut expected = vec![
        format!("{}=\"approved\"", bob.id),
        format!("{}=\"denied\"", carol.id),
    ];
    expected.sort();
    assert_eq!(statuses, expected);

    let unknown = decide(
        app,
        &f.rs.pat,
        "00000000-0000-4000-8000-000000000000",
        &json!({"decision": "approve"}),
    )
    .await;
    assert_error(unknown, 404, "not_found").await;
    f.app.stop().await;
}

// ---------------------------------------------------------------------------
// 5. The RPT endpoint
// ---------------------------------------------------------------------------

#[tokio::test]
async fn a_new_rpt_for_the_same_aat_invalidates_the_previous_one() {
    let f = Fixture::new().await;
    let app = &f.app;
    create_policy(
        app,
        &f.rs,
        "album",
        &json!({"name": "all", "scopes": ["view"]}),
    )
    .await;
    let (id, secret) = app.create_client("bob", &["uma_authorization"]).await;
    let aat1 = aat(app, &id, &secret).await;

    let first = issue_rpt(app, &aat1).await;
    let second = issue_rpt(app, &aat1).await;
    assert_ne!(first, second, "every request mints a new RPT");
    assert_eq!(rpt_status(app, &f.rs, &first).await, invalid());
    assert_eq!(rpt_status(app, &f.rs, &second).await, json!([]));

    // Permissions die with their RPT.
    let ticket1 = ticket_for(&f, &["view"]).await;
    let granted = ask(app, Some(&aat1), &json!({"rpt": second, "ticket": ticket1})).await;
    assert_eq!(granted.status(), 200);
    assert_eq!(
        rpt_status(app, &f.rs, &second).await,
        json!([{"resource_set_id": "album", "scopes": ["view"], "exp": T0 + 3600}])
    );
    let third = issue_rpt(app, &aat1).await;
    assert_eq!(rpt_status(app, &f.rs, &second).await, invalid());
    assert_eq!(
        introspect(app, &f.rs, &second).await,
        json!({"active": false})
    );
    assert_eq!(rpt_status(app, &f.rs, &third).await, json!([]));
    let ticket2 = ticket_for(&f, &["view"]).await;
    let revoked = ask(app, Some(&aat1), &json!({"rpt": second, "ticket": ticket2})).await;
    assert_eq!(revoked.status(), 401);
    assert!(
        revoked.headers()[WWW_AUTHENTICATE]
            .to_str()
            .unwrap()
            .starts_with("Bearer realm=\"steward\", error=\"invalid_token\""),
        "{:?}",
        revoked.headers()[WWW_AUTHENTICATE]
    );
    assert_error(revoked, 401, "invalid_token").await;

    // Another AAT of the same client has its own RPT.
    let aat2 = aat(app, &id, &secret).await;
    let other = issue_rpt(app, &aat2).await;
    assert_eq!(rpt_status(app, &f.rs, &third).await, json!([]));
    assert_eq!(rpt_status(app, &f.rs, &other).await, json!([]));
    f.app.stop().await;
}

#[tokio::test]
async fn the_rpt_endpoint_checks_media_type_token_scope_and_json() {
    let f = Fixture::new().await;
    let app = &f.app;
    let bob = client(app, "bob").await;
    let before = rpt_rows(app).await;
    assert!(before.is_empty());

    let text = app
        .http_client
        .post(app.url("/uma/client/rpt"))
        .bearer_auth(&bob.aat)
        .header(CONTENT_TYPE, "text/plain")
        .body("rpt please")
        .send()
        .await
        .unwrap();
    assert_error(text, 415, "unsupported_media_type").await;

    let anonymous = rpt_request(app, None, None).await;
    assert_eq!(anonymous.status(), 401);
    assert_eq!(
        anonymous.headers()[WWW_AUTHENTICATE].to_str().unwrap(),
        "Bearer realm=\"steward\""
    );

    let forged = rpt_request(app, Some("not-a-token"), None).await;
    assert_eq!(forged.status(), 401);
    assert!(
        forged.headers()[WWW_AUTHENTICATE]
            .to_str()
            .unwrap()
            .contains("error=\"invalid_token\"")
    );
    assert_error(forged, 401, "invalid_token").await;

    let with_pat = rpt_request(app, Some(&f.rs.pat), None).await;
    assert!(
        with_pat.headers()[WWW_AUTHENTICATE]
            .to_str()
            .unwrap()
            .contains("error=\"insufficient_scope\"")
    );
    assert_error(with_pat, 403, "insufficient_scope").await;

    let malformed = app
        .http_client
        .post(app.url("/uma/client/rpt"))
        .bearer_auth(&bob.aat)
        .header(CONTENT_TYPE, "application/json")
        .body("{\"ticket\": ")
        .send()
        .await
        .unwrap();
    assert_error(malformed, 400, "invalid_request").await;
    assert_eq!(rpt_rows(app).await, before, "no refusal stored an RPT");

    // An expired AAT is refused.
    let expiring = client(app, "bob").await;
    f.app.clock.advance(3600);
    let expired = rpt_request(app, Some(&expiring.aat), None).await;
    assert_error(expired, 401, "invalid_token").await;
    assert_eq!(rpt_rows(app).await, before);

    // draft-05 sent `Content-Type: application/json` and no body: fine.
    let fresh = client(app, "bob").await;
    let empty = app
        .http_client
        .post(app.url("/uma/client/rpt"))
        .bearer_auth(&fresh.aat)
        .header(CONTENT_TYPE, "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(empty.status(), 201);
    rpt_of(empty).await;
    let object = rpt_request(app, Some(&fresh.aat), Some(&json!({}))).await;
    assert_eq!(
        object.status(),
        201,
        "a body without `ticket` asks for an RPT"
    );
    rpt_of(object).await;
    f.app.stop().await;
}

// ---------------------------------------------------------------------------
// 6. Permission request errors
// ---------------------------------------------------------------------------

/// A fixture with a `view` permit on `album` and two clients with RPTs.
struct Asking {
    f: Fixture,
    a: Client,
    a_rpt: String,
    b: Client,
    b_rpt: String,
}

async fn asking() -> Asking {
    let f = Fixture::new().await;
    create_policy(
        &f.app,
        &f.rs,
        "album",
        &json!({"name": "view for all", "scopes": ["view"]}),
    )
    .await;
    let a = client(&f.app, "bob").await;
    let b = client(&f.app, "carol").await;
    let a_rpt = issue_rpt(&f.app, &a.aat).await;
    let b_rpt = issue_rpt(&f.app, &b.aat).await;
    Asking {
        f,
        a,
        a_rpt,
        b,
        b_rpt,
    }
}

#[tokio::test]
async fn unknown_expired_and_used_tickets_are_refused() {
    let s = asking().await;
    let app = &s.f.app;
    let before = grants(app, &s.f.rs, &s.a_rpt).await;
    assert_eq!(before.status, json!([]));

    let unknown = ask(
        app,
        Some(&s.a.aat),
        &json!({"rpt": s.a_rpt, "ticket": "no-such-ticket-000000000"}),
    )
    .await;
    assert_error(unknown, 400, "invalid_requester_ticket").await;
    assert_eq!(grants(app, &s.f.rs, &s.a_rpt).await, before);

    let expiring = ticket_for(&s.f, &["view"]).await;
    s.f.app.clock.advance(301);
    let expired = ask(
        app,
        Some(&s.a.aat),
        &json!({"rpt": s.a_rpt, "ticket": expiring}),
    )
    .await;
    assert_error(expired, 400, "expired_requester_ticket").await;
    assert_eq!(grants(app, &s.f.rs, &s.a_rpt).await, before);

    let ticket = ticket_for(&s.f, &["view"]).await;
    let granted = ask(
        app,
        Some(&s.a.aat),
        &json!({"rpt": s.a_rpt, "ticket": ticket}),
    )
    .await;
    assert_eq!(granted.status(), 200);
    assert_eq!(rpt_of(granted).await, s.a_rpt);
    let after_grant = grants(app, &s.f.rs, &s.a_rpt).await;
    assert_eq!(
        after_grant.status,
        json!([{"resource_set_id": "album", "scopes": ["view"], "exp": T0 + 301 + 3600}])
    );
    assert_eq!(after_grant.permissions.len(), 1);

    let used = ask(
        app,
        Some(&s.a.aat),
        &json!({"rpt": s.a_rpt, "ticket": ticket}),
    )
    .await;
    assert_error(used, 400, "invalid_requester_ticket").await;
    let by_b = ask(
        app,
        Some(&s.b.aat),
        &json!({"rpt": s.b_rpt, "ticket": ticket}),
    )
    .await;
    assert_error(by_b, 400, "invalid_requester_ticket").await;
    assert_eq!(grants(app, &s.f.rs, &s.a_rpt).await, after_grant);
    assert_eq!(rpt_status(app, &s.f.rs, &s.b_rpt).await, json!([]));
    s.f.app.stop().await;
}

#[tokio::test]
async fn a_ticket_belongs_to_the_first_client_that_presents_it() {
    let s = asking().await;
    let app = &s.f.app;
    register_set(app, &s.f.rs, "private", &["view"]).await;
    let ticket = ticket(app, &s.f.rs, "private", &["view"]).await;
    let before_a = grants(app, &s.f.rs, &s.a_rpt).await;
    let before_b = grants(app, &s.f.rs, &s.b_rpt).await;

    // A presents it first (no policy: refused, but the ticket is now A's).
    let by_a = ask(
        app,
        Some(&s.a.aat),
        &json!({"rpt": s.a_rpt, "ticket": ticket}),
    )
    .await;
    assert_error(by_a, 403, "not_authorized_permission").await;
    let by_b = ask(
        app,
        Some(&s.b.aat),
        &json!({"rpt": s.b_rpt, "ticket": ticket}),
    )
    .await;
    assert_error(by_b, 400, "invalid_requester_ticket").await;
    // Even once a policy would permit it, B cannot use A's ticket.
    create_policy(
        app,
        &s.f.rs,
        "private",
        &json!({"name": "all", "scopes": ["view"]}),
    )
    .await;
    let by_b = ask(
        app,
        Some(&s.b.aat),
        &json!({"rpt": s.b_rpt, "ticket": ticket}),
    )
    .await;
    assert_error(by_b, 400, "invalid_requester_ticket").await;
    assert_eq!(grants(app, &s.f.rs, &s.b_rpt).await, before_b);
    assert_eq!(grants(app, &s.f.rs, &s.a_rpt).await, before_a);

    // A still can.
    let by_a = ask(
        app,
        Some(&s.a.aat),
        &json!({"rpt": s.a_rpt, "ticket": ticket}),
    )
    .await;
    assert_eq!(by_a.status(), 200);
    assert_eq!(
        rpt_status(app, &s.f.rs, &s.a_rpt).await,
        json!([{"resource_set_id": "private", "scopes": ["view"], "exp": T0 + 3600}])
    );
    assert_eq!(rpt_status(app, &s.f.rs, &s.b_rpt).await, json!([]));
    s.f.app.stop().await;
}

#[tokio::test]
async fn another_clients_rpt_is_an_invalid_token_and_spends_nothing() {
    let s = asking().await;
    let app = &s.f.app;
    let ticket = ticket_for(&s.f, &["view"]).await;
    let before = grants(app, &s.f.rs, &s.b_rpt).await;

    let stolen = ask(
        app,
        Some(&s.a.aat),
        &json!({"rpt": s.b_rpt, "ticket": ticket}),
    )
    .await;
    assert_eq!(stolen.status(), 401);
    assert!(
        stolen.headers()[WWW_AUTHENTICATE]
            .to_str()
            .unwrap()
            .starts_with("Bearer realm=\"steward\", error=\"invalid_token\"")
    );
    assert_error(stolen, 401, "invalid_token").await;
    let unknown = ask(
        app,
        Some(&s.a.aat),
        &json!({"rpt": "no-such-rpt-00000000000000000000", "ticket": ticket}),
    )
    .await;
    assert_error(unknown, 401, "invalid_token").await;
    assert_eq!(grants(app, &s.f.rs, &s.b_rpt).await, before);

    // The ticket was neither spent nor bound: B can still use it.
    let by_b = ask(
        app,
        Some(&s.b.aat),
        &json!({"rpt": s.b_rpt, "ticket": ticket}),
    )
    .await;
    assert_eq!(by_b.status(), 200);
    assert_eq!(rpt_of(by_b).await, s.b_rpt);
    assert_eq!(rpt_status(app, &s.f.rs, &s.a_rpt).await, json!([]));
    s.f.app.stop().await;
}

#[tokio::test]
async fn malformed_permission_requests_are_invalid_requests() {
    let s = asking().await;
    let app = &s.f.app;
    let ticket = ticket_for(&s.f, &["view"]).await;
    let before = grants(app, &s.f.rs, &s.a_rpt).await;
    let aat = Some(s.a.aat.as_str());

    for body in [
        json!({"ticket": ticket}),
        json!({"rpt": "", "ticket": ticket}),
        json!({"rpt": s.a_rpt}),
        json!({"rpt": s.a_rpt, "ticket": ""}),
        json!({"rpt": s.a_rpt, "ticket": 42}),
        json!({"rpt": ["x"], "ticket": ticket}),
        json!({"rpt": s.a_rpt, "ticket": ticket, "claim_tokens": "x"}),
        json!({"rpt": s.a_rpt, "ticket": ticket, "claim_tokens": [{"format": ID_TOKEN}]}),
        json!([s.a_rpt, ticket]),
    ] {
        let response = ask(app, aat, &body).await;
        assert_error(response, 400, "invalid_request").await;
    }
    for raw in ["", "   ", "{\"rpt\": ", "null"] {
        let response = ask_raw(app, &s.a.aat, "application/json", raw).await;
        assert_error(response, 400, "invalid_request").await;
    }
    let text = ask_raw(app, &s.a.aat, "text/plain", "rpt ticket").await;
    assert_error(text, 415, "unsupported_media_type").await;

    let anonymous = ask(app, None, &json!({"rpt": s.a_rpt, "ticket": ticket})).await;
    assert_eq!(anonymous.status(), 401);
    assert_eq!(
        anonymous.headers()[WWW_AUTHENTICATE].to_str().unwrap(),
        "Bearer realm=\"steward\""
    );
    let with_pat = ask(
        app,
        Some(&s.f.rs.pat),
        &json!({"rpt": s.a_rpt, "ticket": ticket}),
    )
    .await;
    assert_error(with_pat, 403, "insufficient_scope").await;
    assert_eq!(grants(app, &s.f.rs, &s.a_rpt).await, before);

    // None of that spent or bound the ticket.
    let by_b = ask(
        app,
        Some(&s.b.aat),
        &json!({"rpt": s.b_rpt, "ticket": ticket}),
    )
    .await;
    assert_eq!(by_b.status(), 200);
    s.f.app.stop().await;
}

#[tokio::test]
async fn without_a_permitting_policy_the_answer_is_no_and_deny_beats_permit() {
    let s = asking().await;
    let app = &s.f.app;
    let rs = &s.f.rs;

    // No policy covers `edit`: default deny.
    let edit = ticket_for(&s.f, &["edit"]).await;
    let before = grants(app, rs, &s.a_rpt).await;
    let refused = ask(
        app,
        Some(&s.a.aat),
        &json!({"rpt": s.a_rpt, "ticket": edit}),
    )
    .await;
    assert_error(refused, 403, "not_authorized_permission").await;
    assert_eq!(grants(app, rs, &s.a_rpt).await, before);
    // Nor does a policy on `view` cover `view`+`edit`.
    let both = ticket_for(&s.f, &["view", "edit"]).await;
    let refused = ask(
        app,
        Some(&s.a.aat),
        &json!({"rpt": s.a_rpt, "ticket": both}),
    )
    .await;
    assert_error(refused, 403, "not_authorized_permission").await;
    assert_eq!(grants(app, rs, &s.a_rpt).await, before);

    // A deny for client A beats the permit for everyone.
    create_policy(
        app,
        rs,
        "album",
        &json!({"name": "not A", "scopes": ["view"], "clients": [s.a.id], "effect": "deny"}),
    )
    .await;
    let view = ticket_for(&s.f, &["view"]).await;
    let refused = ask(
        app,
        Some(&s.a.aat),
        &json!({"rpt": s.a_rpt, "ticket": view}),
    )
    .await;
    assert_error(refused, 403, "not_authorized_permission").await;
    assert_eq!(grants(app, rs, &s.a_rpt).await, before);

    // B is not named by the deny: permitted.
    let view_b = ticket_for(&s.f, &["view"]).await;
    let granted = ask(
        app,
        Some(&s.b.aat),
        &json!({"rpt": s.b_rpt, "ticket": view_b}),
    )
    .await;
    assert_eq!(granted.status(), 200);
    assert_eq!(
        rpt_status(app, rs, &s.b_rpt).await,
        json!([{"resource_set_id": "album", "scopes": ["view"], "exp": T0 + 3600}])
    );
    assert_eq!(rpt_status(app, rs, &s.a_rpt).await, json!([]));

    // A ticket dies with its set (and so do the permissions on the set).
    let orphan = ticket_for(&s.f, &["view"]).await;
    let deleted = app
        .http_client
        .delete(app.url("/uma/rs/resource_set/album"))
        .bearer_auth(&rs.pat)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    let b_before = grants(app, rs, &s.b_rpt).await;
    assert_eq!(b_before.status, json!([]));
    let refused = ask(
        app,
        Some(&s.b.aat),
        &json!({"rpt": s.b_rpt, "ticket": orphan}),
    )
    .await;
    assert_error(refused, 400, "invalid_requester_ticket").await;
    assert_eq!(grants(app, rs, &s.b_rpt).await, b_before);
    s.f.app.stop().await;
}

// ---------------------------------------------------------------------------
// 7. An RPT is bound to one resource server
// ---------------------------------------------------------------------------

#[tokio::test]
async fn an_rpt_is_bound_to_the_resource_server_of_its_first_permission() {
    let f = Fixture::new().await;
    let app = &f.app;
    let rs1 = &f.rs;
    create_policy(
        app,
        rs1,
        "album",
        &json!({"name": "all", "scopes": ["view"]}),
    )
    .await;
    let rs2 = app.resource_server("carol").await;
    register_set(app, &rs2, "photos", &["view"]).await;
    create_policy(
        app,
        &rs2,
        "photos",
        &json!({"name": "all", "scopes": ["view"]}),
    )
    .await;

    let (id, secret) = app.create_client("bob", &["uma_authorization"]).await;
    let aat1 = aat(app, &id, &secret).await;
    let rpt = issue_rpt(app, &aat1).await;
    assert_eq!(
        rpt_status(app, &rs2, &rpt).await,
        json!([]),
        "not bound yet"
    );

    let t1 = ticket(app, rs1, "album", &["view"]).await;
    let granted = ask(app, Some(&aat1), &json!({"rpt": rpt, "ticket": t1})).await;
    assert_eq!(granted.status(), 200);
    let at_rs1 = json!([{"resource_set_id": "album", "scopes": ["view"], "exp": T0 + 3600}]);
    assert_eq!(rpt_status(app, rs1, &rpt).await, at_rs1);
    assert_eq!(rpt_status(app, &rs2, &rpt).await, invalid());
    assert_eq!(introspect(app, &rs2, &rpt).await, json!({"active": false}));

    let t2 = ticket(app, &rs2, "photos", &["view"]).await;
    let before = grants(app, rs1, &rpt).await;
    let crossed = ask(app, Some(&aat1), &json!({"rpt": rpt, "ticket": t2})).await;
    assert_error(crossed, 400, "invalid_request").await;
    assert_eq!(grants(app, rs1, &rpt).await, before);
    assert_eq!(rpt_status(app, rs1, &rpt).await, at_rs1);
    assert_eq!(rpt_status(app, &rs2, &rpt).await, invalid());

    // A second RPT (another AAT of the client, so the first one lives) gets it.
    let aat2 = aat(app, &id, &secret).await;
    let rpt2 = issue_rpt(app, &aat2).await;
    let granted = ask(app, Some(&aat2), &json!({"rpt": rpt2, "ticket": t2})).await;
    assert_eq!(granted.status(), 200);
    assert_eq!(
        rpt_status(app, &rs2, &rpt2).await,
        json!([{"resource_set_id": "photos", "scopes": ["view"], "exp": T0 + 3600}])
    );
    assert_eq!(rpt_status(app, rs1, &rpt2).await, invalid());
    assert_eq!(
        rpt_status(app, rs1, &rpt).await,
        at_rs1,
        "RS1 sees only its own"
    );
    assert_eq!(rpt_status(app, &rs2, &rpt).await, invalid());
    f.app.stop().await;
}

// ---------------------------------------------------------------------------
// 8. Concurrency
// ---------------------------------------------------------------------------

/// Sends `n` copies of one POST at once (released together by a barrier);
/// returns each answer's status and JSON body.
async fn concurrently(
    app: &TestApp,
    n: usize,
    path: &str,
    aat: &str,
    body: Option<Value>,
) -> Vec<(u16, Value)> {
    let barrier = Arc::new(tokio::sync::Barrier::new(n));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..n {
        let http = app.http_client.clone();
        let url = app.url(path);
        let aat = aat.to_string();
        let body = body.clone();
        let barrier = barrier.clone();
        tasks.spawn(async move {
            let mut request = http.post(url).bearer_auth(aat);
            if let Some(body) = &body {
                request = request.json(body);
            }
            barrier.wait().await;
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            let body: Value = response.json().await.unwrap();
            (status, body)
        });
    }
    let mut answers = Vec::new();
    while let Some(answer) = tasks.join_next().await {
        answers.push(answer.unwrap());
    }
    answers
}

/// Exactly one answer is `success` with `{"rpt"}`; every other one is
/// 400 `refusal`. Returns the granted RPT.
fn one_success(answers: &[(u16, Value)], success: u16, refusal: &str) -> String {
    let granted: Vec<_> = answers
        .iter()
        .filter(|(code, _)| *code == success)
        .collect();
    assert_eq!(granted.len(), 1, "exactly one grant: {answers:?}");
    for (status, body) in answers.iter().filter(|(code, _)| *code != success) {
        assert_eq!(*status, 400, "{body}");
        assert_eq!(body["error"], refusal, "{body}");
    }
    let rpt = granted[0].1["rpt"].as_str().unwrap().to_string();
    assert_eq!(granted[0].1, json!({"rpt": rpt}));
    rpt
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_requests_with_one_ticket_grant_exactly_once() {
    let s = asking().await;
    let app = &s.f.app;
    let ticket = ticket_for(&s.f, &["view"]).await;
    let answers = concurrently(
        app,
        8,
        "/uma/client/perm",
        &s.a.aat,
        Some(json!({"rpt": s.a_rpt, "ticket": ticket})),
    )
    .await;
    let rpt = one_success(&answers, 200, "invalid_requester_ticket");
    assert_eq!(rpt, s.a_rpt);
    assert_eq!(
        rpt_status(app, &s.f.rs, &s.a_rpt).await,
        json!([{"resource_set_id": "album", "scopes": ["view"], "exp": T0 + 3600}])
    );
    assert_eq!(permission_rows(app).await.len(), 1);
    s.f.app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_uma1_requests_with_one_ticket_mint_exactly_one_rpt() {
    let s = asking().await;
    let app = &s.f.app;
    let ticket = ticket_for(&s.f, &["view"]).await;
    let before = rpt_rows(app).await;
    let answers = concurrently(
        app,
        8,
        "/uma/client/rpt",
        &s.a.aat,
        Some(json!({"ticket": ticket})),
    )
    .await;
    let rpt = one_success(&answers, 200, "invalid_ticket");
    assert_eq!(
        rpt_status(app, &s.f.rs, &rpt).await,
        json!([{"resource_set_id": "album", "scopes": ["view"], "exp": T0 + 3600}])
    );
    assert_eq!(
        rpt_rows(app).await.len(),
        before.len() + 1,
        "one RPT minted"
    );
    assert_eq!(permission_rows(app).await.len(), 1);
    s.f.app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_rpt_requests_with_one_aat_leave_exactly_one_live_rpt() {
    let f = Fixture::new().await;
    let app = &f.app;
    let bob = client(app, "bob").await;
    let answers = concurrently(app, 8, "/uma/client/rpt", &bob.aat, None).await;
    let mut rpts = Vec::new();
    for (status, body) in &answers {
        assert_eq!(*status, 201, "{body}");
        rpts.push(body["rpt"].as_str().unwrap().to_string());
    }
    let mut live = Vec::new();
    for rpt in &rpts {
        if rpt_status(app, &f.rs, rpt).await != invalid() {
            live.push(rpt.clone());
        }
    }
    assert_eq!(live.len(), 1, "one live RPT per AAT, not {live:?}");
    assert_eq!(
        rows(
            app,
            "SELECT token_hash AS r FROM rpts WHERE revoked_at IS NULL"
        )
        .await
        .len(),
        1
    );
    f.app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_requests_for_owner_approval_are_held_once() {
    let f = Fixture::new().await;
    let app = &f.app;
    create_policy(
        app,
        &f.rs,
        "album",
        &json!({"name": "ask alice", "scopes": ["view"], "approval": "owner"}),
    )
    .await;
    let bob = client(app, "bob").await;
    let rpt = issue_rpt(app, &bob.aat).await;
    let ticket = ticket_for(&f, &["view"]).await;
    let answers = concurrently(
        app,
        8,
        "/uma/client/perm",
        &bob.aat,
        Some(json!({"rpt": rpt, "ticket": ticket})),
    )
    .await;
    for (status, body) in &answers {
        assert_eq!(*status, 403, "{body}");
        assert_eq!(body["error"], "request_submitted", "{body}");
    }
    let list = pending(app, &f.rs).await;
    assert_eq!(list.len(), 1, "{list:?}");
    let id = list[0]["_id"].as_str().unwrap().to_string();
    assert_eq!(list[0], held(&id, &bob, "pending"));

    // Two owners' clicks at once: one decision wins, the other is refused.
    let approve = json!({"decision": "approve"});
    let deny = json!({"decision": "deny"});
    let (first, second) = tokio::join!(
        decide(app, &f.rs.pat, &id, &approve),
        decide(app, &f.rs.pat, &id, &deny),
    );
    let mut statuses = [first.status().as_u16(), second.status().as_u16()];
    statuses.sort_unstable();
    assert_eq!(statuses, [204, 400]);
    let status = pending(app, &f.rs).await[0]["status"].clone();
    let answer = ask(app, Some(&bob.aat), &json!({"rpt": rpt, "ticket": ticket})).await;
    if first.status() == 204 {
        assert_eq!(status, "approved");
        assert_eq!(answer.status(), 200);
    } else {
        assert_eq!(status, "denied");
        assert_error(answer, 403, "not_authorized_permission").await;
    }
    f.app.stop().await;
}

// ---------------------------------------------------------------------------
// 9. Bad claim tokens
// ---------------------------------------------------------------------------

fn unsigned(claims: &Value) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    format!("{header}.{payload}.")
}

#[tokio::test]
async fn bad_claim_tokens_are_invalid_requests_and_grant_nothing() {
    let f = Fixture::new().await;
    let app = &f.app;
    create_policy(app, &f.rs, "album", &email_policy()).await;
    let bob = client(app, "bob").await;
    let rpt = issue_rpt(app, &bob.aat).await;
    let ticket = ticket_for(&f, &["view"]).await;
    let now = app.clock_now();
    let claims = |iss: &str, aud: &str, exp: i64| {
        json!({"iss": iss, "aud": aud, "sub": "bob", "exp": exp, "iat": now - 60,
               "email": "bob@example.com"})
    };
    let untrusted = TestIdp::new("https://untrusted.example.com", IDP_AUDIENCE);
    let impostor = TestIdp::new(IDP_ISSUER, IDP_AUDIENCE);
    let valid = f.bob_claims()["token"].as_str().unwrap().to_string();
    let tampered = {
        let parts: Vec<&str> = valid.split('.').collect();
        let payload =
            URL_SAFE_NO_PAD.encode(claims(IDP_ISSUER, IDP_AUDIENCE, now + 600).to_string());
        format!("{}.{payload}.{}", parts[0], parts[2])
    };
    let hs256 = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims(IDP_ISSUER, IDP_AUDIENCE, now + 600),
        &jsonwebtoken::EncodingKey::from_secret(b"a shared secret of at least thirty-two bytes")
            .unwrap(),
    )
    .unwrap();

    let cases: Vec<(&str, Value)> = vec![
        (
            "expired",
            claim_token(&f.idp.sign(&claims(IDP_ISSUER, IDP_AUDIENCE, now - 3600))),
        ),
        (
            "untrusted issuer",
            claim_token(&untrusted.token("bob", json!({"email": "bob@example.com"}), now + 600)),
        ),
        (
            "trusted issuer, foreign key",
            claim_token(&impostor.token("bob", json!({"email": "bob@example.com"}), now + 600)),
        ),
        (
            "wrong audience",
            claim_token(&f.idp.sign(&claims(IDP_ISSUER, "someone-else", now + 600))),
        ),
        (
            "unsigned (alg none)",
            claim_token(&unsigned(&claims(IDP_ISSUER, IDP_AUDIENCE, now + 600))),
        ),
        ("tampered payload", claim_token(&tampered)),
        ("HS256", claim_token(&hs256)),
        ("not a JWT", claim_token("bob@example.com")),
        (
            "unsupported format",
            json!({"format": "urn:example:saml-assertion", "token": valid}),
        ),
    ];
    let before = grants(app, &f.rs, &rpt).await;
    for (case, token) in &cases {
        let response = ask(
            app,
            Some(&bob.aat),
            &json!({"rpt": rpt, "ticket": ticket, "claim_tokens": [token]}),
        )
        .await;
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        assert_eq!(status, 400, "{case}: {body}");
        assert_eq!(body["error"], "invalid_request", "{case}: {body}");
        assert_eq!(grants(app, &f.rs, &rpt).await, before, "{case}");
    }
    // One good token does not launder a bad one.
    let mixed = ask(
        app,
        Some(&bob.aat),
        &json!({"rpt": rpt, "ticket": ticket, "claim_tokens": [f.bob_claims(), cases[0].1]}),
    )
    .await;
    assert_error(mixed, 400, "invalid_request").await;
    let too_many: Vec<Value> = (0..9).map(|_| f.bob_claims()).collect();
    let flood = ask(
        app,
        Some(&bob.aat),
        &json!({"rpt": rpt, "ticket": ticket, "claim_tokens": too_many}),
    )
    .await;
    assert_error(flood, 400, "invalid_request").await;
    assert_eq!(grants(app, &f.rs, &rpt).await, before);
    assert_eq!(before.status, json!([]));

    // The ticket survived all of that; the genuine token gets the grant.
    let granted = ask(
        app,
        Some(&bob.aat),
        &json!({"rpt": rpt, "ticket": ticket, "claim_tokens": [claim_token(&valid)]}),
    )
    .await;
    assert_eq!(granted.status(), 200);
    assert_eq!(
        rpt_status(app, &f.rs, &rpt).await,
        json!([{"resource_set_id": "album", "scopes": ["view"], "exp": T0 + 3600}])
    );
    f.app.stop().await;
}

#[tokio::test]
async fn without_trusted_issuers_a_pushed_id_token_is_refused_and_no_rpt_is_stored() {
    // Without any trusted issuer, a pushed ID token can never be verified.
    let app = spawn_app().await;
    let rs = app.resource_server("alice").await;
    register_set(&app, &rs, "album", &["view"]).await;
    create_policy(&app, &rs, "album", &email_policy_view()).await;
    let bob = client(&app, "bob").await;
    let idp = TestIdp::new(IDP_ISSUER, IDP_AUDIENCE);
    let ticket = ticket(&app, &rs, "album", &["view"]).await;
    let token = claim_token(&idp.token(
        "bob",
        json!({"email": "bob@example.com"}),
        app.clock_now() + 600,
    ));
    let refused = rpt_request(
        &app,
        Some(&bob.aat),
        Some(&json!({"ticket": ticket, "claim_tokens": [token]})),
    )
    .await;
    assert_error(refused, 400, "invalid_request").await;
    assert!(rpt_rows(&app).await.is_empty());
    assert!(permission_rows(&app).await.is_empty());
    app.stop().await;
}

fn email_policy_view() -> Value {
    json!({
        "name": "bob by email",
        "scopes": ["view"],
        "claims": [{"name": "email", "equals": "bob@example.com"}],
    })
}
