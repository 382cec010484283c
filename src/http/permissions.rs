//! Permission registration over HTTP (draft-06 §3.2).

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::extract::{authorization, json_body, string_member};
use super::{Facade, authorized, paths};
use crate::domain::Error;
use crate::grpc::proto::RegisterPermissionRequest;

/// `POST {permission_registration_endpoint}` with `{resource_set_id, scopes}`
/// (flat, or wrapped in `requested_permission` as the prose says).
/// → 201, `Location`, `{"ticket"}`.
pub async fn register(
    State(facade): State<Facade>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, Error> {
    let document = json_body(&headers, body, facade.max_body_bytes).await?;
    let request = parse(&document)?;
    let issued = facade
        .clients
        .permissions
        .clone()
        .register_permission(authorized(request, authorization(&headers)))
        .await?
        .into_inner();
    let mut response =
        (StatusCode::CREATED, Json(json!({"ticket": issued.ticket}))).into_response();
    let location = facade.url(&format!(
        "{}/{}",
        paths::PERMISSION_REGISTRATION,
        issued.ticket_id
    ));
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

fn parse(document: &Value) -> Result<RegisterPermissionRequest, Error> {
    let object = match document.get("requested_permission") {
        Some(inner) => inner,
        None => document,
    };
    if !object.is_object() {
        return Err(Error::invalid_request(
            "the permission request must be a JSON object",
        ));
    }
    let resource_set_id = string_member(object, "resource_set_id")?
        .ok_or_else(|| Error::invalid_request("`resource_set_id` is required"))?;
    let scopes = match object.get("scopes") {
        Some(Value::Array(items)) => items
            .iter()
            .map(|s| {
                s.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| Error::invalid_request("`scopes` must be an array of strings"))
            })
            .collect::<Result<Vec<_>, _>>()?,
        Some(_) => {
            return Err(Error::invalid_request(
                "`scopes` must be an array of strings",
            ));
        }
        None => return Err(Error::invalid_request("`scopes` is required")),
    };
    Ok(RegisterPermissionRequest {
        resource_set_id,
        scopes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flat_and_wrapped_bodies_are_read_alike() {
        let flat = json!({"resource_set_id": "a", "scopes": ["v"]});
        let wrapped = json!({"requested_permission": {"resource_set_id": "a", "scopes": ["v"]}});
        assert_eq!(parse(&flat).unwrap(), parse(&wrapped).unwrap());
        assert!(parse(&json!({"scopes": ["v"]})).is_err());
        assert!(parse(&json!({"resource_set_id": "a"})).is_err());
        assert!(parse(&json!({"resource_set_id": 1, "scopes": ["v"]})).is_err());
        assert!(parse(&json!([1])).is_err());
    }
}
