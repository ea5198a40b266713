//! Which bucket a job is sent to, and what happens when a call fails.
//!
//! This first dispatcher walks the model's buckets in turn, starting at a rotating offset so load
//! spreads across regions, and applies the error classification of `bedrock-lb-core`: a throttle
//! or an outage moves the job to the next bucket at once, a misconfigured bucket is skipped for
//! the rest of the job, and the job's own faults fail it. Once every usable bucket has been tried
//! in a round, the next round waits an exponential, jittered delay. The quota-aware router
//! (limiters, token ledger, breakers) replaces the bucket choice here.

use std::collections::HashSet;
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use bedrock_lb_core::{
    Attempt, BucketId, Clock, ConverseOutput, FailureAction, InvokeError, JobError, JobRequest,
    ModelInvoker, ModelSpec,
};
use tokio::time::Instant;

/// How hard one job tries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Most Bedrock calls for one job.
    pub max_attempts: u32,
    /// First delay between rounds over the buckets.
    pub base_delay: Duration,
    /// Longest delay between rounds.
    pub max_delay: Duration,
}

/// What dispatching one job came to.
#[derive(Debug)]
pub struct Dispatched {
    /// The bucket that answered and its output, or why the job failed.
    pub outcome: Result<(BucketId, ConverseOutput), JobError>,
    /// Every call made, in order.
    pub attempts: Vec<Attempt>,
}

/// Sends `request` to the buckets of `model`, starting with bucket `start % n`, until one
/// succeeds, the job's own fault ends it, or the attempts run out.
pub async fn dispatch(
    invoker: &dyn ModelInvoker,
    clock: &dyn Clock,
    model: &ModelSpec,
    request: &JobRequest,
    policy: &RetryPolicy,
    start: usize,
) -> Dispatched {
    let n = model.buckets.len();
    let mut attempts = Vec::new();
    let mut unusable: HashSet<usize> = HashSet::new();
    let mut delays = ExponentialBuilder::default()
        .with_min_delay(policy.base_delay)
        .with_max_delay(policy.max_delay)
        .with_jitter()
        .without_max_times()
        .build();
    let mut last_error: Option<(BucketId, InvokeError)> = None;
    let mut tried_this_round = 0usize;
    let mut cursor = start;

    while attempts.len() < policy.max_attempts as usize {
        let usable = n - unusable.len();
        if usable == 0 {
            return Dispatched {
                outcome: Err(no_bucket_left(model, last_error.as_ref())),
                attempts,
            };
        }
        if tried_this_round >= usable {
            tried_this_round = 0;
            if let Some(delay) = delays.next() {
                tokio::time::sleep(delay).await;
            }
        }
        let index = next_usable(cursor, n, &unusable);
        cursor = index + 1;
        tried_this_round += 1;
        let bucket = &model.buckets[index];
        tracing::Span::current().record("region", bucket.region.as_str());

        let started_at = clock.now();
        let timer = Instant::now();
        let result = invoker.converse(bucket, request).await;
        let latency_ms = u64::try_from(timer.elapsed().as_millis()).unwrap_or(u64::MAX);
        match result {
            Ok(output) => {
                attempts.push(Attempt {
                    region: bucket.region.clone(),
                    model_id: bucket.model_id.clone(),
                    started_at,
                    latency_ms,
                    outcome: "succeeded".into(),
                    error: None,
                });
                return Dispatched {
                    outcome: Ok((bucket.clone(), output)),
                    attempts,
                };
            }
            Err(error) => {
                tracing::info!(bucket = %bucket, error = error.kind.label(), "bedrock call failed");
                attempts.push(Attempt {
                    region: bucket.region.clone(),
                    model_id: bucket.model_id.clone(),
                    started_at,
                    latency_ms,
                    outcome: error.kind.label().into(),
                    error: Some(error.message.clone()),
                });
                match error.kind.action() {
                    FailureAction::FailJob => {
                        return Dispatched {
                            outcome: Err(JobError::new(error.kind.label(), error.message)),
                            attempts,
                        };
                    }
                    FailureAction::DisableBucket => {
                        unusable.insert(index);
                    }
                    FailureAction::TryElsewhere | FailureAction::BreakerFailure => {}
                }
                last_error = Some((bucket.clone(), error));
            }
        }
    }
    let last = last_error
        .map(|(bucket, e)| format!("; last error from {bucket}: {e}"))
        .unwrap_or_default();
    Dispatched {
        outcome: Err(JobError::new(
            "attempts_exhausted",
            format!("all {} attempts failed{last}", attempts.len()),
        )),
        attempts,
    }
}

fn next_usable(cursor: usize, n: usize, unusable: &HashSet<usize>) -> usize {
    (0..n)
        .map(|step| (cursor + step) % n)
        .find(|i| !unusable.contains(i))
        .unwrap_or(cursor % n)
}

fn no_bucket_left(model: &ModelSpec, last: Option<&(BucketId, InvokeError)>) -> JobError {
    let detail = last
        .map(|(bucket, e)| format!("; last error from {bucket}: {e}"))
        .unwrap_or_default();
    JobError::new(
        "no_bucket_available",
        format!(
            "no configured region can serve model `{}`{detail}",
            model.name
        ),
    )
}

#[cfg(test)]
mod tests;
