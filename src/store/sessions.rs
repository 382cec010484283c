//! Browser sessions at Steward's sign-in pages, stored by the SHA-256 of
//! the cookie value only.

use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter};
use serde_json::{Map, Value};

use super::entities::user_session;
use super::{Store, db_error, from_json_object, read};
use crate::domain::{Error, UnixTime};

/// A signed-in browser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    pub token_hash: String,
    /// The user: a local username or an upstream provider's `sub`.
    pub subject: String,
    /// `local`, or the upstream issuer the user signed in at.
    pub issuer: String,
    /// Verified claims about the user.
    pub claims: Map<String, Value>,
    pub created_at: UnixTime,
    pub expires_at: UnixTime,
}

/// Stores a new session (and drops sessions that expired before `now`).
pub async fn insert(store: &Store, record: &SessionRecord, now: UnixTime) -> Result<(), Error> {
    insert_on(store.db(), record, now).await.map_err(db_error)
}

/// [`insert`] on a connection or inside a transaction.
pub(super) async fn insert_on(
    conn: &impl ConnectionTrait,
    record: &SessionRecord,
    now: UnixTime,
) -> Result<(), DbErr> {
    user_session::Entity::delete_many()
        .filter(user_session::Column::ExpiresAt.lte(now))
        .exec(conn)
        .await?;
    let model = user_session::ActiveModel {
        token_hash: Set(record.token_hash.clone()),
        subject: Set(record.subject.clone()),
        issuer: Set(record.issuer.clone()),
        claims: Set(Value::Object(record.claims.clone()).to_string()),
        created_at: Set(record.created_at),
        expires_at: Set(record.expires_at),
    };
    user_session::Entity::insert(model)
        .exec_without_returning(conn)
        .await?;
    Ok(())
}

/// The session with this token hash, if any (expired or not).
pub async fn find(store: &Store, token_hash: &str) -> Result<Option<SessionRecord>, Error> {
    let Some(row) =
        read(|| user_session::Entity::find_by_id(token_hash.to_string()).one(store.db())).await?
    else {
        return Ok(None);
    };
    Ok(Some(SessionRecord {
        claims: from_json_object(&row.claims)?,
        token_hash: row.token_hash,
        subject: row.subject,
        issuer: row.issuer,
        created_at: row.created_at,
        expires_at: row.expires_at,
    }))
}

/// Ends a session (sign-out).
pub async fn delete(store: &Store, token_hash: &str) -> Result<(), Error> {
    user_session::Entity::delete_by_id(token_hash.to_string())
        .exec(store.db())
        .await
        .map_err(db_error)?;
    Ok(())
}
