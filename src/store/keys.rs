//! Token signing keys, persisted so tokens outlive restarts and replicas
//! agree on the key set.

use sea_orm::sea_query::{Condition, Expr};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, TransactionTrait,
};

use super::entities::signing_key;
use super::{Store, db_error, read};
use crate::domain::secret::Secret;
use crate::domain::{Error, UnixTime};

/// A stored signing key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRecord {
    pub kid: String,
    pub algorithm: String,
    /// Base64 PKCS#8 DER.
    pub private_key: Secret,
    pub created_at: UnixTime,
    /// When a rotation replaced it as the signer; it still verifies until
    /// every token it signed has expired.
    pub retired_at: Option<UnixTime>,
}

/// Keys that still verify: the current ones, and those retired after
/// `retired_after`. Newest first, so every replica picks the same signer
/// (the newest key not retired).
pub async fn usable(store: &Store, retired_after: UnixTime) -> Result<Vec<KeyRecord>, Error> {
    let rows = read(|| {
        signing_key::Entity::find()
            .filter(
                Condition::any()
                    .add(signing_key::Column::RetiredAt.is_null())
                    .add(signing_key::Column::RetiredAt.gt(retired_after)),
            )
            .order_by_desc(signing_key::Column::CreatedAt)
            .order_by_desc(signing_key::Column::Kid)
            .all(store.db())
    })
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| KeyRecord {
            kid: row.kid,
            algorithm: row.algorithm,
            private_key: Secret::new(row.private_key),
            created_at: row.created_at,
            retired_at: row.retired_at,
        })
        .collect())
}

/// Stores a new key.
pub async fn insert(store: &Store, key: &KeyRecord) -> Result<(), Error> {
    let model = signing_key::ActiveModel {
        kid: Set(key.kid.clone()),
        algorithm: Set(key.algorithm.clone()),
        private_key: Set(key.private_key.expose().to_string()),
        created_at: Set(key.created_at),
        retired_at: Set(key.retired_at),
    };
    signing_key::Entity::insert(model)
        .exec_without_returning(store.db())
        .await
        .map_err(db_error)?;
    Ok(())
}

/// Rotates: retires the current keys and stores `next` as the signer, in one
/// transaction, and deletes keys retired at or before `forget_before` (no
/// token they signed is alive). With `only_if_created_before`, rotates only
/// if the current signer is that old — so replicas rotating on a schedule at
/// the same moment rotate once. Returns whether it rotated.
pub async fn rotate(
    store: &Store,
    next: &KeyRecord,
    only_if_created_before: Option<UnixTime>,
    forget_before: UnixTime,
) -> Result<bool, Error> {
    let txn = store.db().begin().await.map_err(db_error)?;
    let mut retire = signing_key::Entity::update_many()
        .col_expr(signing_key::Column::RetiredAt, Expr::value(next.created_at))
        .filter(signing_key::Column::RetiredAt.is_null());
    if let Some(before) = only_if_created_before {
        retire = retire.filter(signing_key::Column::CreatedAt.lt(before));
    }
    let retired = retire.exec(&txn).await.map_err(db_error)?;
    if only_if_created_before.is_some() && retired.rows_affected == 0 {
        return Ok(false);
    }
    signing_key::Entity::insert(signing_key::ActiveModel {
        kid: Set(next.kid.clone()),
        algorithm: Set(next.algorithm.clone()),
        private_key: Set(next.private_key.expose().to_string()),
        created_at: Set(next.created_at),
        retired_at: Set(None),
    })
    .exec_without_returning(&txn)
    .await
    .map_err(db_error)?;
    signing_key::Entity::delete_many()
        .filter(signing_key::Column::RetiredAt.lte(forget_before))
        .exec(&txn)
        .await
        .map_err(db_error)?;
    super::revisions::bump(&txn, super::revisions::Counter::KeySet)
        .await
        .map_err(db_error)?;
    txn.commit().await.map_err(db_error)?;
    Ok(true)
}
