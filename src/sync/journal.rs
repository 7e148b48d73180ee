//! The queue of status rows: a row is recorded only after the storage write it describes is
//! durable. Rows wait here and are committed in batches, each once both storages made their
//! writes durable (`Storage::flush`); docs/sync-algorithm.md explains why that order keeps
//! an interrupted sync safe.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::apply::Done;
use super::event::{Action, Failure};
use super::job::CollectionJob;
use crate::status::{ItemRow, RowChange};

/// Queued status rows are committed when there are this many, or when the oldest waited
/// [`COMMIT_INTERVAL`]: each commit costs a flush of both storages (one file-system sync for a
/// vdir), and the rows of an interrupted batch cost the next sync a comparison each.
pub const COMMIT_BATCH: usize = 500;
pub const COMMIT_INTERVAL: Duration = Duration::from_secs(2);

/// Status changes waiting for the writes they describe to become durable.
#[derive(Default)]
pub struct Journal {
    unrecorded: Mutex<Vec<RowChange>>,
}

impl Journal {
    pub fn queue(&self, change: RowChange) {
        self.lock().push(change);
    }

    /// True when the queue should be committed now (a full batch, or the last commit was
    /// at `last_commit` and long enough ago).
    pub fn due(&self, last_commit: Instant) -> bool {
        self.lock().len() >= COMMIT_BATCH || last_commit.elapsed() >= COMMIT_INTERVAL
    }

    fn take(&self) -> Vec<RowChange> {
        std::mem::take(&mut *self.lock())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<RowChange>> {
        self.unrecorded.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl CollectionJob<'_> {
    /// Queues the row for the status (see [`Self::commit`]).
    pub(super) fn record(&self, row: &ItemRow) -> Done {
        self.journal.queue(RowChange::Put(row.clone()));
        Done::Ok
    }

    /// Queues the row of an item both sides now hold as `item`, with `item` as the base of a
    /// later three-way merge.
    pub(super) fn record_equal(&self, row: &ItemRow, item: &davsync_storages::Item) -> Done {
        self.journal.queue(RowChange::Put(row.clone()));
        self.journal.queue(RowChange::Base {
            ident: row.ident.clone(),
            content: item.raw().to_vec(),
        });
        Done::Ok
    }

    pub(super) fn forget(&self, ident: &str) -> Done {
        self.journal.queue(RowChange::Remove(ident.to_owned()));
        Done::Ok
    }

    /// Makes the writes behind the queued rows durable on both sides, then commits the rows
    /// in one transaction. When either step fails the rows are dropped (and the failure
    /// reported): the next sync finds those items on both sides and only records them.
    pub(super) async fn commit(&self) {
        let batch = self.journal.take();
        if batch.is_empty() {
            return;
        }
        let (fa, fb) = futures::join!(self.sides.a.storage.flush(), self.sides.b.storage.flush());
        for (res, side) in [(fa, &self.sides.a), (fb, &self.sides.b)] {
            if let Err(e) = res {
                self.report(
                    Failure::new(
                        self.at.clone(),
                        Action::Record,
                        format!(
                            "{}: making the writes durable failed: {}",
                            side.place,
                            super::describe(&e)
                        ),
                    )
                    .kind(e.kind()),
                );
                return;
            }
        }
        if let Err(e) = self.status.apply(&self.name, &batch) {
            self.status_failed(
                &format!("recording {} item(s) in the status", batch.len()),
                e,
            );
        }
    }
}

#[cfg(test)]
#[path = "base_tests.rs"]
mod tests;
