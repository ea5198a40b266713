//! The router: every route, the JSON fallbacks for unknown routes and wrong methods, the body
//! limit and the request span, with the state applied.
//!
//! Routes are added in [`router`] before the method-not-allowed fallback, which axum applies
//! only to routes that exist when it is set.

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{Method, Uri};
use axum::middleware;
use axum::routing::{get, post};

use crate::ApiState;
use crate::error::ApiError;
use crate::trace::trace_request;

pub mod health;
pub mod invoke;
pub mod jobs;

/// The API's router, ready to serve with `axum::serve` or `lambda_http::run`.
pub fn router(state: ApiState) -> Router {
    let max_body_bytes = state.limits.max_body_bytes;
    Router::new()
        .route("/invoke", post(invoke::invoke))
        .route("/jobs/{id}", get(jobs::get_job))
        .route("/healthz", get(health::healthz))
        .method_not_allowed_fallback(method_not_allowed)
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .layer(middleware::from_fn(trace_request))
        .with_state(state)
}

/// Unknown routes: 404 `not_found`.
async fn not_found(uri: Uri) -> ApiError {
    ApiError::NotFound(format!("no route for {}", uri.path()))
}

/// Known routes with another method: 405 `method_not_allowed` (axum adds the `Allow` header).
async fn method_not_allowed(method: Method) -> ApiError {
    ApiError::MethodNotAllowed(method.to_string())
}
