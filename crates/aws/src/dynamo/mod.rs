//! [`DynamoJobStore`]: the `JobStore` port on a DynamoDB table keyed by `job_id`.
//!
//! Every state change is one conditional write, so that two workers holding the same message
//! (SQS delivers at least once) cannot both run a job or both write its result: the claim
//! succeeds only for a queued job or one whose lease expired, and the lease holder alone may
//! extend or complete it. The item layout is in [`item`]; the final write in [`complete`];
//! batch writes and batch listing in [`batch`]; idempotency records (kept in the same table) in [`idempotency`]; results too
//! large for one item in [`large`].

mod batch;
mod complete;
mod expr;
mod idempotency;
mod item;
mod large;

use std::error::Error;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::ReturnValue;
use bedrock_lb_core::{
    IdempotencyRecord, Job, JobCompletion, JobError, JobId, JobStatus, JobStore, Lease, StoreError,
};
use chrono::{DateTime, Utc};

use crate::errors::chain;
use expr::Update;
pub use item::{BATCH_INDEX, TTL as TTL_ATTRIBUTE};
use item::{
    ERROR, JOB_ID, LEASE, LEASE_EXPIRES_MS, LEASE_OWNER, STATUS, TTL, UPDATED_AT, UPDATED_MS, attr,
    job_from_item, job_to_item, millis, s, ttl_attr,
};

/// How long a finished job is kept by default (7 days), as in the configuration.
pub const DEFAULT_JOB_TTL: Duration = Duration::from_secs(7 * 24 * 60 * 60);

/// Result texts above this size are measured against the item limit (see [`large`]) before
/// they are written; smaller ones cannot come near it.
const MEASURE_RESULTS_ABOVE: usize = 64 * 1024;

/// The job store on one DynamoDB table (see [`crate::provision::ensure_jobs_table`]). Cheap to
/// clone: the SDK client is shared.
#[derive(Debug, Clone)]
pub struct DynamoJobStore {
    client: aws_sdk_dynamodb::Client,
    table: String,
    /// How long after it finished a job is kept (its `ttl`), in seconds.
    job_ttl_secs: i64,
}

impl DynamoJobStore {
    /// A store on `table`, called through `client`, keeping finished jobs for
    /// [`DEFAULT_JOB_TTL`].
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
            job_ttl_secs: ttl_secs(DEFAULT_JOB_TTL),
        }
    }

    /// Keeps finished jobs for `ttl` after they finish: every terminal write stamps `ttl`
    /// (epoch seconds), which DynamoDB's TTL then deletes.
    #[must_use]
    pub fn with_job_ttl(mut self, ttl: Duration) -> Self {
        self.job_ttl_secs = ttl_secs(ttl);
        self
    }

    /// The table this store writes to.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// Runs `update` on the job `id` under `condition`; `Ok(None)` when the condition failed.
    async fn conditional_update(
        &self,
        id: &JobId,
        update: &Update,
        condition: String,
        return_new: bool,
    ) -> Result<Option<Option<Job>>, StoreError> {
        match self.try_update(id, update, condition, return_new).await? {
            Ok(job) => Ok(Some(job)),
            Err(Refused::Condition) => Ok(None),
            Err(Refused::TooLarge(message)) => Err(StoreError::Unavailable(message)),
        }
    }

    /// Runs `update` on the job `id` under `condition`, telling apart the two ways DynamoDB
    /// refuses a well-formed write.
    async fn try_update(
        &self,
        id: &JobId,
        update: &Update,
        condition: String,
        return_new: bool,
    ) -> Result<Result<Option<Job>, Refused>, StoreError> {
        let mut call = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(JOB_ID, s(id.as_str()))
            .update_expression(update.expression())
            .condition_expression(condition)
            .set_expression_attribute_names(update.names())
            .set_expression_attribute_values(update.values());
        if return_new {
            call = call.return_values(ReturnValue::AllNew);
        }
        match call.send().await {
            Ok(out) => {
                let job = out.attributes.map(job_from_item).transpose()?;
                Ok(Ok(job))
            }
            Err(err) if is_condition_failure(&err) => Ok(Err(Refused::Condition)),
            Err(err) if is_item_too_large(&err) => Ok(Err(Refused::TooLarge(chain(&err)))),
            Err(err) => Err(unavailable(err)),
        }
    }
}

/// Why DynamoDB refused a well-formed conditional write.
#[derive(Debug)]
pub(super) enum Refused {
    /// The condition did not hold (or the item is missing).
    Condition,
    /// The item would exceed DynamoDB's size limit; the error chain.
    TooLarge(String),
}

fn ttl_secs(ttl: Duration) -> i64 {
    i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX)
}

/// Whether DynamoDB refused a write because the item would exceed its size limit.
fn is_item_too_large(err: &SdkError<UpdateItemError>) -> bool {
    use aws_sdk_dynamodb::error::ProvideErrorMetadata;
    err.as_service_error().is_some_and(|e| {
        e.code() == Some("ValidationException")
            && e.message()
                .is_some_and(|m| m.to_ascii_lowercase().contains("size"))
    })
}

fn is_condition_failure(err: &SdkError<UpdateItemError>) -> bool {
    err.as_service_error()
        .is_some_and(UpdateItemError::is_conditional_check_failed_exception)
}

fn unavailable<E: Error + 'static>(err: SdkError<E>) -> StoreError {
    StoreError::Unavailable(chain(&err))
}

/// `#status = :{value}`, binding the placeholder.
fn status_is(update: &mut Update, status: JobStatus) -> String {
    let name = update.name(STATUS);
    let value = update.value(status.as_str(), s(status.as_str()));
    format!("{name} = {value}")
}

/// The job is running and `owner` holds its lease.
fn held_by(update: &mut Update, owner: &str) -> String {
    let running = status_is(update, JobStatus::Running);
    let owner_name = update.name(LEASE_OWNER);
    let owner_value = update.value("owner", s(owner));
    format!("{running} AND {owner_name} = {owner_value}")
}

/// SETs the lease map and its flat copies.
fn set_lease(update: &mut Update, lease: &Lease) -> Result<(), StoreError> {
    update
        .set(LEASE, attr(lease)?)
        .set(LEASE_EXPIRES_MS, millis(lease.expires_at));
    Ok(())
}

/// SETs `updated_at` and its flat copy.
fn set_updated(update: &mut Update, at: DateTime<Utc>) -> Result<(), StoreError> {
    update
        .set(UPDATED_AT, attr(&at)?)
        .set(UPDATED_MS, millis(at));
    Ok(())
}

#[async_trait]
impl JobStore for DynamoJobStore {
    async fn create(&self, job: &Job) -> Result<(), StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(job_to_item(job, self.job_ttl_secs)?))
            .condition_expression("attribute_not_exists(#id)")
            .expression_attribute_names("#id", JOB_ID)
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Err(StoreError::AlreadyExists(job.job_id.clone()))
            }
            Err(err) => Err(unavailable(err)),
        }
    }

    async fn get(&self, id: &JobId) -> Result<Option<Job>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(JOB_ID, s(id.as_str()))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        out.item.map(job_from_item).transpose()
    }

    async fn claim(
        &self,
        id: &JobId,
        lease: &Lease,
        now: DateTime<Utc>,
    ) -> Result<Option<Job>, StoreError> {
        let mut update = Update::default();
        update
            .set(STATUS, s(JobStatus::Running.as_str()))
            .set(LEASE_OWNER, s(&lease.owner));
        set_lease(&mut update, lease)?;
        set_updated(&mut update, now)?;
        // A running job without a lease is claimable too, as in `Job::is_claimable`.
        let condition = abandoned(&mut update, now);
        let claimed = self
            .conditional_update(id, &update, condition, true)
            .await?
            .flatten();
        tracing::debug!(job_id = %id, owner = %lease.owner, claimed = claimed.is_some(), "claim");
        Ok(claimed)
    }

    async fn extend_lease(&self, id: &JobId, lease: &Lease) -> Result<(), StoreError> {
        let mut update = Update::default();
        set_lease(&mut update, lease)?;
        let condition = held_by(&mut update, &lease.owner);
        match self
            .conditional_update(id, &update, condition, false)
            .await?
        {
            Some(_) => Ok(()),
            None => Err(StoreError::Conflict(id.clone())),
        }
    }

    async fn complete(
        &self,
        id: &JobId,
        owner: &str,
        completion: &JobCompletion,
    ) -> Result<(), StoreError> {
        self.complete_job(id, owner, completion).await
    }

    async fn release(&self, id: &JobId, owner: &str) -> Result<(), StoreError> {
        let mut update = Update::default();
        update
            .set(STATUS, s(JobStatus::Queued.as_str()))
            .remove(LEASE)
            .remove(LEASE_OWNER)
            .remove(LEASE_EXPIRES_MS);
        // The port gives no `now` here; the store has no clock, and the time is informative only.
        set_updated(&mut update, Utc::now())?;
        let condition = held_by(&mut update, owner);
        match self
            .conditional_update(id, &update, condition, false)
            .await?
        {
            Some(_) => Ok(()),
            None => Err(StoreError::Conflict(id.clone())),
        }
    }

    async fn close_queued(
        &self,
        id: &JobId,
        status: JobStatus,
        error: &JobError,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut update = Update::default();
        update
            .set(STATUS, s(status.as_str()))
            .set(ERROR, attr(error)?)
            .set(TTL, ttl_attr(now, self.job_ttl_secs));
        set_updated(&mut update, now)?;
        let condition = status_is(&mut update, JobStatus::Queued);
        match self
            .conditional_update(id, &update, condition, false)
            .await?
        {
            Some(_) => Ok(()),
            None => Err(StoreError::Conflict(id.clone())),
        }
    }

    async fn fail_abandoned(
        &self,
        id: &JobId,
        error: &JobError,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut update = Update::default();
        update
            .set(STATUS, s(JobStatus::Failed.as_str()))
            .set(ERROR, attr(error)?)
            .set(TTL, ttl_attr(now, self.job_ttl_secs))
            .remove(LEASE)
            .remove(LEASE_OWNER)
            .remove(LEASE_EXPIRES_MS);
        set_updated(&mut update, now)?;
        let condition = abandoned(&mut update, now);
        let failed = self
            .conditional_update(id, &update, condition, false)
            .await?
            .is_some();
        if failed {
            tracing::info!(job_id = %id, "abandoned job failed");
        }
        Ok(failed)
    }

    async fn create_batch(&self, jobs: &[Job]) -> Result<(), StoreError> {
        batch::create_batch(&self.client, &self.table, jobs, self.job_ttl_secs).await
    }

    async fn list_batch(
        &self,
        batch_id: &str,
        after: Option<&JobId>,
        limit: usize,
    ) -> Result<Vec<Job>, StoreError> {
        batch::list_batch(&self.client, &self.table, batch_id, after, limit).await
    }

    async fn put_idempotency(
        &self,
        record: &IdempotencyRecord,
        now: DateTime<Utc>,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        idempotency::put(&self.client, &self.table, record, now).await
    }
}

/// The job exists and no worker runs it: queued, or running under a lease that expired by
/// `now` (or without one), as in `Job::is_claimable`.
fn abandoned(update: &mut Update, now: DateTime<Utc>) -> String {
    let exists = format!("attribute_exists({})", update.name(JOB_ID));
    let queued = status_is(update, JobStatus::Queued);
    let running = status_is(update, JobStatus::Running);
    let expires = update.name(LEASE_EXPIRES_MS);
    let now_value = update.value("now", millis(now));
    format!(
        "{exists} AND ({queued} OR ({running} AND \
         (attribute_not_exists({expires}) OR {expires} <= {now_value})))"
    )
}
