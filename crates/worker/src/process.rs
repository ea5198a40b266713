//! One message, from receipt to delete: find or create its job record, claim it, dispatch it
//! while the heartbeat keeps the claim alive, write the result as the lease holder, and only
//! then delete the message. Every exit path either finishes the job or leaves the message in the
//! queue for another try; a message that cannot be understood ends as a failed job with the
//! reason, never as a crash loop.

use bedrock_lb_core::message::{self, MessageBody};
use bedrock_lb_core::{
    Job, JobCompletion, JobError, JobId, JobResult, JobStatus, Lease, QueueMessage, StoreError,
};
use chrono::TimeDelta;
use tracing::Instrument;

use crate::dispatch::dispatch;
use crate::heartbeat::Heartbeat;
use crate::{WorkerContext, WorkerSettings};

/// What became of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Disposition {
    /// The job is finished (now or before); the message was deleted.
    Done,
    /// The message stays in the queue and will be received again.
    Left,
}

/// Processes one received message; `start` spreads jobs over the buckets.
pub(crate) async fn process(
    ctx: &WorkerContext,
    settings: &WorkerSettings,
    msg: QueueMessage,
    start: usize,
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
        let disposition = match run_job(ctx, settings, &msg, start).await {
            Ok(disposition) => disposition,
            Err(error) => {
                tracing::warn!(%error, "job store unavailable; leaving the message for a retry");
                Disposition::Left
            }
        };
        if disposition == Disposition::Done {
            delete(ctx, &msg).await;
        }
        disposition
    }
    .instrument(span)
    .await
}

async fn run_job(
    ctx: &WorkerContext,
    settings: &WorkerSettings,
    msg: &QueueMessage,
    start: usize,
) -> Result<Disposition, StoreError> {
    let Some(job_id) = ensure_job(ctx, msg).await? else {
        return Ok(Disposition::Done);
    };
    tracing::Span::current().record("job_id", job_id.as_str());

    let now = ctx.clock.now();
    let lease = Lease {
        owner: settings.worker_id.clone(),
        expires_at: now
            + TimeDelta::from_std(settings.visibility_timeout).unwrap_or(TimeDelta::MAX),
    };
    let Some(job) = ctx.store.claim(&job_id, &lease, now).await? else {
        // Finished already (a repeated delivery), or running under another worker's live lease.
        return Ok(match ctx.store.get(&job_id).await? {
            Some(job) if job.status.is_terminal() => {
                tracing::info!(status = %job.status, "job already finished; dropping the repeated message");
                Disposition::Done
            }
            None => Disposition::Done,
            Some(_) => {
                tracing::info!("job is leased by another worker; leaving the message");
                Disposition::Left
            }
        });
    };
    let completion = run_claimed(ctx, settings, msg, &job, start).await;
    let Some(completion) = completion else {
        return Ok(Disposition::Left);
    };
    match ctx
        .store
        .complete(&job_id, &settings.worker_id, &completion)
        .await
    {
        Ok(()) => {
            tracing::info!(status = %completion.status, attempts = completion.attempts.len(), "job finished");
            Ok(Disposition::Done)
        }
        Err(StoreError::Conflict(_)) => {
            tracing::warn!("lease lost before the result was written; another worker owns the job");
            Ok(Disposition::Left)
        }
        Err(error) => Err(error),
    }
}

/// Dispatches a claimed job under a heartbeat; `None` when the lease was lost meanwhile.
async fn run_claimed(
    ctx: &WorkerContext,
    settings: &WorkerSettings,
    msg: &QueueMessage,
    job: &Job,
    start: usize,
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
    let heartbeat = Heartbeat::start(
        ctx.clone(),
        job.job_id.clone(),
        msg.receipt.clone(),
        settings.worker_id.clone(),
        settings.visibility_timeout,
    );
    let lost = heartbeat.lost();
    let dispatched = tokio::select! {
        dispatched = dispatch(ctx.invoker.as_ref(), ctx.clock.as_ref(), model, request, &settings.retry, start) => dispatched,
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

/// Finds the job a message is for, creating the record for messages that producers wrote
/// straight to the queue. `None` when the message cannot become a runnable job (its job is
/// recorded as failed with the reason).
async fn ensure_job(ctx: &WorkerContext, msg: &QueueMessage) -> Result<Option<JobId>, StoreError> {
    let fallback_id = || {
        msg.message_id
            .parse::<JobId>()
            .unwrap_or_else(|_| JobId::generate())
    };
    let MessageBody { job_id, request } = match message::decode(&msg.body) {
        Ok(body) => body,
        Err(error) => {
            let job_id = fallback_id();
            tracing::warn!(job_id = %job_id, %error, "message cannot be understood");
            record_rejected(
                ctx,
                job_id,
                JobError::new("invalid_message", error.to_string()),
            )
            .await?;
            return Ok(None);
        }
    };
    let job_id = job_id.unwrap_or_else(fallback_id);
    if ctx.store.get(&job_id).await?.is_some() {
        return Ok(Some(job_id));
    }
    match request.validate(&ctx.catalog) {
        Ok(request) => {
            let job = Job::queued(job_id.clone(), request, ctx.clock.now());
            match ctx.store.create(&job).await {
                Ok(()) | Err(StoreError::AlreadyExists(_)) => Ok(Some(job_id)),
                Err(error) => Err(error),
            }
        }
        Err(error) => {
            tracing::warn!(job_id = %job_id, field = %error.field, "message holds an invalid request");
            let message = format!("{}: {}", error.field, error.message);
            record_rejected(ctx, job_id, JobError::new("validation_error", message)).await?;
            Ok(None)
        }
    }
}

async fn record_rejected(
    ctx: &WorkerContext,
    job_id: JobId,
    error: JobError,
) -> Result<(), StoreError> {
    let job = Job::rejected(job_id, error, ctx.clock.now());
    debug_assert_eq!(job.status, JobStatus::Failed);
    match ctx.store.create(&job).await {
        Ok(()) | Err(StoreError::AlreadyExists(_)) => Ok(()),
        Err(error) => Err(error),
    }
}

async fn delete(ctx: &WorkerContext, msg: &QueueMessage) {
    if let Err(error) = ctx.queue.delete(&msg.receipt).await {
        // The message will come back; its job is finished, so it will be dropped then.
        tracing::warn!(%error, "could not delete the message");
    }
}
