//! Persistence with sea-orm. Query functions are shaped like use cases, take
//! the tenant (namespace) in their signature, and run unchanged on SQLite and
//! PostgreSQL. Nothing outside this module names an entity.

pub(crate) mod cache;
mod entities;

pub mod bulk;
pub mod changes;
pub mod clients;
pub mod enforcement;
pub mod grants;
pub mod keys;
pub mod pending;
pub mod policies;
pub mod resource_sets;
pub mod rpts;
pub mod sessions;
pub mod sign_in;
pub mod tickets;
pub mod users;
mod weight;

use std::time::Duration;

use std::sync::Arc;

use migration::{Migrator, MigratorTrait};
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbErr};

use crate::domain::Error;

/// A handle on the database and its hot-path caches; cheap to clone (clones
/// share both).
#[derive(Clone)]
pub struct Store {
    db: DatabaseConnection,
    cache: Arc<cache::Cache>,
    tickets: Arc<tickets::TicketWriter>,
    changes: Arc<tokio::sync::Notify>,
    /// The key-set counter (revisions row 4) last seen.
    key_revision: Arc<std::sync::atomic::AtomicI64>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").finish_non_exhaustive()
    }
}

impl Store {
    /// Connects to `url` (`sqlite://…?mode=rwc` or `postgres://…`) and
    /// starts the ticket writer on the current runtime.
    pub async fn connect(url: &str) -> Result<Store, Error> {
        let mut options = ConnectOptions::new(url.to_string());
        options
            .max_connections(if url.starts_with("sqlite") { 8 } else { 16 })
            .min_connections(1)
            .connect_timeout(Duration::from_secs(10))
            .acquire_timeout(Duration::from_secs(10))
            .sqlx_logging(false)
            // SQLite: write-ahead log (readers never block the writer) and
            // fsync at checkpoints rather than every commit; a crash of the
            // process loses nothing, a power cut at most the last commits.
            .map_sqlx_sqlite_opts(|sqlite| {
                use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
                sqlite
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .busy_timeout(Duration::from_secs(10))
            });
        let db = Database::connect(options).await.map_err(|e| {
            Error::Unavailable(format!("cannot connect to the database: {}", redact(&e)))
        })?;
        Ok(Store {
            tickets: Arc::new(tickets::TicketWriter::start(db.clone())),
            changes: Arc::new(tokio::sync::Notify::new()),
            key_revision: Arc::new(std::sync::atomic::AtomicI64::new(0)),
            db,
            cache: Arc::new(cache::Cache::new()),
        })
    }

    /// Reads the database change counter and drops the caches if another
    /// replica changed something since the last look. Each replica calls this
    /// every `cache_refresh_ms`: that interval bounds how stale its answers
    /// can be after a write elsewhere.
    pub async fn refresh_cache(&self) -> Result<(), Error> {
        let looked_at = std::time::Instant::now();
        let rows = self
            .db
            .query_all_raw(sea_orm::Statement::from_string(
                self.db.get_database_backend(),
                "SELECT id, value FROM revisions WHERE id IN (1, 3, 4)",
            ))
            .await
            .map_err(db_error)?;
        let mut revision = None;
        for row in rows {
            let id: i32 = row.try_get("", "id").map_err(db_error)?;
            let value: i64 = row.try_get("", "value").map_err(db_error)?;
            match id {
                1 => revision = Some(value),
                3 => self.cache.observe_clients(value),
                4 => self
                    .key_revision
                    .store(value, std::sync::atomic::Ordering::SeqCst),
                _ => {}
            }
        }
        let revision =
            revision.ok_or_else(|| Error::Internal("the revisions row is missing".into()))?;
        self.cache.observe(revision, looked_at);
        for (cache, bytes) in self.cache.sizes() {
            // Estimates well below 2^53: no precision lost.
            #[allow(clippy::cast_precision_loss)]
            metrics::gauge!("steward_cache_bytes", "cache" => cache).set(bytes as f64);
        }
        self.changes.notify_waiters();
        Ok(())
    }

    /// How long after its last successful look at the change counter this
    /// store serves cached answers (past it, every lookup reads the database).
    pub fn set_staleness_bound(&self, bound: std::time::Duration) {
        self.cache.set_staleness_bound(bound);
    }

    /// The database change counter as this replica last saw it (0 before
    /// the first look). Every cached answer reflects at least the changes up
    /// to it, so an answer computed after reading it may say "as of" it.
    pub fn known_revision(&self) -> i64 {
        self.cache.revision().max(0)
    }

    /// The key-set counter as last read: when it moves, signing keys changed.
    pub fn key_revision(&self) -> i64 {
        self.key_revision.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Drops this process's cached answers (after a local write commits)
    /// and wakes the change watchers.
    fn changed(&self) {
        self.cache.invalidate();
        self.changes.notify_waiters();
    }

    /// Woken after local writes and after every look at the counter.
    pub fn change_notifier(&self) -> &tokio::sync::Notify {
        &self.changes
    }

    /// Applies every pending migration.
    pub async fn migrate(&self) -> Result<(), Error> {
        Migrator::up(&self.db, None).await.map_err(db_error)
    }

    /// True when the database answers and no migration is pending (readiness).
    pub async fn ready(&self) -> Result<(), Error> {
        self.db
            .execute_unprepared("SELECT 1")
            .await
            .map_err(db_error)?;
        let pending = Migrator::get_pending_migrations(&self.db)
            .await
            .map_err(db_error)?;
        if pending.is_empty() {
            Ok(())
        } else {
            Err(Error::Unavailable(format!(
                "{} database migration(s) pending",
                pending.len()
            )))
        }
    }

    pub(crate) fn db(&self) -> &DatabaseConnection {
        &self.db
    }
}

/// Bumps the change counter inside a write's transaction, so other replicas
/// learn that their cached answers may be stale.
pub(crate) async fn bump_revision<C: ConnectionTrait>(conn: &C) -> Result<(), DbErr> {
    changes::record(conn, &[]).await.map(|_| ())
}

/// Inserts one row in a transaction that also bumps the change counter,
/// then drops this process's caches: the shape of every cache-relevant insert.
pub(crate) async fn insert_changing<A>(
    store: &Store,
    model: A,
    changes: &[crate::domain::change::Change],
) -> Result<(), DbErr>
where
    A: sea_orm::ActiveModelTrait + Send,
{
    use sea_orm::TransactionTrait;
    let txn = store.db.begin().await?;
    sea_orm::Insert::one(model)
        .exec_without_returning(&txn)
        .await?;
    changes::record(&txn, changes).await?;
    txn.commit().await?;
    store.changed();
    Ok(())
}

/// Maps a database error to the domain: lost connections are `Unavailable`,
/// the rest `Internal` (logged at the edge, never shown).
pub(crate) fn db_error(e: DbErr) -> Error {
    match e {
        DbErr::Conn(_) | DbErr::ConnectionAcquire(_) => {
            Error::Unavailable("the database is unreachable".into())
        }
        other => Error::Internal(format!("database error: {}", redact(&other))),
    }
}

/// Database errors may echo the connection URL; keep passwords out of logs.
fn redact(e: &DbErr) -> String {
    let text = e.to_string();
    match (text.find("://"), text.find('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}://***{}", &text[..scheme], &text[at..])
        }
        _ => text,
    }
}

/// Encodes a list of strings for a JSON text column.
pub(crate) fn to_json_list(items: &[String]) -> String {
    serde_json::Value::from(items.to_vec()).to_string()
}

/// Decodes a JSON text column written by [`to_json_list`].
pub(crate) fn from_json_list(text: &str) -> Result<Vec<String>, Error> {
    serde_json::from_str(text).map_err(|e| Error::Internal(format!("corrupt list column: {e}")))
}

/// Whether a write failed on a primary-key or unique constraint (the
/// database deciding a race, or a name already taken).
pub(crate) fn is_unique_violation(e: &DbErr) -> bool {
    matches!(
        e.sql_err(),
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
    )
}

/// Decodes a JSON object column (claims).
pub(crate) fn from_json_object(
    text: &str,
) -> Result<serde_json::Map<String, serde_json::Value>, Error> {
    serde_json::from_str(text).map_err(|e| Error::Internal(format!("corrupt claims column: {e}")))
}

/// Every row of every table, rendered in a stable order. For tests and
/// diagnostics: two equal dumps mean the database did not change.
pub async fn dump(store: &Store) -> Result<String, Error> {
    use sea_orm::{EntityTrait, QueryOrder};
    let db = store.db();
    let mut out = String::new();
    let clients = entities::client::Entity::find()
        .order_by_asc(entities::client::Column::ClientId)
        .all(db)
        .await
        .map_err(db_error)?;
    out.push_str(&format!("{clients:?}\n"));
    let keys = entities::signing_key::Entity::find()
        .order_by_asc(entities::signing_key::Column::Kid)
        .all(db)
        .await
        .map_err(db_error)?;
    out.push_str(&format!("{keys:?}\n"));
    let sets = entities::resource_set::Entity::find()
        .order_by_asc(entities::resource_set::Column::Id)
        .all(db)
        .await
        .map_err(db_error)?;
    out.push_str(&format!("{sets:?}\n"));
    let tickets = entities::permission_ticket::Entity::find()
        .order_by_asc(entities::permission_ticket::Column::Id)
        .all(db)
        .await
        .map_err(db_error)?;
    out.push_str(&format!("{tickets:?}\n"));
    let rpts = entities::rpt::Entity::find()
        .order_by_asc(entities::rpt::Column::TokenHash)
        .all(db)
        .await
        .map_err(db_error)?;
    out.push_str(&format!("{rpts:?}\n"));
    let permissions = entities::rpt_permission::Entity::find()
        .order_by_asc(entities::rpt_permission::Column::Id)
        .all(db)
        .await
        .map_err(db_error)?;
    out.push_str(&format!("{permissions:?}\n"));
    let policies = entities::policy::Entity::find()
        .order_by_asc(entities::policy::Column::Id)
        .all(db)
        .await
        .map_err(db_error)?;
    out.push_str(&format!("{policies:?}\n"));
    let pending = entities::pending_request::Entity::find()
        .order_by_asc(entities::pending_request::Column::Id)
        .all(db)
        .await
        .map_err(db_error)?;
    out.push_str(&format!("{pending:?}\n"));
    let profiles = entities::enforcement_profile::Entity::find()
        .order_by_asc(entities::enforcement_profile::Column::ClientId)
        .all(db)
        .await
        .map_err(db_error)?;
    out.push_str(&format!("{profiles:?}\n"));
    let hosts = entities::enforcement_host::Entity::find()
        .order_by_asc(entities::enforcement_host::Column::Host)
        .all(db)
        .await
        .map_err(db_error)?;
    out.push_str(&format!("{hosts:?}\n"));
    let users = entities::user::Entity::find()
        .order_by_asc(entities::user::Column::Username)
        .all(db)
        .await
        .map_err(db_error)?;
    out.push_str(&format!("{users:?}\n"));
    let grants = entities::grant::Entity::find()
        .order_by_asc(entities::grant::Column::Id)
        .all(db)
        .await
        .map_err(db_error)?;
    out.push_str(&format!("{grants:?}\n"));
    let codes = entities::authorization_code::Entity::find()
        .order_by_asc(entities::authorization_code::Column::CodeHash)
        .all(db)
        .await
        .map_err(db_error)?;
    out.push_str(&format!("{codes:?}\n"));
    let refresh = entities::refresh_token::Entity::find()
        .order_by_asc(entities::refresh_token::Column::TokenHash)
        .all(db)
        .await
        .map_err(db_error)?;
    out.push_str(&format!("{refresh:?}\n"));
    Ok(out)
}

/// Number of permission tickets stored (tests prove writes happened or not).
pub async fn ticket_count(store: &Store) -> Result<u64, Error> {
    use sea_orm::{EntityTrait, PaginatorTrait};
    entities::permission_ticket::Entity::find()
        .count(store.db())
        .await
        .map_err(db_error)
}
