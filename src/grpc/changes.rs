//! `steward.v1.ChangeService`: the core's watch of the calling resource
//! server's changes ([`Core::watch_changes`]), as a server stream of proto
//! changes.

use std::pin::Pin;

use tokio_stream::{Stream, StreamExt};
use tonic::{Request, Response, Status};

use super::protected;
use super::proto::change::Kind;
use super::proto::change_service_server::ChangeService;
use super::proto::{self, WatchChangesRequest};
use crate::core::Core;
use crate::domain::change::{Change, ChangeKind};

/// The adapter.
pub(super) struct Changes {
    core: Core,
}

impl Changes {
    pub(super) fn new(core: Core) -> Self {
        Changes { core }
    }
}

fn kind(kind: ChangeKind) -> Kind {
    match kind {
        ChangeKind::ResourceSetCreated => Kind::ResourceSetCreated,
        ChangeKind::ResourceSetUpdated => Kind::ResourceSetUpdated,
        ChangeKind::ResourceSetDeleted => Kind::ResourceSetDeleted,
        ChangeKind::PolicyCreated => Kind::PolicyCreated,
        ChangeKind::PolicyDeleted => Kind::PolicyDeleted,
        ChangeKind::RptRevoked => Kind::RptRevoked,
    }
}

impl From<Change> for proto::Change {
    fn from(c: Change) -> Self {
        proto::Change {
            revision: c.revision,
            kind: kind(c.kind).into(),
            owner: c.owner,
            resource_set_id: c.resource_set_id,
            policy_id: c.policy_id,
            rpt_hash: c.rpt_hash,
            at: c.at,
        }
    }
}

#[tonic::async_trait]
impl ChangeService for Changes {
    type WatchChangesStream = Pin<Box<dyn Stream<Item = Result<proto::Change, Status>> + Send>>;

    #[tracing::instrument(name = "ChangeService/WatchChanges", skip_all)]
    async fn watch_changes(
        &self,
        request: Request<WatchChangesRequest>,
    ) -> Result<Response<Self::WatchChangesStream>, Status> {
        let (ns, message) = protected(&self.core, request).await?;
        let changes = self
            .core
            .watch_changes(ns, message.since_revision)
            .await?
            .map(|change| change.map(proto::Change::from).map_err(Status::from));
        Ok(Response::new(Box::pin(changes)))
    }
}
