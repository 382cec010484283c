//! Dynamic client registration (RFC 7591) and management (RFC 7592).

use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app, spawn_app_with};

const INITIAL: &str = "initial-access-token-for-tests";

async fn registering() -> TestApp {
    spawn_app_with(|s| s.registration_token = Some(steward::config::Secret::new(INITIAL))).await
}

async fn post(app: &TestApp, token: Option<&str>, body: &Value) -> (u16, Value) {
    let mut request = app.http_client.post(app.url("/oauth/register")).json(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn registration_is_closed_without_an_initial_access_token() {
    let app = spawn_app().await;
    let config: Value = app
        .http_client
        .get(app.url("/.well-known/uma-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        config.get("dynamic_client_endpoint").is_none(),
        "not advertised"
    );
    let (status, body) = post(
        &app,
        Some("anything-at-all-here"),
        &json!({"client_name": "x"}),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"], "access_denied");
    app.stop().await;
}

#[tokio::test]
async fn a_registered_client_is_read_updated_used_and_deleted() {
    let app = registering().await;
    let config: Value = app
        .http_client
        .get(app.url("/.well-known/uma-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        config["dynamic_client_endpoint"],
        app.url("/oauth/register")
    );
    let before = app.dump().await;
    for token in [None, Some("wrong-initial-access-token")] {
        let (status, body) = post(&app, token, &json!({"client_name": "x"})).await;
        assert_eq!(status, 401, "{body}");
    }
    assert_eq!(app.dump().await, before, "nothing registered");

    let (status, created) = post(
        &app,
        Some(INITIAL),
        &json!({
            "client_name": "Photo Album",
            "redirect_uris": ["https://album.example/cb"],
            "grant_types": ["authorization_code", "refresh_token", "client_credentials"],
            "response_types": ["code"],
            "scope": "uma_protection",
            "owner": "olivia",
            "logo_uri": "https://album.example/logo.png"
        }),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let id = created["client_id"].as_str().unwrap().to_string();
    let secret = created["client_secret"].as_str().unwrap().to_string();
    let management = created["registration_access_token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        created["registration_client_uri"],
        app.url(&format!("/oauth/register/{id}"))
    );
    assert_eq!(created["client_secret_expires_at"], 0);
    assert_eq!(created["token_endpoint_auth_method"], "client_secret_basic");
    let dump = app.dump().await;
    assert!(
        !dump.contains(&secret) && !dump.contains(&management),
        "stored hashed only"
    );

    // Its credentials work at the token endpoint (a PAT for its owner).
    let pat = app.token_request(&id, &secret, "uma_protection").await;
    assert_eq!(pat.status(), 200);

    let uri = created["registration_client_uri"]
        .as_str()
        .unwrap()
        .to_string();
    let read: Value = app
        .http_client
        .get(&uri)
        .bearer_auth(&management)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(read["client_name"], "Photo Album");
    assert!(read.get("client_secret").is_none());
    for token in [INITIAL, "nope", &secret] {
        let response = app
            .http_client
            .get(&uri)
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401, "{token}");
    }
    let foreign = app
        .http_client
        .get(app.url("/oauth/register/someone-else"))
        .bearer_auth(&management)
        .send()
        .await
        .unwrap();
    assert_eq!(foreign.status(), 401);

    let updated = app
        .http_client
        .put(&uri)
        .bearer_auth(&management)
        .json(&json!({"client_id": id, "client_name": "Album 2", "redirect_uris": ["https://album.example/cb2"], "grant_types": ["client_credentials"], "scope": "uma_protection"}))
        .send()
        .await
        .unwrap();
    assert_eq!(updated.status(), 200);
    let updated: Value = updated.json().await.unwrap();
    assert_eq!(updated["client_name"], "Album 2");
    assert_eq!(updated["grant_types"], json!(["client_credentials"]));
    assert_eq!(updated["owner"], "olivia", "kept when not named");
    let switch = app.http_client.put(&uri).bearer_auth(&management)
        .json(&json!({"client_name": "x", "token_endpoint_auth_method": "none", "redirect_uris": ["https://a.example/cb"]}))
        .send().await.unwrap();
    assert_eq!(switch.status(), 400);

    let deleted = app
        .http_client
        .delete(&uri)
        .bearer_auth(&management)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    let gone = app
        .http_client
        .get(&uri)
        .bearer_auth(&management)
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), 401);
    let refused = app.token_request(&id, &secret, "uma_protection").await;
    assert_eq!(
        refused.status(),
        401,
        "a deleted client cannot authenticate"
    );
    app.stop().await;
}

#[tokio::test]
async fn bad_metadata_is_refused_with_the_rfc_7591_errors() {
    let app = registering().await;
    let before = app.dump().await;
    for (metadata, code) in [
        (
            json!({"redirect_uris": ["http://app.example/cb"]}),
            "invalid_redirect_uri",
        ),
        (
            json!({"redirect_uris": ["https://app.example/cb#x"]}),
            "invalid_redirect_uri",
        ),
        (
            json!({"grant_types": ["authorization_code"]}),
            "invalid_redirect_uri",
        ),
        (
            json!({"grant_types": ["password"]}),
            "invalid_client_metadata",
        ),
        (
            json!({"token_endpoint_auth_method": "private_key_jwt"}),
            "invalid_client_metadata",
        ),
        (
            json!({"response_types": ["token"], "redirect_uris": ["https://a.example/cb"]}),
            "invalid_client_metadata",
        ),
        (
            json!({"token_endpoint_auth_method": "none", "grant_types": ["client_credentials"]}),
            "invalid_client_metadata",
        ),
        (
            json!({"client_name": "x".repeat(300)}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": "https://a.example/cb"}),
            "invalid_client_metadata",
        ),
    ] {
        let (status, body) = post(&app, Some(INITIAL), &metadata).await;
        assert_eq!(status, 400, "{metadata}: {body}");
        assert_eq!(body["error"], code, "{metadata}: {body}");
    }
    assert_eq!(app.dump().await, before, "nothing registered");

    // A public client: no secret, and PKCE is its protection.
    let (status, public) = post(&app, Some(INITIAL), &json!({"client_name": "CLI", "token_endpoint_auth_method": "none", "redirect_uris": ["http://127.0.0.1:7777/cb"], "scope": "uma_authorization"})).await;
    assert_eq!(status, 201, "{public}");
    assert!(public.get("client_secret").is_none(), "{public}");
    assert_eq!(public["grant_types"], json!(["authorization_code"]));
    app.stop().await;
}
