//! Sign-in at an upstream OpenID provider: off to the provider with the
//! core's state, nonce and PKCE verifier kept in a short-lived cookie, and
//! back, where the answer must match that cookie.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;

use super::cookies::{Cookies, SESSION_COOKIE, UPSTREAM_COOKIE, cookie};
use super::{PageError, local_path, paths, query, see_other};
use crate::domain::Error;
use crate::domain::secret;
use crate::grpc::proto::{FinishUpstreamSignInRequest, StartUpstreamSignInRequest};
use crate::http::extract::param;
use crate::http::{Facade, authorized};

/// How long the browser has to come back from the provider, in seconds.
const TRIP_SECONDS: i64 = 600;

/// What the browser carries to the provider and back (a short-lived,
/// HttpOnly cookie): compared on return, so a forged callback fails.
#[derive(serde::Serialize, serde::Deserialize)]
struct Trip {
    issuer: String,
    state: String,
    nonce: String,
    code_verifier: String,
    return_to: String,
}

impl Trip {
    /// The cookie value (percent-encoded JSON).
    fn encode(&self) -> Result<String, Error> {
        let json = serde_json::to_string(self)
            .map_err(|e| Error::Internal(format!("cannot encode the sign-in cookie: {e}")))?;
        Ok(
            percent_encoding::utf8_percent_encode(&json, percent_encoding::NON_ALPHANUMERIC)
                .to_string(),
        )
    }

    /// The trip this browser started, if its cookie is there and readable.
    fn of(facade: &Facade, headers: &HeaderMap) -> Option<Trip> {
        cookie(facade, headers, UPSTREAM_COOKIE)
            .and_then(|v| {
                percent_encoding::percent_decode_str(&v)
                    .decode_utf8()
                    .ok()
                    .map(|c| c.into_owned())
            })
            .and_then(|v| serde_json::from_str(&v).ok())
    }
}

/// `GET /signin/upstream?issuer=…`: off to the provider.
pub async fn sign_in_upstream(
    State(facade): State<Facade>,
    uri: axum::http::Uri,
) -> Result<Response, PageError> {
    let params = query(uri.query())?;
    let issuer = param(&params, "issuer").unwrap_or_default().to_string();
    let return_to = local_path(param(&params, "return_to"));
    let start = facade
        .clients
        .sessions
        .clone()
        .start_upstream_sign_in(authorized(
            StartUpstreamSignInRequest {
                issuer: issuer.clone(),
                callback_uri: facade.url(paths::SIGN_IN_CALLBACK),
            },
            None,
        ))
        .await?
        .into_inner();
    let trip = Trip {
        issuer,
        state: start.state,
        nonce: start.nonce,
        code_verifier: start.code_verifier,
        return_to,
    };
    let mut cookies = Cookies::default();
    cookies.set(
        &facade,
        UPSTREAM_COOKIE,
        &trip.encode()?,
        Some(TRIP_SECONDS),
    );
    Ok(see_other(&start.authorization_url, cookies))
}

/// `GET /signin/callback?code=…&state=…`: back from the provider.
pub async fn sign_in_callback(
    State(facade): State<Facade>,
    headers: HeaderMap,
    uri: axum::http::Uri,
) -> Result<Response, PageError> {
    let params = query(uri.query())?;
    let Some(trip) = Trip::of(&facade, &headers) else {
        return Err(Error::invalid_request(
            "the sign-in took too long or was not started in this browser; start again",
        )
        .into());
    };
    let state = param(&params, "state").unwrap_or_default();
    if !secret::constant_time_eq(state, &trip.state) {
        return Err(Error::invalid_request(
            "the provider's answer does not belong to this sign-in; start again",
        )
        .into());
    }
    if let Some(error) = param(&params, "error") {
        return Err(Error::AccessDenied(format!(
            "the provider did not sign you in ({})",
            error.chars().take(64).collect::<String>()
        ))
        .into());
    }
    let session = facade
        .clients
        .sessions
        .clone()
        .finish_upstream_sign_in(authorized(
            FinishUpstreamSignInRequest {
                issuer: trip.issuer,
                code: param(&params, "code").unwrap_or_default().to_string(),
                callback_uri: facade.url(paths::SIGN_IN_CALLBACK),
                code_verifier: trip.code_verifier,
                nonce: trip.nonce,
            },
            None,
        ))
        .await?
        .into_inner();
    let mut cookies = Cookies::default();
    cookies.clear(&facade, UPSTREAM_COOKIE);
    cookies.set(&facade, SESSION_COOKIE, &session.session_token, None);
    Ok(see_other(&trip.return_to, cookies))
}
