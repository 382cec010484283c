//! Photoz: a photo-album resource server guarded by `steward::guard`.
//!
//! It registers one resource set, `albums` (scopes `view` and `edit`), with
//! its PAT at start-up, then serves `GET /albums/{id}` (needs `view`) and
//! `PUT /albums/{id}` (needs `edit`) behind the UMA guard, which does the
//! resource server's side of the protocol against Steward.
//!
//! ```sh
//! cargo run --release -- client create --name photoz --owner alice --scope uma_protection
//! STEWARD_URL=http://127.0.0.1:8080 PHOTOZ_CLIENT_ID=… PHOTOZ_CLIENT_SECRET=… \
//!   cargo run --example photoz          # listens on 127.0.0.1:9090 (PHOTOZ_ADDR)
//! ```

use std::sync::Arc;

use axum::extract::{Extension, Path};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};
use steward::guard::{Granted, GuardConfig, Requirement, Resolver, UmaGuardLayer};

/// The resource set every album belongs to.
pub const ALBUMS: &str = "albums";

/// `GET /albums/{id}` → view, `PUT /albums/{id}` → edit; anything else unguarded.
pub fn resolver() -> Resolver {
    Arc::new(|parts: &http::request::Parts| {
        if !parts.uri.path().starts_with("/albums/") {
            return None;
        }
        let scope = match parts.method.as_str() {
            "GET" | "HEAD" => "view",
            _ => "edit",
        };
        Some(Requirement {
            resource_set_id: ALBUMS.into(),
            scopes: vec![scope.into()],
        })
    })
}

/// The service, guarded by `layer`.
pub fn router(layer: UmaGuardLayer) -> Router {
    Router::new()
        .route("/albums/{id}", get(show).put(replace))
        .route("/health", get(|| async { "ok" }))
        .layer(layer)
}

async fn show(Path(id): Path<String>, Extension(granted): Extension<Granted>) -> Json<Value> {
    Json(json!({"album": id, "photos": [], "granted": granted.scopes}))
}

async fn replace(Path(id): Path<String>, Extension(granted): Extension<Granted>) -> Json<Value> {
    Json(json!({"album": id, "replaced": true, "granted": granted.scopes}))
}

/// Gets a PAT and registers the `albums` set (already registered is fine).
pub async fn register(as_uri: &str, client_id: &str, secret: &str) -> Result<(), String> {
    let http = reqwest::Client::new();
    let token: Value = http
        .post(format!("{as_uri}/oauth/token"))
        .basic_auth(client_id, Some(secret))
        .form(&[
            ("grant_type", "client_credentials"),
            ("scope", "uma_protection"),
        ])
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .map_err(|e| format!("PAT: {e}"))?
        .json()
        .await
        .map_err(|e| format!("PAT: {e}"))?;
    let pat = token["access_token"].as_str().ok_or("no access_token")?;
    let created = http
        .put(format!("{as_uri}/uma/rs/resource_set/{ALBUMS}"))
        .bearer_auth(pat)
        .json(&json!({"name": "Photo albums", "scopes": ["view", "edit"], "uris": ["/albums/**"]}))
        .send()
        .await
        .map_err(|e| format!("resource set: {e}"))?;
    match created.status().as_u16() {
        201 => Ok(()),
        400 => Ok(()), // registered by an earlier start
        other => Err(format!("resource set registration answered {other}")),
    }
}

#[tokio::main]
async fn main() -> Result<(), String> {
    let var = |name: &str| std::env::var(name).map_err(|_| format!("set {name}"));
    let as_uri = std::env::var("STEWARD_URL").unwrap_or_else(|_| "http://127.0.0.1:8080".into());
    let client_id = var("PHOTOZ_CLIENT_ID")?;
    let secret = var("PHOTOZ_CLIENT_SECRET")?;
    let addr = std::env::var("PHOTOZ_ADDR").unwrap_or_else(|_| "127.0.0.1:9090".into());
    register(&as_uri, &client_id, &secret).await?;
    let layer = UmaGuardLayer::new(
        GuardConfig {
            as_uri,
            client_id,
            client_secret: secret.into(),
            realm: "photoz".into(),
            host_id: "photoz.example.com".into(),
        },
        resolver(),
    )
    .map_err(|e| e.to_string())?;
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .map_err(|e| format!("bind {addr}: {e}"))?;
    println!("photoz listening on http://{addr}");
    axum::serve(listener, router(layer))
        .await
        .map_err(|e| format!("serve: {e}"))
}
