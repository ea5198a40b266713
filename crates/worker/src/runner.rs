//! The receive loop. It asks the queue for no more messages than it has free job slots, and
//! none while more than a receive's worth of jobs wait for a bucket with room, so a backlog
//! waits in the queue rather than in worker memory; it backs off when the queue fails, and
//! on shutdown stops receiving, gives jobs in flight a grace period to finish, and hands the
//! rest back (lease released, message visible at once). It also runs the dead-letter drain.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::dead_letters;
use crate::inflight::{InFlight, hand_back};
use crate::process::process;
use crate::{WorkerContext, WorkerSettings};

const QUEUE_RETRY_MIN: Duration = Duration::from_millis(200);
const QUEUE_RETRY_MAX: Duration = Duration::from_secs(10);

/// Runs a worker until `shutdown` is cancelled, then waits up to the grace period for jobs in
/// flight. Jobs still running after that are stopped and handed back: their leases are
/// released and their messages made visible at once, so another worker takes them over
/// without waiting for a lease or a visibility timeout to run out.
pub async fn run(ctx: WorkerContext, settings: WorkerSettings, shutdown: CancellationToken) {
    let settings = Arc::new(settings);
    let slots = Arc::new(Semaphore::new(settings.concurrency));
    let in_flight = InFlight::default();
    let mut jobs = JoinSet::new();
    let mut queue_retry = QUEUE_RETRY_MIN;
    tracing::info!(worker_id = %settings.worker_id, concurrency = settings.concurrency, "worker started");
    let sync_stop = CancellationToken::new();
    let sync = crate::quota_sync::start(
        &ctx,
        &settings.worker_id,
        &settings.quota,
        sync_stop.clone(),
    )
    .await;
    // Jobs waiting for room beyond this many mean the buckets are full: receiving more would
    // only move the backlog from the queue into this worker's memory.
    let waiting_limit = usize::try_from(settings.receive_batch)
        .unwrap_or(usize::MAX)
        .max(1);
    let drain = ctx.dead_letters.clone().map(|dlq| {
        tokio::spawn(dead_letters::drain(
            ctx.clone(),
            dlq,
            settings.dead_letter_wait,
            shutdown.child_token(),
        ))
    });

    loop {
        while let Some(joined) = jobs.try_join_next() {
            if let Err(error) = joined {
                tracing::error!(%error, "job task failed");
            }
        }
        tokio::select! {
            () = shutdown.cancelled() => break,
            () = ctx.router.wait_until_fewer_waiting_than(waiting_limit) => {}
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
            let registration = in_flight.register(&msg.receipt);
            jobs.spawn(async move {
                process(&ctx, &settings, msg, registration).await;
                drop(slot);
            });
        }
    }

    let running = jobs.len();
    tracing::info!(
        in_flight = running,
        grace_secs = settings.shutdown_grace.as_secs(),
        "worker stopping"
    );
    let drained = tokio::time::timeout(settings.shutdown_grace, async {
        while jobs.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        jobs.abort_all();
        while jobs.join_next().await.is_some() {}
    }
    // Whatever is still registered was stopped (or its task panicked) before it dealt with its
    // message.
    let unfinished = in_flight.take_all();
    let stopped = unfinished.len();
    let handed = hand_back(&ctx, &settings.worker_id, unfinished).await;
    if let Some(drain) = drain
        && let Err(error) = drain.await
    {
        tracing::error!(%error, "dead-letter drain task failed");
    }
    sync_stop.cancel();
    if let Some(sync) = sync
        && let Err(error) = sync.await
    {
        tracing::error!(%error, "quota sync task failed");
    }
    tracing::info!(
        finished_in_grace = running.saturating_sub(stopped),
        handed_back = stopped,
        released = handed.released,
        made_visible = handed.made_visible,
        hand_back_failures = handed.failed,
        "worker stopped"
    );
}

/// A free slot: there is one, since the receive asked for no more messages than were free.
async fn take_slot(slots: &Arc<Semaphore>) -> Option<OwnedSemaphorePermit> {
    match Arc::clone(slots).try_acquire_owned() {
        Ok(slot) => Some(slot),
        Err(_) => Arc::clone(slots).acquire_owned().await.ok(),
    }
}
