//! The one rule for identifier-like values a caller sends: client ids,
//! resource set, policy and pending-request ids, subjects, usernames,
//! scopes, tokens (tickets, RPTs, codes, refresh tokens, assertions, claim
//! tokens) and request parameters (redirect URIs, `state`, PKCE values).
//!
//! Every such value is refused when it holds a control character (C0
//! `\0`–`\x1f`, DEL `\x7f`, C1 `\u{80}`–`\u{9f}`) or is longer than the
//! maximum of its [`Kind`]. No legitimate caller sends either, and the
//! databases disagree about them (PostgreSQL refuses a NUL in text, SQLite
//! stores it), so they are stopped where a request enters the core, the same
//! for HTTP and gRPC, before anything is looked up or stored.

use super::Error;

/// Longest id: client ids, resource set ids, policy and pending-request ids,
/// owners and subjects (OpenID Connect's limit on `sub`).
pub const MAX_ID: usize = 255;
/// Longest scope.
pub const MAX_SCOPE: usize = 255;
/// Most scopes in one request, registration, policy or profile entry.
pub const MAX_SCOPES: usize = 256;
/// Longest token-like value (the longest bearer token Steward parses).
pub const MAX_TOKEN: usize = super::token::MAX_TOKEN_LEN;
/// Longest request parameter or label: redirect URIs, `state`, PKCE
/// values, names.
pub const MAX_TEXT: usize = 2048;
/// Longest username at sign-in (accounts themselves have at most 64).
pub const MAX_USERNAME: usize = 256;

/// What kind of value is checked: each kind has its own maximum length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// [`MAX_ID`] bytes.
    Id,
    /// [`MAX_SCOPE`] bytes, and no whitespace either.
    Scope,
    /// [`MAX_TOKEN`] bytes.
    Token,
    /// [`MAX_TEXT`] bytes.
    Text,
    /// [`MAX_USERNAME`] bytes.
    Username,
}

impl Kind {
    /// The longest value of this kind, in bytes.
    pub const fn max_len(self) -> usize {
        match self {
            Kind::Id => MAX_ID,
            Kind::Scope => MAX_SCOPE,
            Kind::Token => MAX_TOKEN,
            Kind::Text => MAX_TEXT,
            Kind::Username => MAX_USERNAME,
        }
    }
}

/// Why a value was refused: a sentence naming the field, never quoting the
/// value. Becomes `invalid_request` through `?`; an endpoint whose spec
/// names another code for the field picks it with [`Refused::into_error`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused(pub String);

impl Refused {
    /// The refusal as the error variant `variant` (e.g.
    /// `Error::InvalidResourceSetId` at permission registration).
    pub fn into_error(self, variant: fn(String) -> Error) -> Error {
        variant(self.0)
    }
}

impl From<Refused> for Error {
    fn from(refused: Refused) -> Error {
        Error::InvalidRequest(refused.0)
    }
}

/// Whether `c` is a control character (Unicode `Cc`: C0, DEL and C1).
pub fn is_control(c: char) -> bool {
    c.is_control()
}

/// Checks a value that may be empty: no control characters, at most the
/// kind's maximum length (and for a scope, no whitespace).
pub fn check(field: &str, value: &str, kind: Kind) -> Result<(), Refused> {
    let max = kind.max_len();
    if value.len() > max {
        return Err(Refused(format!("`{field}` is longer than {max} bytes")));
    }
    if value.chars().any(is_control) {
        return Err(Refused(format!(
            "`{field}` must not contain control characters"
        )));
    }
    if kind == Kind::Scope && value.chars().any(char::is_whitespace) {
        return Err(Refused(format!("`{field}` must not contain whitespace")));
    }
    Ok(())
}

/// Checks a required value: as [`check`], and not empty.
pub fn require(field: &str, value: &str, kind: Kind) -> Result<(), Refused> {
    if value.is_empty() {
        return Err(Refused(format!("`{field}` is required")));
    }
    check(field, value, kind)
}

/// Checks a list of scopes: at most [`MAX_SCOPES`], each a non-empty
/// [`Kind::Scope`].
pub fn scopes(field: &str, scopes: &[String]) -> Result<(), Refused> {
    if scopes.len() > MAX_SCOPES {
        return Err(Refused(format!(
            "`{field}` may list at most {MAX_SCOPES} scopes"
        )));
    }
    scopes
        .iter()
        .try_for_each(|scope| require(&format!("{field}[]"), scope, Kind::Scope))
}

/// Checks a space-separated `scope` parameter (RFC 6749 §3.3): no control
/// characters, at most [`MAX_SCOPES`] scopes of at most [`MAX_SCOPE`] bytes.
pub fn scope_parameter(field: &str, value: &str) -> Result<(), Refused> {
    if value.chars().any(is_control) {
        return Err(Refused(format!(
            "`{field}` must not contain control characters"
        )));
    }
    let mut count = 0;
    for scope in value.split(' ').filter(|s| !s.is_empty()) {
        count += 1;
        if count > MAX_SCOPES {
            return Err(Refused(format!(
                "`{field}` may list at most {MAX_SCOPES} scopes"
            )));
        }
        check(field, scope, Kind::Scope)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_refused_in_every_kind() {
        for kind in [
            Kind::Id,
            Kind::Scope,
            Kind::Token,
            Kind::Text,
            Kind::Username,
        ] {
            for bad in [
                "a\0b",
                "\u{1}",
                "tab\there",
                "new\nline",
                "del\u{7f}",
                "c1\u{85}",
                "c1\u{9f}",
            ] {
                let refused = check("client_id", bad, kind).unwrap_err();
                assert!(refused.0.contains("`client_id`"), "{refused:?}");
                assert!(!refused.0.contains(bad), "the value is never quoted");
            }
            assert!(check("x", "café-ok_1.2~", kind).is_ok());
            // Just outside the ranges.
            assert!(check("x", "\u{a0}", kind).is_ok() || kind == Kind::Scope);
        }
    }

    #[test]
    fn each_kind_has_its_maximum() {
        for (kind, max) in [
            (Kind::Id, MAX_ID),
            (Kind::Scope, MAX_SCOPE),
            (Kind::Token, MAX_TOKEN),
            (Kind::Text, MAX_TEXT),
            (Kind::Username, MAX_USERNAME),
        ] {
            assert!(check("f", &"x".repeat(max), kind).is_ok());
            let refused = check("f", &"x".repeat(max + 1), kind).unwrap_err();
            assert_eq!(refused.0, format!("`f` is longer than {max} bytes"));
        }
        // Bytes, not characters.
        assert!(check("f", &"é".repeat(128), Kind::Id).is_err());
    }

    #[test]
    fn required_values_are_not_empty() {
        assert_eq!(
            require("ticket", "", Kind::Token).unwrap_err().0,
            "`ticket` is required"
        );
        assert!(check("ticket", "", Kind::Token).is_ok());
    }

    #[test]
    fn scopes_are_counted_and_checked_one_by_one() {
        assert!(scopes("scopes", &["view".into(), "edit".into()]).is_ok());
        assert!(scopes("scopes", &["".into()]).is_err());
        assert!(scopes("scopes", &["has space".into()]).is_err());
        assert!(scopes("scopes", &["nul\0".into()]).is_err());
        let many: Vec<String> = (0..=MAX_SCOPES).map(|i| i.to_string()).collect();
        assert!(scopes("scopes", &many).is_err());
        assert!(scopes("scopes", &many[..MAX_SCOPES]).is_ok());
        assert!(scope_parameter("scope", " a  b ").is_ok());
        assert!(scope_parameter("scope", "a\tb").is_err());
        assert!(scope_parameter("scope", &format!("a {}", "x".repeat(MAX_SCOPE + 1))).is_err());
        let many = (0..=MAX_SCOPES).map(|i| i.to_string()).collect::<Vec<_>>();
        assert!(scope_parameter("scope", &many.join(" ")).is_err());
    }

    #[test]
    fn refusals_become_the_variant_asked_for() {
        let refused = Refused("`resource_set_id` is required".into());
        assert_eq!(
            Error::from(refused.clone()),
            Error::InvalidRequest("`resource_set_id` is required".into())
        );
        assert_eq!(
            refused.into_error(Error::InvalidResourceSetId),
            Error::InvalidResourceSetId("`resource_set_id` is required".into())
        );
    }
}
