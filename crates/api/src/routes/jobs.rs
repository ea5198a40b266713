//! `GET /jobs/{id}`: a job's status, attempts and outcome (see [`crate::view::JobView`]).

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};

use crate::ApiState;
use crate::error::ApiError;
use crate::extract::JobIdPath;
use crate::view::JobView;

/// 200 with the job, 404 for an unknown id, 400 for a malformed one.
pub async fn get_job(
    State(state): State<ApiState>,
    JobIdPath(id): JobIdPath,
) -> Result<Response, ApiError> {
    let job = state
        .store
        .get(&id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("job `{id}` not found")))?;
    Ok(Json(JobView::from(&job)).into_response())
}
