//! bedrock-lb's domain: jobs, requests, the model catalogue, Bedrock error classes and the
//! ports (traits) through which the service reaches its queue, its job store, its quota table
//! and Bedrock.
//!
//! This crate does no I/O and knows nothing of the AWS SDK or SQLite: every adapter crate
//! (`bedrock-lb-aws`, `bedrock-lb-embedded`) implements the ports defined here, so the API and
//! the worker run unchanged on either deployment.

pub mod catalog;
pub mod clock;
pub mod idempotency;
pub mod invoke;
pub mod job;
pub mod message;
pub mod ports;
pub mod quota;
pub mod request;
pub mod tokens;

pub use catalog::{BucketId, ModelCatalog, ModelSpec};
pub use clock::{Clock, ManualClock, SystemClock};
pub use idempotency::IdempotencyRecord;
pub use invoke::{ConverseOutput, FailureAction, InvokeError, InvokeErrorKind};
pub use job::{Attempt, Job, JobCompletion, JobError, JobId, JobResult, JobStatus, Lease, Usage};
pub use ports::{
    JobQueue, JobStore, ModelInvoker, QueueError, QueueMessage, SendOutcome, StoreError,
};
pub use quota::{
    BreakerState, BucketPatch, BucketQuota, BucketReport, ModelRoute, QuotaError, QuotaStore,
    QuotaTable, Strategy, WorkerBeat,
};
pub use request::{
    ContentBlock, InferenceConfig, InvokeRequest, JobRequest, Message, Role, ValidationError,
};
