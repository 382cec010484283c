//! The token endpoint (RFC 6749 §3.2): which grant, and which client may use
//! it; the grant's own module (`core::grants`) decides what to issue and the
//! signer (`core::signer`) signs it. Imports run one way: this endpoint →
//! grants → signer → domain.

use super::Core;
use super::signer::IssuedToken;
use crate::domain::Error;
use crate::domain::grant::{GrantType, TokenRequest};
use crate::store::{
    self,
    clients::{AuthMethod, ClientRecord},
};

/// Longest client id that can be one Steward registered.
const MAX_CLIENT_ID_LEN: usize = 256;

impl Core {
    /// Whether the token endpoint serves `grant` on this server: the JWT
    /// bearer grant only when some issuer is trusted.
    fn serves(&self, grant: GrantType) -> bool {
        grant.is_implemented() && (grant != GrantType::JwtBearer || !self.inner.trusted.is_empty())
    }

    /// The grant types the token endpoint serves (what discovery lists).
    pub fn grant_types_supported(&self) -> Vec<&'static str> {
        GrantType::ALL
            .into_iter()
            .filter(|g| self.serves(*g))
            .map(GrantType::as_str)
            .collect()
    }

    /// Issues an access token (a PAT or an AAT) for a token request.
    pub async fn issue_token(&self, request: TokenRequest) -> Result<IssuedToken, Error> {
        request.check()?;
        let grant = GrantType::requested(&request.grant_type)?;
        if !self.serves(grant) {
            return Err(not_enabled(grant));
        }
        let client = self
            .authenticate_token_client(&request.client_id, request.client_secret.expose(), grant)
            .await?;
        if !grant.allowed_in(&client.grant_types) {
            return Err(Error::UnauthorizedClient(format!(
                "this client may not use the {grant} grant"
            )));
        }
        let now = self.now();
        let order = match grant {
            GrantType::ClientCredentials => self.client_credentials(&client, &request)?,
            GrantType::JwtBearer => self.jwt_bearer(&client, &request, now).await?,
            GrantType::AuthorizationCode => self.authorization_code(&client, &request, now).await?,
            GrantType::RefreshToken => self.refresh_token(&client, &request, now).await?,
            GrantType::Password | GrantType::Saml2Bearer => return Err(not_enabled(grant)),
        };
        self.sign(order, now)
    }

    /// Client authentication at the token endpoint: a secret, or — for a
    /// public client on the browser grants — its id alone (PKCE protects it).
    async fn authenticate_token_client(
        &self,
        client_id: &str,
        client_secret: &str,
        grant: GrantType,
    ) -> Result<ClientRecord, Error> {
        if !client_secret.is_empty() {
            return self.authenticate_client(client_id, client_secret).await;
        }
        if grant.public_clients_may_use()
            && !client_id.is_empty()
            && client_id.len() <= MAX_CLIENT_ID_LEN
        {
            let client = store::clients::find(&self.inner.store, client_id).await?;
            if let Some(client) = client.filter(|c| c.auth_method == AuthMethod::None) {
                return Ok(client);
            }
        }
        Err(Error::InvalidClient("client authentication failed".into()))
    }
}

/// A grant Steward knows by name but does not serve here.
fn not_enabled(grant: GrantType) -> Error {
    Error::UnsupportedGrantType(format!(
        "grant type `{grant}` is not enabled on this server"
    ))
}
