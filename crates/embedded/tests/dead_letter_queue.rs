//! The embedded dead letters drained as a queue, as a worker drains SQS's dead-letter queue.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use bedrock_lb_core::{JobQueue, QueueError};
use bedrock_lb_embedded::QueueSettings;
use chrono::Duration as ChronoDuration;

const NO_WAIT: Duration = Duration::ZERO;
const VIS: Duration = Duration::from_secs(30);

#[tokio::test]
async fn dead_letters_keep_their_id_and_body_and_are_received_deleted_and_extended() {
    let clock = common::clock();
    let (db, _dir) = common::file_db(&clock);
    let queue = db.queue(QueueSettings {
        max_receive_count: 1,
    });
    let dlq = db.dead_letter_queue();
    let poison = queue.send("poison".into()).await.unwrap();
    assert!(dlq.receive(10, NO_WAIT, VIS).await.unwrap().is_empty());

    assert_eq!(queue.receive(1, NO_WAIT, VIS).await.unwrap().len(), 1);
    clock.advance(ChronoDuration::seconds(31));
    // The next receive moves it to the dead letters instead of handing it out.
    assert!(queue.receive(1, NO_WAIT, VIS).await.unwrap().is_empty());

    let got = dlq.receive(10, NO_WAIT, VIS).await.unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].message_id, poison);
    assert_eq!(got[0].body, "poison");
    assert_eq!(got[0].receive_count, 1);
    // Hidden while received.
    assert!(dlq.receive(10, NO_WAIT, VIS).await.unwrap().is_empty());
    clock.advance(ChronoDuration::seconds(31));
    let again = dlq.receive(10, NO_WAIT, VIS).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].receive_count, 2);
    // The old receipt is dead; the new one hides it for 12 h.
    assert_eq!(
        dlq.extend_visibility(&got[0].receipt, VIS).await,
        Err(QueueError::InvalidReceipt)
    );
    dlq.extend_visibility(&again[0].receipt, Duration::from_secs(43_200))
        .await
        .unwrap();
    clock.advance(ChronoDuration::hours(11));
    assert!(dlq.receive(10, NO_WAIT, VIS).await.unwrap().is_empty());
    clock.advance(ChronoDuration::hours(2));
    let third = dlq.receive(10, NO_WAIT, VIS).await.unwrap();
    assert_eq!(third[0].message_id, poison);
    dlq.delete(&third[0].receipt).await.unwrap();
    assert_eq!(
        dlq.delete(&third[0].receipt).await,
        Err(QueueError::InvalidReceipt)
    );
    assert!(queue.dead_letters().await.unwrap().is_empty());
}

#[tokio::test(start_paused = true)]
async fn an_empty_dead_letter_receive_waits_out_its_wait() {
    let clock = common::clock();
    let (db, _dir) = common::file_db(&clock);
    let dlq = db.dead_letter_queue();
    let started = tokio::time::Instant::now();
    let got = dlq.receive(10, Duration::from_secs(5), VIS).await.unwrap();
    assert!(got.is_empty());
    assert!(started.elapsed() >= Duration::from_secs(5));

    let ids: Vec<String> = dlq
        .send_batch(&["a".to_owned(), "b".to_owned()])
        .await
        .into_iter()
        .map(|outcome| outcome.unwrap())
        .collect();
    let got = dlq.receive(10, Duration::from_secs(5), VIS).await.unwrap();
    let got_ids: Vec<String> = got.into_iter().map(|m| m.message_id).collect();
    assert_eq!(got_ids, ids);
}
