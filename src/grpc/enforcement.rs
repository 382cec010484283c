//! `steward.v1.EnforcementService` over the core, and the proto ⇄ domain
//! conversion of enforcement profiles.

use tonic::{Request, Response, Status};

use super::protected;
use super::proto::enforcement_service_server::EnforcementService;
use super::proto::{
    self, DeleteEnforcementProfileRequest, DeleteEnforcementProfileResponse,
    GetEnforcementProfileRequest, ScopeList,
};
use crate::core::Core;
use crate::domain::enforcement::{EnforcementProfile, UpstreamHeaders};

/// The adapter.
pub(super) struct Enforcement {
    core: Core,
}

impl Enforcement {
    pub(super) fn new(core: Core) -> Self {
        Enforcement { core }
    }
}

impl From<proto::EnforcementProfile> for EnforcementProfile {
    fn from(p: proto::EnforcementProfile) -> Self {
        EnforcementProfile {
            hosts: p.hosts,
            methods: p
                .methods
                .into_iter()
                .map(|(method, list)| (method, list.scopes))
                .collect(),
            upstream_headers: p
                .upstream_headers
                .map_or_else(UpstreamHeaders::default, |h| {
                    let defaults = UpstreamHeaders::default();
                    let or = |v: String, d: String| if v.is_empty() { d } else { v };
                    UpstreamHeaders {
                        subject: or(h.subject, defaults.subject),
                        client: or(h.client, defaults.client),
                        scopes: or(h.scopes, defaults.scopes),
                    }
                }),
            case_insensitive_paths: p.case_insensitive_paths,
        }
    }
}

impl From<EnforcementProfile> for proto::EnforcementProfile {
    fn from(p: EnforcementProfile) -> Self {
        proto::EnforcementProfile {
            hosts: p.hosts,
            methods: p
                .methods
                .into_iter()
                .map(|(method, scopes)| (method, ScopeList { scopes }))
                .collect(),
            upstream_headers: Some(proto::UpstreamHeaders {
                subject: p.upstream_headers.subject,
                client: p.upstream_headers.client,
                scopes: p.upstream_headers.scopes,
            }),
            case_insensitive_paths: p.case_insensitive_paths,
        }
    }
}

#[tonic::async_trait]
impl EnforcementService for Enforcement {
    #[tracing::instrument(name = "EnforcementService/SetEnforcementProfile", skip_all)]
    async fn set_enforcement_profile(
        &self,
        request: Request<proto::EnforcementProfile>,
    ) -> Result<Response<proto::EnforcementProfile>, Status> {
        let (ns, message) = protected(&self.core, request).await?;
        let stored = self
            .core
            .set_enforcement_profile(&ns, message.into())
            .await?;
        Ok(Response::new(stored.into()))
    }

    #[tracing::instrument(name = "EnforcementService/GetEnforcementProfile", skip_all)]
    async fn get_enforcement_profile(
        &self,
        request: Request<GetEnforcementProfileRequest>,
    ) -> Result<Response<proto::EnforcementProfile>, Status> {
        let (ns, _) = protected(&self.core, request).await?;
        Ok(Response::new(
            self.core.enforcement_profile(&ns).await?.into(),
        ))
    }

    #[tracing::instrument(name = "EnforcementService/DeleteEnforcementProfile", skip_all)]
    async fn delete_enforcement_profile(
        &self,
        request: Request<DeleteEnforcementProfileRequest>,
    ) -> Result<Response<DeleteEnforcementProfileResponse>, Status> {
        let (ns, _) = protected(&self.core, request).await?;
        self.core.delete_enforcement_profile(&ns).await?;
        Ok(Response::new(DeleteEnforcementProfileResponse {}))
    }
}
