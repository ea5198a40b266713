//! GET /jobs/{id} over real HTTP: finished jobs show their result, unknown and malformed ids
//! answer JSON errors, and backend failures answer 503 or 500 without their details.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use async_trait::async_trait;
use bedrock_lb_api::ApiLimits;
use bedrock_lb_core::{
    Attempt, IdempotencyRecord, Job, JobCompletion, JobError, JobId, JobResult, JobStatus,
    JobStore, Lease, StoreError, Usage,
};
use chrono::{DateTime, Duration, Utc};
use common::{TestApi, assert_error, json_of};
use serde_json::json;

async fn submit(api: &TestApi) -> JobId {
    let (status, body) = json_of(api.invoke(json!({"prompt": "tell me"})).await).await;
    assert_eq!(status, 202, "{body}");
    body["job_id"].as_str().unwrap().parse().unwrap()
}

fn lease() -> Lease {
    Lease {
        owner: "worker-test".into(),
        expires_at: Utc::now() + Duration::seconds(60),
    }
}

fn attempt(region: &str, outcome: &str, error: Option<&str>) -> Attempt {
    Attempt {
        region: region.into(),
        model_id: "vendor.small-v1:0".into(),
        started_at: Utc::now(),
        latency_ms: 12,
        outcome: outcome.into(),
        error: error.map(str::to_owned),
    }
}

#[tokio::test]
async fn a_succeeded_job_shows_its_result_usage_and_attempts() {
    let api = TestApi::start().await;
    let id = submit(&api).await;
    let claimed = api.store.claim(&id, &lease(), Utc::now()).await.unwrap();
    assert!(claimed.is_some(), "the job is claimable");
    let (_, running) = api.get_json(&format!("/jobs/{id}")).await;
    assert_eq!(running["status"], "running");

    let result = JobResult {
        text: "quotas bloom in spring".into(),
        stop_reason: "end_turn".into(),
        region: "us-west-2".into(),
        model_id: "vendor.small-v1:0".into(),
        usage: Usage {
            input_tokens: 3,
            output_tokens: 5,
            total_tokens: 8,
        },
        latency_ms: 34,
    };
    let attempts = vec![
        attempt("us-east-1", "throttling", Some("Too many tokens")),
        attempt("us-west-2", "succeeded", None),
    ];
    let completion = JobCompletion::succeeded(result, attempts, Utc::now());
    api.store
        .complete(&id, "worker-test", &completion)
        .await
        .unwrap();

    let (status, job) = api.get_json(&format!("/jobs/{id}")).await;
    assert_eq!(status, 200, "{job}");
    assert_eq!(job["status"], "succeeded");
    assert_eq!(job["model"], "small");
    let result = &job["result"];
    assert_eq!(result["text"], "quotas bloom in spring");
    assert_eq!(result["stop_reason"], "end_turn");
    assert_eq!(result["region"], "us-west-2");
    assert_eq!(result["model_id"], "vendor.small-v1:0");
    assert_eq!(result["latency_ms"], 34);
    assert_eq!(
        result["usage"],
        json!({"input_tokens": 3, "output_tokens": 5, "total_tokens": 8})
    );
    let attempts = job["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 2);
    assert_eq!(attempts[0]["region"], "us-east-1");
    assert_eq!(attempts[0]["outcome"], "throttling");
    assert_eq!(attempts[0]["error"], "Too many tokens");
    assert_eq!(attempts[1]["outcome"], "succeeded");
    assert!(attempts[1].get("error").is_none());
    assert!(attempts[0]["started_at"].as_str().is_some());
    assert!(job.get("error").is_none());
    assert!(job.get("lease").is_none() && job.get("messages").is_none());
}

#[tokio::test]
async fn a_failed_job_shows_its_error() {
    let api = TestApi::start().await;
    let id = submit(&api).await;
    api.store.claim(&id, &lease(), Utc::now()).await.unwrap();
    let completion = JobCompletion::failed(
        JobError::new("validation", "the model rejected the request"),
        vec![attempt("us-east-1", "validation", Some("bad"))],
        Utc::now(),
    );
    api.store
        .complete(&id, "worker-test", &completion)
        .await
        .unwrap();
    let (status, job) = api.get_json(&format!("/jobs/{id}")).await;
    assert_eq!(status, 200);
    assert_eq!(job["status"], "failed");
    assert_eq!(
        job["error"],
        json!({"type": "validation", "message": "the model rejected the request"})
    );
    assert!(job.get("result").is_none());
}

#[tokio::test]
async fn an_unknown_job_is_404_json() {
    let api = TestApi::start().await;
    let id = JobId::generate();
    let (status, body) = api.get_json(&format!("/jobs/{id}")).await;
    assert_eq!(status, 404);
    assert_error(&body, "not_found", &[id.as_str()]);
}

#[tokio::test]
async fn a_malformed_job_id_is_400_json() {
    let api = TestApi::start().await;
    let (status, body) = api.get_json("/jobs/not%20an%20id").await;
    assert_eq!(status, 400, "{body}");
    assert_error(&body, "invalid_request", &["job id"]);
    let long = "x".repeat(200);
    let (status, body) = api.get_json(&format!("/jobs/{long}")).await;
    assert_eq!(status, 400, "{body}");
    assert_error(&body, "invalid_request", &["job id"]);
}

#[tokio::test]
async fn healthz_is_ok() {
    let api = TestApi::start().await;
    let (status, body) = api.get_json("/healthz").await;
    assert_eq!(status, 200);
    assert_eq!(body, json!({"status": "ok"}));
}

/// A job store whose every call fails with the given error.
#[derive(Debug)]
struct BrokenStore(StoreError);

#[async_trait]
impl JobStore for BrokenStore {
    async fn create(&self, _: &Job) -> Result<(), StoreError> {
        Err(self.0.clone())
    }
    async fn get(&self, _: &JobId) -> Result<Option<Job>, StoreError> {
        Err(self.0.clone())
    }
    async fn claim(
        &self,
        _: &JobId,
        _: &Lease,
        _: DateTime<Utc>,
    ) -> Result<Option<Job>, StoreError> {
        Err(self.0.clone())
    }
    async fn extend_lease(&self, _: &JobId, _: &Lease) -> Result<(), StoreError> {
        Err(self.0.clone())
    }
    async fn complete(&self, _: &JobId, _: &str, _: &JobCompletion) -> Result<(), StoreError> {
        Err(self.0.clone())
    }
    async fn close_queued(
        &self,
        _: &JobId,
        _: JobStatus,
        _: &JobError,
        _: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        Err(self.0.clone())
    }
    async fn create_batch(&self, _: &[Job]) -> Result<(), StoreError> {
        Err(self.0.clone())
    }
    async fn list_batch(
        &self,
        _: &str,
        _: Option<&JobId>,
        _: usize,
    ) -> Result<Vec<Job>, StoreError> {
        Err(self.0.clone())
    }
    async fn release(&self, _: &JobId, _: &str) -> Result<(), StoreError> {
        Err(self.0.clone())
    }
    async fn fail_abandoned(
        &self,
        _: &JobId,
        _: &JobError,
        _: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        Err(self.0.clone())
    }
    async fn put_idempotency(
        &self,
        _: &IdempotencyRecord,
        _: DateTime<Utc>,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        Err(self.0.clone())
    }
}

#[tokio::test]
async fn a_store_that_is_down_is_503_and_nothing_is_queued() {
    let store = Arc::new(BrokenStore(StoreError::Unavailable("test: db down".into())));
    let api = TestApi::start_with(Some(store), None, ApiLimits::default()).await;
    let (status, body) = json_of(api.invoke(json!({"prompt": "x"})).await).await;
    assert_eq!(status, 503, "{body}");
    assert_error(&body, "unavailable", &["job store"]);
    assert!(!body.to_string().contains("db down"), "{body}");
    assert!(
        api.drain_queue().await.is_empty(),
        "no message without a record"
    );
    let (status, body) = api.get_json(&format!("/jobs/{}", JobId::generate())).await;
    assert_eq!(status, 503, "{body}");
    assert_error(&body, "unavailable", &[]);
}

#[tokio::test]
async fn a_corrupt_record_is_500_without_details() {
    let store = Arc::new(BrokenStore(StoreError::Corrupt("row 7: bad json".into())));
    let api = TestApi::start_with(Some(store), None, ApiLimits::default()).await;
    let (status, body) = api.get_json(&format!("/jobs/{}", JobId::generate())).await;
    assert_eq!(status, 500, "{body}");
    assert_error(&body, "internal", &[]);
    assert!(!body.to_string().contains("row 7"), "{body}");
}
