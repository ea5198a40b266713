//! Bedrock's errors as they travel on the wire (restJson1): the error's name in the
//! `x-amzn-ErrorType` header, `{"message": "..."}` as the body, and the status Bedrock uses.
//!
//! Every error the simulator answers with goes through [`BedrockError`], so that the SDK parses
//! each one into the same `is_*_exception()` it would for real Bedrock. Bedrock never sends a
//! `Retry-After` header, and neither does the simulator.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::wire::ErrorBody;

/// The header that names the error type in restJson1.
pub const ERROR_TYPE_HEADER: &str = "x-amzn-errortype";

/// The Bedrock Runtime error types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BedrockErrorKind {
    /// 429: the bucket's quota is full.
    Throttling,
    /// 429: the model is not ready to serve; transient.
    ModelNotReady,
    /// 503: the service is unavailable.
    ServiceUnavailable,
    /// 500: an internal error.
    InternalServer,
    /// 408: the model took too long.
    ModelTimeout,
    /// 400: the request is invalid (including "on-demand throughput isn't supported").
    Validation,
    /// 403: no access to the model in this region.
    AccessDenied,
    /// 404: the named resource does not exist.
    ResourceNotFound,
    /// 424: the model failed to process the request.
    ModelError,
    /// 404: no such operation (a path the service does not serve).
    UnknownOperation,
}

impl BedrockErrorKind {
    /// The HTTP status Bedrock answers with.
    pub fn status(self) -> StatusCode {
        match self {
            Self::Throttling | Self::ModelNotReady => StatusCode::TOO_MANY_REQUESTS,
            Self::ServiceUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::InternalServer => StatusCode::INTERNAL_SERVER_ERROR,
            Self::ModelTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::Validation => StatusCode::BAD_REQUEST,
            Self::AccessDenied => StatusCode::FORBIDDEN,
            Self::ResourceNotFound | Self::UnknownOperation => StatusCode::NOT_FOUND,
            Self::ModelError => StatusCode::FAILED_DEPENDENCY,
        }
    }

    /// The error's name, as sent in `x-amzn-ErrorType`.
    pub fn type_name(self) -> &'static str {
        match self {
            Self::Throttling => "ThrottlingException",
            Self::ModelNotReady => "ModelNotReadyException",
            Self::ServiceUnavailable => "ServiceUnavailableException",
            Self::InternalServer => "InternalServerException",
            Self::ModelTimeout => "ModelTimeoutException",
            Self::Validation => "ValidationException",
            Self::AccessDenied => "AccessDeniedException",
            Self::ResourceNotFound => "ResourceNotFoundException",
            Self::ModelError => "ModelErrorException",
            Self::UnknownOperation => "UnknownOperationException",
        }
    }
}

/// A Bedrock error: its type and the message sent to the caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {message}", kind.type_name())]
pub struct BedrockError {
    pub kind: BedrockErrorKind,
    pub message: String,
}

impl BedrockError {
    /// An error of `kind` saying `message`.
    pub fn new(kind: BedrockErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }

    /// A 400 ValidationException.
    pub fn validation(message: impl Into<String>) -> Self {
        Self::new(BedrockErrorKind::Validation, message)
    }

    /// Bedrock's 403 for a model that is not enabled (or does not exist) in the region.
    pub fn access_denied() -> Self {
        Self::new(
            BedrockErrorKind::AccessDenied,
            "You don't have access to the model with the specified model ID.",
        )
    }

    /// Bedrock's 400 for an on-demand call to a model that only inference profiles may call.
    pub fn on_demand_not_supported(model_id: &str) -> Self {
        Self::validation(format!(
            "Invocation of model ID {model_id} with on-demand throughput isn't supported. \
             Retry your request with the ID or ARN of an inference profile that contains this model."
        ))
    }

    /// The HTTP status of this error.
    pub fn status(&self) -> StatusCode {
        self.kind.status()
    }
}

impl IntoResponse for BedrockError {
    fn into_response(self) -> Response {
        let body = axum::Json(ErrorBody {
            message: self.message,
        });
        let mut response = (self.kind.status(), body).into_response();
        response.headers_mut().insert(
            ERROR_TYPE_HEADER,
            HeaderValue::from_static(self.kind.type_name()),
        );
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_match_bedrock() {
        let cases = [
            (BedrockErrorKind::Throttling, 429),
            (BedrockErrorKind::ModelNotReady, 429),
            (BedrockErrorKind::ServiceUnavailable, 503),
            (BedrockErrorKind::InternalServer, 500),
            (BedrockErrorKind::ModelTimeout, 408),
            (BedrockErrorKind::Validation, 400),
            (BedrockErrorKind::AccessDenied, 403),
            (BedrockErrorKind::ResourceNotFound, 404),
            (BedrockErrorKind::ModelError, 424),
        ];
        for (kind, status) in cases {
            assert_eq!(kind.status().as_u16(), status, "{kind:?}");
            assert!(kind.type_name().ends_with("Exception"));
        }
    }

    #[test]
    fn the_response_names_the_type_in_a_header_and_has_no_retry_after() {
        let response = BedrockError::access_denied().into_response();
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        assert_eq!(
            response.headers().get(ERROR_TYPE_HEADER).unwrap(),
            "AccessDeniedException"
        );
        assert!(response.headers().get("retry-after").is_none());
    }
}
