//! The rows of the `revisions` table: counters every replica watches to
//! learn that something it caches changed elsewhere. Named here once, so no
//! query spells a bare row id.

use sea_orm::{ConnectionTrait, DbErr, Statement};

/// One counter row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Counter {
    /// Every change to what the hot paths cache (and the change log's numbering).
    Changes,
    /// Up to which revision the change log was pruned.
    PrunedThrough,
    /// Client registrations (replicas drop their client cache).
    Clients,
    /// The signing key set (replicas reload their key ring).
    KeySet,
}

impl Counter {
    /// Every counter, as the migrations create them.
    pub(crate) const ALL: [Counter; 4] = [
        Counter::Changes,
        Counter::PrunedThrough,
        Counter::Clients,
        Counter::KeySet,
    ];

    /// The row's `id` (fixed by the migrations).
    pub(crate) fn id(self) -> i32 {
        match self {
            Counter::Changes => 1,
            Counter::PrunedThrough => 2,
            Counter::Clients => 3,
            Counter::KeySet => 4,
        }
    }

    /// The counter a row holds, if it is one Steward knows.
    pub(crate) fn from_id(id: i32) -> Option<Counter> {
        Counter::ALL.into_iter().find(|c| c.id() == id)
    }
}

/// Moves `counter` by one inside the caller's transaction.
pub(crate) async fn bump<C: ConnectionTrait>(conn: &C, counter: Counter) -> Result<(), DbErr> {
    conn.execute_raw(Statement::from_string(
        conn.get_database_backend(),
        format!(
            "UPDATE revisions SET value = value + 1 WHERE id = {}",
            counter.id()
        ),
    ))
    .await
    .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_distinct_and_round_trip() {
        for counter in Counter::ALL {
            assert_eq!(Counter::from_id(counter.id()), Some(counter));
        }
        assert_eq!(Counter::from_id(0), None);
    }
}
