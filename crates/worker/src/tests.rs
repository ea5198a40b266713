//! The worker's delivery rules against the embedded SQLite queue and store (real parts), with
//! a counting stand-in for Bedrock: deadlines, cancelled jobs, repeated deliveries, shutdown
//! hand-back, messages that cannot be understood, and the dead-letter drain.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use bedrock_lb_core::message::encode;
use bedrock_lb_core::{
    BucketId, ConverseOutput, InvokeError, InvokeRequest, Job, JobError, JobId, JobQueue,
    JobRequest, JobStatus, Lease, ModelCatalog, ModelInvoker, ModelSpec, QueueMessage, SystemClock,
    Usage,
};
use bedrock_lb_core::{BucketQuota, ModelRoute, QuotaTable};
use bedrock_lb_embedded::{EmbeddedDb, QueueSettings};
use bedrock_lb_router::{Router, RouterSettings};
use chrono::{TimeDelta, Utc};
use tokio_util::sync::CancellationToken;

use crate::dispatch::RetryPolicy;
use crate::inflight::InFlight;
use crate::process::{Disposition, process};
use crate::{QuotaSettings, WorkerContext, WorkerSettings, dead_letters};

/// Bedrock stand-in: counts calls, answers after `delay` (forever when `None`).
#[derive(Debug)]
struct Counting {
    calls: AtomicUsize,
    delay: Option<Duration>,
}

#[async_trait]
impl ModelInvoker for Counting {
    async fn converse(
        &self,
        _bucket: &BucketId,
        _request: &JobRequest,
    ) -> Result<ConverseOutput, InvokeError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        match self.delay {
            Some(delay) => tokio::time::sleep(delay).await,
            None => std::future::pending::<()>().await,
        }
        Ok(ConverseOutput {
            text: "ok".into(),
            stop_reason: "end_turn".into(),
            usage: Usage::default(),
            latency_ms: 1,
        })
    }
}

struct Fixture {
    ctx: WorkerContext,
    invoker: Arc<Counting>,
    _dir: tempfile::TempDir,
}

fn catalog() -> ModelCatalog {
    ModelCatalog::new(
        "m",
        [ModelSpec {
            name: "m".into(),
            max_output_tokens: 100,
            buckets: vec![BucketId::new("us-east-1", "x")],
        }],
    )
    .unwrap()
}

fn fixture(delay: Option<Duration>) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let db = EmbeddedDb::open(&dir.path().join("w.db"), Arc::new(SystemClock)).unwrap();
    let queue = db
        .queue(QueueSettings {
            max_receive_count: 10,
        })
        .with_recheck_interval(Duration::from_millis(20));
    let invoker = Arc::new(Counting {
        calls: AtomicUsize::new(0),
        delay,
    });
    let ctx = WorkerContext {
        queue: Arc::new(queue),
        store: Arc::new(db.job_store()),
        invoker: invoker.clone(),
        catalog: Arc::new(catalog()),
        clock: Arc::new(SystemClock),
        dead_letters: Some(Arc::new(db.dead_letter_queue())),
        router: Router::new(RouterSettings::default()),
        quotas: None,
    };
    ctx.router.configure(&seed(), 1);
    Fixture {
        ctx,
        invoker,
        _dir: dir,
    }
}

fn settings(id: &str) -> WorkerSettings {
    WorkerSettings {
        worker_id: id.into(),
        concurrency: 4,
        receive_batch: 4,
        wait_time: Duration::from_millis(50),
        visibility_timeout: Duration::from_secs(30),
        retry: RetryPolicy {
            max_attempts: 2,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(2),
        },
        shutdown_grace: Duration::from_millis(200),
        dead_letter_wait: Duration::from_millis(50),
        quota: QuotaSettings {
            seed: seed(),
            refresh: Duration::from_secs(1),
            worker_ttl: Duration::from_secs(3),
        },
    }
}

/// The quota table of [`catalog`]: one roomy bucket.
fn seed() -> QuotaTable {
    QuotaTable {
        buckets: vec![BucketQuota::new("us-east-1", "x", 10_000_000)],
        routes: vec![ModelRoute {
            model: "m".into(),
            region: "us-east-1".into(),
            model_id: "x".into(),
        }],
    }
}

fn request() -> JobRequest {
    InvokeRequest::from_prompt("hi")
        .validate(&catalog())
        .unwrap()
}

async fn queued_job(ctx: &WorkerContext, request: JobRequest) -> (JobId, String) {
    let id = JobId::generate();
    ctx.store
        .create(&Job::queued(id.clone(), request.clone(), Utc::now()))
        .await
        .unwrap();
    let body = encode(&id, &request);
    (id, body)
}

async fn receive_one(queue: &dyn JobQueue) -> QueueMessage {
    let mut got = queue
        .receive(1, Duration::from_millis(500), Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(got.len(), 1, "one message is receivable");
    got.remove(0)
}

async fn run_one(f: &Fixture, worker: &str) -> Disposition {
    let msg = receive_one(f.ctx.queue.as_ref()).await;
    let registration = InFlight::default().register(&msg.receipt);
    process(&f.ctx, &settings(worker), msg, registration).await
}

async fn nothing_receivable(queue: &dyn JobQueue) -> bool {
    queue
        .receive(1, Duration::ZERO, Duration::from_secs(30))
        .await
        .unwrap()
        .is_empty()
}

#[tokio::test]
async fn a_job_past_its_deadline_expires_without_calling_bedrock() {
    let f = fixture(Some(Duration::ZERO));
    let mut late = request();
    late.deadline = Some(Utc::now() - TimeDelta::seconds(1));
    let (id, body) = queued_job(&f.ctx, late).await;
    f.ctx.queue.send(body).await.unwrap();
    assert_eq!(run_one(&f, "w1").await, Disposition::Done);
    let job = f.ctx.store.get(&id).await.unwrap().unwrap();
    assert_eq!(job.status, JobStatus::Expired);
    assert_eq!(job.error.unwrap().kind, "expired");
    assert_eq!(f.invoker.calls.load(Ordering::SeqCst), 0);
    assert!(
        nothing_receivable(f.ctx.queue.as_ref()).await,
        "message deleted"
    );
}

#[tokio::test]
async fn a_cancelled_job_is_dropped_when_its_message_arrives() {
    let f = fixture(Some(Duration::ZERO));
    let (id, body) = queued_job(&f.ctx, request()).await;
    f.ctx
        .store
        .close_queued(
            &id,
            JobStatus::Cancelled,
            &JobError::new("cancelled", "x"),
            Utc::now(),
        )
        .await
        .unwrap();
    f.ctx.queue.send(body).await.unwrap();
    assert_eq!(run_one(&f, "w1").await, Disposition::Done);
    assert_eq!(f.invoker.calls.load(Ordering::SeqCst), 0);
    let job = f.ctx.store.get(&id).await.unwrap().unwrap();
    assert_eq!(job.status, JobStatus::Cancelled);
    assert!(nothing_receivable(f.ctx.queue.as_ref()).await);
}

#[tokio::test]
async fn a_repeated_message_is_hidden_until_the_other_workers_lease_ends() {
    let f = fixture(Some(Duration::ZERO));
    let (id, body) = queued_job(&f.ctx, request()).await;
    let lease = Lease {
        owner: "other".into(),
        expires_at: Utc::now() + TimeDelta::milliseconds(1500),
    };
    assert!(
        f.ctx
            .store
            .claim(&id, &lease, Utc::now())
            .await
            .unwrap()
            .is_some()
    );
    f.ctx.queue.send(body).await.unwrap();
    let msg = receive_one(f.ctx.queue.as_ref()).await;
    // Make it visible at once, as a second delivery would be, then process it.
    let registration = InFlight::default().register(&msg.receipt);
    let out = process(&f.ctx, &settings("w1"), msg, registration).await;
    assert_eq!(out, Disposition::Left);
    assert_eq!(f.invoker.calls.load(Ordering::SeqCst), 0);
    // Hidden for the remaining lease (1.5 s) plus a margin, not the 30 s default.
    assert!(nothing_receivable(f.ctx.queue.as_ref()).await);
    let again = f
        .ctx
        .queue
        .receive(1, Duration::from_secs(5), Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(again.len(), 1, "back once the lease has run out");
    assert_eq!(again[0].receive_count, 2);
    let registration = InFlight::default().register(&again[0].receipt);
    let out = process(&f.ctx, &settings("w1"), again[0].clone(), registration).await;
    assert_eq!(out, Disposition::Done, "the expired lease is taken over");
    assert_eq!(f.invoker.calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn shutdown_hands_back_jobs_that_outlive_the_grace_period() {
    let f = fixture(None);
    let (id, body) = queued_job(&f.ctx, request()).await;
    f.ctx.queue.send(body).await.unwrap();
    let shutdown = CancellationToken::new();
    let worker = tokio::spawn(crate::run(f.ctx.clone(), settings("w1"), shutdown.clone()));
    while f.invoker.calls.load(Ordering::SeqCst) == 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        f.ctx.store.get(&id).await.unwrap().unwrap().status,
        JobStatus::Running
    );
    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(5), worker)
        .await
        .expect("stops after the 200 ms grace period")
        .unwrap();
    let job = f.ctx.store.get(&id).await.unwrap().unwrap();
    assert_eq!(job.status, JobStatus::Queued, "lease released");
    assert!(job.lease.is_none());
    let msg = f
        .ctx
        .queue
        .receive(1, Duration::ZERO, Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(msg.len(), 1, "visible again at once, not after 30 s");
}

#[tokio::test]
async fn shutdown_lets_jobs_finish_within_the_grace_period() {
    let f = fixture(Some(Duration::from_millis(100)));
    let (id, body) = queued_job(&f.ctx, request()).await;
    f.ctx.queue.send(body).await.unwrap();
    let shutdown = CancellationToken::new();
    let mut s = settings("w1");
    s.shutdown_grace = Duration::from_secs(10);
    let worker = tokio::spawn(crate::run(f.ctx.clone(), s, shutdown.clone()));
    while f.invoker.calls.load(Ordering::SeqCst) == 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    shutdown.cancel();
    worker.await.unwrap();
    let job = f.ctx.store.get(&id).await.unwrap().unwrap();
    assert_eq!(job.status, JobStatus::Succeeded);
}

#[tokio::test]
async fn a_message_that_cannot_be_run_fails_its_job_and_moves_to_the_dead_letters() {
    let f = fixture(Some(Duration::ZERO));
    let id = f.ctx.queue.send("[1, 2]".into()).await.unwrap();
    assert_eq!(run_one(&f, "w1").await, Disposition::Done);
    let job = f
        .ctx
        .store
        .get(&id.parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(job.status, JobStatus::Failed);
    assert_eq!(job.error.unwrap().kind, "invalid_message");
    assert!(nothing_receivable(f.ctx.queue.as_ref()).await, "deleted");
    let dlq = f.ctx.dead_letters.clone().unwrap();
    let copy = receive_one(dlq.as_ref()).await;
    assert_eq!(copy.body, "[1, 2]");
    // The copy's own id answers with the same reason, so the drain leaves it alone.
    let hide = dead_letters::handle(&f.ctx, &copy).await.unwrap();
    assert_eq!(hide, dead_letters::KEEP_HIDDEN);
    let copy_job = f
        .ctx
        .store
        .get(&copy.message_id.parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(copy_job.error.unwrap().kind, "invalid_message");
}

#[tokio::test]
async fn the_dead_letter_drain_fails_abandoned_jobs_and_keeps_the_messages() {
    let f = fixture(Some(Duration::ZERO));
    let dlq = f.ctx.dead_letters.clone().unwrap();
    // A queued job whose message was dead-lettered, a producer's message never recorded, and a
    // finished job.
    let (queued, body) = queued_job(&f.ctx, request()).await;
    dlq.send(body).await.unwrap();
    let unrecorded = dlq.send("a producer's prompt".into()).await.unwrap();
    let (finished, body) = queued_job(&f.ctx, request()).await;
    f.ctx
        .store
        .close_queued(
            &finished,
            JobStatus::Cancelled,
            &JobError::new("cancelled", "x"),
            Utc::now(),
        )
        .await
        .unwrap();
    dlq.send(body).await.unwrap();

    let shutdown = CancellationToken::new();
    let drain = tokio::spawn(dead_letters::drain(
        f.ctx.clone(),
        Arc::clone(&dlq),
        Duration::from_millis(50),
        shutdown.clone(),
    ));
    let unrecorded: JobId = unrecorded.parse().unwrap();
    let status = |id: JobId| {
        let store = Arc::clone(&f.ctx.store);
        async move { store.get(&id).await.unwrap().map(|j| (j.status, j.error)) }
    };
    for _ in 0..200 {
        if status(unrecorded.clone()).await.is_some()
            && status(queued.clone()).await.unwrap().0 == JobStatus::Failed
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (st, error) = status(queued).await.unwrap();
    assert_eq!(st, JobStatus::Failed);
    let error = error.unwrap();
    assert_eq!(error.kind, "dead_lettered");
    assert!(
        error.message.contains("without the job finishing"),
        "{}",
        error.message
    );
    let (st, error) = status(unrecorded).await.expect("record created");
    assert_eq!(
        (st, error.unwrap().kind.as_str()),
        (JobStatus::Failed, "dead_lettered")
    );
    assert_eq!(status(finished).await.unwrap().0, JobStatus::Cancelled);
    shutdown.cancel();
    drain.await.unwrap();
    // All three are kept, hidden, not deleted.
    assert!(nothing_receivable(dlq.as_ref()).await);
}
