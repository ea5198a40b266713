//! POST /invoke over real HTTP: a job is recorded and exactly one message is queued for it, and
//! a queue that refuses the message gives 503 with the job closed as failed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bedrock_lb_api::ApiLimits;
use bedrock_lb_core::message::decode;
use bedrock_lb_core::{JobId, JobQueue, JobStatus, QueueError, QueueMessage, SendOutcome};
use chrono::{DateTime, Utc};
use common::{TestApi, assert_error, json_of};
use serde_json::json;

#[tokio::test]
async fn an_accepted_job_is_queued_once_and_visible_as_queued() {
    let api = TestApi::start().await;
    let before = Utc::now();
    let response = api
        .invoke(json!({
            "prompt": "Write a haiku about quotas",
            "model": "large",
            "max_tokens": 200,
            "metadata": {"ticket": 42}
        }))
        .await;
    let location = response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let (status, body) = json_of(response).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["status"], "queued");
    let id = body["job_id"].as_str().expect("job_id").to_owned();
    assert!(id.parse::<JobId>().is_ok());
    assert_eq!(location.as_deref(), Some(format!("/jobs/{id}").as_str()));

    let (status, job) = api.get_json(&format!("/jobs/{id}")).await;
    assert_eq!(status, 200, "{job}");
    assert_eq!(job["job_id"], id.as_str());
    assert_eq!(job["status"], "queued");
    assert_eq!(job["model"], "large");
    assert_eq!(job["metadata"], json!({"ticket": 42}));
    assert_eq!(job["attempts"], json!([]));
    assert!(job.get("result").is_none() && job.get("error").is_none());
    let created: DateTime<Utc> = job["created_at"].as_str().unwrap().parse().unwrap();
    let updated: DateTime<Utc> = job["updated_at"].as_str().unwrap().parse().unwrap();
    assert!(created >= before && created <= Utc::now());
    assert_eq!(created, updated);
    let text = job.to_string();
    assert!(
        !text.contains("haiku"),
        "the prompt is never returned: {text}"
    );

    let messages = api.drain_queue().await;
    assert_eq!(messages.len(), 1, "exactly one message per job");
    let decoded = decode(&messages[0].body).expect("the message decodes");
    assert_eq!(
        decoded.job_id.as_ref().map(JobId::as_str),
        Some(id.as_str())
    );
    assert_eq!(decoded.request.model.as_deref(), Some("large"));
    assert_eq!(decoded.request.max_tokens, Some(200));
}

#[tokio::test]
async fn every_accepted_job_gets_its_own_id_and_message() {
    let api = TestApi::start().await;
    let mut ids = Vec::new();
    for i in 0..3 {
        let (status, body) = json_of(api.invoke(json!({"prompt": format!("p{i}")})).await).await;
        assert_eq!(status, 202, "{body}");
        ids.push(body["job_id"].as_str().unwrap().to_owned());
    }
    let mut queued: Vec<String> = api
        .drain_queue()
        .await
        .iter()
        .map(|m| decode(&m.body).unwrap().job_id.unwrap().to_string())
        .collect();
    queued.sort();
    ids.sort();
    assert_eq!(queued, ids);
}

#[tokio::test]
async fn a_conversation_with_charset_content_type_is_accepted() {
    let api = TestApi::start().await;
    let body = json!({
        "messages": [
            {"role": "user", "content": [{"text": "hi"}]},
            {"role": "assistant", "content": [{"text": "hello"}]},
            {"role": "user", "content": [{"text": "more"}]}
        ],
        "system": "be brief",
        "temperature": 0.5
    });
    let response = api
        .invoke_raw(body.to_string(), Some("application/json; charset=utf-8"))
        .await;
    let (status, body) = json_of(response).await;
    assert_eq!(status, 202, "{body}");
    let (_, job) = api
        .get_json(&format!("/jobs/{}", body["job_id"].as_str().unwrap()))
        .await;
    assert_eq!(job["model"], "small", "the default model");
}

#[tokio::test]
async fn a_body_without_content_type_is_taken_as_json() {
    let api = TestApi::start().await;
    let (status, body) = json_of(api.invoke_raw(r#"{"prompt": "x"}"#, None).await).await;
    assert_eq!(status, 202, "{body}");
}

/// A queue that is always down.
#[derive(Debug)]
struct DownQueue;

#[async_trait]
impl JobQueue for DownQueue {
    async fn send(&self, _body: String) -> Result<String, QueueError> {
        Err(QueueError::Unavailable("test: queue is down".into()))
    }
    async fn receive(
        &self,
        _max: u32,
        _wait: Duration,
        _visibility: Duration,
    ) -> Result<Vec<QueueMessage>, QueueError> {
        Err(QueueError::Unavailable("test: queue is down".into()))
    }
    async fn extend_visibility(&self, _: &str, _: Duration) -> Result<(), QueueError> {
        Err(QueueError::Unavailable("test: queue is down".into()))
    }
    async fn delete(&self, _: &str) -> Result<(), QueueError> {
        Err(QueueError::Unavailable("test: queue is down".into()))
    }
    async fn send_batch(&self, bodies: &[String]) -> Vec<SendOutcome> {
        bodies
            .iter()
            .map(|_| Err(QueueError::Unavailable("test: queue is down".into())))
            .collect()
    }
}

#[tokio::test]
async fn a_job_that_cannot_be_queued_is_503_and_failed() {
    let api = TestApi::start_with(None, Some(Arc::new(DownQueue)), ApiLimits::default()).await;
    let response = api.invoke(json!({"prompt": "hello"})).await;
    assert!(response.headers().get("location").is_none());
    let (status, body) = json_of(response).await;
    assert_eq!(status, 503, "{body}");
    assert_error(&body, "unavailable", &["queue"]);
    assert!(
        !body.to_string().contains("test: queue is down"),
        "backend details stay in the logs: {body}"
    );
    let id: JobId = body["error"]["job_id"].as_str().unwrap().parse().unwrap();

    let stored = api
        .store
        .get(&id)
        .await
        .unwrap()
        .expect("the job record exists");
    assert_eq!(stored.status, JobStatus::Failed);
    assert_eq!(stored.error.as_ref().unwrap().kind, "enqueue_failed");

    let (status, job) = api.get_json(&format!("/jobs/{id}")).await;
    assert_eq!(status, 200);
    assert_eq!(job["status"], "failed");
    assert_eq!(job["error"]["type"], "enqueue_failed");
}
