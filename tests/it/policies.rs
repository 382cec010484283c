//! Owner policies and held requests (managed with the resource server's PAT
//! over HTTP and gRPC) and the decision service for enforcement points.

// Helpers outside `#[test]` fns panic on purpose: a failed step fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use reqwest::Response;
use serde_json::{Value, json};
use steward::grpc::proto::decide_response::Outcome;
use steward::grpc::proto::decision_service_client::DecisionServiceClient;
use steward::grpc::proto::policy_service_client::PolicyServiceClient;
use steward::grpc::proto::{
    ClaimToken, CreatePolicyRequest, DecideBatchRequest, DecideItem, DecidePendingRequestRequest,
    DecideRequest, DecideResponse, DeletePolicyRequest, ListPendingRequestsRequest,
    ListPoliciesRequest,
};
use tonic::Code;
use tonic::transport::Channel;

use crate::helpers::{ResourceServer, TestApp, bearer, grpc_error_code, spawn_app, spawn_app_with};
use crate::idp::TestIdp;

const ID_TOKEN: &str = "http://openid.net/specs/openid-connect-core-1_0.html#IDToken";

// ---------------------------------------------------------------------------
// Local helpers

/// Registers `rsid` with scopes view, edit and delete.
async fn register_set(app: &TestApp, rs: &ResourceServer, rsid: &str) {
    let response = app
        .put_resource_set(
            &rs.pat,
            rsid,
            &json!({"name": format!("set {rsid}"), "scopes": ["view", "edit", "delete"]}),
            None,
        )
        .await;
    assert_eq!(response.status(), 201, "resource set {rsid} registered");
}

/// An app with alice's resource server and her `album`.
async fn app_with_album() -> (TestApp, ResourceServer) {
    let app = spawn_app().await;
    let rs = app.resource_server("alice").await;
    register_set(&app, &rs, "album").await;
    (app, rs)
}

fn policy_url(app: &TestApp, rsid: &str) -> String {
    app.url(&format!("/uma/rs/policy/{rsid}"))
}

async fn post_policy(app: &TestApp, token: Option<&str>, rsid: &str, body: &Value) -> Response {
    let mut request = app.http_client.post(policy_url(app, rsid)).json(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap()
}

async fn get_policies(app: &TestApp, token: Option<&str>, rsid: &str) -> Response {
    let mut request = app.http_client.get(policy_url(app, rsid));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap()
}

async fn delete_policy(app: &TestApp, token: Option<&str>, rsid: &str, id: &str) -> Response {
    let mut request = app
        .http_client
        .delete(app.url(&format!("/uma/rs/policy/{rsid}/{id}")));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap()
}

/// Creates a policy over HTTP; returns its id.
async fn create_policy(app: &TestApp, pat: &str, rsid: &str, body: &Value) -> String {
    let response = post_policy(app, Some(pat), rsid, body).await;
    assert_eq!(response.status(), 201, "policy created: {body}");
    let created: Value = response.json().await.unwrap();
    let object = created.as_object().expect("a JSON object");
    assert_eq!(object.len(), 1, "only `_id` in {created}");
    let id = created["_id"].as_str().expect("`_id` is a string");
    assert!(!id.is_empty());
    id.to_string()
}

/// The policies listed over HTTP.
async fn list_policies(app: &TestApp, pat: &str, rsid: &str) -> Vec<Value> {
    let response = get_policies(app, Some(pat), rsid).await;
    assert_eq!(response.status(), 200, "policies of {rsid} listed");
    let body: Value = response.json().await.unwrap();
    body.as_array().expect("a JSON array").clone()
}

/// Asserts every member of `sent` appears in `listed` unchanged.
fn assert_contains_definition(listed: &Value, sent: &Value) {
    for (key, value) in sent.as_object().unwrap() {
        assert_eq!(&listed[key], value, "`{key}` of {listed} (sent {sent})");
    }
}

/// Asserts an OAuth/UMA JSON error; returns the body.
async fn assert_error(response: Response, status: u16, code: &str) -> Value {
    assert_eq!(response.status(), status, "HTTP status for `{code}`");
    let body: Value = response.json().await.expect("JSON error body");
    assert_eq!(body["error"], code, "error code in {body}");
    assert_eq!(body["status"], "error", "UMA error shape in {body}");
    body
}

fn assert_grpc_error(status: &tonic::Status, code: Code, reason: &str) {
    assert_eq!(status.code(), code, "{status:?}");
    assert_eq!(grpc_error_code(status), reason, "{status:?}");
}

/// An AAT from a fresh client_credentials client; returns (client id, AAT).
async fn aat(app: &TestApp) -> (String, String) {
    let (id, secret) = app.create_client("requester", &["uma_authorization"]).await;
    let response = app.token_request(&id, &secret, "uma_authorization").await;
    assert_eq!(response.status(), 200, "AAT issued");
    let body: Value = response.json().await.unwrap();
    (id, body["access_token"].as_str().unwrap().to_string())
}

async fn policy_client(app: &TestApp) -> PolicyServiceClient<Channel> {
    PolicyServiceClient::new(app.channel().await)
}

async fn decision_client(app: &TestApp) -> DecisionServiceClient<Channel> {
    DecisionServiceClient::new(app.channel().await)
}

/// A decision request for `scopes` on `rsid` by client `app` for `subject`.
fn ask(rsid: &str, scopes: &[&str], subject: &str) -> DecideRequest {
    DecideRequest {
        resource_set_id: rsid.into(),
        scopes: scopes.iter().map(|s| s.to_string()).collect(),
        client_id: "app".into(),
        subject: subject.into(),
        claim_tokens: vec![],
    }
}

async fn decide(app: &TestApp, pat: &str, request: DecideRequest) -> DecideResponse {
    decision_client(app)
        .await
        .decide(bearer(request, pat))
        .await
        .expect("a decision")
        .into_inner()
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

// ---------------------------------------------------------------------------
// HTTP policy management

#[tokio::test]
async fn policies_are_created_listed_and_deleted_over_http() {
    let (app, rs) = app_with_album().await;
    assert!(list_policies(&app, &rs.pat, "album").await.is_empty());

    let friends = json!({
        "name": "friends may view",
        "scopes": ["view", "edit"],
        "subjects": ["bob", "carol"],
        "clients": ["photo-app"],
        "claims": [
            {"name": "email", "equals": "bob@example.com"},
            {"name": "groups", "one_of": ["friends", "family"]}
        ],
        "not_before": 1_000,
        "not_after": 4_000_000_000_i64,
        "effect": "permit",
        "approval": "owner",
    });
    let first = create_policy(&app, &rs.pat, "album", &friends).await;
    let no_deletes = json!({"name": "nobody deletes", "scopes": ["delete"], "effect": "deny"});
    let second = create_policy(&app, &rs.pat, "album", &no_deletes).await;
    assert_ne!(first, second);

    let listed = list_policies(&app, &rs.pat, "album").await;
    assert_eq!(listed.len(), 2, "{listed:?}");
    let find = |id: &str| {
        listed
            .iter()
            .find(|p| p["_id"] == id)
            .unwrap_or_else(|| panic!("policy {id} listed: {listed:?}"))
            .clone()
    };
    assert_contains_definition(&find(&first), &friends);
    assert_contains_definition(&find(&second), &no_deletes);

    let response = delete_policy(&app, Some(&rs.pat), "album", &first).await;
    assert_eq!(response.status(), 204);
    assert!(
        response.bytes().await.unwrap().is_empty(),
        "204 has no body"
    );
    let listed = list_policies(&app, &rs.pat, "album").await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["_id"], json!(second));

    assert_error(
        delete_policy(&app, Some(&rs.pat), "album", &first).await,
        404,
        "not_found",
    )
    .await;
    assert_eq!(
        delete_policy(&app, Some(&rs.pat), "album", &second)
            .await
            .status(),
        204
    );
    assert!(list_policies(&app, &rs.pat, "album").await.is_empty());
    app.stop().await;
}

#[tokio::test]
async fn policies_live_only_on_the_callers_registered_sets() {
    let (app, rs) = app_with_album().await;
    register_set(&app, &rs, "diary").await;
    let id = create_policy(
        &app,
        &rs.pat,
        "album",
        &json!({"name": "all", "scopes": ["view"]}),
    )
    .await;
    // Another resource server of another owner, and one of the same owner.
    let mallory = app.resource_server("mallory").await;
    let sibling = app.resource_server("alice").await;
    let before = app.dump().await;

    let body = json!({"name": "mine now", "scopes": ["view"]});
    assert_error(
        post_policy(&app, Some(&rs.pat), "no-such-set", &body).await,
        404,
        "not_found",
    )
    .await;
    assert_error(
        get_policies(&app, Some(&rs.pat), "no-such-set").await,
        404,
        "not_found",
    )
    .await;
    assert_error(
        delete_policy(&app, Some(&rs.pat), "no-such-set", &id).await,
        404,
        "not_found",
    )
    .await;
    // The policy id on another of the caller's sets is not found either.
    assert_error(
        delete_policy(&app, Some(&rs.pat), "diary", &id).await,
        404,
        "not_found",
    )
    .await;
    for other in [&mallory, &sibling] {
        assert_error(
            post_policy(&app, Some(&other.pat), "album", &body).await,
            404,
            "not_found",
        )
        .await;
        assert_error(
            get_policies(&app, Some(&other.pat), "album").await,
            404,
            "not_found",
        )
        .await;
        assert_error(
            delete_policy(&app, Some(&other.pat), "album", &id).await,
            404,
            "not_found",
        )
        .await;
    }
    assert_eq!(app.dump().await, before, "nothing changed");
    let listed = list_policies(&app, &rs.pat, "album").await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["_id"], json!(id));
    app.stop().await;
}

#[tokio::test]
async fn deleting_a_resource_set_deletes_its_policies() {
    let (app, rs) = app_with_album().await;
    let id = create_policy(
        &app,
        &rs.pat,
        "album",
        &json!({"name": "all", "scopes": ["view"]}),
    )
    .await;
    let response = app
        .http_client
        .delete(app.url("/uma/rs/resource_set/album"))
        .bearer_auth(&rs.pat)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204, "resource set deleted");
    assert_error(
        get_policies(&app, Some(&rs.pat), "album").await,
        404,
        "not_found",
    )
    .await;

    register_set(&app, &rs, "album").await;
    assert!(
        list_policies(&app, &rs.pat, "album").await.is_empty(),
        "the re-registered set has no policies"
    );
    assert_error(
        delete_policy(&app, Some(&rs.pat), "album", &id).await,
        404,
        "not_found",
    )
    .await;
    // And the old policy no longer decides anything.
    let decision = decide(&app, &rs.pat, ask("album", &["view"], "bob")).await;
    assert_eq!(decision.outcome(), Outcome::Deny);
    assert!(decision.policy_ids.is_empty());
    app.stop().await;
}

#[tokio::test]
async fn invalid_policies_are_refused_and_change_nothing() {
    let (app, rs) = app_with_album().await;
    let before = app.dump().await;
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "unregistered scope",
            json!({"name": "x", "scopes": ["print"]}),
            "invalid_scope",
        ),
        (
            "one unregistered scope among registered ones",
            json!({"name": "x", "scopes": ["view", "print"]}),
            "invalid_scope",
        ),
        (
            "claim without equals or one_of",
            json!({"name": "x", "scopes": ["view"], "claims": [{"name": "email"}]}),
            "invalid_request",
        ),
        (
            "claim with an empty one_of",
            json!({"name": "x", "scopes": ["view"], "claims": [{"name": "email", "one_of": []}]}),
            "invalid_request",
        ),
        (
            "claim with both equals and one_of",
            json!({"name": "x", "scopes": ["view"],
                   "claims": [{"name": "email", "equals": "a", "one_of": ["a"]}]}),
            "invalid_request",
        ),
        (
            "claim without a name",
            json!({"name": "x", "scopes": ["view"], "claims": [{"equals": "a"}]}),
            "invalid_request",
        ),
        (
            "claim with a blank name",
            json!({"name": "x", "scopes": ["view"], "claims": [{"name": " ", "equals": "a"}]}),
            "invalid_request",
        ),
        (
            "unknown claim condition member",
            json!({"name": "x", "scopes": ["view"],
                   "claims": [{"name": "email", "equals": "a", "regex": ".*"}]}),
            "invalid_request",
        ),
        (
            "unknown member",
            json!({"name": "x", "scopes": ["view"], "colour": "red"}),
            "invalid_request",
        ),
        (
            "empty scopes",
            json!({"name": "x", "scopes": []}),
            "invalid_request",
        ),
        ("missing scopes", json!({"name": "x"}), "invalid_request"),
        (
            "missing name",
            json!({"scopes": ["view"]}),
            "invalid_request",
        ),
        (
            "blank name",
            json!({"name": "  ", "scopes": ["view"]}),
            "invalid_request",
        ),
        (
            "empty window",
            json!({"name": "x", "scopes": ["view"], "not_before": 100, "not_after": 100}),
            "invalid_request",
        ),
        (
            "inverted window",
            json!({"name": "x", "scopes": ["view"], "not_before": 200, "not_after": 100}),
            "invalid_request",
        ),
        (
            "deny waiting for the owner",
            json!({"name": "x", "scopes": ["view"], "effect": "deny", "approval": "owner"}),
            "invalid_request",
        ),
        (
            "unknown effect",
            json!({"name": "x", "scopes": ["view"], "effect": "maybe"}),
            "invalid_request",
        ),
        (
            "scopes not an array",
            json!({"name": "x", "scopes": "view"}),
            "invalid_request",
        ),
        (
            "an array body",
            json!([{"name": "x", "scopes": ["view"]}]),
            "invalid_request",
        ),
        ("a string body", json!("policy"), "invalid_request"),
        ("a number body", json!(42), "invalid_request"),
        ("a null body", json!(null), "invalid_request"),
    ];
    for (what, body, code) in &cases {
        let response = post_policy(&app, Some(&rs.pat), "album", body).await;
        assert_eq!(response.status(), 400, "{what}");
        let answer: Value = response.json().await.unwrap();
        assert_eq!(answer["error"], *code, "{what}: {answer}");
        assert_eq!(app.dump().await, before, "{what}: database unchanged");
    }
    for raw in ["{", "", "   "] {
        let response = app
            .http_client
            .post(policy_url(&app, "album"))
            .bearer_auth(&rs.pat)
            .header("content-type", "application/json")
            .body(raw)
            .send()
            .await
            .unwrap();
        assert_error(response, 400, "invalid_request").await;
    }
    let response = app
        .http_client
        .post(policy_url(&app, "album"))
        .bearer_auth(&rs.pat)
        .header("content-type", "text/plain")
        .body(json!({"name": "x", "scopes": ["view"]}).to_string())
        .send()
        .await
        .unwrap();
    assert_error(response, 415, "unsupported_media_type").await;
    assert_eq!(app.dump().await, before);
    assert!(list_policies(&app, &rs.pat, "album").await.is_empty());
    app.stop().await;
}

#[tokio::test]
async fn policy_management_needs_a_pat() {
    let (app, rs) = app_with_album().await;
    let id = create_policy(
        &app,
        &rs.pat,
        "album",
        &json!({"name": "all", "scopes": ["view"]}),
    )
    .await;
    let (_, aat) = aat(&app).await;
    let body = json!({"name": "x", "scopes": ["view"]});
    let before = app.dump().await;

    for token in [None, Some("not-a-token")] {
        let responses = [
            post_policy(&app, token, "album", &body).await,
            get_policies(&app, token, "album").await,
            delete_policy(&app, token, "album", &id).await,
        ];
        for response in responses {
            let challenge = response
                .headers()
                .get("www-authenticate")
                .map(|v| v.to_str().unwrap().to_string())
                .unwrap_or_default();
            assert!(challenge.starts_with("Bearer "), "challenge {challenge}");
            assert_error(response, 401, "invalid_token").await;
        }
    }
    let responses = [
        post_policy(&app, Some(&aat), "album", &body).await,
        get_policies(&app, Some(&aat), "album").await,
        delete_policy(&app, Some(&aat), "album", &id).await,
        app.http_client
            .get(app.url("/uma/rs/pending"))
            .bearer_auth(&aat)
            .send()
            .await
            .unwrap(),
    ];
    for response in responses {
        assert_error(response, 403, "insufficient_scope").await;
    }
    assert_eq!(app.dump().await, before, "nothing changed");
    assert_eq!(list_policies(&app, &rs.pat, "album").await.len(), 1);
    app.stop().await;
}

// ---------------------------------------------------------------------------
// gRPC PolicyService

#[tokio::test]
async fn grpc_policy_service_creates_lists_and_deletes() {
    let (app, rs) = app_with_album().await;
    let mut policies = policy_client(&app).await;
    let definition = json!({"name": "friends", "scopes": ["view"], "subjects": ["bob"]});
    let created = policies
        .create_policy(bearer(
            CreatePolicyRequest {
                resource_set_id: "album".into(),
                definition_json: definition.to_string(),
            },
            &rs.pat,
        ))
        .await
        .expect("policy created")
        .into_inner();
    assert!(!created.id.is_empty());
    assert_eq!(created.resource_set_id, "album");
    let stored: Value = serde_json::from_str(&created.definition_json).unwrap();
    assert_contains_definition(&stored, &definition);

    let listed = policies
        .list_policies(bearer(
            ListPoliciesRequest {
                resource_set_id: "album".into(),
            },
            &rs.pat,
        ))
        .await
        .unwrap()
        .into_inner()
        .policies;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, created.id);
    assert_eq!(listed[0].resource_set_id, "album");
    let stored: Value = serde_json::from_str(&listed[0].definition_json).unwrap();
    assert_contains_definition(&stored, &definition);
    // The same policy over HTTP.
    let http = list_policies(&app, &rs.pat, "album").await;
    assert_eq!(http.len(), 1);
    assert_eq!(http[0]["_id"], json!(created.id));

    // Refusals.
    let before = app.dump().await;
    let create = |rsid: &str, json: String| {
        bearer(
            CreatePolicyRequest {
                resource_set_id: rsid.into(),
                definition_json: json,
            },
            &rs.pat,
        )
    };
    let status = policies
        .create_policy(create("album", "{not json".into()))
        .await
        .unwrap_err();
    assert_grpc_error(&status, Code::InvalidArgument, "invalid_request");
    let status = policies
        .create_policy(create(
            "album",
            json!({"name": "x", "scopes": ["print"]}).to_string(),
        ))
        .await
        .unwrap_err();
    assert_grpc_error(&status, Code::InvalidArgument, "invalid_scope");
    let status = policies
        .create_policy(create("no-such-set", definition.to_string()))
        .await
        .unwrap_err();
    assert_grpc_error(&status, Code::NotFound, "not_found");
    let status = policies
        .create_policy(CreatePolicyRequest {
            resource_set_id: "album".into(),
            definition_json: definition.to_string(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    let (_, aat) = aat(&app).await;
    let before_aat = app.dump().await;
    let status = policies
        .create_policy(bearer(
            CreatePolicyRequest {
                resource_set_id: "album".into(),
                definition_json: definition.to_string(),
            },
            &aat,
        ))
        .await
        .unwrap_err();
    assert_grpc_error(&status, Code::PermissionDenied, "insufficient_scope");
    assert_eq!(app.dump().await, before_aat);
    assert_ne!(before, before_aat, "sanity: the AAT's client was stored");

    // Delete, then it is gone.
    policies
        .delete_policy(bearer(
            DeletePolicyRequest {
                resource_set_id: "album".into(),
                id: created.id.clone(),
            },
            &rs.pat,
        ))
        .await
        .expect("policy deleted");
    let listed = policies
        .list_policies(bearer(
            ListPoliciesRequest {
                resource_set_id: "album".into(),
            },
            &rs.pat,
        ))
        .await
        .unwrap()
        .into_inner()
        .policies;
    assert!(listed.is_empty());
    let status = policies
        .delete_policy(bearer(
            DeletePolicyRequest {
                resource_set_id: "album".into(),
                id: created.id,
            },
            &rs.pat,
        ))
        .await
        .unwrap_err();
    assert_grpc_error(&status, Code::NotFound, "not_found");
    let status = policies
        .list_policies(bearer(
            ListPoliciesRequest {
                resource_set_id: "no-such-set".into(),
            },
            &rs.pat,
        ))
        .await
        .unwrap_err();
    assert_grpc_error(&status, Code::NotFound, "not_found");
    app.stop().await;
}

#[tokio::test]
async fn held_requests_are_listed_and_decided_by_the_owners_resource_server() {
    let (app, rs) = app_with_album().await;
    let policy = create_policy(
        &app,
        &rs.pat,
        "album",
        &json!({"name": "ask me", "scopes": ["view"], "approval": "owner"}),
    )
    .await;
    let mut policies = policy_client(&app).await;
    let pending = |token: &str| bearer(ListPendingRequestsRequest {}, token);
    let decide_pending = |id: &str, approve: bool, token: &str| {
        bearer(
            DecidePendingRequestRequest {
                id: id.into(),
                approve,
            },
            token,
        )
    };
    assert!(
        policies
            .list_pending_requests(pending(&rs.pat))
            .await
            .unwrap()
            .into_inner()
            .requests
            .is_empty()
    );

    // A client asks; the request is held.
    let (client_id, aat) = aat(&app).await;
    let response = app
        .http_client
        .post(app.url("/uma/client/rpt"))
        .bearer_auth(&aat)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let rpt = response.json::<Value>().await.unwrap()["rpt"]
        .as_str()
        .unwrap()
        .to_string();
    let response = app
        .register_permission(
            &rs.pat,
            &json!({"resource_set_id": "album", "scopes": ["view"]}),
        )
        .await;
    assert_eq!(response.status(), 201);
    let ticket = response.json::<Value>().await.unwrap()["ticket"]
        .as_str()
        .unwrap()
        .to_string();
    let ask_permission = || {
        app.http_client
            .post(app.url("/uma/client/perm"))
            .bearer_auth(&aat)
            .json(&json!({"rpt": rpt, "ticket": ticket}))
            .send()
    };
    assert_error(ask_permission().await.unwrap(), 403, "request_submitted").await;

    let held = policies
        .list_pending_requests(pending(&rs.pat))
        .await
        .unwrap()
        .into_inner()
        .requests;
    assert_eq!(held.len(), 1, "{held:?}");
    let request = &held[0];
    assert!(!request.id.is_empty());
    assert_eq!(request.resource_set_id, "album");
    assert_eq!(request.scopes, strings(&["view"]));
    assert_eq!(request.client_id, client_id);
    assert_eq!(
        request.subject, client_id,
        "a client_credentials AAT's party"
    );
    assert_eq!(request.status, "pending");
    assert_eq!(request.created_at, app.clock_now());
    // The same over HTTP.
    let response = app
        .http_client
        .get(app.url("/uma/rs/pending"))
        .bearer_auth(&rs.pat)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let http: Value = response.json().await.unwrap();
    assert_eq!(http.as_array().unwrap().len(), 1, "{http}");
    assert_eq!(http[0]["_id"], json!(request.id));
    assert_eq!(http[0]["status"], "pending");

    // Another resource server neither sees nor decides it.
    let mallory = app.resource_server("mallory").await;
    assert!(
        policies
            .list_pending_requests(pending(&mallory.pat))
            .await
            .unwrap()
            .into_inner()
            .requests
            .is_empty()
    );
    let status = policies
        .decide_pending_request(decide_pending(&request.id, true, &mallory.pat))
        .await
        .unwrap_err();
    assert_grpc_error(&status, Code::NotFound, "not_found");
    let status = policies
        .decide_pending_request(decide_pending("no-such-request", true, &rs.pat))
        .await
        .unwrap_err();
    assert_grpc_error(&status, Code::NotFound, "not_found");
    let status = policies
        .decide_pending_request(DecidePendingRequestRequest {
            id: request.id.clone(),
            approve: true,
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);

    // Still held; asking again changes nothing.
    assert_error(ask_permission().await.unwrap(), 403, "request_submitted").await;
    let held = policies
        .list_pending_requests(pending(&rs.pat))
        .await
        .unwrap()
        .into_inner()
        .requests;
    assert_eq!(held.len(), 1, "one held request, not two: {held:?}");

    // The owner approves: the permission is granted, naming the policy.
    policies
        .decide_pending_request(decide_pending(&request.id, true, &rs.pat))
        .await
        .expect("approved");
    let held = policies
        .list_pending_requests(pending(&rs.pat))
        .await
        .unwrap()
        .into_inner()
        .requests;
    assert_eq!(held.len(), 1);
    assert_eq!(held[0].status, "approved");
    let status = policies
        .decide_pending_request(decide_pending(&request.id, false, &rs.pat))
        .await
        .unwrap_err();
    assert_grpc_error(&status, Code::InvalidArgument, "invalid_request");
    let decision = decide(
        &app,
        &rs.pat,
        DecideRequest {
            client_id: client_id.clone(),
            ..ask("album", &["view"], &client_id)
        },
    )
    .await;
    assert_eq!(decision.outcome(), Outcome::Permit, "{decision:?}");
    assert_eq!(decision.policy_ids, vec![policy]);

    let response = ask_permission().await.unwrap();
    assert_eq!(response.status(), 200, "granted once approved");
    let response = app
        .http_client
        .post(app.url("/uma/rs/status"))
        .bearer_auth(&rs.pat)
        .json(&json!({"rpt": rpt}))
        .send()
        .await
        .unwrap();
    let status: Value = response.json().await.unwrap();
    assert_eq!(status[0]["resource_set_id"], "album", "{status}");
    assert_eq!(status[0]["scopes"], json!(["view"]), "{status}");
    app.stop().await;
}

// ---------------------------------------------------------------------------
// DecisionService

#[tokio::test]
async fn decide_permits_on_a_matching_policy_and_denies_by_default() {
    let (app, rs) = app_with_album().await;

    // No policy at all: default deny.
    let decision = decide(&app, &rs.pat, ask("album", &["view"], "bob")).await;
    assert_eq!(decision.outcome(), Outcome::Deny);
    assert!(decision.policy_ids.is_empty());
    assert!(decision.granted_scopes.is_empty());

    let id = create_policy(
        &app,
        &rs.pat,
        "album",
        &json!({"name": "bob views and edits", "scopes": ["view", "edit"], "subjects": ["bob"]}),
    )
    .await;
    let decision = decide(&app, &rs.pat, ask("album", &["view"], "bob")).await;
    assert_eq!(decision.outcome(), Outcome::Permit, "{decision:?}");
    assert_eq!(decision.granted_scopes, strings(&["view"]));
    assert_eq!(decision.policy_ids, vec![id.clone()]);
    assert!(decision.required_claims.is_empty());
    let decision = decide(&app, &rs.pat, ask("album", &["view", "edit"], "bob")).await;
    assert_eq!(decision.outcome(), Outcome::Permit, "{decision:?}");
    let mut granted = decision.granted_scopes.clone();
    granted.sort();
    assert_eq!(granted, strings(&["edit", "view"]));
    assert_eq!(decision.policy_ids, vec![id]);

    // Someone else, more than the policy grants, or an unregistered scope.
    for request in [
        ask("album", &["view"], "mallory"),
        ask("album", &["view", "delete"], "bob"),
        ask("album", &["view", "print"], "bob"),
    ] {
        let decision = decide(&app, &rs.pat, request.clone()).await;
        assert_eq!(decision.outcome(), Outcome::Deny, "{request:?}");
        assert!(decision.policy_ids.is_empty(), "{request:?}");
        assert!(decision.granted_scopes.is_empty(), "{request:?}");
    }
    app.stop().await;
}

#[tokio::test]
async fn decide_names_missing_claims_and_accepts_verified_claim_tokens() {
    let idp = TestIdp::new("https://idp.example.com", "steward-test");
    let trusted = idp.trusted();
    let app = spawn_app_with(move |s| s.trusted_issuers = vec![trusted]).await;
    let rs = app.resource_server("alice").await;
    register_set(&app, &rs, "album").await;
    let id = create_policy(
        &app,
        &rs.pat,
        "album",
        &json!({"name": "staff", "scopes": ["view"],
                "claims": [{"name": "email", "one_of": ["bob@example.com", "carol@example.com"]}]}),
    )
    .await;

    let decision = decide(&app, &rs.pat, ask("album", &["view"], "bob")).await;
    assert_eq!(decision.outcome(), Outcome::NeedClaims, "{decision:?}");
    assert_eq!(decision.required_claims, strings(&["email"]));
    assert_eq!(decision.policy_ids, vec![id.clone()]);
    assert!(decision.granted_scopes.is_empty());

    let now = app.clock_now();
    let with_token = |token: String| DecideRequest {
        claim_tokens: vec![ClaimToken {
            format: ID_TOKEN.into(),
            token,
        }],
        ..ask("album", &["view"], "bob")
    };
    let good = idp.token("bob", json!({"email": "bob@example.com"}), now + 300);
    let decision = decide(&app, &rs.pat, with_token(good)).await;
    assert_eq!(decision.outcome(), Outcome::Permit, "{decision:?}");
    assert_eq!(decision.granted_scopes, strings(&["view"]));
    assert_eq!(decision.policy_ids, vec![id]);

    let wrong = idp.token("eve", json!({"email": "eve@example.com"}), now + 300);
    let decision = decide(&app, &rs.pat, with_token(wrong)).await;
    assert_eq!(decision.outcome(), Outcome::Deny, "{decision:?}");
    assert!(decision.policy_ids.is_empty());

    // Claims come only from verified tokens.
    let stranger = TestIdp::new("https://stranger.example.com", "steward-test");
    let forged = stranger.token("bob", json!({"email": "bob@example.com"}), now + 300);
    let expired = idp.token("bob", json!({"email": "bob@example.com"}), now - 3600);
    for token in [forged, expired, "garbage".to_string()] {
        let status = decision_client(&app)
            .await
            .decide(bearer(with_token(token), &rs.pat))
            .await
            .unwrap_err();
        assert_grpc_error(&status, Code::InvalidArgument, "invalid_request");
    }
    app.stop().await;
}

#[tokio::test]
async fn decide_reports_pending_for_owner_approval_and_stores_nothing() {
    let (app, rs) = app_with_album().await;
    let id = create_policy(
        &app,
        &rs.pat,
        "album",
        &json!({"name": "ask me", "scopes": ["view", "edit"], "approval": "owner"}),
    )
    .await;
    let before = app.dump().await;
    for _ in 0..2 {
        let decision = decide(&app, &rs.pat, ask("album", &["edit"], "bob")).await;
        assert_eq!(decision.outcome(), Outcome::Pending, "{decision:?}");
        assert_eq!(decision.granted_scopes, strings(&["edit"]));
        assert_eq!(decision.policy_ids, vec![id.clone()]);
    }
    assert_eq!(app.dump().await, before, "Decide stores nothing");
    let held = policy_client(&app)
        .await
        .list_pending_requests(bearer(ListPendingRequestsRequest {}, &rs.pat))
        .await
        .unwrap()
        .into_inner()
        .requests;
    assert!(held.is_empty(), "{held:?}");
    app.stop().await;
}

#[tokio::test]
async fn decide_lets_deny_beat_permit() {
    let (app, rs) = app_with_album().await;
    let permit = create_policy(
        &app,
        &rs.pat,
        "album",
        &json!({"name": "anyone views", "scopes": ["view"]}),
    )
    .await;
    let deny = create_policy(
        &app,
        &rs.pat,
        "album",
        &json!({"name": "not that app", "scopes": ["view"], "clients": ["app"], "effect": "deny"}),
    )
    .await;
    let decision = decide(&app, &rs.pat, ask("album", &["view"], "bob")).await;
    assert_eq!(decision.outcome(), Outcome::Deny, "{decision:?}");
    assert_eq!(decision.policy_ids, vec![deny]);
    assert!(decision.granted_scopes.is_empty());

    let decision = decide(
        &app,
        &rs.pat,
        DecideRequest {
            client_id: "other-app".into(),
            ..ask("album", &["view"], "bob")
        },
    )
    .await;
    assert_eq!(decision.outcome(), Outcome::Permit, "{decision:?}");
    assert_eq!(decision.policy_ids, vec![permit]);
    app.stop().await;
}

#[tokio::test]
async fn decide_applies_a_policy_only_inside_its_window() {
    let (app, rs) = app_with_album().await;
    let start = app.clock_now() + 100;
    let id = create_policy(
        &app,
        &rs.pat,
        "album",
        &json!({"name": "this week", "scopes": ["view"], "not_before": start, "not_after": start + 100}),
    )
    .await;
    let outcome = |d: &DecideResponse| (d.outcome(), d.policy_ids.clone());
    let decision = decide(&app, &rs.pat, ask("album", &["view"], "bob")).await;
    assert_eq!(outcome(&decision), (Outcome::Deny, vec![]), "before");
    app.clock.advance(99);
    let decision = decide(&app, &rs.pat, ask("album", &["view"], "bob")).await;
    assert_eq!(
        outcome(&decision),
        (Outcome::Deny, vec![]),
        "one second before"
    );
    app.clock.advance(1);
    let decision = decide(&app, &rs.pat, ask("album", &["view"], "bob")).await;
    assert_eq!(
        outcome(&decision),
        (Outcome::Permit, vec![id.clone()]),
        "at not_before"
    );
    app.clock.advance(99);
    let decision = decide(&app, &rs.pat, ask("album", &["view"], "bob")).await;
    assert_eq!(
        outcome(&decision),
        (Outcome::Permit, vec![id]),
        "last second"
    );
    app.clock.advance(1);
    let decision = decide(&app, &rs.pat, ask("album", &["view"], "bob")).await;
    assert_eq!(outcome(&decision), (Outcome::Deny, vec![]), "at not_after");
    app.stop().await;
}

#[tokio::test]
async fn decide_refuses_unknown_sets_strangers_and_incomplete_requests() {
    let (app, rs) = app_with_album().await;
    create_policy(
        &app,
        &rs.pat,
        "album",
        &json!({"name": "anyone views", "scopes": ["view"]}),
    )
    .await;
    let mut decisions = decision_client(&app).await;

    let status = decisions
        .decide(bearer(ask("no-such-set", &["view"], "bob"), &rs.pat))
        .await
        .unwrap_err();
    assert_grpc_error(&status, Code::InvalidArgument, "invalid_resource_set_id");

    let status = decisions
        .decide(ask("album", &["view"], "bob"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    let status = decisions
        .decide(bearer(ask("album", &["view"], "bob"), "not-a-token"))
        .await
        .unwrap_err();
    assert_grpc_error(&status, Code::Unauthenticated, "invalid_token");
    let (_, aat) = aat(&app).await;
    let status = decisions
        .decide(bearer(ask("album", &["view"], "bob"), &aat))
        .await
        .unwrap_err();
    assert_grpc_error(&status, Code::PermissionDenied, "insufficient_scope");

    // Another resource server cannot decide on alice's set...
    let mallory = app.resource_server("mallory").await;
    let status = decisions
        .decide(bearer(ask("album", &["view"], "bob"), &mallory.pat))
        .await
        .unwrap_err();
    assert_grpc_error(&status, Code::InvalidArgument, "invalid_resource_set_id");
    // ...and its own `album` is governed by its own (absent) policies.
    register_set(&app, &mallory, "album").await;
    let decision = decide(&app, &mallory.pat, ask("album", &["view"], "bob")).await;
    assert_eq!(decision.outcome(), Outcome::Deny, "{decision:?}");
    assert!(decision.policy_ids.is_empty());

    // Incomplete requests.
    for request in [
        ask("album", &[], "bob"),
        ask("", &["view"], "bob"),
        DecideRequest {
            client_id: String::new(),
            ..ask("album", &["view"], "")
        },
    ] {
        let status = decisions
            .decide(bearer(request.clone(), &rs.pat))
            .await
            .unwrap_err();
        assert_grpc_error(&status, Code::InvalidArgument, "invalid_request");
    }
    app.stop().await;
}

#[tokio::test]
async fn decide_treats_a_repeated_scope_like_the_scope_itself() {
    let (app, rs) = app_with_album().await;
    let id = create_policy(
        &app,
        &rs.pat,
        "album",
        &json!({"name": "anyone views", "scopes": ["view"]}),
    )
    .await;
    // Control: the plain request is permitted.
    let decision = decide(&app, &rs.pat, ask("album", &["view"], "bob")).await;
    assert_eq!(decision.outcome(), Outcome::Permit, "{decision:?}");

    // Permission registration folds repeated scopes; the decision service
    // must either do the same or refuse the request as malformed.
    let answer = decision_client(&app)
        .await
        .decide(bearer(ask("album", &["view", "view"], "bob"), &rs.pat))
        .await;
    match answer {
        Ok(response) => {
            let decision = response.into_inner();
            assert_eq!(decision.outcome(), Outcome::Permit, "{decision:?}");
            assert_eq!(decision.granted_scopes, strings(&["view"]));
            assert_eq!(decision.policy_ids, vec![id]);
        }
        Err(status) => assert_grpc_error(&status, Code::InvalidArgument, "invalid_request"),
    }
    app.stop().await;
}

#[tokio::test]
async fn an_owner_who_denies_a_held_request_refuses_it_for_good() {
    let (app, rs) = app_with_album().await;
    create_policy(
        &app,
        &rs.pat,
        "album",
        &json!({"name": "ask me", "scopes": ["view"], "approval": "owner"}),
    )
    .await;
    let (client_id, aat) = aat(&app).await;
    let response = app
        .http_client
        .post(app.url("/uma/client/rpt"))
        .bearer_auth(&aat)
        .send()
        .await
        .unwrap();
    let rpt = response.json::<Value>().await.unwrap()["rpt"]
        .as_str()
        .unwrap()
        .to_string();
    let ask_permission = || async {
        let response = app
            .register_permission(
                &rs.pat,
                &json!({"resource_set_id": "album", "scopes": ["view"]}),
            )
            .await;
        let ticket = response.json::<Value>().await.unwrap()["ticket"]
            .as_str()
            .unwrap()
            .to_string();
        app.http_client
            .post(app.url("/uma/client/perm"))
            .bearer_auth(&aat)
            .json(&json!({"rpt": rpt, "ticket": ticket}))
            .send()
            .await
            .unwrap()
    };
    assert_error(ask_permission().await, 403, "request_submitted").await;
    let response = app
        .http_client
        .get(app.url("/uma/rs/pending"))
        .bearer_auth(&rs.pat)
        .send()
        .await
        .unwrap();
    let held: Value = response.json().await.unwrap();
    let id = held[0]["_id"].as_str().unwrap().to_string();
    let decide_url = app.url(&format!("/uma/rs/pending/{id}"));

    // A malformed decision changes nothing.
    let before = app.dump().await;
    for body in [
        json!({"decision": "maybe"}),
        json!({}),
        json!({"decision": true}),
    ] {
        let response = app
            .http_client
            .post(&decide_url)
            .bearer_auth(&rs.pat)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_error(response, 400, "invalid_request").await;
    }
    assert_eq!(app.dump().await, before);

    let response = app
        .http_client
        .post(&decide_url)
        .bearer_auth(&rs.pat)
        .json(&json!({"decision": "deny"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    let response = app
        .http_client
        .get(app.url("/uma/rs/pending"))
        .bearer_auth(&rs.pat)
        .send()
        .await
        .unwrap();
    let held: Value = response.json().await.unwrap();
    assert_eq!(held[0]["status"], "denied", "{held}");

    assert_error(ask_permission().await, 403, "not_authorized_permission").await;
    let decision = decide(
        &app,
        &rs.pat,
        DecideRequest {
            client_id: client_id.clone(),
            ..ask("album", &["view"], &client_id)
        },
    )
    .await;
    assert_eq!(decision.outcome(), Outcome::Deny, "{decision:?}");
    app.stop().await;
}

// ---------------------------------------------------------------------------
// Batch decisions

fn item(rsid: &str, scopes: &[&str]) -> DecideItem {
    DecideItem {
        resource_set_id: rsid.into(),
        scopes: strings(scopes),
    }
}

#[tokio::test]
async fn a_batch_is_decided_in_request_order_with_errors_per_item() {
    let idp = TestIdp::new("https://idp.example.com", "steward-test");
    let trusted = idp.trusted();
    let app = spawn_app_with(move |s| s.trusted_issuers = vec![trusted]).await;
    let rs = app.resource_server("alice").await;
    for rsid in ["album", "diary", "staff-only"] {
        register_set(&app, &rs, rsid).await;
    }
    let album = create_policy(
        &app,
        &rs.pat,
        "album",
        &json!({"name": "bob views", "scopes": ["view"], "subjects": ["bob"]}),
    )
    .await;
    let staff = create_policy(
        &app,
        &rs.pat,
        "staff-only",
        &json!({"name": "staff", "scopes": ["view"],
                "claims": [{"name": "email", "equals": "bob@example.com"}]}),
    )
    .await;
    let batch = |claim_tokens: Vec<ClaimToken>| DecideBatchRequest {
        client_id: "app".into(),
        subject: "bob".into(),
        claim_tokens,
        items: vec![
            item("album", &["view"]),
            item("nowhere", &["view"]),
            item("diary", &["view"]),
            item("staff-only", &["view"]),
            item("album", &["view", "edit"]),
        ],
    };
    let answer = decision_client(&app)
        .await
        .decide_batch(bearer(batch(vec![]), &rs.pat))
        .await
        .expect("a batch decision")
        .into_inner();
    assert_eq!(answer.results.len(), 5, "one result per item");
    let outcome = |i: usize| answer.results[i].decision.as_ref().map(|d| d.outcome());
    assert_eq!(outcome(0), Some(Outcome::Permit));
    assert_eq!(
        answer.results[0].decision.as_ref().unwrap().policy_ids,
        vec![album.clone()]
    );
    assert_eq!(outcome(1), None, "an unknown set is an error of its own");
    assert_eq!(answer.results[1].error, "invalid_resource_set_id");
    assert!(answer.results[1].error_description.contains("nowhere"));
    assert_eq!(outcome(2), Some(Outcome::Deny), "no policy: default deny");
    assert_eq!(outcome(3), Some(Outcome::NeedClaims));
    assert_eq!(
        answer.results[3].decision.as_ref().unwrap().required_claims,
        strings(&["email"])
    );
    assert_eq!(
        outcome(4),
        Some(Outcome::Deny),
        "more than the policy grants"
    );
    for (i, result) in answer.results.iter().enumerate() {
        assert_eq!(
            result.decision.is_some(),
            result.error.is_empty(),
            "item {i} is either decided or an error"
        );
    }

    // The batch agrees with single decisions, and claim tokens apply to every item.
    let single = decide(&app, &rs.pat, ask("album", &["view"], "bob")).await;
    assert_eq!(answer.results[0].decision.as_ref(), Some(&single));
    let token = idp.token(
        "bob",
        json!({"email": "bob@example.com"}),
        app.clock_now() + 300,
    );
    let answer = decision_client(&app)
        .await
        .decide_batch(bearer(
            batch(vec![ClaimToken {
                format: ID_TOKEN.into(),
                token,
            }]),
            &rs.pat,
        ))
        .await
        .unwrap()
        .into_inner();
    let decided = answer.results[3].decision.as_ref().unwrap();
    assert_eq!(decided.outcome(), Outcome::Permit);
    assert_eq!(decided.policy_ids, vec![staff]);
    assert_eq!(
        answer.results[0].decision.as_ref().map(|d| d.outcome()),
        Some(Outcome::Permit)
    );
    app.stop().await;
}

#[tokio::test]
async fn bad_batches_are_refused_whole() {
    let (app, rs) = app_with_album().await;
    let mut client = decision_client(&app).await;
    let request = |items: Vec<DecideItem>, subject: &str| DecideBatchRequest {
        client_id: String::new(),
        subject: subject.into(),
        claim_tokens: vec![],
        items,
    };
    let too_many = (0..1001).map(|_| item("album", &["view"])).collect();
    for (what, bad) in [
        ("no items", request(vec![], "bob")),
        ("over the limit", request(too_many, "bob")),
        ("nobody asking", request(vec![item("album", &["view"])], "")),
    ] {
        let status = client.decide_batch(bearer(bad, &rs.pat)).await.unwrap_err();
        assert_grpc_error(&status, Code::InvalidArgument, "invalid_request");
        assert!(!status.message().is_empty(), "{what}");
    }
    let status = client
        .decide_batch(request(vec![item("album", &["view"])], "bob"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated, "a PAT is required");
    // Another resource server's set is not the caller's.
    let other = app.resource_server("carol").await;
    let answer = client
        .decide_batch(bearer(
            request(vec![item("album", &["view"])], "bob"),
            &other.pat,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(answer.results[0].error, "invalid_resource_set_id");
    app.stop().await;
}
