//! POST /batch, GET /batches/{id} and GET /batches/{id}/results over real HTTP against the
//! embedded store and queue: every accepted job is recorded and queued once, invalid requests
//! are reported by index, a queue that refuses some messages gives 503 naming them (and they
//! are failed), and results stream as JSON Lines in submission order.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bedrock_lb_api::ApiLimits;
use bedrock_lb_core::message::decode;
use bedrock_lb_core::{
    JobCompletion, JobError, JobId, JobQueue, JobResult, JobStatus, Lease, QueueError,
    QueueMessage, SendOutcome, Usage,
};
use bedrock_lb_embedded::{EmbeddedDb, QueueSettings};
use chrono::Utc;
use common::{TestApi, assert_error};
use serde_json::{Value, json};

fn ids_of(body: &Value) -> Vec<JobId> {
    body["job_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().parse().unwrap())
        .collect()
}

#[tokio::test]
async fn a_batch_is_recorded_and_queued_in_order_with_defaults_applied() {
    let api = TestApi::start().await;
    let (status, body) = api
        .post_json(
            "/batch",
            &json!({
                "requests": [
                    "bare prompt",
                    {"prompt": "own settings", "model": "small", "max_tokens": 5},
                    {"messages": [{"role": "user", "content": [{"text": "hi"}]}]}
                ],
                "defaults": {"model": "large", "max_tokens": 300, "metadata": {"team": "x"}}
            }),
            &[],
        )
        .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["count"], 3);
    let batch_id = body["batch_id"].as_str().unwrap().to_owned();
    let ids = ids_of(&body);
    assert_eq!(ids.len(), 3);

    let first = api.store.get(&ids[0]).await.unwrap().unwrap();
    assert_eq!(first.status, JobStatus::Queued);
    assert_eq!(first.batch_id.as_deref(), Some(batch_id.as_str()));
    let request = first.request.unwrap();
    assert_eq!(request.model, "large");
    assert_eq!(request.inference.max_tokens, Some(300));
    assert_eq!(request.messages[0].content[0].text, "bare prompt");
    let second = api
        .store
        .get(&ids[1])
        .await
        .unwrap()
        .unwrap()
        .request
        .unwrap();
    assert_eq!(second.model, "small");
    assert_eq!(second.inference.max_tokens, Some(5));
    assert_eq!(second.metadata, Some(json!({"team": "x"})));

    let messages = api.drain_all().await;
    let queued: BTreeSet<JobId> = messages
        .iter()
        .map(|m| decode(&m.body).unwrap().job_id.unwrap())
        .collect();
    assert_eq!(queued, ids.iter().cloned().collect(), "one message per job");
    assert_eq!(messages.len(), 3);
}

#[tokio::test]
async fn a_batch_of_1000_is_accepted_and_1001_refused() {
    let api = TestApi::start().await;
    let requests: Vec<Value> = (0..1000).map(|i| json!(format!("prompt {i}"))).collect();
    let (status, body) = api
        .post_json("/batch", &json!({"requests": requests}), &[])
        .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["count"], 1000);
    let ids = ids_of(&body);
    assert_eq!(ids.iter().collect::<BTreeSet<_>>().len(), 1000);
    assert_eq!(api.drain_all().await.len(), 1000);
    let batch_id = body["batch_id"].as_str().unwrap();
    let (status, summary) = api
        .get_json(&format!("/batches/{batch_id}?limit=1000"))
        .await;
    assert_eq!(status, 200, "{summary}");
    assert_eq!(summary["total"], 1000);
    assert_eq!(summary["counts"]["queued"], 1000);
    let listed: Vec<JobId> = ids_of(&summary);
    assert_eq!(listed, ids, "job ids in submission order");

    let too_many: Vec<Value> = (0..1001).map(|i| json!(format!("p{i}"))).collect();
    let (status, body) = api
        .post_json("/batch", &json!({"requests": too_many}), &[])
        .await;
    assert_eq!(status, 400, "{body}");
    assert_error(&body, "invalid_request", &["1 to 1000"]);
}

#[tokio::test]
async fn invalid_requests_are_reported_by_index_and_nothing_is_queued() {
    let api = TestApi::start().await;
    let (status, body) = api
        .post_json(
            "/batch",
            &json!({"requests": [
                "fine",
                {"prompt": "x", "max_tokens": 0},
                {"promt": "typo"},
                42,
                {"prompt": "x", "model": "gpt"}
            ]}),
            &[],
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_error(&body, "validation_error", &["4 of the batch's requests"]);
    let details = body["error"]["details"].as_array().unwrap();
    let summary: Vec<(u64, &str)> = details
        .iter()
        .map(|d| (d["index"].as_u64().unwrap(), d["field"].as_str().unwrap()))
        .collect();
    assert_eq!(
        summary,
        vec![
            (1, "max_tokens"),
            (2, "request"),
            (3, "request"),
            (4, "model")
        ]
    );
    assert!(details[1]["message"].as_str().unwrap().contains("promt"));
    assert!(api.drain_queue().await.is_empty());

    let (status, body) = api.post_json("/batch", &json!({"requests": []}), &[]).await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = api
        .post_json("/batch", &json!({"requests": ["a"], "extra": 1}), &[])
        .await;
    assert_eq!(status, 400, "{body}");
    assert_error(&body, "invalid_request", &["extra"]);
}

/// A queue that refuses every third message of a batch and passes the rest to a real one.
#[derive(Debug)]
struct PartlyFailingQueue(Arc<dyn JobQueue>);

#[async_trait]
impl JobQueue for PartlyFailingQueue {
    async fn send(&self, body: String) -> Result<String, QueueError> {
        self.0.send(body).await
    }
    async fn send_batch(&self, bodies: &[String]) -> Vec<SendOutcome> {
        let mut out = Vec::new();
        for (i, body) in bodies.iter().enumerate() {
            out.push(if i % 3 == 2 {
                Err(QueueError::Unavailable("test: refused".into()))
            } else {
                self.0.send(body.clone()).await
            });
        }
        out
    }
    async fn receive(
        &self,
        max: u32,
        wait: Duration,
        visibility: Duration,
    ) -> Result<Vec<QueueMessage>, QueueError> {
        self.0.receive(max, wait, visibility).await
    }
    async fn extend_visibility(&self, receipt: &str, v: Duration) -> Result<(), QueueError> {
        self.0.extend_visibility(receipt, v).await
    }
    async fn delete(&self, receipt: &str) -> Result<(), QueueError> {
        self.0.delete(receipt).await
    }
}

#[tokio::test]
async fn messages_the_queue_refuses_give_503_naming_them_and_their_jobs_fail() {
    let db = EmbeddedDb::open_in_memory(Arc::new(bedrock_lb_core::SystemClock)).unwrap();
    let store: Arc<dyn bedrock_lb_core::JobStore> = Arc::new(db.job_store());
    let queue = Arc::new(PartlyFailingQueue(Arc::new(
        db.queue(QueueSettings::default()),
    )));
    let api = TestApi::start_with(Some(store), Some(queue), ApiLimits::default()).await;
    let requests: Vec<Value> = (0..6).map(|i| json!(format!("p{i}"))).collect();
    let (status, body) = api
        .post_json("/batch", &json!({"requests": requests}), &[])
        .await;
    assert_eq!(status, 503, "{body}");
    assert_error(
        &body,
        "unavailable",
        &["2 of the batch's jobs were not queued"],
    );
    let queued: Vec<JobId> = serde_json::from_value(body["error"]["queued"].clone()).unwrap();
    let not_queued: Vec<JobId> =
        serde_json::from_value(body["error"]["not_queued"].clone()).unwrap();
    assert_eq!((queued.len(), not_queued.len()), (4, 2));
    for id in &not_queued {
        let job = api.store.get(id).await.unwrap().unwrap();
        assert_eq!(job.status, JobStatus::Failed);
        assert_eq!(job.error.unwrap().kind, "enqueue_failed");
    }
    for id in &queued {
        assert_eq!(
            api.store.get(id).await.unwrap().unwrap().status,
            JobStatus::Queued
        );
    }
    assert_eq!(api.drain_all().await.len(), 4);
}

fn finish(text: &str) -> JobCompletion {
    JobCompletion::succeeded(
        JobResult {
            text: text.into(),
            stop_reason: "end_turn".into(),
            region: "us-east-1".into(),
            model_id: "vendor.small-v1:0".into(),
            usage: Usage {
                input_tokens: 1,
                output_tokens: 2,
                total_tokens: 3,
            },
            latency_ms: 5,
        },
        Vec::new(),
        Utc::now(),
    )
}

#[tokio::test]
async fn status_pages_and_results_stream_in_submission_order() {
    let api = TestApi::start().await;
    let requests: Vec<Value> = (0..450).map(|i| json!(format!("p{i}"))).collect();
    let (status, body) = api
        .post_json("/batch", &json!({"requests": requests}), &[])
        .await;
    assert_eq!(status, 202, "{body}");
    let batch_id = body["batch_id"].as_str().unwrap().to_owned();
    let ids = ids_of(&body);
    // Jobs 1, 250 and 449 succeed, job 3 is cancelled, job 5 fails; the rest stay queued.
    let lease = Lease {
        owner: "w".into(),
        expires_at: Utc::now() + chrono::Duration::seconds(60),
    };
    for i in [1, 250, 449] {
        api.store.claim(&ids[i], &lease, Utc::now()).await.unwrap();
        api.store
            .complete(&ids[i], "w", &finish(&format!("answer {i}")))
            .await
            .unwrap();
    }
    let reason = JobError::new("cancelled", "by test");
    api.store
        .close_queued(&ids[3], JobStatus::Cancelled, &reason, Utc::now())
        .await
        .unwrap();
    api.store.claim(&ids[5], &lease, Utc::now()).await.unwrap();
    let failed = JobCompletion::failed(JobError::new("validation", "no"), Vec::new(), Utc::now());
    api.store.complete(&ids[5], "w", &failed).await.unwrap();

    // Counts, and the ids in pages of 200 following `next`.
    let mut listed = Vec::new();
    let mut path = format!("/batches/{batch_id}?limit=200");
    loop {
        let (status, page) = api.get_json(&path).await;
        assert_eq!(status, 200, "{page}");
        assert_eq!(page["total"], 450);
        assert_eq!(page["counts"]["succeeded"], 3);
        assert_eq!(page["counts"]["failed"], 1);
        assert_eq!(page["counts"]["cancelled"], 1);
        assert_eq!(page["counts"]["queued"], 445);
        assert_eq!(page["counts"]["running"], 0);
        listed.extend(ids_of(&page));
        match page["next"].as_str() {
            Some(next) => path = format!("/batches/{batch_id}?limit=200&after={next}"),
            None => break,
        }
    }
    assert_eq!(listed, ids);

    let response = api
        .client
        .get(api.url(&format!("/batches/{batch_id}/results")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/x-ndjson");
    let text = response.text().await.unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let indexes: Vec<u64> = lines.iter().map(|l| l["index"].as_u64().unwrap()).collect();
    assert_eq!(indexes, vec![1, 3, 5, 250, 449]);
    assert_eq!(lines[0]["job_id"], ids[1].as_str());
    assert_eq!(lines[0]["status"], "succeeded");
    assert_eq!(lines[0]["result"]["text"], "answer 1");
    assert_eq!(lines[1]["status"], "cancelled");
    assert_eq!(lines[2]["error"]["type"], "validation");
    assert_eq!(lines[4]["result"]["text"], "answer 449");
}

#[tokio::test]
async fn unknown_or_malformed_batches_are_404_or_400() {
    let api = TestApi::start().await;
    let unknown = JobId::generate();
    let (status, body) = api.get_json(&format!("/batches/{unknown}")).await;
    assert_eq!(status, 404, "{body}");
    assert_error(&body, "not_found", &[unknown.as_str()]);
    let (status, _) = api.get_json(&format!("/batches/{unknown}/results")).await;
    assert_eq!(status, 404);
    let (status, body) = api.get_json("/batches/a%20b").await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = api
        .post_json("/batch", &json!({"requests": ["x"]}), &[])
        .await;
    assert_eq!(status, 202);
    let batch_id = body["batch_id"].as_str().unwrap();
    for bad in ["limit=0", "limit=abc", "limit=1001", "after=a%20b"] {
        let (status, body) = api.get_json(&format!("/batches/{batch_id}?{bad}")).await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert_error(&body, "invalid_request", &[]);
    }
}

/// A queue whose batch sends wait until the test lets them go, and which says whether a send
/// was abandoned half-way (its future dropped).
#[derive(Debug)]
struct HeldQueue {
    inner: Arc<dyn JobQueue>,
    entered: tokio::sync::Notify,
    release: tokio::sync::Notify,
    abandoned: tokio::sync::Notify,
}

/// Signals `abandoned` when dropped before `disarm`.
struct AbandonAlarm<'a>(Option<&'a tokio::sync::Notify>);

impl Drop for AbandonAlarm<'_> {
    fn drop(&mut self) {
        if let Some(abandoned) = self.0 {
            abandoned.notify_one();
        }
    }
}

#[async_trait]
impl JobQueue for HeldQueue {
    async fn send(&self, body: String) -> Result<String, QueueError> {
        self.inner.send(body).await
    }
    async fn send_batch(&self, bodies: &[String]) -> Vec<SendOutcome> {
        let mut alarm = AbandonAlarm(Some(&self.abandoned));
        self.entered.notify_one();
        self.release.notified().await;
        alarm.0 = None;
        self.inner.send_batch(bodies).await
    }
    async fn receive(
        &self,
        max: u32,
        wait: Duration,
        visibility: Duration,
    ) -> Result<Vec<QueueMessage>, QueueError> {
        self.inner.receive(max, wait, visibility).await
    }
    async fn extend_visibility(&self, receipt: &str, v: Duration) -> Result<(), QueueError> {
        self.inner.extend_visibility(receipt, v).await
    }
    async fn delete(&self, receipt: &str) -> Result<(), QueueError> {
        self.inner.delete(receipt).await
    }
}

#[tokio::test]
async fn a_client_that_hangs_up_mid_batch_still_gets_every_recorded_job_queued() {
    let db = EmbeddedDb::open_in_memory(Arc::new(bedrock_lb_core::SystemClock)).unwrap();
    let store: Arc<dyn bedrock_lb_core::JobStore> = Arc::new(db.job_store());
    let queue = Arc::new(HeldQueue {
        inner: Arc::new(db.queue(QueueSettings::default())),
        entered: tokio::sync::Notify::new(),
        release: tokio::sync::Notify::new(),
        abandoned: tokio::sync::Notify::new(),
    });
    let api = TestApi::start_with(Some(store), Some(queue.clone()), ApiLimits::default()).await;
    let (client, url) = (api.client.clone(), api.url("/batch"));
    let request = tokio::spawn(async move {
        client
            .post(url)
            .json(&json!({"requests": ["a", "b", "c"]}))
            .send()
            .await
    });
    // The records are written and the messages are about to be sent: the client hangs up.
    queue.entered.notified().await;
    request.abort();
    assert!(request.await.unwrap_err().is_cancelled());
    // A server drops the handler of a closed connection; the send must not go with it.
    let abandoned =
        tokio::time::timeout(Duration::from_millis(500), queue.abandoned.notified()).await;
    assert!(
        abandoned.is_err(),
        "the batch send was abandoned with the client"
    );
    queue.release.notify_one();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let mut received = Vec::new();
    while received.len() < 3 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {} of 3 messages were queued",
            received.len()
        );
        received.extend(api.drain_all().await);
    }
    assert_eq!(received.len(), 3);
}
