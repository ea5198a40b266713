//! Durable storage for bedrock-lb's local mode: one SQLite file holding an SQS-like queue, the
//! job store and the quota table, implementing the core ports
//! [`JobQueue`](bedrock_lb_core::JobQueue), [`JobStore`](bedrock_lb_core::JobStore) and
//! [`QuotaStore`](bedrock_lb_core::QuotaStore).
//!
//! Open an [`EmbeddedDb`] once, then take the queue and the job store from it; both share the
//! connection, the injected clock and the long-poll notifier. The schema is versioned (see
//! `schema`), so later features add their tables to the same file by appending a migration.

mod db;
mod error;
mod jobs;
mod queue;
mod quotas;
mod schema;

pub use db::EmbeddedDb;
pub use error::EmbeddedError;
pub use jobs::{DEFAULT_JOB_TTL, EmbeddedJobStore};
pub use queue::{
    DEFAULT_RECHECK_INTERVAL, DeadLetter, DeadLetterQueue, EmbeddedQueue, QueueDepth, QueueSettings,
};
pub use quotas::EmbeddedQuotaStore;
pub use schema::SCHEMA_VERSION;
