//! Requesting party tokens: stored by hash, with their permissions.

use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder};

use super::entities::{rpt, rpt_permission};
use super::{Store, db_error, from_json_list, to_json_list};
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

/// Stores a new RPT.
pub async fn insert(store: &Store, record: &RptRecord) -> Result<(), Error> {
    let model = rpt::ActiveModel {
        token_hash: Set(record.token_hash.clone()),
        client_id: Set(record.client_id.clone()),
        subject: Set(record.subject.clone()),
        resource_server: Set(record.resource_server.clone()),
        created_at: Set(record.created_at),
        expires_at: Set(record.expires_at),
        revoked_at: Set(record.revoked_at),
    };
    rpt::Entity::insert(model)
        .exec_without_returning(store.db())
        .await
        .map_err(db_error)?;
    Ok(())
}

/// Attaches a permission granted on `resource_server`'s set to an RPT.
pub async fn add_permission(
    store: &Store,
    token_hash: &str,
    resource_server: &str,
    permission: &Permission,
) -> Result<(), Error> {
    let model = rpt_permission::ActiveModel {
        id: Set(uuid::Uuid::new_v4().to_string()),
        rpt_hash: Set(token_hash.to_string()),
        resource_server: Set(resource_server.to_string()),
        owner: Set(permission.owner.clone()),
        rsid: Set(permission.resource_set_id.clone()),
        scopes: Set(to_json_list(&permission.scopes)),
        issued_at: Set(permission.issued_at),
        expires_at: Set(permission.expires_at),
    };
    rpt_permission::Entity::insert(model)
        .exec_without_returning(store.db())
        .await
        .map_err(db_error)?;
    Ok(())
}

/// Finds an RPT by the hash of its value.
pub async fn find(store: &Store, token_hash: &str) -> Result<Option<RptRecord>, Error> {
    let row = rpt::Entity::find_by_id(token_hash.to_string())
        .one(store.db())
        .await
        .map_err(db_error)?;
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
    let rows = rpt_permission::Entity::find()
        .filter(rpt_permission::Column::RptHash.eq(token_hash))
        .filter(rpt_permission::Column::ResourceServer.eq(resource_server))
        .order_by_asc(rpt_permission::Column::IssuedAt)
        .order_by_asc(rpt_permission::Column::Id)
        .all(store.db())
        .await
        .map_err(db_error)?;
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
