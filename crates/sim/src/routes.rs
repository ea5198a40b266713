//! The HTTP surface: Bedrock Runtime's paths, mapped onto [`Simulator`] calls.
//!
//! Handlers only translate: they find the region and the model id, parse the body, call the
//! simulator and write its answer (or its [`BedrockError`]) in Bedrock's shape. Every call logs
//! one debug line with the region, model id, status and token counts, never any text.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::post;

use crate::error::{BedrockError, BedrockErrorKind};
use crate::region::region_from_headers;
use crate::simulator::Simulator;
use crate::wire::ConverseRequest;

/// The header the SDK reads the request id from.
const REQUEST_ID_HEADER: &str = "x-amzn-requestid";

/// All routes, sharing `sim`.
pub(crate) fn routes(sim: Arc<Simulator>) -> Router {
    // The SDK percent-encodes the model id as one path segment (`/` in an ARN becomes %2F),
    // and axum matches the still-encoded path, so `{model_id}` takes a whole ARN and `Path`
    // decodes it.
    Router::new()
        .route("/model/{model_id}/converse", post(converse))
        .fallback(unknown_operation)
        .method_not_allowed_fallback(unknown_operation)
        .with_state(sim)
}

/// `POST /model/{modelId}/converse`.
async fn converse(
    State(sim): State<Arc<Simulator>>,
    model_id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let region = region_from_headers(&headers);
    let model_id = model_id
        .map(|Path(id)| id)
        .map_err(|e| BedrockError::validation(format!("The model ID in the path is invalid: {e}")));
    let result = match (&region, &model_id) {
        (Ok(region), Ok(model_id)) => match parse_body(&body) {
            Ok(request) => sim.converse(region, model_id, &request).await,
            Err(err) => Err(err),
        },
        (Err(err), _) | (_, Err(err)) => Err(err.clone()),
    };
    let region = region.as_deref().unwrap_or("-");
    let model_id = model_id.as_deref().unwrap_or("-");
    let mut response = match result {
        Ok(output) => {
            tracing::debug!(
                region,
                model_id,
                status = 200,
                input_tokens = output.usage.input_tokens,
                output_tokens = output.usage.output_tokens,
                stop_reason = output.stop_reason.as_str(),
                "converse"
            );
            axum::Json(output).into_response()
        }
        Err(err) => {
            tracing::debug!(
                region,
                model_id,
                status = err.status().as_u16(),
                error = err.kind.type_name(),
                "converse"
            );
            err.into_response()
        }
    };
    if let Ok(id) = HeaderValue::from_str(&sim.next_request_id()) {
        response.headers_mut().insert(REQUEST_ID_HEADER, id);
    }
    response
}

/// A Converse body, or a ValidationException saying why it is not one.
fn parse_body(body: &[u8]) -> Result<ConverseRequest, BedrockError> {
    serde_json::from_slice(body).map_err(|e| {
        BedrockError::validation(format!(
            "The request body is not a valid Converse request: {e}"
        ))
    })
}

/// Any path or method the simulator does not serve.
async fn unknown_operation(method: Method, uri: Uri) -> Response {
    tracing::debug!(%method, path = uri.path(), status = 404, "unknown operation");
    BedrockError::new(
        BedrockErrorKind::UnknownOperation,
        format!("The simulator has no operation at {method} {}.", uri.path()),
    )
    .into_response()
}
