//! The browser's error page. A page never redirects an error to a URI it
//! has not checked; it shows it, with the status the spec names for the
//! domain error (the same `http_status` the JSON answers use).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::cookies::Cookies;
use super::{page, pages};
use crate::domain::Error;
use crate::http::error::http_status;

/// Why a page handler answers with an error page instead of its page.
#[derive(Debug)]
pub enum PageError {
    /// The request or the core refused: shown with its status and description.
    Refused(Error),
    /// A form without this browser's CSRF token (403).
    FormExpired,
}

impl From<Error> for PageError {
    fn from(error: Error) -> PageError {
        PageError::Refused(error)
    }
}

impl From<tonic::Status> for PageError {
    fn from(status: tonic::Status) -> PageError {
        PageError::Refused(Error::from(status))
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        if let PageError::Refused(error) = &self {
            crate::telemetry::report_internal(error);
        }
        let (status, html) = match &self {
            PageError::Refused(error) => (
                http_status(error),
                pages::problem(title(error), error.description()),
            ),
            PageError::FormExpired => (
                StatusCode::FORBIDDEN,
                pages::problem(
                    "This form has expired",
                    "The form was not sent from this browser's Steward page (or your cookies were cleared). Go back, reload the page and try again.",
                ),
            ),
        };
        page(status, html, Cookies::default())
    }
}

/// The error page's heading. Exhaustive, so a new error decides its own.
fn title(error: &Error) -> &'static str {
    match error {
        Error::TooManyAttempts(_) => "Too many attempts",
        Error::Unavailable(_) | Error::Internal(_) => "Something went wrong",
        Error::InvalidRequest(_)
        | Error::InvalidClient(_)
        | Error::InvalidGrant(_)
        | Error::UnauthorizedClient(_)
        | Error::UnsupportedGrantType(_)
        | Error::InvalidScope(_)
        | Error::MissingToken
        | Error::InvalidToken(_)
        | Error::InsufficientScope(_)
        | Error::InvalidResourceSetId(_)
        | Error::InvalidTicket(_)
        | Error::ExpiredTicket(_)
        | Error::NotAuthorized(_)
        | Error::NeedClaims { .. }
        | Error::RequestSubmitted(_)
        | Error::InvalidClientMetadata(_)
        | Error::InvalidRedirectUri(_)
        | Error::AccessDenied(_)
        | Error::NotFound(_)
        | Error::PreconditionFailed(_)
        | Error::UnsupportedMethodType(_)
        | Error::UnsupportedMediaType(_)
        | Error::PayloadTooLarge(_) => "This request cannot be completed",
    }
}

#[cfg(test)]
mod tests {
    use axum::http::header;

    use super::*;

    async fn rendered(error: PageError) -> (StatusCode, axum::http::HeaderMap, String) {
        let response = error.into_response();
        let status = response.status();
        let headers = response.headers().clone();
        let body = axum::body::to_bytes(response.into_body(), 64 * 1024)
            .await
            .unwrap();
        (status, headers, String::from_utf8(body.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn every_error_is_a_page_with_the_specs_status_and_its_description() {
        let refused = "This request cannot be completed";
        let wrong = "Something went wrong";
        let d = || "detail <shown>".to_string();
        let table = [
            (Error::InvalidRequest(d()), 400, refused),
            (Error::InvalidClient(d()), 401, refused),
            (Error::InvalidGrant(d()), 400, refused),
            (Error::UnauthorizedClient(d()), 400, refused),
            (Error::UnsupportedGrantType(d()), 400, refused),
            (Error::InvalidScope(d()), 400, refused),
            (Error::MissingToken, 401, refused),
            (Error::InvalidToken(d()), 401, refused),
            (Error::InsufficientScope(d()), 403, refused),
            (Error::InvalidResourceSetId(d()), 400, refused),
            (Error::InvalidTicket(d()), 400, refused),
            (Error::ExpiredTicket(d()), 400, refused),
            (Error::NotAuthorized(d()), 403, refused),
            (Error::NeedClaims { claims: vec![] }, 403, refused),
            (Error::RequestSubmitted(d()), 403, refused),
            (Error::InvalidClientMetadata(d()), 400, refused),
            (Error::InvalidRedirectUri(d()), 400, refused),
            (Error::AccessDenied(d()), 403, refused),
            (Error::TooManyAttempts(d()), 429, "Too many attempts"),
            (Error::NotFound(d()), 404, refused),
            (Error::PreconditionFailed(d()), 412, refused),
            (Error::UnsupportedMethodType(d()), 405, refused),
            (Error::UnsupportedMediaType(d()), 415, refused),
            (Error::PayloadTooLarge(d()), 413, refused),
            (Error::Unavailable(d()), 503, wrong),
            (Error::Internal("secret detail".into()), 500, wrong),
        ];
        for (error, status, title) in table {
            let code = error.code();
            let description = pages::esc(error.description());
            let (got, headers, body) = rendered(error.into()).await;
            assert_eq!(got.as_u16(), status, "{code}");
            assert_eq!(headers[header::CONTENT_TYPE], "text/html; charset=utf-8");
            assert_eq!(headers[header::CACHE_CONTROL], "no-store");
            assert_eq!(headers[header::X_FRAME_OPTIONS], "DENY");
            assert!(
                body.contains(&format!("<h1>{title}</h1>")),
                "{code}: {body}"
            );
            assert!(body.contains(&description), "{code}: {body}");
            assert!(!body.contains("secret detail"), "{code}");
        }
    }

    #[tokio::test]
    async fn a_form_without_this_browsers_token_has_expired() {
        let (status, _, body) = rendered(PageError::FormExpired).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert!(body.contains("<h1>This form has expired</h1>"), "{body}");
    }
}
