//! SqsQueue and the queue provisioning against moto's SQS. No test sleeps: a message is made
//! visible again with `extend_visibility(receipt, 0)`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers panic on set-up failure

mod common;

use std::time::Duration;

use aws_sdk_sqs::types::QueueAttributeName;
use bedrock_lb_aws::SqsQueue;
use bedrock_lb_aws::provision::ensure_queue;
use bedrock_lb_core::{JobQueue, QueueError};
use common::{sdk_config, sqs_client, unique};

const HIDE: Duration = Duration::from_secs(30);

async fn new_queue(max_receive_count: u32) -> (SqsQueue, SqsQueue) {
    let client = sqs_client();
    let urls = ensure_queue(&client, &unique("q"), max_receive_count)
        .await
        .unwrap();
    (
        SqsQueue::new(client.clone(), urls.queue_url),
        SqsQueue::new(client, urls.dead_letter_queue_url),
    )
}

/// Messages in the queue, visible or in flight, as SQS counts them.
async fn stored_messages(queue: &SqsQueue) -> u32 {
    let attrs = sqs_client()
        .get_queue_attributes()
        .queue_url(queue.queue_url())
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap_or_default();
    let count = |name| {
        attrs
            .get(&name)
            .and_then(|n| n.parse::<u32>().ok())
            .unwrap()
    };
    count(QueueAttributeName::ApproximateNumberOfMessages)
        + count(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
}

#[tokio::test]
async fn send_receive_delete() {
    let (queue, _) = new_queue(5).await;
    let id = queue.send("hello ünïcode".into()).await.unwrap();
    let messages = queue
        .receive(10, Duration::from_secs(1), HIDE)
        .await
        .unwrap();
    assert_eq!(messages.len(), 1);
    let message = &messages[0];
    assert_eq!(message.message_id, id);
    assert_eq!(message.body, "hello ünïcode");
    assert_eq!(message.receive_count, 1);
    // Hidden while in flight.
    assert!(
        queue
            .receive(10, Duration::ZERO, HIDE)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(stored_messages(&queue).await, 1);
    queue.delete(&message.receipt).await.unwrap();
    assert_eq!(stored_messages(&queue).await, 0);
}

#[tokio::test]
async fn receive_takes_at_most_ten_and_at_least_one() {
    let (queue, _) = new_queue(5).await;
    for i in 0..12 {
        queue.send(format!("m{i}")).await.unwrap();
    }
    // max 0 is clamped to 1, and 50 to SQS's limit of 10 (50 would be a validation error).
    assert_eq!(
        queue.receive(0, Duration::ZERO, HIDE).await.unwrap().len(),
        1
    );
    let batch = queue.receive(50, Duration::ZERO, HIDE).await.unwrap();
    assert!(!batch.is_empty() && batch.len() <= 10, "{}", batch.len());
}

#[tokio::test]
async fn redelivery_counts_receives_and_old_receipts_stay_usable_on_moto() {
    let (queue, _) = new_queue(5).await;
    queue.send("job".into()).await.unwrap();
    let first = queue
        .receive(1, Duration::ZERO, HIDE)
        .await
        .unwrap()
        .remove(0);
    assert_eq!(first.receive_count, 1);
    queue
        .extend_visibility(&first.receipt, Duration::ZERO)
        .await
        .unwrap();
    let second = queue
        .receive(1, Duration::ZERO, HIDE)
        .await
        .unwrap()
        .remove(0);
    assert_eq!(second.message_id, first.message_id);
    assert_eq!(second.receive_count, 2);
    assert_ne!(
        second.receipt, first.receipt,
        "each receive gets a new receipt"
    );

    // What moto does with the first, superseded receipt: it still acts on the message (real SQS
    // documents that a stale handle may succeed without effect, or fail with
    // ReceiptHandleIsInvalid / InvalidParameterValue, which become InvalidReceipt). The worker
    // therefore never relies on a stale receipt failing: the job store's lease decides.
    queue
        .extend_visibility(&first.receipt, Duration::ZERO)
        .await
        .unwrap();
    let third = queue.receive(1, Duration::ZERO, HIDE).await.unwrap();
    assert_eq!(
        third.len(),
        1,
        "moto applied the stale receipt's visibility change"
    );
    assert_eq!(third[0].receive_count, 3);
    queue.delete(&first.receipt).await.unwrap();
    assert_eq!(
        stored_messages(&queue).await,
        0,
        "moto deleted by the stale receipt"
    );
}

#[tokio::test]
async fn malformed_receipts_are_invalid_receipts() {
    let (queue, _) = new_queue(5).await;
    assert_eq!(
        queue.delete("not-a-receipt").await,
        Err(QueueError::InvalidReceipt)
    );
    assert_eq!(
        queue.extend_visibility("not-a-receipt", HIDE).await,
        Err(QueueError::InvalidReceipt)
    );
}

#[tokio::test]
async fn messages_move_to_the_dead_letter_queue_after_max_receives() {
    let (queue, dlq) = new_queue(2).await;
    let id = queue.send("poison".into()).await.unwrap();
    for expected_count in 1..=2 {
        let message = queue
            .receive(1, Duration::ZERO, HIDE)
            .await
            .unwrap()
            .remove(0);
        assert_eq!(message.receive_count, expected_count);
        queue
            .extend_visibility(&message.receipt, Duration::ZERO)
            .await
            .unwrap();
    }
    assert!(
        queue
            .receive(1, Duration::ZERO, HIDE)
            .await
            .unwrap()
            .is_empty(),
        "a third receive finds the message gone to the dead-letter queue"
    );
    let dead = dlq.receive(1, Duration::ZERO, HIDE).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].message_id, id);
    assert_eq!(dead[0].body, "poison");
}

#[tokio::test]
async fn provisioning_is_idempotent_and_updates_the_redrive_policy() {
    let client = sqs_client();
    let name = unique("prov");
    let first = ensure_queue(&client, &name, 3).await.unwrap();
    assert!(first.queue_url.ends_with(&name), "{}", first.queue_url);
    assert!(
        first
            .dead_letter_queue_url
            .ends_with(&format!("{name}-dlq"))
    );
    let again = ensure_queue(&client, &name, 7).await.unwrap();
    assert_eq!(again, first);
    let policy = client
        .get_queue_attributes()
        .queue_url(&first.queue_url)
        .attribute_names(QueueAttributeName::RedrivePolicy)
        .send()
        .await
        .unwrap()
        .attributes
        .and_then(|mut a| a.remove(&QueueAttributeName::RedrivePolicy))
        .unwrap();
    let policy: serde_json::Value = serde_json::from_str(&policy).unwrap();
    assert_eq!(policy["maxReceiveCount"].to_string().trim_matches('"'), "7");
    assert!(
        policy["deadLetterTargetArn"]
            .as_str()
            .unwrap()
            .ends_with(&format!(":{name}-dlq"))
    );
}

#[tokio::test]
async fn a_missing_queue_or_server_is_unavailable() {
    let missing = SqsQueue::new(
        sqs_client(),
        format!(
            "{}/123456789012/{}",
            common::moto_endpoint(),
            unique("nope")
        ),
    );
    let err = missing.send("x".into()).await.unwrap_err();
    assert!(
        matches!(err, QueueError::Unavailable(ref m) if m.to_lowercase().contains("exist")),
        "{err:?}"
    );

    // Port 9 (discard) on localhost: nothing listens there.
    let nowhere = aws_sdk_sqs::Client::new(&sdk_config("http://127.0.0.1:9"));
    let queue = SqsQueue::new(nowhere, "http://127.0.0.1:9/123456789012/q");
    let err = queue.receive(1, Duration::ZERO, HIDE).await.unwrap_err();
    match err {
        QueueError::Unavailable(message) => {
            assert!(
                message.contains("dispatch") || message.contains("connect"),
                "{message}"
            )
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
}
