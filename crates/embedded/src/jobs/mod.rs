//! The embedded job store: job records in the SQLite file, with the conditional writes the
//! worker relies on (create-if-absent, claim-if-claimable, write-only-as-lease-holder).
//!
//! Every conditional write reads, checks and writes the record in one `BEGIN IMMEDIATE`
//! transaction, so two workers (even in two processes) can never both win a claim. Finished
//! jobs get a TTL (`ttl_s`, epoch seconds) that [`EmbeddedJobStore::purge_finished`] sweeps,
//! the local twin of DynamoDB's TTL.

mod idempotency;
mod sql;

use std::time::Duration;

use async_trait::async_trait;
use bedrock_lb_core::{
    IdempotencyRecord, Job, JobCompletion, JobError, JobId, JobStatus, JobStore, Lease, StoreError,
};
use chrono::{DateTime, Utc};

use crate::db::{EmbeddedDb, to_ms};
use crate::error::EmbeddedError;

/// How long a finished job is kept by default (7 days), as in the configuration.
pub const DEFAULT_JOB_TTL: Duration = Duration::from_secs(7 * 24 * 60 * 60);

/// The SQLite-backed [`JobStore`]. Clone is cheap.
#[derive(Debug, Clone)]
pub struct EmbeddedJobStore {
    db: EmbeddedDb,
    /// How long after it finished a job may be purged, in seconds.
    job_ttl_secs: i64,
}

impl EmbeddedJobStore {
    pub(crate) fn new(db: EmbeddedDb) -> Self {
        Self {
            db,
            job_ttl_secs: ttl_secs(DEFAULT_JOB_TTL),
        }
    }

    /// Keeps finished jobs for `ttl` after they finish (stamped on every terminal write and
    /// honoured by [`Self::purge_finished`]) instead of [`DEFAULT_JOB_TTL`].
    #[must_use]
    pub fn with_job_ttl(mut self, ttl: Duration) -> Self {
        self.job_ttl_secs = ttl_secs(ttl);
        self
    }

    /// Deletes finished jobs whose TTL has passed at `now`, and idempotency records that have
    /// expired; returns how many records went. The local mode schedules this periodically.
    pub async fn purge_finished(&self, now: DateTime<Utc>) -> Result<usize, EmbeddedError> {
        let (now_s, now_ms) = (now.timestamp(), to_ms(now));
        let purged = self
            .db
            .run(move |conn| sql::purge(conn, now_s, now_ms))
            .await?;
        if purged > 0 {
            tracing::info!(purged, "purged finished jobs and expired idempotency keys");
        }
        Ok(purged)
    }

    /// The TTL (epoch seconds) stored for job `id`: `None` while it is unfinished or missing.
    /// Exposed so tests and diagnostics can see when a job will be purged.
    pub async fn ttl_of(&self, id: &JobId) -> Result<Option<i64>, EmbeddedError> {
        let id = id.clone();
        self.db.run(move |conn| sql::ttl(conn, &id)).await
    }

    /// Applies `change` to the job atomically; `None` when the job is missing or `change`
    /// declined (returned false).
    async fn modify<F>(&self, id: &JobId, change: F) -> Result<Option<Job>, StoreError>
    where
        F: FnOnce(&mut Job) -> bool + Send + 'static,
    {
        let id = id.clone();
        let job_ttl_secs = self.job_ttl_secs;
        Ok(self
            .db
            .run(move |conn| sql::modify(conn, &id, job_ttl_secs, change))
            .await?)
    }

    /// Applies `change` atomically; a missing job or a declined change is a conflict.
    async fn modify_or_conflict<F>(&self, id: &JobId, change: F) -> Result<(), StoreError>
    where
        F: FnOnce(&mut Job) -> bool + Send + 'static,
    {
        self.modify(id, change)
            .await?
            .map(drop)
            .ok_or_else(|| StoreError::Conflict(id.clone()))
    }

    /// Applies `change` to a job running under `owner`'s lease; any other job is a conflict.
    async fn modify_held<F>(&self, id: &JobId, owner: &str, change: F) -> Result<(), StoreError>
    where
        F: FnOnce(&mut Job) + Send + 'static,
    {
        let owner = owner.to_owned();
        self.modify_or_conflict(id, move |job| {
            if !held_by(job, &owner) {
                return false;
            }
            change(job);
            true
        })
        .await
    }
}

fn ttl_secs(ttl: Duration) -> i64 {
    i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX)
}

/// Ends `job` without a result: `status` with `error`, no lease.
fn close(job: &mut Job, status: JobStatus, error: JobError, now: DateTime<Utc>) {
    job.status = status;
    job.error = Some(error);
    job.lease = None;
    job.updated_at = now;
}

/// Whether `job` is running under a lease held by `owner`.
fn held_by(job: &Job, owner: &str) -> bool {
    job.status == JobStatus::Running && job.lease.as_ref().is_some_and(|l| l.owner == owner)
}

#[async_trait]
impl JobStore for EmbeddedJobStore {
    async fn create(&self, job: &Job) -> Result<(), StoreError> {
        let stored = job.clone();
        let job_ttl_secs = self.job_ttl_secs;
        let inserted = self
            .db
            .run(move |conn| sql::insert(conn, &stored, job_ttl_secs))
            .await?;
        if inserted {
            Ok(())
        } else {
            Err(StoreError::AlreadyExists(job.job_id.clone()))
        }
    }

    async fn create_batch(&self, jobs: &[Job]) -> Result<(), StoreError> {
        if jobs.is_empty() {
            return Ok(());
        }
        let stored = jobs.to_vec();
        let job_ttl_secs = self.job_ttl_secs;
        let taken = self
            .db
            .run(move |conn| sql::insert_all(conn, &stored, job_ttl_secs))
            .await?;
        // One transaction: a taken id stores nothing at all, so the caller can retry cleanly.
        match taken {
            None => Ok(()),
            Some(id) => Err(StoreError::AlreadyExists(id)),
        }
    }

    async fn get(&self, id: &JobId) -> Result<Option<Job>, StoreError> {
        let id = id.clone();
        Ok(self.db.run(move |conn| sql::get(conn, &id)).await?)
    }

    async fn list_batch(
        &self,
        batch_id: &str,
        after: Option<&JobId>,
        limit: usize,
    ) -> Result<Vec<Job>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let batch_id = batch_id.to_owned();
        let after = after.cloned();
        Ok(self
            .db
            .run(move |conn| sql::list_batch(conn, &batch_id, after.as_ref(), limit))
            .await?)
    }

    async fn claim(
        &self,
        id: &JobId,
        lease: &Lease,
        now: DateTime<Utc>,
    ) -> Result<Option<Job>, StoreError> {
        let lease = lease.clone();
        let claimed = self
            .modify(id, move |job| {
                if !job.is_claimable(now) {
                    return false;
                }
                job.status = JobStatus::Running;
                job.lease = Some(lease);
                job.updated_at = now;
                true
            })
            .await?;
        if claimed.is_some() {
            tracing::debug!(job_id = %id, "job claimed");
        }
        Ok(claimed)
    }

    async fn extend_lease(&self, id: &JobId, lease: &Lease) -> Result<(), StoreError> {
        let held = lease.clone();
        self.modify_held(id, &lease.owner, move |job| job.lease = Some(held))
            .await
    }

    async fn release(&self, id: &JobId, owner: &str) -> Result<(), StoreError> {
        let now = self.db.now();
        self.modify_held(id, owner, move |job| {
            job.status = JobStatus::Queued;
            job.lease = None;
            job.updated_at = now;
        })
        .await
    }

    async fn complete(
        &self,
        id: &JobId,
        owner: &str,
        completion: &JobCompletion,
    ) -> Result<(), StoreError> {
        let completion = completion.clone();
        self.modify_held(id, owner, move |job| job.complete(completion))
            .await
    }

    async fn close_queued(
        &self,
        id: &JobId,
        status: JobStatus,
        error: &JobError,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let error = error.clone();
        self.modify_or_conflict(id, move |job| {
            if job.status != JobStatus::Queued {
                return false;
            }
            close(job, status, error, now);
            true
        })
        .await
    }

    async fn fail_abandoned(
        &self,
        id: &JobId,
        error: &JobError,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let error = error.clone();
        let failed = self
            .modify(id, move |job| {
                if !job.is_claimable(now) {
                    return false;
                }
                close(job, JobStatus::Failed, error, now);
                true
            })
            .await?;
        if failed.is_some() {
            tracing::info!(job_id = %id, "abandoned job failed");
        }
        Ok(failed.is_some())
    }

    async fn put_idempotency(
        &self,
        record: &IdempotencyRecord,
        now: DateTime<Utc>,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        let record = record.clone();
        let now_ms = to_ms(now);
        Ok(self
            .db
            .run(move |conn| idempotency::put(conn, &record, now_ms))
            .await?)
    }
}
