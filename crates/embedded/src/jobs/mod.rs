//! The embedded job store: job records in the SQLite file, with the conditional writes the
//! worker relies on (create-if-absent, claim-if-claimable, write-only-as-lease-holder).
//!
//! Every conditional write reads, checks and writes the record in one `BEGIN IMMEDIATE`
//! transaction, so two workers (even in two processes) can never both win a claim.

mod sql;

use async_trait::async_trait;
use bedrock_lb_core::{
    Job, JobCompletion, JobError, JobId, JobStatus, JobStore, Lease, StoreError,
};
use chrono::{DateTime, Utc};

use crate::db::EmbeddedDb;

/// The SQLite-backed [`JobStore`]. Clone is cheap.
#[derive(Debug, Clone)]
pub struct EmbeddedJobStore {
    db: EmbeddedDb,
}

impl EmbeddedJobStore {
    pub(crate) fn new(db: EmbeddedDb) -> Self {
        Self { db }
    }

    /// Applies `change` to the job atomically; `None` when the job is missing or `change`
    /// declined (returned false).
    async fn modify<F>(&self, id: &JobId, change: F) -> Result<Option<Job>, StoreError>
    where
        F: FnOnce(&mut Job) -> bool + Send + 'static,
    {
        let id = id.clone();
        Ok(self
            .db
            .run(move |conn| sql::modify(conn, &id, change))
            .await?)
    }
}

/// Whether `job` is running under a lease held by `owner`.
fn held_by(job: &Job, owner: &str) -> bool {
    job.status == JobStatus::Running && job.lease.as_ref().is_some_and(|l| l.owner == owner)
}

#[async_trait]
impl JobStore for EmbeddedJobStore {
    async fn create(&self, job: &Job) -> Result<(), StoreError> {
        let stored = job.clone();
        let inserted = self.db.run(move |conn| sql::insert(conn, &stored)).await?;
        if inserted {
            Ok(())
        } else {
            Err(StoreError::AlreadyExists(job.job_id.clone()))
        }
    }

    async fn get(&self, id: &JobId) -> Result<Option<Job>, StoreError> {
        let id = id.clone();
        Ok(self.db.run(move |conn| sql::get(conn, &id)).await?)
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
        let lease = lease.clone();
        self.modify(id, move |job| {
            if !held_by(job, &lease.owner) {
                return false;
            }
            job.lease = Some(lease);
            true
        })
        .await?
        .map(drop)
        .ok_or_else(|| StoreError::Conflict(id.clone()))
    }

    async fn complete(
        &self,
        id: &JobId,
        owner: &str,
        completion: &JobCompletion,
    ) -> Result<(), StoreError> {
        let owner = owner.to_owned();
        let completion = completion.clone();
        self.modify(id, move |job| {
            if !held_by(job, &owner) {
                return false;
            }
            job.complete(completion);
            true
        })
        .await?
        .map(drop)
        .ok_or_else(|| StoreError::Conflict(id.clone()))
    }

    async fn close_queued(
        &self,
        id: &JobId,
        status: JobStatus,
        error: &JobError,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let error = error.clone();
        self.modify(id, move |job| {
            if job.status != JobStatus::Queued {
                return false;
            }
            job.status = status;
            job.error = Some(error);
            job.lease = None;
            job.updated_at = now;
            true
        })
        .await?
        .map(drop)
        .ok_or_else(|| StoreError::Conflict(id.clone()))
    }
}
