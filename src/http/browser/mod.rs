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
//!
//! Map: this file holds what every page shares (paths, the page and
//! redirect answers, query and return-path checks); `cookies` and `csrf`
//! the browser's state; `session` who is signed in; `decision` what the
//! consent and claims pages share (the page, and the form → CSRF → session
//! → core → 303 answer); `error` the error page; `sign_in`, `upstream`,
//! `consent` and `claims` the handlers; `pages` the HTML.

mod claims;
mod consent;
mod cookies;
mod csrf;
mod decision;
mod error;
pub mod pages;
mod session;
mod sign_in;
mod upstream;

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::domain::Error;
use cookies::Cookies;

pub use claims::{claims, claims_answer};
pub use consent::{authorize, authorize_answer};
pub use error::PageError;
pub use sign_in::{sign_in, sign_in_page, sign_out};
pub use upstream::{sign_in_callback, sign_in_upstream};

/// Page paths.
pub mod paths {
    pub const SIGN_IN: &str = "/signin";
    pub const SIGN_IN_UPSTREAM: &str = "/signin/upstream";
    pub const SIGN_IN_CALLBACK: &str = "/signin/callback";
    pub const SIGN_OUT: &str = "/signout";
    pub const STYLESHEET: &str = "/static/steward.css";
}

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

/// Renders a page with the browser-safety headers.
fn page(status: StatusCode, html: String, cookies: Cookies) -> Response {
    let mut response = (status, html).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    secure_headers(headers);
    cookies.write_to(headers);
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
    cookies.write_to(headers);
    response
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

/// The host a redirect URI sends the user to (shown on consent pages).
fn host_of(uri: &str) -> &str {
    let rest = uri.split_once("://").map_or(uri, |(_, r)| r);
    rest.split(['/', '?']).next().unwrap_or(rest)
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
