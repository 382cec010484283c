//! `grant_type=authorization_code` (RFC 6749 §4.1.3) with PKCE (RFC 7636):
//! the code the authorization endpoint issued, redeemed once.

use super::super::Core;
use super::super::signer::TokenOrder;
use crate::domain::grant::TokenRequest;
use crate::domain::{Error, UnixTime, pkce, secret};
use crate::store::{self, clients::ClientRecord};

/// Longest code that can be one Steward issued.
const MAX_CODE_LEN: usize = 512;

impl Core {
    /// Redeems a code. A code presented a second time revokes everything
    /// issued with it.
    pub(in crate::core) async fn authorization_code(
        &self,
        client: &ClientRecord,
        request: &TokenRequest,
        now: UnixTime,
    ) -> Result<TokenOrder, Error> {
        if request.code.is_empty() {
            return Err(Error::invalid_request("`code` is required"));
        }
        let invalid = |m: &str| Err(Error::InvalidGrant(m.to_string()));
        if request.code.expose().len() > MAX_CODE_LEN {
            return invalid("the code is unknown");
        }
        let store = &self.inner.store;
        let code_hash = secret::token_hash(request.code.expose());
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
            matches!(client.redirect_uris.as_slice(), [only] if *only == code.redirect_uri)
        } else {
            request.redirect_uri == code.redirect_uri
        };
        if !redirect_ok {
            return invalid("redirect_uri does not match the authorization request");
        }
        match (&code.code_challenge, request.code_verifier.expose()) {
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
        let scopes = grant.scopes.clone();
        Ok(super::grant_order(&grant, scopes, refresh.map(|r| r.0)))
    }
}
