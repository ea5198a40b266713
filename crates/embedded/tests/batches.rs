//! Batch writes and reads on a real SQLite file: `send_batch`, `create_batch`, `list_batch`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use bedrock_lb_contract as contract;
use bedrock_lb_core::{Clock, JobStore, StoreError};
use bedrock_lb_embedded::QueueSettings;

#[tokio::test]
async fn send_batch_of_25_returns_25_ids_in_order() {
    let clock = common::clock();
    let (db, _dir) = common::file_db(&clock);
    let queue = db.queue(QueueSettings::default());
    let sent = contract::send_batch_returns_ids_in_order(&queue).await;
    // SQLite hands messages out in send order, unlike SQS.
    let got_ids: Vec<&str> = sent
        .received
        .iter()
        .map(|m| m.message_id.as_str())
        .collect();
    let got_bodies: Vec<&str> = sent.received.iter().map(|m| m.body.as_str()).collect();
    assert_eq!(
        got_ids,
        sent.ids.iter().map(String::as_str).collect::<Vec<_>>()
    );
    assert_eq!(
        got_bodies,
        sent.bodies.iter().map(String::as_str).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn create_batch_of_60_lists_in_pages_of_25_in_order() {
    let clock = common::clock();
    let (db, _dir) = common::file_db(&clock);
    contract::create_batch_then_list_in_pages(&db.job_store(), clock.now()).await;
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
