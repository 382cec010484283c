//! `steward.v1.PermissionService` over the core.

use tonic::{Request, Response, Status};

use super::protected;
use super::proto::permission_service_server::PermissionService;
use super::proto::{RegisterPermissionRequest, RegisterPermissionResponse};
use crate::core::Core;

/// The adapter.
pub(super) struct Permissions {
    core: Core,
}

impl Permissions {
    pub(super) fn new(core: Core) -> Self {
        Permissions { core }
    }
}

#[tonic::async_trait]
impl PermissionService for Permissions {
    #[tracing::instrument(name = "PermissionService/RegisterPermission", skip_all)]
    async fn register_permission(
        &self,
        request: Request<RegisterPermissionRequest>,
    ) -> Result<Response<RegisterPermissionResponse>, Status> {
        let (ns, message) = protected(&self.core, request).await?;
        let issued = self
            .core
            .register_permission(&ns, message.resource_set_id, message.scopes)
            .await?;
        Ok(Response::new(RegisterPermissionResponse {
            ticket: issued.ticket.into_exposed(),
            ticket_id: issued.id,
            expires_at: issued.expires_at,
        }))
    }
}
