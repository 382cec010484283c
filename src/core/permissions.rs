//! Permission registration (draft-06 §3.2).

use super::Core;
use super::audit::{AuditEvent, AuditKind};
use crate::domain::identifier::{self, Kind};
use crate::domain::secret;
use crate::domain::ticket::{self, RequestedPermission, TICKET_BYTES};
use crate::domain::{Error, Namespace, UnixTime};
use crate::store::{self, tickets::NewTicket};

/// A freshly minted ticket. The value is shown once; only its hash is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedTicket {
    pub ticket: crate::domain::secret::Secret,
    pub id: String,
    pub expires_at: UnixTime,
}

/// The identifiers of a permission registration: a malformed id or scope
/// can name no registered one, so it gets the code an unknown one gets
/// (`invalid_resource_set_id`, `invalid_scope`; digest §6.2).
fn check_permission(resource_set_id: &str, scopes: &[String]) -> Result<(), Error> {
    if resource_set_id.is_empty() {
        return Err(Error::invalid_request("`resource_set_id` is required"));
    }
    identifier::check("resource_set_id", resource_set_id, Kind::Id)
        .map_err(|r| r.into_error(Error::InvalidResourceSetId))?;
    if scopes.len() > identifier::MAX_SCOPES {
        return Err(Error::invalid_request(format!(
            "`scopes` may list at most {} scopes",
            identifier::MAX_SCOPES
        )));
    }
    identifier::scopes("scopes", scopes).map_err(|r| r.into_error(Error::InvalidScope))
}

impl Core {
    /// Registers the permission a client would need and returns its ticket.
    pub async fn register_permission(
        &self,
        ns: &Namespace,
        resource_set_id: String,
        scopes: Vec<String>,
    ) -> Result<IssuedTicket, Error> {
        check_permission(&resource_set_id, &scopes)?;
        let store = &self.inner.store;
        let Some(registered) =
            store::resource_sets::get_cached(store, ns, &resource_set_id).await?
        else {
            return Err(Error::InvalidResourceSetId(format!(
                "no resource set `{}` is registered",
                resource_set_id.chars().take(255).collect::<String>()
            )));
        };
        let requested =
            RequestedPermission::validate(resource_set_id, scopes, &registered.description)?;
        let now = self.now();
        let ticket = secret::mint(self.inner.entropy.as_ref(), TICKET_BYTES)?;
        let new = NewTicket {
            id: uuid::Uuid::new_v4().to_string(),
            ticket_hash: secret::token_hash(&ticket),
            resource_set_id: requested.resource_set_id,
            scopes: requested.scopes,
            created_at: now,
            expires_at: ticket::expires_at(now, self.inner.policy.ticket_ttl),
        };
        store::tickets::insert(store, ns, &new).await?;
        self.audit(
            AuditKind::TicketRegistered,
            AuditEvent {
                resource_server: ns.client_id.clone(),
                owner: ns.owner.clone(),
                resource_set_id: new.resource_set_id.clone(),
                scopes: new.scopes.clone(),
                ticket_id: new.id.clone(),
                ..AuditEvent::default()
            },
        )
        .await;
        Ok(IssuedTicket {
            ticket: crate::domain::secret::Secret::new(ticket),
            id: new.id,
            expires_at: new.expires_at,
        })
    }
}
