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
mod revisions;
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

/// How long a request may wait on the database, and how many connections
/// it may hold: the bounds that keep one slow table or a lost connection
/// from holding every request (see `docs/operations.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DatabaseLimits {
    /// Pooled connections for requests; `None`: 16 on PostgreSQL, 8 on SQLite.
    pub max_connections: Option<u32>,
    /// PostgreSQL `statement_timeout` of every request connection (zero:
    /// not set, the server's or role's setting applies).
    pub statement_timeout: Duration,
    /// PostgreSQL `lock_timeout` (zero: not set); on SQLite the busy
    /// timeout, how long a write waits for another writer.
    pub lock_timeout: Duration,
    /// How long a request waits for a free pooled connection.
    pub acquire_timeout: Duration,
}

impl Default for DatabaseLimits {
    fn default() -> Self {
        DatabaseLimits {
            max_connections: None,
            statement_timeout: Duration::from_secs(5),
            lock_timeout: Duration::from_secs(2),
            acquire_timeout: Duration::from_secs(1),
        }
    }
}

impl DatabaseLimits {
    /// The limits the settings name (`db_*`).
    pub fn from_settings(settings: &crate::config::Settings) -> DatabaseLimits {
        DatabaseLimits {
            max_connections: (settings.db_max_connections > 0)
                .then_some(settings.db_max_connections),
            statement_timeout: Duration::from_millis(settings.db_statement_timeout_ms),
            lock_timeout: Duration::from_millis(settings.db_lock_timeout_ms),
            acquire_timeout: Duration::from_millis(settings.db_acquire_timeout_ms),
        }
    }
}

/// How long start-up keeps trying to reach the database (it may be
/// starting too) before giving up.
const FIRST_CONTACT: Duration = Duration::from_secs(10);

/// How long the readiness check waits for its own connection: long enough
/// to open one over TLS to a distant server, and it never waits on requests.
const HEALTH_ACQUIRE: Duration = Duration::from_secs(5);

/// One pool's shape.
struct Pool {
    max_connections: u32,
    min_connections: u32,
    acquire_timeout: Duration,
    /// Whether the PostgreSQL session gets the statement and lock timeouts
    /// (not for migrations, which may rightly take long).
    timeouts: bool,
}

/// Opens one pool on `url`, retrying for up to [`FIRST_CONTACT`] while the
/// database cannot be reached (a bad password or URL fails at once).
async fn open(url: &str, limits: &DatabaseLimits, pool: Pool) -> Result<DatabaseConnection, Error> {
    let mut options = ConnectOptions::new(url.to_string());
    options
        .max_connections(pool.max_connections)
        .min_connections(pool.min_connections)
        .acquire_timeout(pool.acquire_timeout)
        .sqlx_logging(false);
    let mut session: Vec<(&'static str, String)> = Vec::new();
    if pool.timeouts {
        // Startup parameters, so no extra round trip per connection. A
        // pooler that refuses them (PgBouncer without
        // `ignore_startup_parameters = options`) needs both set to 0 here
        // and the timeouts set on the database role instead.
        for (name, value) in [
            ("statement_timeout", limits.statement_timeout),
            ("lock_timeout", limits.lock_timeout),
        ] {
            if !value.is_zero() {
                session.push((name, format!("{}ms", value.as_millis())));
            }
        }
    }
    let busy = if pool.timeouts {
        limits.lock_timeout
    } else {
        MIGRATION_BUSY_TIMEOUT
    };
    options
        .map_sqlx_postgres_opts(move |pg| {
            if session.is_empty() {
                pg
            } else {
                pg.options(session.clone())
            }
        })
        // SQLite: write-ahead log (readers never block the writer) and
        // fsync at checkpoints rather than every commit; a crash of the
        // process loses nothing, a power cut at most the last commits. A
        // write waits `busy` for another writer, then fails busy (503).
        .map_sqlx_sqlite_opts(move |sqlite| {
            use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
            sqlite
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(busy)
        });
    let deadline = tokio::time::Instant::now() + FIRST_CONTACT;
    loop {
        match Database::connect(options.clone()).await {
            Ok(db) => return Ok(db),
            Err(e) if fault(&e) != Fault::Other && tokio::time::Instant::now() < deadline => {
                tracing::debug!(error = %redact(&e), "the database is not reachable yet");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => {
                return Err(Error::Unavailable(format!(
                    "cannot connect to the database: {}",
                    redact(&e)
                )));
            }
        }
    }
}

/// SQLite's busy timeout for migrations (which take the write lock longer
/// than any request).
const MIGRATION_BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// A handle on the database and its hot-path caches; cheap to clone (clones
/// share both).
#[derive(Clone)]
pub struct Store {
    /// The pool requests use.
    db: DatabaseConnection,
    /// One connection of the readiness check and the change-counter look,
    /// so a pool busy with slow requests neither makes a healthy database
    /// look down nor lets this replica's cache expire.
    health: DatabaseConnection,
    /// Where migrations open their own connection (without the timeouts).
    url: Arc<str>,
    cache: Arc<cache::Cache>,
    tickets: Arc<tickets::TicketWriter>,
    changes: Arc<tokio::sync::Notify>,
    /// The key-set counter (`revisions::Counter::KeySet`) last seen.
    key_revision: Arc<std::sync::atomic::AtomicI64>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").finish_non_exhaustive()
    }
}

impl Store {
    /// Connects to `url` (`sqlite://…?mode=rwc` or `postgres://…`) with the
    /// default [`DatabaseLimits`] and starts the ticket writer on the
    /// current runtime.
    pub async fn connect(url: &str) -> Result<Store, Error> {
        Store::connect_with(url, &DatabaseLimits::default()).await
    }

    /// Connects with these limits. Three pools: the requests' (bounded by
    /// `limits`), one connection for the ticket writer (registrations, the
    /// hot-path write, never queue behind slow reads) and one for the
    /// readiness check.
    pub async fn connect_with(url: &str, limits: &DatabaseLimits) -> Result<Store, Error> {
        let default_size = if url.starts_with("sqlite") { 8 } else { 16 };
        let db = open(
            url,
            limits,
            Pool {
                max_connections: limits.max_connections.unwrap_or(default_size),
                min_connections: 1,
                acquire_timeout: limits.acquire_timeout,
                timeouts: true,
            },
        )
        .await?;
        let single = |acquire_timeout| Pool {
            max_connections: 1,
            min_connections: 1,
            acquire_timeout,
            timeouts: true,
        };
        let writer = open(url, limits, single(limits.acquire_timeout)).await?;
        let health = open(url, limits, single(HEALTH_ACQUIRE)).await?;
        Ok(Store {
            tickets: Arc::new(tickets::TicketWriter::start(writer)),
            changes: Arc::new(tokio::sync::Notify::new()),
            key_revision: Arc::new(std::sync::atomic::AtomicI64::new(0)),
            db,
            health,
            url: Arc::from(url),
            cache: Arc::new(cache::Cache::new()),
        })
    }

    /// Reads the database change counter and drops the caches if another
    /// replica changed something since the last look. Each replica calls this
    /// every `cache_refresh_ms`: that interval bounds how stale its answers
    /// can be after a write elsewhere.
    pub async fn refresh_cache(&self) -> Result<(), Error> {
        let looked_at = std::time::Instant::now();
        // On the probe connection, not the request pool: requests stuck on
        // a locked table must not keep this replica from learning that its
        // cache is still current (and so send every lookup to that table).
        let rows = read(|| {
            self.health.query_all_raw(sea_orm::Statement::from_string(
                self.health.get_database_backend(),
                "SELECT id, value FROM revisions",
            ))
        })
        .await?;
        let mut revision = None;
        for row in rows {
            let id: i32 = row.try_get("", "id").map_err(db_error)?;
            let value: i64 = row.try_get("", "value").map_err(db_error)?;
            match revisions::Counter::from_id(id) {
                Some(revisions::Counter::Changes) => revision = Some(value),
                Some(revisions::Counter::Clients) => self.cache.observe_clients(value),
                Some(revisions::Counter::KeySet) => self
                    .key_revision
                    .store(value, std::sync::atomic::Ordering::SeqCst),
                Some(revisions::Counter::PrunedThrough) | None => {}
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

    /// Applies every pending migration, on a connection of its own without
    /// the request timeouts (a migration may rightly run long).
    pub async fn migrate(&self) -> Result<(), Error> {
        let limits = DatabaseLimits::default();
        let db = open(
            &self.url,
            &limits,
            Pool {
                max_connections: 1,
                min_connections: 0,
                acquire_timeout: FIRST_CONTACT,
                timeouts: false,
            },
        )
        .await?;
        let migrated = Migrator::up(&db, None).await.map_err(db_error);
        db.close().await.ok();
        migrated
    }

    /// True when the database answers and no migration is pending
    /// (readiness). Asked on a connection of its own: requests waiting for
    /// the pool (a locked table, a burst) do not make this replica unready,
    /// only a database it cannot reach or use. A connection lost in between
    /// (a failover) is retried once at once.
    pub async fn ready(&self) -> Result<(), Error> {
        read(|| self.health.execute_unprepared("SELECT 1")).await?;
        let pending = read(|| Migrator::get_pending_migrations(&self.health)).await?;
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

/// Why a database operation failed, as far as the caller can act on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fault {
    /// The connection broke (killed, failover, network): the same read on
    /// another connection will most likely succeed at once.
    Connection,
    /// No pooled connection came free within the acquire timeout.
    PoolTimeout,
    /// The statement ran past `statement_timeout`, or was cancelled.
    StatementTimeout,
    /// A lock was not granted within `lock_timeout` (SQLite: busy/locked).
    LockTimeout,
    /// A serialization failure or deadlock: the transaction was rolled back.
    Conflict,
    /// The database does not take this work now (starting up or shutting
    /// down, out of connections, read-only after a failover, pool closed).
    NotAccepting,
    /// Anything else: a bug or corrupt data, not worth retrying.
    Other,
}

impl Fault {
    /// The `fault` label of `steward_database_errors_total` and the logs.
    fn label(self) -> &'static str {
        match self {
            Fault::Connection => "connection",
            Fault::PoolTimeout => "pool_timeout",
            Fault::StatementTimeout => "statement_timeout",
            Fault::LockTimeout => "lock_timeout",
            Fault::Conflict => "conflict",
            Fault::NotAccepting => "not_accepting",
            Fault::Other => "other",
        }
    }
}

/// Classifies a database error; the one place that knows SQLSTATEs and
/// SQLite result codes.
pub(crate) fn fault(e: &DbErr) -> Fault {
    match e {
        DbErr::ConnectionAcquire(sea_orm::ConnAcquireErr::Timeout) => Fault::PoolTimeout,
        DbErr::ConnectionAcquire(sea_orm::ConnAcquireErr::ConnectionClosed) => Fault::NotAccepting,
        DbErr::Conn(sea_orm::RuntimeErr::SqlxError(e))
        | DbErr::Exec(sea_orm::RuntimeErr::SqlxError(e))
        | DbErr::Query(sea_orm::RuntimeErr::SqlxError(e)) => sqlx_fault(e),
        _ => Fault::Other,
    }
}

fn sqlx_fault(e: &sea_orm::sqlx::Error) -> Fault {
    use sea_orm::sqlx::Error as Sqlx;
    match e {
        // A connection closed under a query shows as an I/O error, a
        // garbled or cut-off message, or a transaction left in a state it
        // did not expect; a worker thread gone is SQLite's version of it.
        Sqlx::Io(_)
        | Sqlx::Tls(_)
        | Sqlx::Protocol(_)
        | Sqlx::WorkerCrashed
        | Sqlx::BeginFailed => Fault::Connection,
        Sqlx::PoolTimedOut => Fault::PoolTimeout,
        Sqlx::PoolClosed => Fault::NotAccepting,
        Sqlx::Database(db) => db.code().map_or(Fault::Other, |code| code_fault(&code)),
        _ => Fault::Other,
    }
}

/// A PostgreSQL SQLSTATE (five characters) or a SQLite extended result
/// code (a number below 10 000), as `DatabaseError::code` gives them.
fn code_fault(code: &str) -> Fault {
    if code.len() == 5 {
        return match code {
            // query_canceled: statement_timeout, or a cancel request.
            "57014" => Fault::StatementTimeout,
            // lock_not_available: lock_timeout.
            "55P03" => Fault::LockTimeout,
            // serialization_failure, deadlock_detected.
            "40001" | "40P01" => Fault::Conflict,
            // admin_shutdown (pg_terminate_backend, a fast shutdown),
            // crash_shutdown, idle_session_timeout, and
            // idle_in_transaction_session_timeout: the session is gone.
            "57P01" | "57P02" | "57P05" | "25P03" => Fault::Connection,
            // cannot_connect_now (starting, recovering), too_many_connections,
            // read_only_sql_transaction (a primary demoted by a failover).
            "57P03" | "53300" | "25006" => Fault::NotAccepting,
            // Class 08: connection exception.
            _ if code.starts_with("08") => Fault::Connection,
            _ => Fault::Other,
        };
    }
    match code.parse::<u32>().map(|extended| extended & 0xff) {
        // SQLITE_BUSY (another writer held on past the busy timeout) and
        // SQLITE_LOCKED, with their extended codes.
        Ok(5 | 6) => Fault::LockTimeout,
        _ => Fault::Other,
    }
}

/// Maps a database error to the domain: every transient fault (see
/// [`Fault`]) is `Unavailable` (503 / `UNAVAILABLE`: retry), logged here;
/// the rest `Internal` (logged at the edge, never shown). Both are counted
/// in `steward_database_errors_total{fault}`.
pub(crate) fn db_error(e: DbErr) -> Error {
    let fault = match (fault(&e), &e) {
        // Whatever broke the connection itself, the database is unusable now.
        (Fault::Other, DbErr::Conn(_)) => Fault::Connection,
        (fault, _) => fault,
    };
    metrics::counter!("steward_database_errors_total", "fault" => fault.label()).increment(1);
    if fault == Fault::Other {
        return Error::Internal(format!("database error: {}", redact(&e)));
    }
    tracing::warn!(fault = fault.label(), error = %redact(&e), "database unavailable");
    Error::Unavailable(
        match fault {
            Fault::Connection | Fault::NotAccepting => "the database is unreachable; retry",
            _ => "the database is busy; retry",
        }
        .into(),
    )
}

/// Runs an idempotent database operation (a read), once more at once if
/// the connection broke under it: a failover or a killed session then
/// costs a retry, not an error. Timeouts and busy answers are not retried:
/// that would only double the wait and the load on a database already
/// struggling. Never wrap a write that is not idempotent.
pub(crate) async fn read<T, F, Fut>(mut operation: F) -> Result<T, Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, DbErr>>,
{
    match operation().await {
        Err(e) if fault(&e) == Fault::Connection => {
            metrics::counter!("steward_database_retries_total").increment(1);
            tracing::debug!(error = %redact(&e), "database connection lost; reading again");
            operation().await.map_err(db_error)
        }
        other => other.map_err(db_error),
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
    read(|| entities::permission_ticket::Entity::find().count(store.db())).await
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::borrow::Cow;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use sea_orm::sqlx::error::{DatabaseError, ErrorKind};
    use sea_orm::{ConnAcquireErr, RuntimeErr};

    use super::*;

    /// A database error carrying just a code, as either driver reports one.
    #[derive(Debug)]
    struct Coded(&'static str);

    impl std::fmt::Display for Coded {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "error {}", self.0)
        }
    }

    impl std::error::Error for Coded {}

    impl DatabaseError for Coded {
        fn message(&self) -> &str {
            "coded"
        }
        fn code(&self) -> Option<Cow<'_, str>> {
            Some(Cow::Borrowed(self.0))
        }
        fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
            self
        }
        fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
            self
        }
        fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
            self
        }
        fn kind(&self) -> ErrorKind {
            ErrorKind::Other
        }
    }

    fn query(e: sea_orm::sqlx::Error) -> DbErr {
        DbErr::Query(RuntimeErr::SqlxError(Arc::new(e)))
    }

    fn coded(code: &'static str) -> DbErr {
        DbErr::Exec(RuntimeErr::SqlxError(Arc::new(
            sea_orm::sqlx::Error::Database(Box::new(Coded(code))),
        )))
    }

    #[test]
    fn transient_faults_are_unavailable_and_the_rest_internal() {
        let transient = [
            ("57014", Fault::StatementTimeout),
            ("55P03", Fault::LockTimeout),
            ("40001", Fault::Conflict),
            ("40P01", Fault::Conflict),
            ("57P01", Fault::Connection),
            ("57P02", Fault::Connection),
            ("57P03", Fault::NotAccepting),
            ("57P05", Fault::Connection),
            ("25P03", Fault::Connection),
            ("08000", Fault::Connection),
            ("08006", Fault::Connection),
            ("08P01", Fault::Connection),
            ("53300", Fault::NotAccepting),
            ("25006", Fault::NotAccepting),
            // SQLite: BUSY, BUSY_RECOVERY, BUSY_SNAPSHOT, BUSY_TIMEOUT,
            // LOCKED, LOCKED_SHAREDCACHE.
            ("5", Fault::LockTimeout),
            ("261", Fault::LockTimeout),
            ("517", Fault::LockTimeout),
            ("773", Fault::LockTimeout),
            ("6", Fault::LockTimeout),
            ("262", Fault::LockTimeout),
        ];
        for (code, expected) in transient {
            assert_eq!(fault(&coded(code)), expected, "{code}");
            assert!(
                matches!(db_error(coded(code)), Error::Unavailable(_)),
                "{code}"
            );
        }
        // Bugs and bad data stay internal: a unique or foreign-key
        // violation, a syntax error, an undefined table; SQLite's
        // constraint and generic errors; a PostgreSQL code that is all
        // digits must not be read as a SQLite number.
        for code in [
            "23505", "23503", "42601", "42P01", "57P04", "19", "2067", "1", "00005", "",
        ] {
            assert_eq!(fault(&coded(code)), Fault::Other, "{code}");
            assert!(
                matches!(db_error(coded(code)), Error::Internal(_)),
                "{code}"
            );
        }
        let others = [
            (
                query(sea_orm::sqlx::Error::Io(std::io::Error::from(
                    std::io::ErrorKind::ConnectionReset,
                ))),
                Fault::Connection,
            ),
            (
                query(sea_orm::sqlx::Error::Io(std::io::Error::from(
                    std::io::ErrorKind::UnexpectedEof,
                ))),
                Fault::Connection,
            ),
            (
                query(sea_orm::sqlx::Error::Protocol("unexpected message".into())),
                Fault::Connection,
            ),
            (
                query(sea_orm::sqlx::Error::WorkerCrashed),
                Fault::Connection,
            ),
            (query(sea_orm::sqlx::Error::BeginFailed), Fault::Connection),
            (
                query(sea_orm::sqlx::Error::PoolTimedOut),
                Fault::PoolTimeout,
            ),
            (query(sea_orm::sqlx::Error::PoolClosed), Fault::NotAccepting),
            (
                DbErr::ConnectionAcquire(ConnAcquireErr::Timeout),
                Fault::PoolTimeout,
            ),
            (
                DbErr::ConnectionAcquire(ConnAcquireErr::ConnectionClosed),
                Fault::NotAccepting,
            ),
        ];
        for (e, expected) in others {
            assert_eq!(fault(&e), expected, "{e}");
            assert!(matches!(db_error(e), Error::Unavailable(_)));
        }
        // A connection-level error of any other kind still means no database.
        assert!(matches!(
            db_error(DbErr::Conn(RuntimeErr::Internal("refused".into()))),
            Error::Unavailable(_)
        ));
        for e in [
            query(sea_orm::sqlx::Error::RowNotFound),
            query(sea_orm::sqlx::Error::ColumnNotFound("x".into())),
            DbErr::Custom("the revisions row is missing".into()),
            DbErr::RecordNotInserted,
            DbErr::Type("bad".into()),
        ] {
            assert_eq!(fault(&e), Fault::Other, "{e}");
            assert!(matches!(db_error(e), Error::Internal(_)));
        }
    }

    #[tokio::test]
    async fn reads_run_again_once_on_a_lost_connection_only() {
        let calls = AtomicUsize::new(0);
        let value = read(|| async {
            match calls.fetch_add(1, Ordering::SeqCst) {
                0 => Err(coded("57P01")),
                _ => Ok(7),
            }
        })
        .await;
        assert_eq!(value, Ok(7));
        assert_eq!(calls.load(Ordering::SeqCst), 2);

        // Twice lost: 503 after exactly one retry.
        let calls = AtomicUsize::new(0);
        let value: Result<(), Error> = read(|| async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(query(sea_orm::sqlx::Error::Io(std::io::Error::from(
                std::io::ErrorKind::ConnectionReset,
            ))))
        })
        .await;
        assert!(matches!(value, Err(Error::Unavailable(_))));
        assert_eq!(calls.load(Ordering::SeqCst), 2);

        // A timeout or a bug: answered at once, not run again.
        for code in ["55P03", "57014", "5", "23505"] {
            let calls = AtomicUsize::new(0);
            let value: Result<(), Error> = read(|| async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err(coded(code))
            })
            .await;
            assert!(value.is_err());
            assert_eq!(calls.load(Ordering::SeqCst), 1, "{code}");
        }
    }

    fn limits(lock_ms: u64, statement_ms: u64) -> DatabaseLimits {
        DatabaseLimits {
            max_connections: Some(2),
            statement_timeout: Duration::from_millis(statement_ms),
            lock_timeout: Duration::from_millis(lock_ms),
            acquire_timeout: Duration::from_secs(1),
        }
    }

    fn pool(timeouts: bool) -> Pool {
        Pool {
            max_connections: 2,
            min_connections: 1,
            acquire_timeout: Duration::from_secs(1),
            timeouts,
        }
    }

    #[tokio::test]
    async fn a_sqlite_writer_held_elsewhere_is_busy_after_the_lock_timeout() {
        let path = std::env::temp_dir().join(format!("steward-busy-{}.db", uuid::Uuid::new_v4()));
        let url = format!("sqlite://{}?mode=rwc", path.display());
        let db = open(&url, &limits(100, 0), pool(true)).await.unwrap();
        db.execute_unprepared("CREATE TABLE t (x INTEGER)")
            .await
            .unwrap();
        let other = open(&url, &limits(100, 0), pool(true)).await.unwrap();
        let held = sea_orm::TransactionTrait::begin(&other).await.unwrap();
        held.execute_unprepared("INSERT INTO t VALUES (1)")
            .await
            .unwrap();
        let started = std::time::Instant::now();
        let e = db
            .execute_unprepared("INSERT INTO t VALUES (2)")
            .await
            .expect_err("the write lock is held");
        assert_eq!(fault(&e), Fault::LockTimeout, "{e}");
        assert!(matches!(db_error(e), Error::Unavailable(_)));
        assert!(started.elapsed() < Duration::from_secs(5));
        // Readers are not blocked (write-ahead log).
        db.execute_unprepared("SELECT count(*) FROM t")
            .await
            .unwrap();
        held.rollback().await.unwrap();
        db.execute_unprepared("INSERT INTO t VALUES (3)")
            .await
            .unwrap();
        std::fs::remove_file(&path).ok();
    }

    /// PostgreSQL at `TEST_DATABASE_URL`, or `None` (the test is skipped).
    fn postgres() -> Option<String> {
        match std::env::var("TEST_DATABASE_URL") {
            Ok(url) if !url.is_empty() => Some(url),
            _ => {
                eprintln!("skipped: TEST_DATABASE_URL is not set");
                None
            }
        }
    }

    async fn show(db: &DatabaseConnection, setting: &str) -> String {
        let row = db
            .query_one_raw(sea_orm::Statement::from_string(
                db.get_database_backend(),
                format!("SHOW {setting}"),
            ))
            .await
            .unwrap()
            .unwrap();
        row.try_get_by_index::<String>(0).unwrap()
    }

    #[tokio::test]
    async fn postgres_sessions_carry_the_timeouts_and_their_faults_are_transient() {
        let Some(url) = postgres() else { return };
        let db = open(&url, &limits(1500, 300), pool(true)).await.unwrap();
        assert_eq!(show(&db, "statement_timeout").await, "300ms");
        assert_eq!(show(&db, "lock_timeout").await, "1500ms");
        let e = db
            .execute_unprepared("SELECT pg_sleep(2)")
            .await
            .expect_err("cancelled by statement_timeout");
        assert_eq!(fault(&e), Fault::StatementTimeout, "{e}");

        // Zero: not set, the server's default (none) applies.
        let unset = open(&url, &limits(0, 0), pool(true)).await.unwrap();
        assert_eq!(show(&unset, "statement_timeout").await, "0");
        assert_eq!(show(&unset, "lock_timeout").await, "0");
        // Migrations never get them.
        let migrations = open(&url, &limits(1500, 300), pool(false)).await.unwrap();
        assert_eq!(show(&migrations, "statement_timeout").await, "0");

        // A session killed under a query: a connection fault, and a read
        // retried once succeeds on a fresh connection.
        let one = Pool {
            max_connections: 1,
            ..pool(true)
        };
        let victim = open(&url, &limits(0, 0), one).await.unwrap();
        let pid: i32 = victim
            .query_one_raw(sea_orm::Statement::from_string(
                victim.get_database_backend(),
                "SELECT pg_backend_pid()",
            ))
            .await
            .unwrap()
            .unwrap()
            .try_get_by_index(0)
            .unwrap();
        let sleeping = {
            let victim = victim.clone();
            tokio::spawn(async move { victim.execute_unprepared("SELECT pg_sleep(5)").await })
        };
        tokio::time::sleep(Duration::from_millis(300)).await;
        unset
            .execute_unprepared(&format!("SELECT pg_terminate_backend({pid})"))
            .await
            .unwrap();
        let e = sleeping.await.unwrap().expect_err("killed");
        assert_eq!(fault(&e), Fault::Connection, "{e}");
        assert!(matches!(db_error(e), Error::Unavailable(_)));
        read(|| victim.execute_unprepared("SELECT 1"))
            .await
            .expect("a fresh connection answers");
    }
}
