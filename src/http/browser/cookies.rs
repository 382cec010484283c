//! The browser's cookies: the session, the CSRF secret and the upstream
//! sign-in trip. HttpOnly and SameSite=Lax always; `Secure` and the
//! `__Host-` prefix when the issuer is https.

use axum::http::{HeaderMap, HeaderValue, header};

use crate::http::Facade;

/// The session token the core issued at sign-in.
pub(super) const SESSION_COOKIE: &str = "steward_session";
/// The per-browser secret CSRF tokens are derived from.
pub(super) const CSRF_COOKIE: &str = "steward_csrf";
/// The upstream sign-in in progress (`upstream::Trip`).
pub(super) const UPSTREAM_COOKIE: &str = "steward_upstream";

/// Longest cookie value read back; anything longer is ignored.
const MAX_VALUE: usize = 4096;

/// What a page answer needs beyond its HTML: cookies to set.
#[derive(Default)]
pub(super) struct Cookies(Vec<String>);

impl Cookies {
    /// Sets `name` (a session cookie unless `max_age` seconds are given).
    pub(super) fn set(&mut self, facade: &Facade, name: &str, value: &str, max_age: Option<i64>) {
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

    /// Tells the browser to forget `name`.
    pub(super) fn clear(&mut self, facade: &Facade, name: &str) {
        self.set(facade, name, "", Some(0));
    }

    /// Adds a `Set-Cookie` header for each cookie.
    pub(super) fn write_to(self, headers: &mut HeaderMap) {
        for cookie in self.0 {
            if let Ok(value) = HeaderValue::from_str(&cookie) {
                headers.append(header::SET_COOKIE, value);
            }
        }
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
pub(super) fn cookie(facade: &Facade, headers: &HeaderMap, name: &str) -> Option<String> {
    let wanted = cookie_name(facade, name);
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == wanted)
        .map(|(_, v)| v.to_string())
        .filter(|v| !v.is_empty() && v.len() <= MAX_VALUE)
}
