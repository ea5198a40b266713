//! Batch writes and reads on a real SQLite file: `send_batch`, `create_batch`, `list_batch`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use bedrock_lb_core::{Clock, JobId, JobQueue, JobStore, StoreError};
use bedrock_lb_embedded::QueueSettings;

#[tokio::test]
async fn send_batch_of_25_returns_25_ids_in_order() {
    let clock = common::clock();
    let (db, _dir) = common::file_db(&clock);
    let queue = db.queue(QueueSettings::default());
    let bodies: Vec<String> = (0..25).map(|i| format!("body-{i}")).collect();
    let ids: Vec<String> = queue
        .send_batch(&bodies)
        .await
        .into_iter()
        .map(|outcome| outcome.unwrap())
        .collect();
    assert_eq!(ids.len(), 25);

    let mut received = Vec::new();
    while received.len() < 25 {
        let got = queue
            .receive(10, Duration::ZERO, Duration::from_secs(30))
            .await
            .unwrap();
        assert!(!got.is_empty(), "messages went missing");
        received.extend(got);
    }
    let got_ids: Vec<&str> = received.iter().map(|m| m.message_id.as_str()).collect();
    let got_bodies: Vec<&str> = received.iter().map(|m| m.body.as_str()).collect();
    assert_eq!(got_ids, ids.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(
        got_bodies,
        bodies.iter().map(String::as_str).collect::<Vec<_>>()
    );
    assert!(queue.send_batch(&[]).await.is_empty());
}

#[tokio::test]
async fn create_batch_of_60_lists_in_pages_of_25_in_order() {
    let clock = common::clock();
    let (db, _dir) = common::file_db(&clock);
    let store = db.job_store();
    let jobs: Vec<_> = (0..60)
        .map(|_| common::queued_job(clock.now()).in_batch("batch-a"))
        .collect();
    store.create_batch(&jobs).await.unwrap();
    // Another batch's jobs never show up in this one.
    let other: Vec<_> = (0..3)
        .map(|_| common::queued_job(clock.now()).in_batch("batch-b"))
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
    assert!(store.list_batch("nope", None, 10).await.unwrap().is_empty());
}

#[tokio::test]
async fn create_batch_with_a_taken_id_stores_nothing() {
    let clock = common::clock();
    let (db, _dir) = common::file_db(&clock);
    let store = db.job_store();
    let taken = common::queued_job(clock.now());
    store.create(&taken).await.unwrap();
    let fresh = common::queued_job(clock.now()).in_batch("b");
    let mut dup = taken.clone().in_batch("b");
    dup.updated_at = clock.now();
    assert_eq!(
        store.create_batch(&[fresh.clone(), dup]).await,
        Err(StoreError::AlreadyExists(taken.job_id.clone()))
    );
    assert_eq!(store.get(&fresh.job_id).await.unwrap(), None);
    assert!(store.list_batch("b", None, 10).await.unwrap().is_empty());
}
