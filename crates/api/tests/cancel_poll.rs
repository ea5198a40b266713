//! DELETE /jobs/{id} (cancel before start) and GET /jobs/{id}?wait=N (long poll) over real
//! HTTP against the embedded store.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use bedrock_lb_core::{JobCompletion, JobError, JobId, JobStatus, Lease};
use chrono::Utc;
use common::{TestApi, assert_error, json_of};
use reqwest::Method;
use serde_json::json;

async fn submit(api: &TestApi) -> JobId {
    let (status, body) = json_of(api.invoke(json!({"prompt": "p"})).await).await;
    assert_eq!(status, 202, "{body}");
    body["job_id"].as_str().unwrap().parse().unwrap()
}

fn lease() -> Lease {
    Lease {
        owner: "w".into(),
        expires_at: Utc::now() + chrono::Duration::seconds(60),
    }
}

#[tokio::test]
async fn a_queued_job_is_cancelled_and_then_conflicts() {
    let api = TestApi::start().await;
    let id = submit(&api).await;
    let path = format!("/jobs/{id}");
    let (status, job) = api.request_json(Method::DELETE, &path, &[]).await;
    assert_eq!(status, 200, "{job}");
    assert_eq!(job["status"], "cancelled");
    assert_eq!(job["error"]["type"], "cancelled");
    assert_eq!(
        api.store.get(&id).await.unwrap().unwrap().status,
        JobStatus::Cancelled
    );
    let (status, body) = api.request_json(Method::DELETE, &path, &[]).await;
    assert_eq!(status, 409, "{body}");
    assert_error(&body, "conflict", &["cancelled"]);
    assert_eq!(body["error"]["status"], "cancelled");
}

#[tokio::test]
async fn a_running_job_cannot_be_cancelled_and_unknown_jobs_are_404() {
    let api = TestApi::start().await;
    let id = submit(&api).await;
    api.store.claim(&id, &lease(), Utc::now()).await.unwrap();
    let (status, body) = api
        .request_json(Method::DELETE, &format!("/jobs/{id}"), &[])
        .await;
    assert_eq!(status, 409, "{body}");
    assert_error(&body, "conflict", &["running"]);
    assert_eq!(
        api.store.get(&id).await.unwrap().unwrap().status,
        JobStatus::Running
    );
    let (status, body) = api
        .request_json(Method::DELETE, &format!("/jobs/{}", JobId::generate()), &[])
        .await;
    assert_eq!(status, 404, "{body}");
}

#[tokio::test]
async fn a_long_poll_returns_as_soon_as_the_job_finishes() {
    let api = TestApi::start().await;
    let id = submit(&api).await;
    let store = api.store.clone();
    let finisher_id = id.clone();
    tokio::spawn(async move {
        // Lets the poll start first; the poll's answer, not this pause, is what is measured.
        tokio::time::sleep(Duration::from_millis(150)).await;
        store
            .claim(&finisher_id, &lease(), Utc::now())
            .await
            .unwrap();
        let failed = JobCompletion::failed(JobError::new("validation", "x"), vec![], Utc::now());
        store.complete(&finisher_id, "w", &failed).await.unwrap();
    });
    let started = tokio::time::Instant::now();
    let (status, job) = api.get_json(&format!("/jobs/{id}?wait=20")).await;
    let elapsed = started.elapsed();
    assert_eq!(status, 200, "{job}");
    assert_eq!(job["status"], "failed");
    assert!(elapsed < Duration::from_secs(5), "took {elapsed:?}");
}

#[tokio::test]
async fn a_long_poll_times_out_with_the_job_as_it_is() {
    let api = TestApi::start().await;
    let id = submit(&api).await;
    let started = tokio::time::Instant::now();
    let (status, job) = api.get_json(&format!("/jobs/{id}?wait=0.3")).await;
    let elapsed = started.elapsed();
    assert_eq!(status, 200, "{job}");
    assert_eq!(job["status"], "queued");
    assert!(elapsed >= Duration::from_millis(300), "took {elapsed:?}");
    assert!(elapsed < Duration::from_secs(5), "took {elapsed:?}");
}

#[tokio::test]
async fn a_bad_wait_is_400() {
    let api = TestApi::start().await;
    let id = submit(&api).await;
    for bad in ["-1", "soon", "NaN"] {
        let (status, body) = api.get_json(&format!("/jobs/{id}?wait={bad}")).await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert_error(&body, "invalid_request", &["wait"]);
    }
}
