//! Redirect URIs of the browser flows (RFC 6749 §3.1.2, §4.1.2): which
//! registered URI a request names, and how answers ride on its query.

use super::Error;

/// `uri` with `params` added to its query (RFC 6749 §3.1.2: keep its own
/// query). Empty values are left out.
pub fn with_query(uri: &str, params: &[(&str, &str)]) -> String {
    let mut encoded = url::form_urlencoded::Serializer::new(String::new());
    for (name, value) in params.iter().filter(|(_, v)| !v.is_empty()) {
        encoded.append_pair(name, value);
    }
    let encoded = encoded.finish();
    if encoded.is_empty() {
        return uri.to_string();
    }
    let separator = if uri.contains('?') { '&' } else { '?' };
    format!("{uri}{separator}{encoded}")
}

/// The registered redirect URI that `requested` names exactly, or the only
/// one registered when `requested` is empty.
pub fn registered(registered: &[String], requested: &str) -> Result<String, Error> {
    if requested.is_empty() {
        return match registered {
            [only] => Ok(only.clone()),
            _ => Err(Error::invalid_request("`redirect_uri` is required")),
        };
    }
    if registered.iter().any(|r| r == requested) {
        Ok(requested.to_string())
    } else {
        Err(Error::invalid_request(
            "`redirect_uri` is not registered for this client",
        ))
    }
}

/// An error answer for the client at its redirect URI (RFC 6749 §4.1.2.1),
/// with `state` and the issuer (RFC 9207) so a mix-up is detectable.
pub fn error_to(
    redirect_uri: &str,
    error: &str,
    description: &str,
    state: &str,
    issuer: &str,
) -> String {
    with_query(
        redirect_uri,
        &[
            ("error", error),
            ("error_description", description),
            ("state", state),
            ("iss", issuer),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_parameters_are_appended_and_encoded() {
        assert_eq!(
            with_query("https://c/cb", &[("code", "a b"), ("state", "")]),
            "https://c/cb?code=a+b"
        );
        assert_eq!(
            with_query("https://c/cb?x=1", &[("state", "s&t")]),
            "https://c/cb?x=1&state=s%26t"
        );
        assert_eq!(with_query("https://c/cb", &[("state", "")]), "https://c/cb");
    }

    #[test]
    fn a_redirect_uri_must_be_registered_exactly() {
        let one = vec!["https://c/cb".to_string()];
        let two = vec!["https://c/cb".to_string(), "https://c/other".to_string()];
        assert_eq!(registered(&one, "").as_deref(), Ok("https://c/cb"));
        assert!(registered(&two, "").is_err());
        assert_eq!(
            registered(&two, "https://c/other").as_deref(),
            Ok("https://c/other")
        );
        assert!(registered(&one, "https://c/cb/").is_err());
        assert!(registered(&one, "https://C/cb").is_err());
    }

    #[test]
    fn errors_carry_state_and_issuer() {
        assert_eq!(
            error_to("https://c/cb", "access_denied", "no", "s1", "https://as"),
            "https://c/cb?error=access_denied&error_description=no&state=s1&iss=https%3A%2F%2Fas"
        );
    }
}
