//! Authorization grants of the browser flows: what a user consented to for
//! a client, with the single-use authorization code that started it and the
//! rotating refresh tokens that continue it. Revoking a grant kills its
//! refresh tokens and every access token issued under it (they carry the
//! grant id, checked through a cached lookup).

use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, TransactionTrait};
use serde_json::{Map, Value};

use super::entities::{authorization_code, grant, refresh_token};
use super::{Store, db_error, from_json_list, from_json_object, read, to_json_list};
use crate::domain::{Error, UnixTime};

/// What a user consented to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantRecord {
    pub id: String,
    pub client_id: String,
    /// The user who consented (resource owner or requesting party).
    pub subject: String,
    pub scopes: Vec<String>,
    /// The user's verified claims at consent time.
    pub claims: Map<String, Value>,
    pub created_at: UnixTime,
    pub revoked_at: Option<UnixTime>,
}

/// An authorization code about to be stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCode {
    pub code_hash: String,
    pub redirect_uri: String,
    pub code_challenge: Option<String>,
    pub expires_at: UnixTime,
}

/// A stored code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeRecord {
    pub grant_id: String,
    pub redirect_uri: String,
    pub code_challenge: Option<String>,
    pub expires_at: UnixTime,
    pub redeemed_at: Option<UnixTime>,
}

/// A stored refresh token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshRecord {
    pub grant_id: String,
    pub expires_at: UnixTime,
    pub used_at: Option<UnixTime>,
}

/// Stores a grant and its code in one transaction.
pub async fn insert_with_code(
    store: &Store,
    grant: &GrantRecord,
    code: &NewCode,
) -> Result<(), Error> {
    let txn = store.db().begin().await.map_err(db_error)?;
    grant::Entity::insert(grant::ActiveModel {
        id: Set(grant.id.clone()),
        client_id: Set(grant.client_id.clone()),
        subject: Set(grant.subject.clone()),
        scopes: Set(to_json_list(&grant.scopes)),
        claims: Set(Value::Object(grant.claims.clone()).to_string()),
        created_at: Set(grant.created_at),
        revoked_at: Set(None),
    })
    .exec_without_returning(&txn)
    .await
    .map_err(db_error)?;
    authorization_code::Entity::insert(authorization_code::ActiveModel {
        code_hash: Set(code.code_hash.clone()),
        grant_id: Set(grant.id.clone()),
        redirect_uri: Set(code.redirect_uri.clone()),
        code_challenge: Set(code.code_challenge.clone()),
        expires_at: Set(code.expires_at),
        redeemed_at: Set(None),
    })
    .exec_without_returning(&txn)
    .await
    .map_err(db_error)?;
    txn.commit().await.map_err(db_error)
}

/// A grant by id.
pub async fn find(store: &Store, id: &str) -> Result<Option<GrantRecord>, Error> {
    let Some(row) = read(|| grant::Entity::find_by_id(id.to_string()).one(store.db())).await?
    else {
        return Ok(None);
    };
    Ok(Some(GrantRecord {
        scopes: from_json_list(&row.scopes)?,
        claims: from_json_object(&row.claims)?,
        id: row.id,
        client_id: row.client_id,
        subject: row.subject,
        created_at: row.created_at,
        revoked_at: row.revoked_at,
    }))
}

/// Whether the grant is revoked (or gone); cached until the next write.
pub async fn is_revoked_cached(store: &Store, id: &str) -> Result<bool, Error> {
    store
        .cache
        .read_through(&store.cache.grants, id.to_string(), || async {
            Ok(find(store, id)
                .await?
                .is_none_or(|g| g.revoked_at.is_some()))
        })
        .await
}

/// Revokes a grant and its refresh tokens; every replica forgets its cached
/// answer (the change counter moves).
pub async fn revoke(store: &Store, id: &str, now: UnixTime) -> Result<(), Error> {
    let txn = store.db().begin().await.map_err(db_error)?;
    grant::Entity::update_many()
        .col_expr(grant::Column::RevokedAt, Expr::value(now))
        .filter(grant::Column::Id.eq(id))
        .filter(grant::Column::RevokedAt.is_null())
        .exec(&txn)
        .await
        .map_err(db_error)?;
    refresh_token::Entity::update_many()
        .col_expr(refresh_token::Column::UsedAt, Expr::value(now))
        .filter(refresh_token::Column::GrantId.eq(id))
        .filter(refresh_token::Column::UsedAt.is_null())
        .exec(&txn)
        .await
        .map_err(db_error)?;
    super::bump_revision(&txn).await.map_err(db_error)?;
    txn.commit().await.map_err(db_error)?;
    store.changed();
    Ok(())
}

/// Revokes every grant of a client (the client was deleted).
pub async fn revoke_for_client(store: &Store, client_id: &str, now: UnixTime) -> Result<(), Error> {
    let ids: Vec<String> = read(|| {
        grant::Entity::find()
            .filter(grant::Column::ClientId.eq(client_id))
            .filter(grant::Column::RevokedAt.is_null())
            .all(store.db())
    })
    .await?
    .into_iter()
    .map(|g| g.id)
    .collect();
    for id in ids {
        revoke(store, &id, now).await?;
    }
    Ok(())
}

/// A code by the hash of its value.
pub async fn find_code(store: &Store, code_hash: &str) -> Result<Option<CodeRecord>, Error> {
    Ok(
        read(|| authorization_code::Entity::find_by_id(code_hash.to_string()).one(store.db()))
            .await?
            .map(|row| CodeRecord {
                grant_id: row.grant_id,
                redirect_uri: row.redirect_uri,
                code_challenge: row.code_challenge,
                expires_at: row.expires_at,
                redeemed_at: row.redeemed_at,
            }),
    )
}

/// A refresh token about to be stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRefresh {
    pub token_hash: String,
    pub grant_id: String,
    pub created_at: UnixTime,
    pub expires_at: UnixTime,
}

async fn insert_refresh<C: sea_orm::ConnectionTrait>(
    conn: &C,
    refresh: &NewRefresh,
) -> Result<(), Error> {
    refresh_token::Entity::insert(refresh_token::ActiveModel {
        token_hash: Set(refresh.token_hash.clone()),
        grant_id: Set(refresh.grant_id.clone()),
        created_at: Set(refresh.created_at),
        expires_at: Set(refresh.expires_at),
        used_at: Set(None),
    })
    .exec_without_returning(conn)
    .await
    .map_err(db_error)?;
    Ok(())
}

/// Marks a code redeemed and stores the grant's first refresh token, in one
/// transaction; false (and nothing stored) if someone redeemed it first.
pub async fn redeem_code(
    store: &Store,
    code_hash: &str,
    now: UnixTime,
    refresh: Option<&NewRefresh>,
) -> Result<bool, Error> {
    let txn = store.db().begin().await.map_err(db_error)?;
    let result = authorization_code::Entity::update_many()
        .col_expr(authorization_code::Column::RedeemedAt, Expr::value(now))
        .filter(authorization_code::Column::CodeHash.eq(code_hash))
        .filter(authorization_code::Column::RedeemedAt.is_null())
        .exec(&txn)
        .await
        .map_err(db_error)?;
    if result.rows_affected != 1 {
        return Ok(false);
    }
    if let Some(refresh) = refresh {
        insert_refresh(&txn, refresh).await?;
    }
    txn.commit().await.map_err(db_error)?;
    Ok(true)
}

/// Rotates a refresh token: marks `old_hash` used and stores its successor,
/// in one transaction; false (and nothing stored) if it was used already.
pub async fn rotate_refresh(
    store: &Store,
    old_hash: &str,
    next: &NewRefresh,
) -> Result<bool, Error> {
    let txn = store.db().begin().await.map_err(db_error)?;
    let result = refresh_token::Entity::update_many()
        .col_expr(refresh_token::Column::UsedAt, Expr::value(next.created_at))
        .filter(refresh_token::Column::TokenHash.eq(old_hash))
        .filter(refresh_token::Column::UsedAt.is_null())
        .exec(&txn)
        .await
        .map_err(db_error)?;
    if result.rows_affected != 1 {
        return Ok(false);
    }
    insert_refresh(&txn, next).await?;
    txn.commit().await.map_err(db_error)?;
    Ok(true)
}

/// A refresh token by the hash of its value.
pub async fn find_refresh(store: &Store, token_hash: &str) -> Result<Option<RefreshRecord>, Error> {
    Ok(
        read(|| refresh_token::Entity::find_by_id(token_hash.to_string()).one(store.db()))
            .await?
            .map(|row| RefreshRecord {
                grant_id: row.grant_id,
                expires_at: row.expires_at,
                used_at: row.used_at,
            }),
    )
}
