//! Bulk loading for the load tool's scale run (`steward bench --scale`).
//!
//! Making 1 000 000 permissions through the public API means a ticket and a
//! permission request each: hours of seeding that measure nothing. The scale
//! run instead writes rows of exactly the shape the API writes, in large
//! transactions, straight into the tables (as `pgbench -i` does). Each batch
//! is one transaction that also bumps the change counter, so every replica's
//! caches drop it in and a half-loaded batch never becomes visible.

use sea_orm::{ActiveValue::Set, ConnectionTrait, DbErr, EntityTrait, TransactionTrait};

use super::entities::{policy, resource_set, rpt, rpt_permission};
use super::{Store, bump_revision, db_error, to_json_list};
use crate::domain::policy::PolicyDefinition;
use crate::domain::rpt::Permission;
use crate::domain::{Error, Namespace, UnixTime};

/// Rows per INSERT statement: below SQLite's bound-parameter limit (32 766)
/// for the widest table (12 columns) with room to spare.
const ROWS_PER_STATEMENT: usize = 1_000;

/// A resource set registered at revision 1 with `scopes` and a plain name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BulkResourceSet {
    pub rsid: String,
    pub scopes: Vec<String>,
    /// Path patterns (the `uris` extension member); may be empty.
    pub uris: Vec<String>,
}

/// An RPT issued to `client_id` for `subject`, bound to the namespace's
/// resource server, carrying `permission`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BulkRpt {
    pub token_hash: String,
    pub client_id: String,
    pub subject: String,
    pub permission: Permission,
}

/// One transaction's worth of rows, all in one namespace.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Batch {
    pub resource_sets: Vec<BulkResourceSet>,
    /// (rsid, policy id, definition).
    pub policies: Vec<(String, String, PolicyDefinition)>,
    pub rpts: Vec<BulkRpt>,
}

/// Writes `batch` into `ns` in one transaction (all of it or nothing), then
/// drops this process's caches.
pub async fn write(
    store: &Store,
    ns: &Namespace,
    batch: &Batch,
    now: UnixTime,
) -> Result<(), Error> {
    let txn = store.db().begin().await.map_err(db_error)?;
    write_in(&txn, ns, batch, now).await.map_err(db_error)?;
    bump_revision(&txn).await.map_err(db_error)?;
    txn.commit().await.map_err(db_error)?;
    store.changed();
    Ok(())
}

async fn write_in<C: ConnectionTrait>(
    conn: &C,
    ns: &Namespace,
    batch: &Batch,
    now: UnixTime,
) -> Result<(), DbErr> {
    for chunk in batch.resource_sets.chunks(ROWS_PER_STATEMENT) {
        let rows = chunk.iter().map(|set| resource_set::ActiveModel {
            id: Set(uuid::Uuid::new_v4().to_string()),
            client_id: Set(ns.client_id.clone()),
            owner: Set(ns.owner.clone()),
            rsid: Set(set.rsid.clone()),
            rev: Set(1),
            name: Set(format!("bulk set {}", set.rsid)),
            icon_uri: Set(None),
            kind: Set(None),
            scopes: Set(to_json_list(&set.scopes)),
            extensions: Set(if set.uris.is_empty() {
                "{}".to_string()
            } else {
                serde_json::json!({ "uris": set.uris }).to_string()
            }),
            created_at: Set(now),
            updated_at: Set(now),
        });
        resource_set::Entity::insert_many(rows)
            .exec_without_returning(conn)
            .await?;
    }
    for chunk in batch.policies.chunks(ROWS_PER_STATEMENT) {
        let mut rows = Vec::with_capacity(chunk.len());
        for (rsid, id, definition) in chunk {
            let definition = serde_json::to_string(definition)
                .map_err(|e| DbErr::Custom(format!("cannot store policy: {e}")))?;
            rows.push(policy::ActiveModel {
                id: Set(id.clone()),
                client_id: Set(ns.client_id.clone()),
                owner: Set(ns.owner.clone()),
                rsid: Set(rsid.clone()),
                definition: Set(definition),
                created_at: Set(now),
            });
        }
        policy::Entity::insert_many(rows)
            .exec_without_returning(conn)
            .await?;
    }
    for chunk in batch.rpts.chunks(ROWS_PER_STATEMENT) {
        let tokens = chunk.iter().map(|r| rpt::ActiveModel {
            token_hash: Set(r.token_hash.clone()),
            client_id: Set(r.client_id.clone()),
            subject: Set(r.subject.clone()),
            resource_server: Set(Some(ns.client_id.clone())),
            created_at: Set(now),
            expires_at: Set(None),
            revoked_at: Set(None),
            aat_id: Set(None),
        });
        rpt::Entity::insert_many(tokens)
            .exec_without_returning(conn)
            .await?;
        let permissions = chunk.iter().map(|r| rpt_permission::ActiveModel {
            id: Set(uuid::Uuid::new_v4().to_string()),
            rpt_hash: Set(r.token_hash.clone()),
            resource_server: Set(ns.client_id.clone()),
            owner: Set(r.permission.owner.clone()),
            rsid: Set(r.permission.resource_set_id.clone()),
            scopes: Set(to_json_list(&r.permission.scopes)),
            issued_at: Set(r.permission.issued_at),
            expires_at: Set(r.permission.expires_at),
        });
        rpt_permission::Entity::insert_many(permissions)
            .exec_without_returning(conn)
            .await?;
    }
    Ok(())
}
