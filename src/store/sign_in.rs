//! Failed sign-in counters, per account and per address, shared by every
//! replica through the database so that more replicas do not mean more
//! guesses.

use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{ActiveValue::Set, EntityTrait};

use super::entities::sign_in_failure;
use super::{Store, db_error};
use crate::domain::{Error, UnixTime};

/// Failures counted for `key` in the window that started at most
/// `window` seconds before `now`.
pub async fn failures(store: &Store, key: &str, now: UnixTime, window: i64) -> Result<u32, Error> {
    let row = sign_in_failure::Entity::find_by_id(key.to_string())
        .one(store.db())
        .await
        .map_err(db_error)?;
    Ok(match row {
        Some(row) if row.window_start > now - window => u32::try_from(row.failures).unwrap_or(0),
        _ => 0,
    })
}

/// Counts one failure for `key`: a new window starts if the last one ended.
pub async fn record_failure(
    store: &Store,
    key: &str,
    now: UnixTime,
    window: i64,
) -> Result<(), Error> {
    let model = sign_in_failure::ActiveModel {
        key: Set(key.to_string()),
        window_start: Set(now),
        failures: Set(1),
    };
    let stale = Expr::col((
        sign_in_failure::Entity,
        sign_in_failure::Column::WindowStart,
    ))
    .lte(now - window);
    sign_in_failure::Entity::insert(model)
        .on_conflict(
            OnConflict::column(sign_in_failure::Column::Key)
                .value(
                    sign_in_failure::Column::Failures,
                    Expr::case(stale.clone(), 1).finally(
                        Expr::col((sign_in_failure::Entity, sign_in_failure::Column::Failures))
                            .add(1),
                    ),
                )
                .value(
                    sign_in_failure::Column::WindowStart,
                    Expr::case(stale, now).finally(Expr::col((
                        sign_in_failure::Entity,
                        sign_in_failure::Column::WindowStart,
                    ))),
                )
                .to_owned(),
        )
        .exec_without_returning(store.db())
        .await
        .map_err(db_error)?;
    Ok(())
}

/// Forgets the failures of `key` (after a successful sign-in).
pub async fn clear(store: &Store, key: &str) -> Result<(), Error> {
    sign_in_failure::Entity::delete_by_id(key.to_string())
        .exec(store.db())
        .await
        .map_err(db_error)?;
    Ok(())
}
