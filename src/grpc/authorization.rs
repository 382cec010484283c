//! `steward.v1.AuthorizationService`, `PolicyService` and `DecisionService`
//! over the core.

use tonic::{Request, Response, Status};

use super::proto::authorization_service_server::AuthorizationService;
use super::proto::decide_response::Outcome;
use super::proto::decision_service_server::DecisionService;
use super::proto::policy_service_server::PolicyService;
use super::proto::{
    self, CreatePolicyRequest, DecideBatchRequest, DecideBatchResponse,
    DecidePendingRequestRequest, DecidePendingRequestResponse, DecideRequest, DecideResponse,
    DecideResult, DeletePolicyRequest, DeletePolicyResponse, IssueRptRequest, IssueRptResponse,
    ListPendingRequestsRequest, ListPendingRequestsResponse, ListPoliciesRequest,
    ListPoliciesResponse, PolicyRecord, RequestPermissionRequest, RequestPermissionResponse,
};
use super::{protected, requesting, to_status};
use crate::core::{ClaimToken, Core};
use crate::domain::pending::Access;
use crate::domain::policy::{Decision, Policy, PolicyDefinition};
use crate::domain::{Error, json};
use crate::store::pending::PendingRecord;

/// The adapters (one struct, three services).
#[derive(Clone)]
pub(super) struct Authorization {
    core: Core,
}

impl Authorization {
    pub(super) fn new(core: Core) -> Self {
        Authorization { core }
    }
}

fn claim_tokens(tokens: Vec<proto::ClaimToken>) -> Vec<ClaimToken> {
    tokens
        .into_iter()
        .map(|t| ClaimToken {
            format: t.format,
            token: t.token.into(),
        })
        .collect()
}

fn policy_record(rsid: &str, policy: Policy) -> Result<PolicyRecord, Status> {
    let definition_json = serde_json::to_string(&policy.definition)
        .map_err(|e| to_status(&Error::Internal(format!("cannot render policy: {e}"))))?;
    Ok(PolicyRecord {
        id: policy.id,
        resource_set_id: rsid.to_string(),
        definition_json,
    })
}

fn pending_message(record: PendingRecord) -> proto::PendingRequest {
    proto::PendingRequest {
        id: record.id,
        resource_set_id: record.access.resource_set_id,
        scopes: record.access.scopes,
        client_id: record.access.client_id,
        subject: record.access.subject,
        status: record.status.as_str().into(),
        created_at: record.created_at,
    }
}

#[tonic::async_trait]
impl AuthorizationService for Authorization {
    #[tracing::instrument(name = "AuthorizationService/IssueRpt", skip_all)]
    async fn issue_rpt(
        &self,
        request: Request<IssueRptRequest>,
    ) -> Result<Response<IssueRptResponse>, Status> {
        let (requester, _) = requesting(&self.core, request).await?;
        let rpt = self.core.issue_rpt(&requester).await?;
        Ok(Response::new(IssueRptResponse { rpt }))
    }

    #[tracing::instrument(name = "AuthorizationService/RequestPermission", skip_all)]
    async fn request_permission(
        &self,
        request: Request<RequestPermissionRequest>,
    ) -> Result<Response<RequestPermissionResponse>, Status> {
        let (requester, message) = requesting(&self.core, request).await?;
        let rpt = self
            .core
            .request_permission(
                &requester,
                message.rpt.as_deref(),
                &message.ticket,
                &claim_tokens(message.claim_tokens),
            )
            .await?;
        Ok(Response::new(RequestPermissionResponse { rpt }))
    }
}

#[tonic::async_trait]
impl PolicyService for Authorization {
    #[tracing::instrument(name = "PolicyService/CreatePolicy", skip_all)]
    async fn create_policy(
        &self,
        request: Request<CreatePolicyRequest>,
    ) -> Result<Response<PolicyRecord>, Status> {
        let (ns, message) = protected(&self.core, request).await?;
        let document = json::parse_str(&message.definition_json)?;
        let definition: PolicyDefinition = serde_json::from_value(document)
            .map_err(|e| to_status(&Error::invalid_request(format!("malformed policy: {e}"))))?;
        let policy = self
            .core
            .create_policy(&ns, &message.resource_set_id, definition)
            .await?;
        Ok(Response::new(policy_record(
            &message.resource_set_id,
            policy,
        )?))
    }

    #[tracing::instrument(name = "PolicyService/ListPolicies", skip_all)]
    async fn list_policies(
        &self,
        request: Request<ListPoliciesRequest>,
    ) -> Result<Response<ListPoliciesResponse>, Status> {
        let (ns, message) = protected(&self.core, request).await?;
        let rsid = message.resource_set_id;
        let policies = self
            .core
            .list_policies(&ns, &rsid)
            .await?
            .into_iter()
            .map(|p| policy_record(&rsid, p))
            .collect::<Result<_, _>>()?;
        Ok(Response::new(ListPoliciesResponse { policies }))
    }

    #[tracing::instrument(name = "PolicyService/DeletePolicy", skip_all)]
    async fn delete_policy(
        &self,
        request: Request<DeletePolicyRequest>,
    ) -> Result<Response<DeletePolicyResponse>, Status> {
        let (ns, message) = protected(&self.core, request).await?;
        self.core
            .delete_policy(&ns, &message.resource_set_id, &message.id)
            .await?;
        Ok(Response::new(DeletePolicyResponse {}))
    }

    #[tracing::instrument(name = "PolicyService/ListPendingRequests", skip_all)]
    async fn list_pending_requests(
        &self,
        request: Request<ListPendingRequestsRequest>,
    ) -> Result<Response<ListPendingRequestsResponse>, Status> {
        let (ns, _) = protected(&self.core, request).await?;
        let requests = self
            .core
            .list_pending(&ns)
            .await?
            .into_iter()
            .map(pending_message)
            .collect();
        Ok(Response::new(ListPendingRequestsResponse { requests }))
    }

    #[tracing::instrument(name = "PolicyService/DecidePendingRequest", skip_all)]
    async fn decide_pending_request(
        &self,
        request: Request<DecidePendingRequestRequest>,
    ) -> Result<Response<DecidePendingRequestResponse>, Status> {
        let (ns, message) = protected(&self.core, request).await?;
        self.core
            .decide_pending(&ns, &message.id, message.approve)
            .await?;
        Ok(Response::new(DecidePendingRequestResponse {}))
    }
}

#[tonic::async_trait]
impl DecisionService for Authorization {
    #[tracing::instrument(name = "DecisionService/Decide", skip_all)]
    async fn decide(
        &self,
        request: Request<DecideRequest>,
    ) -> Result<Response<DecideResponse>, Status> {
        let (ns, message) = protected(&self.core, request).await?;
        let access = Access {
            resource_set_id: message.resource_set_id,
            scopes: message.scopes,
            client_id: message.client_id,
            subject: message.subject,
        };
        let decided = self
            .core
            .decide(&ns, &access, &claim_tokens(message.claim_tokens))
            .await?;
        Ok(Response::new(DecideResponse {
            revision: decided.revision,
            ..decide_response(decided.decision)
        }))
    }

    #[tracing::instrument(name = "DecisionService/DecideBatch", skip_all)]
    async fn decide_batch(
        &self,
        request: Request<DecideBatchRequest>,
    ) -> Result<Response<DecideBatchResponse>, Status> {
        let (ns, message) = protected(&self.core, request).await?;
        let items = message
            .items
            .into_iter()
            .map(|item| (item.resource_set_id, item.scopes))
            .collect();
        let decided = self
            .core
            .decide_batch(
                &ns,
                &message.client_id,
                &message.subject,
                &claim_tokens(message.claim_tokens),
                items,
            )
            .await?;
        let revision = decided.revision;
        let results = decided
            .decision
            .into_iter()
            .map(|result| match result {
                Ok(decision) => DecideResult {
                    decision: Some(DecideResponse {
                        revision,
                        ..decide_response(decision)
                    }),
                    error: String::new(),
                    error_description: String::new(),
                },
                Err(e) => {
                    crate::telemetry::report_internal(&e);
                    DecideResult {
                        decision: None,
                        error: e.code().to_string(),
                        error_description: e.description().to_string(),
                    }
                }
            })
            .collect();
        Ok(Response::new(DecideBatchResponse { results, revision }))
    }
}

fn decide_response(decision: Decision) -> DecideResponse {
    match decision {
        Decision::Permit { scopes, policies } => DecideResponse {
            outcome: Outcome::Permit.into(),
            granted_scopes: scopes,
            required_claims: vec![],
            policy_ids: policies,
            revision: 0,
        },
        Decision::Deny { policies } => DecideResponse {
            outcome: Outcome::Deny.into(),
            granted_scopes: vec![],
            required_claims: vec![],
            policy_ids: policies,
            revision: 0,
        },
        Decision::NeedClaims { claims, policies } => DecideResponse {
            outcome: Outcome::NeedClaims.into(),
            granted_scopes: vec![],
            required_claims: claims,
            policy_ids: policies,
            revision: 0,
        },
        Decision::Pending { scopes, policies } => DecideResponse {
            outcome: Outcome::Pending.into(),
            granted_scopes: scopes,
            required_claims: vec![],
            policy_ids: policies,
            revision: 0,
        },
    }
}
