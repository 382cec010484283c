//! Dynamic client registration (RFC 7591) at `dynamic_client_endpoint`,
//! and registration management (RFC 7592) at each client's
//! `registration_client_uri`.

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::extract::{Path, authorization, json_body};
use super::{Facade, authorized, paths};
use crate::domain::Error;
use crate::grpc::proto::{ClientMetadataRequest, ClientRegistration, ClientRegistrationRequest};

/// The registration as JSON, with its management URI, never cached.
fn render(
    facade: &Facade,
    status: StatusCode,
    registration: ClientRegistration,
) -> Result<Response, Error> {
    let mut body: Value = serde_json::from_str(&registration.registration_json)
        .map_err(|e| Error::Internal(format!("core sent a malformed registration: {e}")))?;
    let client_id = body["client_id"].as_str().unwrap_or_default().to_string();
    body["registration_client_uri"] = facade
        .url(&format!("{}/{client_id}", paths::REGISTRATION))
        .into();
    let mut response = (status, Json(body)).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    Ok(response)
}

/// `POST /oauth/register` with the initial access token: 201 and the new
/// client's credentials (its secret and registration access token, once).
pub async fn register(
    State(facade): State<Facade>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, Error> {
    let metadata = json_body(&headers, body, facade.max_body_bytes).await?;
    let registered = facade
        .clients
        .registration
        .clone()
        .register_client(authorized(
            ClientMetadataRequest {
                client_id: String::new(),
                metadata_json: metadata.to_string(),
            },
            authorization(&headers),
        ))
        .await?
        .into_inner();
    render(&facade, StatusCode::CREATED, registered)
}

/// `GET /oauth/register/{client_id}` with the registration access token.
pub async fn read(
    State(facade): State<Facade>,
    Path(client_id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, Error> {
    let found = facade
        .clients
        .registration
        .clone()
        .get_client_registration(authorized(
            ClientRegistrationRequest { client_id },
            authorization(&headers),
        ))
        .await?
        .into_inner();
    render(&facade, StatusCode::OK, found)
}

/// `PUT /oauth/register/{client_id}`: replaces the metadata.
pub async fn update(
    State(facade): State<Facade>,
    Path(client_id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, Error> {
    let metadata = json_body(&headers, body, facade.max_body_bytes).await?;
    let updated = facade
        .clients
        .registration
        .clone()
        .update_client_registration(authorized(
            ClientMetadataRequest {
                client_id,
                metadata_json: metadata.to_string(),
            },
            authorization(&headers),
        ))
        .await?
        .into_inner();
    render(&facade, StatusCode::OK, updated)
}

/// `DELETE /oauth/register/{client_id}`: 204; the client and its grants are gone.
pub async fn delete(
    State(facade): State<Facade>,
    Path(client_id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, Error> {
    facade
        .clients
        .registration
        .clone()
        .delete_client_registration(authorized(
            ClientRegistrationRequest { client_id },
            authorization(&headers),
        ))
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
