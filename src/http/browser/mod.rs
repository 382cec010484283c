//! The pages a person meets: sign-in (local or at an upstream OpenID
//! provider), OAuth consent at the authorization endpoint, and claims
//! gathering for a permission ticket. Each handler reads the browser's
//! request, calls the core's SessionService/ConsentService and renders the
//! answer; the rules (what a client may ask, where a browser may be sent)
//! are the core's.
//!
//! Browser safety: cookies are HttpOnly and SameSite=Lax (Secure, with the
//! `__Host-` prefix, when the issuer is https); every form carries a CSRF
//! token derived from a per-browser cookie; pages are `no-store`, framed by
//! nobody, and load nothing but the stylesheet. Every POST answers with a
//! 303, so the back button never re-submits a form.

pub mod pages;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::error::http_status;
use super::extract::{form_body, param};
use super::{Facade, authorized};
use crate::domain::Error;
use crate::domain::secret;
use crate::grpc::proto::{
    self, AnswerAuthorizationRequest, AnswerClaimsRequest, AuthorizationParameters,
    ClaimsParameters, EndSessionRequest, FinishUpstreamSignInRequest, GetSessionRequest,
    ListProvidersRequest, SignInRequest, StartUpstreamSignInRequest, authorization_check,
    claims_check,
};
use pages::{Consent, ProviderButton, Role, ShareClaims};

/// Page paths.
pub mod paths {
    pub const SIGN_IN: &str = "/signin";
    pub const SIGN_IN_UPSTREAM: &str = "/signin/upstream";
    pub const SIGN_IN_CALLBACK: &str = "/signin/callback";
    pub const SIGN_OUT: &str = "/signout";
    pub const STYLESHEET: &str = "/static/steward.css";
}

const SESSION_COOKIE: &str = "steward_session";
const CSRF_COOKIE: &str = "steward_csrf";
const UPSTREAM_COOKIE: &str = "steward_upstream";
/// Longest query string or return path the pages accept.
const MAX_QUERY: usize = 8 * 1024;

/// The stylesheet (served with a long cache lifetime; it has no secrets).
pub async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("steward.css"),
    )
        .into_response()
}

/// What a page answer needs beyond its HTML: cookies to set.
#[derive(Default)]
struct Cookies(Vec<String>);

impl Cookies {
    fn set(&mut self, facade: &Facade, name: &str, value: &str, max_age: Option<i64>) {
        let age = max_age
            .map(|a| format!("; Max-Age={a}"))
            .unwrap_or_default();
        let secure = if facade.secure_cookies {
            "; Secure"
        } else {
            ""
        };
        self.0.push(format!(
            "{}={value}; Path=/; HttpOnly; SameSite=Lax{secure}{age}",
            cookie_name(facade, name)
        ));
    }

    fn clear(&mut self, facade: &Facade, name: &str) {
        self.set(facade, name, "", Some(0));
    }
}

/// `__Host-` pins a cookie to this origin, over https only.
fn cookie_name(facade: &Facade, name: &str) -> String {
    if facade.secure_cookies {
        format!("__Host-{name}")
    } else {
        name.to_string()
    }
}

/// A cookie the browser sent.
fn cookie(facade: &Facade, headers: &HeaderMap, name: &str) -> Option<String> {
    let wanted = cookie_name(facade, name);
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == wanted)
        .map(|(_, v)| v.to_string())
        .filter(|v| !v.is_empty() && v.len() <= 4096)
}

/// Renders a page with the browser-safety headers.
fn page(status: StatusCode, html: String, cookies: Cookies) -> Response {
    let mut response = (status, html).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    secure_headers(headers);
    for cookie in cookies.0 {
        if let Ok(value) = HeaderValue::from_str(&cookie) {
            headers.append(header::SET_COOKIE, value);
        }
    }
    response
}

fn secure_headers(headers: &mut HeaderMap) {
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; img-src 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
}

/// A 303 to `location` (after a form, or to the client).
fn see_other(location: &str, cookies: Cookies) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    let headers = response.headers_mut();
    secure_headers(headers);
    if let Ok(value) = HeaderValue::from_str(location) {
        headers.insert(header::LOCATION, value);
    }
    for cookie in cookies.0 {
        if let Ok(value) = HeaderValue::from_str(&cookie) {
            headers.append(header::SET_COOKIE, value);
        }
    }
    response
}

/// The error page for `error`, with the status the spec names.
fn problem(error: &Error) -> Response {
    let title = match error {
        Error::TooManyAttempts(_) => "Too many attempts",
        Error::Unavailable(_) | Error::Internal(_) => "Something went wrong",
        _ => "This request cannot be completed",
    };
    page(
        http_status(error),
        pages::problem(title, error.description()),
        Cookies::default(),
    )
}

/// The browser's CSRF secret (minted and set if it has none yet) and the
/// token forms carry, derived from it so the cookie itself never appears
/// in a page.
fn csrf(facade: &Facade, headers: &HeaderMap, cookies: &mut Cookies) -> Result<String, Error> {
    let secret = match cookie(facade, headers, CSRF_COOKIE) {
        Some(value) => value,
        None => {
            let value = secret::mint(facade.entropy.as_ref(), 32)?;
            cookies.set(facade, CSRF_COOKIE, &value, None);
            value
        }
    };
    Ok(csrf_token(&secret))
}

fn csrf_token(secret: &str) -> String {
    secret::token_hash(&format!("steward-csrf:{secret}"))
}

/// Whether a submitted form carries this browser's CSRF token.
fn csrf_ok(facade: &Facade, headers: &HeaderMap, form: &[(String, String)]) -> bool {
    match (cookie(facade, headers, CSRF_COOKIE), param(form, "csrf")) {
        (Some(secret), Some(token)) => secret::constant_time_eq(&csrf_token(&secret), token),
        _ => false,
    }
}

fn csrf_refused() -> Response {
    page(
        StatusCode::FORBIDDEN,
        pages::problem(
            "This form has expired",
            "The form was not sent from this browser's Steward page (or your cookies were cleared). Go back, reload the page and try again.",
        ),
        Cookies::default(),
    )
}

/// Query parameters, refusing repeated ones (RFC 6749 §3.1).
fn query(raw: Option<&str>) -> Result<Vec<(String, String)>, Error> {
    let raw = raw.unwrap_or("");
    if raw.len() > MAX_QUERY {
        return Err(Error::invalid_request("the request is too long"));
    }
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw)
        .map_err(|_| Error::invalid_request("the query string is malformed"))?;
    for (i, (name, _)) in pairs.iter().enumerate() {
        if pairs[..i].iter().any(|(n, _)| n == name) {
            return Err(Error::invalid_request(format!(
                "parameter `{}` is repeated",
                name.chars().take(64).collect::<String>()
            )));
        }
    }
    Ok(pairs)
}

/// A return path after sign-in: only a path on this server (no scheme, no
/// host, no `//` or `\` tricks), else the sign-in page itself.
fn local_path(candidate: Option<&str>) -> String {
    match candidate {
        Some(path)
            if path.starts_with('/')
                && !path.starts_with("//")
                && !path.starts_with("/\\")
                && path.len() <= MAX_QUERY
                && !path.chars().any(|c| c.is_control() || c == '\\') =>
        {
            path.to_string()
        }
        _ => paths::SIGN_IN.to_string(),
    }
}

/// `path?query` from parameters.
fn path_with(path: &str, params: &[(&str, &str)]) -> String {
    let query = serde_urlencoded::to_string(params).unwrap_or_default();
    if query.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{query}")
    }
}

/// Who the browser's session belongs to, if anyone.
async fn signed_in(facade: &Facade, headers: &HeaderMap) -> Result<Option<Signed>, Error> {
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

struct Signed {
    token: String,
    subject: String,
    claims: Value,
}

/// The sign-in page for `return_to`.
fn to_sign_in(return_to: &str) -> Response {
    see_other(
        &path_with(paths::SIGN_IN, &[("return_to", return_to)]),
        Cookies::default(),
    )
}

/// The host a redirect URI sends the user to (shown on consent pages).
fn host_of(uri: &str) -> &str {
    let rest = uri.split_once("://").map_or(uri, |(_, r)| r);
    rest.split(['/', '?']).next().unwrap_or(rest)
}

// --- sign-in --------------------------------------------------------------

/// `GET /signin`: the sign-in form (or, when signed in, who you are).
pub async fn sign_in_page(
    State(facade): State<Facade>,
    headers: HeaderMap,
    uri: axum::http::Uri,
) -> Response {
    let run = async {
        let params = query(uri.query())?;
        let return_to = local_path(param(&params, "return_to"));
        let mut cookies = Cookies::default();
        let csrf = csrf(&facade, &headers, &mut cookies)?;
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
    };
    run.await.unwrap_or_else(|e: Error| problem(&e))
}

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
/// set and the browser goes back where it came from.
pub async fn sign_in(
    State(facade): State<Facade>,
    headers: HeaderMap,
    extensions: axum::http::Extensions,
    body: Body,
) -> Response {
    let run = async {
        let form = form_body(&headers, body, facade.max_body_bytes).await?;
        if !csrf_ok(&facade, &headers, &form) {
            return Ok(csrf_refused());
        }
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
        match answer {
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
            Err(status) => {
                let error = Error::from(status);
                let Error::AccessDenied(_) = error else {
                    return Err(error);
                };
                let mut cookies = Cookies::default();
                let csrf = csrf(&facade, &headers, &mut cookies)?;
                let providers = providers(&facade).await?;
                Ok(page(
                    StatusCode::UNAUTHORIZED,
                    pages::sign_in(
                        &csrf,
                        &return_to,
                        &username,
                        Some("That username and password do not match. Try again."),
                        &providers,
                    ),
                    cookies,
                ))
            }
        }
    };
    run.await.unwrap_or_else(|e: Error| problem(&e))
}

/// What the browser carries to the provider and back (a short-lived,
/// HttpOnly cookie): compared on return, so a forged callback fails.
#[derive(serde::Serialize, serde::Deserialize)]
struct UpstreamTrip {
    issuer: String,
    state: String,
    nonce: String,
    code_verifier: String,
    return_to: String,
}

/// `GET /signin/upstream?issuer=…`: off to the provider.
pub async fn sign_in_upstream(State(facade): State<Facade>, uri: axum::http::Uri) -> Response {
    let run = async {
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
        let trip = UpstreamTrip {
            issuer,
            state: start.state,
            nonce: start.nonce,
            code_verifier: start.code_verifier,
            return_to,
        };
        let value = serde_json::to_string(&trip)
            .map_err(|e| Error::Internal(format!("cannot encode the sign-in cookie: {e}")))?;
        let value =
            percent_encoding::utf8_percent_encode(&value, percent_encoding::NON_ALPHANUMERIC)
                .to_string();
        let mut cookies = Cookies::default();
        cookies.set(&facade, UPSTREAM_COOKIE, &value, Some(600));
        Ok(see_other(&start.authorization_url, cookies))
    };
    run.await.unwrap_or_else(|e: Error| problem(&e))
}

/// `GET /signin/callback?code=…&state=…`: back from the provider.
pub async fn sign_in_callback(
    State(facade): State<Facade>,
    headers: HeaderMap,
    uri: axum::http::Uri,
) -> Response {
    let run = async {
        let params = query(uri.query())?;
        let trip: Option<UpstreamTrip> = cookie(&facade, &headers, UPSTREAM_COOKIE)
            .and_then(|v| {
                percent_encoding::percent_decode_str(&v)
                    .decode_utf8()
                    .ok()
                    .map(|c| c.into_owned())
            })
            .and_then(|v| serde_json::from_str(&v).ok());
        let Some(trip) = trip else {
            return Err(Error::invalid_request(
                "the sign-in took too long or was not started in this browser; start again",
            ));
        };
        let state = param(&params, "state").unwrap_or_default();
        if !secret::constant_time_eq(state, &trip.state) {
            return Err(Error::invalid_request(
                "the provider's answer does not belong to this sign-in; start again",
            ));
        }
        if let Some(error) = param(&params, "error") {
            return Err(Error::AccessDenied(format!(
                "the provider did not sign you in ({})",
                error.chars().take(64).collect::<String>()
            )));
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
    };
    run.await.unwrap_or_else(|e: Error| problem(&e))
}

/// `POST /signout`.
pub async fn sign_out(State(facade): State<Facade>, headers: HeaderMap, body: Body) -> Response {
    let run = async {
        let form = form_body(&headers, body, facade.max_body_bytes).await?;
        if !csrf_ok(&facade, &headers, &form) {
            return Ok(csrf_refused());
        }
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
        Ok(see_other(
            &path_with(paths::SIGN_IN, &[("return_to", &return_to)]),
            cookies,
        ))
    };
    run.await.unwrap_or_else(|e: Error| problem(&e))
}

// --- the authorization endpoint -------------------------------------------

fn authorization_parameters(params: &[(String, String)]) -> AuthorizationParameters {
    let get = |name| param(params, name).unwrap_or_default().to_string();
    AuthorizationParameters {
        response_type: get("response_type"),
        client_id: get("client_id"),
        redirect_uri: get("redirect_uri"),
        scope: get("scope"),
        state: get("state"),
        code_challenge: get("code_challenge"),
        code_challenge_method: get("code_challenge_method"),
    }
}

fn authorization_fields(p: &AuthorizationParameters) -> [(&'static str, &str); 7] {
    [
        ("response_type", &p.response_type),
        ("client_id", &p.client_id),
        ("redirect_uri", &p.redirect_uri),
        ("scope", &p.scope),
        ("state", &p.state),
        ("code_challenge", &p.code_challenge),
        ("code_challenge_method", &p.code_challenge_method),
    ]
}

/// `GET /oauth/authorize` (`user_endpoint`): an authorization request
/// (RFC 6749 §4.1.1), or — with `ticket` — a claims-gathering request.
pub async fn authorize(
    State(facade): State<Facade>,
    headers: HeaderMap,
    uri: axum::http::Uri,
) -> Response {
    let run = async {
        let params = query(uri.query())?;
        if param(&params, "ticket").is_some() {
            return claims_page(&facade, &headers, &params).await;
        }
        let parameters = authorization_parameters(&params);
        let check = facade
            .clients
            .consent
            .clone()
            .check_authorization(authorized(parameters.clone(), None))
            .await?
            .into_inner();
        let prompt = match check.outcome {
            Some(authorization_check::Outcome::Redirect(to)) => {
                return Ok(see_other(&to, Cookies::default()));
            }
            Some(authorization_check::Outcome::Prompt(prompt)) => prompt,
            None => return Err(Error::Internal("the core sent no outcome".into())),
        };
        let fields = authorization_fields(&parameters);
        let here = path_with(super::paths::AUTHORIZE, &fields);
        let Some(signed) = signed_in(&facade, &headers).await? else {
            return Ok(to_sign_in(&here));
        };
        let mut cookies = Cookies::default();
        let csrf = csrf(&facade, &headers, &mut cookies)?;
        let roles: Vec<Role> = prompt
            .roles
            .iter()
            .filter_map(|r| match proto::ConsentRole::try_from(*r).ok()? {
                proto::ConsentRole::Protection => Some(Role {
                    title: "Protect your resources",
                    detail: format!(
                        "As a resource server, register your resources with Steward and ask it who may use them (a protection API token for {}).",
                        signed.subject
                    ),
                }),
                proto::ConsentRole::Authorization => Some(Role {
                    title: "Ask for access on your behalf",
                    detail: "As a client, ask resource owners' policies for permission to their resources for you (an authorization API token).".into(),
                }),
                proto::ConsentRole::Unspecified => None,
            })
            .collect();
        let html = pages::consent(&Consent {
            client_name: &prompt.client_name,
            roles: &roles,
            scopes: &prompt.scopes,
            redirect_host: host_of(&prompt.redirect_uri),
            subject: &signed.subject,
            csrf: &csrf,
            fields: &fields,
            return_to: &here,
        });
        Ok(page(StatusCode::OK, html, cookies))
    };
    run.await.unwrap_or_else(|e: Error| problem(&e))
}

/// `POST /oauth/authorize`: the consent page's answer.
pub async fn authorize_answer(
    State(facade): State<Facade>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let run = async {
        let form = form_body(&headers, body, facade.max_body_bytes).await?;
        if !csrf_ok(&facade, &headers, &form) {
            return Ok(csrf_refused());
        }
        let parameters = authorization_parameters(&form);
        let Some(signed) = signed_in(&facade, &headers).await? else {
            let here = path_with(super::paths::AUTHORIZE, &authorization_fields(&parameters));
            return Ok(to_sign_in(&here));
        };
        let location = facade
            .clients
            .consent
            .clone()
            .answer_authorization(authorized(
                AnswerAuthorizationRequest {
                    session_token: signed.token,
                    parameters: Some(parameters),
                    approved: param(&form, "decision") == Some("allow"),
                },
                None,
            ))
            .await?
            .into_inner()
            .location;
        Ok(see_other(&location, Cookies::default()))
    };
    run.await.unwrap_or_else(|e: Error| problem(&e))
}

// --- claims gathering -----------------------------------------------------

fn claims_parameters(params: &[(String, String)]) -> ClaimsParameters {
    let get = |name| param(params, name).unwrap_or_default().to_string();
    ClaimsParameters {
        ticket: get("ticket"),
        client_id: get("client_id"),
        redirect_uri: get("redirect_uri"),
        state: get("state"),
    }
}

fn claims_fields(p: &ClaimsParameters) -> [(&'static str, &str); 4] {
    [
        ("ticket", &p.ticket),
        ("client_id", &p.client_id),
        ("redirect_uri", &p.redirect_uri),
        ("state", &p.state),
    ]
}

/// `GET /uma/claims` (`requesting_party_claims_endpoint`; also
/// `user_endpoint?ticket=…`).
pub async fn claims(
    State(facade): State<Facade>,
    headers: HeaderMap,
    uri: axum::http::Uri,
) -> Response {
    let run = async {
        let params = query(uri.query())?;
        claims_page(&facade, &headers, &params).await
    };
    run.await.unwrap_or_else(|e: Error| problem(&e))
}

async fn claims_page(
    facade: &Facade,
    headers: &HeaderMap,
    params: &[(String, String)],
) -> Result<Response, Error> {
    let parameters = claims_parameters(params);
    let check = facade
        .clients
        .consent
        .clone()
        .check_claims(authorized(parameters.clone(), None))
        .await?
        .into_inner();
    let prompt = match check.outcome {
        Some(claims_check::Outcome::Redirect(to)) => return Ok(see_other(&to, Cookies::default())),
        Some(claims_check::Outcome::Prompt(prompt)) => prompt,
        None => return Err(Error::Internal("the core sent no outcome".into())),
    };
    let fields = claims_fields(&parameters);
    let here = path_with(super::paths::CLAIMS, &fields);
    let Some(signed) = signed_in(facade, headers).await? else {
        return Ok(to_sign_in(&here));
    };
    let mut cookies = Cookies::default();
    let csrf = csrf(facade, headers, &mut cookies)?;
    let claims: Vec<(String, String)> = signed
        .claims
        .as_object()
        .map(|object| {
            object
                .iter()
                .map(|(name, value)| {
                    let shown = match value {
                        Value::String(s) => s.clone(),
                        Value::Array(items) => items
                            .iter()
                            .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_string))
                            .collect::<Vec<_>>()
                            .join(", "),
                        other => other.to_string(),
                    };
                    (name.clone(), shown)
                })
                .collect()
        })
        .unwrap_or_default();
    let html = pages::share_claims(&ShareClaims {
        client_name: &prompt.client_name,
        claims: &claims,
        redirect_host: host_of(&prompt.redirect_uri),
        subject: &signed.subject,
        csrf: &csrf,
        fields: &fields,
        return_to: &here,
    });
    Ok(page(StatusCode::OK, html, cookies))
}

/// `POST /uma/claims`: share the claims (or not) and go back to the client.
pub async fn claims_answer(
    State(facade): State<Facade>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let run = async {
        let form = form_body(&headers, body, facade.max_body_bytes).await?;
        if !csrf_ok(&facade, &headers, &form) {
            return Ok(csrf_refused());
        }
        let parameters = claims_parameters(&form);
        let Some(signed) = signed_in(&facade, &headers).await? else {
            let here = path_with(super::paths::CLAIMS, &claims_fields(&parameters));
            return Ok(to_sign_in(&here));
        };
        let location = facade
            .clients
            .consent
            .clone()
            .answer_claims(authorized(
                AnswerClaimsRequest {
                    session_token: signed.token,
                    parameters: Some(parameters),
                    share: param(&form, "decision") == Some("share"),
                },
                None,
            ))
            .await?
            .into_inner()
            .location;
        Ok(see_other(&location, Cookies::default()))
    };
    run.await.unwrap_or_else(|e: Error| problem(&e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn return_paths_stay_on_this_server() {
        assert_eq!(
            local_path(Some("/oauth/authorize?x=1")),
            "/oauth/authorize?x=1"
        );
        for evil in [
            "https://evil.example/",
            "//evil.example/",
            "/\\evil.example",
            "evil",
            "/a\r\nSet-Cookie: x",
        ] {
            assert_eq!(local_path(Some(evil)), paths::SIGN_IN, "{evil}");
        }
        assert_eq!(local_path(None), paths::SIGN_IN);
    }

    #[test]
    fn repeated_query_parameters_are_refused() {
        assert!(query(Some("a=1&a=2")).is_err());
        assert_eq!(query(Some("a=1&b=2")).unwrap().len(), 2);
        assert!(query(None).unwrap().is_empty());
    }

    #[test]
    fn hosts_are_shown_without_paths() {
        assert_eq!(host_of("https://app.example.com/cb?x"), "app.example.com");
        assert_eq!(host_of("http://127.0.0.1:9/cb"), "127.0.0.1:9");
    }
}
