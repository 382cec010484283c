//! One module per grant the token endpoint serves. Each checks its own
//! parameters and decides what to issue as a [`TokenOrder`]; the token
//! endpoint (`core::token_endpoint`) authenticates the client before and
//! signs the order after. A new grant is a new file here and one arm there.

mod authorization_code;
mod client_credentials;
mod jwt_bearer;
mod refresh_token;

use super::Core;
use super::signer::TokenOrder;
use crate::domain::grant::GrantType;
use crate::domain::scope::ApiScope;
use crate::domain::secret::{self, Secret};
use crate::domain::{Error, UnixTime};
use crate::store::clients::ClientRecord;
use crate::store::grants::{GrantRecord, NewRefresh};

impl Core {
    /// A new refresh token for a client registered for the refresh grant:
    /// the value to hand out and the row that stores its hash.
    fn new_refresh(
        &self,
        client: &ClientRecord,
        grant_id: &str,
        now: UnixTime,
    ) -> Result<Option<(Secret, NewRefresh)>, Error> {
        if !GrantType::RefreshToken.allowed_in(&client.grant_types) {
            return Ok(None);
        }
        let value = Secret::new(secret::mint(self.inner.entropy.as_ref(), 32)?);
        let ttl = i64::try_from(self.inner.policy.refresh_token_ttl).unwrap_or(i64::MAX);
        let record = NewRefresh {
            token_hash: secret::token_hash(value.expose()),
            grant_id: grant_id.to_string(),
            created_at: now,
            expires_at: now.saturating_add(ttl),
        };
        Ok(Some((value, record)))
    }
}

/// The access token of a browser grant: its subject is the user who
/// consented (the resource owner of a PAT, the requesting party of an AAT,
/// whose claims it carries).
fn grant_order(
    grant: &GrantRecord,
    scopes: Vec<String>,
    refresh_token: Option<Secret>,
) -> TokenOrder {
    let authorization = scopes
        .iter()
        .any(|s| ApiScope::parse(s) == Some(ApiScope::Authorization));
    TokenOrder {
        subject: grant.subject.clone(),
        client_id: grant.client_id.clone(),
        rqp_claims: Some(grant.claims.clone()).filter(|c| authorization && !c.is_empty()),
        scopes,
        grant_id: Some(grant.id.clone()),
        refresh_token,
    }
}
