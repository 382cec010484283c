//! Resource set registration over HTTP (resource-reg-00 §2.3): `PUT`
//! creates (no `If-Match`) or updates (with `If-Match`), `GET` reads or lists,
//! `DELETE` deletes; any other method is `unsupported_method_type`.

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::extract::{Path, authorization, json_body};
use super::{Facade, authorized};
use crate::domain::Error;
use crate::domain::resource_set::ResourceSetDescription;
use crate::grpc::proto::{
    CreateResourceSetRequest, DeleteResourceSetRequest, GetResourceSetRequest,
    ListResourceSetsRequest, ResourceSetRevision, UpdateResourceSetRequest,
};

fn if_match(headers: &HeaderMap) -> Result<Option<String>, Error> {
    headers
        .get(header::IF_MATCH)
        .map(|v| {
            v.to_str()
                .map(str::to_string)
                .map_err(|_| Error::invalid_request("If-Match must be visible ASCII"))
        })
        .transpose()
}

fn with_etag(mut response: Response, rev: &str) -> Response {
    if let Ok(value) = HeaderValue::from_str(&format!("\"{rev}\"")) {
        response.headers_mut().insert(header::ETAG, value);
    }
    response
}

/// `PUT {rsreguri}/resource_set/{rsid}`.
pub async fn put(
    State(facade): State<Facade>,
    Path(rsid): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, Error> {
    let document = json_body(&headers, body, facade.max_body_bytes).await?;
    let description: crate::grpc::proto::ResourceSetDescription =
        ResourceSetDescription::from_json(document)?.into();
    let auth = authorization(&headers);
    let mut client = facade.clients.resource_sets.clone();
    let revision: ResourceSetRevision = match if_match(&headers)? {
        None => {
            client
                .create_resource_set(authorized(
                    CreateResourceSetRequest {
                        id: rsid,
                        description: Some(description),
                    },
                    auth,
                ))
                .await
        }
        Some(tag) => {
            client
                .update_resource_set(authorized(
                    UpdateResourceSetRequest {
                        id: rsid,
                        description: Some(description),
                        if_match: Some(tag),
                    },
                    auth,
                ))
                .await
        }
    }?
    .into_inner();
    let body = json!({"status": revision.status, "_id": revision.id, "_rev": revision.rev});
    Ok(with_etag(
        (StatusCode::CREATED, Json(body)).into_response(),
        &revision.rev,
    ))
}

/// `GET {rsreguri}/resource_set/{rsid}`.
pub async fn read(
    State(facade): State<Facade>,
    Path(rsid): Path<String>,
    headers: HeaderMap,
) -> Result<Response, Error> {
    let set = facade
        .clients
        .resource_sets
        .clone()
        .get_resource_set(authorized(
            GetResourceSetRequest { id: rsid },
            authorization(&headers),
        ))
        .await?
        .into_inner();
    let mut document: Map<String, Value> = set.description.unwrap_or_default().into();
    document.insert("_id".into(), Value::String(set.id));
    document.insert("_rev".into(), Value::String(set.rev.clone()));
    Ok(with_etag(
        Json(Value::Object(document)).into_response(),
        &set.rev,
    ))
}

/// `DELETE {rsreguri}/resource_set/{rsid}`; `If-Match` optional.
pub async fn delete(
    State(facade): State<Facade>,
    Path(rsid): Path<String>,
    headers: HeaderMap,
) -> Result<Response, Error> {
    facade
        .clients
        .resource_sets
        .clone()
        .delete_resource_set(authorized(
            DeleteResourceSetRequest {
                id: rsid,
                if_match: if_match(&headers)?,
            },
            authorization(&headers),
        ))
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET {rsreguri}/resource_set`: the ids in the caller's namespace.
pub async fn list(State(facade): State<Facade>, headers: HeaderMap) -> Result<Response, Error> {
    let ids = facade
        .clients
        .resource_sets
        .clone()
        .list_resource_sets(authorized(
            ListResourceSetsRequest {},
            authorization(&headers),
        ))
        .await?
        .into_inner()
        .ids;
    Ok(Json(ids).into_response())
}

/// Any other method: 405 `unsupported_method_type`, nothing acted on.
pub async fn unsupported_method(method: Method) -> Error {
    Error::UnsupportedMethodType(format!(
        "{method} is not an operation of the resource set registration API"
    ))
}

/// Any method but `GET` on the collection: 405, `Allow: GET`.
pub async fn unsupported_on_collection(method: Method) -> Response {
    let mut response = unsupported_method(method).await.into_response();
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("GET"));
    response
}
