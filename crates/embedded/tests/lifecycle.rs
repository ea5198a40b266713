//! The embedded store's recovery writes on a real SQLite file: `release`, `fail_abandoned`,
//! idempotency records, and the TTL stamped on finished jobs and swept by `purge_finished`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::Duration as StdDuration;

use bedrock_lb_core::{
    Clock, IdempotencyRecord, Job, JobCompletion, JobError, JobId, JobStatus, JobStore, Lease,
    StoreError,
};
use chrono::{DateTime, Duration, Utc};

fn lease(owner: &str, expires_at: DateTime<Utc>) -> Lease {
    Lease {
        owner: owner.into(),
        expires_at,
    }
}

fn dead_lettered() -> JobError {
    JobError::new("dead_lettered", "received too many times")
}

#[tokio::test]
async fn release_then_claim_by_another_owner() {
    let clock = common::clock();
    let (db, _dir) = common::file_db(&clock);
    let store = db.job_store();
    let now = clock.now();
    let job = common::queued_job(now);
    store.create(&job).await.unwrap();
    let far = now + Duration::minutes(5);
    assert!(
        store
            .claim(&job.job_id, &lease("w1", far), now)
            .await
            .unwrap()
            .is_some()
    );
    // Only the holder may give it back.
    assert_eq!(
        store.release(&job.job_id, "w2").await,
        Err(StoreError::Conflict(job.job_id.clone()))
    );
    assert!(
        store
            .claim(&job.job_id, &lease("w2", far), now)
            .await
            .unwrap()
            .is_none()
    );
    store.release(&job.job_id, "w1").await.unwrap();
    let released = store.get(&job.job_id).await.unwrap().unwrap();
    assert_eq!(released.status, JobStatus::Queued);
    assert_eq!(released.lease, None);
    // Released: another worker claims at once, without waiting for the old lease to expire.
    let claimed = store
        .claim(&job.job_id, &lease("w2", far), now)
        .await
        .unwrap();
    assert_eq!(claimed.unwrap().lease.unwrap().owner, "w2");
    let missing = JobId::generate();
    assert_eq!(
        store.release(&missing, "w1").await,
        Err(StoreError::Conflict(missing))
    );
}

#[tokio::test]
async fn fail_abandoned_fails_queued_and_expired_but_leaves_live_and_finished_jobs_alone() {
    let clock = common::clock();
    let (db, _dir) = common::file_db(&clock);
    let store = db.job_store();
    let now = clock.now();

    let queued = common::queued_job(now);
    let live = common::queued_job(now);
    let expired = common::queued_job(now);
    let finished = common::queued_job(now);
    for job in [&queued, &live, &expired, &finished] {
        store.create(job).await.unwrap();
    }
    store
        .claim(&live.job_id, &lease("w1", now + Duration::minutes(5)), now)
        .await
        .unwrap()
        .unwrap();
    store
        .claim(
            &expired.job_id,
            &lease("w1", now + Duration::seconds(10)),
            now,
        )
        .await
        .unwrap()
        .unwrap();
    store
        .claim(
            &finished.job_id,
            &lease("w1", now + Duration::seconds(10)),
            now,
        )
        .await
        .unwrap()
        .unwrap();
    let done = JobCompletion::failed(JobError::new("model_error", "bad"), vec![], now);
    store.complete(&finished.job_id, "w1", &done).await.unwrap();

    let later = now + Duration::seconds(30);
    let error = dead_lettered();
    assert!(
        store
            .fail_abandoned(&queued.job_id, &error, later)
            .await
            .unwrap()
    );
    assert!(
        store
            .fail_abandoned(&expired.job_id, &error, later)
            .await
            .unwrap()
    );
    assert!(
        !store
            .fail_abandoned(&live.job_id, &error, later)
            .await
            .unwrap()
    );
    assert!(
        !store
            .fail_abandoned(&finished.job_id, &error, later)
            .await
            .unwrap()
    );
    assert!(
        !store
            .fail_abandoned(&JobId::generate(), &error, later)
            .await
            .unwrap()
    );

    for id in [&queued.job_id, &expired.job_id] {
        let job = store.get(id).await.unwrap().unwrap();
        assert_eq!(job.status, JobStatus::Failed);
        assert_eq!(job.error.as_ref(), Some(&error));
        assert_eq!(job.lease, None);
        assert_eq!(job.updated_at, later);
        assert!(store.ttl_of(id).await.unwrap().is_some());
    }
    let live_now = store.get(&live.job_id).await.unwrap().unwrap();
    assert_eq!(live_now.status, JobStatus::Running);
    assert_eq!(live_now.lease.unwrap().owner, "w1");
    let finished_now = store.get(&finished.job_id).await.unwrap().unwrap();
    assert_eq!(finished_now.error.unwrap().kind, "model_error");
    // The expired job's old holder can no longer write a result.
    let late = JobCompletion::failed(JobError::new("x", "y"), vec![], later);
    assert!(store.complete(&expired.job_id, "w1", &late).await.is_err());
}

fn record(key: &str, marker: &str, now: DateTime<Utc>, ttl: Duration) -> IdempotencyRecord {
    IdempotencyRecord {
        key: key.into(),
        request_hash: marker.into(),
        job_ids: vec![JobId::generate(), JobId::generate()],
        batch_id: Some(format!("batch-{marker}")),
        created_at: now,
        expires_at: now + ttl,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_two_concurrent_idempotent_puts_exactly_one_wins() {
    let clock = common::clock();
    let (db, _dir) = common::file_db(&clock);
    let store = Arc::new(db.job_store());
    let now = clock.now();
    for round in 0..10 {
        let key = format!("alice/key-{round}");
        let a = record(&key, "a", now, Duration::hours(24));
        let b = record(&key, "b", now, Duration::hours(24));
        let put = |r: IdempotencyRecord| {
            let store = Arc::clone(&store);
            tokio::spawn(async move { (store.put_idempotency(&r, now).await.unwrap(), r) })
        };
        let (ta, tb) = (put(a), put(b));
        let (ra, rb) = (ta.await.unwrap(), tb.await.unwrap());
        let outcomes = [ra, rb];
        let winners: Vec<_> = outcomes.iter().filter(|(o, _)| o.is_none()).collect();
        assert_eq!(winners.len(), 1, "exactly one put wins");
        let winner = &winners[0].1;
        let loser = outcomes.iter().find(|(o, _)| o.is_some()).unwrap();
        assert_eq!(
            loser.0.as_ref(),
            Some(winner),
            "the loser sees the winner's record"
        );
    }
}

#[tokio::test]
async fn an_expired_idempotency_record_gives_its_key_up() {
    let clock = common::clock();
    let (db, _dir) = common::file_db(&clock);
    let store = db.job_store();
    let now = clock.now();
    let first = record("k", "first", now, Duration::hours(24));
    assert_eq!(store.put_idempotency(&first, now).await.unwrap(), None);
    let retry = record("k", "retry", now, Duration::hours(24));
    let almost = now + Duration::hours(24) - Duration::milliseconds(1);
    assert_eq!(
        store.put_idempotency(&retry, almost).await.unwrap(),
        Some(first.clone())
    );
    let at_expiry = now + Duration::hours(24);
    let second = record("k", "second", at_expiry, Duration::hours(24));
    assert_eq!(
        store.put_idempotency(&second, at_expiry).await.unwrap(),
        None
    );
    let third = record("k", "third", at_expiry, Duration::hours(24));
    assert_eq!(
        store.put_idempotency(&third, at_expiry).await.unwrap(),
        Some(second)
    );
    // Idempotency records are not jobs.
    assert_eq!(store.get(&"k".parse().unwrap()).await.unwrap(), None);
}

#[tokio::test]
async fn finished_jobs_carry_a_ttl_and_the_sweep_deletes_them_after_it() {
    let clock = common::clock();
    let (db, _dir) = common::file_db(&clock);
    let ttl = StdDuration::from_secs(3600);
    let store = db.job_store().with_job_ttl(ttl);
    let now = clock.now();

    let succeeded = common::queued_job(now);
    let cancelled = common::queued_job(now);
    let running = common::queued_job(now);
    for job in [&succeeded, &cancelled, &running] {
        store.create(job).await.unwrap();
    }
    let rejected = Job::rejected(JobId::generate(), JobError::new("bad_message", "x"), now);
    store.create(&rejected).await.unwrap();
    assert_eq!(store.ttl_of(&running.job_id).await.unwrap(), None);

    let far = now + Duration::minutes(5);
    for id in [&succeeded.job_id, &running.job_id] {
        store
            .claim(id, &lease("w1", far), now)
            .await
            .unwrap()
            .unwrap();
    }
    let finish = now + Duration::seconds(10);
    let done = JobCompletion::failed(JobError::new("model_error", "no"), vec![], finish);
    store
        .complete(&succeeded.job_id, "w1", &done)
        .await
        .unwrap();
    store
        .close_queued(
            &cancelled.job_id,
            JobStatus::Cancelled,
            &JobError::new("cancelled", "c"),
            finish,
        )
        .await
        .unwrap();

    let expected = finish.timestamp() + 3600;
    assert_eq!(
        store.ttl_of(&succeeded.job_id).await.unwrap(),
        Some(expected)
    );
    assert_eq!(
        store.ttl_of(&cancelled.job_id).await.unwrap(),
        Some(expected)
    );
    assert_eq!(
        store.ttl_of(&rejected.job_id).await.unwrap(),
        Some(now.timestamp() + 3600)
    );
    assert_eq!(store.ttl_of(&running.job_id).await.unwrap(), None);

    let key = record("sweep", "s", now, Duration::minutes(30));
    assert_eq!(store.put_idempotency(&key, now).await.unwrap(), None);

    // Before any TTL: nothing goes.
    assert_eq!(
        store
            .purge_finished(now + Duration::minutes(29))
            .await
            .unwrap(),
        0
    );
    // The key expires at 30 min, the rejected job at 60 min, the others 10 s later.
    assert_eq!(
        store
            .purge_finished(now + Duration::seconds(3600))
            .await
            .unwrap(),
        2
    );
    assert_eq!(store.get(&rejected.job_id).await.unwrap(), None);
    assert!(store.get(&succeeded.job_id).await.unwrap().is_some());
    assert_eq!(
        store
            .purge_finished(now + Duration::seconds(3610))
            .await
            .unwrap(),
        2
    );
    assert_eq!(store.get(&succeeded.job_id).await.unwrap(), None);
    assert_eq!(store.get(&cancelled.job_id).await.unwrap(), None);
    // A running job is never purged, however old.
    assert_eq!(
        store
            .purge_finished(now + Duration::days(365))
            .await
            .unwrap(),
        0
    );
    assert!(store.get(&running.job_id).await.unwrap().is_some());
    // The key is free again once swept.
    let reuse = record("sweep", "r", now, Duration::minutes(30));
    assert_eq!(store.put_idempotency(&reuse, now).await.unwrap(), None);
}
