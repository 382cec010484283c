//! Hostile input at the edge (issue 13): identifiers holding NUL or another
//! control character or beyond their documented maxima, JSON with a repeated
//! key, `.`/`..` as resource set ids, and paths or methods the façade does
//! not serve. Every refusal is a 4xx — the spec's JSON error with `no-store`
//! (the page's 400 for browser forms; INVALID_ARGUMENT over gRPC) — never a
//! 500, and leaves the database as it was. Run these on SQLite and on
//! PostgreSQL (`TEST_DATABASE_URL`), which refused a NUL with a 500.

// Helpers outside `#[test]` fns panic on purpose: a failed step fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;

use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::{Method, Response};
use serde_json::{Value, json};
use steward::config::Secret;
use steward::grpc::facade_only::CREDENTIAL_HEADER;
use steward::grpc::proto::authorization_service_client::AuthorizationServiceClient;
use steward::grpc::proto::client_registration_service_client::ClientRegistrationServiceClient;
use steward::grpc::proto::consent_service_client::ConsentServiceClient;
use steward::grpc::proto::decision_service_client::DecisionServiceClient;
use steward::grpc::proto::enforcement_service_client::EnforcementServiceClient;
use steward::grpc::proto::permission_service_client::PermissionServiceClient;
use steward::grpc::proto::policy_service_client::PolicyServiceClient;
use steward::grpc::proto::resource_set_service_client::ResourceSetServiceClient;
use steward::grpc::proto::session_service_client::SessionServiceClient;
use steward::grpc::proto::token_service_client::TokenServiceClient;
use steward::grpc::proto::{
    AuthorizationParameters, ClaimToken, ClaimsParameters, ClientMetadataRequest,
    ClientRegistrationRequest, CreatePolicyRequest, CreateResourceSetRequest, DecideBatchRequest,
    DecideItem, DecidePendingRequestRequest, DecideRequest, DeletePolicyRequest,
    DeleteResourceSetRequest, EnforcementProfile, GetResourceSetRequest, IntrospectRptRequest,
    IssueTokenRequest, ListPoliciesRequest, RegisterPermissionRequest, RequestPermissionRequest,
    ResourceSetDescription, ScopeList, SignInRequest, UpdateResourceSetRequest,
};
use tonic::Code;

use crate::browser_support::Browser;
use crate::helpers::{ResourceServer, TestApp, bearer, grpc_error_code, spawn_app_with};

const INITIAL: &str = "initial-access-token-for-hostile-tests";
const FACADE: &str = "facade-credential-for-hostile-tests";
const PASSWORD: &str = "correct horse battery";
const CALLBACK: &str = "https://client.example/cb";

/// Values with a control character: NUL, other C0, DEL and C1 (NEL, U+0085,
/// is whitespace too: inside, where no trimming removes it).
const CONTROL: [&str; 7] = [
    "nul\0id",
    "\u{1}start",
    "tab\tid",
    "line\nfeed",
    "del\u{7f}",
    "c1\u{85}nel",
    "apc\u{9f}",
];

/// Every control-character value, and one a byte longer than `max`.
fn hostile(max: usize) -> Vec<String> {
    let mut values: Vec<String> = CONTROL.iter().map(|v| v.to_string()).collect();
    values.push("x".repeat(max + 1));
    values
}

const MAX_ID: usize = steward::domain::identifier::MAX_ID;
const MAX_TOKEN: usize = steward::domain::identifier::MAX_TOKEN;
const MAX_TEXT: usize = steward::domain::identifier::MAX_TEXT;

fn segment(value: &str) -> String {
    utf8_percent_encode(value, NON_ALPHANUMERIC).to_string()
}

/// What the tests share: alice's resource server with `album` (view, edit)
/// and a policy on it, bob's client with an AAT, a user, a browser client.
struct Scene {
    app: TestApp,
    rs: ResourceServer,
    aat: String,
    user_client: String,
    policy_id: String,
}

async fn scene() -> Scene {
    let app = spawn_app_with(|s| {
        s.registration_token = Some(Secret::new(INITIAL));
        s.facade_token = Some(Secret::new(FACADE));
    })
    .await;
    let rs = app.resource_server("alice").await;
    let album = json!({"name": "Album", "scopes": ["view", "edit"]});
    let created = app.put_resource_set(&rs.pat, "album", &album, None).await;
    assert_eq!(created.status(), 201);
    let policy = app
        .http_client
        .post(app.url("/uma/rs/policy/album"))
        .bearer_auth(&rs.pat)
        .json(&json!({"name": "bob views", "scopes": ["view"], "subjects": ["bob"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(policy.status(), 201);
    let policy_id = policy.json::<Value>().await.unwrap()["_id"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, aat) = app.requester("bob").await;
    app.create_user("carol", PASSWORD, json!({})).await;
    let (user_client, _) = app
        .create_browser_client("Web app", &["uma_authorization"], &[CALLBACK], false)
        .await;
    Scene {
        app,
        rs,
        aat,
        user_client,
        policy_id,
    }
}

/// The response is the spec's JSON error `code` with `status`, `no-store`.
async fn json_error(response: Response, status: u16, code: &str, what: &str) -> Value {
    assert_eq!(response.status().as_u16(), status, "{what}");
    let headers = response.headers().clone();
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(
        content_type.starts_with("application/json"),
        "{what}: content type {content_type:?}"
    );
    assert_eq!(
        headers.get("cache-control").and_then(|v| v.to_str().ok()),
        Some("no-store"),
        "{what}"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "error", "{what}: {body}");
    assert_eq!(body["error"], code, "{what}: {body}");
    body
}

/// A browser page's 400: HTML, `no-store`, no redirect.
fn page_400(page: &crate::browser_support::Page, what: &str) {
    assert_eq!(page.status, 400, "{what}: {}", page.body);
    assert!(page.location.is_none(), "{what}: never redirected");
    let content_type = page
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(content_type.starts_with("text/html"), "{what}");
    assert_eq!(
        page.headers
            .get("cache-control")
            .and_then(|v| v.to_str().ok()),
        Some("no-store"),
        "{what}"
    );
}

/// The gRPC call was refused as INVALID_ARGUMENT with `code`.
fn grpc_refused<T: std::fmt::Debug>(
    answer: Result<tonic::Response<T>, tonic::Status>,
    code: &str,
    what: &str,
) {
    let status = answer.expect_err(what);
    assert_eq!(status.code(), Code::InvalidArgument, "{what}: {status:?}");
    assert_eq!(grpc_error_code(&status), code, "{what}: {status:?}");
}

/// A request for the identity services, carrying the façade's credential.
fn as_facade<T>(message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request
        .metadata_mut()
        .insert(CREDENTIAL_HEADER, FACADE.parse().unwrap());
    request
}

/// `method path` with a raw JSON body (repeated keys cannot be built with `json!`).
async fn send_json(app: &TestApp, method: Method, path: &str, token: &str, body: &str) -> Response {
    app.http_client
        .request(method, app.url(path))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap()
}

/// One request over a raw socket, for request-targets an HTTP client would
/// normalise (`/.`, `/..`): (status, lower-cased headers, body).
async fn raw_request(
    app: &TestApp,
    method: &str,
    target: &str,
    token: &str,
    body: &str,
) -> (u16, HashMap<String, String>, String) {
    use std::io::{Read, Write};
    let addr = app.http.trim_start_matches("http://").to_string();
    let request = format!(
        "{method} {target} HTTP/1.1\r\nHost: steward\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let text = tokio::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
        stream.write_all(request.as_bytes()).unwrap();
        let mut received = Vec::new();
        stream.read_to_end(&mut received).unwrap();
        String::from_utf8_lossy(&received).into_owned()
    })
    .await
    .unwrap();
    let (head, body) = text.split_once("\r\n\r\n").expect("an HTTP answer");
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .expect("a status line");
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    (status, headers, body.to_string())
}

// ---------------------------------------------------------------------------
// Identifiers over HTTP

#[tokio::test]
async fn bad_identifiers_are_400_on_the_protection_api() {
    let Scene { app, rs, .. } = scene().await;
    let before = app.dump().await;
    let pat = rs.pat.as_str();
    for bad in hostile(MAX_ID) {
        let what = format!("{bad:?}");
        let seg = segment(&bad);
        let album = json!({"name": "x", "scopes": ["view"]});
        // Resource set registration, every operation.
        let put = app.put_resource_set(pat, &seg, &album, None).await;
        json_error(put, 400, "invalid_request", &format!("PUT set {what}")).await;
        let put = app.put_resource_set(pat, &seg, &album, Some("\"1\"")).await;
        json_error(put, 400, "invalid_request", &format!("update set {what}")).await;
        for method in [Method::GET, Method::DELETE] {
            let response = app
                .http_client
                .request(
                    method.clone(),
                    app.url(&format!("/uma/rs/resource_set/{seg}")),
                )
                .bearer_auth(pat)
                .send()
                .await
                .unwrap();
            json_error(
                response,
                400,
                "invalid_request",
                &format!("{method} {what}"),
            )
            .await;
        }
        // Permission registration: no registered set or scope is named so.
        let response = app
            .register_permission(pat, &json!({"resource_set_id": bad, "scopes": ["view"]}))
            .await;
        json_error(
            response,
            400,
            "invalid_resource_set_id",
            &format!("perm {what}"),
        )
        .await;
        let response = app
            .register_permission(pat, &json!({"resource_set_id": "album", "scopes": [bad]}))
            .await;
        json_error(
            response,
            400,
            "invalid_scope",
            &format!("perm scope {what}"),
        )
        .await;
        // Policies: the set, a policy's clients and subjects, the policy id.
        let policy = json!({"name": "p", "scopes": ["view"]});
        let response = send_json(
            &app,
            Method::POST,
            &format!("/uma/rs/policy/{seg}"),
            pat,
            &policy.to_string(),
        )
        .await;
        json_error(
            response,
            400,
            "invalid_request",
            &format!("policy on {what}"),
        )
        .await;
        for field in ["clients", "subjects"] {
            let policy = json!({"name": "p", "scopes": ["view"], field: [bad]});
            let response = send_json(
                &app,
                Method::POST,
                "/uma/rs/policy/album",
                pat,
                &policy.to_string(),
            )
            .await;
            json_error(response, 400, "invalid_request", &format!("{field} {what}")).await;
        }
        let response = app
            .http_client
            .get(app.url(&format!("/uma/rs/policy/{seg}")))
            .bearer_auth(pat)
            .send()
            .await
            .unwrap();
        json_error(response, 400, "invalid_request", &format!("list {what}")).await;
        let response = app
            .http_client
            .delete(app.url(&format!("/uma/rs/policy/album/{seg}")))
            .bearer_auth(pat)
            .send()
            .await
            .unwrap();
        json_error(
            response,
            400,
            "invalid_request",
            &format!("policy delete {what}"),
        )
        .await;
        // A held request's decision.
        let response = send_json(
            &app,
            Method::POST,
            &format!("/uma/rs/pending/{seg}"),
            pat,
            r#"{"decision":"approve"}"#,
        )
        .await;
        json_error(response, 400, "invalid_request", &format!("pending {what}")).await;
        // RPT status's resource set filter.
        let response = send_json(
            &app,
            Method::POST,
            "/uma/rs/status",
            pat,
            &json!({"rpt": "some-rpt", "resource_set_id": bad}).to_string(),
        )
        .await;
        json_error(response, 400, "invalid_request", &format!("status {what}")).await;
        // An enforcement profile's scopes.
        let profile = json!({"hosts": ["photoz.example.com"], "methods": {"GET": [bad]}});
        let response = send_json(
            &app,
            Method::PUT,
            "/uma/rs/enforcement",
            pat,
            &profile.to_string(),
        )
        .await;
        json_error(response, 400, "invalid_request", &format!("profile {what}")).await;
        assert_eq!(app.dump().await, before, "{what} changed nothing");
    }
    app.stop().await;
}

#[tokio::test]
async fn bad_tokens_are_400_at_status_introspection_and_the_authorization_api() {
    let Scene { app, rs, aat, .. } = scene().await;
    let before = app.dump().await;
    for bad in hostile(MAX_TOKEN) {
        let what = format!("{:?}", bad.chars().take(12).collect::<String>());
        let response = send_json(
            &app,
            Method::POST,
            "/uma/rs/status",
            &rs.pat,
            &json!({ "rpt": bad }).to_string(),
        )
        .await;
        json_error(response, 400, "invalid_request", &format!("status {what}")).await;
        let response = app
            .http_client
            .post(app.url("/uma/rs/introspect"))
            .bearer_auth(&rs.pat)
            .form(&[("token", bad.as_str())])
            .send()
            .await
            .unwrap();
        json_error(
            response,
            400,
            "invalid_request",
            &format!("introspect {what}"),
        )
        .await;
        // The UMA 1.0 RPT request and the draft-06 permission request.
        let response = send_json(
            &app,
            Method::POST,
            "/uma/client/rpt",
            &aat,
            &json!({ "ticket": bad }).to_string(),
        )
        .await;
        json_error(response, 400, "invalid_request", &format!("rpt {what}")).await;
        for body in [
            json!({"rpt": "an-rpt", "ticket": bad}),
            json!({"rpt": bad, "ticket": "a-ticket"}),
            json!({"rpt": "an-rpt", "ticket": "a-ticket",
                   "claim_tokens": [{"format": "openid", "token": bad}]}),
        ] {
            let response = send_json(
                &app,
                Method::POST,
                "/uma/client/perm",
                &aat,
                &body.to_string(),
            )
            .await;
            json_error(response, 400, "invalid_request", &format!("perm {what}")).await;
        }
        assert_eq!(app.dump().await, before, "{what} changed nothing");
    }
    app.stop().await;
}

#[tokio::test]
async fn bad_parameters_are_400_at_the_token_endpoint() {
    let Scene { app, .. } = scene().await;
    let (id, secret) = app.create_client("alice", &["uma_protection"]).await;
    let before = app.dump().await;
    let post = |form: Vec<(&'static str, String)>, basic: Option<(String, String)>| {
        let mut request = app.http_client.post(app.url("/oauth/token")).form(&form);
        if let Some((id, secret)) = basic {
            request = request.basic_auth(id, Some(secret));
        }
        request.send()
    };
    for bad in hostile(MAX_ID) {
        let what = format!("{bad:?}");
        // The client id in the form, in Basic, and alone (a public client).
        let form = vec![
            ("grant_type", "client_credentials".to_string()),
            ("client_id", bad.clone()),
            ("client_secret", secret.clone()),
        ];
        let response = post(form, None).await.unwrap();
        json_error(response, 400, "invalid_request", &format!("form id {what}")).await;
        if !bad.contains(':') {
            let form = vec![("grant_type", "client_credentials".to_string())];
            let response = post(form, Some((bad.clone(), secret.clone())))
                .await
                .unwrap();
            json_error(
                response,
                400,
                "invalid_request",
                &format!("Basic id {what}"),
            )
            .await;
        }
        let form = vec![
            ("grant_type", "authorization_code".to_string()),
            ("client_id", bad.clone()),
            ("code", "a-code".to_string()),
        ];
        let response = post(form, None).await.unwrap();
        json_error(
            response,
            400,
            "invalid_request",
            &format!("public id {what}"),
        )
        .await;
    }
    for bad in CONTROL {
        let what = format!("{bad:?}");
        for (grant, field) in [
            ("client_credentials", "scope"),
            ("refresh_token", "refresh_token"),
            ("authorization_code", "code"),
            ("authorization_code", "redirect_uri"),
            ("authorization_code", "code_verifier"),
            ("urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion"),
        ] {
            let form = vec![("grant_type", grant.to_string()), (field, bad.to_string())];
            let response = post(form, Some((id.clone(), secret.clone())))
                .await
                .unwrap();
            json_error(response, 400, "invalid_request", &format!("{field} {what}")).await;
        }
    }
    // Oversized tokens and scopes.
    for (grant, field, value) in [
        ("refresh_token", "refresh_token", "r".repeat(MAX_TOKEN + 1)),
        ("client_credentials", "scope", "s".repeat(MAX_ID + 1)),
    ] {
        let form = vec![("grant_type", grant.to_string()), (field, value)];
        let response = post(form, Some((id.clone(), secret.clone())))
            .await
            .unwrap();
        json_error(response, 400, "invalid_request", &format!("long {field}")).await;
    }
    assert_eq!(app.dump().await, before);
    app.stop().await;
}

#[tokio::test]
async fn bad_identifiers_are_400_at_dynamic_registration() {
    let Scene { app, .. } = scene().await;
    let before = app.dump().await;
    for bad in CONTROL {
        let what = format!("{bad:?}");
        for (metadata, code) in [
            (
                json!({"client_name": format!("app {bad}")}),
                "invalid_client_metadata",
            ),
            (
                json!({"client_name": "app", "owner": bad, "grant_types": ["client_credentials"]}),
                "invalid_client_metadata",
            ),
            (
                json!({"client_name": "app", "scope": format!("uma_protection {bad}"), "grant_types": ["client_credentials"]}),
                "invalid_client_metadata",
            ),
            (
                json!({"client_name": "app", "redirect_uris": [format!("{CALLBACK}{bad}")]}),
                "invalid_redirect_uri",
            ),
        ] {
            let response = send_json(
                &app,
                Method::POST,
                "/oauth/register",
                INITIAL,
                &metadata.to_string(),
            )
            .await;
            json_error(response, 400, code, &format!("{what} in {metadata}")).await;
        }
    }
    for bad in hostile(MAX_ID) {
        let what = format!("{bad:?}");
        let path = format!("/oauth/register/{}", segment(&bad));
        for method in [Method::GET, Method::DELETE] {
            let response = app
                .http_client
                .request(method.clone(), app.url(&path))
                .bearer_auth("a-registration-token")
                .send()
                .await
                .unwrap();
            json_error(
                response,
                400,
                "invalid_request",
                &format!("{method} {what}"),
            )
            .await;
        }
        let response = send_json(
            &app,
            Method::PUT,
            &path,
            "a-registration-token",
            r#"{"client_name":"app"}"#,
        )
        .await;
        json_error(response, 400, "invalid_request", &format!("PUT {what}")).await;
    }
    assert_eq!(app.dump().await, before);
    app.stop().await;
}

#[tokio::test]
async fn bad_identifiers_are_400_on_the_sign_in_authorize_and_claims_pages() {
    let Scene {
        app, user_client, ..
    } = scene().await;
    let browser = Browser::new(&app);
    let sign_in = browser.get("/signin").await;
    assert_eq!(sign_in.status, 200);
    let before = app.dump().await;
    let mut usernames: Vec<String> = CONTROL.iter().map(|c| format!("carol{c}")).collect();
    usernames.push("c".repeat(steward::domain::identifier::MAX_USERNAME + 1));
    for username in &usernames {
        let page = browser.sign_in_on(&sign_in, username, PASSWORD).await;
        page_400(&page, &format!("sign-in as {username:?}"));
        assert!(browser.cookie("steward_session").is_none());
    }
    // Nothing was counted against carol or this address, nor looked up.
    assert_eq!(app.dump().await, before);
    let query = |pairs: &[(&str, &str)]| serde_urlencoded::to_string(pairs).unwrap();
    for bad in CONTROL {
        let what = format!("{bad:?}");
        let authorize = [
            ("response_type", "code"),
            ("client_id", user_client.as_str()),
            ("redirect_uri", CALLBACK),
            ("scope", "uma_authorization"),
            ("state", "s"),
        ];
        for field in ["client_id", "redirect_uri", "state", "scope"] {
            let pairs: Vec<(&str, &str)> = authorize
                .iter()
                .map(|&(k, v)| if k == field { (k, bad) } else { (k, v) })
                .collect();
            let page = browser
                .get(&format!("/oauth/authorize?{}", query(&pairs)))
                .await;
            page_400(&page, &format!("authorize {field} {what}"));
        }
        let claims = [
            ("ticket", "a-ticket"),
            ("client_id", user_client.as_str()),
            ("redirect_uri", CALLBACK),
            ("state", "s"),
        ];
        for field in ["ticket", "client_id", "redirect_uri", "state"] {
            let pairs: Vec<(&str, &str)> = claims
                .iter()
                .map(|&(k, v)| if k == field { (k, bad) } else { (k, v) })
                .collect();
            let page = browser.get(&format!("/uma/claims?{}", query(&pairs))).await;
            page_400(&page, &format!("claims {field} {what}"));
        }
    }
    let page = browser
        .get(&format!(
            "/oauth/authorize?{}",
            query(&[
                ("response_type", "code"),
                ("client_id", &"x".repeat(MAX_ID + 1))
            ])
        ))
        .await;
    page_400(&page, "a long client_id");
    let page = browser
        .get(&format!(
            "/oauth/authorize?{}",
            query(&[
                ("response_type", "code"),
                ("client_id", &user_client),
                ("redirect_uri", CALLBACK),
                ("state", &"s".repeat(MAX_TEXT + 1)),
            ])
        ))
        .await;
    page_400(&page, "a long state");
    let page = browser
        .get(&format!(
            "/uma/claims?{}",
            query(&[("ticket", &"t".repeat(MAX_TOKEN + 1))])
        ))
        .await;
    page_400(&page, "a long ticket");
    assert_eq!(app.dump().await, before);
    app.stop().await;
}

// ---------------------------------------------------------------------------
// Identifiers over gRPC

#[tokio::test]
async fn bad_identifiers_are_invalid_argument_over_grpc() {
    let Scene {
        app,
        rs,
        aat,
        user_client,
        policy_id,
    } = scene().await;
    let channel = app.channel().await;
    let mut sets = ResourceSetServiceClient::new(channel.clone());
    let mut permissions = PermissionServiceClient::new(channel.clone());
    let mut tokens = TokenServiceClient::new(channel.clone());
    let mut authorization = AuthorizationServiceClient::new(channel.clone());
    let mut policies = PolicyServiceClient::new(channel.clone());
    let mut decisions = DecisionServiceClient::new(channel.clone());
    let mut enforcement = EnforcementServiceClient::new(channel.clone());
    let mut sessions = SessionServiceClient::new(channel.clone());
    let mut consent = ConsentServiceClient::new(channel.clone());
    let mut registrations = ClientRegistrationServiceClient::new(channel);
    let pat = rs.pat.as_str();
    let description = || ResourceSetDescription {
        name: "x".into(),
        scopes: vec!["view".into()],
        ..Default::default()
    };
    let before = app.dump().await;
    for bad in hostile(MAX_ID) {
        let what = |call: &str| format!("{call} {bad:?}");
        let answer = sets
            .create_resource_set(bearer(
                CreateResourceSetRequest {
                    id: bad.clone(),
                    description: Some(description()),
                },
                pat,
            ))
            .await;
        grpc_refused(answer, "invalid_request", &what("CreateResourceSet"));
        let answer = sets
            .update_resource_set(bearer(
                UpdateResourceSetRequest {
                    id: bad.clone(),
                    description: Some(description()),
                    if_match: None,
                },
                pat,
            ))
            .await;
        grpc_refused(answer, "invalid_request", &what("UpdateResourceSet"));
        let answer = sets
            .get_resource_set(bearer(GetResourceSetRequest { id: bad.clone() }, pat))
            .await;
        grpc_refused(answer, "invalid_request", &what("GetResourceSet"));
        let answer = sets
            .delete_resource_set(bearer(
                DeleteResourceSetRequest {
                    id: bad.clone(),
                    if_match: None,
                },
                pat,
            ))
            .await;
        grpc_refused(answer, "invalid_request", &what("DeleteResourceSet"));
        let answer = permissions
            .register_permission(bearer(
                RegisterPermissionRequest {
                    resource_set_id: bad.clone(),
                    scopes: vec!["view".into()],
                },
                pat,
            ))
            .await;
        grpc_refused(
            answer,
            "invalid_resource_set_id",
            &what("RegisterPermission"),
        );
        let answer = permissions
            .register_permission(bearer(
                RegisterPermissionRequest {
                    resource_set_id: "album".into(),
                    scopes: vec![bad.clone()],
                },
                pat,
            ))
            .await;
        grpc_refused(answer, "invalid_scope", &what("RegisterPermission scope"));
        let answer = tokens
            .issue_token(IssueTokenRequest {
                grant_type: "client_credentials".into(),
                client_id: bad.clone(),
                client_secret: "a-secret".into(),
                ..Default::default()
            })
            .await;
        grpc_refused(answer, "invalid_request", &what("IssueToken"));
        let answer = tokens
            .introspect_rpt(bearer(
                IntrospectRptRequest {
                    rpt: "an-rpt".into(),
                    resource_set_id: Some(bad.clone()),
                },
                pat,
            ))
            .await;
        grpc_refused(answer, "invalid_request", &what("IntrospectRpt"));
        let answer = policies
            .create_policy(bearer(
                CreatePolicyRequest {
                    resource_set_id: bad.clone(),
                    definition_json: r#"{"name":"p","scopes":["view"]}"#.into(),
                },
                pat,
            ))
            .await;
        grpc_refused(answer, "invalid_request", &what("CreatePolicy"));
        let answer = policies
            .create_policy(bearer(
                CreatePolicyRequest {
                    resource_set_id: "album".into(),
                    definition_json: json!({"name": "p", "scopes": ["view"], "clients": [bad]})
                        .to_string(),
                },
                pat,
            ))
            .await;
        grpc_refused(answer, "invalid_request", &what("CreatePolicy clients"));
        let answer = policies
            .list_policies(bearer(
                ListPoliciesRequest {
                    resource_set_id: bad.clone(),
                },
                pat,
            ))
            .await;
        grpc_refused(answer, "invalid_request", &what("ListPolicies"));
        let answer = policies
            .delete_policy(bearer(
                DeletePolicyRequest {
                    resource_set_id: "album".into(),
                    id: bad.clone(),
                },
                pat,
            ))
            .await;
        grpc_refused(answer, "invalid_request", &what("DeletePolicy"));
        let answer = policies
            .decide_pending_request(bearer(
                DecidePendingRequestRequest {
                    id: bad.clone(),
                    approve: true,
                },
                pat,
            ))
            .await;
        grpc_refused(answer, "invalid_request", &what("DecidePendingRequest"));
        let decide =
            |resource_set_id: &str, scope: &str, client_id: &str, subject: &str| DecideRequest {
                resource_set_id: resource_set_id.into(),
                scopes: vec![scope.into()],
                client_id: client_id.into(),
                subject: subject.into(),
                claim_tokens: vec![],
            };
        for (request, code) in [
            (decide(&bad, "view", "", "bob"), "invalid_resource_set_id"),
            (decide("album", &bad, "", "bob"), "invalid_request"),
            (decide("album", "view", &bad, "bob"), "invalid_request"),
            (decide("album", "view", "", &bad), "invalid_request"),
        ] {
            let answer = decisions.decide(bearer(request, pat)).await;
            grpc_refused(answer, code, &what("Decide"));
        }
        let answer = decisions
            .decide_batch(bearer(
                DecideBatchRequest {
                    subject: bad.clone(),
                    items: vec![DecideItem {
                        resource_set_id: "album".into(),
                        scopes: vec!["view".into()],
                    }],
                    ..Default::default()
                },
                pat,
            ))
            .await;
        grpc_refused(answer, "invalid_request", &what("DecideBatch subject"));
        // A bad item is that item's error; the others are decided.
        let batch = decisions
            .decide_batch(bearer(
                DecideBatchRequest {
                    subject: "bob".into(),
                    items: vec![
                        DecideItem {
                            resource_set_id: bad.clone(),
                            scopes: vec!["view".into()],
                        },
                        DecideItem {
                            resource_set_id: "album".into(),
                            scopes: vec!["view".into()],
                        },
                    ],
                    ..Default::default()
                },
                pat,
            ))
            .await
            .expect("a batch with one bad item")
            .into_inner();
        assert_eq!(batch.results[0].error, "invalid_resource_set_id", "{bad:?}");
        assert!(batch.results[1].decision.is_some(), "{bad:?}");
        let answer = enforcement
            .set_enforcement_profile(bearer(
                EnforcementProfile {
                    hosts: vec!["photoz.example.com".into()],
                    methods: HashMap::from([(
                        "GET".to_string(),
                        ScopeList {
                            scopes: vec![bad.clone()],
                        },
                    )]),
                    ..Default::default()
                },
                pat,
            ))
            .await;
        grpc_refused(answer, "invalid_request", &what("SetEnforcementProfile"));
        // The façade-only identity services.
        let answer = sessions
            .sign_in(as_facade(SignInRequest {
                username: format!("carol{bad}"),
                password: PASSWORD.into(),
                remote_address: "127.0.0.1".into(),
            }))
            .await;
        grpc_refused(answer, "invalid_request", &what("SignIn"));
        let answer = consent
            .check_authorization(as_facade(AuthorizationParameters {
                response_type: "code".into(),
                client_id: bad.clone(),
                redirect_uri: CALLBACK.into(),
                ..Default::default()
            }))
            .await;
        grpc_refused(answer, "invalid_request", &what("CheckAuthorization"));
        let answer = consent
            .check_claims(as_facade(ClaimsParameters {
                ticket: "a-ticket".into(),
                client_id: bad.clone(),
                ..Default::default()
            }))
            .await;
        grpc_refused(answer, "invalid_request", &what("CheckClaims"));
        let mut read = as_facade(ClientRegistrationRequest {
            client_id: bad.clone(),
        });
        read.metadata_mut()
            .insert("authorization", "Bearer a-token".parse().unwrap());
        let answer = registrations.get_client_registration(read).await;
        grpc_refused(answer, "invalid_request", &what("GetClientRegistration"));
    }
    for bad in hostile(MAX_TOKEN) {
        let what = |call: &str| format!("{call} {:?}", bad.chars().take(12).collect::<String>());
        let answer = tokens
            .introspect_rpt(bearer(
                IntrospectRptRequest {
                    rpt: bad.clone(),
                    resource_set_id: None,
                },
                pat,
            ))
            .await;
        grpc_refused(answer, "invalid_request", &what("IntrospectRpt rpt"));
        let answer = authorization
            .request_permission(bearer(
                RequestPermissionRequest {
                    rpt: None,
                    ticket: bad.clone(),
                    claim_tokens: vec![],
                },
                &aat,
            ))
            .await;
        grpc_refused(answer, "invalid_request", &what("RequestPermission"));
        let answer = authorization
            .request_permission(bearer(
                RequestPermissionRequest {
                    rpt: None,
                    ticket: "a-ticket".into(),
                    claim_tokens: vec![ClaimToken {
                        format: "openid".into(),
                        token: bad.clone(),
                    }],
                },
                &aat,
            ))
            .await;
        grpc_refused(answer, "invalid_request", &what("RequestPermission claims"));
        let answer = consent
            .check_claims(as_facade(ClaimsParameters {
                ticket: bad.clone(),
                client_id: user_client.clone(),
                ..Default::default()
            }))
            .await;
        grpc_refused(answer, "invalid_request", &what("CheckClaims ticket"));
    }
    let mut register = as_facade(ClientMetadataRequest {
        client_id: String::new(),
        metadata_json:
            json!({"client_name": "app", "owner": "nul\0", "grant_types": ["client_credentials"]})
                .to_string(),
    });
    register.metadata_mut().insert(
        "authorization",
        format!("Bearer {INITIAL}").parse().unwrap(),
    );
    let answer = registrations.register_client(register).await;
    grpc_refused(answer, "invalid_client_metadata", "RegisterClient owner");
    assert_eq!(app.dump().await, before, "nothing changed");
    // The policy the scene made is still there and still deletable.
    let deleted = policies
        .delete_policy(bearer(
            DeletePolicyRequest {
                resource_set_id: "album".into(),
                id: policy_id,
            },
            pat,
        ))
        .await;
    assert!(deleted.is_ok(), "{deleted:?}");
    app.stop().await;
}

// ---------------------------------------------------------------------------
// Repeated JSON keys

#[tokio::test]
async fn a_repeated_json_key_is_400_and_stores_nothing() {
    let Scene { app, rs, aat, .. } = scene().await;
    let pat = rs.pat.as_str();
    let before = app.dump().await;
    let cases: [(Method, &str, &str, &str, &str); 11] = [
        // The last value would have won: a deny stored as a permit.
        (
            Method::POST,
            "/uma/rs/policy/album",
            pat,
            r#"{"name":"no bob","scopes":["view"],"subjects":["bob"],"effect":"deny","effect":"permit"}"#,
            "effect",
        ),
        (
            Method::POST,
            "/uma/rs/perm",
            pat,
            r#"{"resource_set_id":"album","scopes":["view"],"resource_set_id":"other"}"#,
            "resource_set_id",
        ),
        (
            Method::POST,
            "/uma/rs/perm",
            pat,
            r#"{"requested_permission":{"resource_set_id":"album","scopes":["view"],"scopes":["edit"]}}"#,
            "scopes",
        ),
        (
            Method::PUT,
            "/uma/rs/resource_set/photos",
            pat,
            r#"{"name":"Photos","scopes":["view"],"name":"Other"}"#,
            "name",
        ),
        // Nested, in an extension member.
        (
            Method::PUT,
            "/uma/rs/resource_set/photos",
            pat,
            r#"{"name":"Photos","scopes":["view"],"x-meta":{"owner":"a","owner":"b"}}"#,
            "owner",
        ),
        (
            Method::POST,
            "/uma/rs/status",
            pat,
            r#"{"rpt":"one","rpt":"two"}"#,
            "rpt",
        ),
        (
            Method::PUT,
            "/uma/rs/enforcement",
            pat,
            r#"{"hosts":["a.example"],"methods":{"GET":["view"]},"hosts":["b.example"]}"#,
            "hosts",
        ),
        (
            Method::POST,
            "/uma/rs/pending/some-id",
            pat,
            r#"{"decision":"deny","decision":"approve"}"#,
            "decision",
        ),
        (
            Method::POST,
            "/uma/client/rpt",
            &aat,
            r#"{"ticket":"one","ticket":"two"}"#,
            "ticket",
        ),
        (
            Method::POST,
            "/uma/client/perm",
            &aat,
            r#"{"rpt":"r","ticket":"t","claim_tokens":[{"format":"openid","token":"a","token":"b"}]}"#,
            "token",
        ),
        (
            Method::POST,
            "/oauth/register",
            INITIAL,
            r#"{"client_name":"app","grant_types":["client_credentials"],"owner":"alice","owner":"mallory"}"#,
            "owner",
        ),
    ];
    for (method, path, token, body, key) in cases {
        let response = send_json(&app, method.clone(), path, token, body).await;
        let error = json_error(
            response,
            400,
            "invalid_request",
            &format!("{method} {path} {body}"),
        )
        .await;
        let description = error["error_description"].as_str().unwrap();
        assert!(
            description.contains(&format!("`{key}`")) && description.contains("repeated"),
            "{path}: {description}"
        );
        assert_eq!(app.dump().await, before, "{path} {body} stored nothing");
    }
    // Over gRPC, the JSON texts messages carry are read as strictly.
    let channel = app.channel().await;
    let answer = PolicyServiceClient::new(channel.clone())
        .create_policy(bearer(
            CreatePolicyRequest {
                resource_set_id: "album".into(),
                definition_json:
                    r#"{"name":"no bob","scopes":["view"],"effect":"deny","effect":"permit"}"#
                        .into(),
            },
            pat,
        ))
        .await;
    grpc_refused(answer, "invalid_request", "CreatePolicy");
    let answer = PolicyServiceClient::new(channel.clone())
        .create_policy(bearer(
            CreatePolicyRequest {
                resource_set_id: "album".into(),
                definition_json: r#"{"name":"n","scopes":["view"],"claims":[{"name":"email","equals":"a@x","equals":"b@x"}]}"#.into(),
            },
            pat,
        ))
        .await;
    grpc_refused(answer, "invalid_request", "CreatePolicy nested");
    let answer = ResourceSetServiceClient::new(channel.clone())
        .create_resource_set(bearer(
            CreateResourceSetRequest {
                id: "photos".into(),
                description: Some(ResourceSetDescription {
                    name: "Photos".into(),
                    scopes: vec!["view".into()],
                    extensions_json: r#"{"x-a":1,"x-a":2}"#.into(),
                    ..Default::default()
                }),
            },
            pat,
        ))
        .await;
    grpc_refused(answer, "invalid_request", "CreateResourceSet extensions");
    let mut register = as_facade(ClientMetadataRequest {
        client_id: String::new(),
        metadata_json: r#"{"client_name":"a","client_name":"b"}"#.into(),
    });
    register.metadata_mut().insert(
        "authorization",
        format!("Bearer {INITIAL}").parse().unwrap(),
    );
    let answer = ClientRegistrationServiceClient::new(channel)
        .register_client(register)
        .await;
    grpc_refused(answer, "invalid_request", "RegisterClient");
    assert_eq!(app.dump().await, before, "nothing stored over gRPC");
    // The same documents without the repetition are accepted.
    let response = send_json(
        &app,
        Method::POST,
        "/uma/rs/policy/album",
        pat,
        r#"{"name":"no bob","scopes":["view"],"subjects":["bob"],"effect":"deny"}"#,
    )
    .await;
    assert_eq!(response.status(), 201);
    let stored: Value = app
        .http_client
        .get(app.url("/uma/rs/policy/album"))
        .bearer_auth(pat)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        stored
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "no bob" && p["effect"] == "deny"),
        "{stored}"
    );
    app.stop().await;
}

// ---------------------------------------------------------------------------
// Dot ids

#[tokio::test]
async fn dot_resource_set_ids_cannot_be_created() {
    let Scene { app, rs, .. } = scene().await;
    let before = app.dump().await;
    let body = r#"{"name":"x","scopes":["view"]}"#;
    // Raw request-targets: an HTTP client would resolve these dot segments.
    for target in [
        "/uma/rs/resource_set/.",
        "/uma/rs/resource_set/..",
        "/uma/rs/resource_set/%2E",
        "/uma/rs/resource_set/%2e%2E",
        "/uma/rs/resource_set/.%2e",
    ] {
        let (status, headers, answer) = raw_request(&app, "PUT", target, &rs.pat, body).await;
        assert_eq!(status, 400, "{target}: {answer}");
        assert!(
            headers["content-type"].starts_with("application/json"),
            "{target}"
        );
        assert_eq!(headers["cache-control"], "no-store", "{target}");
        let answer: Value = serde_json::from_str(&answer).unwrap();
        assert_eq!(answer["error"], "invalid_request", "{target}: {answer}");
    }
    let channel = app.channel().await;
    let mut sets = ResourceSetServiceClient::new(channel);
    for id in [".", ".."] {
        let answer = sets
            .create_resource_set(bearer(
                CreateResourceSetRequest {
                    id: id.into(),
                    description: Some(ResourceSetDescription {
                        name: "x".into(),
                        scopes: vec!["view".into()],
                        ..Default::default()
                    }),
                },
                &rs.pat,
            ))
            .await;
        grpc_refused(answer, "invalid_request", id);
    }
    assert_eq!(app.dump().await, before, "no dot set was stored");
    // Ids that merely contain dots are ordinary.
    for id in ["...", ".hidden", "a.b"] {
        let (status, _, answer) = raw_request(
            &app,
            "PUT",
            &format!("/uma/rs/resource_set/{id}"),
            &rs.pat,
            body,
        )
        .await;
        assert_eq!(status, 201, "{id}: {answer}");
    }
    app.stop().await;
}

// ---------------------------------------------------------------------------
// JSON errors for what the façade does not serve

#[tokio::test]
async fn unknown_paths_wrong_methods_and_undecodable_segments_are_json_errors() {
    let Scene { app, rs, .. } = scene().await;
    let before = app.dump().await;
    for (method, path) in [
        (Method::GET, "/uma/rs/nope"),
        (Method::POST, "/uma/client/nope"),
        (Method::GET, "/nope"),
        (Method::GET, "/oauth"),
        (Method::DELETE, "/uma/rs/policy"),
        (Method::GET, "/signin/nope"),
    ] {
        let response = app
            .http_client
            .request(method.clone(), app.url(path))
            .bearer_auth(&rs.pat)
            .send()
            .await
            .unwrap();
        json_error(response, 404, "not_found", &format!("{method} {path}")).await;
    }
    for (method, path, allowed) in [
        (Method::GET, "/oauth/token", "POST"),
        (Method::DELETE, "/uma/rs/perm", "POST"),
        (Method::GET, "/uma/rs/status", "POST"),
        (Method::PATCH, "/uma/rs/enforcement", "PUT"),
        (Method::PUT, "/uma/rs/policy/album", "POST"),
        (Method::GET, "/uma/rs/pending/some-id", "POST"),
        (Method::POST, "/oauth/jwks", "GET"),
        (Method::DELETE, "/signin", "POST"),
        (Method::PATCH, "/oauth/register/some-client", "PUT"),
    ] {
        let response = app
            .http_client
            .request(method.clone(), app.url(path))
            .bearer_auth(&rs.pat)
            .send()
            .await
            .unwrap();
        let allow = response
            .headers()
            .get("allow")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let what = format!("{method} {path}");
        assert!(allow.contains(allowed), "{what}: Allow {allow:?}");
        assert!(!allow.contains(method.as_str()), "{what}: Allow {allow:?}");
        json_error(response, 405, "unsupported_method_type", &what).await;
    }
    // A segment that is not UTF-8 once percent-decoded.
    for (method, path) in [
        (Method::GET, "/uma/rs/resource_set/%FF"),
        (Method::PUT, "/uma/rs/resource_set/a%C3"),
        (Method::DELETE, "/uma/rs/policy/%FF/x"),
        (Method::DELETE, "/uma/rs/policy/album/%FE%FF"),
        (Method::POST, "/uma/rs/pending/%80"),
        (Method::GET, "/oauth/register/%FF"),
    ] {
        let response = app
            .http_client
            .request(method.clone(), app.url(path))
            .bearer_auth(&rs.pat)
            .header("content-type", "application/json")
            .body(r#"{"name":"x","scopes":["view"],"decision":"approve"}"#)
            .send()
            .await
            .unwrap();
        json_error(
            response,
            400,
            "invalid_request",
            &format!("{method} {path}"),
        )
        .await;
    }
    assert_eq!(app.dump().await, before);
    app.stop().await;
}
