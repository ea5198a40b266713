//! The queue message body: JSON with an optional `job_id` and the `POST /invoke` fields, or
//! plain text taken as the prompt. Producers may write such messages straight to the queue.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::job::JobId;
use crate::request::{InvokeRequest, JobRequest};

/// A decoded message body.
#[derive(Debug, Clone, PartialEq)]
pub struct MessageBody {
    /// The job id the producer chose, if any.
    pub job_id: Option<JobId>,
    /// The request, not yet validated against the catalogue.
    pub request: InvokeRequest,
}

/// Why a message body could not be understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MessageError {
    #[error("message body is empty")]
    Empty,
    #[error("message body is JSON but not an object or a string")]
    NotAnObject,
    #[error("invalid `job_id`: {0}")]
    InvalidJobId(String),
    #[error("invalid request in message body: {0}")]
    InvalidRequest(String),
}

/// Encodes the message the API sends for a job it created.
pub fn encode(job_id: &JobId, request: &JobRequest) -> String {
    let mut body = Map::new();
    body.insert("job_id".into(), Value::String(job_id.to_string()));
    body.insert("model".into(), Value::String(request.model.clone()));
    if let Some(system) = &request.system {
        body.insert("system".into(), Value::String(system.clone()));
    }
    body.insert(
        "messages".into(),
        serde_json::to_value(&request.messages).unwrap_or(Value::Null),
    );
    let inference = &request.inference;
    if let Some(max_tokens) = inference.max_tokens {
        body.insert("max_tokens".into(), max_tokens.into());
    }
    if let Some(temperature) = inference.temperature {
        body.insert("temperature".into(), f64::from(temperature).into());
    }
    if let Some(top_p) = inference.top_p {
        body.insert("top_p".into(), f64::from(top_p).into());
    }
    if !inference.stop_sequences.is_empty() {
        body.insert(
            "stop_sequences".into(),
            inference.stop_sequences.clone().into(),
        );
    }
    if let Some(metadata) = &request.metadata {
        body.insert("metadata".into(), metadata.clone());
    }
    if let Some(deadline) = &request.deadline {
        body.insert("deadline".into(), Value::String(deadline.to_rfc3339()));
    }
    Value::Object(body).to_string()
}

/// The message attribute a producer may set to name the model when the body does not.
pub const MODEL_ATTRIBUTE: &str = "model";

/// Decodes a received message: its body, with the model taken from the `model` message
/// attribute when the body names none (plain-text bodies can only name it that way).
pub fn decode_message(
    body: &str,
    attributes: &BTreeMap<String, String>,
) -> Result<MessageBody, MessageError> {
    let mut decoded = decode(body)?;
    if decoded.request.model.is_none() {
        decoded.request.model = attributes.get(MODEL_ATTRIBUTE).cloned();
    }
    Ok(decoded)
}

/// Decodes a message body written by the API or by any producer.
pub fn decode(body: &str) -> Result<MessageBody, MessageError> {
    if body.trim().is_empty() {
        return Err(MessageError::Empty);
    }
    let value: Value = match serde_json::from_str(body) {
        Ok(value) => value,
        // Not JSON at all: the whole body is the prompt.
        Err(_) => {
            return Ok(MessageBody {
                job_id: None,
                request: InvokeRequest::from_prompt(body),
            });
        }
    };
    let mut fields = match value {
        Value::Object(fields) => fields,
        Value::String(prompt) => {
            return Ok(MessageBody {
                job_id: None,
                request: InvokeRequest::from_prompt(prompt),
            });
        }
        _ => return Err(MessageError::NotAnObject),
    };
    let job_id = match fields.remove("job_id") {
        None | Some(Value::Null) => None,
        Some(Value::String(id)) => Some(
            id.parse::<JobId>()
                .map_err(|e| MessageError::InvalidJobId(e.to_string()))?,
        ),
        Some(other) => {
            return Err(MessageError::InvalidJobId(format!(
                "expected a string, got {other}"
            )));
        }
    };
    let request = serde_json::from_value(Value::Object(fields))
        .map_err(|e| MessageError::InvalidRequest(e.to_string()))?;
    Ok(MessageBody { job_id, request })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{BucketId, ModelCatalog, ModelSpec};

    fn catalog() -> ModelCatalog {
        ModelCatalog::new(
            "m",
            [ModelSpec {
                name: "m".into(),
                max_output_tokens: 100,
                buckets: vec![BucketId::new("us-east-1", "x")],
            }],
        )
        .unwrap()
    }

    #[test]
    fn what_the_api_encodes_decodes_to_the_same_request() {
        let mut request = InvokeRequest::from_prompt("hi");
        request.max_tokens = Some(50);
        request.temperature = Some(0.5);
        request.metadata = Some(serde_json::json!({"k": 1}));
        request.deadline = Some(chrono::Utc::now());
        let validated = request.validate(&catalog()).unwrap();
        let id = JobId::generate();
        let decoded = decode(&encode(&id, &validated)).unwrap();
        assert_eq!(decoded.job_id, Some(id));
        assert_eq!(decoded.request.validate(&catalog()).unwrap(), validated);
    }

    #[test]
    fn the_model_attribute_names_the_model_only_when_the_body_does_not() {
        let attributes = BTreeMap::from([(MODEL_ATTRIBUTE.to_owned(), "other".to_owned())]);
        let plain = decode_message("Write a haiku", &attributes).unwrap();
        assert_eq!(plain.request.model.as_deref(), Some("other"));
        let named = decode_message(r#"{"prompt": "x", "model": "m"}"#, &attributes).unwrap();
        assert_eq!(named.request.model.as_deref(), Some("m"));
        let none = decode_message("x", &BTreeMap::new()).unwrap();
        assert_eq!(none.request.model, None);
    }

    #[test]
    fn plain_text_is_the_prompt() {
        let decoded = decode("Write a haiku").unwrap();
        assert_eq!(decoded.job_id, None);
        assert_eq!(decoded.request.prompt.as_deref(), Some("Write a haiku"));
        let quoted = decode("\"Write a haiku\"").unwrap();
        assert_eq!(quoted.request.prompt.as_deref(), Some("Write a haiku"));
    }

    #[test]
    fn bad_bodies_say_why() {
        assert_eq!(decode(" "), Err(MessageError::Empty));
        assert_eq!(decode("[1,2]"), Err(MessageError::NotAnObject));
        assert!(matches!(
            decode(r#"{"job_id": "a b", "prompt": "x"}"#),
            Err(MessageError::InvalidJobId(_))
        ));
        assert!(matches!(
            decode(r#"{"prompt": "x", "colour": "red"}"#),
            Err(MessageError::InvalidRequest(msg)) if msg.contains("colour")
        ));
    }
}
