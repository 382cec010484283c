//! CSRF protection: a per-browser secret in an HttpOnly cookie, and a token
//! derived from it that every form carries, so the cookie itself never
//! appears in a page. The secret comes from the façade's injected entropy.

use axum::http::HeaderMap;

use super::PageError;
use super::cookies::{CSRF_COOKIE, Cookies, cookie};
use crate::domain::Error;
use crate::domain::secret;
use crate::http::Facade;
use crate::http::extract::param;

/// Random bytes in a browser's CSRF secret.
const SECRET_BYTES: usize = 32;

/// The token this browser's forms carry, and the cookie that sets its
/// secret when the browser has none yet (minted then).
pub(super) fn token(facade: &Facade, headers: &HeaderMap) -> Result<(String, Cookies), Error> {
    let mut cookies = Cookies::default();
    let secret = match cookie(facade, headers, CSRF_COOKIE) {
        Some(value) => value,
        None => {
            let value = secret::mint(facade.entropy.as_ref(), SECRET_BYTES)?;
            cookies.set(facade, CSRF_COOKIE, &value, None);
            value
        }
    };
    Ok((derive(&secret), cookies))
}

fn derive(secret: &str) -> String {
    secret::token_hash(&format!("steward-csrf:{secret}"))
}

/// Passes a submitted form that carries this browser's CSRF token; any
/// other is refused as expired.
pub(super) fn check(
    facade: &Facade,
    headers: &HeaderMap,
    form: &[(String, String)],
) -> Result<(), PageError> {
    match (cookie(facade, headers, CSRF_COOKIE), param(form, "csrf")) {
        (Some(secret), Some(token)) if secret::constant_time_eq(&derive(&secret), token) => Ok(()),
        _ => Err(PageError::FormExpired),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use axum::http::header;

    use super::*;
    use crate::domain::secret::Entropy;
    use crate::http::{CoreClients, FacadeOptions};

    /// Entropy that gives the same byte every time.
    struct Same(u8);

    impl Entropy for Same {
        fn fill(&self, buf: &mut [u8]) -> Result<(), Error> {
            buf.fill(self.0);
            Ok(())
        }
    }

    /// Entropy that has none to give.
    struct Broken;

    impl Entropy for Broken {
        fn fill(&self, _: &mut [u8]) -> Result<(), Error> {
            Err(Error::Internal("no entropy".into()))
        }
    }

    /// A façade whose core is never called (CSRF needs no core).
    fn facade(entropy: impl Entropy + 'static) -> Facade {
        Facade::new(
            CoreClients::new(crate::grpc::in_process(tonic::service::Routes::default())),
            FacadeOptions {
                issuer: "http://steward.test".into(),
                max_body_bytes: 1024,
                trusted_proxies: Vec::new(),
                hsts: false,
            },
            Arc::new(entropy),
        )
    }

    fn form(token: &str) -> Vec<(String, String)> {
        vec![("csrf".into(), token.into())]
    }

    #[test]
    fn a_new_browsers_secret_comes_from_the_facades_entropy() {
        let facade = facade(Same(7));
        let minted = secret::mint(&Same(7), SECRET_BYTES).unwrap();
        let (token, cookies) = super::token(&facade, &HeaderMap::new()).unwrap();
        assert_eq!(token, derive(&minted));
        assert_ne!(token, minted, "the page never shows the secret");
        let mut set = HeaderMap::new();
        cookies.write_to(&mut set);
        let cookie = set[header::SET_COOKIE].to_str().unwrap();
        assert!(
            cookie.starts_with(&format!("{CSRF_COOKIE}={minted};")),
            "{cookie}"
        );

        // The browser now has its secret: the same token, no new cookie, and
        // only a form carrying that token passes.
        let mut browser = HeaderMap::new();
        let sent = format!("{CSRF_COOKIE}={minted}");
        browser.insert(header::COOKIE, sent.parse().unwrap());
        let (again, cookies) = super::token(&facade, &browser).unwrap();
        assert_eq!(again, token);
        let mut set = HeaderMap::new();
        cookies.write_to(&mut set);
        assert!(set.is_empty());
        assert!(check(&facade, &browser, &form(&token)).is_ok());
        for refused in [
            check(&facade, &browser, &form(&minted)),
            check(&facade, &browser, &[]),
            check(&facade, &HeaderMap::new(), &form(&token)),
        ] {
            assert!(matches!(refused, Err(PageError::FormExpired)));
        }
    }

    #[test]
    fn no_entropy_no_token() {
        let refused = super::token(&facade(Broken), &HeaderMap::new());
        assert!(matches!(refused, Err(Error::Internal(_))));
    }

    #[test]
    fn the_token_is_not_the_secret_and_depends_on_it() {
        assert_ne!(derive("a"), "a");
        assert_ne!(derive("a"), derive("b"));
        assert_eq!(derive("a"), derive("a"));
    }
}
