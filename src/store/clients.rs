//! The OAuth client registry. Secrets are stored only as argon2 hashes.

use sea_orm::{ActiveValue::Set, EntityTrait};

use super::entities::client;
use super::{Store, db_error, from_json_list, to_json_list};
use crate::domain::{Error, UnixTime};

/// A registered client as the core sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientRecord {
    pub client_id: String,
    /// PHC-format argon2 hash of the secret.
    pub secret_hash: String,
    pub name: String,
    /// The resource owner a resource server acts for (its PAT subject).
    pub owner: String,
    pub scopes: Vec<String>,
    pub grant_types: Vec<String>,
    pub redirect_uris: Vec<String>,
    pub created_at: UnixTime,
}

/// Registers a client; fails if the id is taken.
pub async fn insert(store: &Store, record: &ClientRecord) -> Result<(), Error> {
    let model = client::ActiveModel {
        client_id: Set(record.client_id.clone()),
        secret_hash: Set(record.secret_hash.clone()),
        name: Set(record.name.clone()),
        owner: Set(record.owner.clone()),
        scopes: Set(to_json_list(&record.scopes)),
        grant_types: Set(to_json_list(&record.grant_types)),
        redirect_uris: Set(to_json_list(&record.redirect_uris)),
        created_at: Set(record.created_at),
    };
    client::Entity::insert(model)
        .exec_without_returning(store.db())
        .await
        .map_err(db_error)?;
    Ok(())
}

/// Finds a client by id.
pub async fn find(store: &Store, client_id: &str) -> Result<Option<ClientRecord>, Error> {
    let Some(row) = client::Entity::find_by_id(client_id.to_string())
        .one(store.db())
        .await
        .map_err(db_error)?
    else {
        return Ok(None);
    };
    Ok(Some(ClientRecord {
        scopes: from_json_list(&row.scopes)?,
        grant_types: from_json_list(&row.grant_types)?,
        redirect_uris: from_json_list(&row.redirect_uris)?,
        client_id: row.client_id,
        secret_hash: row.secret_hash,
        name: row.name,
        owner: row.owner,
        created_at: row.created_at,
    }))
}

/// A client whose secret was verified with argon2, remembered by the SHA-256
/// of that secret so repeat authentications skip the expensive hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedClient {
    pub secret_sha256: String,
    pub record: ClientRecord,
}

/// A remembered verification, if any.
pub fn verified(store: &Store, client_id: &str) -> Option<std::sync::Arc<VerifiedClient>> {
    store
        .cache
        .get(&store.cache.clients, &client_id.to_string())
}

/// The cache generation to pass to [`remember`] (read before the lookup).
pub fn generation(store: &Store) -> u64 {
    store.cache.clients.generation()
}

/// Remembers a successful verification made at `generation`.
pub fn remember(store: &Store, verified: VerifiedClient, generation: u64) {
    let key = verified.record.client_id.clone();
    store
        .cache
        .clients
        .fill(key, &std::sync::Arc::new(verified), generation);
}
