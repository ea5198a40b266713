//! The embedded job store's conditional writes: create-if-absent, claims, leases, completion.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use bedrock_lb_core::{
    Clock, JobCompletion, JobError, JobId, JobResult, JobStatus, JobStore, Lease, StoreError, Usage,
};
use chrono::{DateTime, Duration, Utc};

fn lease(owner: &str, expires_at: DateTime<Utc>) -> Lease {
    Lease {
        owner: owner.into(),
        expires_at,
    }
}

fn result() -> JobResult {
    JobResult {
        text: "hi there".into(),
        stop_reason: "end_turn".into(),
        region: "us-east-1".into(),
        model_id: "anthropic.claude-test".into(),
        usage: Usage {
            input_tokens: 3,
            output_tokens: 2,
            total_tokens: 5,
        },
        latency_ms: 12,
    }
}

#[tokio::test]
async fn create_twice_is_already_exists_and_get_returns_what_was_stored() {
    let clock = common::clock();
    let store = common::memory_db(&clock).job_store();
    let mut job = common::queued_job(clock.now());
    job.batch_id = Some("batch-1".into());
    store.create(&job).await.unwrap();
    assert_eq!(
        store.create(&job).await,
        Err(StoreError::AlreadyExists(job.job_id.clone()))
    );
    assert_eq!(store.get(&job.job_id).await.unwrap(), Some(job));
    assert_eq!(store.get(&JobId::generate()).await.unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_two_concurrent_claims_exactly_one_wins() {
    let clock = common::clock();
    let store = common::memory_db(&clock).job_store();
    let now = clock.now();
    for _ in 0..10 {
        let job = common::queued_job(now);
        store.create(&job).await.unwrap();
        let claim = |owner: &'static str| {
            let store = store.clone();
            let id = job.job_id.clone();
            tokio::spawn(async move {
                store
                    .claim(&id, &lease(owner, now + Duration::seconds(60)), now)
                    .await
            })
        };
        let (a, b) = tokio::join!(claim("w1"), claim("w2"));
        let (a, b) = (a.unwrap().unwrap(), b.unwrap().unwrap());
        assert!(a.is_some() != b.is_some(), "exactly one claim wins");
        let winner = a.or(b).unwrap();
        assert_eq!(winner.status, JobStatus::Running);
        let stored = store.get(&job.job_id).await.unwrap().unwrap();
        assert_eq!(stored, winner);
    }
}

#[tokio::test]
async fn a_claim_sets_the_lease_and_a_finished_or_missing_job_is_not_claimable() {
    let clock = common::clock();
    let store = common::memory_db(&clock).job_store();
    let created = clock.now();
    let job = common::queued_job(created);
    store.create(&job).await.unwrap();

    clock.advance(Duration::seconds(5));
    let now = clock.now();
    let held = lease("w1", now + Duration::seconds(60));
    let claimed = store.claim(&job.job_id, &held, now).await.unwrap().unwrap();
    assert_eq!(claimed.lease, Some(held));
    assert_eq!(claimed.updated_at, now);
    assert_eq!(claimed.created_at, created);

    let done = JobCompletion::succeeded(result(), Vec::new(), now);
    store.complete(&job.job_id, "w1", &done).await.unwrap();
    let finished = store.get(&job.job_id).await.unwrap().unwrap();
    assert_eq!(finished.status, JobStatus::Succeeded);
    assert_eq!(finished.result, Some(result()));
    assert_eq!(finished.lease, None);

    let later = now + Duration::hours(1);
    let again = lease("w2", later + Duration::seconds(60));
    assert_eq!(store.claim(&job.job_id, &again, later).await.unwrap(), None);
    assert_eq!(
        store
            .claim(&JobId::generate(), &again, later)
            .await
            .unwrap(),
        None
    );
    // A second completion is refused: a result is written once.
    assert_eq!(
        store.complete(&job.job_id, "w1", &done).await,
        Err(StoreError::Conflict(job.job_id.clone()))
    );
}

#[tokio::test]
async fn after_lease_expiry_another_worker_takes_over_and_the_old_owner_cannot_complete() {
    let clock = common::clock();
    let store = common::memory_db(&clock).job_store();
    let job = common::queued_job(clock.now());
    store.create(&job).await.unwrap();
    let t0 = clock.now();
    store
        .claim(&job.job_id, &lease("old", t0 + Duration::seconds(30)), t0)
        .await
        .unwrap()
        .unwrap();

    clock.advance(Duration::seconds(29));
    let t1 = clock.now();
    let takeover = lease("new", t1 + Duration::seconds(30));
    assert_eq!(
        store.claim(&job.job_id, &takeover, t1).await.unwrap(),
        None,
        "lease still valid"
    );

    clock.advance(Duration::seconds(1));
    let t2 = clock.now();
    let takeover = lease("new", t2 + Duration::seconds(30));
    let taken = store
        .claim(&job.job_id, &takeover, t2)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(taken.lease, Some(takeover));

    let late = JobCompletion::failed(JobError::new("timeout", "too slow"), Vec::new(), t2);
    assert_eq!(
        store.complete(&job.job_id, "old", &late).await,
        Err(StoreError::Conflict(job.job_id.clone()))
    );
    let done = JobCompletion::succeeded(result(), Vec::new(), t2);
    store.complete(&job.job_id, "new", &done).await.unwrap();
    assert_eq!(
        store.get(&job.job_id).await.unwrap().unwrap().status,
        JobStatus::Succeeded
    );
}

#[tokio::test]
async fn only_the_lease_holder_extends_the_lease() {
    let clock = common::clock();
    let store = common::memory_db(&clock).job_store();
    let job = common::queued_job(clock.now());
    store.create(&job).await.unwrap();
    let now = clock.now();
    let queued_extend = lease("w1", now + Duration::seconds(90));
    assert_eq!(
        store.extend_lease(&job.job_id, &queued_extend).await,
        Err(StoreError::Conflict(job.job_id.clone())),
        "a queued job has no lease to extend"
    );
    store
        .claim(&job.job_id, &lease("w1", now + Duration::seconds(30)), now)
        .await
        .unwrap()
        .unwrap();

    let stranger = lease("w2", now + Duration::seconds(90));
    assert_eq!(
        store.extend_lease(&job.job_id, &stranger).await,
        Err(StoreError::Conflict(job.job_id.clone()))
    );
    let extended = lease("w1", now + Duration::seconds(90));
    store.extend_lease(&job.job_id, &extended).await.unwrap();
    assert_eq!(
        store.get(&job.job_id).await.unwrap().unwrap().lease,
        Some(extended.clone())
    );

    // The extension holds off a takeover that the first lease would have allowed.
    let at = now + Duration::seconds(60);
    assert_eq!(
        store
            .claim(&job.job_id, &lease("w2", at), at)
            .await
            .unwrap(),
        None
    );
    let missing = JobId::generate();
    assert_eq!(
        store.extend_lease(&missing, &extended).await,
        Err(StoreError::Conflict(missing))
    );
}

#[tokio::test]
async fn close_queued_ends_a_queued_job_and_refuses_a_running_one() {
    let clock = common::clock();
    let store = common::memory_db(&clock).job_store();
    let now = clock.now();
    let cancelled = common::queued_job(now);
    let running = common::queued_job(now);
    store.create(&cancelled).await.unwrap();
    store.create(&running).await.unwrap();
    store
        .claim(
            &running.job_id,
            &lease("w1", now + Duration::seconds(30)),
            now,
        )
        .await
        .unwrap()
        .unwrap();

    clock.advance(Duration::seconds(3));
    let later = clock.now();
    let reason = JobError::new("cancelled", "cancelled by the caller");
    store
        .close_queued(&cancelled.job_id, JobStatus::Cancelled, &reason, later)
        .await
        .unwrap();
    let closed = store.get(&cancelled.job_id).await.unwrap().unwrap();
    assert_eq!(closed.status, JobStatus::Cancelled);
    assert_eq!(closed.error, Some(reason.clone()));
    assert_eq!(closed.updated_at, later);

    assert_eq!(
        store
            .close_queued(&running.job_id, JobStatus::Expired, &reason, later)
            .await,
        Err(StoreError::Conflict(running.job_id.clone()))
    );
    assert_eq!(
        store.get(&running.job_id).await.unwrap().unwrap().status,
        JobStatus::Running
    );
    // Closing twice is refused too: the job is no longer queued.
    assert_eq!(
        store
            .close_queued(&cancelled.job_id, JobStatus::Expired, &reason, later)
            .await,
        Err(StoreError::Conflict(cancelled.job_id.clone()))
    );
}
