//! Requesting party tokens: stored by hash, with their permissions.

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, DatabaseTransaction, DbErr, EntityTrait, QueryFilter,
    QueryOrder, TransactionTrait,
};

use super::entities::{permission_ticket, rpt, rpt_permission};
use super::{Store, db_error, from_json_list, insert_changing, read, to_json_list};
use crate::domain::change::{Change, ChangeKind};
use crate::domain::rpt::Permission;
use crate::domain::{Error, UnixTime};

/// An RPT as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RptRecord {
    pub token_hash: String,
    /// The UMA client it was issued to.
    pub client_id: String,
    /// The requesting party.
    pub subject: String,
    /// The resource server it is bound to (after its first permission).
    pub resource_server: Option<String>,
    pub created_at: UnixTime,
    pub expires_at: Option<UnixTime>,
    pub revoked_at: Option<UnixTime>,
}

fn active_model(record: &RptRecord, aat_id: Option<&str>) -> rpt::ActiveModel {
    rpt::ActiveModel {
        token_hash: Set(record.token_hash.clone()),
        client_id: Set(record.client_id.clone()),
        subject: Set(record.subject.clone()),
        resource_server: Set(record.resource_server.clone()),
        created_at: Set(record.created_at),
        expires_at: Set(record.expires_at),
        revoked_at: Set(record.revoked_at),
        aat_id: Set(aat_id.map(str::to_string)),
    }
}

/// Stores a new RPT (outside any AAT; tools and tests).
pub async fn insert(store: &Store, record: &RptRecord) -> Result<(), Error> {
    insert_changing(store, active_model(record, None), &[])
        .await
        .map_err(db_error)
}

/// How often an RPT write retries after losing a race for the one live RPT
/// of an AAT (the database's `ux_rpts_live_aat` index decides who won).
const RETRIES: usize = 5;

/// Losing the race shows as the live-RPT index refusing the second insert.
fn lost_race(e: &DbErr) -> bool {
    super::is_unique_violation(e)
}

/// Revokes the AAT's live RPTs; the changes to report (one per revoked RPT
/// that a resource server knows, i.e. that is bound to one) and the hashes
/// of every RPT revoked.
async fn revoke_live_for_aat(
    txn: &DatabaseTransaction,
    aat_id: &str,
    now: UnixTime,
) -> Result<(Vec<Change>, Vec<String>), DbErr> {
    // PostgreSQL: concurrent replacements for one AAT queue here, one after
    // the other, instead of racing to the live-RPT index and retrying (eight
    // at once could lose more rounds than there are retries). SQLite needs
    // nothing: its first write below already holds the database's one write
    // lock until commit.
    use sea_orm::ConnectionTrait as _;
    if txn.get_database_backend() == sea_orm::DbBackend::Postgres {
        txn.execute_raw(sea_orm::Statement::from_sql_and_values(
            sea_orm::DbBackend::Postgres,
            "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
            [aat_id.into()],
        ))
        .await?;
    }
    // One statement, writing first: on SQLite a transaction that reads
    // before it writes cannot wait for a concurrent writer and fails busy.
    let revoked = rpt::Entity::update_many()
        .col_expr(rpt::Column::RevokedAt, Expr::value(now))
        .filter(rpt::Column::AatId.eq(aat_id))
        .filter(rpt::Column::RevokedAt.is_null())
        .exec_with_returning(txn)
        .await?;
    let hashes = revoked.iter().map(|row| row.token_hash.clone()).collect();
    let changes = revoked
        .into_iter()
        .filter_map(|row| {
            let hash = row.token_hash;
            row.resource_server.map(|resource_server| Change {
                revision: 0,
                kind: ChangeKind::RptRevoked,
                resource_server,
                owner: String::new(),
                resource_set_id: String::new(),
                policy_id: String::new(),
                rpt_hash: hash,
                at: now,
            })
        })
        .collect();
    Ok((changes, hashes))
}

/// Stores a new RPT for an AAT and, in the same transaction, revokes the
/// RPTs issued earlier for that AAT (draft-06 §3.4.2: one live RPT per AAT,
/// also under concurrent requests). Returns the hashes of the RPTs revoked.
pub async fn replace_for_aat(
    store: &Store,
    record: &RptRecord,
    aat_id: &str,
    now: UnixTime,
) -> Result<Vec<String>, Error> {
    for _ in 0..RETRIES {
        let attempt = async {
            let txn = store.db().begin().await?;
            let (revoked, hashes) = revoke_live_for_aat(&txn, aat_id, now).await?;
            rpt::Entity::insert(active_model(record, Some(aat_id)))
                .exec_without_returning(&txn)
                .await?;
            super::changes::record(&txn, &revoked).await?;
            txn.commit().await.map(|()| hashes)
        };
        match attempt.await {
            Ok(hashes) => {
                store.changed();
                return Ok(hashes);
            }
            Err(e) if lost_race(&e) => continue,
            Err(e) => return Err(db_error(e)),
        }
    }
    Err(Error::Unavailable(
        "concurrent RPT requests for one AAT; retry".into(),
    ))
}

/// Which RPT a grant goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GrantTarget {
    /// An RPT the client already holds (by hash).
    Existing(String),
    /// A new RPT for the AAT with this `jti`, stored only if the grant succeeds.
    New(RptRecord, String),
}

/// Grants a permission, atomically: redeems the ticket (only if unused and
/// unexpired — of two concurrent grants on one ticket only one passes),
/// binds the RPT to the resource server (unless bound to another), and
/// attaches the permission. Any failure leaves everything as it was.
pub async fn grant(
    store: &Store,
    ticket_id: &str,
    target: &GrantTarget,
    resource_server: &str,
    permission: &Permission,
    now: UnixTime,
) -> Result<Vec<String>, Error> {
    for _ in 0..RETRIES {
        match try_grant(store, ticket_id, target, resource_server, permission, now).await {
            Ok(outcome) => {
                if outcome.is_ok() {
                    store.changed();
                }
                return outcome;
            }
            Err(e) if lost_race(&e) => continue,
            Err(e) => return Err(db_error(e)),
        }
    }
    Err(Error::Unavailable(
        "concurrent RPT requests for one AAT; retry".into(),
    ))
}

/// One attempt at [`grant`]: `Ok(Err(..))` is a refusal (nothing written),
/// `Err(..)` a database error (the transaction rolls back on drop).
async fn try_grant(
    store: &Store,
    ticket_id: &str,
    target: &GrantTarget,
    resource_server: &str,
    permission: &Permission,
    now: UnixTime,
) -> Result<Result<Vec<String>, Error>, DbErr> {
    let txn = store.db().begin().await?;
    let redeemed = permission_ticket::Entity::update_many()
        .col_expr(permission_ticket::Column::RedeemedAt, Expr::value(now))
        .filter(permission_ticket::Column::Id.eq(ticket_id))
        .filter(permission_ticket::Column::RedeemedAt.is_null())
        .filter(permission_ticket::Column::ExpiresAt.gt(now))
        .exec(&txn)
        .await?;
    if redeemed.rows_affected != 1 {
        txn.rollback().await?;
        return Ok(Err(Error::InvalidTicket(
            "the ticket was already used or has just expired".into(),
        )));
    }
    let mut revoked = Vec::new();
    let mut revoked_hashes = Vec::new();
    let token_hash = match target {
        GrantTarget::New(record, aat_id) => {
            // The UMA 1.0 flow mints a new RPT: it replaces the AAT's earlier one.
            (revoked, revoked_hashes) = revoke_live_for_aat(&txn, aat_id, now).await?;
            let mut record = record.clone();
            record.resource_server = Some(resource_server.to_string());
            rpt::Entity::insert(active_model(&record, Some(aat_id)))
                .exec_without_returning(&txn)
                .await?;
            record.token_hash
        }
        GrantTarget::Existing(hash) => {
            let bound = rpt::Entity::update_many()
                .col_expr(rpt::Column::ResourceServer, Expr::value(resource_server))
                .filter(rpt::Column::TokenHash.eq(hash.as_str()))
                .filter(rpt::Column::RevokedAt.is_null())
                .filter(
                    Condition::any()
                        .add(rpt::Column::ResourceServer.is_null())
                        .add(rpt::Column::ResourceServer.eq(resource_server)),
                )
                .exec(&txn)
                .await?;
            if bound.rows_affected != 1 {
                txn.rollback().await?;
                return Ok(Err(Error::InvalidToken(
                    "the RPT was revoked or is bound to another resource server".into(),
                )));
            }
            hash.clone()
        }
    };
    rpt_permission::Entity::insert(permission_model(&token_hash, resource_server, permission))
        .exec_without_returning(&txn)
        .await?;
    super::changes::record(&txn, &revoked).await?;
    txn.commit().await?;
    Ok(Ok(revoked_hashes))
}

fn permission_model(
    token_hash: &str,
    resource_server: &str,
    permission: &Permission,
) -> rpt_permission::ActiveModel {
    rpt_permission::ActiveModel {
        id: Set(uuid::Uuid::new_v4().to_string()),
        rpt_hash: Set(token_hash.to_string()),
        resource_server: Set(resource_server.to_string()),
        owner: Set(permission.owner.clone()),
        rsid: Set(permission.resource_set_id.clone()),
        scopes: Set(to_json_list(&permission.scopes)),
        issued_at: Set(permission.issued_at),
        expires_at: Set(permission.expires_at),
    }
}

/// Attaches a permission granted on `resource_server`'s set to an RPT.
pub async fn add_permission(
    store: &Store,
    token_hash: &str,
    resource_server: &str,
    permission: &Permission,
) -> Result<(), Error> {
    insert_changing(
        store,
        permission_model(token_hash, resource_server, permission),
        &[],
    )
    .await
    .map_err(db_error)
}

/// Finds an RPT by the hash of its value.
pub async fn find(store: &Store, token_hash: &str) -> Result<Option<RptRecord>, Error> {
    let row = read(|| rpt::Entity::find_by_id(token_hash.to_string()).one(store.db())).await?;
    Ok(row.map(|row| RptRecord {
        token_hash: row.token_hash,
        client_id: row.client_id,
        subject: row.subject,
        resource_server: row.resource_server,
        created_at: row.created_at,
        expires_at: row.expires_at,
        revoked_at: row.revoked_at,
    }))
}

/// The permissions an RPT carries on one resource server's sets.
pub async fn permissions(
    store: &Store,
    token_hash: &str,
    resource_server: &str,
) -> Result<Vec<Permission>, Error> {
    let rows = read(|| {
        rpt_permission::Entity::find()
            .filter(rpt_permission::Column::RptHash.eq(token_hash))
            .filter(rpt_permission::Column::ResourceServer.eq(resource_server))
            .order_by_asc(rpt_permission::Column::IssuedAt)
            .order_by_asc(rpt_permission::Column::Id)
            .all(store.db())
    })
    .await?;
    rows.into_iter()
        .map(|row| {
            Ok(Permission {
                scopes: from_json_list(&row.scopes)?,
                owner: row.owner,
                resource_set_id: row.rsid,
                issued_at: row.issued_at,
                expires_at: row.expires_at,
            })
        })
        .collect()
}

/// What RPT status needs about one RPT at one resource server, cached as a
/// unit: the RPT, its permissions there, and the current scopes of the sets
/// they name. Time-dependent checks are made on every answer, not cached.
#[derive(Debug, Clone, PartialEq)]
pub struct CachedStatus {
    pub record: RptRecord,
    pub permissions: Vec<Permission>,
    pub registered: crate::domain::rpt::RegisteredScopes,
}

/// The status view of an RPT at `resource_server`, from memory when nothing
/// changed. Unknown RPTs are not cached (made-up values must not fill memory).
pub async fn status_view(
    store: &Store,
    token_hash: &str,
    resource_server: &str,
) -> Result<Option<std::sync::Arc<CachedStatus>>, Error> {
    let key = (token_hash.to_string(), resource_server.to_string());
    if let Some(view) = store.cache.get(&store.cache.rpt_status, &key) {
        return Ok(Some(view));
    }
    let generation = store.cache.rpt_status.generation();
    let Some(record) = find(store, token_hash).await? else {
        return Ok(None);
    };
    let permissions = permissions(store, token_hash, resource_server).await?;
    let mut sets: Vec<(String, String)> = permissions
        .iter()
        .map(|p| (p.owner.clone(), p.resource_set_id.clone()))
        .collect();
    sets.sort();
    sets.dedup();
    let registered = super::resource_sets::registered_scopes(store, resource_server, &sets).await?;
    let view = std::sync::Arc::new(CachedStatus {
        record,
        permissions,
        registered,
    });
    store.cache.rpt_status.fill(key, &view, generation);
    Ok(Some(view))
}
