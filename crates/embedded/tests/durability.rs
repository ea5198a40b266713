//! State survives closing and reopening the database file.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use bedrock_lb_core::{Clock, JobQueue, JobStatus, JobStore, Lease, StoreError};
use bedrock_lb_embedded::{EmbeddedDb, QueueDepth, QueueSettings, SCHEMA_VERSION};
use chrono::Duration as ChronoDuration;

const VIS: Duration = Duration::from_secs(30);

#[tokio::test]
async fn jobs_and_messages_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested").join("dir").join("bedrock-lb.db");
    let clock = common::clock();
    let now = clock.now();
    let queued = common::queued_job(now);
    let running = common::queued_job(now);
    let lease = Lease {
        owner: "w1".into(),
        expires_at: now + ChronoDuration::seconds(60),
    };
    let (in_flight_id, in_flight_receipt, waiting_id) = {
        let db = EmbeddedDb::open(&path, clock.clone()).unwrap();
        let store = db.job_store();
        let queue = db.queue(QueueSettings::default());
        store.create(&queued).await.unwrap();
        store.create(&running).await.unwrap();
        store
            .claim(&running.job_id, &lease, now)
            .await
            .unwrap()
            .unwrap();
        let in_flight = queue.send("first".into()).await.unwrap();
        let waiting = queue.send("second".into()).await.unwrap();
        let got = queue
            .receive(1, Duration::ZERO, VIS)
            .await
            .unwrap()
            .remove(0);
        assert_eq!(got.message_id, in_flight);
        (in_flight, got.receipt, waiting)
    };

    let db = EmbeddedDb::open(&path, clock.clone()).unwrap();
    assert_eq!(db.schema_version().await.unwrap(), SCHEMA_VERSION);
    let store = db.job_store();
    let queue = db.queue(QueueSettings::default());

    assert_eq!(
        store.get(&queued.job_id).await.unwrap(),
        Some(queued.clone())
    );
    let reopened = store.get(&running.job_id).await.unwrap().unwrap();
    assert_eq!(reopened.status, JobStatus::Running);
    assert_eq!(reopened.lease, Some(lease));
    assert_eq!(
        store.create(&queued).await,
        Err(StoreError::AlreadyExists(queued.job_id.clone()))
    );

    assert_eq!(
        queue.depth().await.unwrap(),
        QueueDepth {
            visible: 1,
            in_flight: 1
        }
    );
    let next = queue.receive(10, Duration::ZERO, VIS).await.unwrap();
    assert_eq!(next.len(), 1);
    assert_eq!(next[0].message_id, waiting_id);
    // The receipt handed out before the reopen still owns its message.
    queue
        .extend_visibility(&in_flight_receipt, Duration::from_secs(60))
        .await
        .unwrap();
    clock.advance(ChronoDuration::seconds(31));
    let redelivered = queue.receive(10, Duration::ZERO, VIS).await.unwrap();
    let first = redelivered.iter().find(|m| m.message_id == in_flight_id);
    assert!(first.is_none(), "extension persisted: still hidden");
    clock.advance(ChronoDuration::seconds(30));
    let redelivered = queue.receive(10, Duration::ZERO, VIS).await.unwrap();
    let first = redelivered
        .iter()
        .find(|m| m.message_id == in_flight_id)
        .unwrap();
    assert_eq!(first.receive_count, 2, "receive count persisted");
}

#[tokio::test]
async fn a_corrupt_job_document_is_reported_as_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("corrupt.db");
    let clock = common::clock();
    let job = common::queued_job(clock.now());
    {
        let db = EmbeddedDb::open(&path, clock.clone()).unwrap();
        db.job_store().create(&job).await.unwrap();
    }
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute(
            "UPDATE jobs SET doc = '{not json' WHERE job_id = ?1",
            [job.job_id.as_str()],
        )
        .unwrap();
    }
    let store = EmbeddedDb::open(&path, clock.clone()).unwrap().job_store();
    assert!(matches!(
        store.get(&job.job_id).await,
        Err(StoreError::Corrupt(m)) if m.contains(job.job_id.as_str())
    ));
    let lease = Lease {
        owner: "w1".into(),
        expires_at: clock.now() + ChronoDuration::seconds(30),
    };
    assert!(matches!(
        store.claim(&job.job_id, &lease, clock.now()).await,
        Err(StoreError::Corrupt(_))
    ));
}
