//! Bearer-token authentication of protection and authorization API calls.

use super::Core;
use crate::domain::scope::ApiScope;
use crate::domain::token::{AccessTokenClaims, Requester};
use crate::domain::{Error, Namespace};
use crate::store;

pub(super) use crate::domain::token::bearer_token;

impl Core {
    /// Authenticates an `Authorization` header value (HTTP header or gRPC
    /// metadata) for `api`; returns the namespace the token speaks for.
    pub async fn authenticate(
        &self,
        authorization: Option<&str>,
        api: ApiScope,
    ) -> Result<Namespace, Error> {
        let token = bearer_token(authorization)?;
        let claims = self.keys().verify(token)?;
        let ns = claims.authorize(&self.inner.policy.issuer, self.now(), api)?;
        self.check_grant(&claims).await?;
        Ok(ns)
    }

    /// Authenticates an AAT (`Authorization` header or gRPC metadata).
    pub async fn authenticate_requester(
        &self,
        authorization: Option<&str>,
    ) -> Result<Requester, Error> {
        let token = bearer_token(authorization)?;
        let claims = self.keys().verify(token)?;
        let requester = claims.requester(&self.inner.policy.issuer, self.now())?;
        self.check_grant(&claims).await?;
        Ok(requester)
    }

    /// A token from a browser-flow grant dies with its grant (revoked on
    /// code reuse, refresh-token reuse, or client deletion).
    async fn check_grant(&self, claims: &AccessTokenClaims) -> Result<(), Error> {
        match &claims.grant {
            Some(grant) if store::grants::is_revoked_cached(&self.inner.store, grant).await? => {
                Err(Error::InvalidToken(
                    "the grant behind this token was revoked".into(),
                ))
            }
            _ => Ok(()),
        }
    }
}
