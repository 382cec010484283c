//! Token signing keys, persisted so tokens outlive restarts and replicas
//! agree on the key set.

use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder};

use super::entities::signing_key;
use super::{Store, db_error};
use crate::domain::{Error, UnixTime};

/// A stored signing key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRecord {
    pub kid: String,
    pub algorithm: String,
    /// Base64 PKCS#8 DER.
    pub private_key: String,
    pub created_at: UnixTime,
}

/// Keys not retired, oldest first (so every replica picks the same signer).
pub async fn active(store: &Store) -> Result<Vec<KeyRecord>, Error> {
    let rows = signing_key::Entity::find()
        .filter(signing_key::Column::RetiredAt.is_null())
        .order_by_asc(signing_key::Column::CreatedAt)
        .order_by_asc(signing_key::Column::Kid)
        .all(store.db())
        .await
        .map_err(db_error)?;
    Ok(rows
        .into_iter()
        .map(|row| KeyRecord {
            kid: row.kid,
            algorithm: row.algorithm,
            private_key: row.private_key,
            created_at: row.created_at,
        })
        .collect())
}

/// Stores a new key.
pub async fn insert(store: &Store, key: &KeyRecord) -> Result<(), Error> {
    let model = signing_key::ActiveModel {
        kid: Set(key.kid.clone()),
        algorithm: Set(key.algorithm.clone()),
        private_key: Set(key.private_key.clone()),
        created_at: Set(key.created_at),
        retired_at: Set(None),
    };
    signing_key::Entity::insert(model)
        .exec_without_returning(store.db())
        .await
        .map_err(db_error)?;
    Ok(())
}
