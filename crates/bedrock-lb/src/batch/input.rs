//! The `batch` input file: JSON Lines, one request per line (a JSON string is a prompt, an
//! object is a `POST /invoke` body), blank lines skipped.
//!
//! The whole file is read and checked before anything is submitted, so that a bad line is
//! reported by its line number while nothing has been queued yet. Checks that need the
//! server's model catalogue (is the model known, is `max_tokens` within its limit) are left to
//! the server, whose answer the caller maps back to line numbers.

use std::path::Path;

use bedrock_lb_core::{BucketId, InvokeRequest, ModelCatalog, ModelSpec};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// One request of the input.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// Its 1-based line number in the input file.
    pub line: usize,
    /// The request as sent in `POST /batch` (a string stays a string: the API takes it as the
    /// prompt).
    pub request: Value,
}

/// The parsed input file.
#[derive(Debug, Clone, PartialEq)]
pub struct Input {
    /// Every non-blank line, in file order.
    pub entries: Vec<Entry>,
    /// Lowercase hex SHA-256 of the file's bytes: the identity of the input for resuming.
    pub sha256: String,
}

/// Why the input cannot be submitted.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("reading {path}: {reason}")]
    Read { path: String, reason: String },
    #[error("{path}:{line}: {reason}")]
    BadLine {
        path: String,
        line: usize,
        reason: String,
    },
    #[error("{path} holds no requests (every line is blank)")]
    Empty { path: String },
}

/// Reads and checks `path`.
pub fn read_input(path: &Path) -> Result<Input, InputError> {
    let shown = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| InputError::Read {
        path: shown.clone(),
        reason: e.to_string(),
    })?;
    let sha256 = hex::encode(Sha256::digest(&bytes));
    let text = String::from_utf8(bytes).map_err(|e| InputError::Read {
        path: shown.clone(),
        reason: format!("not UTF-8 text: {e}"),
    })?;
    let mut entries = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        if raw.trim().is_empty() {
            continue;
        }
        let request = parse_line(raw).map_err(|reason| InputError::BadLine {
            path: shown.clone(),
            line,
            reason,
        })?;
        entries.push(Entry { line, request });
    }
    if entries.is_empty() {
        return Err(InputError::Empty { path: shown });
    }
    Ok(Input { entries, sha256 })
}

/// Checks one line: valid JSON, a non-empty string or a well-formed request object.
fn parse_line(raw: &str) -> Result<Value, String> {
    let value: Value = serde_json::from_str(raw).map_err(|e| format!("not valid JSON: {e}"))?;
    let request = match &value {
        Value::String(prompt) => InvokeRequest::from_prompt(prompt.clone()),
        Value::Object(_) => serde_json::from_value::<InvokeRequest>(value.clone())
            .map_err(|e| format!("not a request object: {e}"))?,
        other => {
            return Err(format!(
                "a line must be a JSON string (the prompt) or a request object, got {}",
                kind(other)
            ));
        }
    };
    check_shape(request)?;
    Ok(value)
}

/// Runs the core validation with a catalogue that knows whatever model the request names and
/// allows any `max_tokens`, so every rule except those two is checked here, before submission.
fn check_shape(request: InvokeRequest) -> Result<(), String> {
    let name = request.model.clone().unwrap_or_else(|| "default".into());
    let spec = ModelSpec {
        name: name.clone(),
        max_output_tokens: u32::MAX,
        buckets: vec![BucketId::new("any", "any")],
    };
    let catalog = ModelCatalog::new(name, [spec]).map_err(|e| e.to_string())?;
    request
        .validate(&catalog)
        .map(drop)
        .map_err(|e| format!("{}: {}", e.field, e.message))
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn input(text: &str) -> Result<Input, InputError> {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(text.as_bytes()).unwrap();
        read_input(file.path())
    }

    #[test]
    fn strings_and_objects_are_requests_and_blank_lines_are_skipped() {
        let parsed =
            input("\"first\"\n\n  \n{\"prompt\": \"second\", \"max_tokens\": 5}\n").unwrap();
        let lines: Vec<usize> = parsed.entries.iter().map(|e| e.line).collect();
        assert_eq!(lines, [1, 4]);
        assert_eq!(parsed.entries[0].request, Value::from("first"));
        assert_eq!(parsed.entries[1].request["max_tokens"], 5);
        assert_eq!(parsed.sha256.len(), 64);
    }

    #[test]
    fn the_same_bytes_have_the_same_hash() {
        let a = input("\"x\"\n").unwrap();
        let b = input("\"x\"\n").unwrap();
        let c = input("\"y\"\n").unwrap();
        assert_eq!(a.sha256, b.sha256);
        assert_ne!(a.sha256, c.sha256);
    }

    #[test]
    fn bad_lines_are_named_by_number() {
        let err = input("\"ok\"\n{not json\n").unwrap_err().to_string();
        assert!(err.contains(":2: not valid JSON"), "{err}");
        let err = input("\"ok\"\n\n42\n").unwrap_err().to_string();
        assert!(err.contains(":3: a line must be a JSON string"), "{err}");
        let err = input("{\"promt\": \"x\"}\n").unwrap_err().to_string();
        assert!(
            err.contains(":1: not a request object") && err.contains("promt"),
            "{err}"
        );
        let err = input("\"ok\"\n{\"prompt\": \"x\", \"temperature\": 3}\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains(":2: temperature"), "{err}");
        let err = input("\"  \"\n").unwrap_err().to_string();
        assert!(err.contains(":1: prompt"), "{err}");
    }

    #[test]
    fn an_empty_file_is_refused() {
        assert!(matches!(input("\n\n"), Err(InputError::Empty { .. })));
    }
}
