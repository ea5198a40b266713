//! SqsQueue's batched sends and dead-letter queue resolution against moto's SQS.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers panic on set-up failure

mod common;

use std::time::Duration;

use bedrock_lb_aws::SqsQueue;
use bedrock_lb_aws::provision::ensure_queue;
use bedrock_lb_contract as contract;
use bedrock_lb_core::JobQueue;
use common::{sqs_client, unique};

const HIDE: Duration = Duration::from_secs(30);

#[tokio::test]
async fn send_batch_of_25_returns_25_ids_in_order() {
    let client = sqs_client();
    let urls = ensure_queue(&client, &unique("batch"), 5).await.unwrap();
    let queue = SqsQueue::new(client, urls.queue_url);
    contract::send_batch_returns_ids_in_order(&queue).await;
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
