//! The `Idempotency-Key` header: its syntax, the key as stored (scoped by caller), and the
//! digest of the request that makes reusing a key for another request detectable.
//!
//! The digest covers the route and the request as parsed and re-serialized with sorted object
//! keys, so that whitespace or key order do not make a retry look like a new request.

use axum::http::HeaderMap;
use serde::Serialize;
use serde_json::Value;

use crate::auth::{sha256, to_hex};
use crate::error::ApiError;

/// The header a client sets to make a submission safe to retry.
pub const IDEMPOTENCY_HEADER: &str = "idempotency-key";
/// Longest key accepted.
pub const MAX_KEY_LEN: usize = 255;

/// The caller's `Idempotency-Key`, if it sent one: 1 to 255 visible ASCII characters.
pub fn key_from_headers(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let mut values = headers.get_all(IDEMPOTENCY_HEADER).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(ApiError::InvalidRequest(
            "send at most one Idempotency-Key header".into(),
        ));
    }
    let bytes = value.as_bytes();
    let valid = (1..=MAX_KEY_LEN).contains(&bytes.len()) && bytes.iter().all(u8::is_ascii_graphic);
    if !valid {
        return Err(ApiError::InvalidRequest(format!(
            "Idempotency-Key must be 1 to {MAX_KEY_LEN} visible ASCII characters (no spaces)"
        )));
    }
    Ok(Some(String::from_utf8_lossy(bytes).into_owned()))
}

/// The key as stored: scoped by the caller, so that two callers' keys never collide.
pub fn scoped_key(owner: Option<&str>, key: &str) -> String {
    // `owner` never contains a newline (ARNs and key names), so the join is unambiguous.
    format!("{}\n{key}", owner.unwrap_or("-"))
}

/// A hex SHA-256 of `route` and the canonical JSON of `request`.
pub fn request_hash(route: &str, request: &impl Serialize) -> Result<String, ApiError> {
    let value = serde_json::to_value(request)
        .map_err(|e| ApiError::Internal(format!("request does not serialize: {e}")))?;
    let mut text = String::from(route);
    text.push('\n');
    write_canonical(&value, &mut text);
    Ok(to_hex(&sha256(text.as_bytes())))
}

/// JSON with object keys sorted, whatever map order serde_json was built with.
fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (key, value)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                write_canonical(value, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;
    use serde_json::json;

    fn headers(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(IDEMPOTENCY_HEADER, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn keys_are_visible_ascii_up_to_255() {
        assert_eq!(key_from_headers(&HeaderMap::new()).unwrap(), None);
        assert_eq!(
            key_from_headers(&headers("order-42")).unwrap().as_deref(),
            Some("order-42")
        );
        assert!(key_from_headers(&headers("has space")).is_err());
        assert!(key_from_headers(&headers("")).is_err());
        assert!(key_from_headers(&headers(&"k".repeat(256))).is_err());
        assert!(key_from_headers(&headers(&"k".repeat(255))).is_ok());
    }

    #[test]
    fn the_hash_ignores_key_order_but_not_values_or_route() {
        let a = request_hash("/invoke", &json!({"a": 1, "b": {"x": 1, "y": 2}})).unwrap();
        let b = request_hash("/invoke", &json!({"b": {"y": 2, "x": 1}, "a": 1})).unwrap();
        assert_eq!(a, b);
        assert_ne!(a, request_hash("/invoke", &json!({"a": 2})).unwrap());
        assert_ne!(
            a,
            request_hash("/batch", &json!({"a": 1, "b": {"x": 1, "y": 2}})).unwrap()
        );
    }

    #[test]
    fn keys_are_scoped_by_owner() {
        assert_ne!(scoped_key(Some("alice"), "k"), scoped_key(Some("bob"), "k"));
        assert_ne!(scoped_key(None, "k"), scoped_key(Some("alice"), "k"));
    }
}
