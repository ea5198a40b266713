//! The Idempotency-Key header over real HTTP: a repeat answers the same ids and queues
//! nothing, a key reused for another request is 422, a malformed key is 400, and a repeat after
//! a crash between the idempotency record and the job writes completes the submission.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use bedrock_lb_api::idempotency::{request_hash, scoped_key};
use bedrock_lb_core::message::decode;
use bedrock_lb_core::{IdempotencyRecord, InvokeRequest, JobId, JobStatus};
use chrono::{Duration, Utc};
use common::{TestApi, assert_error};
use serde_json::json;

#[tokio::test]
async fn a_repeated_invoke_answers_the_same_job_and_queues_nothing() {
    let api = TestApi::start().await;
    let key = format!("k-{}", JobId::generate());
    let body = json!({"prompt": "once", "max_tokens": 10});
    let (status, first) = api
        .post_json("/invoke", &body, &[("Idempotency-Key", &key)])
        .await;
    assert_eq!(status, 202, "{first}");
    assert_eq!(api.drain_all().await.len(), 1);
    // Same request, other key order and whitespace: the same job, nothing new queued.
    let reordered = json!({"max_tokens": 10, "prompt": "once"});
    let (status, again) = api
        .post_json("/invoke", &reordered, &[("Idempotency-Key", &key)])
        .await;
    assert_eq!(status, 202, "{again}");
    assert_eq!(again["job_id"], first["job_id"]);
    assert!(api.drain_all().await.is_empty(), "nothing new queued");
    // Without a key, a new job.
    let (_, other) = api.post_json("/invoke", &body, &[]).await;
    assert_ne!(other["job_id"], first["job_id"]);
}

#[tokio::test]
async fn a_key_reused_for_another_request_is_422() {
    let api = TestApi::start().await;
    let key = format!("k-{}", JobId::generate());
    let (status, _) = api
        .post_json(
            "/invoke",
            &json!({"prompt": "a"}),
            &[("Idempotency-Key", &key)],
        )
        .await;
    assert_eq!(status, 202);
    let (status, body) = api
        .post_json(
            "/invoke",
            &json!({"prompt": "b"}),
            &[("Idempotency-Key", &key)],
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert_error(&body, "idempotency_key_reused", &["different request"]);
    // The same key on another route is another request too.
    let (status, body) = api
        .post_json(
            "/batch",
            &json!({"requests": ["a"]}),
            &[("Idempotency-Key", &key)],
        )
        .await;
    assert_eq!(status, 422, "{body}");
}

#[tokio::test]
async fn malformed_keys_are_400() {
    let api = TestApi::start().await;
    let long = "k".repeat(256);
    for key in ["has space", long.as_str()] {
        let (status, body) = api
            .post_json(
                "/invoke",
                &json!({"prompt": "a"}),
                &[("Idempotency-Key", key)],
            )
            .await;
        assert_eq!(status, 400, "{body}");
        assert_error(&body, "invalid_request", &["Idempotency-Key"]);
    }
    assert!(api.drain_all().await.is_empty());
}

#[tokio::test]
async fn a_repeated_batch_answers_the_same_batch_and_queues_nothing() {
    let api = TestApi::start().await;
    let key = format!("k-{}", JobId::generate());
    let body = json!({"requests": ["a", "b", {"prompt": "c"}], "defaults": {"max_tokens": 7}});
    let (status, first) = api
        .post_json("/batch", &body, &[("Idempotency-Key", &key)])
        .await;
    assert_eq!(status, 202, "{first}");
    assert_eq!(api.drain_all().await.len(), 3);
    let (status, again) = api
        .post_json("/batch", &body, &[("Idempotency-Key", &key)])
        .await;
    assert_eq!(status, 202, "{again}");
    assert_eq!(again["batch_id"], first["batch_id"]);
    assert_eq!(again["job_ids"], first["job_ids"]);
    assert!(api.drain_all().await.is_empty(), "nothing new queued");
}

#[tokio::test]
async fn a_repeat_after_a_crash_creates_and_queues_the_missing_job() {
    let api = TestApi::start().await;
    let key = format!("k-{}", JobId::generate());
    let body = json!({"prompt": "crashed"});
    // The first attempt stored its idempotency record, then died before writing the job.
    let request: InvokeRequest = serde_json::from_value(body.clone()).unwrap();
    let lost_id = JobId::generate();
    let now = Utc::now();
    let record = IdempotencyRecord {
        key: scoped_key(None, &key),
        request_hash: request_hash("POST /invoke", &request).unwrap(),
        job_ids: vec![lost_id.clone()],
        batch_id: None,
        created_at: now,
        expires_at: now + Duration::hours(1),
    };
    assert!(
        api.store
            .put_idempotency(&record, now)
            .await
            .unwrap()
            .is_none()
    );
    assert!(api.store.get(&lost_id).await.unwrap().is_none());

    let (status, answer) = api
        .post_json("/invoke", &body, &[("Idempotency-Key", &key)])
        .await;
    assert_eq!(status, 202, "{answer}");
    assert_eq!(answer["job_id"], lost_id.as_str());
    let job = api.store.get(&lost_id).await.unwrap().unwrap();
    assert_eq!(job.status, JobStatus::Queued);
    let messages = api.drain_all().await;
    assert_eq!(messages.len(), 1);
    assert_eq!(decode(&messages[0].body).unwrap().job_id, Some(lost_id));
}
