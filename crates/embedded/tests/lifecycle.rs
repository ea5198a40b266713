//! The embedded store's recovery writes on a real SQLite file: `release`, `fail_abandoned`,
//! idempotency records, and the TTL stamped on finished jobs and swept by `purge_finished`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::Duration as StdDuration;

use bedrock_lb_contract as contract;
use bedrock_lb_core::{
    Clock, IdempotencyRecord, Job, JobCompletion, JobError, JobId, JobStatus, JobStore, Lease,
};
use chrono::{DateTime, Duration, Utc};

fn lease(owner: &str, expires_at: DateTime<Utc>) -> Lease {
    Lease {
        owner: owner.into(),
        expires_at,
    }
}

#[tokio::test]
async fn release_then_claim_by_another_owner() {
    let clock = common::clock();
    let (db, _dir) = common::file_db(&clock);
    contract::release_then_claim_by_another(&db.job_store(), clock.now()).await;
}

#[tokio::test]
async fn fail_abandoned_fails_queued_and_expired_but_leaves_live_and_finished_jobs_alone() {
    let clock = common::clock();
    let (db, _dir) = common::file_db(&clock);
    let store = db.job_store();
    let abandoned =
        contract::fail_abandoned_leaves_live_leases_and_finished_jobs(&store, clock.now()).await;
    // Failing a job stamps the default TTL on it.
    for id in &abandoned.failed {
        assert!(store.ttl_of(id).await.unwrap().is_some());
    }
}

fn record(key: &str, marker: &str, now: DateTime<Utc>, ttl: Duration) -> IdempotencyRecord {
    IdempotencyRecord {
        expires_at: now + ttl,
        ..contract::record(key, marker, now)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_two_concurrent_idempotent_puts_exactly_one_wins() {
    let clock = common::clock();
    let (db, _dir) = common::file_db(&clock);
    // SQLite's conditional write is atomic: no round may have two winners.
    contract::put_idempotency_one_winner(Arc::new(db.job_store()), clock.now(), 0).await;
}

#[tokio::test]
async fn an_expired_idempotency_record_gives_its_key_up() {
    let clock = common::clock();
    let (db, _dir) = common::file_db(&clock);
    contract::expired_idempotency_record_gives_its_key_up(&db.job_store(), "k", clock.now()).await;
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
