//! The job as clients see it (`GET /jobs/{id}`): status, timestamps, attempts, result or error.
//!
//! A separate type from the stored [`Job`] so that the API's JSON is a deliberate contract that
//! storage changes do not move, and so that the prompt, the messages and the lease are never
//! returned.

use bedrock_lb_core::{Attempt, Job, JobError, JobResult, JobStatus, Usage};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

/// A job as returned by the API.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = Job)]
pub struct JobView<'a> {
    pub job_id: &'a str,
    #[schema(value_type = crate::openapi::StatusSchema)]
    pub status: JobStatus,
    /// RFC 3339.
    pub created_at: DateTime<Utc>,
    /// RFC 3339.
    pub updated_at: DateTime<Utc>,
    /// The logical model name; absent only for a queue message that could not be understood.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub batch_id: Option<&'a str>,
    /// Every Bedrock call made for the job, in order.
    pub attempts: Vec<AttemptView<'a>>,
    /// The client's own metadata, returned as given.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<&'a Value>,
    /// Present when the job succeeded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<ResultView<'a>>,
    /// Present when the job failed (or was cancelled or expired).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorView<'a>>,
}

/// One Bedrock call.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = Attempt)]
pub struct AttemptView<'a> {
    pub region: &'a str,
    pub model_id: &'a str,
    pub started_at: DateTime<Utc>,
    pub latency_ms: u64,
    /// `succeeded`, or the error's label (e.g. `throttling`).
    pub outcome: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<&'a str>,
}

/// The outcome of a job that succeeded.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = JobResult)]
pub struct ResultView<'a> {
    pub text: &'a str,
    pub stop_reason: &'a str,
    pub region: &'a str,
    pub model_id: &'a str,
    pub usage: UsageView,
    pub latency_ms: u64,
}

/// Token usage as Bedrock reported it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = Usage)]
pub struct UsageView {
    pub input_tokens: u32,
    pub output_tokens: u32,
    pub total_tokens: u32,
}

/// Why a job did not succeed.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = JobError)]
pub struct ErrorView<'a> {
    #[serde(rename = "type")]
    pub kind: &'a str,
    pub message: &'a str,
}

impl<'a> From<&'a Job> for JobView<'a> {
    fn from(job: &'a Job) -> Self {
        Self {
            job_id: job.job_id.as_str(),
            status: job.status,
            created_at: job.created_at,
            updated_at: job.updated_at,
            model: job.model(),
            batch_id: job.batch_id.as_deref(),
            attempts: job.attempts.iter().map(AttemptView::from).collect(),
            metadata: job.request.as_ref().and_then(|r| r.metadata.as_ref()),
            result: job.result.as_ref().map(ResultView::from),
            error: job.error.as_ref().map(ErrorView::from),
        }
    }
}

impl<'a> From<&'a Attempt> for AttemptView<'a> {
    fn from(attempt: &'a Attempt) -> Self {
        Self {
            region: &attempt.region,
            model_id: &attempt.model_id,
            started_at: attempt.started_at,
            latency_ms: attempt.latency_ms,
            outcome: &attempt.outcome,
            error: attempt.error.as_deref(),
        }
    }
}

impl<'a> From<&'a JobResult> for ResultView<'a> {
    fn from(result: &'a JobResult) -> Self {
        Self {
            text: &result.text,
            stop_reason: &result.stop_reason,
            region: &result.region,
            model_id: &result.model_id,
            usage: UsageView::from(result.usage),
            latency_ms: result.latency_ms,
        }
    }
}

impl From<Usage> for UsageView {
    fn from(usage: Usage) -> Self {
        Self {
            input_tokens: usage.input_tokens,
            output_tokens: usage.output_tokens,
            total_tokens: usage.total_tokens,
        }
    }
}

impl<'a> From<&'a JobError> for ErrorView<'a> {
    fn from(error: &'a JobError) -> Self {
        Self {
            kind: &error.kind,
            message: &error.message,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bedrock_lb_core::{BucketId, InvokeRequest, JobId, ModelCatalog, ModelSpec};
    use serde_json::json;

    #[test]
    fn a_queued_job_shows_no_prompt_and_keeps_metadata() {
        let catalog = ModelCatalog::new(
            "m",
            [ModelSpec {
                name: "m".into(),
                max_output_tokens: 10,
                buckets: vec![BucketId::new("us-east-1", "x")],
            }],
        )
        .unwrap();
        let mut request = InvokeRequest::from_prompt("secret prompt");
        request.metadata = Some(json!({"k": "v"}));
        let job = Job::queued(
            JobId::generate(),
            request.validate(&catalog).unwrap(),
            Utc::now(),
        );
        let value = serde_json::to_value(JobView::from(&job)).unwrap();
        assert_eq!(value["status"], "queued");
        assert_eq!(value["model"], "m");
        assert_eq!(value["metadata"], json!({"k": "v"}));
        assert_eq!(value["attempts"], json!([]));
        assert!(value.get("result").is_none() && value.get("error").is_none());
        assert!(!value.to_string().contains("secret prompt"));
    }
}
