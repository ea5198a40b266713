//! [`SqsQueue`]: the `JobQueue` port on Amazon SQS.
//!
//! SQS already has the semantics the port asks for (visibility timeouts, receive counts, a
//! redrive policy that moves a message to the dead-letter queue after too many receives; see
//! [`crate::provision::ensure_queue`]), so this adapter only converts units and errors:
//! durations become whole seconds within SQS's limits, and a stale receipt handle becomes
//! [`QueueError::InvalidReceipt`] so the worker knows its hold on the message is gone.
//! Batched sends are in [`batch`]; the dead-letter queue is found from the redrive policy.

mod batch;

use std::error::Error;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_sqs::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};
use bedrock_lb_core::{JobQueue, QueueError, QueueMessage, SendOutcome};

use crate::errors::chain;

/// Most messages SQS returns from one ReceiveMessage call.
const MAX_BATCH: u32 = 10;
/// Longest long-poll SQS allows, in seconds.
const MAX_WAIT_SECS: u64 = 20;
/// Longest visibility timeout SQS allows (12 hours), in seconds.
const MAX_VISIBILITY_SECS: u64 = 43_200;

/// The job queue on one SQS queue. Cheap to clone: the SDK client is shared.
#[derive(Debug, Clone)]
pub struct SqsQueue {
    client: aws_sdk_sqs::Client,
    queue_url: String,
}

impl SqsQueue {
    /// A queue adapter for `queue_url` (as returned by CreateQueue / GetQueueUrl, or by
    /// [`crate::provision::ensure_queue`]), called through `client`.
    pub fn new(client: aws_sdk_sqs::Client, queue_url: impl Into<String>) -> Self {
        Self {
            client,
            queue_url: queue_url.into(),
        }
    }

    /// The URL of the queue this adapter works on.
    pub fn queue_url(&self) -> &str {
        &self.queue_url
    }

    /// The dead-letter queue this queue's redrive policy moves messages to, so the worker can
    /// drain it and fail their jobs; `None` when the queue has no redrive policy. Resolved from
    /// the policy's `deadLetterTargetArn` (queue name and account) through GetQueueUrl.
    pub async fn dead_letter_queue(&self) -> Result<Option<SqsQueue>, QueueError> {
        let policy = self
            .client
            .get_queue_attributes()
            .queue_url(&self.queue_url)
            .attribute_names(QueueAttributeName::RedrivePolicy)
            .send()
            .await
            .map_err(unavailable)?
            .attributes
            .and_then(|mut a| a.remove(&QueueAttributeName::RedrivePolicy));
        let Some(policy) = policy.filter(|p| !p.trim().is_empty()) else {
            return Ok(None);
        };
        let target = dead_letter_target(&policy)?;
        let url = self
            .client
            .get_queue_url()
            .queue_name(&target.name)
            .queue_owner_aws_account_id(&target.account)
            .send()
            .await
            .map_err(unavailable)?
            .queue_url
            .ok_or_else(|| QueueError::Unavailable("GetQueueUrl returned no QueueUrl".into()))?;
        Ok(Some(SqsQueue::new(self.client.clone(), url)))
    }
}

/// The queue named by a redrive policy's `deadLetterTargetArn`.
#[derive(Debug, PartialEq, Eq)]
struct DeadLetterTarget {
    account: String,
    name: String,
}

/// Parses a RedrivePolicy attribute: JSON with `deadLetterTargetArn` =
/// `arn:{partition}:sqs:{region}:{account}:{name}`.
fn dead_letter_target(policy: &str) -> Result<DeadLetterTarget, QueueError> {
    let invalid = |why: &str| QueueError::Unavailable(format!("unusable RedrivePolicy: {why}"));
    let value: serde_json::Value = serde_json::from_str(policy).map_err(|_| invalid("not JSON"))?;
    let arn = value
        .get("deadLetterTargetArn")
        .and_then(serde_json::Value::as_str)
        .ok_or_else(|| invalid("no deadLetterTargetArn"))?;
    let parts: Vec<&str> = arn.split(':').collect();
    match parts.as_slice() {
        ["arn", _, "sqs", _, account, name] if !account.is_empty() && !name.is_empty() => {
            Ok(DeadLetterTarget {
                account: (*account).to_owned(),
                name: (*name).to_owned(),
            })
        }
        _ => Err(invalid("deadLetterTargetArn is not an SQS queue ARN")),
    }
}

#[async_trait]
impl JobQueue for SqsQueue {
    async fn send(&self, body: String) -> Result<String, QueueError> {
        let out = self
            .client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(body)
            .send()
            .await
            .map_err(unavailable)?;
        out.message_id
            .ok_or_else(|| QueueError::Unavailable("SendMessage returned no MessageId".into()))
    }

    async fn send_batch(&self, bodies: &[String]) -> Vec<SendOutcome> {
        batch::send_batch(&self.client, &self.queue_url, bodies).await
    }

    async fn receive(
        &self,
        max: u32,
        wait: Duration,
        visibility: Duration,
    ) -> Result<Vec<QueueMessage>, QueueError> {
        let out = self
            .client
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(to_i32(max.clamp(1, MAX_BATCH).into()))
            .wait_time_seconds(to_i32(wait.as_secs().min(MAX_WAIT_SECS)))
            .visibility_timeout(visibility_secs(visibility))
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .message_attribute_names("All")
            .send()
            .await
            .map_err(unavailable)?;
        let messages = out
            .messages
            .unwrap_or_default()
            .into_iter()
            .filter_map(|m| {
                let receive_count = m
                    .attributes
                    .as_ref()
                    .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(1);
                let attributes = m
                    .message_attributes
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|(name, value)| Some((name, value.string_value?)))
                    .collect();
                // A message without an id or a receipt cannot be acted on; SQS always sends both.
                Some(QueueMessage {
                    message_id: m.message_id?,
                    receipt: m.receipt_handle?,
                    body: m.body.unwrap_or_default(),
                    receive_count,
                    attributes,
                })
            })
            .collect();
        Ok(messages)
    }

    async fn extend_visibility(
        &self,
        receipt: &str,
        visibility: Duration,
    ) -> Result<(), QueueError> {
        self.client
            .change_message_visibility()
            .queue_url(&self.queue_url)
            .receipt_handle(receipt)
            .visibility_timeout(visibility_secs(visibility))
            .send()
            .await
            .map_err(|err| {
                receipt_error(err, |e| {
                    e.is_receipt_handle_is_invalid() || e.is_message_not_inflight()
                })
            })?;
        Ok(())
    }

    async fn delete(&self, receipt: &str) -> Result<(), QueueError> {
        self.client
            .delete_message()
            .queue_url(&self.queue_url)
            .receipt_handle(receipt)
            .send()
            .await
            .map_err(|err| receipt_error(err, |e| e.is_receipt_handle_is_invalid()))?;
        Ok(())
    }
}

/// Visibility in whole seconds, rounded up (hiding a message a little longer than asked is
/// safe; hiding it for less could hand it to a second worker), within SQS's limit.
fn visibility_secs(visibility: Duration) -> i32 {
    let mut secs = visibility.as_secs();
    if visibility.subsec_nanos() > 0 {
        secs += 1;
    }
    to_i32(secs.min(MAX_VISIBILITY_SECS))
}

fn to_i32(n: u64) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

fn unavailable<E: Error + 'static>(err: SdkError<E>) -> QueueError {
    QueueError::Unavailable(chain(&err))
}

/// Classifies the error of a call that takes a receipt handle: a handle SQS no longer accepts
/// (`is_invalid` on the modelled error, or the unmodelled `InvalidParameterValue` that real SQS
/// answers for an expired handle, which has no `is_*()` method) is `InvalidReceipt`.
fn receipt_error<E>(err: SdkError<E>, is_invalid: impl FnOnce(&E) -> bool) -> QueueError
where
    E: Error + ProvideErrorMetadata + 'static,
{
    if let Some(service_err) = err.as_service_error() {
        let invalid_parameter = service_err
            .code()
            .is_some_and(|code| code.ends_with("InvalidParameterValue"))
            && service_err
                .message()
                .is_some_and(|m| m.to_ascii_lowercase().contains("receipt"));
        if is_invalid(service_err) || invalid_parameter {
            return QueueError::InvalidReceipt;
        }
    }
    unavailable(err)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_dead_letter_target_comes_from_the_redrive_policy_arn() {
        let policy = r#"{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:123456789012:jobs-dlq","maxReceiveCount":"5"}"#;
        assert_eq!(
            dead_letter_target(policy).unwrap(),
            DeadLetterTarget {
                account: "123456789012".into(),
                name: "jobs-dlq".into()
            }
        );
        assert!(dead_letter_target("{}").is_err());
        assert!(dead_letter_target("nope").is_err());
        assert!(dead_letter_target(r#"{"deadLetterTargetArn":"arn:aws:sns:r:1:t"}"#).is_err());
    }

    #[test]
    fn visibility_rounds_up_to_whole_seconds_within_the_limit() {
        assert_eq!(visibility_secs(Duration::ZERO), 0);
        assert_eq!(visibility_secs(Duration::from_millis(1)), 1);
        assert_eq!(visibility_secs(Duration::from_secs(30)), 30);
        assert_eq!(visibility_secs(Duration::from_millis(30_001)), 31);
        assert_eq!(visibility_secs(Duration::from_secs(1_000_000)), 43_200);
    }
}
