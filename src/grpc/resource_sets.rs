//! `steward.v1.ResourceSetService` over the core.

use tonic::{Request, Response, Status};

use super::proto::resource_set_service_server::ResourceSetService;
use super::proto::{
    CreateResourceSetRequest, DeleteResourceSetRequest, DeleteResourceSetResponse,
    GetResourceSetRequest, ListResourceSetsRequest, ListResourceSetsResponse, ResourceSet,
    ResourceSetRevision, UpdateResourceSetRequest,
};
use super::{authorization, convert::required_description, to_status};
use crate::core::Core;
use crate::domain::resource_set::Precondition;
use crate::domain::scope::ApiScope;

/// The adapter.
pub(super) struct ResourceSets {
    core: Core,
}

impl ResourceSets {
    pub(super) fn new(core: Core) -> Self {
        ResourceSets { core }
    }
}

#[tonic::async_trait]
impl ResourceSetService for ResourceSets {
    #[tracing::instrument(name = "ResourceSetService/CreateResourceSet", skip_all)]
    async fn create_resource_set(
        &self,
        request: Request<CreateResourceSetRequest>,
    ) -> Result<Response<ResourceSetRevision>, Status> {
        let ns = self
            .core
            .authenticate(authorization(&request), ApiScope::Protection)
            .map_err(|e| to_status(&e))?;
        let message = request.into_inner();
        let description = required_description(message.description).map_err(|e| to_status(&e))?;
        let rev = self
            .core
            .create_resource_set(&ns, &message.id, &description)
            .await
            .map_err(|e| to_status(&e))?;
        Ok(Response::new(ResourceSetRevision {
            id: message.id,
            rev: rev.to_string(),
            status: "created".into(),
        }))
    }

    #[tracing::instrument(name = "ResourceSetService/UpdateResourceSet", skip_all)]
    async fn update_resource_set(
        &self,
        request: Request<UpdateResourceSetRequest>,
    ) -> Result<Response<ResourceSetRevision>, Status> {
        let ns = self
            .core
            .authenticate(authorization(&request), ApiScope::Protection)
            .map_err(|e| to_status(&e))?;
        let message = request.into_inner();
        let description = required_description(message.description).map_err(|e| to_status(&e))?;
        let precondition = Precondition::parse(message.if_match.as_deref());
        let rev = self
            .core
            .update_resource_set(&ns, &message.id, &description, &precondition)
            .await
            .map_err(|e| to_status(&e))?;
        Ok(Response::new(ResourceSetRevision {
            id: message.id,
            rev: rev.to_string(),
            status: "updated".into(),
        }))
    }

    #[tracing::instrument(name = "ResourceSetService/GetResourceSet", skip_all)]
    async fn get_resource_set(
        &self,
        request: Request<GetResourceSetRequest>,
    ) -> Result<Response<ResourceSet>, Status> {
        let ns = self
            .core
            .authenticate(authorization(&request), ApiScope::Protection)
            .map_err(|e| to_status(&e))?;
        let id = request.into_inner().id;
        let stored = self
            .core
            .get_resource_set(&ns, &id)
            .await
            .map_err(|e| to_status(&e))?;
        Ok(Response::new(ResourceSet {
            id,
            rev: stored.rev.to_string(),
            description: Some(stored.description.into()),
        }))
    }

    #[tracing::instrument(name = "ResourceSetService/DeleteResourceSet", skip_all)]
    async fn delete_resource_set(
        &self,
        request: Request<DeleteResourceSetRequest>,
    ) -> Result<Response<DeleteResourceSetResponse>, Status> {
        let ns = self
            .core
            .authenticate(authorization(&request), ApiScope::Protection)
            .map_err(|e| to_status(&e))?;
        let message = request.into_inner();
        let precondition = Precondition::parse(message.if_match.as_deref());
        self.core
            .delete_resource_set(&ns, &message.id, &precondition)
            .await
            .map_err(|e| to_status(&e))?;
        Ok(Response::new(DeleteResourceSetResponse {}))
    }

    #[tracing::instrument(name = "ResourceSetService/ListResourceSets", skip_all)]
    async fn list_resource_sets(
        &self,
        request: Request<ListResourceSetsRequest>,
    ) -> Result<Response<ListResourceSetsResponse>, Status> {
        let ns = self
            .core
            .authenticate(authorization(&request), ApiScope::Protection)
            .map_err(|e| to_status(&e))?;
        let ids = self
            .core
            .list_resource_sets(&ns)
            .await
            .map_err(|e| to_status(&e))?;
        Ok(Response::new(ListResourceSetsResponse { ids }))
    }
}
