//! The ports: the queue, the job store and the model invoker, each a small trait with one
//! AWS implementation (SQS, DynamoDB, Bedrock) and one for the local mode (SQLite, the
//! simulator). The API and the worker see only these traits.

use std::fmt::Debug;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::catalog::BucketId;
use crate::invoke::{ConverseOutput, InvokeError};
use crate::job::{Job, JobCompletion, JobError, JobId, JobStatus, Lease};
use crate::request::JobRequest;

/// A message received from the queue, hidden from other receivers until its visibility ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueMessage {
    /// The queue's id for the message (SQS MessageId).
    pub message_id: String,
    /// The handle that deletes or extends this receipt of the message.
    pub receipt: String,
    pub body: String,
    /// How many times the message has been received, this time included.
    pub receive_count: u32,
}

/// Why a queue call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueueError {
    /// The receipt handle is unknown or has expired (the message was received again since).
    #[error("receipt handle is no longer valid")]
    InvalidReceipt,
    /// The queue service failed or could not be reached.
    #[error("queue unavailable: {0}")]
    Unavailable(String),
}

/// A queue with SQS semantics: at-least-once delivery, visibility timeouts, receive counts and
/// a dead-letter rule for messages received too many times.
#[async_trait]
pub trait JobQueue: Send + Sync + Debug {
    /// Sends one message; returns its message id.
    async fn send(&self, body: String) -> Result<String, QueueError>;

    /// Receives up to `max` messages, waiting up to `wait` for the first one, and hides them for
    /// `visibility`.
    async fn receive(
        &self,
        max: u32,
        wait: Duration,
        visibility: Duration,
    ) -> Result<Vec<QueueMessage>, QueueError>;

    /// Hides a received message for `visibility` from now; zero makes it visible at once.
    async fn extend_visibility(
        &self,
        receipt: &str,
        visibility: Duration,
    ) -> Result<(), QueueError>;

    /// Deletes a received message.
    async fn delete(&self, receipt: &str) -> Result<(), QueueError>;
}

/// Why a job store call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// `create` found a job with that id already.
    #[error("job {0} already exists")]
    AlreadyExists(JobId),
    /// A conditional write found the job not in the state it requires: someone else holds the
    /// lease, the job is no longer queued, or it does not exist.
    #[error("job {0} is not in the state this write requires")]
    Conflict(JobId),
    /// A stored record could not be read back.
    #[error("job record is unreadable: {0}")]
    Corrupt(String),
    /// The store failed or could not be reached.
    #[error("job store unavailable: {0}")]
    Unavailable(String),
}

/// Durable job records with the conditional writes that make delivery safe.
#[async_trait]
pub trait JobStore: Send + Sync + Debug {
    /// Stores a new job; fails with `AlreadyExists` if the id is taken.
    async fn create(&self, job: &Job) -> Result<(), StoreError>;

    /// The job with `id`, if any.
    async fn get(&self, id: &JobId) -> Result<Option<Job>, StoreError>;

    /// Claims a job for `lease.owner` until `lease.expires_at`: succeeds when the job is queued,
    /// or running under a lease that expired before `now`. Returns the claimed job, or `None`
    /// when the job is not claimable (finished, leased by another worker, or missing).
    async fn claim(
        &self,
        id: &JobId,
        lease: &Lease,
        now: DateTime<Utc>,
    ) -> Result<Option<Job>, StoreError>;

    /// Moves the lease's expiry; fails with `Conflict` unless `lease.owner` still holds it.
    async fn extend_lease(&self, id: &JobId, lease: &Lease) -> Result<(), StoreError>;

    /// Writes the final state; fails with `Conflict` unless the job is running under a lease
    /// held by `owner`, so a result is written once, by the lease holder only.
    async fn complete(
        &self,
        id: &JobId,
        owner: &str,
        completion: &JobCompletion,
    ) -> Result<(), StoreError>;

    /// Ends a job that never started (it could not be queued, was cancelled or expired) with
    /// a terminal `status` and `error`; fails with `Conflict` unless it is still queued.
    async fn close_queued(
        &self,
        id: &JobId,
        status: JobStatus,
        error: &JobError,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;
}

/// Calls a model through Bedrock's Converse API in one bucket.
#[async_trait]
pub trait ModelInvoker: Send + Sync + Debug {
    /// Sends `request` to `bucket`. Errors come back classified; the invoker never retries.
    async fn converse(
        &self,
        bucket: &BucketId,
        request: &JobRequest,
    ) -> Result<ConverseOutput, InvokeError>;
}
