//! The change log: written in the transaction of the change it describes,
//! numbered by the change counter (whose row lock orders concurrent writers,
//! so revisions increase in commit order), read by change watchers.

use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Statement,
};

use super::entities::change;
use super::revisions::Counter;
use super::{Store, db_error, read};
use crate::domain::change::{Change, ChangeKind};
use crate::domain::{Error, UnixTime};

/// Bumps the change counter by one per change (at least one) and stores the
/// changes under the new revisions; returns the counter's new value.
pub(crate) async fn record<C: ConnectionTrait>(conn: &C, changes: &[Change]) -> Result<i64, DbErr> {
    let count = i64::try_from(changes.len().max(1)).unwrap_or(i64::MAX);
    // `count` is our own integer, not input: safe to write into the SQL.
    let row = conn
        .query_one_raw(Statement::from_string(
            conn.get_database_backend(),
            format!(
                "UPDATE revisions SET value = value + {count} WHERE id = {} RETURNING value",
                Counter::Changes.id()
            ),
        ))
        .await?
        .ok_or_else(|| DbErr::Custom("the revisions row is missing".into()))?;
    let top: i64 = row.try_get("", "value")?;
    if changes.is_empty() {
        return Ok(top);
    }
    let first = top - count + 1;
    let rows = changes
        .iter()
        .zip(first..)
        .map(|(c, revision)| change::ActiveModel {
            revision: Set(revision),
            kind: Set(c.kind.as_str().to_string()),
            resource_server: Set(c.resource_server.clone()),
            owner: Set(c.owner.clone()),
            resource_set_id: Set(c.resource_set_id.clone()),
            policy_id: Set(c.policy_id.clone()),
            rpt_hash: Set(c.rpt_hash.clone()),
            at: Set(c.at),
        });
    change::Entity::insert_many(rows)
        .exec_without_returning(conn)
        .await?;
    Ok(top)
}

/// The counter's current value, read from the database.
pub async fn current_revision(store: &Store) -> Result<i64, Error> {
    revision_row(store, Counter::Changes).await
}

/// Up to which revision changes were pruned (resuming before it is refused).
pub async fn pruned_through(store: &Store) -> Result<i64, Error> {
    revision_row(store, Counter::PrunedThrough).await
}

async fn revision_row(store: &Store, counter: Counter) -> Result<i64, Error> {
    let id = counter.id();
    let row = read(|| {
        store.db().query_one_raw(Statement::from_string(
            store.db().get_database_backend(),
            format!("SELECT value FROM revisions WHERE id = {id}"),
        ))
    })
    .await?
    .ok_or_else(|| Error::Internal(format!("the revisions row {id} is missing")))?;
    row.try_get("", "value").map_err(db_error)
}

/// `resource_server`'s changes after `revision`, oldest first, at most `limit`.
pub async fn since(
    store: &Store,
    resource_server: &str,
    revision: i64,
    limit: u64,
) -> Result<Vec<Change>, Error> {
    let rows = read(|| {
        change::Entity::find()
            .filter(change::Column::ResourceServer.eq(resource_server))
            .filter(change::Column::Revision.gt(revision))
            .order_by_asc(change::Column::Revision)
            .limit(limit)
            .all(store.db())
    })
    .await?;
    rows.into_iter()
        .map(|row| {
            Ok(Change {
                kind: ChangeKind::parse(&row.kind).ok_or_else(|| {
                    Error::Internal(format!("unknown change kind `{}`", row.kind))
                })?,
                revision: row.revision,
                resource_server: row.resource_server,
                owner: row.owner,
                resource_set_id: row.resource_set_id,
                policy_id: row.policy_id,
                rpt_hash: row.rpt_hash,
                at: row.at,
            })
        })
        .collect()
}

/// Deletes changes recorded before `cutoff` and remembers the highest
/// revision deleted; how many rows went.
pub async fn prune(store: &Store, cutoff: UnixTime) -> Result<u64, Error> {
    use sea_orm::TransactionTrait;
    let txn = store.db().begin().await.map_err(db_error)?;
    // Writing first: a SQLite transaction that reads before it writes
    // cannot wait for a concurrent writer.
    let deleted = change::Entity::delete_many()
        .filter(change::Column::At.lt(cutoff))
        .exec_with_returning(&txn)
        .await
        .map_err(db_error)?;
    let Some(highest) = deleted.iter().map(|row| row.revision).max() else {
        return Ok(0);
    };
    txn.execute_unprepared(&format!(
        "UPDATE revisions SET value = {highest} WHERE id = {} AND value < {highest}",
        Counter::PrunedThrough.id()
    ))
    .await
    .map_err(db_error)?;
    txn.commit().await.map_err(db_error)?;
    Ok(u64::try_from(deleted.len()).unwrap_or(u64::MAX))
}
