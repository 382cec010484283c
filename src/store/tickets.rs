//! Permission tickets: stored by hash, never in clear.

use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};

use super::entities::permission_ticket;
use super::{Store, db_error, from_json_list, to_json_list};
use crate::domain::{Error, Namespace, UnixTime};

/// A ticket about to be stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTicket {
    /// Non-secret id (the `Location` of the ticket).
    pub id: String,
    /// Hash of the ticket value.
    pub ticket_hash: String,
    pub resource_set_id: String,
    pub scopes: Vec<String>,
    pub created_at: UnixTime,
    pub expires_at: UnixTime,
}

/// Stores a ticket for `ns` in one write.
pub async fn insert(store: &Store, ns: &Namespace, ticket: &NewTicket) -> Result<(), Error> {
    let model = permission_ticket::ActiveModel {
        id: Set(ticket.id.clone()),
        ticket_hash: Set(ticket.ticket_hash.clone()),
        client_id: Set(ns.client_id.clone()),
        owner: Set(ns.owner.clone()),
        rsid: Set(ticket.resource_set_id.clone()),
        scopes: Set(to_json_list(&ticket.scopes)),
        created_at: Set(ticket.created_at),
        expires_at: Set(ticket.expires_at),
        redeemed_at: Set(None),
        bound_client: Set(None),
        bound_subject: Set(None),
    };
    permission_ticket::Entity::insert(model)
        .exec_without_returning(store.db())
        .await
        .map_err(db_error)?;
    Ok(())
}

/// A stored ticket, found by the hash of its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketRecord {
    pub id: String,
    /// The namespace (resource server, owner) that registered it.
    pub namespace: Namespace,
    pub resource_set_id: String,
    pub scopes: Vec<String>,
    pub expires_at: UnixTime,
    pub redeemed_at: Option<UnixTime>,
    /// (client, requesting party) that first presented it.
    pub bound_to: Option<(String, String)>,
}

/// Finds a ticket by the hash of its value.
pub async fn find_by_hash(store: &Store, ticket_hash: &str) -> Result<Option<TicketRecord>, Error> {
    let Some(row) = permission_ticket::Entity::find()
        .filter(permission_ticket::Column::TicketHash.eq(ticket_hash))
        .one(store.db())
        .await
        .map_err(db_error)?
    else {
        return Ok(None);
    };
    Ok(Some(TicketRecord {
        scopes: from_json_list(&row.scopes)?,
        bound_to: row.bound_client.zip(row.bound_subject),
        id: row.id,
        namespace: Namespace {
            client_id: row.client_id,
            owner: row.owner,
        },
        resource_set_id: row.rsid,
        expires_at: row.expires_at,
        redeemed_at: row.redeemed_at,
    }))
}

/// Binds a ticket to the first (client, requesting party) that presents it.
/// Returns whether the ticket is (now) bound to exactly them.
pub async fn bind(
    store: &Store,
    ticket_id: &str,
    client: &str,
    subject: &str,
) -> Result<bool, Error> {
    permission_ticket::Entity::update_many()
        .col_expr(permission_ticket::Column::BoundClient, Expr::value(client))
        .col_expr(
            permission_ticket::Column::BoundSubject,
            Expr::value(subject),
        )
        .filter(permission_ticket::Column::Id.eq(ticket_id))
        .filter(permission_ticket::Column::BoundClient.is_null())
        .exec(store.db())
        .await
        .map_err(db_error)?;
    let row = permission_ticket::Entity::find_by_id(ticket_id.to_string())
        .one(store.db())
        .await
        .map_err(db_error)?;
    Ok(row.is_some_and(|r| {
        r.bound_client.as_deref() == Some(client) && r.bound_subject.as_deref() == Some(subject)
    }))
}
