//! Permission tickets: stored by hash, never in clear.
//!
//! Registration is the one write on a resource server's hot path (every
//! request without enough permission registers a ticket), so concurrent
//! registrations are written together: a writer task takes every insert
//! waiting at that moment and stores them with one multi-row INSERT, and
//! each caller is answered only after that statement committed. On SQLite,
//! which has one writer, this turns 64 queued commits into one; on
//! PostgreSQL it saves the round trips. A lone registration costs what it did.

use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};
use tokio::sync::{mpsc, oneshot};

use super::entities::permission_ticket;
use super::{Store, db_error, from_json_list, read, to_json_list};
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

/// Most tickets one INSERT writes: 11 columns stay far below SQLite's
/// bound-parameter limit, and a batch commits in well under a millisecond.
const MAX_BATCH: usize = 256;

/// Inserts waiting for the writer before callers wait to enqueue.
const QUEUE: usize = 4096;

struct Queued {
    model: permission_ticket::ActiveModel,
    stored: oneshot::Sender<Result<(), Error>>,
}

/// The handle registrations send their inserts to. The writer task stops
/// when the last handle (the last clone of the store) is dropped.
pub(crate) struct TicketWriter {
    queue: mpsc::Sender<Queued>,
}

impl TicketWriter {
    /// Starts the writer task on the current runtime.
    pub(crate) fn start(db: DatabaseConnection) -> TicketWriter {
        let (queue, inserts) = mpsc::channel(QUEUE);
        tokio::spawn(write_batches(db, inserts));
        TicketWriter { queue }
    }
}

async fn write_batches(db: DatabaseConnection, mut inserts: mpsc::Receiver<Queued>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while inserts.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let models = batch.iter().map(|q| q.model.clone());
        // One statement is one transaction: all of the batch or none of it.
        let result = permission_ticket::Entity::insert_many(models)
            .exec_without_returning(&db)
            .await
            .map(|_| ())
            .map_err(db_error);
        for queued in batch.drain(..) {
            // A caller that went away needs no answer.
            let _ = queued.stored.send(result.clone());
        }
    }
}

/// Stores a ticket for `ns`; returns once it is committed.
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
        gathered_claims: Set(None),
    };
    let (stored, committed) = oneshot::channel();
    store
        .tickets
        .queue
        .send(Queued { model, stored })
        .await
        .map_err(|_| Error::Unavailable("the ticket writer has stopped".into()))?;
    committed
        .await
        .map_err(|_| Error::Unavailable("the ticket writer has stopped".into()))?
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
    /// Claims the requesting party handed over for this ticket by redirect.
    pub gathered_claims: serde_json::Map<String, serde_json::Value>,
}

/// Finds a ticket by the hash of its value.
pub async fn find_by_hash(store: &Store, ticket_hash: &str) -> Result<Option<TicketRecord>, Error> {
    let Some(row) = read(|| {
        permission_ticket::Entity::find()
            .filter(permission_ticket::Column::TicketHash.eq(ticket_hash))
            .one(store.db())
    })
    .await?
    else {
        return Ok(None);
    };
    let gathered_claims = match row.gathered_claims.as_deref() {
        Some(text) => super::from_json_object(text)?,
        None => serde_json::Map::new(),
    };
    Ok(Some(TicketRecord {
        gathered_claims,
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
    let row = read(|| permission_ticket::Entity::find_by_id(ticket_id.to_string()).one(store.db()))
        .await?;
    Ok(row.is_some_and(|r| {
        r.bound_client.as_deref() == Some(client) && r.bound_subject.as_deref() == Some(subject)
    }))
}

/// Records the claims a requesting party handed over (claims gathering by
/// redirect) on a live, unredeemed ticket. Returns whether the ticket took them.
pub async fn gather_claims(
    store: &Store,
    ticket_id: &str,
    claims: &serde_json::Map<String, serde_json::Value>,
) -> Result<bool, Error> {
    let text = serde_json::Value::Object(claims.clone()).to_string();
    let result = permission_ticket::Entity::update_many()
        .col_expr(permission_ticket::Column::GatheredClaims, Expr::value(text))
        .filter(permission_ticket::Column::Id.eq(ticket_id))
        .filter(permission_ticket::Column::RedeemedAt.is_null())
        .exec(store.db())
        .await
        .map_err(db_error)?;
    Ok(result.rows_affected == 1)
}
