//! `GET /jobs/{id}` (with an optional long poll, `?wait=N`) and `DELETE /jobs/{id}` (cancel a
//! job that has not started).
//!
//! A job another caller submitted answers 404, exactly like a job that does not exist, so that
//! ids cannot be probed.

use std::time::Duration;

use axum::Json;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use bedrock_lb_core::{Job, JobError, JobId, JobStatus, StoreError};
use serde::Deserialize;

use crate::ApiState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::JobIdPath;
use crate::openapi::ErrorBody;
use crate::view::JobView;

/// Longest long poll, in seconds (API Gateway's HTTP API times out at 30 s).
pub const MAX_WAIT_SECS: u64 = 20;
/// First and longest pause between two reads of a job during a long poll.
const FIRST_POLL: Duration = Duration::from_millis(50);
const MAX_POLL: Duration = Duration::from_secs(1);

/// The query of `GET /jobs/{id}`, parsed by hand so that a bad value is a JSON 400.
#[derive(Debug, Deserialize)]
pub struct GetJobQuery {
    wait: Option<String>,
}

/// Reads a job; with `?wait=N`, waits up to min(N, 20) s for it to finish.
#[utoipa::path(
    get,
    path = "/jobs/{id}",
    tag = "jobs",
    params(
        ("id" = String, Path, pattern = r"^[A-Za-z0-9._:-]{1,128}$", description = "The job id"),
        ("wait" = Option<f64>, Query, minimum = 0,
            description = "Seconds to wait for the job to finish (capped at 20; fractions allowed); answers as soon as it is finished"),
    ),
    responses(
        (status = 200, description = "The job", body = JobView),
        (status = 400, description = "Malformed id or wait", body = ErrorBody),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 404, description = "No such job (or another caller's)", body = ErrorBody),
        (status = 503, description = "Store unavailable", body = ErrorBody),
    ),
    security((), ("sigv4" = []), ("api_key" = []))
)]
pub async fn get_job(
    State(state): State<ApiState>,
    caller: Caller,
    JobIdPath(id): JobIdPath,
    query: Result<Query<GetJobQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::InvalidRequest(e.body_text()))?;
    let wait = parse_wait(query.wait.as_deref())?;
    let mut job = visible_job(&state, &caller, &id).await?;
    if let Some(wait) = wait {
        let deadline = tokio::time::Instant::now() + wait;
        let mut pause = FIRST_POLL;
        while !job.status.is_terminal() {
            let now = tokio::time::Instant::now();
            if now >= deadline {
                break;
            }
            tokio::time::sleep(pause.min(deadline - now)).await;
            pause = (pause * 2).min(MAX_POLL);
            job = visible_job(&state, &caller, &id).await?;
        }
    }
    Ok(Json(JobView::from(&job)).into_response())
}

/// `wait` in seconds (fractions allowed), capped at [`MAX_WAIT_SECS`]; `None` when absent.
fn parse_wait(raw: Option<&str>) -> Result<Option<Duration>, ApiError> {
    let Some(raw) = raw else { return Ok(None) };
    let secs = raw
        .parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s >= 0.0)
        .ok_or_else(|| {
            ApiError::InvalidRequest(format!(
                "`wait` must be a number of seconds from 0 to {MAX_WAIT_SECS}"
            ))
        })?;
    Ok(Some(Duration::from_secs_f64(
        secs.min(MAX_WAIT_SECS as f64),
    )))
}

/// Cancels a job that has not started.
#[utoipa::path(
    delete,
    path = "/jobs/{id}",
    tag = "jobs",
    params(("id" = String, Path, pattern = r"^[A-Za-z0-9._:-]{1,128}$", description = "The job id")),
    responses(
        (status = 200, description = "The job, now cancelled", body = JobView),
        (status = 400, description = "Malformed id", body = ErrorBody),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 404, description = "No such job (or another caller's)", body = ErrorBody),
        (status = 409, description = "The job is running or finished", body = ErrorBody),
        (status = 503, description = "Store unavailable", body = ErrorBody),
    ),
    security((), ("sigv4" = []), ("api_key" = []))
)]
pub async fn cancel_job(
    State(state): State<ApiState>,
    caller: Caller,
    JobIdPath(id): JobIdPath,
) -> Result<Response, ApiError> {
    let job = visible_job(&state, &caller, &id).await?;
    if job.status != JobStatus::Queued {
        return Err(ApiError::Conflict(id, job.status));
    }
    let reason = JobError::new("cancelled", "the job was cancelled before it started");
    match state
        .store
        .close_queued(&id, JobStatus::Cancelled, &reason, state.clock.now())
        .await
    {
        Ok(()) => tracing::info!(job_id = %id, "job cancelled"),
        // A worker claimed it (or someone cancelled it) in between: say what it is now.
        Err(StoreError::Conflict(_)) => {
            let now = visible_job(&state, &caller, &id).await?;
            return Err(ApiError::Conflict(id, now.status));
        }
        Err(other) => return Err(other.into()),
    }
    let job = visible_job(&state, &caller, &id).await?;
    Ok(Json(JobView::from(&job)).into_response())
}

/// The job `id` if it exists and `caller` may see it; 404 otherwise.
async fn visible_job(state: &ApiState, caller: &Caller, id: &JobId) -> Result<Job, ApiError> {
    state
        .store
        .get(id)
        .await?
        .filter(|job| job.is_visible_to(caller.owner()))
        .ok_or_else(|| ApiError::NotFound(format!("job `{id}` not found")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wait_is_whole_seconds_capped_at_20() {
        assert_eq!(parse_wait(None).unwrap(), None);
        assert_eq!(parse_wait(Some("3")).unwrap(), Some(Duration::from_secs(3)));
        assert_eq!(
            parse_wait(Some("600")).unwrap(),
            Some(Duration::from_secs(20))
        );
        assert!(parse_wait(Some("-1")).is_err());
        assert!(parse_wait(Some("soon")).is_err());
        assert_eq!(
            parse_wait(Some("0.25")).unwrap(),
            Some(Duration::from_millis(250))
        );
        assert!(parse_wait(Some("NaN")).is_err());
        assert!(parse_wait(Some("inf")).is_err());
    }
}
