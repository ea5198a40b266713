//! Accepting jobs, for `POST /invoke` (one) and `POST /batch` (many): the idempotency record,
//! the job records, the queue messages, and the closing of jobs whose message could not be
//! sent.
//!
//! Order matters, so that a crash at any point leaves nothing inconsistent:
//! 1. ids are generated first and the idempotency record (if any) is stored with them, so a
//!    retry after a crash finds the same ids;
//! 2. the records are written before the messages, so a worker always finds its record;
//! 3. a job whose message could not be sent is closed `failed` (`enqueue_failed`), so no job
//!    stays `queued` without a message, and the caller is told which jobs were not queued.
//!
//! The writes run in a task of their own: a server drops a handler when its client hangs up,
//! and a submission stopped between the records and the messages would leave jobs `queued`
//! with no message (a client that times out mid-batch did exactly that). Once started, a
//! submission finishes whether or not anyone is still waiting for the answer.

use std::collections::BTreeMap;

use bedrock_lb_core::{
    IdempotencyRecord, Job, JobError, JobId, JobRequest, JobStatus, QueueError, SendOutcome,
    StoreError, message,
};

use crate::ApiState;
use crate::error::ApiError;

/// What to accept.
#[derive(Debug)]
pub struct Submission {
    /// The caller, recorded as the jobs' owner.
    pub owner: Option<String>,
    /// The batch the jobs belong to (`POST /batch`), `None` for `POST /invoke`.
    pub batch_id: Option<String>,
    /// The validated requests, in order.
    pub requests: Vec<JobRequest>,
    /// The scoped `Idempotency-Key` and the request's hash, if the caller sent a key.
    pub idempotency: Option<(String, String)>,
}

/// What became of a submission.
#[derive(Debug)]
pub struct Submitted {
    pub batch_id: Option<String>,
    /// One id per request, in order.
    pub job_ids: Vec<JobId>,
    /// The jobs that are not on the queue, with whether their record says so (`failed`
    /// `enqueue_failed`); empty when every job was queued.
    pub not_queued: Vec<(JobId, bool)>,
    /// Whether this answers a repeat of an earlier submission with the same key.
    pub replayed: bool,
}

/// The error a job gets when its message could not be sent.
pub const ENQUEUE_FAILED: &str = "enqueue_failed";

/// Accepts `submission`: see the module docs for the order of the writes, and why they run to
/// the end even if the caller goes away.
pub async fn submit(state: &ApiState, submission: Submission) -> Result<Submitted, ApiError> {
    tokio::spawn(submit_to_the_end(state.clone(), submission))
        .await
        .map_err(|e| ApiError::Internal(format!("the submission task failed: {e}")))?
}

async fn submit_to_the_end(state: ApiState, submission: Submission) -> Result<Submitted, ApiError> {
    let state = &state;
    let now = state.clock.now();
    let ids: Vec<JobId> = submission
        .requests
        .iter()
        .map(|_| JobId::generate())
        .collect();
    if let Some((key, hash)) = &submission.idempotency {
        let ttl = chrono::Duration::from_std(state.idempotency_ttl)
            .map_err(|e| ApiError::Internal(format!("idempotency ttl: {e}")))?;
        let record = IdempotencyRecord {
            key: key.clone(),
            request_hash: hash.clone(),
            job_ids: ids.clone(),
            batch_id: submission.batch_id.clone(),
            created_at: now,
            expires_at: now + ttl,
        };
        if let Some(existing) = state.store.put_idempotency(&record, now).await? {
            if existing.request_hash != *hash || existing.job_ids.len() != ids.len() {
                return Err(ApiError::IdempotencyKeyReused);
            }
            return replay(state, existing, submission).await;
        }
    }
    let jobs: Vec<Job> = ids
        .iter()
        .zip(&submission.requests)
        .map(|(id, request)| new_job(id, request, &submission, now))
        .collect();
    let bodies: Vec<String> = jobs
        .iter()
        .zip(&submission.requests)
        .map(|(job, request)| message::encode(&job.job_id, request))
        .collect();
    let outcomes: Vec<SendOutcome> = if let [job] = jobs.as_slice() {
        state.store.create(job).await?;
        vec![state.queue.send(bodies[0].clone()).await]
    } else {
        state.store.create_batch(&jobs).await?;
        state.queue.send_batch(&bodies).await
    };
    let mut not_queued = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        let outcome = outcomes.get(i).cloned().unwrap_or_else(|| {
            Err(QueueError::Unavailable(
                "the queue gave no outcome for this message".into(),
            ))
        });
        if let Err(error) = outcome {
            let closed = close_unqueued(state, id, &error).await;
            not_queued.push((id.clone(), closed));
        }
    }
    Ok(Submitted {
        batch_id: submission.batch_id,
        job_ids: ids,
        not_queued,
        replayed: false,
    })
}

fn new_job(
    id: &JobId,
    request: &JobRequest,
    submission: &Submission,
    now: chrono::DateTime<chrono::Utc>,
) -> Job {
    let job = Job::queued(id.clone(), request.clone(), now).owned_by(submission.owner.clone());
    match &submission.batch_id {
        Some(batch_id) => job.in_batch(batch_id.clone()),
        None => job,
    }
}

/// Answers a repeat of the submission that stored `existing`: the same ids, and nothing new
/// queued, except jobs whose records are missing (the first attempt stopped between the
/// idempotency record and the job writes), which are created and sent now under their ids.
async fn replay(
    state: &ApiState,
    existing: IdempotencyRecord,
    submission: Submission,
) -> Result<Submitted, ApiError> {
    let batch_id = existing.batch_id.clone();
    let submission = Submission {
        batch_id: batch_id.clone(),
        ..submission
    };
    let found = existing_jobs(state, &existing).await?;
    let now = state.clock.now();
    let mut not_queued = Vec::new();
    let mut repaired = 0_usize;
    for (id, request) in existing.job_ids.iter().zip(&submission.requests) {
        match found.get(id) {
            Some(job) => {
                let enqueue_failed = job.status == JobStatus::Failed
                    && job.error.as_ref().is_some_and(|e| e.kind == ENQUEUE_FAILED);
                if enqueue_failed {
                    not_queued.push((id.clone(), true));
                }
            }
            None => {
                let job = new_job(id, request, &submission, now);
                match state.store.create(&job).await {
                    Ok(()) => {}
                    // A concurrent repeat created it first, and sends its message.
                    Err(StoreError::AlreadyExists(_)) => continue,
                    Err(other) => return Err(other.into()),
                }
                repaired += 1;
                if let Err(error) = state.queue.send(message::encode(id, request)).await {
                    let closed = close_unqueued(state, id, &error).await;
                    not_queued.push((id.clone(), closed));
                }
            }
        }
    }
    tracing::info!(
        jobs = existing.job_ids.len(),
        repaired,
        "idempotent repeat answered with the first submission's jobs"
    );
    Ok(Submitted {
        batch_id,
        job_ids: existing.job_ids,
        not_queued,
        replayed: true,
    })
}

/// The records that exist of the jobs `record` names.
async fn existing_jobs(
    state: &ApiState,
    record: &IdempotencyRecord,
) -> Result<BTreeMap<JobId, Job>, ApiError> {
    let mut found = BTreeMap::new();
    if let Some(batch_id) = &record.batch_id {
        let mut after: Option<JobId> = None;
        loop {
            let page = state
                .store
                .list_batch(batch_id, after.as_ref(), 1000)
                .await?;
            let Some(last) = page.last() else { break };
            after = Some(last.job_id.clone());
            found.extend(page.into_iter().map(|job| (job.job_id.clone(), job)));
        }
    } else {
        for id in &record.job_ids {
            if let Some(job) = state.store.get(id).await? {
                found.insert(id.clone(), job);
            }
        }
    }
    Ok(found)
}

/// Ends a job whose message could not be sent, so that it does not stay `queued` forever.
/// Returns whether the record now says `failed`.
pub async fn close_unqueued(state: &ApiState, id: &JobId, error: &QueueError) -> bool {
    let reason = JobError::new(
        ENQUEUE_FAILED,
        "the job could not be put on the queue; submit it again",
    );
    let closed = state
        .store
        .close_queued(id, JobStatus::Failed, &reason, state.clock.now())
        .await;
    match closed {
        Ok(()) => {
            tracing::warn!(job_id = %id, error = %error, "job not queued; marked failed");
            true
        }
        Err(store_error) => {
            tracing::error!(
                job_id = %id,
                error = %error,
                store_error = %store_error,
                "job not queued and could not be marked failed"
            );
            false
        }
    }
}
