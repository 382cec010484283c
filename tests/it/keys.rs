//! Signing-key rotation: tokens signed before a rotation keep verifying, new
//! ones use the new key, the old key leaves the JWKS once every token it
//! signed has expired — and a token signed by a removed key is refused.
//! Keys can also come from PEM files (a mounted Secret).

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use sea_orm::{ConnectionTrait, Database, Statement};
use serde_json::{Value, json};
use tokio::process::Command;

use crate::helpers::{TestApp, spawn_app, spawn_app_with};

pub(crate) fn kid_of(token: &str) -> String {
    let header = token.split('.').next().unwrap();
    let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).unwrap()).unwrap();
    header["kid"].as_str().unwrap().to_string()
}

async fn jwks_kids(app: &TestApp) -> Vec<String> {
    let jwks: Value = app
        .http_client
        .get(app.url("/oauth/jwks"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut kids: Vec<String> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_string())
        .collect();
    kids.sort();
    kids
}

async fn pat(app: &TestApp, id: &str, secret: &str) -> String {
    let body: Value = app
        .token_request(id, secret, "uma_protection")
        .await
        .json()
        .await
        .unwrap();
    body["access_token"].as_str().unwrap().to_string()
}

async fn works(app: &TestApp, pat: &str) -> u16 {
    app.http_client
        .get(app.url("/uma/rs/resource_set"))
        .bearer_auth(pat)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// The stored private key (base64 PKCS#8 DER) of `kid`.
pub(crate) async fn private_key(app: &TestApp, kid: &str) -> Option<Vec<u8>> {
    let db = Database::connect(app.database_url.as_str()).await.unwrap();
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            format!("SELECT private_key FROM signing_keys WHERE kid = '{kid}'"),
        ))
        .await
        .unwrap()?;
    let encoded: String = row.try_get("", "private_key").unwrap();
    Some(STANDARD.decode(encoded).unwrap())
}

#[tokio::test]
async fn rotation_keeps_old_tokens_valid_until_they_expire_then_drops_the_old_key() {
    let app = spawn_app().await;
    let (id, secret) = app.create_client("alice", &["uma_protection"]).await;
    let old = pat(&app, &id, &secret).await;
    let old_kid = kid_of(&old);
    let old_key = private_key(&app, &old_kid).await.expect("stored key");
    assert_eq!(jwks_kids(&app).await, vec![old_kid.clone()]);

    let new_kid = app.rotate_keys().await;
    assert_ne!(new_kid, old_kid);
    let new = pat(&app, &id, &secret).await;
    assert_eq!(kid_of(&new), new_kid, "new tokens use the new key");
    let mut both = vec![old_kid.clone(), new_kid.clone()];
    both.sort();
    assert_eq!(jwks_kids(&app).await, both, "the old key stays published");
    assert_eq!(
        works(&app, &old).await,
        200,
        "tokens signed before the rotation verify"
    );
    assert_eq!(works(&app, &new).await, 200);

    // Once every token the old key signed has expired (access_token_ttl plus
    // the clock-skew grace), the old key leaves the JWKS...
    app.clock.advance(3600 + 61);
    app.reload_keys().await;
    assert_eq!(jwks_kids(&app).await, vec![new_kid.clone()]);
    let fresh = pat(&app, &id, &secret).await;
    assert_eq!(works(&app, &fresh).await, 200);

    // ...and a token it signed is refused even if it claims to be valid for years.
    let now = app.clock_now();
    let forged_claims = json!({
        "iss": app.issuer, "sub": "alice", "client_id": id, "scope": "uma_protection",
        "iat": now, "exp": now + 10 * 365 * 86_400, "jti": "long-lived",
    });
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some(old_kid.clone());
    let forged =
        jsonwebtoken::encode(&header, &forged_claims, &EncodingKey::from_ed_der(&old_key)).unwrap();
    assert_eq!(
        works(&app, &forged).await,
        401,
        "a removed key verifies nothing"
    );
    assert!(
        private_key(&app, &old_kid).await.is_none() || {
            // A later rotation deletes retired keys from the database.
            app.rotate_keys().await;
            private_key(&app, &old_kid).await.is_none()
        }
    );
    app.stop().await;
}

#[tokio::test]
async fn steward_keys_rotate_on_the_database_reaches_a_running_server() {
    let app = spawn_app().await;
    let before = jwks_kids(&app).await;
    let output = Command::new(env!("CARGO_BIN_EXE_steward"))
        .env_clear()
        .env("STEWARD_DATABASE_URL", &app.database_url)
        .args(["keys", "rotate"])
        .output()
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8(output.stdout).unwrap();
    let kid = stdout.trim().rsplit(' ').next().unwrap().to_string();
    // The server sees the key-set counter move within a cache refresh.
    let mut kids = Vec::new();
    for _ in 0..50 {
        kids = jwks_kids(&app).await;
        if kids.contains(&kid) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(kids.contains(&kid), "{kids:?}");
    assert!(kids.contains(&before[0]), "the old key still verifies");
    let (id, secret) = app.create_client("alice", &["uma_protection"]).await;
    assert_eq!(kid_of(&pat(&app, &id, &secret).await), kid);
    app.stop().await;
}

/// A PEM PKCS#8 Ed25519 private key from a seed.
fn pem(seed: u8) -> String {
    let mut der = vec![
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];
    der.extend_from_slice(&[seed; 32]);
    format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        STANDARD.encode(der)
    )
}

#[tokio::test]
async fn keys_can_come_from_pem_files_and_are_then_rotated_by_the_operator() {
    let dir = std::env::temp_dir().join(format!("steward-keys-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let (current, previous) = (dir.join("signing-key.pem"), dir.join("previous.pem"));
    std::fs::write(&current, pem(1)).unwrap();
    std::fs::write(&previous, pem(2)).unwrap();

    let files = (current.clone(), previous.clone());
    let app = spawn_app_with(move |s| {
        s.signing_key_file = Some(files.0);
        s.previous_signing_key_file = Some(files.1);
    })
    .await;
    let kids = jwks_kids(&app).await;
    assert_eq!(kids.len(), 2, "signer and previous key both published");
    let (id, secret) = app.create_client("alice", &["uma_protection"]).await;
    let token = pat(&app, &id, &secret).await;
    assert_eq!(works(&app, &token).await, 200);
    let first_kid = kid_of(&token);
    assert!(
        private_key(&app, &first_kid).await.is_none(),
        "file keys are not copied into the database"
    );
    app.stop().await;

    // The same file on another server gives the same kid (derived from the key).
    let again = current.clone();
    let app = spawn_app_with(move |s| s.signing_key_file = Some(again)).await;
    let (id, secret) = app.create_client("alice", &["uma_protection"]).await;
    assert_eq!(kid_of(&pat(&app, &id, &secret).await), first_kid);
    app.stop().await;

    // A file that is not an Ed25519 PEM key fails start-up clearly.
    std::fs::write(&current, "not a key").unwrap();
    let mut settings = crate::helpers::test_settings().await;
    settings.signing_key_file = Some(current.clone());
    match steward::app::Application::build(settings).await {
        Ok(_) => panic!("a bad key file must fail start-up"),
        Err(e) => assert!(e.description().contains("PRIVATE KEY"), "{e}"),
    }
}
