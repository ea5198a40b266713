//! Reading a batch: `GET /batches/{id}` (counts by status and a page of job ids) and
//! `GET /batches/{id}/results` (the finished jobs as JSON Lines, streamed page by page from
//! the store, so a large batch is never held in memory whole).
//!
//! A batch is its jobs: a batch with no job visible to the caller answers 404.

use std::collections::BTreeMap;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use bedrock_lb_core::{Job, JobId, JobStatus};
use bytes::Bytes;
use futures_util::stream;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::ApiState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::openapi::ErrorBody;
use crate::view::{ErrorView, ResultView};

/// Jobs read from the store per page.
const PAGE: usize = 200;
/// Default and largest `limit` of `GET /batches/{id}`.
const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 1000;

/// The query of `GET /batches/{id}`.
#[derive(Debug, Deserialize)]
pub struct BatchQuery {
    limit: Option<String>,
    after: Option<String>,
}

/// `GET /batches/{id}`'s answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BatchStatusView {
    pub batch_id: String,
    /// Jobs in the batch.
    pub total: usize,
    /// Jobs per status; every status is present.
    pub counts: BTreeMap<String, usize>,
    /// Up to `limit` job ids after `after`, in submission order.
    pub job_ids: Vec<String>,
    /// Pass as `after` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

/// Counts by status and a page of job ids.
#[utoipa::path(
    get,
    path = "/batches/{id}",
    tag = "batches",
    params(
        ("id" = String, Path, pattern = r"^[A-Za-z0-9._:-]{1,128}$", description = "The batch id"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 1000, description = "Job ids per page (default 100)"),
        ("after" = Option<String>, Query, pattern = r"^[A-Za-z0-9._:-]{1,128}$", description = "The `next` of the previous page"),
    ),
    responses(
        (status = 200, description = "The batch", body = BatchStatusView),
        (status = 400, description = "Malformed id, limit or after", body = ErrorBody),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 404, description = "No such batch (or another caller's)", body = ErrorBody),
        (status = 503, description = "Store unavailable", body = ErrorBody),
    ),
    security((), ("sigv4" = []), ("api_key" = []))
)]
pub async fn get_batch(
    State(state): State<ApiState>,
    caller: Caller,
    Path(raw_id): Path<String>,
    query: Result<Query<BatchQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let batch_id = parse_batch_id(&raw_id)?;
    let Query(query) = query.map_err(|e| ApiError::InvalidRequest(e.body_text()))?;
    let limit = match query.limit.as_deref() {
        None => DEFAULT_LIMIT,
        Some(raw) => raw
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .ok_or_else(|| ApiError::InvalidRequest(format!("`limit` must be 1 to {MAX_LIMIT}")))?,
    };
    let after = query
        .after
        .as_deref()
        .map(|raw| {
            raw.parse::<JobId>()
                .map_err(|e| ApiError::InvalidRequest(format!("invalid `after`: {e}")))
        })
        .transpose()?;
    let mut counts: BTreeMap<String, usize> = JobStatus::ALL
        .iter()
        .map(|s| (s.as_str().to_owned(), 0))
        .collect();
    let mut total = 0;
    let mut job_ids = Vec::new();
    let mut more = false;
    let mut cursor: Option<JobId> = None;
    loop {
        let page = state
            .store
            .list_batch(&batch_id, cursor.as_ref(), PAGE)
            .await?;
        let Some(last) = page.last() else { break };
        cursor = Some(last.job_id.clone());
        for job in page.iter().filter(|j| j.is_visible_to(caller.owner())) {
            total += 1;
            *counts.entry(job.status.as_str().to_owned()).or_default() += 1;
            if after.as_ref().is_none_or(|a| job.job_id > *a) {
                if job_ids.len() < limit {
                    job_ids.push(job.job_id.to_string());
                } else {
                    more = true;
                }
            }
        }
    }
    if total == 0 {
        return Err(batch_not_found(&batch_id));
    }
    let next = if more { job_ids.last().cloned() } else { None };
    Ok(Json(BatchStatusView {
        batch_id,
        total,
        counts,
        job_ids,
        next,
    })
    .into_response())
}

/// The finished jobs of the batch, as JSON Lines.
#[utoipa::path(
    get,
    path = "/batches/{id}/results",
    tag = "batches",
    params(("id" = String, Path, pattern = r"^[A-Za-z0-9._:-]{1,128}$", description = "The batch id")),
    responses(
        (status = 200, description = "One JSON object per line per finished job, in submission order: \
            `{\"index\", \"job_id\", \"status\", \"result\"}` or `{..., \"error\"}`",
            content_type = "application/x-ndjson", body = String),
        (status = 400, description = "Malformed id", body = ErrorBody),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 404, description = "No such batch (or another caller's)", body = ErrorBody),
        (status = 503, description = "Store unavailable", body = ErrorBody),
    ),
    security((), ("sigv4" = []), ("api_key" = []))
)]
pub async fn batch_results(
    State(state): State<ApiState>,
    caller: Caller,
    Path(raw_id): Path<String>,
) -> Result<Response, ApiError> {
    let batch_id = parse_batch_id(&raw_id)?;
    let owner = caller.0;
    // The first page is read before answering, so that an unknown batch is a 404, not an
    // empty 200.
    let first = state.store.list_batch(&batch_id, None, PAGE).await?;
    if !first.iter().any(|j| j.is_visible_to(owner.as_deref())) {
        return Err(batch_not_found(&batch_id));
    }
    let pager = Pager {
        state,
        batch_id,
        owner,
        page: Some(first),
        index: 0,
    };
    let lines = stream::unfold(pager, |mut pager| async move {
        let chunk = pager.next_chunk().await?;
        Some((chunk, pager))
    });
    Ok((
        [(header::CONTENT_TYPE, "application/x-ndjson")],
        Body::from_stream(lines),
    )
        .into_response())
}

/// Walks a batch's jobs page by page, turning the finished ones into lines.
struct Pager {
    state: ApiState,
    batch_id: String,
    owner: Option<String>,
    /// The page to render next; `None` once the batch is exhausted.
    page: Option<Vec<Job>>,
    /// Position in the batch of the next job.
    index: usize,
}

impl Pager {
    /// The lines of the next page (possibly empty), or `None` at the end.
    async fn next_chunk(&mut self) -> Option<Result<Bytes, ApiError>> {
        let page = self.page.take()?;
        let last = page.last()?.job_id.clone();
        let mut out = String::new();
        for job in &page {
            let index = self.index;
            self.index += 1;
            if job.status.is_terminal() && job.is_visible_to(self.owner.as_deref()) {
                out.push_str(&result_line(index, job).to_string());
                out.push('\n');
            }
        }
        if page.len() == PAGE {
            match self
                .state
                .store
                .list_batch(&self.batch_id, Some(&last), PAGE)
                .await
            {
                Ok(next) if !next.is_empty() => self.page = Some(next),
                Ok(_) => {}
                Err(error) => {
                    // The answer has started: the stream ends with an error, so the client
                    // sees a broken response, not a short one.
                    tracing::warn!(batch_id = %self.batch_id, error = %error, "results stream broken");
                    return Some(Err(error.into()));
                }
            }
        }
        Some(Ok(Bytes::from(out)))
    }
}

fn result_line(index: usize, job: &Job) -> Value {
    let mut line = Map::new();
    line.insert("index".into(), index.into());
    line.insert("job_id".into(), job.job_id.as_str().into());
    line.insert("status".into(), job.status.as_str().into());
    if let Some(result) = &job.result {
        line.insert(
            "result".into(),
            serde_json::to_value(ResultView::from(result)).unwrap_or(Value::Null),
        );
    }
    if let Some(error) = &job.error {
        line.insert(
            "error".into(),
            serde_json::to_value(ErrorView::from(error)).unwrap_or(Value::Null),
        );
    }
    Value::Object(line)
}

/// Batch ids have the syntax of job ids.
fn parse_batch_id(raw: &str) -> Result<String, ApiError> {
    raw.parse::<JobId>()
        .map(String::from)
        .map_err(|e| ApiError::InvalidRequest(format!("invalid batch id: {e}")))
}

fn batch_not_found(batch_id: &str) -> ApiError {
    ApiError::NotFound(format!("batch `{batch_id}` not found"))
}
