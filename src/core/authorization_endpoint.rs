//! The authorization endpoint (RFC 6749 §4.1.1) with PKCE (RFC 7636): how
//! a resource owner consents to a resource server (a PAT) and a requesting
//! party to a client (an AAT) in a browser. Its codes are redeemed by the
//! `authorization_code` grant (`core::grants`).
//!
//! Errors before the redirect URI is known to be the client's are shown to
//! the user and never redirected (§4.1.2.1); every later error goes back to
//! the client on its registered redirect URI with `state`.

use super::Core;
use super::users::SignedInUser;
use crate::domain::grant::GrantType;
use crate::domain::identifier::{self, Kind};
use crate::domain::scope::{self, ApiScope};
use crate::domain::{Error, pkce, redirect, secret};
use crate::store::{
    self,
    clients::AuthMethod,
    grants::{GrantRecord, NewCode},
};

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
        let redirect_uri = redirect::registered(&client.redirect_uris, &request.redirect_uri)?;
        let issuer = self.inner.policy.issuer.as_str();
        let refuse = |error: &str, description: &str| {
            Ok(AuthorizationCheck::Redirect(redirect::error_to(
                &redirect_uri,
                error,
                description,
                &request.state,
                issuer,
            )))
        };
        if request.response_type != "code" {
            return refuse(
                "unsupported_response_type",
                "only response_type=code is supported",
            );
        }
        if !GrantType::AuthorizationCode.allowed_in(&client.grant_types) {
            return refuse(
                "unauthorized_client",
                &format!(
                    "this client may not use the {} grant",
                    GrantType::AuthorizationCode
                ),
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
            return Ok(redirect::error_to(
                &prompt.redirect_uri,
                "access_denied",
                "the user declined",
                &request.state,
                issuer,
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
                expires_at: now.saturating_add(CODE_TTL),
            },
        )
        .await?;
        tracing::info!(client = %prompt.client_id, "authorization code issued");
        Ok(redirect::with_query(
            &prompt.redirect_uri,
            &[("code", &code), ("state", &request.state), ("iss", issuer)],
        ))
    }
}
