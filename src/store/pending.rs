//! Requests held for the resource owner's approval.

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, TransactionTrait,
};

use super::entities::pending_request;
use super::{Store, bump_revision, db_error, insert_changing, read};
use crate::domain::pending::{Access, PendingStatus};
use crate::domain::{Error, Namespace, UnixTime};

/// A held request as the owner sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingRecord {
    pub id: String,
    pub access: Access,
    pub status: PendingStatus,
    pub created_at: UnixTime,
    pub decided_at: Option<UnixTime>,
}

fn record(row: pending_request::Model) -> Result<PendingRecord, Error> {
    Ok(PendingRecord {
        status: PendingStatus::parse(&row.status)
            .ok_or_else(|| Error::Internal(format!("corrupt pending status `{}`", row.status)))?,
        access: Access {
            resource_set_id: row.rsid,
            scopes: row.scopes.split(' ').map(str::to_string).collect(),
            client_id: row.requesting_client,
            subject: row.subject,
        },
        id: row.id,
        created_at: row.created_at,
        decided_at: row.decided_at,
    })
}

fn scoped(ns: &Namespace) -> sea_orm::Select<pending_request::Entity> {
    pending_request::Entity::find()
        .filter(pending_request::Column::ClientId.eq(ns.client_id.as_str()))
        .filter(pending_request::Column::Owner.eq(ns.owner.as_str()))
}

/// The held request for exactly this access, if any.
pub async fn find(
    store: &Store,
    ns: &Namespace,
    access: &Access,
) -> Result<Option<PendingRecord>, Error> {
    read(|| {
        scoped(ns)
            .filter(pending_request::Column::Rsid.eq(access.resource_set_id.as_str()))
            .filter(pending_request::Column::Scopes.eq(access.scopes_key()))
            .filter(pending_request::Column::RequestingClient.eq(access.client_id.as_str()))
            .filter(pending_request::Column::Subject.eq(access.subject.as_str()))
            .one(store.db())
    })
    .await?
    .map(record)
    .transpose()
}

/// [`find`] from memory when nothing changed (decisions). The cache holds
/// every held request of the set as one entry, so the many (client, party,
/// scopes) a decision may be asked about cost no entry each. Call it only
/// for a set that exists (one entry per real set).
pub async fn find_cached(
    store: &Store,
    ns: &Namespace,
    access: &Access,
) -> Result<Option<PendingRecord>, Error> {
    let key = (
        ns.client_id.clone(),
        ns.owner.clone(),
        access.resource_set_id.clone(),
    );
    let held = store
        .cache
        .read_through(&store.cache.pending, key, || async {
            let rows = scoped(ns)
                .filter(pending_request::Column::Rsid.eq(access.resource_set_id.as_str()))
                .all(store.db())
                .await
                .map_err(db_error)?;
            rows.into_iter()
                .map(record)
                .collect::<Result<Vec<_>, _>>()
                .map(std::sync::Arc::new)
        })
        .await?;
    let scopes = access.scopes_key();
    Ok(held
        .iter()
        .find(|h| {
            h.access.client_id == access.client_id
                && h.access.subject == access.subject
                && h.access.scopes_key() == scopes
        })
        .cloned())
}

/// Holds a request for approval (idempotent: an existing record is returned).
pub async fn hold(
    store: &Store,
    ns: &Namespace,
    access: &Access,
    now: UnixTime,
) -> Result<PendingRecord, Error> {
    let model = pending_request::ActiveModel {
        id: Set(uuid::Uuid::new_v4().to_string()),
        client_id: Set(ns.client_id.clone()),
        owner: Set(ns.owner.clone()),
        rsid: Set(access.resource_set_id.clone()),
        scopes: Set(access.scopes_key()),
        requesting_client: Set(access.client_id.clone()),
        subject: Set(access.subject.clone()),
        status: Set(PendingStatus::Pending.as_str().into()),
        created_at: Set(now),
        decided_at: Set(None),
    };
    match insert_changing(store, model, &[]).await {
        Ok(()) => {}
        // Already held: nothing changed.
        Err(e) if super::is_unique_violation(&e) => {}
        Err(e) => return Err(db_error(e)),
    }
    find(store, ns, access)
        .await?
        .ok_or_else(|| Error::Internal("held request vanished".into()))
}

/// Every held request in the namespace, oldest first.
pub async fn list(store: &Store, ns: &Namespace) -> Result<Vec<PendingRecord>, Error> {
    read(|| {
        scoped(ns)
            .order_by_asc(pending_request::Column::CreatedAt)
            .order_by_asc(pending_request::Column::Id)
            .all(store.db())
    })
    .await?
    .into_iter()
    .map(record)
    .collect()
}

/// Records the owner's decision on a pending request.
pub async fn decide(
    store: &Store,
    ns: &Namespace,
    id: &str,
    approve: bool,
    now: UnixTime,
) -> Result<(), Error> {
    let status = if approve {
        PendingStatus::Approved
    } else {
        PendingStatus::Denied
    };
    let txn = store.db().begin().await.map_err(db_error)?;
    let result = pending_request::Entity::update_many()
        .col_expr(
            pending_request::Column::Status,
            Expr::value(status.as_str()),
        )
        .col_expr(pending_request::Column::DecidedAt, Expr::value(now))
        .filter(pending_request::Column::Id.eq(id))
        .filter(pending_request::Column::ClientId.eq(ns.client_id.as_str()))
        .filter(pending_request::Column::Owner.eq(ns.owner.as_str()))
        .filter(pending_request::Column::Status.eq(PendingStatus::Pending.as_str()))
        .exec(&txn)
        .await
        .map_err(db_error)?;
    if result.rows_affected == 1 {
        bump_revision(&txn).await.map_err(db_error)?;
        txn.commit().await.map_err(db_error)?;
        store.changed();
        return Ok(());
    }
    txn.rollback().await.map_err(db_error)?;
    let exists = scoped(ns)
        .filter(pending_request::Column::Id.eq(id))
        .one(store.db())
        .await
        .map_err(db_error)?;
    match exists {
        None => Err(Error::NotFound(format!("no pending request `{id}`"))),
        Some(_) => Err(Error::invalid_request("the request was already decided")),
    }
}
