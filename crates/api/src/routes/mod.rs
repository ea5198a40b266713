//! The router: every route, the JSON fallbacks for unknown routes and wrong methods, the body
//! limit and the request span, with the state applied; and the OpenAPI document built from
//! the same route list.
//!
//! Every route is added through utoipa-axum's [`OpenApiRouter`] with `routes!`, which registers
//! the handler with axum and its `#[utoipa::path]` in the document in one step, so a route
//! cannot be served without being documented. The method-not-allowed fallback is set after the
//! routes, because axum applies it only to routes that exist when it is set.

use std::convert::Infallible;
use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::http::{Method, Uri, header};
use axum::middleware;
use axum::response::IntoResponse;
use axum::{Extension, Router};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::ApiState;
use crate::error::ApiError;
use crate::extract::BodyLimit;
use crate::openapi::{ApiDoc, served_document};
use crate::trace::trace_request;

pub mod admin;
pub mod batch;
pub mod batches;
pub mod health;
pub mod invoke;
pub mod jobs;
pub mod regions;

/// Every route, each with its documentation; `POST /batch` may have a body of up to
/// `max_batch_body_bytes` (the others are held to the router-wide limit).
fn api_routes(max_batch_body_bytes: usize) -> OpenApiRouter<ApiState> {
    let (schemas, paths, batch_route) = routes!(batch::submit_batch);
    let batch_route = batch_route
        .layer::<_, Infallible>(DefaultBodyLimit::max(max_batch_body_bytes))
        .layer(Extension(BodyLimit(max_batch_body_bytes)));
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(invoke::invoke))
        .routes((schemas, paths, batch_route))
        .routes(routes!(jobs::get_job, jobs::cancel_job))
        .routes(routes!(batches::get_batch))
        .routes(routes!(batches::batch_results))
        .routes(routes!(regions::get_regions))
        .routes(routes!(admin::get_quotas))
        .routes(routes!(admin::patch_bucket, admin::put_bucket))
        .routes(routes!(admin::put_route, admin::delete_route))
        .routes(routes!(health::healthz))
        .routes(routes!(openapi_json))
}

/// The OpenAPI document of every route the router serves, before the configuration's models
/// and limits are written in (see [`served_document`]).
pub fn openapi_document() -> utoipa::openapi::OpenApi {
    api_routes(crate::MAX_BATCH_BODY_BYTES).split_for_parts().1
}

/// The text of the document a router serves, built once per router.
#[derive(Debug, Clone)]
struct ServedDocument(Arc<str>);

impl ServedDocument {
    fn new(state: &ApiState) -> Self {
        let text = served_document(openapi_document(), &state.catalog, &state.limits)
            .to_json()
            .unwrap_or_else(|e| format!("{{\"error\": \"openapi document: {e}\"}}"));
        Self(text.into())
    }
}

/// The API's OpenAPI 3.1 document, generated from the code. Open in every auth mode.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "meta",
    responses((status = 200, description = "This document", body = Object))
)]
async fn openapi_json(Extension(document): Extension<ServedDocument>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        document.0.to_string(),
    )
}

/// The API's router, ready to serve with `axum::serve` or `lambda_http::run`.
pub fn router(state: ApiState) -> Router {
    let max_body_bytes = state.limits.max_body_bytes;
    let max_batch_body_bytes = state.limits.max_batch_body_bytes();
    let (routes, _) = api_routes(max_batch_body_bytes).split_for_parts();
    routes
        .method_not_allowed_fallback(method_not_allowed)
        .fallback(not_found)
        .layer(Extension(ServedDocument::new(&state)))
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
