//! The [`JobQueue`] contract: what a batched send promises.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use bedrock_lb_core::{JobQueue, QueueMessage};

/// What [`send_batch_returns_ids_in_order`] sent and received, for adapter-specific checks
/// (such as delivery order).
#[derive(Debug)]
pub struct SentBatch {
    /// The bodies, in the order sent.
    pub bodies: Vec<String>,
    /// The ids `send_batch` returned, one per body, in order.
    pub ids: Vec<String>,
    /// Every message received back, in the order received.
    pub received: Vec<QueueMessage>,
}

/// Sends 25 bodies in one `send_batch` (more than one SQS batch), receives them all back and
/// checks that each returned id names the body at its position; an empty batch sends nothing.
/// `queue` must be empty.
pub async fn send_batch_returns_ids_in_order(queue: &dyn JobQueue) -> SentBatch {
    let bodies: Vec<String> = (0..25).map(|i| format!("body-{i}")).collect();
    let ids: Vec<String> = queue
        .send_batch(&bodies)
        .await
        .into_iter()
        .map(|outcome| outcome.unwrap())
        .collect();
    assert_eq!(ids.len(), 25);
    assert_eq!(
        ids.iter().collect::<HashSet<_>>().len(),
        25,
        "ids are unique"
    );

    let mut received = Vec::new();
    while received.len() < 25 {
        let got = queue
            .receive(10, Duration::ZERO, Duration::from_secs(30))
            .await
            .unwrap();
        assert!(!got.is_empty(), "messages went missing");
        received.extend(got);
    }
    assert_eq!(received.len(), 25, "no message twice");
    let by_id: HashMap<&str, &str> = received
        .iter()
        .map(|m| (m.message_id.as_str(), m.body.as_str()))
        .collect();
    for (id, body) in ids.iter().zip(&bodies) {
        assert_eq!(by_id.get(id.as_str()), Some(&body.as_str()));
    }
    assert!(queue.send_batch(&[]).await.is_empty());
    SentBatch {
        bodies,
        ids,
        received,
    }
}
