//! The OAuth client registry. Secrets are stored only as argon2 hashes.

use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

use super::entities::client;
use super::{Store, db_error, from_json_list, read, to_json_list};
use crate::domain::{Error, UnixTime};

/// A registered client as the core sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientRecord {
    pub client_id: String,
    /// PHC-format argon2 hash of the secret.
    pub secret_hash: String,
    pub name: String,
    /// The resource owner a resource server acts for (its PAT subject).
    pub owner: String,
    pub scopes: Vec<String>,
    pub grant_types: Vec<String>,
    pub redirect_uris: Vec<String>,
    pub created_at: UnixTime,
    /// How the client authenticates at the token endpoint.
    pub auth_method: AuthMethod,
    /// Hash of the RFC 7592 registration access token (dynamic registration).
    pub registration_token_hash: Option<String>,
}

/// RFC 7591 `token_endpoint_auth_method`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    /// HTTP Basic (the default).
    SecretBasic,
    /// `client_id` and `client_secret` form parameters.
    SecretPost,
    /// A public client: no secret; PKCE stands in for it.
    None,
}

impl AuthMethod {
    /// The RFC 7591 name.
    pub fn name(self) -> &'static str {
        match self {
            AuthMethod::SecretBasic => "client_secret_basic",
            AuthMethod::SecretPost => "client_secret_post",
            AuthMethod::None => "none",
        }
    }

    /// Parses an RFC 7591 name.
    pub fn parse(name: &str) -> Option<AuthMethod> {
        match name {
            "client_secret_basic" => Some(AuthMethod::SecretBasic),
            "client_secret_post" => Some(AuthMethod::SecretPost),
            "none" => Some(AuthMethod::None),
            _ => None,
        }
    }
}

fn to_model(record: &ClientRecord) -> client::ActiveModel {
    client::ActiveModel {
        client_id: Set(record.client_id.clone()),
        secret_hash: Set(record.secret_hash.clone()),
        name: Set(record.name.clone()),
        owner: Set(record.owner.clone()),
        scopes: Set(to_json_list(&record.scopes)),
        grant_types: Set(to_json_list(&record.grant_types)),
        redirect_uris: Set(to_json_list(&record.redirect_uris)),
        created_at: Set(record.created_at),
        token_endpoint_auth_method: Set(record.auth_method.name().to_string()),
        registration_token_hash: Set(record.registration_token_hash.clone()),
    }
}

/// Registers a client; fails if the id is taken.
pub async fn insert(store: &Store, record: &ClientRecord) -> Result<(), Error> {
    client::Entity::insert(to_model(record))
        .exec_without_returning(store.db())
        .await
        .map_err(db_error)?;
    Ok(())
}

/// Finds a client by id.
pub async fn find(store: &Store, client_id: &str) -> Result<Option<ClientRecord>, Error> {
    let Some(row) =
        read(|| client::Entity::find_by_id(client_id.to_string()).one(store.db())).await?
    else {
        return Ok(None);
    };
    Ok(Some(ClientRecord {
        scopes: from_json_list(&row.scopes)?,
        grant_types: from_json_list(&row.grant_types)?,
        redirect_uris: from_json_list(&row.redirect_uris)?,
        client_id: row.client_id,
        secret_hash: row.secret_hash,
        name: row.name,
        owner: row.owner,
        created_at: row.created_at,
        auth_method: AuthMethod::parse(&row.token_endpoint_auth_method)
            .ok_or_else(|| Error::Internal("corrupt token_endpoint_auth_method column".into()))?,
        registration_token_hash: row.registration_token_hash,
    }))
}

/// Replaces a client's metadata (RFC 7592 update); the id, secret and
/// registration token stay. Every replica forgets its verified-secret memo.
pub async fn update(store: &Store, record: &ClientRecord) -> Result<bool, Error> {
    use sea_orm::TransactionTrait;
    let txn = store.db().begin().await.map_err(db_error)?;
    let result = client::Entity::update_many()
        .col_expr(client::Column::Name, Expr::value(record.name.clone()))
        .col_expr(client::Column::Owner, Expr::value(record.owner.clone()))
        .col_expr(
            client::Column::Scopes,
            Expr::value(to_json_list(&record.scopes)),
        )
        .col_expr(
            client::Column::GrantTypes,
            Expr::value(to_json_list(&record.grant_types)),
        )
        .col_expr(
            client::Column::RedirectUris,
            Expr::value(to_json_list(&record.redirect_uris)),
        )
        .col_expr(
            client::Column::TokenEndpointAuthMethod,
            Expr::value(record.auth_method.name()),
        )
        .filter(client::Column::ClientId.eq(record.client_id.clone()))
        .exec(&txn)
        .await
        .map_err(db_error)?;
    bump_clients(&txn).await?;
    txn.commit().await.map_err(db_error)?;
    store.cache.clients.clear();
    Ok(result.rows_affected == 1)
}

/// Deletes a client (RFC 7592 delete). Every replica forgets its memo.
pub async fn delete(store: &Store, client_id: &str) -> Result<bool, Error> {
    use sea_orm::TransactionTrait;
    let txn = store.db().begin().await.map_err(db_error)?;
    let result = client::Entity::delete_by_id(client_id.to_string())
        .exec(&txn)
        .await
        .map_err(db_error)?;
    bump_clients(&txn).await?;
    txn.commit().await.map_err(db_error)?;
    store.cache.clients.clear();
    Ok(result.rows_affected == 1)
}

/// Moves the clients counter (`Counter::Clients`) that replicas watch.
async fn bump_clients<C: ConnectionTrait>(conn: &C) -> Result<(), Error> {
    super::revisions::bump(conn, super::revisions::Counter::Clients)
        .await
        .map_err(db_error)?;
    Ok(())
}

/// A client whose secret was verified with argon2, remembered by the SHA-256
/// of that secret so repeat authentications skip the expensive hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedClient {
    pub secret_sha256: String,
    pub record: ClientRecord,
}

/// A remembered verification, if any.
pub fn verified(store: &Store, client_id: &str) -> Option<std::sync::Arc<VerifiedClient>> {
    store
        .cache
        .get(&store.cache.clients, &client_id.to_string())
}

/// The cache generation to pass to [`remember`] (read before the lookup).
pub fn generation(store: &Store) -> u64 {
    store.cache.clients.generation()
}

/// Remembers a successful verification made at `generation`.
pub fn remember(store: &Store, verified: VerifiedClient, generation: u64) {
    let key = verified.record.client_id.clone();
    store
        .cache
        .clients
        .fill(key, &std::sync::Arc::new(verified), generation);
}
