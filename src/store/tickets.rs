//! Permission tickets: stored by hash, never in clear.

use sea_orm::{ActiveValue::Set, EntityTrait};

use super::entities::permission_ticket;
use super::{Store, db_error, to_json_list};
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
    };
    permission_ticket::Entity::insert(model)
        .exec_without_returning(store.db())
        .await
        .map_err(db_error)?;
    Ok(())
}
