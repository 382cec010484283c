//! The JWT bearer grant (RFC 7523): an assertion from a trusted issuer names
//! the requesting party and carries their claims into an AAT.

use super::super::Core;
use super::super::signer::TokenOrder;
use crate::domain::grant::TokenRequest;
use crate::domain::identifier::{self, Kind};
use crate::domain::scope::{self, ApiScope};
use crate::domain::{Error, UnixTime};
use crate::store::clients::ClientRecord;

/// Claims of an assertion that are not about the requesting party.
const ASSERTION_ONLY_CLAIMS: [&str; 6] = ["iss", "aud", "exp", "iat", "nbf", "jti"];

impl Core {
    /// An AAT for the assertion's subject, with the assertion's claims.
    pub(in crate::core) async fn jwt_bearer(
        &self,
        client: &ClientRecord,
        request: &TokenRequest,
        now: UnixTime,
    ) -> Result<TokenOrder, Error> {
        let scopes = scope::grant(&request.scope, &client.scopes)?;
        if request.assertion.is_empty() {
            return Err(Error::invalid_request("`assertion` is required"));
        }
        if scopes
            .iter()
            .any(|s| ApiScope::parse(s) == Some(ApiScope::Protection))
        {
            return Err(Error::InvalidScope(
                "a JWT bearer assertion yields AATs, not PATs".into(),
            ));
        }
        let claims = self
            .inner
            .trusted
            .verify(request.assertion.expose(), now)
            .await
            .map_err(|why| Error::InvalidGrant(format!("assertion refused: {why}")))?;
        let subject = claims
            .get("sub")
            .and_then(serde_json::Value::as_str)
            .filter(|s| identifier::require("sub", s, Kind::Id).is_ok())
            .ok_or_else(|| Error::InvalidGrant("the assertion has no usable subject".into()))?
            .to_string();
        // The registered JWT claims describe the assertion, not the person.
        let claims = claims
            .into_iter()
            .filter(|(name, _)| !ASSERTION_ONLY_CLAIMS.contains(&name.as_str()))
            .collect();
        Ok(TokenOrder {
            subject,
            client_id: client.client_id.clone(),
            scopes,
            rqp_claims: Some(claims),
            grant_id: None,
            refresh_token: None,
        })
    }
}
