//! Claims gathering by redirect (digest §4.4 [REC]): after `need_claims`
//! the client sends the requesting party's browser to Steward with the
//! ticket; the user signs in (here or at an upstream provider), agrees to
//! share, and Steward binds the user's verified claims to that ticket. The
//! browser goes back to the client's registered redirect URI with `state`
//! and `authorization_state`, and the client retries with the same ticket.

use super::Core;
use super::users::SignedInUser;
use crate::domain::identifier::{self, Kind};
use crate::domain::redirect::{self, with_query};
use crate::domain::{Error, secret, ticket};
use crate::store::{self, tickets::TicketRecord};

/// The parameters the client sent the browser with.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClaimsRequest {
    pub ticket: crate::domain::secret::Secret,
    /// Optional when the ticket was already presented by its client.
    pub client_id: String,
    pub redirect_uri: String,
    pub state: String,
}

/// What the user is asked to agree to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimsPrompt {
    pub client_id: String,
    pub client_name: String,
    pub redirect_uri: String,
}

/// Where a claims-gathering request stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimsCheck {
    Prompt(ClaimsPrompt),
    /// Tell the client (the ticket cannot take claims): send the browser here.
    Redirect(String),
}

impl Core {
    /// Checks a claims-gathering request. `Err` means the user must see the
    /// error: no client or redirect URI of its can be trusted with an answer.
    pub async fn check_claims_request(
        &self,
        request: &ClaimsRequest,
    ) -> Result<ClaimsCheck, Error> {
        Ok(match self.claims_target(request).await? {
            Target::Usable(prompt, _) => ClaimsCheck::Prompt(prompt),
            Target::Refused(to) => ClaimsCheck::Redirect(to),
        })
    }

    /// The user's answer: with `share`, their verified claims go onto the
    /// ticket; either way the browser goes back to the client.
    pub async fn answer_claims_request(
        &self,
        user: &SignedInUser,
        request: &ClaimsRequest,
        share: bool,
    ) -> Result<String, Error> {
        let (prompt, ticket) = match self.claims_target(request).await? {
            Target::Usable(prompt, ticket) => (prompt, ticket),
            Target::Refused(to) => return Ok(to),
        };
        let back = |authorization_state: &str| {
            with_query(
                &prompt.redirect_uri,
                &[
                    ("authorization_state", authorization_state),
                    ("state", &request.state),
                    ("ticket", request.ticket.expose()),
                ],
            )
        };
        if !share {
            return Ok(back("not_authorized"));
        }
        let mut claims = user.claims.clone();
        claims.insert("sub".into(), user.subject.clone().into());
        if !store::tickets::gather_claims(&self.inner.store, &ticket.id, &claims).await? {
            return Ok(back("not_authorized"));
        }
        tracing::info!(client = %prompt.client_id, "claims gathered for a permission ticket");
        Ok(back("claims_submitted"))
    }

    async fn claims_target(&self, request: &ClaimsRequest) -> Result<Target, Error> {
        identifier::check("client_id", &request.client_id, Kind::Id)?;
        identifier::check("redirect_uri", &request.redirect_uri, Kind::Text)?;
        identifier::check("state", &request.state, Kind::Text)?;
        identifier::require("ticket", request.ticket.expose(), Kind::Token)?;
        let store = &self.inner.store;
        let ticket =
            store::tickets::find_by_hash(store, &secret::token_hash(request.ticket.expose()))
                .await?;
        let client_id = if request.client_id.is_empty() {
            ticket
                .as_ref()
                .and_then(|t| t.bound_to.as_ref())
                .map(|(client, _)| client.clone())
                .ok_or_else(|| Error::invalid_request("`client_id` is required"))?
        } else {
            request.client_id.clone()
        };
        let client = store::clients::find(store, &client_id)
            .await?
            .ok_or_else(|| Error::invalid_request("the client is not registered here"))?;
        let redirect_uri = redirect::registered(&client.redirect_uris, &request.redirect_uri)?;
        let refuse = |error: Error| {
            Ok(Target::Refused(with_query(
                &redirect_uri,
                &[
                    ("authorization_state", "not_authorized"),
                    ("error", error.code()),
                    ("error_description", error.description()),
                    ("state", &request.state),
                ],
            )))
        };
        let Some(ticket) = ticket else {
            return refuse(Error::InvalidTicket("the ticket is unknown".into()));
        };
        if ticket.redeemed_at.is_some() {
            return refuse(Error::InvalidTicket("the ticket was already used".into()));
        }
        if ticket::is_expired(ticket.expires_at, self.now()) {
            return refuse(Error::ExpiredTicket("the ticket expired".into()));
        }
        if ticket
            .bound_to
            .as_ref()
            .is_some_and(|(bound, _)| *bound != client.client_id)
        {
            return refuse(Error::InvalidTicket(
                "the ticket belongs to another client".into(),
            ));
        }
        Ok(Target::Usable(
            ClaimsPrompt {
                client_id: client.client_id,
                client_name: client.name,
                redirect_uri,
            },
            Box::new(ticket),
        ))
    }
}

enum Target {
    Usable(ClaimsPrompt, Box<TicketRecord>),
    Refused(String),
}
