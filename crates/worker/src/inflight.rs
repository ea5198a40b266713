//! The messages this worker holds right now, and the jobs it has claimed for them, so that a
//! shutdown can hand back what it could not finish: each claimed job's lease is released and
//! each message made visible again at once, for another worker to pick up without waiting for
//! a lease or a visibility timeout to run out.
//!
//! A job task registers its message when it starts and notes its claim; it removes its entry
//! only when it ends on its own. An aborted (or panicked) task leaves its entry behind, which is
//! exactly the set a shutdown must hand back.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use bedrock_lb_core::{JobId, QueueError, StoreError};

use crate::WorkerContext;

/// The registry of messages held by the job tasks of one worker. Clone is cheap.
#[derive(Debug, Clone, Default)]
pub(crate) struct InFlight {
    inner: Arc<Mutex<Entries>>,
}

#[derive(Debug, Default)]
struct Entries {
    next: u64,
    held: HashMap<u64, Held>,
}

/// One message held by a job task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Held {
    /// The receipt that can make the message visible again.
    pub(crate) receipt: String,
    /// The job claimed for it, once claimed.
    pub(crate) job_id: Option<JobId>,
}

impl InFlight {
    fn lock(&self) -> MutexGuard<'_, Entries> {
        // The map stays consistent even if a holder panicked: every update is one insert or
        // remove.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Registers a received message; the entry stays until [`Registration::finish`].
    pub(crate) fn register(&self, receipt: &str) -> Registration {
        let mut entries = self.lock();
        let key = entries.next;
        entries.next += 1;
        entries.held.insert(
            key,
            Held {
                receipt: receipt.to_owned(),
                job_id: None,
            },
        );
        Registration {
            key,
            registry: self.clone(),
        }
    }

    /// Every message still held, emptying the registry.
    pub(crate) fn take_all(&self) -> Vec<Held> {
        self.lock().held.drain().map(|(_, held)| held).collect()
    }

    /// How many messages are held.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.lock().held.len()
    }
}

/// A job task's entry in the registry.
#[derive(Debug)]
pub(crate) struct Registration {
    key: u64,
    registry: InFlight,
}

impl Registration {
    /// Notes that this worker now holds the lease on `job_id`.
    pub(crate) fn claimed(&self, job_id: &JobId) {
        if let Some(held) = self.registry.lock().held.get_mut(&self.key) {
            held.job_id = Some(job_id.clone());
        }
    }

    /// Notes that the lease is no longer held (the job finished or the lease was lost).
    pub(crate) fn unclaimed(&self) {
        if let Some(held) = self.registry.lock().held.get_mut(&self.key) {
            held.job_id = None;
        }
    }

    /// Removes the entry: the task has dealt with its message.
    pub(crate) fn finish(self) {
        self.registry.lock().held.remove(&self.key);
    }
}

/// What handing back the unfinished messages came to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct HandedBack {
    /// Leases released (the job is queued again).
    pub(crate) released: usize,
    /// Messages made visible again at once.
    pub(crate) made_visible: usize,
    /// Releases or visibility changes that failed; those jobs are taken over when their lease
    /// and visibility run out instead.
    pub(crate) failed: usize,
}

/// Releases the lease of every held job claimed by `owner` and makes every held message
/// visible at once.
pub(crate) async fn hand_back(ctx: &WorkerContext, owner: &str, held: Vec<Held>) -> HandedBack {
    let mut outcome = HandedBack::default();
    for Held { receipt, job_id } in held {
        if let Some(job_id) = job_id {
            match ctx.store.release(&job_id, owner).await {
                Ok(()) => outcome.released += 1,
                // Finished, or taken over, in the meantime: nothing to give back.
                Err(StoreError::Conflict(_)) => {}
                Err(error) => {
                    tracing::warn!(job_id = %job_id, %error, "could not release the lease");
                    outcome.failed += 1;
                }
            }
        }
        match ctx.queue.extend_visibility(&receipt, Duration::ZERO).await {
            Ok(()) => outcome.made_visible += 1,
            // Deleted (the job finished) or received again since: nothing to give back.
            Err(QueueError::InvalidReceipt) => {}
            Err(error) => {
                tracing::warn!(%error, "could not make a message visible again");
                outcome.failed += 1;
            }
        }
    }
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_entries_of_tasks_that_did_not_finish_remain() {
        let registry = InFlight::default();
        let done = registry.register("r1");
        let aborted = registry.register("r2");
        let id: JobId = "job-2".parse().unwrap_or_else(|_| JobId::generate());
        aborted.claimed(&id);
        done.finish();
        drop(aborted);
        assert_eq!(registry.len(), 1);
        let held = registry.take_all();
        assert_eq!(
            held,
            vec![Held {
                receipt: "r2".into(),
                job_id: Some(id)
            }]
        );
        assert_eq!(registry.len(), 0);
    }
}
