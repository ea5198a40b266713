//! One job's way through the buckets: ask the router for a bucket with room (waiting, without
//! spinning, while none has), call Bedrock there, settle the permit with the real usage, and
//! apply the error table of `bedrock-lb-core` to failures:
//!
//! - a throttle or a transient not-ready moves the job to another bucket at once (the router
//!   also shrinks the throttled bucket's rate);
//! - an outage counts against the bucket's breaker and moves the job elsewhere;
//! - a misconfigured bucket is taken out of rotation by the router and skipped;
//! - the job's own fault fails it with Bedrock's message.
//!
//! A round ends when every usable bucket has been tried; the next one starts after an
//! exponential, jittered delay (backon) if the round saw errors. Throttles are not failures:
//! they are bounded separately (a bucket being full is the normal state of a saturated system),
//! so a job fails only when its real failures run out or no bucket can ever serve it.

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use bedrock_lb_core::{
    Attempt, BucketId, Clock, ConverseOutput, FailureAction, InvokeError, InvokeErrorKind,
    JobError, JobRequest, ModelInvoker, ModelSpec,
};
use bedrock_lb_router::{Router, Unroutable};
use tokio::time::Instant;

/// How many throttles one job may meet for each attempt it is allowed: a throttle costs the
/// job nothing but a call, yet an endless run of them means the quota is shared with someone
/// who takes it all.
const THROTTLES_PER_ATTEMPT: u32 = 10;

/// How hard one job tries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Most failed Bedrock calls (throttles aside) for one job.
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

/// Tokens Bedrock reserves for `request` at admission: its estimated input plus its
/// `max_tokens`, or the model's maximum when it sets none.
pub fn reservation(model: &ModelSpec, request: &JobRequest) -> u64 {
    let max_tokens = request
        .inference
        .max_tokens
        .unwrap_or(model.max_output_tokens);
    u64::from(request.estimated_input_tokens()) + u64::from(max_tokens)
}

/// Sends `request` to the buckets the router chooses until one succeeds, the job's own fault
/// ends it, or its attempts run out.
pub async fn dispatch(
    router: &Router,
    invoker: &dyn ModelInvoker,
    clock: &dyn Clock,
    model: &ModelSpec,
    request: &JobRequest,
    policy: &RetryPolicy,
) -> Dispatched {
    let reservation = reservation(model, request);
    let mut attempts = Vec::new();
    let mut delays = ExponentialBuilder::default()
        .with_min_delay(policy.base_delay)
        .with_max_delay(policy.max_delay)
        .with_jitter()
        .without_max_times()
        .build();
    let mut tried: Vec<BucketId> = Vec::new();
    let mut round_failed = false;
    let (mut failures, mut throttles) = (0u32, 0u32);
    let mut last_error: Option<(BucketId, InvokeError)> = None;
    let fail = |error: JobError, attempts: Vec<Attempt>| Dispatched {
        outcome: Err(error),
        attempts,
    };

    loop {
        if failures >= policy.max_attempts
            || throttles >= policy.max_attempts.saturating_mul(THROTTLES_PER_ATTEMPT)
        {
            return fail(exhausted(&attempts, last_error.as_ref()), attempts);
        }
        let usable = router.usable(&model.name);
        if !usable.is_empty() && usable.iter().all(|b| tried.contains(b)) {
            tried.clear();
            if std::mem::take(&mut round_failed)
                && let Some(delay) = delays.next()
            {
                tokio::time::sleep(delay).await;
            }
        }
        let mut permit = match router.acquire(&model.name, reservation, &tried).await {
            Ok(permit) => permit,
            Err(Unroutable::NoneUsable { .. }) if !tried.is_empty() => {
                // Every bucket left was tried this round; the next round may use them again.
                tried.clear();
                continue;
            }
            Err(error) => {
                return fail(unroutable(model, &error, last_error.as_ref()), attempts);
            }
        };
        // What a timeout costs: Bedrock counted the input it had read.
        permit.set_input_tokens(u64::from(request.estimated_input_tokens()));
        let bucket = permit.bucket().clone();
        tracing::Span::current().record("region", bucket.region.as_str());

        let started_at = clock.now();
        let timer = Instant::now();
        let result = invoker.converse(&bucket, request).await;
        let latency_ms = u64::try_from(timer.elapsed().as_millis()).unwrap_or(u64::MAX);
        let attempt = |outcome: &str, error: Option<String>| Attempt {
            region: bucket.region.clone(),
            model_id: bucket.model_id.clone(),
            started_at,
            latency_ms,
            outcome: outcome.into(),
            error,
        };
        match result {
            Ok(output) => {
                permit.succeeded(
                    u64::from(output.usage.input_tokens),
                    u64::from(output.usage.output_tokens),
                );
                attempts.push(attempt("succeeded", None));
                return Dispatched {
                    outcome: Ok((bucket, output)),
                    attempts,
                };
            }
            Err(error) => {
                permit.failed(error.kind);
                tracing::info!(bucket = %bucket, error = error.kind.label(), "bedrock call failed");
                attempts.push(attempt(error.kind.label(), Some(error.message.clone())));
                match error.kind.action() {
                    FailureAction::FailJob => {
                        return fail(JobError::new(error.kind.label(), error.message), attempts);
                    }
                    FailureAction::TryElsewhere => throttles += 1,
                    FailureAction::BreakerFailure | FailureAction::DisableBucket => {
                        failures += 1;
                        round_failed = true;
                    }
                }
                if error.kind == InvokeErrorKind::ModelNotReady {
                    round_failed = true;
                }
                tried.push(bucket.clone());
                last_error = Some((bucket, error));
            }
        }
    }
}

fn last_error_detail(last: Option<&(BucketId, InvokeError)>) -> String {
    last.map(|(bucket, e)| format!("; last error from {bucket}: {e}"))
        .unwrap_or_default()
}

fn exhausted(attempts: &[Attempt], last: Option<&(BucketId, InvokeError)>) -> JobError {
    JobError::new(
        "attempts_exhausted",
        format!(
            "all {} attempts failed{}",
            attempts.len(),
            last_error_detail(last)
        ),
    )
}

fn unroutable(
    model: &ModelSpec,
    error: &Unroutable,
    last: Option<&(BucketId, InvokeError)>,
) -> JobError {
    let detail = last_error_detail(last);
    match error {
        Unroutable::TooLarge { .. } => JobError::new("request_too_large", format!("{error}")),
        Unroutable::NoRoute { .. } | Unroutable::NoneUsable { .. } => JobError::new(
            "no_bucket_available",
            format!(
                "no configured region can serve model `{}`: {error}{detail}",
                model.name
            ),
        ),
    }
}

#[cfg(test)]
mod tests;
