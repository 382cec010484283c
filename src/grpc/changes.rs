//! `steward.v1.ChangeService`: a server stream of the calling resource
//! server's changes, replayed from the log and then followed live (woken by
//! local writes and by each look at the change counter).

use std::time::Duration;

use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use super::protected;
use super::proto::change::Kind;
use super::proto::change_service_server::ChangeService;
use super::proto::{self, WatchChangesRequest};
use crate::core::Core;
use crate::domain::change::{Change, ChangeKind};

/// Changes read per query.
const BATCH: u64 = 256;
/// Changes buffered per watcher before the reader waits for it.
const BUFFER: usize = 64;
/// How often an idle watcher looks again even without a wake-up.
const BACKSTOP: Duration = Duration::from_secs(1);

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
    type WatchChangesStream = ReceiverStream<Result<proto::Change, Status>>;

    #[tracing::instrument(name = "ChangeService/WatchChanges", skip_all)]
    async fn watch_changes(
        &self,
        request: Request<WatchChangesRequest>,
    ) -> Result<Response<Self::WatchChangesStream>, Status> {
        let (ns, message) = protected(&self.core, request).await?;
        let mut last = self.core.watch_start(message.since_revision).await?;
        let (tx, rx) = mpsc::channel(BUFFER);
        let core = self.core.clone();
        tokio::spawn(async move {
            loop {
                // Registered before reading, so a write that commits while
                // we read still wakes us.
                let notified = core.store().change_notifier().notified();
                tokio::pin!(notified);
                notified.as_mut().enable();
                match core.changes_after(&ns, last, BATCH).await {
                    Err(e) => {
                        let _ = tx.send(Err(Status::from(e))).await;
                        return;
                    }
                    Ok(batch) if batch.is_empty() => {
                        tokio::select! {
                            () = &mut notified => {}
                            () = tokio::time::sleep(BACKSTOP) => {}
                            () = tx.closed() => return,
                        }
                    }
                    Ok(batch) => {
                        for change in batch {
                            last = change.revision;
                            if tx.send(Ok(change.into())).await.is_err() {
                                return; // the watcher went away
                            }
                        }
                    }
                }
            }
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}
