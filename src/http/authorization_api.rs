//! The authorization API over HTTP: the RPT endpoint (draft-06 §3.4.2, and the
//! UMA 1.0 single-endpoint flow on the same URL) and the permission request
//! endpoint (draft-06 §3.4.3). The core decides once; this module names the
//! outcome in the caller's dialect.

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::extract::{authorization, json_body, read_body, require_json, string_member};
use super::{Facade, authorized};
use crate::domain::Error;
use crate::grpc::proto::{ClaimToken, IssueRptRequest, RequestPermissionRequest};

fn rpt_response(status: StatusCode, rpt: String) -> Response {
    let mut response = (status, Json(json!({ "rpt": rpt }))).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// `POST {rpt_endpoint}`. No body (or no `ticket` in it): a new RPT, 201.
/// A JSON body with `ticket`: the UMA 1.0 flow, 200 or 1.0-named errors.
pub async fn rpt(State(facade): State<Facade>, headers: HeaderMap, body: Body) -> Response {
    match rpt_flow(&facade, &headers, body).await {
        Ok(response) | Err(response) => response,
    }
}

async fn rpt_flow(facade: &Facade, headers: &HeaderMap, body: Body) -> Result<Response, Response> {
    require_json(headers).map_err(IntoResponse::into_response)?;
    let bytes = read_body(headers, body, facade.max_body_bytes)
        .await
        .map_err(IntoResponse::into_response)?;
    let auth = authorization(headers);
    let document: Option<Value> = if bytes.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        Some(crate::domain::json::parse(&bytes).map_err(IntoResponse::into_response)?)
    };
    let Some(document) = document.filter(|d| d.get("ticket").is_some()) else {
        let issued = facade
            .clients
            .authorization
            .clone()
            .issue_rpt(authorized(IssueRptRequest {}, auth))
            .await
            .map_err(|s| Error::from(s).into_response())?
            .into_inner();
        return Ok(rpt_response(StatusCode::CREATED, issued.rpt));
    };
    let request = permission_request(&document, false).map_err(|e| uma1_response(e, None))?;
    let ticket = request.ticket.clone();
    let answer = facade
        .clients
        .authorization
        .clone()
        .request_permission(authorized(request, auth))
        .await
        .map_err(|s| uma1_response(Error::from(s), Some(ticket)))?;
    Ok(rpt_response(StatusCode::OK, answer.into_inner().rpt))
}

/// `POST {permission_request_endpoint}` with `{rpt, ticket, claim_tokens?}`.
pub async fn permission(
    State(facade): State<Facade>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, Error> {
    let document = json_body(&headers, body, facade.max_body_bytes).await?;
    let request = permission_request(&document, true)?;
    let answer = facade
        .clients
        .authorization
        .clone()
        .request_permission(authorized(request, authorization(&headers)))
        .await?;
    Ok(rpt_response(StatusCode::OK, answer.into_inner().rpt))
}

fn permission_request(
    document: &Value,
    rpt_required: bool,
) -> Result<RequestPermissionRequest, Error> {
    if !document.is_object() {
        return Err(Error::invalid_request("the request must be a JSON object"));
    }
    let ticket = string_member(document, "ticket")?
        .filter(|t| !t.is_empty())
        .ok_or_else(|| Error::invalid_request("`ticket` is required"))?;
    let rpt = string_member(document, "rpt")?.filter(|r| !r.is_empty());
    if rpt_required && rpt.is_none() {
        return Err(Error::invalid_request("`rpt` is required"));
    }
    let claim_tokens = match document.get("claim_tokens") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| {
                let format = string_member(item, "format")?;
                let token = string_member(item, "token")?;
                match (format, token) {
                    (Some(format), Some(token)) => Ok(ClaimToken { format, token }),
                    _ => Err(Error::invalid_request(
                        "each claim token needs `format` and `token` strings",
                    )),
                }
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(Error::invalid_request("`claim_tokens` must be an array")),
    };
    Ok(RequestPermissionRequest {
        rpt,
        ticket,
        claim_tokens,
    })
}

/// Renders an error in UMA 1.0's words (digest §8); others as usual.
fn uma1_response(error: Error, ticket: Option<String>) -> Response {
    let Some(code) = error.uma1_code() else {
        return error.into_response();
    };
    let status = super::error::http_status(&error);
    let mut body = json!({
        "status": "error",
        "error": code,
        "error_description": error.description(),
    });
    if let Error::NeedClaims { claims } = &error {
        let required: Vec<Value> = claims.iter().map(|c| json!({ "name": c })).collect();
        body["error_details"] = json!({
            "requesting_party_claims": {
                "required_claims": required,
                "redirect_user": false,
                "ticket": ticket,
            }
        });
    }
    let mut response = (status, Json(body)).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
