//! RPT status in two dialects over one core call: draft-06's
//! `rpt_status_endpoint` (JSON `{rpt}` → array or `{"rpt_status":"invalid"}`)
//! and the RFC 7662-style `introspection_endpoint` (form `token=` →
//! `{"active", "permissions"}`).

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::extract::{authorization, form_body, json_body, param, string_member};
use super::{Facade, authorized};
use crate::domain::Error;
use crate::grpc::proto::{IntrospectRptRequest, IntrospectRptResponse};

async fn introspect(
    facade: &Facade,
    headers: &HeaderMap,
    request: IntrospectRptRequest,
) -> Result<IntrospectRptResponse, Error> {
    Ok(facade
        .clients
        .tokens
        .clone()
        .introspect_rpt(authorized(request, authorization(headers)))
        .await?
        .into_inner())
}

fn no_store(value: Value) -> Response {
    let mut response = Json(value).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// `POST {rpt_status_endpoint}` with `{"rpt", "resource_set_id"?, "host_id"?}`.
/// `host_id` is accepted and ignored: the PAT says who the host is.
pub async fn status(
    State(facade): State<Facade>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, Error> {
    let document = json_body(&headers, body, facade.max_body_bytes).await?;
    if !document.is_object() {
        return Err(Error::invalid_request(
            "the status request must be a JSON object",
        ));
    }
    let rpt = string_member(&document, "rpt")?
        .ok_or_else(|| Error::invalid_request("`rpt` is required"))?;
    let resource_set_id = string_member(&document, "resource_set_id")?;
    let answer = introspect(
        &facade,
        &headers,
        IntrospectRptRequest {
            rpt,
            resource_set_id,
        },
    )
    .await?;
    if !answer.active {
        return Ok(no_store(json!({"rpt_status": "invalid"})));
    }
    let permissions: Vec<Value> = answer
        .permissions
        .into_iter()
        .map(|p| json!({"resource_set_id": p.resource_set_id, "scopes": p.scopes, "exp": p.exp}))
        .collect();
    Ok(no_store(Value::Array(permissions)))
}

/// `POST {introspection_endpoint}` with form `token=…` (RFC 7662, UMA 1.0).
pub async fn introspect_handler(
    State(facade): State<Facade>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, Error> {
    let form = form_body(&headers, body, facade.max_body_bytes).await?;
    let rpt = param(&form, "token")
        .filter(|t| !t.is_empty())
        .ok_or_else(|| Error::invalid_request("`token` is required"))?
        .to_string();
    let answer = introspect(
        &facade,
        &headers,
        IntrospectRptRequest {
            rpt,
            resource_set_id: None,
        },
    )
    .await?;
    if !answer.active {
        return Ok(no_store(json!({"active": false})));
    }
    let permissions: Vec<Value> = answer
        .permissions
        .into_iter()
        .map(|p| json!({"resource_set_id": p.resource_set_id, "scopes": p.scopes, "exp": p.exp, "iat": p.iat}))
        .collect();
    let mut body = json!({"active": true, "iat": answer.iat, "permissions": permissions});
    if let Some(exp) = answer.exp {
        body["exp"] = json!(exp);
    }
    Ok(no_store(body))
}
