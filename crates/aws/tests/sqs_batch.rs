//! SqsQueue's batched sends and dead-letter queue resolution against moto's SQS.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers panic on set-up failure

mod common;

use std::time::Duration;

use bedrock_lb_aws::SqsQueue;
use bedrock_lb_aws::provision::ensure_queue;
use bedrock_lb_core::JobQueue;
use common::{sqs_client, unique};

const HIDE: Duration = Duration::from_secs(30);

#[tokio::test]
async fn send_batch_of_25_returns_25_ids_in_order() {
    let client = sqs_client();
    let urls = ensure_queue(&client, &unique("batch"), 5).await.unwrap();
    let queue = SqsQueue::new(client, urls.queue_url);
    let bodies: Vec<String> = (0..25).map(|i| format!("body-{i}")).collect();
    let ids: Vec<String> = queue
        .send_batch(&bodies)
        .await
        .into_iter()
        .map(|outcome| outcome.unwrap())
        .collect();
    assert_eq!(ids.len(), 25);

    // Every id names the body at its position.
    let mut received = std::collections::HashMap::new();
    while received.len() < 25 {
        let got = queue.receive(10, Duration::ZERO, HIDE).await.unwrap();
        assert!(!got.is_empty(), "messages went missing");
        for message in got {
            received.insert(message.message_id, message.body);
        }
    }
    for (id, body) in ids.iter().zip(&bodies) {
        assert_eq!(received.get(id), Some(body));
    }
    assert!(queue.send_batch(&[]).await.is_empty());
}

#[tokio::test]
async fn the_dead_letter_queue_comes_from_the_redrive_policy_and_keeps_message_ids() {
    let client = sqs_client();
    let urls = ensure_queue(&client, &unique("redrive"), 1).await.unwrap();
    let queue = SqsQueue::new(client.clone(), urls.queue_url.clone());
    let dlq = queue.dead_letter_queue().await.unwrap().unwrap();
    assert_eq!(dlq.queue_url(), urls.dead_letter_queue_url);

    let id = queue.send("poison".into()).await.unwrap();
    let first = queue.receive(1, Duration::ZERO, HIDE).await.unwrap();
    queue
        .extend_visibility(&first[0].receipt, Duration::ZERO)
        .await
        .unwrap();
    assert!(
        queue
            .receive(1, Duration::ZERO, HIDE)
            .await
            .unwrap()
            .is_empty()
    );
    let dead = dlq.receive(1, Duration::ZERO, HIDE).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(
        dead[0].message_id, id,
        "moto keeps the MessageId in the DLQ"
    );
    // Kept for inspection: hidden for 11 h (SQS caps a message's total visibility at 12 h
    // from its receipt, the 30 s of the receive included).
    dlq.extend_visibility(&dead[0].receipt, Duration::from_secs(11 * 3600))
        .await
        .unwrap();
    assert!(
        dlq.receive(1, Duration::ZERO, HIDE)
            .await
            .unwrap()
            .is_empty()
    );

    // A queue without a redrive policy has no dead-letter queue.
    let plain = client
        .create_queue()
        .queue_name(unique("plain"))
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let plain = SqsQueue::new(client, plain);
    assert!(plain.dead_letter_queue().await.unwrap().is_none());
}
