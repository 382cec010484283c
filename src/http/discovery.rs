//! `/.well-known/uma-configuration` (draft-06 §1.5) and the JWKS.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::{Facade, authorized, paths};
use crate::domain::Error;
use crate::grpc::proto::{GetJwksRequest, GetMetadataRequest};

/// The configuration document: every member draft-06 requires, URLs under
/// the issuer, plus `jwks_uri` and UMA 1.0's `introspection_endpoint`.
pub async fn configuration(State(facade): State<Facade>) -> Result<Response, Error> {
    let metadata = facade
        .clients
        .tokens
        .clone()
        .get_metadata(authorized(GetMetadataRequest {}, None))
        .await?
        .into_inner();
    let document = json!({
        "version": "1.0",
        "issuer": facade.issuer,
        "oauth_token_profiles_supported": ["bearer"],
        "uma_token_profiles_supported": ["bearer"],
        "oauth_grant_types_supported": metadata.grant_types_supported,
        "claim_profiles_supported": metadata.claim_profiles_supported,
        "token_endpoint": facade.url(paths::TOKEN),
        "user_endpoint": facade.url(paths::AUTHORIZE),
        "resource_set_registration_endpoint": facade.url(paths::RESOURCE_SET_REGISTRATION),
        "permission_registration_endpoint": facade.url(paths::PERMISSION_REGISTRATION),
        "rpt_endpoint": facade.url(paths::RPT),
        "rpt_status_endpoint": facade.url(paths::RPT_STATUS),
        "permission_request_endpoint": facade.url(paths::PERMISSION_REQUEST),
        "introspection_endpoint": facade.url(paths::INTROSPECTION),
        "jwks_uri": facade.url(paths::JWKS),
        "policy_endpoint": facade.url(paths::POLICIES),
        "pending_requests_endpoint": facade.url(paths::PENDING),
        "enforcement_endpoint": facade.url(paths::ENFORCEMENT),
        "requesting_party_claims_endpoint": facade.url(paths::CLAIMS),
    });
    let mut document = document;
    if metadata.registration_open {
        document["dynamic_client_endpoint"] = facade.url(paths::REGISTRATION).into();
        document["registration_endpoint"] = facade.url(paths::REGISTRATION).into();
    }
    let mut response = Json(document).into_response();
    response.headers_mut().insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    Ok(response)
}

/// The public signing keys (RFC 7517).
pub async fn jwks(State(facade): State<Facade>) -> Result<Response, Error> {
    let jwks = facade
        .clients
        .tokens
        .clone()
        .get_jwks(authorized(GetJwksRequest {}, None))
        .await?
        .into_inner()
        .jwks_json;
    let value: Value = serde_json::from_str(&jwks)
        .map_err(|e| Error::Internal(format!("core sent malformed JWKS: {e}")))?;
    let mut response = Json(value).into_response();
    response.headers_mut().insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    Ok(response)
}
