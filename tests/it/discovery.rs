//! `/.well-known/uma-configuration` (draft-06 §1.5) and the JWK Set its
//! `jwks_uri` names.

// `allow-unwrap-in-tests` covers `#[test]` bodies only, not these helpers.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use steward::config::{Secret, Settings};

use crate::helpers::{TestApp, spawn_app, spawn_app_with, spawn_settings};

/// Every endpoint member the configuration document must publish.
const ENDPOINT_MEMBERS: [&str; 10] = [
    "token_endpoint",
    "user_endpoint",
    "resource_set_registration_endpoint",
    "permission_registration_endpoint",
    "rpt_endpoint",
    "rpt_status_endpoint",
    "permission_request_endpoint",
    "introspection_endpoint",
    "jwks_uri",
    "requesting_party_claims_endpoint",
];

/// Settings for a second server on an existing database (no fresh database
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

/// Fetches the JWK Set from the URL the configuration names, mapped onto
/// this app's actual listener (the issuer may be a public URL).
async fn jwks(app: &TestApp) -> Value {
    let config = configuration(app).await;
    let jwks_uri = config["jwks_uri"].as_str().unwrap();
    let path = jwks_uri
        .strip_prefix(app.issuer.as_str())
        .expect("jwks_uri is under the issuer");
    let response = app.http_client.get(app.url(path)).send().await.unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

fn jwt_header(token: &str) -> Value {
    let segment = token.split('.').next().unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(segment).unwrap()).unwrap()
}

#[tokio::test]
async fn configuration_document_has_every_required_member() {
    let app = spawn_app().await;
    let response = app
        .http_client
        .get(app.url("/.well-known/uma-configuration"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"].to_str().unwrap();
    assert!(
        content_type.starts_with("application/json"),
        "content type {content_type}"
    );
    assert_eq!(response.headers()["access-control-allow-origin"], "*");
    let config: Value = response.json().await.unwrap();

    assert_eq!(config["version"], "1.0");
    assert_eq!(config["issuer"], json!(app.issuer));
    assert_eq!(app.issuer, app.http, "the default issuer is the bound URL");
    let profiles = config["oauth_token_profiles_supported"].as_array().unwrap();
    assert!(profiles.contains(&json!("bearer")), "{config}");
    let profiles = config["uma_token_profiles_supported"].as_array().unwrap();
    assert!(profiles.contains(&json!("bearer")), "{config}");
    assert_eq!(
        config["oauth_grant_types_supported"],
        json!(["client_credentials", "authorization_code", "refresh_token"])
    );
    for member in ENDPOINT_MEMBERS {
        let url = config[member]
            .as_str()
            .unwrap_or_else(|| panic!("`{member}` is missing: {config}"));
        assert!(
            url.starts_with(&app.issuer) && url.len() > app.issuer.len(),
            "`{member}` = {url} is not under the issuer {}",
            app.issuer
        );
    }
    assert_eq!(config["token_endpoint"], json!(app.url("/oauth/token")));
    app.stop().await;
}

#[tokio::test]
async fn published_endpoints_are_served_where_the_document_says() {
    let app = spawn_app().await;
    let config = configuration(&app).await;
    let rs = app.resource_server("alice").await;

    // The token endpoint issues a PAT ...
    let (id, secret) = app.create_client("alice", &["uma_protection"]).await;
    let response = app
        .http_client
        .post(config["token_endpoint"].as_str().unwrap())
        .basic_auth(&id, Some(&secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    // ... and the resource set registration endpoint lists the PAT's sets.
    let rsreg = config["resource_set_registration_endpoint"]
        .as_str()
        .unwrap();
    let response = app
        .http_client
        .get(format!("{rsreg}/resource_set"))
        .bearer_auth(&rs.pat)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.json::<Value>().await.unwrap(), json!([]));

    // ... and the permission registration endpoint knows the PAT too.
    let response = app
        .http_client
        .post(config["permission_registration_endpoint"].as_str().unwrap())
        .bearer_auth(&rs.pat)
        .json(&json!({"resource_set_id": "nothing-here", "scopes": ["view"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_resource_set_id");
    app.stop().await;
}

#[tokio::test]
async fn an_explicit_issuer_is_published() {
    let app =
        spawn_app_with(|settings| settings.issuer = Some("https://as.example.com".into())).await;
    assert_eq!(app.issuer, "https://as.example.com");
    let config = configuration(&app).await;
    assert_eq!(config["issuer"], "https://as.example.com");
    for member in ENDPOINT_MEMBERS {
        let url = config[member].as_str().unwrap();
        assert!(
            url.starts_with("https://as.example.com/"),
            "`{member}` = {url} is not under the explicit issuer"
        );
        assert!(!url.contains("127.0.0.1"), "`{member}` = {url}");
    }
    assert_eq!(
        config["token_endpoint"],
        "https://as.example.com/oauth/token"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_trailing_slash_on_the_issuer_does_not_double_slashes() {
    let app =
        spawn_app_with(|settings| settings.issuer = Some("https://as.example.com/".into())).await;
    let config = configuration(&app).await;
    assert_eq!(config["issuer"], "https://as.example.com");
    assert_eq!(
        config["token_endpoint"],
        "https://as.example.com/oauth/token"
    );
    app.stop().await;
}

#[tokio::test]
async fn jwks_publishes_public_ed25519_keys_naming_the_pat_kid() {
    let app = spawn_app().await;
    let jwks = jwks(&app).await;
    let keys = jwks["keys"].as_array().expect("a `keys` array");
    assert!(!keys.is_empty(), "{jwks}");
    for key in keys {
        assert!(key["kid"].as_str().is_some_and(|k| !k.is_empty()), "{key}");
        assert_eq!(key["kty"], "OKP", "{key}");
        assert_eq!(key["crv"], "Ed25519", "{key}");
        assert_eq!(key["alg"], "EdDSA", "{key}");
        let x = URL_SAFE_NO_PAD
            .decode(key["x"].as_str().expect("public key `x`"))
            .unwrap();
        assert_eq!(x.len(), 32, "an Ed25519 public key is 32 bytes");
        assert!(key.get("d").is_none(), "private key published: {key}");
    }

    let rs = app.resource_server("alice").await;
    let header = jwt_header(&rs.pat);
    assert_eq!(header["alg"], "EdDSA");
    let kid = header["kid"].as_str().expect("the PAT names its key");
    assert!(
        keys.iter().any(|k| k["kid"] == kid),
        "PAT kid {kid} is not in {jwks}"
    );
    app.stop().await;
}

#[tokio::test]
async fn signing_keys_persist_across_servers_on_one_database() {
    const ISSUER: &str = "https://as.example.com";
    let first = spawn_app_with(|settings| settings.issuer = Some(ISSUER.into())).await;
    let first_jwks = jwks(&first).await;
    let rs = first.resource_server("alice").await;
    let created = first
        .put_resource_set(
            &rs.pat,
            "album",
            &json!({"name": "Album", "scopes": ["view"]}),
            None,
        )
        .await;
    assert_eq!(created.status(), 201);

    let second = spawn_settings(settings_on(&first.database_url, ISSUER)).await;
    assert_eq!(
        jwks(&second).await,
        first_jwks,
        "the same keys are published"
    );

    // A PAT the first server signed opens the second one.
    let response = second
        .http_client
        .get(second.url("/uma/rs/resource_set"))
        .bearer_auth(&rs.pat)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.json::<Value>().await.unwrap(), json!(["album"]));

    // And the second signs with the same key.
    let other = second.resource_server("bob").await;
    assert_eq!(jwt_header(&other.pat)["kid"], jwt_header(&rs.pat)["kid"]);
    second.stop().await;
    first.stop().await;
}

#[tokio::test]
async fn servers_on_different_databases_have_different_keys() {
    let first = spawn_app().await;
    let second = spawn_app().await;
    let kids = |jwks: &Value| -> Vec<String> {
        jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap().to_string())
            .collect()
    };
    let (a, b) = (jwks(&first).await, jwks(&second).await);
    assert!(kids(&a).iter().all(|k| !kids(&b).contains(k)), "{a} / {b}");
    assert_ne!(a["keys"][0]["x"], b["keys"][0]["x"]);
    second.stop().await;
    first.stop().await;
}
