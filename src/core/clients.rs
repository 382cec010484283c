//! The client registry's rules: what a client may be registered with, and
//! client authentication (argon2, on the core's hashing threads, constant-time in
//! whether the client exists).

use super::Core;
use crate::domain::Error;
use crate::domain::scope;
use crate::domain::secret;
use crate::store::{self, clients::ClientRecord};

// Authentication remembers a verified secret by its SHA-256 (in memory only):
// the argon2 hash stays the stored form, and a wrong secret for a remembered
// client is refused without another argon2 run.

/// Grant types a client can be registered for.
pub const SUPPORTED_GRANT_TYPES: [&str; 2] = [
    "client_credentials",
    "urn:ietf:params:oauth:grant-type:jwt-bearer",
];

/// What an operator asks for when registering a client.
#[derive(Debug, Clone, Default)]
pub struct NewClient {
    pub name: String,
    /// The resource owner a resource server acts for; defaults to the client id.
    pub owner: Option<String>,
    /// Defaults to `uma_protection`.
    pub scopes: Vec<String>,
    /// Defaults to `client_credentials`.
    pub grant_types: Vec<String>,
    pub redirect_uris: Vec<String>,
}

/// A registered client with its secret, shown exactly once.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CreatedClient {
    pub client_id: String,
    pub client_secret: String,
    pub client_name: String,
    pub owner: String,
    pub scopes: Vec<String>,
    pub grant_types: Vec<String>,
    pub redirect_uris: Vec<String>,
}

impl Core {
    /// Registers a client and returns its one-time secret.
    pub async fn create_client(&self, request: NewClient) -> Result<CreatedClient, Error> {
        let name = request.name.trim().to_string();
        if name.is_empty() {
            return Err(Error::invalid_request("a client needs a name"));
        }
        let grant_types = if request.grant_types.is_empty() {
            vec![SUPPORTED_GRANT_TYPES[0].to_string()]
        } else {
            request.grant_types
        };
        if let Some(bad) = grant_types
            .iter()
            .find(|g| !SUPPORTED_GRANT_TYPES.contains(&g.as_str()))
        {
            return Err(Error::invalid_request(format!(
                "grant type `{bad}` is not supported (supported: {})",
                SUPPORTED_GRANT_TYPES.join(", ")
            )));
        }
        let scopes = if request.scopes.is_empty() {
            vec![scope::PROTECTION.to_string()]
        } else {
            request
                .scopes
                .iter()
                .flat_map(|s| scope::split(s))
                .collect()
        };
        for uri in &request.redirect_uris {
            if !(uri.starts_with("https://") || uri.starts_with("http://")) || uri.contains('#') {
                return Err(Error::invalid_request(format!(
                    "redirect URI `{uri}` must be an absolute http(s) URI without a fragment"
                )));
            }
        }
        let entropy = self.inner.entropy.as_ref();
        let client_id = secret::mint(entropy, 16)?;
        let client_secret = secret::mint(entropy, 32)?;
        let owner = request
            .owner
            .filter(|o| !o.trim().is_empty())
            .unwrap_or_else(|| client_id.clone());
        let secret_hash = self.inner.hasher.hash(client_secret.clone()).await?;
        let record = ClientRecord {
            client_id: client_id.clone(),
            secret_hash,
            name: name.clone(),
            owner: owner.clone(),
            scopes: scopes.clone(),
            grant_types: grant_types.clone(),
            redirect_uris: request.redirect_uris.clone(),
            created_at: self.now(),
        };
        store::clients::insert(&self.inner.store, &record).await?;
        Ok(CreatedClient {
            client_id,
            client_secret,
            client_name: name,
            owner,
            scopes,
            grant_types,
            redirect_uris: request.redirect_uris,
        })
    }

    /// Authenticates a client by id and secret (`invalid_client` otherwise).
    pub(crate) async fn authenticate_client(
        &self,
        client_id: &str,
        client_secret: &str,
    ) -> Result<ClientRecord, Error> {
        let refused = || Error::InvalidClient("client authentication failed".into());
        if client_id.is_empty() || client_secret.is_empty() || client_secret.len() > 1024 {
            return Err(refused());
        }
        let store = &self.inner.store;
        let presented = secret::token_hash(client_secret);
        if let Some(known) = store::clients::verified(store, client_id) {
            if secret::constant_time_eq(&known.secret_sha256, &presented) {
                return Ok(known.record.clone());
            }
            return Err(refused());
        }
        let generation = store::clients::generation(store);
        let record = store::clients::find(store, client_id).await?;
        // Hash even for unknown clients so timing does not reveal which exist.
        let ok = self
            .inner
            .hasher
            .verify(
                client_secret.to_string(),
                record.as_ref().map(|r| r.secret_hash.clone()),
            )
            .await?;
        match record {
            Some(record) if ok => {
                store::clients::remember(
                    store,
                    store::clients::VerifiedClient {
                        secret_sha256: presented,
                        record: record.clone(),
                    },
                    generation,
                );
                Ok(record)
            }
            _ => Err(refused()),
        }
    }
}
