//! Idempotent submission: a caller's `Idempotency-Key` remembered with the job ids it produced,
//! so that a retried POST returns the same jobs and queues nothing new.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::job::JobId;

/// What a submission under one idempotency key produced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdempotencyRecord {
    /// The key, scoped by the caller (e.g. `{owner}/{Idempotency-Key}`) so that two callers'
    /// keys never collide.
    pub key: String,
    /// A digest of the request body, so that reusing a key for a different request is refused
    /// instead of silently answered with the first request's jobs.
    pub request_hash: String,
    /// The jobs the submission created, in request order.
    pub job_ids: Vec<JobId>,
    /// The batch, for `POST /batch` submissions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_id: Option<String>,
    pub created_at: DateTime<Utc>,
    /// After this the key may be used again for a new submission.
    pub expires_at: DateTime<Utc>,
}

impl IdempotencyRecord {
    /// Whether the record still holds its key at `now`.
    pub fn is_live(&self, now: DateTime<Utc>) -> bool {
        now < self.expires_at
    }
}
