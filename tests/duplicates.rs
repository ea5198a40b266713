//! Duplicate delivery: the same message (same `job_id`) delivered twice, at once, through moto's
//! SQS to two workers produces one Bedrock call (the simulator's own count) and one result write
//! (counted on the real store), and both copies leave the queue.
//!
//! The job store here is the embedded SQLite store, not DynamoDB on moto: what this test proves
//! is the worker's claim protocol, which rests on the store's conditional writes being atomic.
//! DynamoDB guarantees that; moto does not (it checks a condition and writes without a lock, so
//! two claims arriving together can both win there, about once in ten runs). The DynamoDB store's
//! conditional claim and complete are tested one at a time in crates/aws/tests.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_sqs::types::QueueAttributeName;
use bedrock_lb::wiring;
use bedrock_lb_core::{
    Clock, IdempotencyRecord, Job, JobCompletion, JobError, JobId, JobStatus, JobStore, Lease,
    StoreError, SystemClock,
};
use bedrock_lb_e2e::{
    aws_config, moto_resources_named, moto_sdk_config, require_aws_environment_on_moto,
};
use bedrock_lb_worker::{WorkerContext, WorkerSettings};
use chrono::{DateTime, Utc};
use serde_json::json;
use tokio_util::sync::CancellationToken;

/// The real store, counting the result writes that succeeded.
#[derive(Debug)]
struct CountingStore {
    inner: Arc<dyn JobStore>,
    completed: AtomicUsize,
}

#[async_trait]
impl JobStore for CountingStore {
    async fn create(&self, job: &Job) -> Result<(), StoreError> {
        self.inner.create(job).await
    }
    async fn get(&self, id: &JobId) -> Result<Option<Job>, StoreError> {
        self.inner.get(id).await
    }
    async fn claim(
        &self,
        id: &JobId,
        lease: &Lease,
        now: DateTime<Utc>,
    ) -> Result<Option<Job>, StoreError> {
        self.inner.claim(id, lease, now).await
    }
    async fn extend_lease(&self, id: &JobId, lease: &Lease) -> Result<(), StoreError> {
        self.inner.extend_lease(id, lease).await
    }
    async fn release(&self, id: &JobId, owner: &str) -> Result<(), StoreError> {
        self.inner.release(id, owner).await
    }
    async fn complete(
        &self,
        id: &JobId,
        owner: &str,
        completion: &JobCompletion,
    ) -> Result<(), StoreError> {
        self.inner.complete(id, owner, completion).await?;
        self.completed.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
    async fn close_queued(
        &self,
        id: &JobId,
        status: JobStatus,
        error: &JobError,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.inner.close_queued(id, status, error, now).await
    }
    async fn create_batch(&self, jobs: &[Job]) -> Result<(), StoreError> {
        self.inner.create_batch(jobs).await
    }
    async fn list_batch(
        &self,
        batch_id: &str,
        after: Option<&JobId>,
        limit: usize,
    ) -> Result<Vec<Job>, StoreError> {
        self.inner.list_batch(batch_id, after, limit).await
    }
    async fn put_idempotency(
        &self,
        record: &IdempotencyRecord,
        now: DateTime<Utc>,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        self.inner.put_idempotency(record, now).await
    }
    async fn fail_abandoned(
        &self,
        id: &JobId,
        error: &JobError,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.inner.fail_abandoned(id, error, now).await
    }
}

#[tokio::test]
async fn one_message_delivered_twice_to_two_workers_runs_once() {
    require_aws_environment_on_moto();
    let mut sim_config = bedrock_sim::SimConfig::sample();
    sim_config.latency.first_token_ms = 800;
    let simulator = bedrock_sim::spawn(sim_config).await.unwrap();
    let sdk = moto_sdk_config();
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let urls = moto_resources_named("dup", 5).await;
    let name = urls.table.clone();
    let mut config = aws_config(&urls.queue_url, &name, &simulator.url());
    // Long enough that a worker slowed by a loaded machine keeps its lease through the call.
    config.worker.visibility_timeout_secs = 6;
    config.worker.concurrency = 1;
    config.worker.receive_batch = 1;

    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let storage = wiring::storage(&config, Arc::clone(&clock)).await.unwrap();
    let bedrock = wiring::bedrock(&config).await.unwrap();
    let data = tempfile::tempdir().unwrap();
    let db =
        bedrock_lb_embedded::EmbeddedDb::open(&data.path().join("jobs.db"), Arc::clone(&clock))
            .unwrap();
    let jobs: Arc<dyn JobStore> = Arc::new(db.job_store());
    let store = Arc::new(CountingStore {
        inner: Arc::clone(&jobs),
        completed: AtomicUsize::new(0),
    });
    let job_id = format!("dup-job-{}", uuid::Uuid::new_v4().simple());
    let body = json!({"job_id": job_id, "prompt": "delivered twice", "max_tokens": 20});
    for _ in 0..2 {
        sqs.send_message()
            .queue_url(&urls.queue_url)
            .message_body(body.to_string())
            .send()
            .await
            .unwrap();
    }

    let shutdown = CancellationToken::new();
    let workers: Vec<_> = ["dup-worker-a", "dup-worker-b"]
        .into_iter()
        .map(|id| {
            let ctx = WorkerContext {
                queue: Arc::clone(&storage.queue),
                store: store.clone(),
                invoker: Arc::clone(&bedrock.invoker),
                catalog: Arc::new(config.catalog().unwrap()),
                clock: Arc::clone(&clock),
                dead_letters: None,
                router: bedrock_lb::wiring::router(&config),
                quotas: None,
            };
            let settings = WorkerSettings::from_config(&config, id);
            tokio::spawn(bedrock_lb_worker::run(ctx, settings, shutdown.clone()))
        })
        .collect();

    // Both copies leave the queue: one deleted with the result, the other once its worker sees
    // the job finished.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let attributes = sqs
            .get_queue_attributes()
            .queue_url(&urls.queue_url)
            .attribute_names(QueueAttributeName::All)
            .send()
            .await
            .unwrap()
            .attributes
            .unwrap();
        let left: usize = [
            QueueAttributeName::ApproximateNumberOfMessages,
            QueueAttributeName::ApproximateNumberOfMessagesNotVisible,
        ]
        .iter()
        .map(|a| attributes[a].parse::<usize>().unwrap())
        .sum();
        if left == 0 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{left} messages still queued"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    shutdown.cancel();
    for worker in workers {
        worker.await.unwrap();
    }

    let job = jobs.get(&job_id.parse().unwrap()).await.unwrap().unwrap();
    assert_eq!(job.status, JobStatus::Succeeded);
    assert_eq!(
        store.completed.load(Ordering::SeqCst),
        1,
        "one result write"
    );
    assert_eq!(simulator.stats().totals.requests, 1, "one Bedrock call");
    simulator.shutdown().await;
}
