//! Every value that carries a secret or private key, formatted with `{:?}`
//! (as a careless `tracing::debug!(?value)` would), shows no secret.

use crate::config::{Settings, TrustedIssuer};
use crate::core::IssuedToken;
use crate::core::authorization_endpoint::AuthorizationRequest;
use crate::core::claims_gathering::ClaimsRequest;
use crate::core::clients::CreatedClient;
use crate::core::registration::Registration;
use crate::core::upstream::{UpstreamReturn, UpstreamStart};
use crate::core::users::{NewUser, OpenedSession, SignedInUser};
use crate::core::{ClaimToken, IssuedTicket};
use crate::domain::grant::TokenRequest;
use crate::domain::secret::Secret;
use crate::guard::GuardConfig;
use crate::store::keys::KeyRecord;

const SECRET: &str = "s3cr3t-value-never-printed";

fn secret() -> Secret {
    Secret::new(SECRET)
}

fn assert_redacted(what: &str, debug: String) {
    assert!(!debug.contains(SECRET), "{what} prints a secret: {debug}");
    assert!(
        debug.contains("***"),
        "{what} shows no redacted field: {debug}"
    );
}

#[test]
fn no_secret_appears_in_debug_output() {
    let token_request = TokenRequest {
        grant_type: "authorization_code".into(),
        client_secret: secret(),
        assertion: secret(),
        code: secret(),
        code_verifier: secret(),
        refresh_token: secret(),
        ..TokenRequest::default()
    };
    assert_redacted("TokenRequest", format!("{token_request:?}"));
    let issued = IssuedToken {
        access_token: secret(),
        token_type: "Bearer",
        expires_in: 60,
        scope: "uma_authorization".into(),
        refresh_token: Some(secret()),
    };
    assert_redacted("IssuedToken", format!("{issued:?}"));
    let ticket = IssuedTicket {
        ticket: secret(),
        id: "t1".into(),
        expires_at: 0,
    };
    assert_redacted("IssuedTicket", format!("{ticket:?}"));
    let created = CreatedClient {
        client_id: "c1".into(),
        client_secret: secret(),
        client_name: "photoz".into(),
        owner: "alice".into(),
        scopes: vec![],
        grant_types: vec![],
        redirect_uris: vec![],
        token_endpoint_auth_method: "client_secret_basic",
        created_at: 0,
    };
    assert_redacted("CreatedClient", format!("{created:?}"));
    let registration = Registration {
        client_id: "c1".into(),
        client_secret: Some(secret()),
        client_id_issued_at: 0,
        client_secret_expires_at: Some(0),
        registration_access_token: Some(secret()),
        client_name: "photoz".into(),
        redirect_uris: vec![],
        grant_types: vec![],
        response_types: vec![],
        token_endpoint_auth_method: "client_secret_basic".into(),
        scope: String::new(),
        owner: "alice".into(),
    };
    assert_redacted("Registration", format!("{registration:?}"));
    let user = SignedInUser {
        subject: "alice".into(),
        claims: serde_json::Map::new(),
    };
    let session = OpenedSession {
        token: secret(),
        user,
        expires_at: 0,
    };
    assert_redacted("OpenedSession", format!("{session:?}"));
    let new_user = NewUser {
        username: "alice".into(),
        password: secret(),
        claims: serde_json::Map::new(),
    };
    assert_redacted("NewUser", format!("{new_user:?}"));
    let start = UpstreamStart {
        authorization_url: "https://idp/authorize".into(),
        state: secret(),
        nonce: secret(),
        code_verifier: secret(),
    };
    assert_redacted("UpstreamStart", format!("{start:?}"));
    let back = UpstreamReturn {
        code: secret(),
        code_verifier: secret(),
        nonce: secret(),
        ..UpstreamReturn::default()
    };
    assert_redacted("UpstreamReturn", format!("{back:?}"));
    let claims_request = ClaimsRequest {
        ticket: secret(),
        ..ClaimsRequest::default()
    };
    assert_redacted("ClaimsRequest", format!("{claims_request:?}"));
    let key = KeyRecord {
        kid: "k1".into(),
        algorithm: "EdDSA".into(),
        private_key: secret(),
        created_at: 0,
        retired_at: None,
    };
    assert_redacted("KeyRecord", format!("{key:?}"));
    let guard = GuardConfig {
        as_uri: "https://as".into(),
        client_id: "rs".into(),
        client_secret: secret(),
        realm: "photoz".into(),
        host_id: "photoz".into(),
    };
    assert_redacted("GuardConfig", format!("{guard:?}"));
    let settings = Settings {
        database_url: secret(),
        ext_authz_token: Some(secret()),
        registration_token: Some(secret()),
        facade_token: Some(secret()),
        trusted_issuers: vec![TrustedIssuer {
            client_secret: Some(secret()),
            ..TrustedIssuer::default()
        }],
        ..Settings::default()
    };
    assert_redacted("Settings", format!("{settings:?}"));
    let pushed = ClaimToken {
        format: "http://openid.net/specs/openid-connect-core-1_0.html#IDToken".into(),
        token: secret(),
    };
    assert_redacted("ClaimToken", format!("{pushed:?}"));
    // A request that carries no secret still formats (and says nothing).
    let _ = format!("{:?}", AuthorizationRequest::default());
}
