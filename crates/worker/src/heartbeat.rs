//! Keeps a running job's claim alive: renews the message's visibility and the job's lease at a
//! third of the visibility timeout, so a long Bedrock call (or a long wait for quota) is neither
//! redelivered to another worker nor taken over. If the lease is lost, it says so through a
//! token, and the job stops.

use std::time::Duration;

use bedrock_lb_core::{JobId, Lease, StoreError};
use chrono::TimeDelta;
use tokio_util::sync::CancellationToken;

use crate::WorkerContext;

/// A running renewal; stops when dropped.
#[derive(Debug)]
pub(crate) struct Heartbeat {
    stop: CancellationToken,
    lost: CancellationToken,
}

impl Heartbeat {
    /// Starts renewing `receipt` and the lease on `job_id` held by `owner`.
    pub(crate) fn start(
        ctx: WorkerContext,
        job_id: JobId,
        receipt: String,
        owner: String,
        visibility: Duration,
    ) -> Self {
        let stop = CancellationToken::new();
        let lost = CancellationToken::new();
        let period = visibility / 3;
        let (stop_task, lost_task) = (stop.clone(), lost.clone());
        tokio::spawn(async move {
            let lease_length = TimeDelta::from_std(visibility).unwrap_or(TimeDelta::MAX);
            loop {
                tokio::select! {
                    () = stop_task.cancelled() => return,
                    () = tokio::time::sleep(period) => {}
                }
                let lease = Lease {
                    owner: owner.clone(),
                    expires_at: ctx.clock.now() + lease_length,
                };
                match ctx.store.extend_lease(&job_id, &lease).await {
                    Ok(()) => {}
                    Err(StoreError::Conflict(_)) => {
                        tracing::warn!(job_id = %job_id, "lease lost; abandoning the job");
                        lost_task.cancel();
                        return;
                    }
                    Err(error) => tracing::warn!(job_id = %job_id, %error, "lease renewal failed"),
                }
                if let Err(error) = ctx.queue.extend_visibility(&receipt, visibility).await {
                    tracing::warn!(job_id = %job_id, %error, "visibility renewal failed");
                }
            }
        });
        Self { stop, lost }
    }

    /// Completes when the lease has been lost to another worker.
    pub(crate) fn lost(&self) -> CancellationToken {
        self.lost.clone()
    }
}

impl Drop for Heartbeat {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}
