//! OAuth grant types (RFC 6749 §4, RFC 7523) and the token request that
//! names one. This is the one place a grant type's name is spelled: the token
//! endpoint, client registration and discovery all go through [`GrantType`].

use super::Error;
use super::identifier::{self, Kind, Refused};
use super::secret::Secret;

/// A grant type the token endpoint knows by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GrantType {
    /// RFC 6749 §4.4: the client acts for itself (or, for a PAT, its owner).
    ClientCredentials,
    /// RFC 6749 §4.1, with PKCE: a user consents in a browser.
    AuthorizationCode,
    /// RFC 6749 §6, rotating.
    RefreshToken,
    /// RFC 7523: an assertion from a trusted issuer names the requesting party.
    JwtBearer,
    /// Known by name so it is refused as "not enabled" rather than unknown:
    /// Steward never takes a user's password at the token endpoint.
    Password,
    /// Known by name, never served (RFC 7522).
    Saml2Bearer,
}

impl GrantType {
    /// Every grant type, in the order discovery lists the served ones.
    pub const ALL: [GrantType; 6] = [
        GrantType::ClientCredentials,
        GrantType::AuthorizationCode,
        GrantType::RefreshToken,
        GrantType::JwtBearer,
        GrantType::Password,
        GrantType::Saml2Bearer,
    ];

    /// The name on the wire (`grant_type`, `grant_types`).
    pub fn as_str(self) -> &'static str {
        match self {
            GrantType::ClientCredentials => "client_credentials",
            GrantType::AuthorizationCode => "authorization_code",
            GrantType::RefreshToken => "refresh_token",
            GrantType::JwtBearer => "urn:ietf:params:oauth:grant-type:jwt-bearer",
            GrantType::Password => "password",
            GrantType::Saml2Bearer => "urn:ietf:params:oauth:grant-type:saml2-bearer",
        }
    }

    /// The grant type `name` spells exactly, if any.
    pub fn parse(name: &str) -> Option<GrantType> {
        GrantType::ALL.into_iter().find(|g| g.as_str() == name)
    }

    /// Whether Steward implements it (a client can be registered for it).
    pub fn is_implemented(self) -> bool {
        match self {
            GrantType::ClientCredentials
            | GrantType::AuthorizationCode
            | GrantType::RefreshToken
            | GrantType::JwtBearer => true,
            GrantType::Password | GrantType::Saml2Bearer => false,
        }
    }

    /// Whether a public client (no secret) may use it: PKCE protects the
    /// code and rotation the refresh token; the others rest on the secret.
    pub fn public_clients_may_use(self) -> bool {
        match self {
            GrantType::AuthorizationCode | GrantType::RefreshToken => true,
            GrantType::ClientCredentials
            | GrantType::JwtBearer
            | GrantType::Password
            | GrantType::Saml2Bearer => false,
        }
    }

    /// The grant a token request's `grant_type` names: `invalid_request`
    /// when it is missing, `unsupported_grant_type` when nobody knows it.
    pub fn requested(name: &str) -> Result<GrantType, Error> {
        if name.is_empty() {
            return Err(Error::invalid_request("`grant_type` is required"));
        }
        GrantType::parse(name).ok_or_else(|| {
            Error::UnsupportedGrantType(format!(
                "unknown grant type `{}`",
                name.chars().take(100).collect::<String>()
            ))
        })
    }

    /// Whether a client's registered grant types include this one.
    pub fn allowed_in(self, registered: &[String]) -> bool {
        registered.iter().any(|g| g == self.as_str())
    }
}

impl std::fmt::Display for GrantType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A token request after the façade (or a gRPC caller) parsed it. The grant
/// modules read the parameters their grant defines; the rest stay empty.
#[derive(Debug, Clone, Default)]
pub struct TokenRequest {
    pub grant_type: String,
    pub client_id: String,
    pub client_secret: Secret,
    /// Space-separated, as on the wire.
    pub scope: String,
    /// The assertion of the JWT bearer grant.
    pub assertion: Secret,
    /// `authorization_code`: the code, the redirect URI it was sent to, and
    /// the PKCE verifier.
    pub code: Secret,
    pub redirect_uri: String,
    pub code_verifier: Secret,
    /// `refresh_token`: the refresh token.
    pub refresh_token: Secret,
}

impl TokenRequest {
    /// Every parameter is an identifier of some kind: refused here, before
    /// any is looked up, when it holds control characters or is too long.
    pub fn check(&self) -> Result<(), Refused> {
        identifier::check("grant_type", &self.grant_type, Kind::Text)?;
        identifier::check("client_id", &self.client_id, Kind::Id)?;
        identifier::check("client_secret", self.client_secret.expose(), Kind::Token)?;
        identifier::scope_parameter("scope", &self.scope)?;
        identifier::check("assertion", self.assertion.expose(), Kind::Token)?;
        identifier::check("code", self.code.expose(), Kind::Token)?;
        identifier::check("redirect_uri", &self.redirect_uri, Kind::Text)?;
        identifier::check("code_verifier", self.code_verifier.expose(), Kind::Text)?;
        identifier::check("refresh_token", self.refresh_token.expose(), Kind::Token)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_parses_back_to_its_grant() {
        for grant in GrantType::ALL {
            assert_eq!(GrantType::parse(grant.as_str()), Some(grant));
            assert_eq!(GrantType::requested(grant.as_str()), Ok(grant));
        }
        assert_eq!(GrantType::parse("Client_Credentials"), None);
    }

    #[test]
    fn missing_and_unknown_grants_are_told_apart() {
        assert!(matches!(
            GrantType::requested(""),
            Err(Error::InvalidRequest(_))
        ));
        let long = "x".repeat(300);
        match GrantType::requested(&long) {
            Err(Error::UnsupportedGrantType(d)) => assert!(d.len() < 130, "{d}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn only_the_browser_grants_are_open_to_public_clients() {
        let public: Vec<_> = GrantType::ALL
            .into_iter()
            .filter(|g| g.public_clients_may_use())
            .collect();
        assert_eq!(
            public,
            [GrantType::AuthorizationCode, GrantType::RefreshToken]
        );
    }
}
