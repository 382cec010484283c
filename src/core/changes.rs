//! The change log as enforcement points read it: a watch of the calling
//! resource server's changes, replayed from the log and then followed live
//! (woken by local writes and by each look at the change counter).

use std::time::Duration;

use tokio::sync::mpsc;
use tokio_stream::Stream;
use tokio_stream::wrappers::ReceiverStream;

use super::Core;
use crate::domain::change::Change;
use crate::domain::{Error, Namespace};
use crate::store;

/// Changes read per query.
const BATCH: u64 = 256;
/// Changes buffered per watcher before the reader waits for it.
const BUFFER: usize = 64;
/// How often an idle watcher looks again even without a wake-up.
const BACKSTOP: Duration = Duration::from_secs(1);

impl Core {
    /// The calling resource server's changes after `since` (0: from now
    /// on), oldest first and each once: first those the log holds, then
    /// each as it is written, for as long as the stream is read. Refused at
    /// once if `since` is negative or the log no longer holds everything
    /// after it; the stream ends with an error if the watcher falls that
    /// far behind later (it must resync rather than miss changes) or the
    /// store fails. Dropping the stream stops the watch.
    pub async fn watch_changes(
        &self,
        ns: Namespace,
        since: i64,
    ) -> Result<impl Stream<Item = Result<Change, Error>> + Send + 'static, Error> {
        let mut last = self.watch_start(since).await?;
        let (tx, rx) = mpsc::channel(BUFFER);
        let core = self.clone();
        tokio::spawn(async move {
            loop {
                // Registered before reading, so a write that commits while
                // we read still wakes us.
                let notified = core.inner.store.change_notifier().notified();
                tokio::pin!(notified);
                notified.as_mut().enable();
                match core.changes_after(&ns, last, BATCH).await {
                    Err(e) => {
                        let _ = tx.send(Err(e)).await;
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
                            if tx.send(Ok(change)).await.is_err() {
                                return; // the watcher went away
                            }
                        }
                    }
                }
            }
        });
        Ok(ReceiverStream::new(rx))
    }

    /// The revision a watcher starts after: `since`, if the log still holds
    /// everything after it; the current revision for 0.
    async fn watch_start(&self, since: i64) -> Result<i64, Error> {
        let store = &self.inner.store;
        if since < 0 {
            return Err(Error::invalid_request(
                "`since_revision` cannot be negative",
            ));
        }
        if since == 0 {
            return store::changes::current_revision(store).await;
        }
        ensure_kept(store, since).await?;
        Ok(since)
    }

    /// The calling resource server's changes after `revision`, oldest
    /// first; refused if some of them were pruned meanwhile (a watcher that
    /// fell that far behind must resync rather than miss changes).
    async fn changes_after(
        &self,
        ns: &Namespace,
        revision: i64,
        limit: u64,
    ) -> Result<Vec<Change>, Error> {
        let store = &self.inner.store;
        let changes = store::changes::since(store, &ns.client_id, revision, limit).await?;
        ensure_kept(store, revision).await?;
        Ok(changes)
    }

    /// Forgets changes older than `retention` (by the core's clock); a
    /// watcher resuming from before them is told to resync.
    pub async fn prune_changes(&self, retention: std::time::Duration) -> Result<u64, Error> {
        let keep = i64::try_from(retention.as_secs()).unwrap_or(i64::MAX);
        store::changes::prune(&self.inner.store, self.now().saturating_sub(keep)).await
    }
}

/// Refuses `revision` if changes after it were pruned.
async fn ensure_kept(store: &store::Store, revision: i64) -> Result<(), Error> {
    let pruned = store::changes::pruned_through(store).await?;
    if revision < pruned {
        return Err(Error::PreconditionFailed(format!(
            "changes up to revision {pruned} are no longer kept; resync, then watch from 0"
        )));
    }
    Ok(())
}
