//! The job record: what was asked, where it is in its life, every attempt made, and the outcome.
//!
//! The same record is stored by every `JobStore` and returned (through a view) by
//! `GET /jobs/{id}`.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::catalog::BucketId;
use crate::request::JobRequest;

/// Longest job id accepted.
pub const MAX_JOB_ID_LEN: usize = 128;

/// A job's id: a UUIDv7 for jobs created by the API, or a producer's own id (letters, digits,
/// `-`, `_`, `.`, `:`, at most 128 characters) for messages written straight to the queue.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct JobId(String);

/// Why a string is not a job id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "a job id is 1 to {MAX_JOB_ID_LEN} characters of letters, digits, `-`, `_`, `.` or `:`, got {0:?}"
)]
pub struct InvalidJobId(pub String);

impl JobId {
    /// A new, time-ordered, random id.
    pub fn generate() -> Self {
        Self(uuid::Uuid::now_v7().to_string())
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for JobId {
    type Err = InvalidJobId;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let valid = !s.is_empty()
            && s.len() <= MAX_JOB_ID_LEN
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'));
        if valid {
            Ok(Self(s.to_owned()))
        } else {
            Err(InvalidJobId(s.chars().take(MAX_JOB_ID_LEN + 1).collect()))
        }
    }
}

impl TryFrom<String> for JobId {
    type Error = InvalidJobId;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        value.parse()
    }
}

impl From<JobId> for String {
    fn from(id: JobId) -> Self {
        id.0
    }
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    /// Accepted and waiting for a worker.
    Queued,
    /// Claimed by a worker that holds its lease.
    Running,
    /// Finished with a result.
    Succeeded,
    /// Finished with an error.
    Failed,
    /// Cancelled before it started.
    Cancelled,
    /// Its deadline passed before it could be dispatched.
    Expired,
}

impl JobStatus {
    /// Every status, in the order of a job's life.
    pub const ALL: [Self; 6] = [
        Self::Queued,
        Self::Running,
        Self::Succeeded,
        Self::Failed,
        Self::Cancelled,
        Self::Expired,
    ];

    /// Whether the job has finished and will never change again.
    pub fn is_terminal(self) -> bool {
        !matches!(self, Self::Queued | Self::Running)
    }

    /// The status as stored and shown, e.g. `succeeded`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
            Self::Expired => "expired",
        }
    }
}

impl fmt::Display for JobStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Token usage as Bedrock reports it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub input_tokens: u32,
    pub output_tokens: u32,
    pub total_tokens: u32,
}

/// The outcome of a job that succeeded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobResult {
    /// The completion text.
    pub text: String,
    /// Why generation stopped, as Bedrock says it (`end_turn`, `max_tokens`, ...).
    pub stop_reason: String,
    /// The region that served the job.
    pub region: String,
    /// The Bedrock model id or inference profile id that served the job.
    pub model_id: String,
    pub usage: Usage,
    /// Time of the successful Bedrock call, in milliseconds.
    pub latency_ms: u64,
}

/// Why a job failed: a low-cardinality type and a message meant for the caller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobError {
    #[serde(rename = "type")]
    pub kind: String,
    pub message: String,
}

impl JobError {
    /// An error of type `kind` saying `message`.
    pub fn new(kind: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            kind: kind.into(),
            message: message.into(),
        }
    }
}

/// One call to Bedrock made for a job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    pub region: String,
    pub model_id: String,
    pub started_at: DateTime<Utc>,
    pub latency_ms: u64,
    /// `succeeded`, or the error's label (e.g. `throttling`).
    pub outcome: String,
    /// The error message, for attempts that failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Attempt {
    /// The bucket this attempt called.
    pub fn bucket(&self) -> BucketId {
        BucketId::new(&self.region, &self.model_id)
    }
}

/// A worker's claim on a running job, valid until `expires_at`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    /// The worker that holds the lease.
    pub owner: String,
    pub expires_at: DateTime<Utc>,
}

/// A job record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    pub job_id: JobId,
    pub status: JobStatus,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The validated request; `None` only for a message that could not be understood.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<JobRequest>,
    #[serde(default)]
    pub attempts: Vec<Attempt>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<JobResult>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<JobError>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease: Option<Lease>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_id: Option<String>,
    /// The caller who submitted the job (an IAM principal or an API key's name); only this
    /// caller may read it. `None` for open deployments and direct queue producers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
}

impl Job {
    /// A queued job for `request`, created at `now`.
    pub fn queued(job_id: JobId, request: JobRequest, now: DateTime<Utc>) -> Self {
        Self {
            job_id,
            status: JobStatus::Queued,
            created_at: now,
            updated_at: now,
            request: Some(request),
            attempts: Vec::new(),
            result: None,
            error: None,
            lease: None,
            batch_id: None,
            owner: None,
        }
    }

    /// The same job, as part of batch `batch_id`.
    pub fn in_batch(mut self, batch_id: impl Into<String>) -> Self {
        self.batch_id = Some(batch_id.into());
        self
    }

    /// The same job, submitted by `owner`.
    pub fn owned_by(mut self, owner: Option<String>) -> Self {
        self.owner = owner;
        self
    }

    /// Whether `caller` may see this job: jobs without an owner are visible to every caller of
    /// the deployment, owned jobs only to their owner.
    pub fn is_visible_to(&self, caller: Option<&str>) -> bool {
        self.owner
            .as_deref()
            .is_none_or(|owner| Some(owner) == caller)
    }

    /// A job that failed before it could be queued (for example a queue message that could
    /// not be understood), so that its id still answers with the reason.
    pub fn rejected(job_id: JobId, error: JobError, now: DateTime<Utc>) -> Self {
        Self {
            job_id,
            status: JobStatus::Failed,
            created_at: now,
            updated_at: now,
            request: None,
            attempts: Vec::new(),
            result: None,
            error: Some(error),
            lease: None,
            batch_id: None,
            owner: None,
        }
    }

    /// The logical model name, if the request was understood.
    pub fn model(&self) -> Option<&str> {
        self.request.as_ref().map(|r| r.model.as_str())
    }

    /// Whether a worker may claim this job at `now`: it is queued, or running under a lease
    /// that has expired (its worker died).
    pub fn is_claimable(&self, now: DateTime<Utc>) -> bool {
        match self.status {
            JobStatus::Queued => true,
            JobStatus::Running => self.lease.as_ref().is_none_or(|l| l.expires_at <= now),
            _ => false,
        }
    }

    /// Applies a completion written by the lease holder.
    pub fn complete(&mut self, completion: JobCompletion) {
        self.status = completion.status;
        self.updated_at = completion.finished_at;
        self.attempts = completion.attempts;
        self.result = completion.result;
        self.error = completion.error;
        self.lease = None;
    }
}

/// The final state a worker writes for a job it holds the lease on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobCompletion {
    /// `Succeeded`, `Failed` or `Expired`.
    pub status: JobStatus,
    pub attempts: Vec<Attempt>,
    pub result: Option<JobResult>,
    pub error: Option<JobError>,
    pub finished_at: DateTime<Utc>,
}

impl JobCompletion {
    /// A success with `result`.
    pub fn succeeded(result: JobResult, attempts: Vec<Attempt>, now: DateTime<Utc>) -> Self {
        Self {
            status: JobStatus::Succeeded,
            attempts,
            result: Some(result),
            error: None,
            finished_at: now,
        }
    }

    /// A failure with `error`.
    pub fn failed(error: JobError, attempts: Vec<Attempt>, now: DateTime<Utc>) -> Self {
        Self {
            status: JobStatus::Failed,
            attempts,
            result: None,
            error: Some(error),
            finished_at: now,
        }
    }

    /// A job whose deadline passed before it could be dispatched.
    pub fn expired(deadline: DateTime<Utc>, attempts: Vec<Attempt>, now: DateTime<Utc>) -> Self {
        Self {
            status: JobStatus::Expired,
            attempts,
            result: None,
            error: Some(JobError::new(
                "expired",
                format!(
                    "the job's deadline {} passed before it could be dispatched",
                    deadline.to_rfc3339()
                ),
            )),
            finished_at: now,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    #[test]
    fn job_ids_accept_uuids_and_producer_ids_only() {
        assert!(JobId::generate().as_str().parse::<JobId>().is_ok());
        assert!("order-42:retry_1.v2".parse::<JobId>().is_ok());
        assert!("".parse::<JobId>().is_err());
        assert!("has space".parse::<JobId>().is_err());
        assert!("../etc/passwd".parse::<JobId>().is_err());
        assert!("x".repeat(MAX_JOB_ID_LEN + 1).parse::<JobId>().is_err());
    }

    #[test]
    fn job_id_deserialization_validates() {
        assert!(serde_json::from_str::<JobId>("\"a b\"").is_err());
        assert_eq!(
            serde_json::from_str::<JobId>("\"ok\"").unwrap().as_str(),
            "ok"
        );
    }

    #[test]
    fn a_running_job_is_claimable_only_after_its_lease_expires() {
        let now = Utc::now();
        let mut job = Job::rejected(JobId::generate(), JobError::new("x", "y"), now);
        assert!(!job.is_claimable(now), "finished jobs are never claimable");
        job.status = JobStatus::Queued;
        assert!(job.is_claimable(now));
        job.status = JobStatus::Running;
        job.lease = Some(Lease {
            owner: "w1".into(),
            expires_at: now + Duration::seconds(30),
        });
        assert!(!job.is_claimable(now));
        assert!(job.is_claimable(now + Duration::seconds(30)));
    }

    #[test]
    fn owned_jobs_are_visible_to_their_owner_only() {
        let now = Utc::now();
        let open = Job::rejected(JobId::generate(), JobError::new("x", "y"), now);
        assert!(open.is_visible_to(None));
        assert!(open.is_visible_to(Some("alice")));
        let owned = open.owned_by(Some("alice".into()));
        assert!(owned.is_visible_to(Some("alice")));
        assert!(!owned.is_visible_to(Some("bob")));
        assert!(!owned.is_visible_to(None));
    }

    #[test]
    fn statuses_serialize_in_snake_case() {
        assert_eq!(
            serde_json::to_string(&JobStatus::Succeeded).unwrap(),
            "\"succeeded\""
        );
        assert!(JobStatus::Cancelled.is_terminal());
        assert!(!JobStatus::Running.is_terminal());
    }
}
