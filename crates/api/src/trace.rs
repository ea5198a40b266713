//! One tracing span per request, carrying the method, the matched route and, once a handler
//! knows it, the job id; and one event per request with the answered status.
//!
//! Handlers record the job id with `Span::current().record("job_id", ..)`. Request and response
//! bodies are never logged: they hold prompts and completions.

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;
use tracing::field::Empty;

/// The route recorded for requests that match no route.
const UNMATCHED: &str = "<unmatched>";

/// Middleware (for `axum::middleware::from_fn`) that runs the request inside its span and
/// logs the status it was answered with.
pub async fn trace_request(req: Request, next: Next) -> Response {
    // The matched route, not the raw path: low-cardinality, and free of client-chosen text.
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or(UNMATCHED, MatchedPath::as_str)
        .to_owned();
    let span = tracing::info_span!(
        "request",
        method = %req.method(),
        route = %route,
        job_id = Empty,
    );
    async move {
        let response = next.run(req).await;
        let status = response.status().as_u16();
        if response.status().is_server_error() {
            tracing::warn!(status, "request failed");
        } else {
            tracing::info!(status, "request answered");
        }
        response
    }
    .instrument(span)
    .await
}
