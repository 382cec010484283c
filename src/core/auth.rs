//! Bearer-token authentication of protection and authorization API calls.

use super::Core;
use crate::domain::scope::ApiScope;
use crate::domain::{Error, Namespace};

pub(super) use crate::domain::token::{MAX_TOKEN_LEN, bearer_token};

impl Core {
    /// Authenticates an `Authorization` header value (HTTP header or gRPC
    /// metadata) for `api`; returns the namespace the token speaks for.
    pub fn authenticate(
        &self,
        authorization: Option<&str>,
        api: ApiScope,
    ) -> Result<Namespace, Error> {
        let token = bearer_token(authorization)?;
        let claims = self.inner.keys.verify(token)?;
        claims.authorize(&self.inner.policy.issuer, self.now(), api)
    }
}
