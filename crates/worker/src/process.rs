//! One message, from receipt to delete: find or create its job record, claim it, dispatch it
//! while the heartbeat keeps the claim alive, write the result as the lease holder, and only
//! then delete the message. Every exit path either finishes the job or leaves the message in the
//! queue for another try; a message that cannot be understood ends as a failed job with the
//! reason (and a copy in the dead-letter queue), never as a crash loop.

use std::time::Duration;

use bedrock_lb_core::{
    Job, JobCompletion, JobError, JobId, JobResult, JobStatus, Lease, QueueMessage, StoreError,
};
use chrono::TimeDelta;
use tracing::Instrument;

use crate::dispatch::dispatch;
use crate::heartbeat::Heartbeat;
use crate::inflight::Registration;
use crate::intake::{self, Intake};
use crate::{WorkerContext, WorkerSettings};

/// Added to another worker's remaining lease when hiding a repeated message, so that the
/// message reappears only once the lease can be taken over.
const LEASE_MARGIN: Duration = Duration::from_secs(1);

/// What became of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Disposition {
    /// The job is finished (now or before); the message was deleted.
    Done,
    /// The message stays in the queue and will be received again.
    Left,
}

/// Processes one received message. `registration`
/// records the claim, so that a shutdown can hand the job back if this task is stopped.
pub(crate) async fn process(
    ctx: &WorkerContext,
    settings: &WorkerSettings,
    msg: QueueMessage,
    registration: Registration,
) -> Disposition {
    let span = tracing::info_span!(
        "job",
        job_id = tracing::field::Empty,
        model = tracing::field::Empty,
        region = tracing::field::Empty,
        message_id = %msg.message_id,
        receive_count = msg.receive_count,
    );
    async move {
        let disposition = match run_job(ctx, settings, &msg, &registration).await {
            Ok(disposition) => disposition,
            Err(error) => {
                tracing::warn!(%error, "job store unavailable; leaving the message for a retry");
                Disposition::Left
            }
        };
        if disposition == Disposition::Done {
            delete(ctx, &msg).await;
        }
        registration.finish();
        disposition
    }
    .instrument(span)
    .await
}

async fn run_job(
    ctx: &WorkerContext,
    settings: &WorkerSettings,
    msg: &QueueMessage,
    registration: &Registration,
) -> Result<Disposition, StoreError> {
    let job_id = match ensure_job(ctx, msg).await? {
        Ensured::Job(job_id) => job_id,
        Ensured::Rejected(error) => return move_to_dead_letters(ctx, msg, error).await,
    };
    tracing::Span::current().record("job_id", job_id.as_str());

    let now = ctx.clock.now();
    let lease = Lease {
        owner: settings.worker_id.clone(),
        expires_at: now
            + TimeDelta::from_std(settings.visibility_timeout).unwrap_or(TimeDelta::MAX),
    };
    let Some(job) = ctx.store.claim(&job_id, &lease, now).await? else {
        return not_claimed(ctx, msg, &job_id).await;
    };
    registration.claimed(&job_id);
    let completion = run_claimed(ctx, settings, msg, &job).await;
    let Some(completion) = completion else {
        registration.unclaimed();
        return Ok(Disposition::Left);
    };
    let written = ctx
        .store
        .complete(&job_id, &settings.worker_id, &completion)
        .await;
    registration.unclaimed();
    match written {
        Ok(()) => {
            metrics::counter!("bedrock_lb_jobs_total", "outcome" => completion.status.to_string())
                .increment(1);
            // One line per result written: the chaos test counts them.
            tracing::info!(job_id = %job_id, status = %completion.status, attempts = completion.attempts.len(), "job finished");
            Ok(Disposition::Done)
        }
        Err(StoreError::Conflict(_)) => {
            tracing::warn!("lease lost before the result was written; another worker owns the job");
            Ok(Disposition::Left)
        }
        Err(error) => Err(error),
    }
}

/// The claim failed: the job is finished already (a repeated delivery, or a cancelled job), or
/// another live worker holds its lease (the same message delivered twice). In the second case
/// the message is hidden until that lease would have run out, so that it neither races to the
/// dead-letter limit nor waits a whole default visibility if the other worker dies.
async fn not_claimed(
    ctx: &WorkerContext,
    msg: &QueueMessage,
    job_id: &JobId,
) -> Result<Disposition, StoreError> {
    let job = match ctx.store.get(job_id).await? {
        Some(job) if job.status.is_terminal() => {
            tracing::info!(status = %job.status, "job already finished; dropping the repeated message");
            return Ok(Disposition::Done);
        }
        None => return Ok(Disposition::Done),
        Some(job) => job,
    };
    let Some(lease) = job.lease.filter(|_| job.status == JobStatus::Running) else {
        return Ok(Disposition::Left);
    };
    let remaining = (lease.expires_at - ctx.clock.now())
        .to_std()
        .unwrap_or_default();
    let hide_for = remaining + LEASE_MARGIN;
    tracing::info!(
        holder = %lease.owner,
        hide_ms = u64::try_from(hide_for.as_millis()).unwrap_or(u64::MAX),
        "job is leased by another worker; hiding the message until the lease ends"
    );
    if let Err(error) = ctx.queue.extend_visibility(&msg.receipt, hide_for).await {
        tracing::warn!(%error, "could not hide the repeated message");
    }
    Ok(Disposition::Left)
}

/// Dispatches a claimed job under a heartbeat; `None` when the lease was lost meanwhile.
async fn run_claimed(
    ctx: &WorkerContext,
    settings: &WorkerSettings,
    msg: &QueueMessage,
    job: &Job,
) -> Option<JobCompletion> {
    let Some(request) = &job.request else {
        let error = JobError::new("invalid_request", "the job has no request to run");
        return Some(JobCompletion::failed(error, Vec::new(), ctx.clock.now()));
    };
    tracing::Span::current().record("model", request.model.as_str());
    let Some(model) = ctx.catalog.get(&request.model) else {
        let error = JobError::new(
            "unknown_model",
            format!("model `{}` is no longer configured", request.model),
        );
        return Some(JobCompletion::failed(error, Vec::new(), ctx.clock.now()));
    };
    let now = ctx.clock.now();
    if let Some(deadline) = request.deadline
        && request.is_past_deadline(now)
    {
        tracing::info!(%deadline, "deadline passed before dispatch; the job expires");
        return Some(JobCompletion::expired(deadline, Vec::new(), now));
    }
    let queued_for = (now - job.created_at).to_std().unwrap_or_default();
    metrics::histogram!("bedrock_lb_queue_wait_seconds").record(queued_for.as_secs_f64());
    let heartbeat = Heartbeat::start(
        ctx.clone(),
        job.job_id.clone(),
        msg.receipt.clone(),
        settings.worker_id.clone(),
        settings.visibility_timeout,
    );
    let lost = heartbeat.lost();
    let dispatched = tokio::select! {
        dispatched = dispatch(&ctx.router, ctx.invoker.as_ref(), ctx.clock.as_ref(), model, request, &settings.retry) => dispatched,
        () = lost.cancelled() => return None,
    };
    drop(heartbeat);
    let now = ctx.clock.now();
    Some(match dispatched.outcome {
        Ok((bucket, output)) => JobCompletion::succeeded(
            JobResult {
                text: output.text,
                stop_reason: output.stop_reason,
                region: bucket.region,
                model_id: bucket.model_id,
                usage: output.usage,
                latency_ms: output.latency_ms,
            },
            dispatched.attempts,
            now,
        ),
        Err(error) => JobCompletion::failed(error, dispatched.attempts, now),
    })
}

/// What a message's job is.
enum Ensured {
    /// The job to claim.
    Job(JobId),
    /// The message cannot become a runnable job; its job is recorded as failed with `0`.
    Rejected(JobError),
}

/// Finds the job a message is for, creating the record for messages that producers wrote
/// straight to the queue.
async fn ensure_job(ctx: &WorkerContext, msg: &QueueMessage) -> Result<Ensured, StoreError> {
    let Intake { job_id, request } = intake::read(msg);
    let request = match request {
        Ok(request) => request,
        Err(error) => {
            tracing::warn!(job_id = %job_id, reason = %error.message, "message cannot be understood");
            intake::record_rejected(ctx, job_id, error.clone()).await?;
            return Ok(Ensured::Rejected(error));
        }
    };
    if ctx.store.get(&job_id).await?.is_some() {
        return Ok(Ensured::Job(job_id));
    }
    match intake::validate(request, &ctx.catalog) {
        Ok(request) => {
            let job = Job::queued(job_id.clone(), request, ctx.clock.now());
            match ctx.store.create(&job).await {
                Ok(()) | Err(StoreError::AlreadyExists(_)) => Ok(Ensured::Job(job_id)),
                Err(error) => Err(error),
            }
        }
        Err(error) => {
            tracing::warn!(job_id = %job_id, "message holds an invalid request");
            intake::record_rejected(ctx, job_id, error.clone()).await?;
            Ok(Ensured::Rejected(error))
        }
    }
}

/// A message whose job was recorded as failed because it cannot be understood: a copy of its
/// body goes to the dead-letter queue for inspection, and the original is deleted, so it is
/// neither lost nor processed again. The copy has a message id of its own, so the same failed
/// record (with `error`) is written under it too: the dead-letter drain then finds a finished
/// job and leaves the copy alone. Without a dead-letter queue the failed record alone keeps the
/// reason. If the copy cannot be sent, the message stays for another try.
async fn move_to_dead_letters(
    ctx: &WorkerContext,
    msg: &QueueMessage,
    error: JobError,
) -> Result<Disposition, StoreError> {
    let Some(dead_letters) = &ctx.dead_letters else {
        return Ok(Disposition::Done);
    };
    match dead_letters.send(msg.body.clone()).await {
        Ok(copy_id) => {
            tracing::info!(dead_letter_id = %copy_id, "message moved to the dead-letter queue");
            if let Ok(copy_id) = copy_id.parse::<JobId>() {
                intake::record_rejected(ctx, copy_id, error).await?;
            }
            Ok(Disposition::Done)
        }
        Err(error) => {
            tracing::warn!(%error, "could not copy the message to the dead-letter queue; leaving it");
            Ok(Disposition::Left)
        }
    }
}

async fn delete(ctx: &WorkerContext, msg: &QueueMessage) {
    if let Err(error) = ctx.queue.delete(&msg.receipt).await {
        // The message will come back; its job is finished, so it will be dropped then.
        tracing::warn!(%error, "could not delete the message");
    }
}
