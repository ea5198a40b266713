//! The HTTP surface: Bedrock Runtime's paths, mapped onto [`Simulator`] calls, plus the control
//! API under `/_sim/` ([`crate::control`]).
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
use crate::invoke::InvokeBody;
use crate::region::region_from_headers;
use crate::simulator::Simulator;
use crate::wire::ConverseRequest;

/// The header the SDK reads the request id from.
const REQUEST_ID_HEADER: &str = "x-amzn-requestid";
/// InvokeModel's usage and latency headers.
pub const INPUT_TOKENS_HEADER: &str = "x-amzn-bedrock-input-token-count";
pub const OUTPUT_TOKENS_HEADER: &str = "x-amzn-bedrock-output-token-count";
pub const LATENCY_HEADER: &str = "x-amzn-bedrock-invocation-latency";

/// All routes, sharing `sim`.
pub(crate) fn routes(sim: Arc<Simulator>) -> Router {
    // The SDK percent-encodes the model id as one path segment (`/` in an ARN becomes %2F),
    // and axum matches the still-encoded path, so `{model_id}` takes a whole ARN and `Path`
    // decodes it.
    Router::new()
        .route("/model/{model_id}/converse", post(converse))
        .route("/model/{model_id}/invoke", post(invoke))
        .merge(crate::control::routes())
        .fallback(unknown_operation)
        .method_not_allowed_fallback(unknown_operation)
        .with_state(sim)
}

/// The region and the model id of a call, or why they are missing.
fn target(
    headers: &HeaderMap,
    model_id: Result<Path<String>, PathRejection>,
) -> Result<(String, String), BedrockError> {
    let region = region_from_headers(headers)?;
    let model_id = model_id.map(|Path(id)| id).map_err(|e| {
        BedrockError::validation(format!("The model ID in the path is invalid: {e}"))
    })?;
    Ok((region, model_id))
}

/// Starts a call of `operation`: a new request id with the call's region and model id, or
/// the error response (carrying that request id) when they are missing.
fn start(
    sim: &Simulator,
    headers: &HeaderMap,
    model_id: Result<Path<String>, PathRejection>,
    operation: &'static str,
) -> Result<(String, String, String), Box<Response>> {
    let request_id = sim.next_request_id();
    match target(headers, model_id) {
        Ok((region, model_id)) => Ok((request_id, region, model_id)),
        Err(err) => Err(Box::new(error_response(
            err,
            "-",
            "-",
            operation,
            &request_id,
        ))),
    }
}

/// `POST /model/{modelId}/converse`.
async fn converse(
    State(sim): State<Arc<Simulator>>,
    model_id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (request_id, region, model_id) = match start(&sim, &headers, model_id, "converse") {
        Ok(started) => started,
        Err(response) => return *response,
    };
    let result = match parse_converse(&body) {
        Ok(request) => sim.converse(&region, &model_id, &request).await,
        Err(err) => Err(err),
    };
    match result {
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
            with_request_id(axum::Json(output).into_response(), &request_id)
        }
        Err(err) => error_response(err, &region, &model_id, "converse", &request_id),
    }
}

/// `POST /model/{modelId}/invoke`.
async fn invoke(
    State(sim): State<Arc<Simulator>>,
    model_id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (request_id, region, model_id) = match start(&sim, &headers, model_id, "invoke") {
        Ok(started) => started,
        Err(response) => return *response,
    };
    let parsed = InvokeBody::parse(&body, &model_id);
    let result = match &parsed {
        Ok(body) => sim.invoke_model(&region, &model_id, body).await,
        Err(err) => Err(err.clone()),
    };
    match (parsed, result) {
        (Ok(body), Ok(done)) => {
            tracing::debug!(
                region,
                model_id,
                status = 200,
                input_tokens = done.input_tokens,
                output_tokens = done.output_tokens,
                stop_reason = done.stop_reason.as_str(),
                "invoke"
            );
            let native = body.respond(&model_id, &request_id, &done);
            let mut response = axum::Json(native).into_response();
            let headers = response.headers_mut();
            for (name, value) in [
                (INPUT_TOKENS_HEADER, u64::from(done.input_tokens)),
                (OUTPUT_TOKENS_HEADER, u64::from(done.output_tokens)),
                (LATENCY_HEADER, done.latency_ms),
            ] {
                headers.insert(name, HeaderValue::from(value));
            }
            with_request_id(response, &request_id)
        }
        (_, Err(err)) | (Err(err), _) => {
            error_response(err, &region, &model_id, "invoke", &request_id)
        }
    }
}

fn error_response(
    err: BedrockError,
    region: &str,
    model_id: &str,
    operation: &'static str,
    request_id: &str,
) -> Response {
    tracing::debug!(
        region,
        model_id,
        status = err.status().as_u16(),
        error = err.kind.type_name(),
        operation
    );
    with_request_id(err.into_response(), request_id)
}

fn with_request_id(mut response: Response, request_id: &str) -> Response {
    if let Ok(id) = HeaderValue::from_str(request_id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, id);
    }
    response
}

/// A Converse body, or a ValidationException saying why it is not one.
fn parse_converse(body: &[u8]) -> Result<ConverseRequest, BedrockError> {
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
