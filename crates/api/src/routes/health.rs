//! `GET /healthz`: answers while the process can serve requests; touches no backend, so a
//! slow store does not make load balancers drop the API.

use axum::Json;
use serde_json::{Value, json};

/// 200 `{"status": "ok"}`.
pub async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}
