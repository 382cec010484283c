//! `steward.v1.ResourceSetService` over the core.

use tonic::{Request, Response, Status};

use super::proto::resource_set_service_server::ResourceSetService;
use super::proto::{
    CreateResourceSetRequest, DeleteResourceSetRequest, DeleteResourceSetResponse,
    GetResourceSetRequest, ListResourceSetsRequest, ListResourceSetsResponse, ResourceSet,
    ResourceSetRevision, UpdateResourceSetRequest,
};
use super::{convert::required_description, protected};
use crate::core::Core;
use crate::domain::resource_set::Precondition;

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
        let (ns, message) = protected(&self.core, request).await?;
        let description = required_description(message.description)?;
        let rev = self
            .core
            .create_resource_set(&ns, &message.id, &description)
            .await?;
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
        let (ns, message) = protected(&self.core, request).await?;
        let description = required_description(message.description)?;
        let precondition = Precondition::parse(message.if_match.as_deref());
        let rev = self
            .core
            .update_resource_set(&ns, &message.id, &description, &precondition)
            .await?;
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
        let (ns, message) = protected(&self.core, request).await?;
        let id = message.id;
        let stored = self.core.get_resource_set(&ns, &id).await?;
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
        let (ns, message) = protected(&self.core, request).await?;
        let precondition = Precondition::parse(message.if_match.as_deref());
        self.core
            .delete_resource_set(&ns, &message.id, &precondition)
            .await?;
        Ok(Response::new(DeleteResourceSetResponse {}))
    }

    #[tracing::instrument(name = "ResourceSetService/ListResourceSets", skip_all)]
    async fn list_resource_sets(
        &self,
        request: Request<ListResourceSetsRequest>,
    ) -> Result<Response<ListResourceSetsResponse>, Status> {
        let (ns, _) = protected(&self.core, request).await?;
        let ids = self.core.list_resource_sets(&ns).await?;
        Ok(Response::new(ListResourceSetsResponse { ids }))
    }
}
