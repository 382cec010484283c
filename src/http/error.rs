//! The domain error as an OAuth/UMA HTTP response: the spec's status, a JSON
//! body `{"status":"error","error","error_description"}`, `Cache-Control:
//! no-store`, and `WWW-Authenticate` where RFC 6749/6750 call for it. A
//! 405's `Allow` is its route's: axum adds it from the methods the path serves.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::domain::Error;

/// The realm named in `WWW-Authenticate` challenges.
pub const REALM: &str = "steward";

/// The HTTP status the spec names for an error (also what the browser
/// pages answer with).
pub fn http_status(error: &Error) -> StatusCode {
    match error {
        Error::InvalidRequest(_)
        | Error::InvalidGrant(_)
        | Error::UnauthorizedClient(_)
        | Error::UnsupportedGrantType(_)
        | Error::InvalidScope(_)
        | Error::InvalidResourceSetId(_)
        | Error::InvalidTicket(_)
        | Error::ExpiredTicket(_)
        | Error::InvalidClientMetadata(_)
        | Error::InvalidRedirectUri(_) => StatusCode::BAD_REQUEST,
        Error::InvalidClient(_) | Error::MissingToken | Error::InvalidToken(_) => {
            StatusCode::UNAUTHORIZED
        }
        Error::InsufficientScope(_)
        | Error::NotAuthorized(_)
        | Error::NeedClaims { .. }
        | Error::RequestSubmitted(_)
        | Error::AccessDenied(_) => StatusCode::FORBIDDEN,
        Error::TooManyAttempts(_) => StatusCode::TOO_MANY_REQUESTS,
        Error::NotFound(_) => StatusCode::NOT_FOUND,
        Error::PreconditionFailed(_) => StatusCode::PRECONDITION_FAILED,
        Error::UnsupportedMethodType(_) => StatusCode::METHOD_NOT_ALLOWED,
        Error::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        Error::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
        Error::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// The `WWW-Authenticate` challenge an error carries (RFC 6750 §3 for
/// bearer tokens, RFC 6749 §5.2 for client authentication), if any.
fn challenge(error: &Error) -> Option<String> {
    match error {
        Error::MissingToken => Some(format!("Bearer realm=\"{REALM}\"")),
        Error::InvalidToken(_) | Error::InsufficientScope(_) => Some(format!(
            "Bearer realm=\"{REALM}\", error=\"{}\", error_description=\"{}\"",
            error.code(),
            quoted(error.description())
        )),
        Error::InvalidClient(_) => Some(format!("Basic realm=\"{REALM}\"")),
        Error::InvalidRequest(_)
        | Error::InvalidGrant(_)
        | Error::UnauthorizedClient(_)
        | Error::UnsupportedGrantType(_)
        | Error::InvalidScope(_)
        | Error::InvalidResourceSetId(_)
        | Error::InvalidTicket(_)
        | Error::ExpiredTicket(_)
        | Error::NotAuthorized(_)
        | Error::NeedClaims { .. }
        | Error::RequestSubmitted(_)
        | Error::InvalidClientMetadata(_)
        | Error::InvalidRedirectUri(_)
        | Error::AccessDenied(_)
        | Error::TooManyAttempts(_)
        | Error::NotFound(_)
        | Error::PreconditionFailed(_)
        | Error::UnsupportedMethodType(_)
        | Error::UnsupportedMediaType(_)
        | Error::PayloadTooLarge(_)
        | Error::Unavailable(_)
        | Error::Internal(_) => None,
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        crate::telemetry::report_internal(&self);
        let status = http_status(&self);
        let challenge = challenge(&self);
        let mut body = json!({
            "status": "error",
            "error": self.code(),
            "error_description": self.description(),
        });
        if !self.required_claims().is_empty() {
            body["required_claims"] = json!(self.required_claims());
        }
        let mut response = (status, Json(body)).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let Some(value) = challenge.and_then(|c| HeaderValue::from_str(&c).ok()) {
            headers.insert(header::WWW_AUTHENTICATE, value);
        }
        response
    }
}

/// Makes text safe inside a quoted-string auth-param (RFC 6750 §3 limits the
/// characters of `error_description`).
fn quoted(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '"' | '\\' => '\'',
            c if (' '..='~').contains(&c) => c,
            _ => '?',
        })
        .collect()
}
