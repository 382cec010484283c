//! The UMA authorization API (draft-06 §3.4): RPT issuance, permission
//! requests against owner policies, and the decision service for enforcement
//! points. Not to be confused with the OAuth authorization endpoint (browser
//! consent, `core::authorization_endpoint`) or the `uma_authorization`
//! scope (`domain::scope::ApiScope::Authorization`) that AATs carry.

use serde_json::{Map, Value};

use super::Core;
use super::audit::{self, AuditEvent, AuditKind};
use super::claims::ID_TOKEN_FORMATS;
use crate::domain::identifier::{self, Kind};
use crate::domain::pending::{Access, PendingStatus};
use crate::domain::policy::{self, Decision, DecisionRequest};
use crate::domain::rpt::{Permission, RPT_BYTES};
use crate::domain::secret;
use crate::domain::ticket;
use crate::domain::token::Requester;
use crate::domain::{Error, Namespace, UnixTime};
use crate::store::rpts::{GrantTarget, RptRecord};
use crate::store::{self, tickets::TicketRecord};

/// Most claim tokens accepted in one request.
const MAX_CLAIM_TOKENS: usize = 8;

/// An answer of the decision service and the revision it reflects: every
/// change up to `revision` was seen when deciding, so an enforcement point
/// can tell a cached answer from before a change it was told about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decided<T> {
    pub revision: i64,
    pub decision: T,
}

/// A token pushed to carry claims about the requesting party.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimToken {
    pub format: String,
    pub token: crate::domain::secret::Secret,
}

impl Core {
    /// The draft-06 RPT endpoint: a new RPT without permissions, bound to the
    /// AAT's client and requesting party; the AAT's earlier RPT dies.
    pub async fn issue_rpt(&self, requester: &Requester) -> Result<String, Error> {
        let rpt = secret::mint(self.inner.entropy.as_ref(), RPT_BYTES)?;
        let now = self.now();
        let record = self.new_rpt_record(requester, &rpt, now);
        let revoked =
            store::rpts::replace_for_aat(&self.inner.store, &record, &requester.aat_id, now)
                .await?;
        self.audit_rpt(requester, &record.token_hash, "", &revoked)
            .await;
        Ok(rpt)
    }

    /// Audit events of an RPT issued (from `ticket_id`, if any) and of the
    /// RPTs it replaced.
    async fn audit_rpt(
        &self,
        requester: &Requester,
        rpt_hash: &str,
        ticket_id: &str,
        revoked: &[String],
    ) {
        let party = || AuditEvent {
            requesting_party: requester.subject.clone(),
            client_id: requester.client_id.clone(),
            ..AuditEvent::default()
        };
        for hash in revoked {
            self.audit(
                AuditKind::RptRevoked,
                AuditEvent {
                    rpt_id: hash.clone(),
                    outcome: "replaced".into(),
                    ..party()
                },
            )
            .await;
        }
        self.audit(
            AuditKind::RptIssued,
            AuditEvent {
                rpt_id: rpt_hash.to_string(),
                ticket_id: ticket_id.to_string(),
                ..party()
            },
        )
        .await;
    }

    fn new_rpt_record(&self, requester: &Requester, rpt: &str, now: UnixTime) -> RptRecord {
        RptRecord {
            token_hash: secret::token_hash(rpt),
            client_id: requester.client_id.clone(),
            subject: requester.subject.clone(),
            resource_server: None,
            created_at: now,
            expires_at: None,
            revoked_at: None,
        }
    }

    /// Asks for the permission behind `ticket` (draft-06 §3.4.3). With an
    /// RPT the permission is added to it; without one (the UMA 1.0 flow) a
    /// new RPT is minted — and stored only if the permission is granted.
    /// A refusal changes no RPT.
    pub async fn request_permission(
        &self,
        requester: &Requester,
        rpt: Option<&str>,
        ticket: &str,
        claim_tokens: &[ClaimToken],
    ) -> Result<String, Error> {
        let store = &self.inner.store;
        let now = self.now();
        identifier::require("ticket", ticket, Kind::Token)?;
        identifier::check("rpt", rpt.unwrap_or(""), Kind::Token)?;
        check_claim_tokens(claim_tokens)?;
        // The RPT the permission goes to, the value the client gets back, and
        // the resource server the RPT is already bound to (if any).
        let (target, rpt_value, bound_to) = match rpt {
            Some(rpt) => {
                let hash = secret::token_hash(rpt);
                let record = store::rpts::find(store, &hash).await?;
                let Some(record) = record.filter(|r| {
                    r.revoked_at.is_none()
                        && r.expires_at.is_none_or(|exp| now < exp)
                        && r.client_id == requester.client_id
                        && r.subject == requester.subject
                }) else {
                    return Err(Error::InvalidToken(
                        "the RPT is unknown, revoked, or not this client's".into(),
                    ));
                };
                (
                    GrantTarget::Existing(hash),
                    rpt.to_string(),
                    record.resource_server,
                )
            }
            None => {
                let value = secret::mint(self.inner.entropy.as_ref(), RPT_BYTES)?;
                let record = self.new_rpt_record(requester, &value, now);
                (
                    GrantTarget::New(record, requester.aat_id.clone()),
                    value,
                    None,
                )
            }
        };
        let ticket = self.usable_ticket(requester, ticket, now).await?;
        if bound_to.is_some_and(|rs| rs != ticket.namespace.client_id) {
            return Err(Error::invalid_request(
                "the RPT is bound to another resource server; get a new RPT for this one",
            ));
        }
        let mut claims = self.gather_claims(requester, claim_tokens, now).await?;
        // Claims the requesting party handed over by redirect (claims gathering).
        claims.extend(ticket.gathered_claims.clone());
        let access = Access {
            resource_set_id: ticket.resource_set_id.clone(),
            scopes: ticket.scopes.clone(),
            client_id: requester.client_id.clone(),
            subject: requester.subject.clone(),
        };
        let set =
            store::resource_sets::get_cached(store, &ticket.namespace, &ticket.resource_set_id)
                .await?;
        let decision = match &set {
            Some(set) => {
                self.evaluate(
                    &ticket.namespace,
                    &access,
                    &set.description.scopes,
                    &claims,
                    now,
                )
                .await?
            }
            // The set was deleted after the ticket was issued: nothing to grant.
            None => Decision::Deny { policies: vec![] },
        };
        let (outcome, policy_ids) = audit::outcome_of(&decision);
        let rpt_hash = match &target {
            GrantTarget::Existing(hash) => hash.clone(),
            GrantTarget::New(record, _) => record.token_hash.clone(),
        };
        let decided = AuditEvent {
            requesting_party: requester.subject.clone(),
            client_id: requester.client_id.clone(),
            resource_server: ticket.namespace.client_id.clone(),
            owner: ticket.namespace.owner.clone(),
            resource_set_id: ticket.resource_set_id.clone(),
            scopes: match &decision {
                Decision::Permit { scopes, .. } => scopes.clone(),
                _ => ticket.scopes.clone(),
            },
            outcome: outcome.into(),
            policy_ids,
            ticket_id: ticket.id.clone(),
            rpt_id: if outcome == "permit" {
                rpt_hash.clone()
            } else {
                String::new()
            },
            ..AuditEvent::default()
        };
        match decision {
            Decision::Permit { scopes, policies } => {
                tracing::info!(resource_set = %ticket.resource_set_id, ?policies, "permission granted");
                let permission = Permission {
                    owner: ticket.namespace.owner.clone(),
                    resource_set_id: ticket.resource_set_id.clone(),
                    scopes,
                    issued_at: now,
                    expires_at: ticket::expires_at(now, self.inner.policy.permission_ttl),
                };
                let revoked = store::rpts::grant(
                    store,
                    &ticket.id,
                    &target,
                    &ticket.namespace.client_id,
                    &permission,
                    now,
                )
                .await?;
                self.audit(AuditKind::PermissionDecided, decided).await;
                if matches!(target, GrantTarget::New(..)) {
                    self.audit_rpt(requester, &rpt_hash, &ticket.id, &revoked)
                        .await;
                }
                Ok(rpt_value)
            }
            Decision::Deny { policies } => {
                self.audit(AuditKind::PermissionDecided, decided).await;
                tracing::info!(resource_set = %ticket.resource_set_id, ?policies, "permission refused");
                Err(Error::NotAuthorized(
                    "the resource owner's policies do not grant this permission".into(),
                ))
            }
            Decision::NeedClaims { claims, .. } => {
                self.audit(AuditKind::PermissionDecided, decided).await;
                Err(Error::NeedClaims { claims })
            }
            Decision::Pending { .. } => {
                self.audit(AuditKind::PermissionDecided, decided).await;
                store::pending::hold(store, &ticket.namespace, &access, now).await?;
                Err(Error::RequestSubmitted(
                    "the request waits for the resource owner's approval; retry later".into(),
                ))
            }
        }
    }

    /// Finds the ticket, checks it is alive, and binds it to the first
    /// client and requesting party that present it.
    async fn usable_ticket(
        &self,
        requester: &Requester,
        ticket: &str,
        now: UnixTime,
    ) -> Result<TicketRecord, Error> {
        let store = &self.inner.store;
        let Some(record) = store::tickets::find_by_hash(store, &secret::token_hash(ticket)).await?
        else {
            return Err(Error::InvalidTicket("the ticket is unknown".into()));
        };
        if record.redeemed_at.is_some() {
            return Err(Error::InvalidTicket("the ticket was already used".into()));
        }
        if ticket::is_expired(record.expires_at, now) {
            return Err(Error::ExpiredTicket("the ticket expired".into()));
        }
        let foreign = |bound: &(String, String)| {
            bound.0 != requester.client_id || bound.1 != requester.subject
        };
        if record.bound_to.as_ref().is_some_and(foreign)
            || !store::tickets::bind(store, &record.id, &requester.client_id, &requester.subject)
                .await?
        {
            tracing::warn!("a ticket was presented by a second client or requesting party");
            return Err(Error::InvalidTicket(
                "the ticket belongs to another client or requesting party".into(),
            ));
        }
        Ok(record)
    }

    /// The AAT's verified claims, plus those of pushed ID tokens.
    async fn gather_claims(
        &self,
        requester: &Requester,
        claim_tokens: &[ClaimToken],
        now: UnixTime,
    ) -> Result<Map<String, Value>, Error> {
        let mut claims = requester.claims.clone();
        claims.extend(self.verify_claim_tokens(claim_tokens, now).await?);
        Ok(claims)
    }

    async fn verify_claim_tokens(
        &self,
        claim_tokens: &[ClaimToken],
        now: UnixTime,
    ) -> Result<Map<String, Value>, Error> {
        if claim_tokens.len() > MAX_CLAIM_TOKENS {
            return Err(Error::invalid_request(format!(
                "at most {MAX_CLAIM_TOKENS} claim tokens are accepted"
            )));
        }
        let mut claims = Map::new();
        for token in claim_tokens {
            if !ID_TOKEN_FORMATS.contains(&token.format.as_str()) {
                return Err(Error::invalid_request(format!(
                    "claim token format `{}` is not supported; send an OpenID Connect ID token",
                    token.format.chars().take(100).collect::<String>()
                )));
            }
            let verified = self
                .inner
                .trusted
                .verify(token.token.expose(), now)
                .await
                .map_err(|why| Error::invalid_request(format!("claim token refused: {why}")))?;
            claims.extend(verified);
        }
        Ok(claims)
    }

    /// Evaluates the owner's policies for `access` (with the owner's
    /// earlier decision on a held request, if any).
    async fn evaluate(
        &self,
        ns: &Namespace,
        access: &Access,
        registered_scopes: &[String],
        claims: &Map<String, Value>,
        now: UnixTime,
    ) -> Result<Decision, Error> {
        let store = &self.inner.store;
        let held = store::pending::find_cached(store, ns, access).await?;
        if held
            .as_ref()
            .is_some_and(|h| h.status == PendingStatus::Denied)
        {
            return Ok(Decision::Deny { policies: vec![] });
        }
        let policies =
            store::policies::for_resource_set_cached(store, ns, &access.resource_set_id).await?;
        Ok(policy::decide(
            &policies,
            &DecisionRequest {
                client_id: &access.client_id,
                subject: &access.subject,
                claims,
                requested_scopes: &access.scopes,
                registered_scopes,
                owner_approved: held.is_some_and(|h| h.status == PendingStatus::Approved),
                now,
            },
        ))
    }

    /// The decision service: what the owner's policies say about `access`
    /// to a resource set of the calling resource server. Claims come only
    /// from verified claim tokens. Nothing is stored.
    pub async fn decide(
        &self,
        ns: &Namespace,
        access: &Access,
        claim_tokens: &[ClaimToken],
    ) -> Result<Decided<Decision>, Error> {
        // Read before deciding: the answer reflects at least this revision.
        let revision = self.inner.store.known_revision();
        check_item(&access.resource_set_id, &access.scopes)?;
        check_party(&access.client_id, &access.subject)?;
        check_claim_tokens(claim_tokens)?;
        let now = self.now();
        let registered = self
            .registered_scopes_of(ns, &access.resource_set_id)
            .await?;
        let claims = self.verify_claim_tokens(claim_tokens, now).await?;
        let decision = self.evaluate(ns, access, &registered, &claims, now).await?;
        self.audit_decision(ns, access, &decision).await;
        Ok(Decided { revision, decision })
    }

    /// The audit event of a decision-service answer.
    async fn audit_decision(&self, ns: &Namespace, access: &Access, decision: &Decision) {
        let (outcome, policy_ids) = audit::outcome_of(decision);
        self.audit(
            AuditKind::PermissionDecided,
            AuditEvent {
                requesting_party: access.subject.clone(),
                client_id: access.client_id.clone(),
                resource_server: ns.client_id.clone(),
                owner: ns.owner.clone(),
                resource_set_id: access.resource_set_id.clone(),
                scopes: access.scopes.clone(),
                outcome: outcome.into(),
                policy_ids,
                ..AuditEvent::default()
            },
        )
        .await;
    }

    /// Decides every `(resource set, scopes)` of `items` for one requesting
    /// party, in order: claim tokens are verified once, and an item that
    /// cannot be decided carries its own error. At most [`MAX_BATCH`] items.
    /// One revision covers them all: every item reflects at least it.
    pub async fn decide_batch(
        &self,
        ns: &Namespace,
        client_id: &str,
        subject: &str,
        claim_tokens: &[ClaimToken],
        items: Vec<(String, Vec<String>)>,
    ) -> Result<Decided<Vec<Result<Decision, Error>>>, Error> {
        let revision = self.inner.store.known_revision();
        if items.is_empty() {
            return Err(Error::invalid_request("a batch needs at least one item"));
        }
        if items.len() > MAX_BATCH {
            return Err(Error::invalid_request(format!(
                "a batch holds at most {MAX_BATCH} items"
            )));
        }
        check_party(client_id, subject)?;
        check_claim_tokens(claim_tokens)?;
        let now = self.now();
        let claims = self.verify_claim_tokens(claim_tokens, now).await?;
        let mut results = Vec::with_capacity(items.len());
        for (resource_set_id, scopes) in items {
            let access = Access {
                resource_set_id,
                scopes,
                client_id: client_id.to_string(),
                subject: subject.to_string(),
            };
            results.push(self.decide_verified(ns, &access, &claims, now).await);
        }
        Ok(Decided {
            revision,
            decision: results,
        })
    }

    /// One decision with claims already verified.
    async fn decide_verified(
        &self,
        ns: &Namespace,
        access: &Access,
        claims: &Map<String, Value>,
        now: UnixTime,
    ) -> Result<Decision, Error> {
        check_item(&access.resource_set_id, &access.scopes)?;
        let registered = self
            .registered_scopes_of(ns, &access.resource_set_id)
            .await?;
        let decision = self.evaluate(ns, access, &registered, claims, now).await?;
        self.audit_decision(ns, access, &decision).await;
        Ok(decision)
    }

    /// The registered scopes of one of the caller's sets
    /// (`invalid_resource_set_id` if it has no such set).
    async fn registered_scopes_of(
        &self,
        ns: &Namespace,
        resource_set_id: &str,
    ) -> Result<Vec<String>, Error> {
        match store::resource_sets::get_cached(&self.inner.store, ns, resource_set_id).await? {
            Some(set) => Ok(set.description.scopes),
            None => Err(Error::InvalidResourceSetId(format!(
                "no resource set `{resource_set_id}` is registered"
            ))),
        }
    }
}

/// The requesting party of a decision: at least one of client and subject,
/// each an id.
fn check_party(client_id: &str, subject: &str) -> Result<(), Error> {
    identifier::check("client_id", client_id, Kind::Id)?;
    identifier::check("subject", subject, Kind::Id)?;
    if client_id.is_empty() && subject.is_empty() {
        return Err(Error::invalid_request(
            "name the client or the requesting party",
        ));
    }
    Ok(())
}

/// One (resource set, scopes) to decide. A malformed resource set id can
/// name no registered set: `invalid_resource_set_id`, as an unknown one.
fn check_item(resource_set_id: &str, scopes: &[String]) -> Result<(), Error> {
    if resource_set_id.is_empty() || scopes.is_empty() {
        return Err(Error::invalid_request(
            "`resource_set_id` and `scopes` are required",
        ));
    }
    identifier::check("resource_set_id", resource_set_id, Kind::Id)
        .map_err(|r| r.into_error(Error::InvalidResourceSetId))?;
    identifier::scopes("scopes", scopes)?;
    Ok(())
}

/// Claim tokens: how many, and each a known-size token of a named format.
fn check_claim_tokens(claim_tokens: &[ClaimToken]) -> Result<(), Error> {
    if claim_tokens.len() > MAX_CLAIM_TOKENS {
        return Err(Error::invalid_request(format!(
            "at most {MAX_CLAIM_TOKENS} claim tokens are accepted"
        )));
    }
    for token in claim_tokens {
        identifier::require("claim_tokens[].format", &token.format, Kind::Text)?;
        identifier::require("claim_tokens[].token", token.token.expose(), Kind::Token)?;
    }
    Ok(())
}

/// Most items one batch decision takes: enough for a page of resources,
/// bounded so one call cannot monopolise the core.
pub const MAX_BATCH: usize = 1000;
