//! The `authorization_code` grant (RFC 6749 §4.1) with PKCE (RFC 7636) and
//! rotating refresh tokens: how a resource owner consents to a resource
//! server (a PAT) and a requesting party to a client (an AAT) in a browser.
//!
//! Errors before the redirect URI is known to be the client's are shown to
//! the user and never redirected (§4.1.2.1); every later error goes back to
//! the client on its registered redirect URI with `state`.

use serde_json::{Map, Value};

use super::Core;
use super::tokens::{IssuedToken, TokenRequest};
use crate::domain::identifier::{self, Kind};
use crate::domain::scope::{self, ApiScope};
use crate::domain::{Error, UnixTime, pkce, secret};
use crate::store::{
    self,
    clients::{AuthMethod, ClientRecord},
    grants::{GrantRecord, NewCode, NewRefresh},
};

/// The grant type names.
pub const AUTHORIZATION_CODE: &str = "authorization_code";
pub const REFRESH_TOKEN: &str = "refresh_token";

/// Seconds an authorization code lives (RFC 6749 §4.1.2: short).
const CODE_TTL: i64 = 60;

/// The parameters of an authorization request, as the browser sent them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthorizationRequest {
    pub response_type: String,
    pub client_id: String,
    /// Empty when the client has exactly one registered URI and omitted it.
    pub redirect_uri: String,
    pub scope: String,
    pub state: String,
    pub code_challenge: String,
    pub code_challenge_method: String,
}

/// The role a consent grants, named on the consent page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsentRole {
    /// A PAT: the client, a resource server, may register and protect the
    /// user's resources.
    Protection,
    /// An AAT: the client may ask for access on the user's behalf.
    Authorization,
}

/// What the user is asked to consent to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentPrompt {
    pub client_id: String,
    pub client_name: String,
    /// The registered redirect URI the answer goes to.
    pub redirect_uri: String,
    pub scopes: Vec<String>,
    pub roles: Vec<ConsentRole>,
}

/// Where an authorization request stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthorizationCheck {
    /// Valid: ask the user.
    Prompt(ConsentPrompt),
    /// Invalid in a way the client must hear about: send the browser here.
    Redirect(String),
}

/// A signed-in user as the browser flows see them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedInUser {
    pub subject: String,
    pub claims: Map<String, Value>,
}

/// `uri` with `params` added to its query (RFC 6749 §3.1.2: keep its own query).
pub(crate) fn with_query(uri: &str, params: &[(&str, &str)]) -> String {
    let params: Vec<_> = params.iter().filter(|(_, v)| !v.is_empty()).collect();
    let encoded = serde_urlencoded::to_string(&params).unwrap_or_default();
    if encoded.is_empty() {
        return uri.to_string();
    }
    let separator = if uri.contains('?') { '&' } else { '?' };
    format!("{uri}{separator}{encoded}")
}

/// The client's registered redirect URI that `requested` names exactly (or
/// its only one when `requested` is empty).
pub(crate) fn registered_redirect(client: &ClientRecord, requested: &str) -> Result<String, Error> {
    if requested.is_empty() {
        return match client.redirect_uris.as_slice() {
            [only] => Ok(only.clone()),
            _ => Err(Error::invalid_request("`redirect_uri` is required")),
        };
    }
    if client.redirect_uris.iter().any(|r| r == requested) {
        Ok(requested.to_string())
    } else {
        Err(Error::invalid_request(
            "`redirect_uri` is not registered for this client",
        ))
    }
}

impl Core {
    /// Checks an authorization request (RFC 6749 §4.1.1). `Err` means the
    /// user must see the error: the client or its redirect URI is unknown.
    pub async fn check_authorization(
        &self,
        request: &AuthorizationRequest,
    ) -> Result<AuthorizationCheck, Error> {
        let fields = [
            ("response_type", &request.response_type),
            ("redirect_uri", &request.redirect_uri),
            ("scope", &request.scope),
            ("state", &request.state),
            ("code_challenge", &request.code_challenge),
            ("code_challenge_method", &request.code_challenge_method),
        ];
        for (name, value) in fields {
            identifier::check(name, value, Kind::Text)?;
        }
        identifier::require("client_id", &request.client_id, Kind::Id)?;
        let client = store::clients::find(&self.inner.store, &request.client_id)
            .await?
            .ok_or_else(|| Error::invalid_request("the client is not registered here"))?;
        let redirect_uri = registered_redirect(&client, &request.redirect_uri)?;
        let refuse = |error: &str, description: &str| {
            Ok(AuthorizationCheck::Redirect(with_query(
                &redirect_uri,
                &[
                    ("error", error),
                    ("error_description", description),
                    ("state", &request.state),
                    ("iss", &self.inner.policy.issuer),
                ],
            )))
        };
        if request.response_type != "code" {
            return refuse(
                "unsupported_response_type",
                "only response_type=code is supported",
            );
        }
        if !client.grant_types.iter().any(|g| g == AUTHORIZATION_CODE) {
            return refuse(
                "unauthorized_client",
                "this client may not use the authorization_code grant",
            );
        }
        let scopes = match scope::grant(&request.scope, &client.scopes) {
            Ok(scopes) => scopes,
            Err(e) => return refuse("invalid_scope", e.description()),
        };
        let challenge = request.code_challenge.as_str();
        if !challenge.is_empty() || !request.code_challenge_method.is_empty() {
            if request.code_challenge_method != pkce::S256 {
                return refuse(
                    "invalid_request",
                    "code_challenge_method must be S256 (plain is not accepted)",
                );
            }
            if !pkce::well_formed(challenge) {
                return refuse("invalid_request", "code_challenge is malformed");
            }
        } else if client.auth_method == AuthMethod::None {
            return refuse(
                "invalid_request",
                "public clients must use PKCE (code_challenge with S256)",
            );
        }
        let mut roles = Vec::new();
        for wanted in [ApiScope::Protection, ApiScope::Authorization] {
            if scopes.iter().any(|s| ApiScope::parse(s) == Some(wanted)) {
                roles.push(match wanted {
                    ApiScope::Protection => ConsentRole::Protection,
                    ApiScope::Authorization => ConsentRole::Authorization,
                });
            }
        }
        Ok(AuthorizationCheck::Prompt(ConsentPrompt {
            client_id: client.client_id,
            client_name: client.name,
            redirect_uri,
            scopes,
            roles,
        }))
    }

    /// The user's answer to a consent prompt: a redirect carrying a code (or
    /// `access_denied`). The request is checked again, as the page may be old.
    pub async fn answer_authorization(
        &self,
        user: &SignedInUser,
        request: &AuthorizationRequest,
        approved: bool,
    ) -> Result<String, Error> {
        let prompt = match self.check_authorization(request).await? {
            AuthorizationCheck::Redirect(to) => return Ok(to),
            AuthorizationCheck::Prompt(prompt) => prompt,
        };
        let issuer = self.inner.policy.issuer.as_str();
        if !approved {
            return Ok(with_query(
                &prompt.redirect_uri,
                &[
                    ("error", "access_denied"),
                    ("error_description", "the user declined"),
                    ("state", &request.state),
                    ("iss", issuer),
                ],
            ));
        }
        let now = self.now();
        let entropy = self.inner.entropy.as_ref();
        let code = secret::mint(entropy, 32)?;
        let grant = GrantRecord {
            id: secret::mint(entropy, 16)?,
            client_id: prompt.client_id.clone(),
            subject: user.subject.clone(),
            scopes: prompt.scopes.clone(),
            claims: user.claims.clone(),
            created_at: now,
            revoked_at: None,
        };
        let challenge = Some(request.code_challenge.clone()).filter(|c| !c.is_empty());
        store::grants::insert_with_code(
            &self.inner.store,
            &grant,
            &NewCode {
                code_hash: secret::token_hash(&code),
                redirect_uri: prompt.redirect_uri.clone(),
                code_challenge: challenge,
                expires_at: now + CODE_TTL,
            },
        )
        .await?;
        tracing::info!(client = %prompt.client_id, "authorization code issued");
        Ok(with_query(
            &prompt.redirect_uri,
            &[("code", &code), ("state", &request.state), ("iss", issuer)],
        ))
    }

    /// Client authentication at the token endpoint: a secret, or — for a
    /// public client on the browser grants — its id alone (PKCE protects it).
    pub(crate) async fn authenticate_token_client(
        &self,
        client_id: &str,
        client_secret: &str,
        grant_type: &str,
    ) -> Result<ClientRecord, Error> {
        if !client_secret.is_empty() {
            return self.authenticate_client(client_id, client_secret).await;
        }
        let browser_grant = grant_type == AUTHORIZATION_CODE || grant_type == REFRESH_TOKEN;
        if browser_grant && !client_id.is_empty() && client_id.len() <= 256 {
            let client = store::clients::find(&self.inner.store, client_id).await?;
            if let Some(client) = client.filter(|c| c.auth_method == AuthMethod::None) {
                return Ok(client);
            }
        }
        Err(Error::InvalidClient("client authentication failed".into()))
    }

    /// `grant_type=authorization_code` (RFC 6749 §4.1.3). A code presented a
    /// second time revokes everything issued with it.
    pub(crate) async fn redeem_code(
        &self,
        client: &ClientRecord,
        request: &TokenRequest,
    ) -> Result<IssuedToken, Error> {
        if request.code.is_empty() {
            return Err(Error::invalid_request("`code` is required"));
        }
        let invalid = |m: &str| Err(Error::InvalidGrant(m.to_string()));
        if request.code.len() > 512 {
            return invalid("the code is unknown");
        }
        let store = &self.inner.store;
        let code_hash = secret::token_hash(&request.code);
        let Some(code) = store::grants::find_code(store, &code_hash).await? else {
            return invalid("the code is unknown");
        };
        let Some(grant) = store::grants::find(store, &code.grant_id).await? else {
            return invalid("the code is unknown");
        };
        if grant.client_id != client.client_id {
            tracing::warn!("an authorization code was presented by another client");
            return invalid("the code was issued to another client");
        }
        let now = self.now();
        if code.redeemed_at.is_some() {
            store::grants::revoke(store, &grant.id, now).await?;
            tracing::warn!(client = %client.client_id, "an authorization code was used twice; its grant is revoked");
            return invalid("the code was already used; the tokens it issued are revoked");
        }
        if grant.revoked_at.is_some() {
            return invalid("the grant was revoked");
        }
        if now >= code.expires_at {
            return invalid("the code expired");
        }
        let redirect_ok = if request.redirect_uri.is_empty() {
            client.redirect_uris.len() == 1 && client.redirect_uris[0] == code.redirect_uri
        } else {
            request.redirect_uri == code.redirect_uri
        };
        if !redirect_ok {
            return invalid("redirect_uri does not match the authorization request");
        }
        match (&code.code_challenge, request.code_verifier.as_str()) {
            (Some(challenge), verifier) if pkce::verifies(verifier, challenge) => {}
            (Some(_), _) => return invalid("the PKCE code_verifier does not match"),
            (None, "") => {}
            (None, _) => return invalid("no code_challenge was sent for this code"),
        }
        let refresh = self.new_refresh(client, &grant.id, now)?;
        if !store::grants::redeem_code(store, &code_hash, now, refresh.as_ref().map(|r| &r.1))
            .await?
        {
            store::grants::revoke(store, &grant.id, now).await?;
            return invalid("the code was already used; the tokens it issued are revoked");
        }
        self.grant_token(&grant, &grant.scopes, now, refresh.map(|r| r.0))
    }

    /// `grant_type=refresh_token` (RFC 6749 §6), rotating: each refresh
    /// token works once, and a used one presented again revokes the grant.
    pub(crate) async fn refresh(
        &self,
        client: &ClientRecord,
        request: &TokenRequest,
    ) -> Result<IssuedToken, Error> {
        if request.refresh_token.is_empty() {
            return Err(Error::invalid_request("`refresh_token` is required"));
        }
        let invalid = |m: &str| Err(Error::InvalidGrant(m.to_string()));
        if request.refresh_token.len() > 512 {
            return invalid("the refresh token is unknown");
        }
        let store = &self.inner.store;
        let hash = secret::token_hash(&request.refresh_token);
        let Some(token) = store::grants::find_refresh(store, &hash).await? else {
            return invalid("the refresh token is unknown");
        };
        let Some(grant) = store::grants::find(store, &token.grant_id).await? else {
            return invalid("the refresh token is unknown");
        };
        if grant.client_id != client.client_id {
            return invalid("the refresh token was issued to another client");
        }
        if grant.revoked_at.is_some() {
            return invalid("the grant was revoked");
        }
        let now = self.now();
        if token.used_at.is_some() {
            store::grants::revoke(store, &grant.id, now).await?;
            tracing::warn!(client = %client.client_id, "a used refresh token was presented again; its grant is revoked");
            return invalid("the refresh token was already used; the grant is revoked");
        }
        if now >= token.expires_at {
            return invalid("the refresh token expired");
        }
        let scopes = if request.scope.trim().is_empty() {
            grant.scopes.clone()
        } else {
            scope::grant(&request.scope, &grant.scopes)?
        };
        let Some((value, next)) = self.new_refresh(client, &grant.id, now)? else {
            return Err(Error::UnauthorizedClient(
                "this client may not use the refresh_token grant".into(),
            ));
        };
        if !store::grants::rotate_refresh(store, &hash, &next).await? {
            store::grants::revoke(store, &grant.id, now).await?;
            return invalid("the refresh token was already used; the grant is revoked");
        }
        self.grant_token(&grant, &scopes, now, Some(value))
    }

    /// A new refresh token for a client registered for the refresh grant.
    fn new_refresh(
        &self,
        client: &ClientRecord,
        grant_id: &str,
        now: UnixTime,
    ) -> Result<Option<(String, NewRefresh)>, Error> {
        if !client.grant_types.iter().any(|g| g == REFRESH_TOKEN) {
            return Ok(None);
        }
        let value = secret::mint(self.inner.entropy.as_ref(), 32)?;
        let ttl = i64::try_from(self.inner.policy.refresh_token_ttl).unwrap_or(i64::MAX);
        let record = NewRefresh {
            token_hash: secret::token_hash(&value),
            grant_id: grant_id.to_string(),
            created_at: now,
            expires_at: now.saturating_add(ttl),
        };
        Ok(Some((value, record)))
    }

    /// The access token of a grant: its subject is the user who consented
    /// (the resource owner of a PAT, the requesting party of an AAT, whose
    /// claims it carries).
    fn grant_token(
        &self,
        grant: &GrantRecord,
        scopes: &[String],
        now: UnixTime,
        refresh_token: Option<String>,
    ) -> Result<IssuedToken, Error> {
        let authorization = scopes
            .iter()
            .any(|s| ApiScope::parse(s) == Some(ApiScope::Authorization));
        let issued = self.sign_access_token(
            grant.subject.clone(),
            grant.client_id.clone(),
            scopes,
            Some(grant.claims.clone()).filter(|c| authorization && !c.is_empty()),
            Some(grant.id.clone()),
            now,
        )?;
        Ok(IssuedToken {
            refresh_token,
            ..issued
        })
    }
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
    }
}
