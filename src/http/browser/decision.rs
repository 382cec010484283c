//! The pages where the signed-in person decides for a client — consent to
//! an authorization request, sharing claims for a permission ticket — have
//! one shape. The page: the core checks the request's parameters (sending
//! the browser back at once, or saying what to ask); whoever is not signed
//! in signs in first, coming back here; the page asks, its form carrying
//! the parameters and a CSRF token. The answer: form → CSRF check →
//! session → one call to the core → 303 to where the core says.

use std::future::Future;

use axum::body::Body;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use super::cookies::Cookies;
use super::pages::Ask;
use super::session::{Signed, checked_form, signed_in, to_sign_in};
use super::{PageError, csrf, host_of, page, path_with, see_other};
use crate::grpc::Transport;
use crate::grpc::proto::consent_service_client::ConsentServiceClient;
use crate::http::Facade;
use crate::http::extract::param;

/// Request parameters a page carries through its form (and through
/// sign-in, in its return path).
pub(super) trait Carried: Sized {
    /// The page's path.
    const PATH: &'static str;

    /// The parameters, from a query or a form (missing ones empty).
    fn read(params: &[(String, String)]) -> Self;

    /// The parameters as form fields.
    fn fields(&self) -> Vec<(&'static str, &str)>;

    /// The page again, with these parameters.
    fn here(&self) -> String {
        path_with(Self::PATH, &self.fields())
    }
}

/// Implements [`Carried`] for a message of string fields, each carried
/// under its own name, so a parameter's name is spelled once.
macro_rules! carried {
    ($message:ident at $path:expr, [$($field:ident),+ $(,)?]) => {
        impl $crate::http::browser::decision::Carried for $message {
            const PATH: &'static str = $path;

            fn read(params: &[(String, String)]) -> $message {
                let text = |name| {
                    $crate::http::extract::param(params, name)
                        .unwrap_or_default()
                        .to_string()
                };
                $message {
                    $($field: text(stringify!($field)),)+
                }
            }

            fn fields(&self) -> Vec<(&'static str, &str)> {
                vec![$((stringify!($field), self.$field.as_str())),+]
            }
        }
    };
}
pub(super) use carried;

/// The page asking the signed-in person about `client_name`'s request
/// `parameters` (the browser then goes to `redirect_uri`'s host), rendered
/// by `render`; whoever is not signed in signs in first.
pub(super) async fn page_for<P: Carried>(
    facade: &Facade,
    headers: &HeaderMap,
    parameters: &P,
    client_name: &str,
    redirect_uri: &str,
    render: impl FnOnce(Ask, &Signed) -> String,
) -> Result<Response, PageError> {
    let fields = parameters.fields();
    let here = parameters.here();
    let Some(signed) = signed_in(facade, headers).await? else {
        return Ok(to_sign_in(&here));
    };
    let (csrf, cookies) = csrf::token(facade, headers)?;
    let ask = Ask {
        client_name,
        redirect_host: host_of(redirect_uri),
        subject: &signed.subject,
        csrf: &csrf,
        fields: &fields,
        return_to: &here,
    };
    Ok(page(StatusCode::OK, render(ask, &signed), cookies))
}

/// A request whose page asks the person to decide, and how the core hears
/// the decision.
pub(super) trait Decision: Carried {
    /// The form's `decision` value that says yes.
    const YES: &'static str;

    /// Tells the core what the person with `session_token` decided;
    /// returns where the browser goes next.
    fn decide(
        self,
        consent: ConsentServiceClient<Transport>,
        session_token: String,
        yes: bool,
    ) -> impl Future<Output = Result<String, tonic::Status>> + Send;
}

/// The answer to such a page: the form, if it carries this browser's CSRF
/// token; the person (or off to sign in, coming back to the page); the
/// decision, to the core; a 303 to where the core says.
pub(super) async fn answer<D: Decision>(
    facade: &Facade,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, PageError> {
    let form = checked_form(facade, headers, body).await?;
    let request = D::read(&form);
    let Some(signed) = signed_in(facade, headers).await? else {
        return Ok(to_sign_in(&request.here()));
    };
    let yes = param(&form, "decision") == Some(D::YES);
    let location = request
        .decide(facade.clients.consent.clone(), signed.token, yes)
        .await?;
    Ok(see_other(&location, Cookies::default()))
}
