//! Local sign-in (username and password, checked by the core) and
//! sign-out.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use super::cookies::{Cookies, SESSION_COOKIE, cookie};
use super::pages::{self, ProviderButton};
use super::session::{checked_form, sign_in_path, signed_in};
use super::{PageError, csrf, local_path, page, paths, query, see_other};
use crate::domain::Error;
use crate::grpc::proto::{EndSessionRequest, ListProvidersRequest, SignInRequest};
use crate::http::extract::param;
use crate::http::{Facade, authorized};

/// What the sign-in form says after a wrong username or password.
const MISMATCH: &str = "That username and password do not match. Try again.";

/// `GET /signin`: the sign-in form (or, when signed in, who you are).
pub async fn sign_in_page(
    State(facade): State<Facade>,
    headers: HeaderMap,
    uri: axum::http::Uri,
) -> Result<Response, PageError> {
    let params = query(uri.query())?;
    let return_to = local_path(param(&params, "return_to"));
    let (csrf, cookies) = csrf::token(&facade, &headers)?;
    if let Some(signed) = signed_in(&facade, &headers).await? {
        if return_to != paths::SIGN_IN {
            return Ok(see_other(&return_to, cookies));
        }
        return Ok(page(
            StatusCode::OK,
            pages::signed_in(&signed.subject, &csrf),
            cookies,
        ));
    }
    let providers = providers(&facade).await?;
    Ok(page(
        StatusCode::OK,
        pages::sign_in(&csrf, &return_to, "", None, &providers),
        cookies,
    ))
}

/// The upstream providers the sign-in page offers.
async fn providers(facade: &Facade) -> Result<Vec<ProviderButton>, Error> {
    Ok(facade
        .clients
        .sessions
        .clone()
        .list_providers(authorized(ListProvidersRequest {}, None))
        .await?
        .into_inner()
        .providers
        .into_iter()
        .map(|p| ProviderButton {
            issuer: p.issuer,
            label: p.label,
        })
        .collect())
}

/// `POST /signin`: checks the password; on success the session cookie is
/// set and the browser goes back where it came from. A wrong password shows
/// the form again (401); every other refusal is an error page.
pub async fn sign_in(
    State(facade): State<Facade>,
    headers: HeaderMap,
    extensions: axum::http::Extensions,
    body: Body,
) -> Result<Response, PageError> {
    let form = checked_form(&facade, &headers, body).await?;
    let return_to = local_path(param(&form, "return_to"));
    let username = param(&form, "username")
        .unwrap_or_default()
        .trim()
        .to_string();
    let password = param(&form, "password").unwrap_or_default().to_string();
    let address = extensions
        .get::<axum::extract::ConnectInfo<crate::net::PeerAddr>>()
        .map(|c| facade.client_address(c.0.0.ip(), &headers).to_string())
        .unwrap_or_default();
    let answer = facade
        .clients
        .sessions
        .clone()
        .sign_in(authorized(
            SignInRequest {
                username: username.clone(),
                password,
                remote_address: address,
            },
            None,
        ))
        .await;
    match answer.map_err(Error::from) {
        Ok(session) => {
            let mut cookies = Cookies::default();
            cookies.set(
                &facade,
                SESSION_COOKIE,
                &session.into_inner().session_token,
                None,
            );
            Ok(see_other(&return_to, cookies))
        }
        Err(Error::AccessDenied(_)) => {
            let (csrf, cookies) = csrf::token(&facade, &headers)?;
            let providers = providers(&facade).await?;
            Ok(page(
                StatusCode::UNAUTHORIZED,
                pages::sign_in(&csrf, &return_to, &username, Some(MISMATCH), &providers),
                cookies,
            ))
        }
        Err(other) => Err(other.into()),
    }
}

/// `POST /signout`: ends the session (if any) and goes to the sign-in page.
pub async fn sign_out(
    State(facade): State<Facade>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, PageError> {
    let form = checked_form(&facade, &headers, body).await?;
    if let Some(token) = cookie(&facade, &headers, SESSION_COOKIE) {
        facade
            .clients
            .sessions
            .clone()
            .end_session(authorized(
                EndSessionRequest {
                    session_token: token,
                },
                None,
            ))
            .await?;
    }
    let mut cookies = Cookies::default();
    cookies.clear(&facade, SESSION_COOKIE);
    let return_to = local_path(param(&form, "return_to"));
    Ok(see_other(&sign_in_path(&return_to), cookies))
}
