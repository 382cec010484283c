//! Enforcement profiles over HTTP, managed with the resource server's PAT at
//! `{enforcement_endpoint}`: `PUT` a profile (`{"hosts", "methods",
//! "upstream_headers"?}`), `GET` it, `DELETE` it.

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use super::extract::{authorization, json_body};
use super::{Facade, authorized};
use crate::domain::Error;
use crate::domain::enforcement::EnforcementProfile;
use crate::grpc::proto::{self, DeleteEnforcementProfileRequest, GetEnforcementProfileRequest};

fn profile_json(profile: proto::EnforcementProfile) -> Response {
    Json(EnforcementProfile::from(profile)).into_response()
}

/// `PUT {enforcement_endpoint}` → 200 with the stored (normalised) profile.
pub async fn put(
    State(facade): State<Facade>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, Error> {
    let document = json_body(&headers, body, facade.max_body_bytes).await?;
    let profile: EnforcementProfile = serde_json::from_value(document)
        .map_err(|e| Error::invalid_request(format!("invalid enforcement profile: {e}")))?;
    let stored = facade
        .clients
        .enforcement
        .clone()
        .set_enforcement_profile(authorized(profile.into(), authorization(&headers)))
        .await?
        .into_inner();
    Ok(profile_json(stored))
}

/// `GET {enforcement_endpoint}` → the profile, or 404.
pub async fn get(State(facade): State<Facade>, headers: HeaderMap) -> Result<Response, Error> {
    let profile = facade
        .clients
        .enforcement
        .clone()
        .get_enforcement_profile(authorized(
            GetEnforcementProfileRequest {},
            authorization(&headers),
        ))
        .await?
        .into_inner();
    Ok(profile_json(profile))
}

/// `DELETE {enforcement_endpoint}` → 204, or 404.
pub async fn delete(State(facade): State<Facade>, headers: HeaderMap) -> Result<Response, Error> {
    facade
        .clients
        .enforcement
        .clone()
        .delete_enforcement_profile(authorized(
            DeleteEnforcementProfileRequest {},
            authorization(&headers),
        ))
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
