//! Owner policies and held requests over HTTP, managed with the resource
//! server's PAT: `POST/GET {policy_endpoint}/{rsid}`,
//! `DELETE {policy_endpoint}/{rsid}/{policy_id}`, `GET {pending_endpoint}`,
//! `POST {pending_endpoint}/{id}` with `{"decision": "approve"|"deny"}`.

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::extract::{Path, authorization, json_body, string_member};
use super::{Facade, authorized};
use crate::domain::Error;
use crate::grpc::proto::{
    CreatePolicyRequest, DecidePendingRequestRequest, DeletePolicyRequest,
    ListPendingRequestsRequest, ListPoliciesRequest, PolicyRecord,
};

fn policy_json(record: PolicyRecord) -> Result<Value, Error> {
    let mut value: Value = serde_json::from_str(&record.definition_json)
        .map_err(|e| Error::Internal(format!("core sent a malformed policy: {e}")))?;
    value["_id"] = json!(record.id);
    Ok(value)
}

/// `POST {policy_endpoint}/{rsid}` → 201 `{"_id"}`.
pub async fn create(
    State(facade): State<Facade>,
    Path(rsid): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, Error> {
    let document = json_body(&headers, body, facade.max_body_bytes).await?;
    if !document.is_object() {
        return Err(Error::invalid_request("a policy must be a JSON object"));
    }
    let created = facade
        .clients
        .policies
        .clone()
        .create_policy(authorized(
            CreatePolicyRequest {
                resource_set_id: rsid,
                definition_json: document.to_string(),
            },
            authorization(&headers),
        ))
        .await?
        .into_inner();
    Ok((StatusCode::CREATED, Json(json!({ "_id": created.id }))).into_response())
}

/// `GET {policy_endpoint}/{rsid}` → the policies, each with its `_id`.
pub async fn list(
    State(facade): State<Facade>,
    Path(rsid): Path<String>,
    headers: HeaderMap,
) -> Result<Response, Error> {
    let policies = facade
        .clients
        .policies
        .clone()
        .list_policies(authorized(
            ListPoliciesRequest {
                resource_set_id: rsid,
            },
            authorization(&headers),
        ))
        .await?
        .into_inner()
        .policies
        .into_iter()
        .map(policy_json)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Json(policies).into_response())
}

/// `DELETE {policy_endpoint}/{rsid}/{policy_id}` → 204.
pub async fn delete(
    State(facade): State<Facade>,
    Path((rsid, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, Error> {
    facade
        .clients
        .policies
        .clone()
        .delete_policy(authorized(
            DeletePolicyRequest {
                resource_set_id: rsid,
                id,
            },
            authorization(&headers),
        ))
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET {pending_endpoint}` → the held requests of the namespace.
pub async fn pending(State(facade): State<Facade>, headers: HeaderMap) -> Result<Response, Error> {
    let requests: Vec<Value> = facade
        .clients
        .policies
        .clone()
        .list_pending_requests(authorized(
            ListPendingRequestsRequest {},
            authorization(&headers),
        ))
        .await?
        .into_inner()
        .requests
        .into_iter()
        .map(|r| {
            json!({
                "_id": r.id,
                "resource_set_id": r.resource_set_id,
                "scopes": r.scopes,
                "client_id": r.client_id,
                "subject": r.subject,
                "status": r.status,
                "created_at": r.created_at,
            })
        })
        .collect();
    Ok(Json(requests).into_response())
}

/// `POST {pending_endpoint}/{id}` with `{"decision": "approve"|"deny"}` → 204.
pub async fn decide(
    State(facade): State<Facade>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, Error> {
    let document = json_body(&headers, body, facade.max_body_bytes).await?;
    let approve = match string_member(&document, "decision")?.as_deref() {
        Some("approve") => true,
        Some("deny") => false,
        _ => {
            return Err(Error::invalid_request(
                "`decision` must be \"approve\" or \"deny\"",
            ));
        }
    };
    facade
        .clients
        .policies
        .clone()
        .decide_pending_request(authorized(
            DecidePendingRequestRequest { id, approve },
            authorization(&headers),
        ))
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
