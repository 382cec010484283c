//! `grant_type=refresh_token` (RFC 6749 §6), rotating: each refresh token
//! works once, and a used one presented again revokes the grant.

use super::super::Core;
use super::super::signer::TokenOrder;
use crate::domain::grant::{GrantType, TokenRequest};
use crate::domain::{Error, UnixTime, scope, secret};
use crate::store::{self, clients::ClientRecord};

/// Longest refresh token that can be one Steward issued.
const MAX_REFRESH_TOKEN_LEN: usize = 512;

impl Core {
    /// Trades a refresh token for an access token and the next refresh token.
    pub(in crate::core) async fn refresh_token(
        &self,
        client: &ClientRecord,
        request: &TokenRequest,
        now: UnixTime,
    ) -> Result<TokenOrder, Error> {
        if request.refresh_token.is_empty() {
            return Err(Error::invalid_request("`refresh_token` is required"));
        }
        let invalid = |m: &str| Err(Error::InvalidGrant(m.to_string()));
        if request.refresh_token.expose().len() > MAX_REFRESH_TOKEN_LEN {
            return invalid("the refresh token is unknown");
        }
        let store = &self.inner.store;
        let hash = secret::token_hash(request.refresh_token.expose());
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
            return Err(Error::UnauthorizedClient(format!(
                "this client may not use the {} grant",
                GrantType::RefreshToken
            )));
        };
        if !store::grants::rotate_refresh(store, &hash, &next).await? {
            store::grants::revoke(store, &grant.id, now).await?;
            return invalid("the refresh token was already used; the grant is revoked");
        }
        Ok(super::grant_order(&grant, scopes, Some(value)))
    }
}
