//! Sign-in attempt counters, per account and per address, shared by every
//! replica through the database so that more replicas do not mean more
//! guesses.
//!
//! An attempt is counted *before* its password is checked, by one atomic
//! statement that also returns the count in force: concurrent attempts, on
//! any replica, each see a different count, so no more of them than the limit
//! can see a count within it. (Reading the count first and writing it after
//! the check let every attempt of a burst read the same old count.)

use sea_orm::sea_query::{Expr, ExprTrait, OnConflict, Query};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryTrait,
    TransactionTrait,
};

use super::entities::sign_in_failure::{self, Column};
use super::sessions::{self, SessionRecord};
use super::{Store, db_error};
use crate::domain::{Error, UnixTime};

/// One attempt counted against a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reservation {
    /// Attempts counted in the key's current window, this one included.
    pub count: i64,
    /// When that window started: it names the window, so that giving the
    /// attempt back never takes one from a later window.
    pub window_start: UnixTime,
}

/// Counts one attempt for `key` and returns the count in force, in one
/// `INSERT … ON CONFLICT DO UPDATE … RETURNING`: the row starts at 1, starts
/// again at 1 when its window (`window` seconds) has ended, else goes up by
/// one. Attempts refused for being over a limit stay counted unless given
/// back.
pub async fn reserve(
    store: &Store,
    key: &str,
    now: UnixTime,
    window: i64,
) -> Result<Reservation, Error> {
    let model = sign_in_failure::ActiveModel {
        key: Set(key.to_string()),
        window_start: Set(now),
        failures: Set(1),
    };
    let current = |column: Column| Expr::col((sign_in_failure::Entity, column));
    let stale = current(Column::WindowStart).lte(now.saturating_sub(window));
    let mut statement = sign_in_failure::Entity::insert(model)
        .on_conflict(
            OnConflict::column(Column::Key)
                .value(
                    Column::Failures,
                    Expr::case(stale.clone(), 1).finally(current(Column::Failures).add(1)),
                )
                .value(
                    Column::WindowStart,
                    Expr::case(stale, now).finally(current(Column::WindowStart)),
                )
                .to_owned(),
        )
        .into_query();
    // Built here rather than through `exec_with_returning`, which quietly
    // falls back to insert-then-select where sea-orm thinks the backend has
    // no RETURNING: that would not be atomic.
    statement.returning(Query::returning().columns([Column::Failures, Column::WindowStart]));
    let row = store
        .db()
        .query_one(&statement)
        .await
        .map_err(db_error)?
        .ok_or_else(|| Error::Internal("counting a sign-in attempt returned no row".into()))?;
    let count: i32 = row.try_get("", "failures").map_err(db_error)?;
    let window_start: i64 = row.try_get("", "window_start").map_err(db_error)?;
    Ok(Reservation {
        count: i64::from(count),
        window_start,
    })
}

/// Gives back one attempt counted by `reservation` (never below 0), if its
/// window is still the key's current one.
pub async fn give_back(store: &Store, key: &str, reservation: &Reservation) -> Result<(), Error> {
    give_back_on(store.db(), key, reservation)
        .await
        .map_err(db_error)
}

async fn give_back_on(
    conn: &impl ConnectionTrait,
    key: &str,
    reservation: &Reservation,
) -> Result<(), sea_orm::DbErr> {
    sign_in_failure::Entity::update_many()
        .col_expr(Column::Failures, Expr::col(Column::Failures).sub(1))
        .filter(Column::Key.eq(key))
        .filter(Column::WindowStart.eq(reservation.window_start))
        .filter(Column::Failures.gt(0))
        .exec(conn)
        .await?;
    Ok(())
}

/// A correct password: in one transaction, forgets the account's failures,
/// gives back the attempt counted against the address (a success is no
/// failure, so users behind one address who know their passwords never lock
/// it), and stores the session. If the store fails, nothing of this happens
/// and only the counted attempts remain.
pub async fn succeed(
    store: &Store,
    account_key: &str,
    address_key: &str,
    address: &Reservation,
    session: &SessionRecord,
    now: UnixTime,
) -> Result<(), Error> {
    let txn = store.db().begin().await.map_err(db_error)?;
    // Counter rows first, always in this order (account, then address), so
    // two of these transactions never wait on each other in a cycle.
    sign_in_failure::Entity::delete_by_id(account_key.to_string())
        .exec(&txn)
        .await
        .map_err(db_error)?;
    give_back_on(&txn, address_key, address)
        .await
        .map_err(db_error)?;
    sessions::insert_on(&txn, session, now)
        .await
        .map_err(db_error)?;
    txn.commit().await.map_err(db_error)
}
