//! Steward's own user accounts. Passwords are stored only as argon2 hashes.

use sea_orm::{ActiveValue::Set, EntityTrait};
use serde_json::{Map, Value};

use super::entities::user;
use super::{Store, db_error, from_json_object, read};
use crate::domain::{Error, UnixTime};

/// A user account as the core sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    /// Also the user's subject (`sub`) in Steward's tokens.
    pub username: String,
    /// PHC-format argon2 hash.
    pub password_hash: String,
    /// Claims policies may test (`email`, `name`, `groups`, …).
    pub claims: Map<String, Value>,
    pub created_at: UnixTime,
}

/// Creates a user; `Ok(false)` if the username is taken.
pub async fn insert(store: &Store, record: &UserRecord) -> Result<bool, Error> {
    let model = user::ActiveModel {
        username: Set(record.username.clone()),
        password_hash: Set(record.password_hash.clone()),
        claims: Set(Value::Object(record.claims.clone()).to_string()),
        created_at: Set(record.created_at),
    };
    match user::Entity::insert(model)
        .exec_without_returning(store.db())
        .await
    {
        Ok(_) => Ok(true),
        Err(e) if super::is_unique_violation(&e) => Ok(false),
        Err(e) => Err(db_error(e)),
    }
}

/// Finds a user by username.
pub async fn find(store: &Store, username: &str) -> Result<Option<UserRecord>, Error> {
    let Some(row) = read(|| user::Entity::find_by_id(username.to_string()).one(store.db())).await?
    else {
        return Ok(None);
    };
    Ok(Some(UserRecord {
        claims: from_json_object(&row.claims)?,
        username: row.username,
        password_hash: row.password_hash,
        created_at: row.created_at,
    }))
}
