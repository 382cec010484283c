//! Authorization API tokens (draft-06 §3.4.1): AATs from `client_credentials`
//! in every scope spelling, and from the JWT bearer grant (RFC 7523) with
//! assertions of trusted upstream issuers (keys from a file or a `jwks_uri`).

// Helpers outside `#[test]` fns panic on purpose: a failed step fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::Response;
use serde_json::{Value, json};
use steward::app::Application;
use steward::config::{Settings, TrustedIssuer};
use steward::core::clients::NewClient;
use steward::core::{Core, CorePolicy};
use steward::domain::secret::OsEntropy;
use steward::store::Store;

use crate::helpers::{TestApp, spawn_app, spawn_app_with, test_settings};
use crate::idp::TestIdp;

const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
const AUTHORIZATION: &str = "uma_authorization";
const PROTECTION: &str = "uma_protection";
const IDP_ISSUER: &str = "https://idp.example.com";
const IDP_AUDIENCE: &str = "steward-test";

// ---------------------------------------------------------------------------
// Local helpers

/// Registers a client with explicit grant types, the way an operator does,
/// through a core of our own over the app's database.
async fn register_client(
    app: &TestApp,
    owner: &str,
    scopes: &[&str],
    grant_types: &[&str],
) -> (String, String) {
    let store = Store::connect(&app.database_url).await.expect("store");
    let core = Core::new(
        store,
        CorePolicy::from_settings(&Settings::default(), app.issuer.clone()),
        app.clock.clone(),
        Arc::new(OsEntropy),
    )
    .await
    .expect("core for client registration");
    let created = core
        .create_client(NewClient {
            name: format!("client of {owner}"),
            owner: Some(owner.to_string()),
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            grant_types: grant_types.iter().map(|s| s.to_string()).collect(),
            ..NewClient::default()
        })
        .await
        .expect("client created");
    (created.client_id, created.client_secret.into_exposed())
}

/// A client allowed the JWT bearer grant for AATs.
async fn jwt_client(app: &TestApp) -> (String, String) {
    register_client(app, "portal", &[AUTHORIZATION], &[JWT_BEARER]).await
}

/// A JWT bearer token request authenticated with HTTP Basic.
async fn jwt_bearer(
    app: &TestApp,
    client: &(String, String),
    assertion: Option<&str>,
    scope: &str,
) -> Response {
    let mut form = vec![("grant_type", JWT_BEARER), ("scope", scope)];
    if let Some(assertion) = assertion {
        form.push(("assertion", assertion));
    }
    app.http_client
        .post(app.url("/oauth/token"))
        .basic_auth(&client.0, Some(&client.1))
        .form(&form)
        .send()
        .await
        .expect("token request")
}

/// The decoded payload of a JWT.
fn jwt_payload(token: &str) -> Value {
    let segment = token.split('.').nth(1).expect("a JWT has a payload");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(segment).expect("base64url payload"))
        .expect("JSON payload")
}

fn b64(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap())
}

/// Asserts a 200 token response; returns the access token.
async fn access_token(response: Response) -> String {
    assert_eq!(response.status(), 200, "token issued");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer", "{body}");
    body["access_token"]
        .as_str()
        .expect("access_token")
        .to_string()
}

/// Asserts an OAuth/UMA JSON error; returns the body.
async fn assert_error(response: Response, status: u16, code: &str) -> Value {
    assert_eq!(response.status(), status, "HTTP status for `{code}`");
    let body: Value = response.json().await.expect("JSON error body");
    assert_eq!(body["error"], code, "error code in {body}");
    assert!(
        body["error_description"]
            .as_str()
            .is_some_and(|d| !d.is_empty()),
        "error_description in {body}"
    );
    assert!(body.get("access_token").is_none(), "no token in {body}");
    body
}

/// `POST {rpt_endpoint}` with a bearer token and no body.
async fn post_rpt(app: &TestApp, token: &str) -> Response {
    app.http_client
        .post(app.url("/uma/client/rpt"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

/// A new RPT for the AAT.
async fn new_rpt(app: &TestApp, aat: &str) -> String {
    let response = post_rpt(app, aat).await;
    assert_eq!(response.status(), 201, "RPT issued");
    let body: Value = response.json().await.unwrap();
    body["rpt"].as_str().expect("rpt").to_string()
}

async fn configuration(app: &TestApp) -> Value {
    let response = app
        .http_client
        .get(app.url("/.well-known/uma-configuration"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

/// Serves `jwks` at `http://127.0.0.1:PORT/jwks`; counts the fetches.
async fn serve_jwks(jwks: &JwkSet) -> (String, Arc<AtomicUsize>) {
    let body = serde_json::to_value(jwks).unwrap();
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    let router = axum::Router::new().route(
        "/jwks",
        axum::routing::get(move || {
            counter.fetch_add(1, Ordering::SeqCst);
            let body = body.clone();
            async move { axum::Json(body) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, router).await.unwrap();
    });
    (format!("http://{addr}/jwks"), hits)
}

/// Serves something that is not a JWK Set at `http://127.0.0.1:PORT/jwks`.
async fn serve_not_a_jwks() -> String {
    let router =
        axum::Router::new().route("/jwks", axum::routing::get(|| async { "not a JWK Set" }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, router).await.unwrap();
    });
    format!("http://{addr}/jwks")
}

/// A URL on a local port where nothing listens.
async fn dead_url() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}/jwks")
}

/// An app trusting `idp` (keys from its JWKS file).
async fn app_trusting(idp: &TestIdp) -> TestApp {
    let trusted = idp.trusted();
    spawn_app_with(move |s| s.trusted_issuers = vec![trusted]).await
}

// ---------------------------------------------------------------------------
// client_credentials AATs

#[tokio::test]
async fn every_aat_scope_spelling_yields_an_aat_for_the_client_itself() {
    let app = spawn_app().await;
    for spelling in [
        "uma_authorization",
        "http://docs.kantarainitiative.org/uma/scopes/authorization",
        "http://docs.kantarainitiative.org/uma/scopes/authz.json",
    ] {
        let (client_id, secret) = app.create_client("owner-of-app", &[spelling]).await;
        let aat = access_token(app.token_request(&client_id, &secret, spelling).await).await;
        let claims = jwt_payload(&aat);
        assert_eq!(
            claims["sub"],
            json!(client_id),
            "{spelling}: the requesting party is the client"
        );
        assert_eq!(claims["client_id"], json!(client_id), "{spelling}");
        assert_eq!(claims["iss"], json!(app.issuer), "{spelling}");

        // It opens the authorization API...
        let response = post_rpt(&app, &aat).await;
        assert_eq!(response.status(), 201, "{spelling}: RPT endpoint");
        let body: Value = response.json().await.unwrap();
        assert!(
            body["rpt"].as_str().is_some_and(|r| !r.is_empty()),
            "{spelling}: {body}"
        );

        // ...but not the protection API.
        let response = app
            .http_client
            .get(app.url("/uma/rs/resource_set"))
            .bearer_auth(&aat)
            .send()
            .await
            .unwrap();
        let challenge = response
            .headers()
            .get("www-authenticate")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        assert!(
            challenge.contains("insufficient_scope"),
            "{spelling}: challenge {challenge}"
        );
        assert_error(response, 403, "insufficient_scope").await;
    }
    app.stop().await;
}

#[tokio::test]
async fn a_pat_speaks_for_the_owner_and_does_not_open_the_authorization_api() {
    let app = spawn_app().await;
    let rs = app.resource_server("alice").await;
    let claims = jwt_payload(&rs.pat);
    assert_eq!(claims["sub"], "alice");
    assert_eq!(claims["client_id"], json!(rs.client_id));

    let before = app.dump().await;
    assert_error(post_rpt(&app, &rs.pat).await, 403, "insufficient_scope").await;
    assert_eq!(app.dump().await, before, "no RPT was stored");
    app.stop().await;
}

// ---------------------------------------------------------------------------
// Discovery

#[tokio::test]
async fn discovery_lists_jwt_bearer_only_when_an_issuer_is_trusted() {
    let app = spawn_app().await;
    let config = configuration(&app).await;
    assert_eq!(
        config["oauth_grant_types_supported"],
        json!(["client_credentials", "authorization_code", "refresh_token"])
    );
    assert_eq!(config["claim_profiles_supported"], json!(["openid"]));

    // The policy and pending-request endpoints are published under the
    // issuer and answer as the API (not the router's bare 404).
    let rs = app.resource_server("alice").await;
    for member in ["policy_endpoint", "pending_requests_endpoint"] {
        let url = config[member]
            .as_str()
            .unwrap_or_else(|| panic!("`{member}` missing: {config}"));
        assert!(
            url.starts_with(&app.issuer) && url.len() > app.issuer.len(),
            "`{member}` = {url} is not under {}",
            app.issuer
        );
    }
    let pending = config["pending_requests_endpoint"].as_str().unwrap();
    let path = pending.strip_prefix(app.issuer.as_str()).unwrap();
    let response = app
        .http_client
        .get(app.url(path))
        .bearer_auth(&rs.pat)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.json::<Value>().await.unwrap(), json!([]));
    let policies = config["policy_endpoint"].as_str().unwrap();
    let path = policies.strip_prefix(app.issuer.as_str()).unwrap();
    let response = app
        .http_client
        .get(app.url(&format!("{path}/no-such-set")))
        .bearer_auth(&rs.pat)
        .send()
        .await
        .unwrap();
    assert_error(response, 404, "not_found").await;
    app.stop().await;

    let idp = TestIdp::new(IDP_ISSUER, IDP_AUDIENCE);
    let app = app_trusting(&idp).await;
    let config = configuration(&app).await;
    assert_eq!(
        config["oauth_grant_types_supported"],
        json!([
            "client_credentials",
            "authorization_code",
            "refresh_token",
            JWT_BEARER
        ])
    );
    assert_eq!(config["claim_profiles_supported"], json!(["openid"]));
    app.stop().await;
}

// ---------------------------------------------------------------------------
// The JWT bearer grant

#[tokio::test]
async fn a_trusted_assertion_yields_an_aat_for_its_subject_carrying_its_claims() {
    let idp = TestIdp::new(IDP_ISSUER, IDP_AUDIENCE);
    let app = app_trusting(&idp).await;
    let now = app.clock_now();

    // The owner's resource server protects a diary; only alice's verified
    // email opens it.
    let rs = app.resource_server("olivia").await;
    let created = app
        .put_resource_set(
            &rs.pat,
            "diary",
            &json!({"name": "Diary", "scopes": ["read", "write"]}),
            None,
        )
        .await;
    assert_eq!(created.status(), 201);
    let response = app
        .http_client
        .post(app.url("/uma/rs/policy/diary"))
        .bearer_auth(&rs.pat)
        .json(&json!({
            "name": "alice by email",
            "scopes": ["read"],
            "claims": [{"name": "email", "equals": "alice@example.com"}],
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201, "policy created");

    let client = jwt_client(&app).await;
    let assertion = idp.token("alice", json!({"email": "alice@example.com"}), now + 300);
    let response = jwt_bearer(&app, &client, Some(&assertion), AUTHORIZATION).await;
    let cache = response
        .headers()
        .get("cache-control")
        .map(|v| v.to_str().unwrap().to_string());
    assert_eq!(cache.as_deref(), Some("no-store"));
    let aat = access_token(response).await;
    let claims = jwt_payload(&aat);
    assert_eq!(claims["sub"], "alice", "{claims}");
    assert_eq!(claims["client_id"], json!(client.0), "{claims}");
    assert_eq!(claims["iss"], json!(app.issuer), "{claims}");
    assert!(
        claims.to_string().contains("alice@example.com"),
        "the AAT carries the verified claims: {claims}"
    );

    // End to end: RPT, ticket, permission request with no pushed claims.
    let rpt = new_rpt(&app, &aat).await;
    let ticket = register_ticket(&app, &rs.pat, "diary", &["read"]).await;
    let response = app
        .http_client
        .post(app.url("/uma/client/perm"))
        .bearer_auth(&aat)
        .json(&json!({"rpt": rpt, "ticket": ticket}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        200,
        "the AAT's claims satisfy the policy"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["rpt"], json!(rpt));
    let response = app
        .http_client
        .post(app.url("/uma/rs/status"))
        .bearer_auth(&rs.pat)
        .json(&json!({"rpt": rpt}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let status: Value = response.json().await.unwrap();
    let permissions = status
        .as_array()
        .unwrap_or_else(|| panic!("an active RPT: {status}"));
    assert_eq!(permissions.len(), 1, "{status}");
    assert_eq!(permissions[0]["resource_set_id"], "diary");
    assert_eq!(permissions[0]["scopes"], json!(["read"]));

    // Controls: bob's email does not match; a client_credentials AAT has no
    // claims at all.
    let bob = idp.token("bob", json!({"email": "bob@example.com"}), now + 300);
    let bob_aat = access_token(jwt_bearer(&app, &client, Some(&bob), AUTHORIZATION).await).await;
    assert_eq!(jwt_payload(&bob_aat)["sub"], "bob");
    let bob_rpt = new_rpt(&app, &bob_aat).await;
    let ticket = register_ticket(&app, &rs.pat, "diary", &["read"]).await;
    let response = app
        .http_client
        .post(app.url("/uma/client/perm"))
        .bearer_auth(&bob_aat)
        .json(&json!({"rpt": bob_rpt, "ticket": ticket}))
        .send()
        .await
        .unwrap();
    assert_error(response, 403, "not_authorized_permission").await;

    let (plain_id, plain_secret) = app.create_client("someone", &[AUTHORIZATION]).await;
    let plain_aat = access_token(
        app.token_request(&plain_id, &plain_secret, AUTHORIZATION)
            .await,
    )
    .await;
    let plain_rpt = new_rpt(&app, &plain_aat).await;
    let ticket = register_ticket(&app, &rs.pat, "diary", &["read"]).await;
    let response = app
        .http_client
        .post(app.url("/uma/client/perm"))
        .bearer_auth(&plain_aat)
        .json(&json!({"rpt": plain_rpt, "ticket": ticket}))
        .send()
        .await
        .unwrap();
    let body = assert_error(response, 403, "need_claims").await;
    assert_eq!(body["required_claims"], json!(["email"]), "{body}");
    app.stop().await;
}

/// Registers a permission; returns the ticket.
async fn register_ticket(app: &TestApp, pat: &str, rsid: &str, scopes: &[&str]) -> String {
    let response = app
        .register_permission(pat, &json!({"resource_set_id": rsid, "scopes": scopes}))
        .await;
    assert_eq!(response.status(), 201, "permission registered");
    let body: Value = response.json().await.unwrap();
    body["ticket"].as_str().expect("ticket").to_string()
}

#[tokio::test]
async fn refused_assertions_are_invalid_grant_and_change_nothing() {
    let idp = TestIdp::new(IDP_ISSUER, IDP_AUDIENCE);
    let app = app_trusting(&idp).await;
    let now = app.clock_now();
    let client = jwt_client(&app).await;
    let exp = now + 300;

    let stranger = TestIdp::new("https://stranger.example.com", IDP_AUDIENCE);
    let mut forger = TestIdp::new(IDP_ISSUER, IDP_AUDIENCE);
    forger.kid = idp.kid.clone();
    let valid = idp.token("alice", json!({}), exp);
    let claims = |sub: Option<&str>| {
        let mut c = json!({"iss": IDP_ISSUER, "aud": IDP_AUDIENCE, "exp": exp, "iat": now});
        if let Some(sub) = sub {
            c["sub"] = json!(sub);
        }
        c
    };
    let none_header = b64(&json!({"alg": "none", "typ": "JWT", "kid": idp.kid}));
    let alg_none = format!("{none_header}.{}.", b64(&claims(Some("alice"))));
    // HS256 keyed with the IdP's public key bytes (the classic confusion).
    let public_x = serde_json::to_value(&idp.jwks).unwrap()["keys"][0]["x"]
        .as_str()
        .unwrap()
        .to_string();
    let mut hs_header = Header::new(Algorithm::HS256);
    hs_header.kid = Some(idp.kid.clone());
    let hs256 = jsonwebtoken::encode(
        &hs_header,
        &claims(Some("alice")),
        &EncodingKey::from_secret(public_x.as_bytes()).unwrap(),
    )
    .unwrap();
    let mut parts: Vec<&str> = valid.split('.').collect();
    let tampered_payload = b64(&claims(Some("mallory")));
    parts[1] = &tampered_payload;
    let tampered = parts.join(".");
    let mut no_exp = claims(Some("alice"));
    no_exp.as_object_mut().unwrap().remove("exp");

    let cases: Vec<(&str, String)> = vec![
        (
            "expired",
            idp.token("alice", json!({"iat": now - 3600}), now - 60),
        ),
        ("untrusted issuer", stranger.token("alice", json!({}), exp)),
        (
            "wrong audience",
            idp.sign(
                &json!({"iss": IDP_ISSUER, "aud": "someone-else", "sub": "alice", "exp": exp}),
            ),
        ),
        (
            "another key claiming the trusted issuer and kid",
            forger.token("alice", json!({}), exp),
        ),
        ("alg none", alg_none),
        ("HS256", hs256),
        ("missing sub", idp.sign(&claims(None))),
        ("empty sub", idp.token("", json!({}), exp)),
        ("missing exp", idp.sign(&no_exp)),
        (
            "not yet valid",
            idp.token("alice", json!({"nbf": now + 3600}), exp + 3600),
        ),
        (
            "not yet valid, nbf with a fraction",
            idp.token("alice", json!({"nbf": now as f64 + 3600.5}), exp + 3600),
        ),
        (
            "nbf as a string",
            idp.token("alice", json!({"nbf": (now + 3600).to_string()}), exp),
        ),
        ("tampered payload", tampered),
        ("garbage", "garbage".to_string()),
        ("three garbage segments", "a.b.c".to_string()),
    ];
    let before = app.dump().await;
    for (what, assertion) in &cases {
        let response = jwt_bearer(&app, &client, Some(assertion), AUTHORIZATION).await;
        assert_eq!(response.status(), 400, "{what}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "invalid_grant", "{what}: {body}");
        assert!(body.get("access_token").is_none(), "{what}: {body}");
        assert_eq!(app.dump().await, before, "{what}: database unchanged");
    }

    // Control: the same client with a good assertion is served, also one
    // whose nbf is a few seconds ahead (within the clock skew allowed).
    access_token(jwt_bearer(&app, &client, Some(&valid), AUTHORIZATION).await).await;
    let nearly = idp.token("alice", json!({"nbf": now + 10}), exp);
    access_token(jwt_bearer(&app, &client, Some(&nearly), AUTHORIZATION).await).await;
    app.stop().await;
}

#[tokio::test]
async fn malformed_jwt_bearer_requests_are_refused_with_their_own_codes() {
    let idp = TestIdp::new(IDP_ISSUER, IDP_AUDIENCE);
    let app = app_trusting(&idp).await;
    let now = app.clock_now();
    let assertion = idp.token("alice", json!({}), now + 300);
    let client = jwt_client(&app).await;
    let before = app.dump().await;

    // No assertion (or an empty one).
    assert_error(
        jwt_bearer(&app, &client, None, AUTHORIZATION).await,
        400,
        "invalid_request",
    )
    .await;
    assert_error(
        jwt_bearer(&app, &client, Some(""), AUTHORIZATION).await,
        400,
        "invalid_request",
    )
    .await;

    // An assertion yields AATs, never PATs, even for a client registered
    // for both scopes.
    let both = register_client(&app, "portal", &[AUTHORIZATION, PROTECTION], &[JWT_BEARER]).await;
    let before_both = app.dump().await;
    for scope in [PROTECTION, "uma_authorization uma_protection"] {
        assert_error(
            jwt_bearer(&app, &both, Some(&assertion), scope).await,
            400,
            "invalid_scope",
        )
        .await;
    }
    assert_eq!(app.dump().await, before_both);

    // A client registered only for client_credentials.
    let (plain_id, plain_secret) = app.create_client("portal", &[AUTHORIZATION]).await;
    let plain = (plain_id, plain_secret);
    let before_plain = app.dump().await;
    assert_error(
        jwt_bearer(&app, &plain, Some(&assertion), AUTHORIZATION).await,
        400,
        "unauthorized_client",
    )
    .await;
    // ...and a jwt-bearer-only client may not use client_credentials.
    assert_error(
        app.token_request(&client.0, &client.1, AUTHORIZATION).await,
        400,
        "unauthorized_client",
    )
    .await;

    // The client must authenticate.
    let wrong = (client.0.clone(), "not-the-secret".to_string());
    assert_error(
        jwt_bearer(&app, &wrong, Some(&assertion), AUTHORIZATION).await,
        401,
        "invalid_client",
    )
    .await;
    let response = app
        .http_client
        .post(app.url("/oauth/token"))
        .form(&[
            ("grant_type", JWT_BEARER),
            ("assertion", assertion.as_str()),
            ("scope", AUTHORIZATION),
        ])
        .send()
        .await
        .unwrap();
    assert_error(response, 401, "invalid_client").await;
    assert_eq!(app.dump().await, before_plain);
    assert_ne!(before, before_plain, "sanity: registrations were stored");
    app.stop().await;
}

#[tokio::test]
async fn jwt_bearer_without_trusted_issuers_is_unsupported_grant_type() {
    let app = spawn_app().await;
    let idp = TestIdp::new(IDP_ISSUER, IDP_AUDIENCE);
    let client = jwt_client(&app).await;
    let assertion = idp.token("alice", json!({}), app.clock_now() + 300);
    let before = app.dump().await;
    assert_error(
        jwt_bearer(&app, &client, Some(&assertion), AUTHORIZATION).await,
        400,
        "unsupported_grant_type",
    )
    .await;
    assert_eq!(app.dump().await, before);
    app.stop().await;
}

// ---------------------------------------------------------------------------
// Keys from a jwks_uri, and start-up checks

#[tokio::test]
async fn keys_are_fetched_from_a_jwks_uri() {
    let idp = TestIdp::new(IDP_ISSUER, IDP_AUDIENCE);
    let (jwks_uri, hits) = serve_jwks(&idp.jwks).await;
    let trusted = TrustedIssuer {
        issuer: IDP_ISSUER.into(),
        audience: IDP_AUDIENCE.into(),
        jwks_file: None,
        jwks_uri: Some(jwks_uri),
        ..Default::default()
    };
    let app = spawn_app_with(move |s| s.trusted_issuers = vec![trusted]).await;
    let now = app.clock_now();
    let client = jwt_client(&app).await;

    let assertion = idp.token("alice", json!({}), now + 300);
    let aat = access_token(jwt_bearer(&app, &client, Some(&assertion), AUTHORIZATION).await).await;
    assert_eq!(jwt_payload(&aat)["sub"], "alice");
    assert_eq!(hits.load(Ordering::SeqCst), 1, "keys fetched once");

    // Cached: a second assertion needs no fetch.
    let assertion = idp.token("bob", json!({}), now + 300);
    let aat = access_token(jwt_bearer(&app, &client, Some(&assertion), AUTHORIZATION).await).await;
    assert_eq!(jwt_payload(&aat)["sub"], "bob");
    assert_eq!(hits.load(Ordering::SeqCst), 1, "keys cached");

    // `aud` may be an array naming Steward's audience among others.
    let assertion = idp.sign(&json!({
        "iss": IDP_ISSUER, "aud": ["someone-else", IDP_AUDIENCE], "sub": "carol", "exp": now + 300
    }));
    let aat = access_token(jwt_bearer(&app, &client, Some(&assertion), AUTHORIZATION).await).await;
    assert_eq!(jwt_payload(&aat)["sub"], "carol");

    // The published keys still prove forgeries false.
    let mut forger = TestIdp::new(IDP_ISSUER, IDP_AUDIENCE);
    forger.kid = idp.kid.clone();
    let forged = forger.token("alice", json!({}), now + 300);
    assert_error(
        jwt_bearer(&app, &client, Some(&forged), AUTHORIZATION).await,
        400,
        "invalid_grant",
    )
    .await;
    app.stop().await;
}

#[tokio::test]
async fn an_unreachable_or_malformed_jwks_uri_is_invalid_grant_not_a_server_error() {
    let idp = TestIdp::new(IDP_ISSUER, IDP_AUDIENCE);
    for jwks_uri in [dead_url().await, serve_not_a_jwks().await] {
        let trusted = TrustedIssuer {
            issuer: IDP_ISSUER.into(),
            audience: IDP_AUDIENCE.into(),
            jwks_file: None,
            jwks_uri: Some(jwks_uri.clone()),
            ..Default::default()
        };
        let app = spawn_app_with(move |s| s.trusted_issuers = vec![trusted]).await;
        let client = jwt_client(&app).await;
        let assertion = idp.token("alice", json!({}), app.clock_now() + 300);
        let before = app.dump().await;
        for _ in 0..2 {
            let response = jwt_bearer(&app, &client, Some(&assertion), AUTHORIZATION).await;
            assert_eq!(response.status(), 400, "{jwks_uri}");
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["error"], "invalid_grant", "{jwks_uri}: {body}");
        }
        assert_eq!(app.dump().await, before);
        app.stop().await;
    }
}

#[tokio::test]
async fn start_up_refuses_an_unreadable_or_malformed_jwks_file() {
    let dir = std::env::temp_dir().join(format!("steward-jwks-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let missing = dir.join("missing.json");
    let mut files = vec![missing];
    for (name, content) in [
        ("not-json.json", "this is not JSON"),
        ("object.json", "{\"keys\": \"nope\"}"),
        ("empty-object.json", "{}"),
        ("array.json", "[1, 2, 3]"),
    ] {
        let path = dir.join(name);
        std::fs::write(&path, content).unwrap();
        files.push(path);
    }
    for file in files {
        let mut settings = test_settings().await;
        settings.trusted_issuers = vec![TrustedIssuer {
            issuer: IDP_ISSUER.into(),
            audience: IDP_AUDIENCE.into(),
            jwks_file: Some(file.clone()),
            jwks_uri: None,
            ..Default::default()
        }];
        match Application::build(settings).await {
            Ok(_) => panic!("{} must be refused at start-up", file.display()),
            Err(error) => {
                let name = file.file_name().unwrap().to_str().unwrap();
                assert!(
                    error.to_string().contains(name),
                    "the error names the file {name}: {error}"
                );
            }
        }
    }

    // Control: a real JWK Set starts.
    let idp = TestIdp::new(IDP_ISSUER, IDP_AUDIENCE);
    let mut settings = test_settings().await;
    settings.trusted_issuers = vec![idp.trusted()];
    assert!(Application::build(settings).await.is_ok());
}

#[tokio::test]
async fn an_aat_issued_for_a_large_assertion_is_usable_or_refused_up_front() {
    let idp = TestIdp::new(IDP_ISSUER, IDP_AUDIENCE);
    let app = app_trusting(&idp).await;
    let client = jwt_client(&app).await;
    // ~10 KiB of group claims: an assertion the server accepts for verification.
    let groups: Vec<String> = (0..500).map(|i| format!("group-{i:05}")).collect();
    let assertion = idp.token("alice", json!({"groups": groups}), app.clock_now() + 300);
    assert!(assertion.len() < 16 * 1024, "{}", assertion.len());
    let response = jwt_bearer(&app, &client, Some(&assertion), AUTHORIZATION).await;
    if response.status() == 200 {
        // Whatever the server issues must open the authorization API.
        let aat = access_token(response).await;
        let response = post_rpt(&app, &aat).await;
        assert_eq!(
            response.status(),
            201,
            "an AAT of {} bytes issued by this server is refused by it",
            aat.len()
        );
    } else {
        // ...or the assertion is refused with an OAuth error, not a 500.
        assert_eq!(response.status(), 400);
    }
    app.stop().await;
}
