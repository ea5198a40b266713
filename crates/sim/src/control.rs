//! The control API under `/_sim/` and the [`Simulator`] methods behind it: ground-truth
//! statistics, reset, and faults and quotas changed at runtime, so a test can take a region down mid-run and bring it back.
//!
//! Bodies are JSON; a refused change answers `{"message": ...}` with 400 (bad body) or 404 (no
//! such bucket). Model ids in paths are percent-encoded like Bedrock's (ARNs included).

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};

use crate::bucket::Bucket;
use crate::fault::Fault;
use crate::fault::Faults;
use crate::quota::QuotaConfig;
use crate::simulator::{ControlError, Simulator, lock};
use crate::wire::ErrorBody;

/// The runtime changes behind the routes, also usable in-process.
impl Simulator {
    /// The faults in force (ModelNotReady counts as they are now).
    pub fn faults(&self) -> Faults {
        lock(&self.faults).clone()
    }

    /// Sets (`Some`) or clears (`None`) the fault of a whole region.
    pub fn set_region_fault(&self, region: &str, fault: Option<Fault>) -> Result<(), ControlError> {
        let mut faults = lock(&self.faults);
        match fault {
            Some(fault) => {
                fault.validate().map_err(ControlError::Invalid)?;
                faults.regions.insert(region.to_owned(), fault);
            }
            None => {
                faults.regions.remove(region);
            }
        }
        Ok(())
    }

    /// Sets (`Some`) or clears (`None`) the fault of one bucket; `model_id` may be an ARN.
    pub fn set_bucket_fault(
        &self,
        region: &str,
        model_id: &str,
        fault: Option<Fault>,
    ) -> Result<(), ControlError> {
        let key = self.bucket(region, model_id)?.model_key.clone();
        let mut faults = lock(&self.faults);
        match fault {
            Some(fault) => {
                fault.validate().map_err(ControlError::Invalid)?;
                faults
                    .buckets
                    .entry(region.to_owned())
                    .or_default()
                    .insert(key, fault);
            }
            None => {
                if let Some(models) = faults.buckets.get_mut(region) {
                    models.remove(&key);
                    if models.is_empty() {
                        faults.buckets.remove(region);
                    }
                }
            }
        }
        Ok(())
    }

    /// Changes the quota of one bucket at runtime; usage so far stays counted.
    pub fn set_quota(
        &self,
        region: &str,
        model_id: &str,
        quota: QuotaConfig,
    ) -> Result<QuotaConfig, ControlError> {
        let bucket = self.bucket(region, model_id)?;
        bucket.set_quota(quota);
        Ok(bucket.quota())
    }

    fn bucket(&self, region: &str, model_id: &str) -> Result<&Bucket, ControlError> {
        self.config()
            .model_key(region, model_id)
            .and_then(|(key, _)| self.buckets.get(&(region.to_owned(), key.to_owned())))
            .ok_or_else(|| ControlError::UnknownBucket {
                region: region.to_owned(),
                model_id: model_id.to_owned(),
            })
    }
}

/// The `/_sim/` routes.
pub(crate) fn routes() -> Router<Arc<Simulator>> {
    Router::new()
        .route("/_sim/stats", get(stats))
        .route("/_sim/reset", post(reset))
        .route("/_sim/faults", get(faults))
        .route(
            "/_sim/faults/{region}",
            put(put_region_fault).delete(delete_region_fault),
        )
        .route(
            "/_sim/faults/{region}/{model_id}",
            put(put_bucket_fault).delete(delete_bucket_fault),
        )
        .route("/_sim/quotas/{region}/{model_id}", put(put_quota))
}

fn refused(status: StatusCode, message: String) -> Response {
    (status, Json(ErrorBody { message })).into_response()
}

fn control_error(err: ControlError) -> Response {
    let status = match err {
        ControlError::UnknownBucket { .. } => StatusCode::NOT_FOUND,
        ControlError::Invalid(_) => StatusCode::BAD_REQUEST,
    };
    refused(status, err.to_string())
}

fn body<T>(body: Result<Json<T>, JsonRejection>) -> Result<T, String> {
    body.map(|Json(t)| t).map_err(|e| e.body_text())
}

/// `GET /_sim/stats`.
async fn stats(State(sim): State<Arc<Simulator>>) -> Response {
    Json(sim.stats()).into_response()
}

/// `POST /_sim/reset`.
async fn reset(State(sim): State<Arc<Simulator>>) -> StatusCode {
    sim.reset();
    tracing::info!("bedrock-sim counters reset");
    StatusCode::NO_CONTENT
}

/// `GET /_sim/faults`.
async fn faults(State(sim): State<Arc<Simulator>>) -> Response {
    Json(sim.faults()).into_response()
}

/// `PUT /_sim/faults/{region}`.
async fn put_region_fault(
    State(sim): State<Arc<Simulator>>,
    Path(region): Path<String>,
    fault: Result<Json<Fault>, JsonRejection>,
) -> Response {
    let fault = match body(fault) {
        Ok(fault) => fault,
        Err(message) => return refused(StatusCode::BAD_REQUEST, message),
    };
    match sim.set_region_fault(&region, Some(fault.clone())) {
        Ok(()) => {
            tracing::info!(region, "bedrock-sim region fault set");
            Json(fault).into_response()
        }
        Err(err) => control_error(err),
    }
}

/// `DELETE /_sim/faults/{region}`.
async fn delete_region_fault(
    State(sim): State<Arc<Simulator>>,
    Path(region): Path<String>,
) -> Response {
    match sim.set_region_fault(&region, None) {
        Ok(()) => {
            tracing::info!(region, "bedrock-sim region fault cleared");
            StatusCode::NO_CONTENT.into_response()
        }
        Err(err) => control_error(err),
    }
}

/// `PUT /_sim/faults/{region}/{model_id}`.
async fn put_bucket_fault(
    State(sim): State<Arc<Simulator>>,
    Path((region, model_id)): Path<(String, String)>,
    fault: Result<Json<Fault>, JsonRejection>,
) -> Response {
    let fault = match body(fault) {
        Ok(fault) => fault,
        Err(message) => return refused(StatusCode::BAD_REQUEST, message),
    };
    match sim.set_bucket_fault(&region, &model_id, Some(fault.clone())) {
        Ok(()) => {
            tracing::info!(region, model_id, "bedrock-sim bucket fault set");
            Json(fault).into_response()
        }
        Err(err) => control_error(err),
    }
}

/// `DELETE /_sim/faults/{region}/{model_id}`.
async fn delete_bucket_fault(
    State(sim): State<Arc<Simulator>>,
    Path((region, model_id)): Path<(String, String)>,
) -> Response {
    match sim.set_bucket_fault(&region, &model_id, None) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(err) => control_error(err),
    }
}

/// `PUT /_sim/quotas/{region}/{model_id}`.
async fn put_quota(
    State(sim): State<Arc<Simulator>>,
    Path((region, model_id)): Path<(String, String)>,
    quota: Result<Json<QuotaConfig>, JsonRejection>,
) -> Response {
    let quota = match body(quota) {
        Ok(quota) => quota,
        Err(message) => return refused(StatusCode::BAD_REQUEST, message),
    };
    match sim.set_quota(&region, &model_id, quota) {
        Ok(now) => {
            tracing::info!(region, model_id, tpm = ?now.tpm, rpm = ?now.rpm, tpd = ?now.tpd, "bedrock-sim quota set");
            Json(now).into_response()
        }
        Err(err) => control_error(err),
    }
}
