//! `POST /batch`: many requests at once, all validated before anything is written; then
//! recorded and queued in the largest batches the store and the queue allow (see
//! [`crate::submit`]).

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use bedrock_lb_core::{InvokeRequest, JobId, JobRequest, ModelCatalog};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::ApiState;
use crate::auth::Caller;
use crate::error::{ApiError, BatchErrorDetail};
use crate::extract::JsonBody;
use crate::idempotency;
use crate::openapi::{BatchEntrySchema, ErrorBody, InvokeBody};
use crate::submit::{Submission, submit};

/// The body of `POST /batch`. Requests stay raw JSON until validation, so that each bad one
/// is reported with its index.
#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchBody {
    /// Up to `api.max_batch_requests` requests: each a `POST /invoke` body, or a bare string
    /// taken as the prompt.
    #[schema(value_type = Vec<BatchEntrySchema>, min_items = 1)]
    pub requests: Vec<Value>,
    /// Fields every request gets unless it sets them itself (`prompt` and `messages` only for
    /// a request that has neither).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<InvokeBody>)]
    pub defaults: Option<Value>,
}

/// 202 answer of `POST /batch`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BatchAccepted {
    pub batch_id: String,
    /// One id per request, in request order.
    pub job_ids: Vec<String>,
    pub count: usize,
}

/// Accepts a batch of jobs.
#[utoipa::path(
    post,
    path = "/batch",
    tag = "batches",
    request_body = BatchBody,
    params(("Idempotency-Key" = Option<String>, Header, pattern = r"^[!-~]{1,255}$",
        description = "1-255 visible ASCII characters; a repeat within the key's lifetime answers the same batch and queues nothing new")),
    responses(
        (status = 202, description = "Every job is queued", body = BatchAccepted,
            links(
                ("GetBatch" = (operation_id = "get_batch",
                    parameters(("id" = "$response.body#/batch_id")),
                    description = "Counts by status and the job ids")),
                ("GetBatchResults" = (operation_id = "batch_results",
                    parameters(("id" = "$response.body#/batch_id")),
                    description = "The finished jobs' results")),
                ("GetFirstJob" = (operation_id = "get_job",
                    parameters(("id" = "$response.body#/job_ids/0")),
                    description = "Read the batch's first job")),
            )),
        (status = 400, description = "Invalid JSON, or invalid requests (each with its index)", body = ErrorBody),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
        (status = 422, description = "Idempotency-Key reused for another request", body = ErrorBody),
        (status = 503, description = "Store or queue unavailable; says which jobs were queued and which not", body = ErrorBody),
    ),
    security((), ("sigv4" = []), ("api_key" = []))
)]
pub async fn submit_batch(
    State(state): State<ApiState>,
    caller: Caller,
    headers: HeaderMap,
    JsonBody(body): JsonBody<BatchBody>,
) -> Result<Response, ApiError> {
    let key = idempotency::key_from_headers(&headers)?;
    let max = state.limits.max_batch_requests;
    if body.requests.is_empty() || body.requests.len() > max {
        return Err(ApiError::InvalidRequest(format!(
            "`requests` must hold 1 to {max} requests, got {}",
            body.requests.len()
        )));
    }
    let idempotency = match key {
        Some(key) => Some((
            idempotency::scoped_key(caller.owner(), &key),
            idempotency::request_hash("POST /batch", &body)?,
        )),
        None => None,
    };
    let requests = validate_all(&body, &state.catalog)?;
    let count = requests.len();
    let submitted = submit(
        &state,
        Submission {
            owner: caller.0,
            batch_id: Some(JobId::generate().to_string()),
            requests,
            idempotency,
        },
    )
    .await?;
    let batch_id = submitted.batch_id.unwrap_or_default();
    if !submitted.not_queued.is_empty() {
        let not_queued: Vec<JobId> = submitted
            .not_queued
            .iter()
            .map(|(id, _)| id.clone())
            .collect();
        let queued = submitted
            .job_ids
            .iter()
            .filter(|id| !not_queued.contains(id))
            .cloned()
            .collect();
        return Err(ApiError::BatchNotQueued {
            batch_id,
            queued,
            not_queued,
        });
    }
    tracing::info!(
        batch_id = %batch_id,
        jobs = count,
        replayed = submitted.replayed,
        "batch queued"
    );
    let job_ids: Vec<&str> = submitted.job_ids.iter().map(JobId::as_str).collect();
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"batch_id": batch_id, "job_ids": job_ids, "count": count})),
    )
        .into_response())
}

/// Validates every request (with the defaults applied); any invalid one makes the whole
/// batch a 400 listing each with its index.
fn validate_all(body: &BatchBody, catalog: &ModelCatalog) -> Result<Vec<JobRequest>, ApiError> {
    let defaults: InvokeRequest = match &body.defaults {
        None => InvokeRequest::default(),
        Some(value) => serde_json::from_value(value.clone())
            .map_err(|e| ApiError::InvalidRequest(format!("invalid `defaults`: {e}")))?,
    };
    let mut valid = Vec::with_capacity(body.requests.len());
    let mut details = Vec::new();
    for (index, entry) in body.requests.iter().enumerate() {
        let parsed = match entry {
            Value::String(prompt) => Ok(InvokeRequest::from_prompt(prompt.clone())),
            Value::Object(_) => {
                serde_json::from_value::<InvokeRequest>(entry.clone()).map_err(|e| {
                    BatchErrorDetail {
                        index,
                        field: "request".into(),
                        message: format!("invalid request: {e}"),
                    }
                })
            }
            _ => Err(BatchErrorDetail {
                index,
                field: "request".into(),
                message: "a request must be a JSON object or a prompt string".into(),
            }),
        };
        let result = parsed.and_then(|request| {
            with_defaults(request, &defaults)
                .validate(catalog)
                .map_err(|e| BatchErrorDetail {
                    index,
                    field: e.field,
                    message: e.message,
                })
        });
        match result {
            Ok(request) => valid.push(request),
            Err(detail) => details.push(detail),
        }
    }
    if details.is_empty() {
        Ok(valid)
    } else {
        Err(ApiError::BatchInvalid(details))
    }
}

/// `request` with every field it leaves out taken from `defaults`; the prompt or conversation
/// only when it has neither.
fn with_defaults(request: InvokeRequest, defaults: &InvokeRequest) -> InvokeRequest {
    let d = defaults.clone();
    let (prompt, messages) = if request.prompt.is_none() && request.messages.is_none() {
        (d.prompt, d.messages)
    } else {
        (request.prompt, request.messages)
    };
    InvokeRequest {
        prompt,
        messages,
        system: request.system.or(d.system),
        model: request.model.or(d.model),
        max_tokens: request.max_tokens.or(d.max_tokens),
        temperature: request.temperature.or(d.temperature),
        top_p: request.top_p.or(d.top_p),
        stop_sequences: request.stop_sequences.or(d.stop_sequences),
        metadata: request.metadata.or(d.metadata),
        deadline: request.deadline.or(d.deadline),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_fill_only_what_a_request_leaves_out() {
        let defaults = InvokeRequest {
            model: Some("large".into()),
            max_tokens: Some(10),
            prompt: Some("default prompt".into()),
            ..InvokeRequest::default()
        };
        let mut own = InvokeRequest::from_prompt("mine");
        own.max_tokens = Some(20);
        let merged = with_defaults(own, &defaults);
        assert_eq!(merged.prompt.as_deref(), Some("mine"));
        assert_eq!(merged.max_tokens, Some(20));
        assert_eq!(merged.model.as_deref(), Some("large"));
        let empty = with_defaults(InvokeRequest::default(), &defaults);
        assert_eq!(empty.prompt.as_deref(), Some("default prompt"));
    }
}
