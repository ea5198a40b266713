//! What a Bedrock call returns, and Bedrock's errors classified once, at the boundary, into
//! what the dispatcher should do about them (see the error table in ARCHITECTURE.md).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::job::Usage;

/// A successful Converse call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConverseOutput {
    pub text: String,
    pub stop_reason: String,
    pub usage: Usage,
    /// Bedrock's own latency figure when it gives one, else the call's wall time.
    pub latency_ms: u64,
}

/// The Bedrock error classes that matter to routing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InvokeErrorKind {
    /// 429 ThrottlingException: the bucket's quota is full.
    Throttling,
    /// 429 ModelNotReadyException: transient.
    ModelNotReady,
    /// 503 ServiceUnavailableException.
    ServiceUnavailable,
    /// 500 InternalServerException.
    InternalServer,
    /// 408 ModelTimeoutException.
    ModelTimeout,
    /// 403 AccessDeniedException: the model is not enabled in that region.
    AccessDenied,
    /// 404 ResourceNotFoundException: no such model in that region.
    ResourceNotFound,
    /// 400 ValidationException saying on-demand throughput isn't supported: the bucket needs an
    /// inference profile.
    OnDemandNotSupported,
    /// 400 ValidationException for anything else: the request's own fault.
    Validation,
    /// 424 ModelErrorException: the model could not process the request.
    ModelError,
    /// The call did not get an answer from Bedrock (connection, timeout, unparseable response).
    Transport,
}

/// What the dispatcher does after an error of a given kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureAction {
    /// The bucket is busy: try another bucket now; not a breaker failure.
    TryElsewhere,
    /// The bucket failed: count it against the bucket's breaker and retry elsewhere with backoff.
    BreakerFailure,
    /// The bucket cannot serve this model: disable it for the model and try elsewhere.
    DisableBucket,
    /// The job itself is at fault: fail it with Bedrock's message.
    FailJob,
}

impl InvokeErrorKind {
    /// A low-cardinality label for attempts, logs and metrics.
    pub fn label(self) -> &'static str {
        match self {
            Self::Throttling => "throttling",
            Self::ModelNotReady => "model_not_ready",
            Self::ServiceUnavailable => "service_unavailable",
            Self::InternalServer => "internal_server",
            Self::ModelTimeout => "model_timeout",
            Self::AccessDenied => "access_denied",
            Self::ResourceNotFound => "resource_not_found",
            Self::OnDemandNotSupported => "on_demand_not_supported",
            Self::Validation => "validation",
            Self::ModelError => "model_error",
            Self::Transport => "transport",
        }
    }

    /// What to do about an error of this kind.
    pub fn action(self) -> FailureAction {
        match self {
            Self::Throttling | Self::ModelNotReady => FailureAction::TryElsewhere,
            Self::ServiceUnavailable
            | Self::InternalServer
            | Self::ModelTimeout
            | Self::Transport => FailureAction::BreakerFailure,
            Self::AccessDenied | Self::ResourceNotFound | Self::OnDemandNotSupported => {
                FailureAction::DisableBucket
            }
            Self::Validation | Self::ModelError => FailureAction::FailJob,
        }
    }

    /// Whether another attempt (elsewhere or later) may succeed.
    pub fn is_retryable(self) -> bool {
        self.action() != FailureAction::FailJob
    }

    /// Classifies a ValidationException by its message: Bedrock signals a bucket that needs an
    /// inference profile only through the text.
    pub fn from_validation_message(message: &str) -> Self {
        let lower = message.to_ascii_lowercase();
        if lower.contains("on-demand throughput") && lower.contains("supported") {
            Self::OnDemandNotSupported
        } else {
            Self::Validation
        }
    }
}

impl fmt::Display for InvokeErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// A failed Bedrock call: its class and Bedrock's message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind}: {message}")]
pub struct InvokeError {
    pub kind: InvokeErrorKind,
    pub message: String,
}

impl InvokeError {
    /// An error of `kind` with `message`.
    pub fn new(kind: InvokeErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }

    /// Whether another attempt may succeed.
    pub fn is_retryable(&self) -> bool {
        self.kind.is_retryable()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttles_are_not_breaker_failures() {
        assert_eq!(
            InvokeErrorKind::Throttling.action(),
            FailureAction::TryElsewhere
        );
        assert_eq!(
            InvokeErrorKind::ServiceUnavailable.action(),
            FailureAction::BreakerFailure
        );
    }

    #[test]
    fn the_jobs_own_faults_are_not_retryable() {
        assert!(!InvokeErrorKind::Validation.is_retryable());
        assert!(!InvokeErrorKind::ModelError.is_retryable());
        assert!(InvokeErrorKind::AccessDenied.is_retryable());
        assert!(InvokeErrorKind::Transport.is_retryable());
    }

    #[test]
    fn on_demand_validation_errors_mean_a_misconfigured_bucket() {
        let msg = "Invocation of model ID anthropic.claude-sonnet-4-20250514-v1:0 with on-demand throughput isn't supported. Retry your request with the ID or ARN of an inference profile that contains this model.";
        assert_eq!(
            InvokeErrorKind::from_validation_message(msg),
            InvokeErrorKind::OnDemandNotSupported
        );
        assert_eq!(
            InvokeErrorKind::from_validation_message("temperature out of range"),
            InvokeErrorKind::Validation
        );
    }
}
