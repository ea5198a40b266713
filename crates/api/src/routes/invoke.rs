//! `POST /invoke`: validate a request, record it as a queued job and send its queue message
//! (see [`crate::submit`] for the order of the writes and what happens when the queue fails).

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bedrock_lb_core::{InvokeRequest, JobStatus};
use serde_json::json;

use crate::ApiState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::JsonBody;
use crate::idempotency;
use crate::openapi::{ErrorBody, InvokeAccepted, InvokeRequestSchema};
use crate::submit::{Submission, submit};

/// Accepts one job.
#[utoipa::path(
    post,
    path = "/invoke",
    tag = "jobs",
    request_body = InvokeRequestSchema,
    params(("Idempotency-Key" = Option<String>, Header, pattern = r"^[!-~]{1,255}$",
        description = "1-255 visible ASCII characters; a repeat within the key's lifetime answers the same job and queues nothing new")),
    responses(
        (status = 202, description = "The job is queued", body = InvokeAccepted,
            headers(("Location" = String, description = "/jobs/{job_id}")),
            links(
                ("GetJob" = (operation_id = "get_job",
                    parameters(("id" = "$response.body#/job_id")),
                    description = "Read the job")),
                ("CancelJob" = (operation_id = "cancel_job",
                    parameters(("id" = "$response.body#/job_id")),
                    description = "Cancel the job")),
            )),
        (status = 400, description = "Invalid JSON or request", body = ErrorBody),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
        (status = 422, description = "Idempotency-Key reused for another request", body = ErrorBody),
        (status = 503, description = "Store or queue unavailable; the job, if recorded, is failed `enqueue_failed`", body = ErrorBody),
    ),
    security((), ("sigv4" = []), ("api_key" = []))
)]
pub async fn invoke(
    State(state): State<ApiState>,
    caller: Caller,
    headers: HeaderMap,
    JsonBody(body): JsonBody<InvokeRequest>,
) -> Result<Response, ApiError> {
    let key = idempotency::key_from_headers(&headers)?;
    let idempotency = match key {
        Some(key) => Some((
            idempotency::scoped_key(caller.owner(), &key),
            idempotency::request_hash("POST /invoke", &body)?,
        )),
        None => None,
    };
    let request = body.validate(&state.catalog)?;
    let model = request.model.clone();
    let submitted = submit(
        &state,
        Submission {
            owner: caller.0,
            batch_id: None,
            requests: vec![request],
            idempotency,
        },
    )
    .await?;
    let id = submitted
        .job_ids
        .first()
        .cloned()
        .ok_or_else(|| ApiError::Internal("a submission of one request gave no id".into()))?;
    tracing::Span::current().record("job_id", id.as_str());
    if let Some((id, closed)) = submitted.not_queued.first() {
        return Err(if *closed {
            ApiError::EnqueueFailed(id.clone())
        } else {
            ApiError::Unavailable("the queue is unavailable; retry later".into())
        });
    }
    tracing::info!(job_id = %id, model = %model, replayed = submitted.replayed, "job queued");
    let location = format!("/jobs/{id}");
    let body = json!({"job_id": id.as_str(), "status": JobStatus::Queued});
    Ok((
        StatusCode::ACCEPTED,
        [(header::LOCATION, location)],
        Json(body),
    )
        .into_response())
}
