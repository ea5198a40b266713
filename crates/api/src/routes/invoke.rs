//! `POST /invoke`: validate a request, record it as a queued job and send its queue message.
//!
//! The order is record first, then message: a worker that receives the message always finds
//! the record. If the message cannot be sent, the record is closed as `failed`
//! (`enqueue_failed`) and the client gets 503, so no job is ever left `queued` without a
//! message, and 202 is answered only for a job that is really on the queue.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use bedrock_lb_core::{InvokeRequest, Job, JobError, JobId, JobStatus, QueueError, message};
use serde_json::json;

use crate::ApiState;
use crate::error::ApiError;
use crate::extract::JsonBody;

/// 202 `{"job_id", "status": "queued"}` with `Location: /jobs/{id}`.
pub async fn invoke(
    State(state): State<ApiState>,
    JsonBody(body): JsonBody<InvokeRequest>,
) -> Result<Response, ApiError> {
    let request = body.validate(&state.catalog)?;
    let id = JobId::generate();
    tracing::Span::current().record("job_id", id.as_str());
    let message_body = message::encode(&id, &request);
    let model = request.model.clone();
    let job = Job::queued(id.clone(), request, state.clock.now());
    state.store.create(&job).await?;
    if let Err(error) = state.queue.send(message_body).await {
        return Err(if close_unqueued(&state, &id, &error).await {
            ApiError::EnqueueFailed(id)
        } else {
            ApiError::from(error)
        });
    }
    tracing::info!(job_id = %id, model = %model, "job queued");
    let location = format!("/jobs/{id}");
    let body = json!({"job_id": id.as_str(), "status": JobStatus::Queued});
    Ok((
        StatusCode::ACCEPTED,
        [(header::LOCATION, location)],
        Json(body),
    )
        .into_response())
}

/// Ends a job whose message could not be sent, so that it does not stay `queued` forever.
/// Returns whether the record now says `failed`.
async fn close_unqueued(state: &ApiState, id: &JobId, error: &QueueError) -> bool {
    let reason = JobError::new(
        "enqueue_failed",
        "the job could not be put on the queue; submit it again",
    );
    let closed = state
        .store
        .close_queued(id, JobStatus::Failed, &reason, state.clock.now())
        .await;
    match closed {
        Ok(()) => {
            tracing::warn!(job_id = %id, error = %error, "job not queued; marked failed");
            true
        }
        Err(store_error) => {
            tracing::error!(
                job_id = %id,
                error = %error,
                store_error = %store_error,
                "job not queued and could not be marked failed"
            );
            false
        }
    }
}
