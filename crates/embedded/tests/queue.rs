//! The embedded queue's SQS semantics: visibility, receipts, dead letters, order, long polling.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use bedrock_lb_core::{JobQueue, QueueError};
use bedrock_lb_embedded::{EmbeddedDb, QueueDepth, QueueSettings};
use chrono::Duration as ChronoDuration;

const NO_WAIT: Duration = Duration::ZERO;
const VIS: Duration = Duration::from_secs(30);

#[tokio::test]
async fn a_message_reappears_after_its_visibility_timeout_with_a_new_receipt() {
    let clock = common::clock();
    let queue = common::memory_db(&clock).queue(QueueSettings::default());
    let id = queue.send("job-1".into()).await.unwrap();

    let first = queue.receive(10, NO_WAIT, VIS).await.unwrap();
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].message_id, id);
    assert_eq!(first[0].body, "job-1");
    assert_eq!(first[0].receive_count, 1);

    clock.advance(ChronoDuration::seconds(29));
    assert!(
        queue.receive(10, NO_WAIT, VIS).await.unwrap().is_empty(),
        "still hidden"
    );
    assert_eq!(
        queue.depth().await.unwrap(),
        QueueDepth {
            visible: 0,
            in_flight: 1
        }
    );

    clock.advance(ChronoDuration::seconds(1));
    let second = queue.receive(10, NO_WAIT, VIS).await.unwrap();
    assert_eq!(second.len(), 1);
    assert_eq!(second[0].message_id, id);
    assert_eq!(second[0].receive_count, 2);
    assert_ne!(second[0].receipt, first[0].receipt);
}

#[tokio::test]
async fn a_stale_receipt_can_neither_delete_nor_extend() {
    let clock = common::clock();
    let queue = common::memory_db(&clock).queue(QueueSettings::default());
    queue.send("x".into()).await.unwrap();
    let stale = queue.receive(1, NO_WAIT, VIS).await.unwrap().remove(0);
    clock.advance(ChronoDuration::seconds(31));
    let fresh = queue.receive(1, NO_WAIT, VIS).await.unwrap().remove(0);

    assert_eq!(
        queue.delete(&stale.receipt).await,
        Err(QueueError::InvalidReceipt)
    );
    assert_eq!(
        queue.extend_visibility(&stale.receipt, VIS).await,
        Err(QueueError::InvalidReceipt)
    );
    assert_eq!(
        queue.delete("never-issued").await,
        Err(QueueError::InvalidReceipt)
    );
    // The message survived, and the fresh receipt still owns it.
    assert_eq!(queue.depth().await.unwrap().in_flight, 1);
    queue.extend_visibility(&fresh.receipt, VIS).await.unwrap();
    queue.delete(&fresh.receipt).await.unwrap();
}

#[tokio::test]
async fn extend_visibility_moves_the_deadline_and_zero_releases_at_once() {
    let clock = common::clock();
    let queue = common::memory_db(&clock).queue(QueueSettings::default());
    queue.send("x".into()).await.unwrap();
    let msg = queue.receive(1, NO_WAIT, VIS).await.unwrap().remove(0);

    clock.advance(ChronoDuration::seconds(20));
    queue.extend_visibility(&msg.receipt, VIS).await.unwrap();
    clock.advance(ChronoDuration::seconds(20));
    assert!(
        queue.receive(1, NO_WAIT, VIS).await.unwrap().is_empty(),
        "extended to +30 s"
    );

    queue
        .extend_visibility(&msg.receipt, Duration::ZERO)
        .await
        .unwrap();
    let again = queue.receive(1, NO_WAIT, VIS).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].receive_count, 2);
}

#[tokio::test]
async fn delete_removes_a_message_for_good() {
    let clock = common::clock();
    let queue = common::memory_db(&clock).queue(QueueSettings::default());
    queue.send("x".into()).await.unwrap();
    let msg = queue.receive(1, NO_WAIT, VIS).await.unwrap().remove(0);
    queue.delete(&msg.receipt).await.unwrap();

    clock.advance(ChronoDuration::hours(1));
    assert!(queue.receive(10, NO_WAIT, VIS).await.unwrap().is_empty());
    assert_eq!(queue.depth().await.unwrap(), QueueDepth::default());
    assert_eq!(
        queue.delete(&msg.receipt).await,
        Err(QueueError::InvalidReceipt)
    );
    assert!(queue.dead_letters().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_message_received_too_often_moves_to_dead_letters() {
    let clock = common::clock();
    let queue = common::memory_db(&clock).queue(QueueSettings {
        max_receive_count: 2,
    });
    let poison = queue.send("poison".into()).await.unwrap();

    for expected in 1..=2 {
        let got = queue.receive(1, NO_WAIT, VIS).await.unwrap();
        assert_eq!(got[0].receive_count, expected);
        clock.advance(ChronoDuration::seconds(31));
    }
    let healthy = queue.send("healthy".into()).await.unwrap();
    // The poison message is dead-lettered and the receive still returns the next one.
    let got = queue.receive(10, NO_WAIT, VIS).await.unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].message_id, healthy);

    let dead = queue.dead_letters().await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].message_id, poison);
    assert_eq!(dead[0].body, "poison");
    assert_eq!(dead[0].receive_count, 2);
    assert_eq!(dead[0].dead_at, clock_now(&clock));
    assert_eq!(
        queue.depth().await.unwrap(),
        QueueDepth {
            visible: 0,
            in_flight: 1
        }
    );

    assert!(queue.remove_dead_letter(&poison).await.unwrap());
    assert!(queue.dead_letters().await.unwrap().is_empty());
}

fn clock_now(clock: &Arc<bedrock_lb_core::ManualClock>) -> chrono::DateTime<chrono::Utc> {
    use bedrock_lb_core::Clock;
    clock.now()
}

#[tokio::test]
async fn messages_come_in_send_order_and_max_is_respected() {
    let clock = common::clock();
    let queue = common::memory_db(&clock).queue(QueueSettings::default());
    let bodies: Vec<String> = (0..7).map(|i| format!("m{i}")).collect();
    let mut ids = Vec::new();
    for body in &bodies[..3] {
        ids.push(queue.send(body.clone()).await.unwrap());
    }
    ids.extend(
        queue
            .send_batch(&bodies[3..])
            .await
            .into_iter()
            .map(|outcome| outcome.unwrap()),
    );

    let first = queue.receive(3, NO_WAIT, VIS).await.unwrap();
    let rest = queue.receive(10, NO_WAIT, VIS).await.unwrap();
    assert_eq!(first.len(), 3);
    assert_eq!(rest.len(), 4);
    let got: Vec<String> = first.iter().chain(&rest).map(|m| m.body.clone()).collect();
    assert_eq!(got, bodies);
    let got_ids: Vec<String> = first
        .iter()
        .chain(&rest)
        .map(|m| m.message_id.clone())
        .collect();
    assert_eq!(got_ids, ids);
    assert!(queue.receive(0, NO_WAIT, VIS).await.unwrap().is_empty());
}

#[tokio::test]
async fn zero_visibility_does_not_hand_out_the_same_message_twice_in_one_receive() {
    let clock = common::clock();
    let queue = common::memory_db(&clock).queue(QueueSettings::default());
    queue.send("a".into()).await.unwrap();
    queue.send("b".into()).await.unwrap();
    let got = queue.receive(10, NO_WAIT, Duration::ZERO).await.unwrap();
    assert_eq!(
        got.iter().map(|m| m.body.as_str()).collect::<Vec<_>>(),
        ["a", "b"]
    );
    assert!(got.iter().all(|m| m.receive_count == 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_poll_returns_as_soon_as_another_task_sends() {
    let clock = common::clock();
    // A recheck interval far beyond the guard: only the send's wake-up can end the wait.
    let queue = common::memory_db(&clock)
        .queue(QueueSettings::default())
        .with_recheck_interval(Duration::from_secs(3600));
    let receiver = {
        let queue = queue.clone();
        tokio::spawn(async move { queue.receive(5, Duration::from_secs(30), VIS).await })
    };
    while queue.waiting_receivers() == 0 {
        tokio::task::yield_now().await;
    }
    let id = queue.send("wake up".into()).await.unwrap();
    let got = tokio::time::timeout(Duration::from_secs(5), receiver)
        .await
        .expect("the long poll did not wake on send")
        .unwrap()
        .unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].message_id, id);
    assert_eq!(queue.waiting_receivers(), 0);
}

#[tokio::test(start_paused = true)]
async fn an_empty_long_poll_waits_out_its_wait() {
    let clock = common::clock();
    let queue = common::memory_db(&clock)
        .queue(QueueSettings::default())
        .with_recheck_interval(Duration::from_secs(3600));
    let started = tokio::time::Instant::now();
    assert!(
        queue
            .receive(1, Duration::from_secs(2), VIS)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(started.elapsed(), Duration::from_secs(2));
    let started = tokio::time::Instant::now();
    assert!(queue.receive(1, NO_WAIT, VIS).await.unwrap().is_empty());
    assert_eq!(started.elapsed(), Duration::ZERO, "wait 0 returns at once");
}

#[tokio::test(start_paused = true)]
async fn a_long_poll_rechecks_when_the_earliest_hidden_message_reappears() {
    let clock = common::clock();
    let queue = common::memory_db(&clock)
        .queue(QueueSettings::default())
        .with_recheck_interval(Duration::from_secs(3600));
    queue.send("x".into()).await.unwrap();
    queue
        .receive(1, NO_WAIT, Duration::from_secs(10))
        .await
        .unwrap();

    let started = tokio::time::Instant::now();
    let receiver = {
        let queue = queue.clone();
        tokio::spawn(async move { queue.receive(1, Duration::from_secs(20), VIS).await })
    };
    while queue.waiting_receivers() == 0 {
        tokio::task::yield_now().await;
    }
    // The app clock moves as a real one would while the receiver sleeps on tokio's clock.
    clock.advance(ChronoDuration::seconds(10));
    let got = receiver.await.unwrap().unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].receive_count, 2);
    assert_eq!(
        started.elapsed(),
        Duration::from_secs(10),
        "woke at the reappearance"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_connections_to_one_file_never_hand_out_a_message_twice() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("queue.db");
    let clock = common::clock();
    let a = EmbeddedDb::open(&path, clock.clone())
        .unwrap()
        .queue(QueueSettings::default());
    let b = EmbeddedDb::open(&path, clock.clone())
        .unwrap()
        .queue(QueueSettings::default());
    let bodies: Vec<String> = (0..40).map(|i| i.to_string()).collect();
    let sent: HashSet<String> = a
        .send_batch(&bodies)
        .await
        .into_iter()
        .map(|outcome| outcome.unwrap())
        .collect();

    let drain = |queue: bedrock_lb_embedded::EmbeddedQueue| {
        tokio::spawn(async move {
            let mut ids = Vec::new();
            loop {
                let got = queue.receive(3, NO_WAIT, VIS).await.unwrap();
                if got.is_empty() {
                    return ids;
                }
                ids.extend(got.into_iter().map(|m| m.message_id));
            }
        })
    };
    let (from_a, from_b) = tokio::join!(drain(a), drain(b));
    let all: Vec<String> = from_a.unwrap().into_iter().chain(from_b.unwrap()).collect();
    assert_eq!(all.len(), 40, "each message handed out exactly once");
    assert_eq!(all.into_iter().collect::<HashSet<_>>(), sent);
}
