//! The change log as enforcement points read it: where a watcher starts,
//! and what changed after a revision, for the calling resource server.

use super::Core;
use crate::domain::change::Change;
use crate::domain::{Error, Namespace};
use crate::store;

impl Core {
    /// The revision a watcher starts after: `since`, if the log still holds
    /// everything after it; the current revision for 0.
    pub async fn watch_start(&self, since: i64) -> Result<i64, Error> {
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
    pub async fn changes_after(
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
