//! The API's one error type and its JSON form.
//!
//! Every failure a client can see — bad input, unknown routes, unavailable backends — is an
//! [`ApiError`], rendered as `{"error": {"type": "...", "message": "..."}}` with the matching
//! status. The `type` strings are part of the API contract; clients branch on them.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use bedrock_lb_core::{JobId, JobStatus, QueueError, StoreError, ValidationError};
use serde::Serialize;
use serde_json::{Map, Value};

/// One invalid request of a `POST /batch`: its position, the offending field and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct BatchErrorDetail {
    /// The request's position in `requests`, from 0.
    pub index: usize,
    /// The offending field, e.g. `max_tokens`.
    pub field: String,
    /// What is wrong and what is allowed.
    pub message: String,
}

/// An error answered to a client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// The body is not well-formed JSON; the message is serde_json's, with line and column.
    #[error("{0}")]
    InvalidJson(String),
    /// The body is JSON of the wrong shape (wrong types, unknown fields), or another part of
    /// the request (a path parameter) is malformed.
    #[error("{0}")]
    InvalidRequest(String),
    /// The request is well-formed but breaks a rule; names the offending field.
    #[error("{0}")]
    Validation(ValidationError),
    /// The body is larger than the configured limit (in bytes).
    #[error("the request body is larger than the limit of {0} bytes")]
    PayloadTooLarge(usize),
    /// A content type other than JSON was given.
    #[error("content type `{0}` is not supported; send `application/json`")]
    UnsupportedMediaType(String),
    /// No such route or no such resource.
    #[error("{0}")]
    NotFound(String),
    /// The route exists but not with this method.
    #[error("method {0} is not allowed on this route")]
    MethodNotAllowed(String),
    /// A backend (store or queue) failed or could not be reached; the client may retry.
    #[error("{0}")]
    Unavailable(String),
    /// The job was recorded but its queue message could not be sent, so the job was closed as
    /// failed (`enqueue_failed`); the client may submit again. Answered as 503 `unavailable`
    /// with the job's id, whose record says what happened.
    #[error("the queue is unavailable; job {0} was not queued and is marked failed; retry later")]
    EnqueueFailed(JobId),
    /// Some requests of a `POST /batch` are invalid; nothing was accepted.
    #[error("{} of the batch's requests are invalid; nothing was queued", .0.len())]
    BatchInvalid(Vec<BatchErrorDetail>),
    /// Some jobs of a batch could not be queued (they are marked failed `enqueue_failed`);
    /// the others were. Answered as 503 `unavailable` with both lists.
    #[error("the queue is unavailable; {} of the batch's jobs were not queued and are marked failed; submit those again", .not_queued.len())]
    BatchNotQueued {
        batch_id: String,
        queued: Vec<JobId>,
        not_queued: Vec<JobId>,
    },
    /// The caller is not authenticated (no or a wrong API key, no IAM identity).
    #[error("{0}")]
    Unauthorized(String),
    /// The job is not in a state that allows the operation (e.g. cancelling a running job).
    #[error("job `{0}` is {1} and can no longer be cancelled")]
    Conflict(JobId, JobStatus),
    /// An `Idempotency-Key` was reused with a different request.
    #[error(
        "the Idempotency-Key was already used for a different request; use a new key for a new request"
    )]
    IdempotencyKeyReused,
    /// A bug: something that should not happen did. The detail is logged, not answered.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    /// The HTTP status for this error.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::InvalidJson(_)
            | Self::InvalidRequest(_)
            | Self::Validation(_)
            | Self::BatchInvalid(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Conflict(..) => StatusCode::CONFLICT,
            Self::IdempotencyKeyReused => StatusCode::UNPROCESSABLE_ENTITY,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            Self::Unavailable(_) | Self::EnqueueFailed(_) | Self::BatchNotQueued { .. } => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable, low-cardinality `type` clients branch on.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::InvalidJson(_) => "invalid_json",
            Self::InvalidRequest(_) => "invalid_request",
            Self::Validation(_) | Self::BatchInvalid(_) => "validation_error",
            Self::Unauthorized(_) => "unauthorized",
            Self::Conflict(..) => "conflict",
            Self::IdempotencyKeyReused => "idempotency_key_reused",
            Self::PayloadTooLarge(_) => "payload_too_large",
            Self::UnsupportedMediaType(_) => "unsupported_media_type",
            Self::NotFound(_) => "not_found",
            Self::MethodNotAllowed(_) => "method_not_allowed",
            Self::Unavailable(_) | Self::EnqueueFailed(_) | Self::BatchNotQueued { .. } => {
                "unavailable"
            }
            Self::Internal(_) => "internal",
        }
    }

    /// The JSON body: `{"error": {"type", "message", "field"?, "job_id"?, "status"?,
    /// "details"?, "batch_id"?, "queued"?, "not_queued"?}}`.
    pub fn body(&self) -> Value {
        let mut error = Map::new();
        error.insert("type".into(), self.kind().into());
        let message = match self {
            // Details of bugs stay in the logs.
            Self::Internal(_) => "internal error".to_owned(),
            other => other.to_string(),
        };
        error.insert("message".into(), message.into());
        match self {
            Self::Validation(v) => {
                error.insert("field".into(), v.field.clone().into());
            }
            Self::EnqueueFailed(id) => {
                error.insert("job_id".into(), id.as_str().into());
            }
            Self::Conflict(id, status) => {
                error.insert("job_id".into(), id.as_str().into());
                error.insert("status".into(), status.as_str().into());
            }
            Self::BatchInvalid(details) => {
                error.insert(
                    "details".into(),
                    serde_json::to_value(details).unwrap_or(Value::Null),
                );
            }
            Self::BatchNotQueued {
                batch_id,
                queued,
                not_queued,
            } => {
                let ids = |ids: &[JobId]| -> Value {
                    ids.iter().map(|id| Value::from(id.as_str())).collect()
                };
                error.insert("batch_id".into(), batch_id.as_str().into());
                error.insert("queued".into(), ids(queued));
                error.insert("not_queued".into(), ids(not_queued));
            }
            _ => {}
        }
        let mut body = Map::new();
        body.insert("error".into(), Value::Object(error));
        Value::Object(body)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match &self {
            Self::Internal(detail) => tracing::error!(error = %detail, "internal error"),
            Self::Unavailable(detail) => tracing::warn!(error = %detail, "backend unavailable"),
            Self::EnqueueFailed(id) => tracing::warn!(job_id = %id, "job not queued"),
            Self::BatchNotQueued {
                batch_id,
                not_queued,
                ..
            } => tracing::warn!(
                batch_id = %batch_id,
                not_queued = not_queued.len(),
                "batch partly not queued"
            ),
            other => tracing::debug!(error_type = other.kind(), "request rejected"),
        }
        (self.status(), Json(self.body())).into_response()
    }
}

impl From<ValidationError> for ApiError {
    fn from(error: ValidationError) -> Self {
        Self::Validation(error)
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Unavailable(detail) => {
                tracing::warn!(error = %detail, "job store unavailable");
                Self::Unavailable("the job store is unavailable; retry later".into())
            }
            // A generated id that already exists, a conflict where none can occur, or a record
            // that cannot be read: all bugs, not the client's doing.
            other @ (StoreError::AlreadyExists(_)
            | StoreError::Conflict(_)
            | StoreError::Corrupt(_)) => Self::Internal(other.to_string()),
        }
    }
}

impl From<QueueError> for ApiError {
    fn from(error: QueueError) -> Self {
        tracing::warn!(error = %error, "queue unavailable");
        Self::Unavailable("the queue is unavailable; retry later".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_errors_name_the_field() {
        let err = ApiError::Validation(ValidationError {
            field: "max_tokens".into(),
            message: "too many".into(),
        });
        assert_eq!(err.status(), StatusCode::BAD_REQUEST);
        let body = err.body();
        assert_eq!(body["error"]["type"], "validation_error");
        assert_eq!(body["error"]["field"], "max_tokens");
        assert_eq!(body["error"]["message"], "too many");
    }

    #[test]
    fn internal_details_are_not_answered() {
        let err = ApiError::from(StoreError::Corrupt("bad row 7".into()));
        assert_eq!(err.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = err.body();
        assert_eq!(body["error"]["type"], "internal");
        assert!(!body.to_string().contains("bad row"));
    }

    #[test]
    fn backend_failures_are_retryable_503s() {
        let err = ApiError::from(StoreError::Unavailable("db locked".into()));
        assert_eq!(err.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(err.kind(), "unavailable");
        let err = ApiError::from(QueueError::Unavailable("down".into()));
        assert_eq!(err.status(), StatusCode::SERVICE_UNAVAILABLE);
    }
}
