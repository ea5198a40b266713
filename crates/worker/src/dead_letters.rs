//! The dead-letter drain: fails the jobs whose messages were dead-lettered, so that no job stays
//! `queued` or `running` forever once its message has left the work queue.
//!
//! It receives one message at a time with a long poll, so it adds next to no load. For each
//! message it finds the job (the body's `job_id`, else the message id, as for the work queue),
//! fails it with type `dead_lettered` unless it finished or a live worker still holds it, and
//! creates the failed record if the job was never recorded. The message is then hidden for
//! [`KEEP_HIDDEN`], never deleted: it stays in the dead-letter queue for inspection (and its
//! alarm), and a later receipt is harmless because the job is finished by then. A job that a
//! live worker still holds is looked at again once that worker's lease would have run out.

use std::sync::Arc;
use std::time::Duration;

use bedrock_lb_core::{Job, JobError, JobQueue, QueueMessage, StoreError};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::WorkerContext;
use crate::intake::{self, Intake};

/// Default long-poll wait of one dead-letter receive (SQS's longest).
pub const DEFAULT_WAIT: Duration = Duration::from_secs(20);

/// How long a dead-lettered message is hidden once its job is dealt with: 11 h, because SQS
/// caps a message's visibility at 12 h counted from its receipt (the receive's own visibility
/// included), so a full 12 h extension is refused.
pub const KEEP_HIDDEN: Duration = Duration::from_secs(11 * 60 * 60);

/// Visibility while a message is being dealt with: it comes back this soon if the worker dies
/// or the job store fails meanwhile.
const WORKING_VISIBILITY: Duration = Duration::from_secs(60);

/// Pause after a failed receive.
const RETRY_DELAY: Duration = Duration::from_secs(30);

/// Added to a live lease's remaining time before its job is looked at again.
const LEASE_MARGIN: Duration = Duration::from_secs(5);

/// Drains `dead_letters` until `shutdown` is cancelled, long-polling up to `wait` per receive.
pub async fn drain(
    ctx: WorkerContext,
    dead_letters: Arc<dyn JobQueue>,
    wait: Duration,
    shutdown: CancellationToken,
) {
    tracing::info!(wait_secs = wait.as_secs(), "draining the dead-letter queue");
    loop {
        let started = Instant::now();
        let received = tokio::select! {
            () = shutdown.cancelled() => return,
            received = dead_letters.receive(1, wait, WORKING_VISIBILITY) => received,
        };
        let pause = match received {
            Ok(messages) if messages.is_empty() => {
                // A queue that answers at once when empty must not make this loop spin.
                wait.saturating_sub(started.elapsed())
            }
            Ok(messages) => {
                for msg in messages {
                    let hide_for = match handle(&ctx, &msg).await {
                        Ok(hide_for) => hide_for,
                        Err(error) => {
                            tracing::warn!(%error, message_id = %msg.message_id, "job store unavailable; the dead letter comes back later");
                            WORKING_VISIBILITY
                        }
                    };
                    if let Err(error) = dead_letters.extend_visibility(&msg.receipt, hide_for).await
                    {
                        tracing::warn!(%error, message_id = %msg.message_id, "could not hide the dead letter");
                    }
                }
                Duration::ZERO
            }
            Err(error) => {
                tracing::warn!(%error, "dead-letter receive failed");
                RETRY_DELAY
            }
        };
        if !pause.is_zero() {
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(pause) => {}
            }
        }
    }
}

/// Deals with one dead letter; returns how long to hide it.
pub(crate) async fn handle(
    ctx: &WorkerContext,
    msg: &QueueMessage,
) -> Result<Duration, StoreError> {
    let Intake { job_id, request } = intake::read(msg);
    let now = ctx.clock.now();
    let error = JobError::new("dead_lettered", dead_lettered_reason(msg.receive_count));
    if ctx.store.fail_abandoned(&job_id, &error, now).await? {
        tracing::info!(job_id = %job_id, "job failed: its message was dead-lettered");
        return Ok(KEEP_HIDDEN);
    }
    match ctx.store.get(&job_id).await? {
        Some(job) if job.status.is_terminal() => Ok(KEEP_HIDDEN),
        Some(job) => {
            // A live worker holds it: its result may still come. Look again once its lease
            // would have run out.
            let remaining = job
                .lease
                .map(|lease| (lease.expires_at - now).to_std().unwrap_or_default())
                .unwrap_or_default();
            tracing::info!(job_id = %job_id, "dead letter of a job still running; looking again later");
            Ok(remaining + LEASE_MARGIN)
        }
        None => {
            // Never recorded (the store failed every time the message was received): record it
            // now, failed, with the request when it can be read.
            match request.and_then(|request| intake::validate(request, &ctx.catalog)) {
                Ok(request) => {
                    let job = Job::queued(job_id.clone(), request, now);
                    match ctx.store.create(&job).await {
                        Ok(()) | Err(StoreError::AlreadyExists(_)) => {}
                        Err(error) => return Err(error),
                    }
                    ctx.store.fail_abandoned(&job_id, &error, now).await?;
                }
                Err(reason) => intake::record_rejected(ctx, job_id.clone(), reason).await?,
            }
            tracing::info!(job_id = %job_id, "dead letter without a job: recorded it as failed");
            Ok(KEEP_HIDDEN)
        }
    }
}

/// Why a dead-lettered job failed. SQS keeps a redriven message's receive count (this receipt
/// raised it by one); the embedded dead-letter queue counts its own receipts only, so a count
/// of 1 says nothing about the work queue.
fn dead_lettered_reason(receive_count: u32) -> String {
    match receive_count.checked_sub(1).filter(|&n| n > 1) {
        Some(n) => format!("the message was received {n} times without the job finishing"),
        None => "the message was received too many times without the job finishing".to_owned(),
    }
}
