//! SendMessageBatch for [`SqsQueue::send_batch`](super::SqsQueue): bodies go out in chunks of
//! ten (SQS's limit), several chunks at once; the entries SQS reports in `Failed` are retried
//! with jittered exponential backoff unless SQS says they are the sender's fault (such an entry
//! will fail the same way again). Every body gets its own outcome, in order, so the caller
//! knows exactly which messages were queued.

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use backon::{BackoffBuilder, ExponentialBuilder};
use bedrock_lb_core::{QueueError, SendOutcome};
use tokio::task::JoinSet;

use crate::errors::chain;

/// Most entries SQS accepts in one SendMessageBatch.
const CHUNK: usize = 10;
/// How many SendMessageBatch calls run at once for one `send_batch`.
const CONCURRENT_CHUNKS: usize = 8;
/// Retries of the entries SQS reports as failed (not counting the first try).
const MAX_RETRIES: usize = 4;

/// The backoff between retries of failed entries: 20 ms doubling to 500 ms, jittered.
fn backoff() -> impl Iterator<Item = Duration> {
    ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(20))
        .with_max_delay(Duration::from_millis(500))
        .with_max_times(MAX_RETRIES)
        .with_jitter()
        .build()
}

/// Sends `bodies` to `queue_url`; one outcome per body, in order.
pub(super) async fn send_batch(
    client: &aws_sdk_sqs::Client,
    queue_url: &str,
    bodies: &[String],
) -> Vec<SendOutcome> {
    let mut outcomes: Vec<SendOutcome> =
        vec![Err(QueueError::Unavailable("not sent".into())); bodies.len()];
    let queue_url: Arc<str> = Arc::from(queue_url);
    let mut chunks = bodies.chunks(CHUNK).enumerate();
    let mut running = JoinSet::new();
    loop {
        while running.len() < CONCURRENT_CHUNKS {
            let Some((index, chunk)) = chunks.next() else {
                break;
            };
            let (client, url, chunk) = (client.clone(), Arc::clone(&queue_url), chunk.to_vec());
            running.spawn(async move { (index * CHUNK, send_chunk(&client, &url, chunk).await) });
        }
        let Some(joined) = running.join_next().await else {
            break;
        };
        match joined {
            Ok((start, chunk_outcomes)) => {
                for (offset, outcome) in chunk_outcomes.into_iter().enumerate() {
                    if let Some(slot) = outcomes.get_mut(start + offset) {
                        *slot = outcome;
                    }
                }
            }
            // A panicked chunk task leaves its bodies at "not sent".
            Err(err) => tracing::error!(error = %err, "SendMessageBatch task failed"),
        }
    }
    outcomes
}

/// Sends one chunk (at most ten bodies) with retries; one outcome per body, in order.
async fn send_chunk(
    client: &aws_sdk_sqs::Client,
    queue_url: &str,
    bodies: Vec<String>,
) -> Vec<SendOutcome> {
    let mut outcomes: Vec<SendOutcome> =
        vec![Err(QueueError::Unavailable("not sent".into())); bodies.len()];
    let mut pending: Vec<usize> = (0..bodies.len()).collect();
    let mut delays = backoff();
    loop {
        let mut retry = Vec::new();
        match send_once(client, queue_url, &bodies, &pending).await {
            Ok(answer) => {
                for (index, message_id) in answer.sent {
                    outcomes[index] = Ok(message_id);
                }
                for (index, failure) in answer.failed {
                    outcomes[index] = Err(QueueError::Unavailable(failure.reason));
                    // A sender fault (a body too large, say) fails the same way every time.
                    if !failure.sender_fault {
                        retry.push(index);
                    }
                }
            }
            // The SDK already retried the call itself; a failed call fails every entry in it.
            Err(err) => {
                for &index in &pending {
                    outcomes[index] = Err(err.clone());
                }
            }
        }
        if retry.is_empty() {
            return outcomes;
        }
        let Some(delay) = delays.next() else {
            tracing::warn!(
                failed = retry.len(),
                "SendMessageBatch entries still failing after retries"
            );
            return outcomes;
        };
        tracing::debug!(
            failed = retry.len(),
            ?delay,
            "retrying failed SendMessageBatch entries"
        );
        tokio::time::sleep(delay).await;
        pending = retry;
    }
}

/// A failed entry as SQS reported it.
struct Failure {
    sender_fault: bool,
    reason: String,
}

/// What one SendMessageBatch call did, by index into the chunk.
struct Answer {
    sent: Vec<(usize, String)>,
    failed: Vec<(usize, Failure)>,
}

/// One SendMessageBatch call for the bodies at `pending` (entry id = index in the chunk).
async fn send_once(
    client: &aws_sdk_sqs::Client,
    queue_url: &str,
    bodies: &[String],
    pending: &[usize],
) -> Result<Answer, QueueError> {
    let mut call = client.send_message_batch().queue_url(queue_url);
    for &index in pending {
        let entry = SendMessageBatchRequestEntry::builder()
            .id(index.to_string())
            .message_body(bodies[index].clone())
            .build()
            .map_err(|err| QueueError::Unavailable(chain(&err)))?;
        call = call.entries(entry);
    }
    let out = call
        .send()
        .await
        .map_err(|err| QueueError::Unavailable(chain(&err)))?;
    let mut answer = Answer {
        sent: Vec::new(),
        failed: Vec::new(),
    };
    let mut answered = vec![false; bodies.len()];
    for entry in out.successful {
        if let Some(index) = entry_index(&entry.id, bodies.len()) {
            answered[index] = true;
            answer.sent.push((index, entry.message_id));
        }
    }
    for entry in out.failed {
        if let Some(index) = entry_index(&entry.id, bodies.len()) {
            answered[index] = true;
            let reason = format!(
                "SendMessageBatch entry failed: {} {}",
                entry.code,
                entry.message.unwrap_or_default()
            );
            answer.failed.push((
                index,
                Failure {
                    sender_fault: entry.sender_fault,
                    reason,
                },
            ));
        }
    }
    // An entry SQS did not mention at all is retried like a reported server-side failure.
    for &index in pending {
        if !answered[index] {
            answer.failed.push((
                index,
                Failure {
                    sender_fault: false,
                    reason: "SendMessageBatch did not answer for the entry".into(),
                },
            ));
        }
    }
    Ok(answer)
}

/// The chunk index named by entry id `id`, if it is one of ours.
fn entry_index(id: &str, len: usize) -> Option<usize> {
    id.parse::<usize>().ok().filter(|&index| index < len)
}
