//! The receive loop. It asks the queue for no more messages than it has free job slots, so a
//! backlog waits in the queue rather than in worker memory, backs off when the queue fails, and
//! on shutdown stops receiving and gives jobs in flight a grace period to finish.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::process::process;
use crate::{WorkerContext, WorkerSettings};

const QUEUE_RETRY_MIN: Duration = Duration::from_millis(200);
const QUEUE_RETRY_MAX: Duration = Duration::from_secs(10);

/// Runs a worker until `shutdown` is cancelled, then waits up to the grace period for jobs in
/// flight. Jobs still running after that are abandoned: their messages reappear when their
/// visibility ends and their leases expire, and another worker takes them over.
pub async fn run(ctx: WorkerContext, settings: WorkerSettings, shutdown: CancellationToken) {
    let settings = Arc::new(settings);
    let slots = Arc::new(Semaphore::new(settings.concurrency));
    let rotation = Arc::new(AtomicUsize::new(0));
    let mut jobs = JoinSet::new();
    let mut queue_retry = QUEUE_RETRY_MIN;
    tracing::info!(worker_id = %settings.worker_id, concurrency = settings.concurrency, "worker started");

    loop {
        while let Some(joined) = jobs.try_join_next() {
            if let Err(error) = joined {
                tracing::error!(%error, "job task failed");
            }
        }
        let first_slot = tokio::select! {
            () = shutdown.cancelled() => break,
            slot = Arc::clone(&slots).acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
        };
        let free = 1 + slots.available_permits();
        let max = u32::try_from(free)
            .unwrap_or(u32::MAX)
            .min(settings.receive_batch);
        let received = tokio::select! {
            () = shutdown.cancelled() => break,
            received = ctx.queue.receive(max, settings.wait_time, settings.visibility_timeout) => received,
        };
        let messages = match received {
            Ok(messages) => {
                queue_retry = QUEUE_RETRY_MIN;
                messages
            }
            Err(error) => {
                tracing::warn!(%error, retry_in_ms = queue_retry.as_millis(), "receive failed");
                drop(first_slot);
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    () = tokio::time::sleep(queue_retry) => {}
                }
                queue_retry = (queue_retry * 2).min(QUEUE_RETRY_MAX);
                continue;
            }
        };
        let mut first_slot = Some(first_slot);
        for msg in messages {
            let slot = match first_slot.take() {
                Some(slot) => slot,
                None => match take_slot(&slots).await {
                    Some(slot) => slot,
                    None => break,
                },
            };
            let (ctx, settings) = (ctx.clone(), Arc::clone(&settings));
            let start = rotation.fetch_add(1, Ordering::Relaxed);
            jobs.spawn(async move {
                process(&ctx, &settings, msg, start).await;
                drop(slot);
            });
        }
    }

    tracing::info!(
        in_flight = jobs.len(),
        grace_secs = settings.shutdown_grace.as_secs(),
        "worker stopping"
    );
    let drained = tokio::time::timeout(settings.shutdown_grace, async {
        while jobs.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            abandoned = jobs.len(),
            "grace period over; abandoning jobs in flight"
        );
        jobs.abort_all();
    }
    tracing::info!("worker stopped");
}

/// A free slot: there is one, since the receive asked for no more messages than were free.
async fn take_slot(slots: &Arc<Semaphore>) -> Option<OwnedSemaphorePermit> {
    match Arc::clone(slots).try_acquire_owned() {
        Ok(slot) => Some(slot),
        Err(_) => Arc::clone(slots).acquire_owned().await.ok(),
    }
}
