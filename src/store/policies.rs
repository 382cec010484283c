//! Owner policies, per resource set, scoped by namespace.

use sea_orm::{
    ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, TransactionTrait,
};

use super::entities::policy;
use super::{Store, db_error, insert_changing, read};
use crate::domain::change::{Change, ChangeKind};
use crate::domain::policy::{Policy, PolicyDefinition};
use crate::domain::{Error, Namespace, UnixTime};

/// Stores a validated policy on `rsid` in `ns`.
pub async fn insert(
    store: &Store,
    ns: &Namespace,
    rsid: &str,
    policy: &Policy,
    now: UnixTime,
) -> Result<(), Error> {
    let definition = serde_json::to_string(&policy.definition)
        .map_err(|e| Error::Internal(format!("cannot store policy: {e}")))?;
    let model = policy::ActiveModel {
        id: Set(policy.id.clone()),
        client_id: Set(ns.client_id.clone()),
        owner: Set(ns.owner.clone()),
        rsid: Set(rsid.to_string()),
        definition: Set(definition),
        created_at: Set(now),
    };
    let change = Change::about_set(
        ChangeKind::PolicyCreated,
        &ns.client_id,
        &ns.owner,
        rsid,
        &policy.id,
        now,
    );
    insert_changing(store, model, &[change])
        .await
        .map_err(db_error)
}

/// The policies on one resource set, oldest first.
pub async fn for_resource_set(
    store: &Store,
    ns: &Namespace,
    rsid: &str,
) -> Result<Vec<Policy>, Error> {
    let rows = read(|| {
        policy::Entity::find()
            .filter(policy::Column::ClientId.eq(ns.client_id.as_str()))
            .filter(policy::Column::Owner.eq(ns.owner.as_str()))
            .filter(policy::Column::Rsid.eq(rsid))
            .order_by_asc(policy::Column::CreatedAt)
            .order_by_asc(policy::Column::Id)
            .all(store.db())
    })
    .await?;
    rows.into_iter()
        .map(|row| {
            let definition: PolicyDefinition = serde_json::from_str(&row.definition)
                .map_err(|e| Error::Internal(format!("corrupt policy {}: {e}", row.id)))?;
            Ok(Policy {
                id: row.id,
                definition,
            })
        })
        .collect()
}

/// [`for_resource_set`] from memory when nothing changed (decisions).
pub async fn for_resource_set_cached(
    store: &Store,
    ns: &Namespace,
    rsid: &str,
) -> Result<std::sync::Arc<Vec<Policy>>, Error> {
    let key = (ns.client_id.clone(), ns.owner.clone(), rsid.to_string());
    store
        .cache
        .read_through(&store.cache.policies, key, || async {
            Ok(std::sync::Arc::new(
                for_resource_set(store, ns, rsid).await?,
            ))
        })
        .await
}

/// Deletes one policy; false when there was none with that id on that set.
pub async fn delete(
    store: &Store,
    ns: &Namespace,
    rsid: &str,
    id: &str,
    now: UnixTime,
) -> Result<bool, Error> {
    let txn = store.db().begin().await.map_err(db_error)?;
    let result = policy::Entity::delete_many()
        .filter(policy::Column::Id.eq(id))
        .filter(policy::Column::ClientId.eq(ns.client_id.as_str()))
        .filter(policy::Column::Owner.eq(ns.owner.as_str()))
        .filter(policy::Column::Rsid.eq(rsid))
        .exec(&txn)
        .await
        .map_err(db_error)?;
    if result.rows_affected != 1 {
        txn.rollback().await.map_err(db_error)?;
        return Ok(false);
    }
    let change = Change::about_set(
        ChangeKind::PolicyDeleted,
        &ns.client_id,
        &ns.owner,
        rsid,
        id,
        now,
    );
    super::changes::record(&txn, &[change])
        .await
        .map_err(db_error)?;
    txn.commit().await.map_err(db_error)?;
    store.changed();
    Ok(true)
}
