//! `GET /healthz`: answers while the process can serve requests; touches no backend, so a
//! slow store does not make load balancers drop the API. Open in every auth mode.

use axum::Json;
use serde_json::{Value, json};

/// 200 `{"status": "ok"}`.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "meta",
    responses((status = 200, description = "The process is serving",
        body = Object, example = json!({"status": "ok"})))
)]
pub async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}
