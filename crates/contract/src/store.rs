//! The [`JobStore`] contract: batch writes and pages, releasing a lease, failing abandoned
//! jobs, and the conditional idempotency records. Times are passed in (`now`), never read from
//! a clock, so lease expiry is tested by passing a later `now`.

use std::sync::Arc;

use bedrock_lb_core::{IdempotencyRecord, Job, JobError, JobId, JobStatus, JobStore, StoreError};
use chrono::{DateTime, Duration, Utc};

use crate::fixtures::{lease, queued_job, record, success};

/// Creates 60 jobs of one batch and 3 of another with `create_batch`, then lists the first in
/// pages of 25: three pages, every job once, in submission (id) order, none of the other
/// batch's. Returns the 60 jobs.
pub async fn create_batch_then_list_in_pages(store: &dyn JobStore, now: DateTime<Utc>) -> Vec<Job> {
    let jobs: Vec<Job> = (0..60)
        .map(|_| queued_job(now).in_batch("batch-a"))
        .collect();
    store.create_batch(&jobs).await.unwrap();
    // Another batch's jobs never show up in this one.
    let other: Vec<Job> = (0..3)
        .map(|_| queued_job(now).in_batch("batch-b"))
        .collect();
    store.create_batch(&other).await.unwrap();

    let mut listed = Vec::new();
    let mut after: Option<JobId> = None;
    let mut pages = 0;
    loop {
        let page = store
            .list_batch("batch-a", after.as_ref(), 25)
            .await
            .unwrap();
        if page.is_empty() {
            break;
        }
        pages += 1;
        assert!(page.len() <= 25);
        after = page.last().map(|j| j.job_id.clone());
        listed.extend(page);
    }
    assert_eq!(pages, 3);
    assert_eq!(listed, jobs, "all 60 jobs, in submission (id) order");
    assert_eq!(store.list_batch("batch-b", None, 100).await.unwrap(), other);
    assert!(store.list_batch("none", None, 10).await.unwrap().is_empty());
    // Each job is also readable on its own.
    assert_eq!(
        store.get(&jobs[59].job_id).await.unwrap().as_ref(),
        Some(&jobs[59])
    );
    jobs
}

/// A job claimed by `w1` is released by `w1` only (not `w2`, not for a missing job), comes
/// back queued without a lease, and `w2` claims it at once, before the old lease would have
/// expired. Returns the job's id, now running under `w2`'s lease.
pub async fn release_then_claim_by_another(store: &dyn JobStore, now: DateTime<Utc>) -> JobId {
    let job = queued_job(now);
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
    job.job_id
}

/// The jobs [`fail_abandoned_leaves_live_leases_and_finished_jobs`] failed, for
/// adapter-specific checks (such as the TTL stamped on them).
#[derive(Debug)]
pub struct Abandoned {
    /// The queued job and the job whose lease had expired, both now failed.
    pub failed: Vec<JobId>,
    /// The `now` they were failed at.
    pub at: DateTime<Utc>,
}

/// `fail_abandoned` fails a queued job and one whose lease expired, and leaves alone a job
/// under a live lease, a finished job and a missing id (creating nothing); the expired
/// lease's old holder can no longer complete.
pub async fn fail_abandoned_leaves_live_leases_and_finished_jobs(
    store: &dyn JobStore,
    now: DateTime<Utc>,
) -> Abandoned {
    let [queued, live, expired, finished] = [(); 4].map(|()| queued_job(now));
    for job in [&queued, &live, &expired, &finished] {
        store.create(job).await.unwrap();
    }
    for (job, expires_at) in [
        (&live, now + Duration::minutes(5)),
        (&expired, now + Duration::seconds(10)),
        (&finished, now + Duration::seconds(10)),
    ] {
        store
            .claim(&job.job_id, &lease("w1", expires_at), now)
            .await
            .unwrap()
            .unwrap();
    }
    store
        .complete(&finished.job_id, "w1", &success("done".into(), now))
        .await
        .unwrap();

    let later = now + Duration::seconds(30);
    let error = JobError::new("dead_lettered", "received too many times");
    for (job, changed) in [
        (&queued, true),
        (&expired, true),
        (&live, false),
        (&finished, false),
    ] {
        assert_eq!(
            store
                .fail_abandoned(&job.job_id, &error, later)
                .await
                .unwrap(),
            changed,
            "fail_abandoned on the {} job",
            if changed {
                "abandoned"
            } else {
                "live or finished"
            }
        );
    }
    let missing = JobId::generate();
    assert!(!store.fail_abandoned(&missing, &error, later).await.unwrap());
    assert!(
        store.get(&missing).await.unwrap().is_none(),
        "nothing was created"
    );

    for id in [&queued.job_id, &expired.job_id] {
        let job = store.get(id).await.unwrap().unwrap();
        assert_eq!(job.status, JobStatus::Failed);
        assert_eq!(job.error.as_ref(), Some(&error));
        assert_eq!(job.lease, None);
        assert_eq!(job.updated_at, later);
    }
    let live_now = store.get(&live.job_id).await.unwrap().unwrap();
    assert_eq!(live_now.status, JobStatus::Running);
    assert_eq!(live_now.lease.unwrap().owner, "w1");
    let done = store.get(&finished.job_id).await.unwrap().unwrap();
    assert_eq!(done.status, JobStatus::Succeeded);
    assert_eq!(done.result.unwrap().text, "done");
    // The expired job's old holder can no longer write a result.
    assert_eq!(
        store
            .complete(&expired.job_id, "w1", &success("late".into(), later))
            .await,
        Err(StoreError::Conflict(expired.job_id.clone()))
    );
    Abandoned {
        failed: vec![queued.job_id, expired.job_id],
        at: later,
    }
}

/// Ten rounds of two concurrent `put_idempotency` calls with one key: one wins (`None`), the
/// other gets the winner's record, and a third put sees that same record stored.
///
/// `tolerated_double_wins` is how many rounds may have two winners: zero for a store whose
/// conditional write is atomic; moto's DynamoDB does not lock its tables, so now and then both
/// puts pass the condition there.
pub async fn put_idempotency_one_winner(
    store: Arc<dyn JobStore>,
    now: DateTime<Utc>,
    tolerated_double_wins: usize,
) {
    const ROUNDS: usize = 10;
    let mut double_wins = 0;
    for round in 0..ROUNDS {
        let key = format!("alice/key-{round}");
        let put = |r: IdempotencyRecord| {
            let store = Arc::clone(&store);
            tokio::spawn(async move { (store.put_idempotency(&r, now).await.unwrap(), r) })
        };
        let (ta, tb) = (put(record(&key, "a", now)), put(record(&key, "b", now)));
        let outcomes = [ta.await.unwrap(), tb.await.unwrap()];
        let winners: Vec<_> = outcomes.iter().filter(|(o, _)| o.is_none()).collect();
        assert!(!winners.is_empty(), "one put always wins");
        if winners.len() == 2 {
            double_wins += 1;
            continue;
        }
        let loser = outcomes.iter().find(|(o, _)| o.is_some()).unwrap();
        assert_eq!(
            loser.0.as_ref(),
            Some(&winners[0].1),
            "the loser gets the winner's record"
        );
        // The winner's record is the one stored: a third put sees it too.
        let third = store
            .put_idempotency(&record(&key, "c", now), now)
            .await
            .unwrap();
        assert_eq!(third.as_ref(), Some(&winners[0].1));
    }
    assert!(
        double_wins <= tolerated_double_wins,
        "{double_wins} of {ROUNDS} rounds had two winners (tolerated: {tolerated_double_wins})"
    );
}

/// A record holds its `key` until the millisecond before it expires, gives it up at its
/// expiry, and the new record then holds it. An idempotency record never reads as a job.
/// Returns the record holding `key` at the end.
pub async fn expired_idempotency_record_gives_its_key_up(
    store: &dyn JobStore,
    key: &str,
    now: DateTime<Utc>,
) -> IdempotencyRecord {
    let first = record(key, "first", now);
    assert_eq!(store.put_idempotency(&first, now).await.unwrap(), None);
    let almost = now + Duration::hours(24) - Duration::milliseconds(1);
    assert_eq!(
        store
            .put_idempotency(&record(key, "retry", now), almost)
            .await
            .unwrap(),
        Some(first.clone())
    );
    let at_expiry = now + Duration::hours(24);
    let second = record(key, "second", at_expiry);
    assert_eq!(
        store.put_idempotency(&second, at_expiry).await.unwrap(),
        None
    );
    assert_eq!(
        store
            .put_idempotency(&record(key, "third", at_expiry), at_expiry)
            .await
            .unwrap(),
        Some(second.clone())
    );
    // Idempotency records are not jobs (where the key could name one).
    if let Ok(id) = key.parse::<JobId>() {
        assert_eq!(store.get(&id).await.unwrap(), None);
    }
    second
}
