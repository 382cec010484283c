//! The token endpoint (RFC 6749 §4.4 `client_credentials`, §5), PAT
//! scopes, and bearer-token authentication of the protection API (RFC 6750),
//! over HTTP and gRPC.

// `allow-unwrap-in-tests` covers `#[test]` bodies only, not these helpers.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::Response;
use serde_json::{Value, json};
use steward::config::{Secret, Settings};
use steward::grpc::proto::resource_set_service_client::ResourceSetServiceClient;
use steward::grpc::proto::token_service_client::TokenServiceClient;
use steward::grpc::proto::{IssueTokenRequest, ListResourceSetsRequest};
use tonic::Code;

use crate::helpers::{
    T0, TestApp, bearer, grpc_error_code, spawn_app, spawn_app_with, spawn_settings,
};

const PROTECTION: &str = "uma_protection";
const PROTECTION_URI: &str = "http://docs.kantarainitiative.org/uma/scopes/prot.json";
const AUTHORIZATION: &str = "uma_authorization";

// ---------------------------------------------------------------------------
// Local helpers

/// Settings for another server on an existing database (no fresh database
/// is created), with an explicit issuer.
fn settings_on(database_url: &str, issuer: &str) -> Settings {
    Settings {
        database_url: Secret::new(database_url),
        http_addr: "127.0.0.1:0".parse().unwrap(),
        grpc_addr: "127.0.0.1:0".parse().unwrap(),
        issuer: Some(issuer.to_string()),
        ..Settings::default()
    }
}

/// POSTs a raw body to the token endpoint.
async fn post_token(
    app: &TestApp,
    content_type: &str,
    body: impl Into<reqwest::Body>,
    basic: Option<(&str, &str)>,
) -> Response {
    let mut request = app
        .http_client
        .post(app.url("/oauth/token"))
        .header("content-type", content_type)
        .body(body);
    if let Some((id, secret)) = basic {
        request = request.basic_auth(id, Some(secret));
    }
    request.send().await.unwrap()
}

/// POSTs form parameters to the token endpoint, optionally with Basic auth.
async fn post_form(app: &TestApp, form: &[(&str, &str)], basic: Option<(&str, &str)>) -> Response {
    let mut request = app.http_client.post(app.url("/oauth/token")).form(form);
    if let Some((id, secret)) = basic {
        request = request.basic_auth(id, Some(secret));
    }
    request.send().await.unwrap()
}

/// `GET /uma/rs/resource_set` with this exact `Authorization` header (if any).
async fn list_sets(app: &TestApp, authorization: Option<&str>) -> Response {
    let mut request = app.http_client.get(app.url("/uma/rs/resource_set"));
    if let Some(value) = authorization {
        request = request.header("authorization", value);
    }
    request.send().await.unwrap()
}

async fn list_with_pat(app: &TestApp, pat: &str) -> Response {
    list_sets(app, Some(&format!("Bearer {pat}"))).await
}

fn header(response: &Response, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_string())
}

/// Asserts an OAuth/UMA JSON error: status, `error`, a description and
/// `Cache-Control: no-store`. Returns the body.
async fn assert_error(response: Response, status: u16, code: &str) -> Value {
    assert_eq!(response.status(), status, "expected {status} {code}");
    assert_eq!(
        header(&response, "cache-control").as_deref(),
        Some("no-store")
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], code, "{body}");
    assert!(
        body["error_description"]
            .as_str()
            .is_some_and(|d| !d.is_empty()),
        "error_description missing: {body}"
    );
    body
}

/// Asserts a token-endpoint `invalid_client` (401 with a Basic challenge).
async fn assert_invalid_client(response: Response) -> Value {
    let challenge = header(&response, "www-authenticate").expect("a WWW-Authenticate challenge");
    assert!(challenge.starts_with("Basic "), "challenge {challenge}");
    assert!(challenge.contains("realm=\"steward\""), "{challenge}");
    assert_error(response, 401, "invalid_client").await
}

/// Asserts an RFC 6750 bearer error with a `Bearer` challenge naming `code`.
async fn assert_bearer_error(response: Response, status: u16, code: &str) {
    let challenge = header(&response, "www-authenticate").expect("a WWW-Authenticate challenge");
    assert!(
        challenge.starts_with("Bearer realm=\"steward\""),
        "challenge {challenge}"
    );
    assert!(
        challenge.contains(&format!("error=\"{code}\"")),
        "challenge {challenge} should name {code}"
    );
    assert_error(response, status, code).await;
}

/// Asserts the RFC 6750 §3.1 answer to a request without a bearer token:
/// 401 with a bare challenge.
async fn assert_missing_token(response: Response) {
    assert_eq!(response.status(), 401);
    assert_eq!(
        header(&response, "www-authenticate").as_deref(),
        Some("Bearer realm=\"steward\"")
    );
    assert_eq!(
        header(&response, "cache-control").as_deref(),
        Some("no-store")
    );
}

/// The decoded header and payload of a JWT.
fn jwt_parts(token: &str) -> (Value, Value) {
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "a JWS compact serialization: {token}");
    let decode =
        |s: &str| -> Value { serde_json::from_slice(&URL_SAFE_NO_PAD.decode(s).unwrap()).unwrap() };
    (decode(parts[0]), decode(parts[1]))
}

fn encode_segment(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap())
}

/// Issues a token over HTTP Basic and returns the JSON body (asserting 200).
async fn issue(app: &TestApp, id: &str, secret: &str, scope: &str) -> Value {
    let response = app.token_request(id, secret, scope).await;
    assert_eq!(response.status(), 200, "token for scope `{scope}`");
    response.json().await.unwrap()
}

/// An Ed25519 PKCS#8 v1 DER key from a 32-byte seed (RFC 8410 §7).
fn ed25519_der(seed: [u8; 32]) -> Vec<u8> {
    let mut der = vec![
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];
    der.extend_from_slice(&seed);
    der
}

// ---------------------------------------------------------------------------
// Token endpoint: success

#[tokio::test]
async fn client_credentials_with_basic_auth_issues_a_bearer_pat() {
    let app = spawn_app().await;
    let (id, secret) = app.create_client("alice", &[PROTECTION]).await;
    let response = app.token_request(&id, &secret, PROTECTION).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        header(&response, "cache-control").as_deref(),
        Some("no-store")
    );
    assert_eq!(header(&response, "pragma").as_deref(), Some("no-cache"));
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    assert_eq!(body["scope"], PROTECTION);
    let token = body["access_token"].as_str().unwrap();

    let (jwt_header, claims) = jwt_parts(token);
    assert_eq!(jwt_header["alg"], "EdDSA");
    assert!(jwt_header["kid"].is_string());
    assert_eq!(claims["iss"], json!(app.issuer));
    assert_eq!(claims["sub"], "alice");
    assert_eq!(claims["client_id"], json!(id));
    assert_eq!(claims["scope"], PROTECTION);
    assert_eq!(claims["iat"], T0);
    assert_eq!(claims["exp"], T0 + 3600);

    // Two tokens for the same request are distinct.
    let again = issue(&app, &id, &secret, PROTECTION).await;
    assert_ne!(again["access_token"], body["access_token"]);
    app.stop().await;
}

#[tokio::test]
async fn client_credentials_with_form_credentials_issues_a_pat() {
    let app = spawn_app().await;
    let (id, secret) = app.create_client("alice", &[PROTECTION]).await;
    let response = post_form(
        &app,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &id),
            ("client_secret", &secret),
            ("scope", PROTECTION),
        ],
        None,
    )
    .await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        header(&response, "cache-control").as_deref(),
        Some("no-store")
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    assert_eq!(body["scope"], PROTECTION);
    let token = body["access_token"].as_str().unwrap();
    assert_eq!(jwt_parts(token).1["client_id"], json!(id));
    assert_eq!(list_with_pat(&app, token).await.status(), 200);
    app.stop().await;
}

#[tokio::test]
async fn basic_auth_with_a_matching_form_client_id_is_accepted() {
    let app = spawn_app().await;
    let (id, secret) = app.create_client("alice", &[PROTECTION]).await;
    let response = post_form(
        &app,
        &[("grant_type", "client_credentials"), ("client_id", &id)],
        Some((&id, &secret)),
    )
    .await;
    assert_eq!(response.status(), 200);
    app.stop().await;
}

#[tokio::test]
async fn both_pat_scope_spellings_are_issued_and_open_the_protection_api() {
    let app = spawn_app().await;
    let (id, secret) = app.create_client("alice", &[PROTECTION]).await;
    for spelling in [PROTECTION_URI, PROTECTION] {
        let body = issue(&app, &id, &secret, spelling).await;
        assert_eq!(body["scope"], spelling);
        let token = body["access_token"].as_str().unwrap();
        assert_eq!(jwt_parts(token).1["scope"], spelling);
        let response = list_with_pat(&app, token).await;
        assert_eq!(response.status(), 200, "PAT with scope {spelling}");
        assert_eq!(response.json::<Value>().await.unwrap(), json!([]));
    }

    // A client registered with the draft-06 URI may ask for the short name.
    let (id, secret) = app.create_client("bob", &[PROTECTION_URI]).await;
    let body = issue(&app, &id, &secret, PROTECTION).await;
    assert_eq!(body["scope"], PROTECTION);
    let token = body["access_token"].as_str().unwrap();
    assert_eq!(list_with_pat(&app, token).await.status(), 200);
    app.stop().await;
}

#[tokio::test]
async fn an_empty_or_absent_scope_gets_the_registered_scopes() {
    let app = spawn_app().await;
    let (id, secret) = app
        .create_client("alice", &[PROTECTION, AUTHORIZATION])
        .await;
    let body = issue(&app, &id, &secret, "").await;
    assert_eq!(body["scope"], "uma_protection uma_authorization");
    let token = body["access_token"].as_str().unwrap();
    assert_eq!(
        jwt_parts(token).1["scope"],
        "uma_protection uma_authorization"
    );
    assert_eq!(list_with_pat(&app, token).await.status(), 200);

    let response = post_form(
        &app,
        &[("grant_type", "client_credentials")],
        Some((&id, &secret)),
    )
    .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["scope"], "uma_protection uma_authorization");

    // Asking for one of them narrows the token.
    let body = issue(&app, &id, &secret, AUTHORIZATION).await;
    assert_eq!(body["scope"], AUTHORIZATION);
    app.stop().await;
}

// ---------------------------------------------------------------------------
// Token endpoint: errors

#[tokio::test]
async fn a_scope_not_registered_for_the_client_is_invalid_scope() {
    let app = spawn_app().await;
    let (id, secret) = app.create_client("alice", &[PROTECTION]).await;
    for scope in [AUTHORIZATION, "uma_protection admin", "openid"] {
        let response = app.token_request(&id, &secret, scope).await;
        assert_eq!(header(&response, "www-authenticate"), None);
        assert_error(response, 400, "invalid_scope").await;
    }
    app.stop().await;
}

#[tokio::test]
async fn failed_client_authentication_is_invalid_client() {
    let app = spawn_app().await;
    let (id, secret) = app.create_client("alice", &[PROTECTION]).await;

    // Wrong secret, Basic and form.
    let wrong_secret =
        assert_invalid_client(app.token_request(&id, "not-the-secret", PROTECTION).await).await;
    assert_invalid_client(
        post_form(
            &app,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", &id),
                ("client_secret", &format!("{secret}x")),
            ],
            None,
        )
        .await,
    )
    .await;
    // Another client's secret.
    let (_, other_secret) = app.create_client("bob", &[PROTECTION]).await;
    assert_invalid_client(app.token_request(&id, &other_secret, PROTECTION).await).await;
    // Unknown client; the answer does not tell it from a wrong secret.
    let unknown = assert_invalid_client(
        app.token_request("no-such-client", &secret, PROTECTION)
            .await,
    )
    .await;
    assert_eq!(unknown, wrong_secret);
    // No credentials at all.
    assert_invalid_client(
        post_form(
            &app,
            &[("grant_type", "client_credentials"), ("scope", PROTECTION)],
            None,
        )
        .await,
    )
    .await;
    // A client_id without a secret.
    assert_invalid_client(
        post_form(
            &app,
            &[("grant_type", "client_credentials"), ("client_id", &id)],
            None,
        )
        .await,
    )
    .await;
    // Malformed Basic credentials.
    let response = app
        .http_client
        .post(app.url("/oauth/token"))
        .header("authorization", "Basic !!!not-base64")
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_invalid_client(response).await;

    // The right secret still works afterwards.
    issue(&app, &id, &secret, PROTECTION).await;
    app.stop().await;
}

#[tokio::test]
async fn malformed_token_requests_are_invalid_request() {
    let app = spawn_app().await;
    let (id, secret) = app.create_client("alice", &[PROTECTION]).await;

    // Two authentication methods at once.
    let response = post_form(
        &app,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &id),
            ("client_secret", &secret),
        ],
        Some((&id, &secret)),
    )
    .await;
    assert_error(response, 400, "invalid_request").await;

    // A form client_id contradicting the Basic one.
    let (other_id, _) = app.create_client("bob", &[PROTECTION]).await;
    let response = post_form(
        &app,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &other_id),
        ],
        Some((&id, &secret)),
    )
    .await;
    assert_error(response, 400, "invalid_request").await;

    // A repeated parameter (RFC 6749 §3.1).
    let response = post_token(
        &app,
        "application/x-www-form-urlencoded",
        "grant_type=client_credentials&scope=uma_protection&scope=uma_protection",
        Some((&id, &secret)),
    )
    .await;
    let body = assert_error(response, 400, "invalid_request").await;
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("scope"),
        "{body}"
    );
    let response = post_token(
        &app,
        "application/x-www-form-urlencoded",
        "grant_type=client_credentials&grant_type=client_credentials",
        Some((&id, &secret)),
    )
    .await;
    assert_error(response, 400, "invalid_request").await;

    // No grant_type.
    let response = post_form(&app, &[("scope", PROTECTION)], Some((&id, &secret))).await;
    let body = assert_error(response, 400, "invalid_request").await;
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("grant_type"),
        "{body}"
    );
    app.stop().await;
}

#[tokio::test]
async fn other_grant_types_are_unsupported_grant_type() {
    let app = spawn_app().await;
    let (id, secret) = app.create_client("alice", &[PROTECTION]).await;
    for grant_type in ["password", "junk", "urn:example:not-a-grant"] {
        let response = post_form(
            &app,
            &[("grant_type", grant_type), ("scope", PROTECTION)],
            Some((&id, &secret)),
        )
        .await;
        assert_error(response, 400, "unsupported_grant_type").await;
    }
    // The browser grants are served, but only to clients registered for them.
    for grant_type in ["authorization_code", "refresh_token"] {
        let response = post_form(
            &app,
            &[("grant_type", grant_type), ("scope", PROTECTION)],
            Some((&id, &secret)),
        )
        .await;
        assert_error(response, 400, "unauthorized_client").await;
    }
    app.stop().await;
}

#[tokio::test]
async fn a_json_body_at_the_token_endpoint_is_415() {
    let app = spawn_app().await;
    let (id, secret) = app.create_client("alice", &[PROTECTION]).await;
    let response = app
        .http_client
        .post(app.url("/oauth/token"))
        .basic_auth(&id, Some(&secret))
        .json(&json!({"grant_type": "client_credentials", "scope": PROTECTION}))
        .send()
        .await
        .unwrap();
    assert_error(response, 415, "unsupported_media_type").await;

    // No content type at all is refused too.
    let response = app
        .http_client
        .post(app.url("/oauth/token"))
        .basic_auth(&id, Some(&secret))
        .body("grant_type=client_credentials")
        .send()
        .await
        .unwrap();
    assert_error(response, 415, "unsupported_media_type").await;
    app.stop().await;
}

#[tokio::test]
async fn a_form_larger_than_the_body_limit_is_413() {
    let app = spawn_app_with(|settings| settings.max_body_bytes = 2048).await;
    let (id, secret) = app.create_client("alice", &[PROTECTION]).await;
    let big = "a".repeat(4096);
    let response = post_form(
        &app,
        &[("grant_type", "client_credentials"), ("scope", &big)],
        Some((&id, &secret)),
    )
    .await;
    assert_error(response, 413, "request_too_large").await;

    // Just under the limit is read (and judged on its merits).
    let padding = "a".repeat(1500);
    let response = post_form(
        &app,
        &[
            ("grant_type", "client_credentials"),
            ("scope", PROTECTION),
            ("padding", &padding),
        ],
        Some((&id, &secret)),
    )
    .await;
    assert_eq!(response.status(), 200);
    app.stop().await;
}

/// Sends a chunked (no `Content-Length`) token request over a raw socket and
/// returns the whole response as text.
async fn raw_chunked_token_request(app: &TestApp, body: String) -> String {
    use std::io::{Read, Write};
    let addr = app.http.trim_start_matches("http://").to_string();
    tokio::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
        let request = format!(
            "POST /oauth/token HTTP/1.1\r\nHost: steward\r\n\
             Content-Type: application/x-www-form-urlencoded\r\n\
             Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n\
             {:x}\r\n{body}\r\n0\r\n\r\n",
            body.len()
        );
        // The server may answer before it has read everything.
        let _ = stream.write_all(request.as_bytes());
        let mut received = Vec::new();
        let mut buffer = [0u8; 4096];
        while let Ok(n) = stream.read(&mut buffer) {
            if n == 0 {
                break;
            }
            received.extend_from_slice(&buffer[..n]);
        }
        String::from_utf8_lossy(&received).into_owned()
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn a_chunked_form_larger_than_the_body_limit_is_413() {
    let app = spawn_app_with(|settings| settings.max_body_bytes = 2048).await;
    let big = format!("grant_type=client_credentials&scope={}", "a".repeat(4096));
    let response = raw_chunked_token_request(&app, big).await;
    assert!(response.starts_with("HTTP/1.1 413"), "response: {response}");
    assert!(response.contains("request_too_large"), "{response}");

    // A small chunked form is read normally (here: no credentials).
    let response =
        raw_chunked_token_request(&app, "grant_type=client_credentials".to_string()).await;
    assert!(response.starts_with("HTTP/1.1 401"), "response: {response}");
    assert!(response.contains("invalid_client"), "{response}");
    app.stop().await;
}

#[tokio::test]
async fn a_form_content_type_with_a_charset_is_accepted() {
    let app = spawn_app().await;
    let (id, secret) = app.create_client("alice", &[PROTECTION]).await;
    let response = post_token(
        &app,
        "application/x-www-form-urlencoded; charset=UTF-8",
        "grant_type=client_credentials&scope=uma_protection",
        Some((&id, &secret)),
    )
    .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["scope"], PROTECTION);

    // Form values are percent-decoded: the URI scope, encoded.
    let response = post_token(
        &app,
        "application/x-www-form-urlencoded",
        "grant_type=client_credentials&scope=http%3A%2F%2Fdocs.kantarainitiative.org%2Fuma%2Fscopes%2Fprot.json",
        Some((&id, &secret)),
    )
    .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["scope"], PROTECTION_URI);
    app.stop().await;
}

#[tokio::test]
async fn refused_token_requests_leave_the_database_unchanged() {
    let app = spawn_app().await;
    let (id, secret) = app.create_client("alice", &[PROTECTION]).await;
    let before = app.dump().await;

    assert_eq!(
        app.token_request(&id, "wrong", PROTECTION).await.status(),
        401
    );
    assert_eq!(
        app.token_request("unknown", "wrong", PROTECTION)
            .await
            .status(),
        401
    );
    assert_eq!(
        app.token_request(&id, &secret, AUTHORIZATION)
            .await
            .status(),
        400
    );
    let response = post_form(&app, &[("grant_type", "password")], Some((&id, &secret))).await;
    assert_eq!(response.status(), 400);
    let response = post_token(
        &app,
        "application/x-www-form-urlencoded",
        "grant_type=client_credentials&scope=a&scope=b",
        Some((&id, &secret)),
    )
    .await;
    assert_eq!(response.status(), 400);

    assert_eq!(app.dump().await, before);
    app.stop().await;
}

#[tokio::test]
async fn client_secrets_are_stored_only_as_argon2_hashes() {
    let app = spawn_app().await;
    let (id, secret) = app.create_client("alice", &[PROTECTION]).await;
    issue(&app, &id, &secret, PROTECTION).await;
    let dump = app.dump().await;
    assert!(dump.contains(&id), "the client is stored");
    assert!(!dump.contains(&secret), "the secret is stored in clear");
    assert!(dump.contains("$argon2"), "no argon2 hash in the database");
    app.stop().await;
}

// ---------------------------------------------------------------------------
// Bearer tokens on the protection API (HTTP)

#[tokio::test]
async fn a_request_without_a_bearer_token_gets_a_bare_challenge() {
    let app = spawn_app().await;
    assert_missing_token(list_sets(&app, None).await).await;
    // Another scheme counts as no token at all.
    assert_missing_token(list_sets(&app, Some("Basic xyz")).await).await;
    let rs = app.resource_server("alice").await;
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD
            .encode(format!("{}:{}", rs.client_id, rs.client_secret))
    );
    assert_missing_token(list_sets(&app, Some(&basic)).await).await;
    // An empty Bearer credential is no token either.
    assert_missing_token(list_sets(&app, Some("Bearer")).await).await;
    // The PAT itself works, with the scheme in any case (RFC 7235 §2.1).
    assert_eq!(list_with_pat(&app, &rs.pat).await.status(), 200);
    let lower = format!("bearer {}", rs.pat);
    assert_eq!(list_sets(&app, Some(&lower)).await.status(), 200);
    app.stop().await;
}

#[tokio::test]
async fn forged_tokens_are_invalid_token() {
    const ISSUER: &str = "https://as.example.com";
    let app = spawn_app_with(|settings| settings.issuer = Some(ISSUER.into())).await;
    let rs = app.resource_server("alice").await;
    let (real_header, claims) = jwt_parts(&rs.pat);
    let kid = real_header["kid"].as_str().unwrap().to_string();

    // Garbage.
    for junk in ["abc", "a.b.c", "eyJhbGciOiJFZERTQSJ9.e30.c2ln"] {
        assert_bearer_error(list_with_pat(&app, junk).await, 401, "invalid_token").await;
    }

    // A real PAT of another server (own database, so own key) with the same issuer.
    let foreign = spawn_app_with(|settings| settings.issuer = Some(ISSUER.into())).await;
    let foreign_rs = foreign.resource_server("alice").await;
    assert_eq!(list_with_pat(&foreign, &foreign_rs.pat).await.status(), 200);
    assert_bearer_error(
        list_with_pat(&app, &foreign_rs.pat).await,
        401,
        "invalid_token",
    )
    .await;

    // Our kid, our claims, somebody else's Ed25519 key.
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
    header.kid = Some(kid.clone());
    let key = jsonwebtoken::EncodingKey::from_ed_der(&ed25519_der([7; 32]));
    let forged = jsonwebtoken::encode(&header, &claims, &key).unwrap();
    assert_bearer_error(list_with_pat(&app, &forged).await, 401, "invalid_token").await;

    // HS256 "signed" with our public key (algorithm confusion).
    let jwks: Value = app
        .http_client
        .get(app.url("/oauth/jwks"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let public = URL_SAFE_NO_PAD
        .decode(jwks["keys"][0]["x"].as_str().unwrap())
        .unwrap();
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    header.kid = Some(kid);
    let confused = jsonwebtoken::encode(
        &header,
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(&public).unwrap(),
    )
    .unwrap();
    assert_bearer_error(list_with_pat(&app, &confused).await, 401, "invalid_token").await;

    // The genuine PAT still works.
    assert_eq!(list_with_pat(&app, &rs.pat).await.status(), 200);
    foreign.stop().await;
    app.stop().await;
}

#[tokio::test]
async fn a_tampered_payload_is_invalid_token() {
    let app = spawn_app().await;
    let alice = app.resource_server("alice").await;
    let created = app
        .put_resource_set(
            &alice.pat,
            "album",
            &json!({"name": "Album", "scopes": ["view"]}),
            None,
        )
        .await;
    assert_eq!(created.status(), 201);
    let mallory = app.resource_server("mallory").await;

    // Mallory rewrites her PAT to speak for Alice's namespace.
    let parts: Vec<&str> = mallory.pat.split('.').collect();
    let (_, mut claims) = jwt_parts(&mallory.pat);
    claims["sub"] = json!("alice");
    claims["client_id"] = json!(alice.client_id);
    let tampered = format!("{}.{}.{}", parts[0], encode_segment(&claims), parts[2]);
    assert_bearer_error(list_with_pat(&app, &tampered).await, 401, "invalid_token").await;

    // Only the subject changed, too.
    let (_, mut claims) = jwt_parts(&mallory.pat);
    claims["sub"] = json!("alice");
    let tampered = format!("{}.{}.{}", parts[0], encode_segment(&claims), parts[2]);
    assert_bearer_error(list_with_pat(&app, &tampered).await, 401, "invalid_token").await;

    // A pushed-back expiry.
    let (_, mut claims) = jwt_parts(&mallory.pat);
    claims["exp"] = json!(T0 + 10 * 365 * 24 * 3600);
    let tampered = format!("{}.{}.{}", parts[0], encode_segment(&claims), parts[2]);
    assert_bearer_error(list_with_pat(&app, &tampered).await, 401, "invalid_token").await;

    // Mallory's own PAT still sees only her (empty) namespace.
    let response = list_with_pat(&app, &mallory.pat).await;
    assert_eq!(response.json::<Value>().await.unwrap(), json!([]));
    app.stop().await;
}

#[tokio::test]
async fn an_unsigned_alg_none_token_is_invalid_token() {
    let app = spawn_app().await;
    let rs = app.resource_server("alice").await;
    let (real_header, _) = jwt_parts(&rs.pat);
    let payload = rs.pat.split('.').nth(1).unwrap();
    for alg in ["none", "None", "NONE"] {
        let none_header = encode_segment(&json!({"alg": alg, "kid": real_header["kid"]}));
        let unsigned = format!("{none_header}.{payload}.");
        assert_bearer_error(list_with_pat(&app, &unsigned).await, 401, "invalid_token").await;
    }
    // The real signature stuck under an alg=none header does not help either.
    let signature = rs.pat.split('.').nth(2).unwrap();
    let none_header = encode_segment(&json!({"alg": "none", "kid": real_header["kid"]}));
    let relabelled = format!("{none_header}.{payload}.{signature}");
    assert_bearer_error(list_with_pat(&app, &relabelled).await, 401, "invalid_token").await;
    app.stop().await;
}

#[tokio::test]
async fn an_expired_pat_is_invalid_token() {
    let app = spawn_app().await;
    let rs = app.resource_server("alice").await;
    app.clock.advance(3599);
    assert_eq!(list_with_pat(&app, &rs.pat).await.status(), 200);
    app.clock.advance(2);
    assert_bearer_error(list_with_pat(&app, &rs.pat).await, 401, "invalid_token").await;

    // A fresh PAT works again.
    let body = issue(&app, &rs.client_id, &rs.client_secret, PROTECTION).await;
    let fresh = body["access_token"].as_str().unwrap();
    assert_eq!(list_with_pat(&app, fresh).await.status(), 200);
    app.stop().await;
}

#[tokio::test]
async fn a_configured_token_lifetime_is_honoured() {
    let app = spawn_app_with(|settings| settings.access_token_ttl = 120).await;
    let (id, secret) = app.create_client("alice", &[PROTECTION]).await;
    let body = issue(&app, &id, &secret, PROTECTION).await;
    assert_eq!(body["expires_in"], 120);
    let pat = body["access_token"].as_str().unwrap();
    assert_eq!(jwt_parts(pat).1["exp"], T0 + 120);
    app.clock.advance(119);
    assert_eq!(list_with_pat(&app, pat).await.status(), 200);
    app.clock.advance(1);
    assert_bearer_error(list_with_pat(&app, pat).await, 401, "invalid_token").await;
    app.stop().await;
}

#[tokio::test]
async fn a_pat_from_another_issuer_is_invalid_token() {
    let first =
        spawn_app_with(|settings| settings.issuer = Some("https://a.example.com".into())).await;
    let second = spawn_settings(settings_on(&first.database_url, "https://b.example.com")).await;
    let rs = first.resource_server("alice").await;
    assert_eq!(list_with_pat(&first, &rs.pat).await.status(), 200);
    // Same database, same keys: the signature verifies, the issuer does not.
    assert_bearer_error(list_with_pat(&second, &rs.pat).await, 401, "invalid_token").await;
    let other = second.resource_server("alice").await;
    assert_eq!(list_with_pat(&second, &other.pat).await.status(), 200);
    assert_bearer_error(
        list_with_pat(&first, &other.pat).await,
        401,
        "invalid_token",
    )
    .await;
    second.stop().await;
    first.stop().await;
}

#[tokio::test]
async fn a_token_without_the_protection_scope_is_insufficient_scope() {
    let app = spawn_app().await;
    let (id, secret) = app.create_client("alice", &[AUTHORIZATION]).await;
    let body = issue(&app, &id, &secret, "").await;
    assert_eq!(body["scope"], AUTHORIZATION);
    let aat = body["access_token"].as_str().unwrap();
    assert_bearer_error(list_with_pat(&app, aat).await, 403, "insufficient_scope").await;
    // Nor can it write.
    let response = app
        .put_resource_set(
            aat,
            "album",
            &json!({"name": "Album", "scopes": ["view"]}),
            None,
        )
        .await;
    assert_bearer_error(response, 403, "insufficient_scope").await;
    app.stop().await;
}

// ---------------------------------------------------------------------------
// gRPC

#[tokio::test]
async fn grpc_refuses_missing_invalid_expired_and_insufficient_tokens() {
    let app = spawn_app().await;
    let rs = app.resource_server("alice").await;
    let (id, secret) = app.create_client("alice", &[AUTHORIZATION]).await;
    let aat = issue(&app, &id, &secret, AUTHORIZATION).await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let mut client = ResourceSetServiceClient::new(app.channel().await);

    let status = client
        .list_resource_sets(ListResourceSetsRequest {})
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    assert_eq!(grpc_error_code(&status), "missing_token");

    let status = client
        .list_resource_sets(bearer(ListResourceSetsRequest {}, "not-a-token"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    assert_eq!(grpc_error_code(&status), "invalid_token");

    let status = client
        .list_resource_sets(bearer(ListResourceSetsRequest {}, &aat))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    assert_eq!(grpc_error_code(&status), "insufficient_scope");

    let ids = client
        .list_resource_sets(bearer(ListResourceSetsRequest {}, &rs.pat))
        .await
        .unwrap()
        .into_inner()
        .ids;
    assert!(ids.is_empty());

    app.clock.advance(3601);
    let status = client
        .list_resource_sets(bearer(ListResourceSetsRequest {}, &rs.pat))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    assert_eq!(grpc_error_code(&status), "invalid_token");
    app.stop().await;
}

#[tokio::test]
async fn grpc_issue_token_authenticates_the_client_in_the_message() {
    let app = spawn_app().await;
    let (id, secret) = app.create_client("alice", &[PROTECTION]).await;
    let mut tokens = TokenServiceClient::new(app.channel().await);

    let issued = tokens
        .issue_token(IssueTokenRequest {
            grant_type: "client_credentials".into(),
            client_id: id.clone(),
            client_secret: secret.clone(),
            scope: PROTECTION_URI.into(),
            assertion: String::new(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(issued.token_type, "Bearer");
    assert_eq!(issued.expires_in, 3600);
    assert_eq!(issued.scope, PROTECTION_URI);
    let (_, claims) = jwt_parts(&issued.access_token);
    assert_eq!(claims["client_id"], json!(id));
    assert_eq!(claims["sub"], "alice");
    // The gRPC-issued PAT opens the HTTP protection API.
    assert_eq!(
        list_with_pat(&app, &issued.access_token).await.status(),
        200
    );

    let before = app.dump().await;
    let status = tokens
        .issue_token(IssueTokenRequest {
            grant_type: "client_credentials".into(),
            client_id: id.clone(),
            client_secret: format!("{secret}x"),
            scope: PROTECTION.into(),
            assertion: String::new(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    assert_eq!(grpc_error_code(&status), "invalid_client");

    let status = tokens
        .issue_token(IssueTokenRequest {
            grant_type: "client_credentials".into(),
            client_id: id.clone(),
            client_secret: secret.clone(),
            scope: AUTHORIZATION.into(),
            assertion: String::new(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(grpc_error_code(&status), "invalid_scope");

    let status = tokens
        .issue_token(IssueTokenRequest {
            grant_type: "password".into(),
            client_id: id,
            client_secret: secret,
            scope: PROTECTION.into(),
            assertion: String::new(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(grpc_error_code(&status), "unsupported_grant_type");
    assert_eq!(app.dump().await, before);
    app.stop().await;
}
