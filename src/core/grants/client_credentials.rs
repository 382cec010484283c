//! `grant_type=client_credentials` (RFC 6749 §4.4): a PAT for the client's
//! owner, or an AAT for which the client itself is the requesting party.

use super::super::Core;
use super::super::signer::TokenOrder;
use crate::domain::Error;
use crate::domain::grant::TokenRequest;
use crate::domain::scope::{self, ApiScope};
use crate::store::clients::ClientRecord;

impl Core {
    /// What an authenticated client gets for its own credentials.
    pub(in crate::core) fn client_credentials(
        &self,
        client: &ClientRecord,
        request: &TokenRequest,
    ) -> Result<TokenOrder, Error> {
        let scopes = scope::grant(&request.scope, &client.scopes)?;
        let wants = |api| scopes.iter().any(|s| ApiScope::parse(s) == Some(api));
        let subject = if wants(ApiScope::Authorization) && !wants(ApiScope::Protection) {
            // An AAT: the client acts for itself.
            client.client_id.clone()
        } else {
            client.owner.clone()
        };
        Ok(TokenOrder {
            subject,
            client_id: client.client_id.clone(),
            scopes,
            rqp_claims: None,
            grant_id: None,
            refresh_token: None,
        })
    }
}
