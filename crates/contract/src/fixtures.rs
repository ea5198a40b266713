//! Small builders for the records the contracts write: jobs, leases, completions and
//! idempotency records. Public so adapter-specific tests can build the same shapes.

use bedrock_lb_core::{
    ContentBlock, IdempotencyRecord, InferenceConfig, Job, JobCompletion, JobId, JobRequest,
    JobResult, Lease, Message, Role, Usage,
};
use chrono::{DateTime, Duration, Utc};

/// A queued job with a fresh generated id and a one-message request, created at `now`.
pub fn queued_job(now: DateTime<Utc>) -> Job {
    let request = JobRequest {
        model: "claude-haiku".into(),
        system: None,
        messages: vec![Message {
            role: Role::User,
            content: vec![ContentBlock {
                text: "hello".into(),
            }],
        }],
        inference: InferenceConfig::default(),
        metadata: None,
        deadline: None,
    };
    Job::queued(JobId::generate(), request, now)
}

/// A lease held by `owner` until `expires_at`.
pub fn lease(owner: &str, expires_at: DateTime<Utc>) -> Lease {
    Lease {
        owner: owner.into(),
        expires_at,
    }
}

/// A successful completion with result `text`, finished at `at`.
pub fn success(text: String, at: DateTime<Utc>) -> JobCompletion {
    JobCompletion::succeeded(
        JobResult {
            text,
            stop_reason: "end_turn".into(),
            region: "us-west-2".into(),
            model_id: "anthropic.claude-3-haiku-20240307-v1:0".into(),
            usage: Usage {
                input_tokens: 1,
                output_tokens: 2,
                total_tokens: 3,
            },
            latency_ms: 5,
        },
        vec![],
        at,
    )
}

/// An idempotency record for `key`, told apart from others by `marker`, live for 24 hours
/// from `now`.
pub fn record(key: &str, marker: &str, now: DateTime<Utc>) -> IdempotencyRecord {
    IdempotencyRecord {
        key: key.into(),
        request_hash: marker.into(),
        job_ids: vec![JobId::generate(), JobId::generate()],
        batch_id: Some(format!("batch-{marker}")),
        created_at: now,
        expires_at: now + Duration::hours(24),
    }
}
