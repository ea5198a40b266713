//! Extractors that turn a request into typed input or into an [`ApiError`], never into one of
//! axum's plain-text rejections.
//!
//! [`JsonBody`] replaces `axum::Json`: it checks the content type (absent means JSON), buffers
//! the body within the route's [`BodyLimit`] (else [`ApiLimits::max_body_bytes`]) and tells a syntax error (`invalid_json`) from
//! a body of the wrong shape (`invalid_request`). [`JobIdPath`] parses and checks the `{id}`
//! path parameter and records it on the request's span.

use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRef, FromRequest, FromRequestParts, Path, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use bedrock_lb_core::JobId;
use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde_json::Value;
use serde_json::error::Category;

use crate::ApiLimits;
use crate::error::ApiError;

/// A request body that must be a JSON object deserializing to `T`.
#[derive(Debug, Clone)]
pub struct JsonBody<T>(pub T);

/// A route's own body limit, in bytes, set as a request extension next to axum's
/// `DefaultBodyLimit` by a route that accepts more than [`ApiLimits::max_body_bytes`]
/// (`POST /batch`), so that the 413 names the limit that applied.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimit(pub usize);

impl<S, T> FromRequest<S> for JsonBody<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
    ApiLimits: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let limit = match req.extensions().get::<BodyLimit>() {
            Some(BodyLimit(bytes)) => *bytes,
            None => ApiLimits::from_ref(state).max_body_bytes,
        };
        check_content_type(req.headers())?;
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|rejection| body_rejection(&rejection, limit))?;
        parse_json(&bytes).map(JsonBody)
    }
}

/// Accepts a missing content type, `application/json` and `application/*+json`, with any
/// parameters (`; charset=utf-8`).
fn check_content_type(headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Ok(());
    };
    let Ok(text) = value.to_str() else {
        return Err(ApiError::UnsupportedMediaType(
            String::from_utf8_lossy(value.as_bytes()).into_owned(),
        ));
    };
    let essence = text
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let is_json = essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"));
    if is_json {
        Ok(())
    } else {
        Err(ApiError::UnsupportedMediaType(text.to_owned()))
    }
}

fn body_rejection(rejection: &BytesRejection, limit: usize) -> ApiError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::PayloadTooLarge(limit)
    } else {
        ApiError::InvalidRequest(format!(
            "the request body could not be read: {}",
            rejection.body_text()
        ))
    }
}

/// Parses `bytes` as a JSON object deserializing to `T`, classifying failures: malformed JSON
/// is `invalid_json`, well-formed JSON of the wrong shape is `invalid_request`. serde's messages
/// name the field and give the line and column.
///
/// Anything but an object is refused before serde sees it: serde's derived structs also accept
/// arrays (fields by position), which would make `["hi"]` a valid request.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.trim_ascii_start().first() != Some(&b'{') {
        return Err(match serde_json::from_slice::<Value>(bytes) {
            Err(e) => syntax_error(&e),
            Ok(value) => ApiError::InvalidRequest(format!(
                "the request body must be a JSON object, got {}",
                json_kind(&value)
            )),
        });
    }
    serde_json::from_slice(bytes).map_err(|e| match e.classify() {
        Category::Syntax | Category::Eof | Category::Io => syntax_error(&e),
        Category::Data => ApiError::InvalidRequest(format!("invalid request body: {e}")),
    })
}

fn syntax_error(e: &serde_json::Error) -> ApiError {
    ApiError::InvalidJson(format!("the request body is not valid JSON: {e}"))
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The `{id}` path parameter, checked to be a well-formed [`JobId`].
#[derive(Debug, Clone)]
pub struct JobIdPath(pub JobId);

impl<S> FromRequestParts<S> for JobIdPath
where
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|rejection| ApiError::InvalidRequest(rejection.body_text()))?;
        let id = raw
            .parse::<JobId>()
            .map_err(|e| ApiError::InvalidRequest(e.to_string()))?;
        tracing::Span::current().record("job_id", id.as_str());
        Ok(Self(id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Body {
        #[allow(dead_code)]
        n: u32,
    }

    fn with_type(value: &'static str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(value));
        headers
    }

    #[test]
    fn json_content_types_are_accepted_and_others_refused() {
        assert!(check_content_type(&HeaderMap::new()).is_ok());
        assert!(check_content_type(&with_type("application/json")).is_ok());
        assert!(check_content_type(&with_type("Application/JSON; charset=utf-8")).is_ok());
        assert!(check_content_type(&with_type("application/vnd.api+json")).is_ok());
        assert_eq!(
            check_content_type(&with_type("text/plain")),
            Err(ApiError::UnsupportedMediaType("text/plain".into()))
        );
        assert!(check_content_type(&with_type("application/jsonx")).is_err());
    }

    #[test]
    fn syntax_and_shape_errors_are_told_apart() {
        assert!(matches!(
            parse_json::<Body>(b"{\"n\": "),
            Err(ApiError::InvalidJson(m)) if m.contains("line 1")
        ));
        assert!(matches!(
            parse_json::<Body>(b"{\"n\": \"x\"}"),
            Err(ApiError::InvalidRequest(m)) if m.contains("invalid type")
        ));
        assert!(matches!(
            parse_json::<Body>(b" [1]"),
            Err(ApiError::InvalidRequest(m)) if m.contains("must be a JSON object, got an array")
        ));
        assert!(matches!(
            parse_json::<Body>(b"hello"),
            Err(ApiError::InvalidJson(_))
        ));
        assert!(matches!(
            parse_json::<Body>(b""),
            Err(ApiError::InvalidJson(_))
        ));
        assert!(parse_json::<Body>(b"{\"n\": 1}").is_ok());
    }
}
