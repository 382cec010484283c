//! Who the browser's session belongs to, the way to sign in first, and the
//! first step of every form's answer (the form, if it carries this
//! browser's CSRF token).

use axum::body::Body;
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::Value;

use super::cookies::{Cookies, SESSION_COOKIE, cookie};
use super::{PageError, csrf, path_with, paths, see_other};
use crate::domain::Error;
use crate::grpc::proto::GetSessionRequest;
use crate::http::extract::form_body;
use crate::http::{Facade, authorized};

/// A submitted form's fields.
pub(super) type Form = Vec<(String, String)>;

/// The signed-in person.
pub(super) struct Signed {
    /// The session token, for calls the core makes on their behalf.
    pub(super) token: String,
    pub(super) subject: String,
    /// The claims the sign-in gave (JSON; `null` if the core sent none).
    pub(super) claims: Value,
}

/// Who the browser's session belongs to, if anyone.
pub(super) async fn signed_in(
    facade: &Facade,
    headers: &HeaderMap,
) -> Result<Option<Signed>, Error> {
    let Some(token) = cookie(facade, headers, SESSION_COOKIE) else {
        return Ok(None);
    };
    match facade
        .clients
        .sessions
        .clone()
        .get_session(authorized(
            GetSessionRequest {
                session_token: token.clone(),
            },
            None,
        ))
        .await
    {
        Ok(session) => {
            let session = session.into_inner();
            Ok(Some(Signed {
                token,
                subject: session.subject,
                claims: serde_json::from_str(&session.claims_json).unwrap_or(Value::Null),
            }))
        }
        Err(status) => match Error::from(status) {
            Error::NotFound(_) => Ok(None),
            other => Err(other),
        },
    }
}

/// The sign-in page, coming back to `return_to`.
pub(super) fn sign_in_path(return_to: &str) -> String {
    path_with(paths::SIGN_IN, &[("return_to", return_to)])
}

/// Off to sign in first, coming back to `return_to`.
pub(super) fn to_sign_in(return_to: &str) -> Response {
    see_other(&sign_in_path(return_to), Cookies::default())
}

/// A submitted form that carries this browser's CSRF token.
pub(super) async fn checked_form(
    facade: &Facade,
    headers: &HeaderMap,
    body: Body,
) -> Result<Form, PageError> {
    let form = form_body(headers, body, facade.max_body_bytes).await?;
    csrf::check(facade, headers, &form)?;
    Ok(form)
}
