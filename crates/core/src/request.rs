//! The body of `POST /invoke` (and of a queue message), and its validation into a [`JobRequest`].
//!
//! Validation happens once, at the edge (the API, or the worker for messages written straight to
//! the queue), and answers with a [`ValidationError`] that names the field and says what is wrong,
//! so that a bad request never reaches Bedrock.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::catalog::ModelCatalog;
use crate::tokens::estimate_tokens;

/// Largest `metadata` object accepted, serialized, in bytes.
pub const MAX_METADATA_BYTES: usize = 4096;
/// Most stop sequences Bedrock's Converse API accepts.
pub const MAX_STOP_SEQUENCES: usize = 4;

/// A request as a client sends it: either `prompt` or `messages`, plus optional settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InvokeRequest {
    /// A single user prompt; shorthand for one user message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
    /// A Converse-style conversation, first message from the user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub messages: Option<Vec<Message>>,
    /// A system prompt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
    /// A logical model name from the configuration; the default model when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Most tokens to generate; the model's maximum when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    /// Sampling temperature, 0 to 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f32>,
    /// Nucleus sampling, 0 to 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f32>,
    /// Sequences that stop generation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_sequences: Option<Vec<String>>,
    /// A small JSON object stored with the job and returned with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
    /// When the job stops being worth running (RFC 3339); a job not dispatched by then ends
    /// `expired` instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline: Option<DateTime<Utc>>,
}

/// Who speaks a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    User,
    Assistant,
}

/// One turn of a conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Message {
    pub role: Role,
    pub content: Vec<ContentBlock>,
}

/// A block of message content. Only text is supported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContentBlock {
    pub text: String,
}

/// Inference settings passed to Bedrock as given; `None` leaves Bedrock's default.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InferenceConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stop_sequences: Vec<String>,
}

/// A validated request: a known model and a well-formed conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobRequest {
    /// Logical model name, present in the catalogue at validation time.
    pub model: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
    pub messages: Vec<Message>,
    #[serde(default)]
    pub inference: InferenceConfig,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
    /// Past this instant the job is `expired` instead of dispatched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline: Option<DateTime<Utc>>,
}

impl JobRequest {
    /// Whether the job's deadline has passed at `now`.
    pub fn is_past_deadline(&self, now: DateTime<Utc>) -> bool {
        self.deadline.is_some_and(|deadline| deadline <= now)
    }

    /// Estimated input tokens of the system prompt and all messages (see [`crate::tokens`]).
    pub fn estimated_input_tokens(&self) -> u32 {
        let text: String = self
            .system
            .iter()
            .map(String::as_str)
            .chain(
                self.messages
                    .iter()
                    .flat_map(|m| m.content.iter().map(|c| c.text.as_str())),
            )
            .collect();
        estimate_tokens(&text)
    }
}

/// What is wrong with a request; `field` names the offending field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ValidationError {
    /// The offending field, e.g. `max_tokens` or `messages[1].content`.
    pub field: String,
    /// A sentence saying what is wrong and what is allowed.
    pub message: String,
}

impl ValidationError {
    fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl InvokeRequest {
    /// A request for `prompt` with every setting left to its default.
    pub fn from_prompt(prompt: impl Into<String>) -> Self {
        Self {
            prompt: Some(prompt.into()),
            ..Self::default()
        }
    }

    /// Checks the request against the catalogue and turns it into a [`JobRequest`].
    pub fn validate(self, catalog: &ModelCatalog) -> Result<JobRequest, ValidationError> {
        let model_name = self
            .model
            .unwrap_or_else(|| catalog.default_model().to_owned());
        let Some(model) = catalog.get(&model_name) else {
            let known: Vec<&str> = catalog.models().map(|m| m.name.as_str()).collect();
            return Err(ValidationError::new(
                "model",
                format!(
                    "unknown model `{model_name}`; configured models: {}",
                    known.join(", ")
                ),
            ));
        };
        let messages = match (self.prompt, self.messages) {
            (Some(_), Some(_)) => {
                return Err(ValidationError::new(
                    "prompt",
                    "give either `prompt` or `messages`, not both",
                ));
            }
            (None, None) => {
                return Err(ValidationError::new(
                    "prompt",
                    "one of `prompt` or `messages` is required",
                ));
            }
            (Some(prompt), None) => {
                if prompt.trim().is_empty() {
                    return Err(ValidationError::new("prompt", "`prompt` must not be empty"));
                }
                vec![Message {
                    role: Role::User,
                    content: vec![ContentBlock { text: prompt }],
                }]
            }
            (None, Some(messages)) => {
                validate_messages(&messages)?;
                messages
            }
        };
        if let Some(system) = &self.system
            && system.trim().is_empty()
        {
            return Err(ValidationError::new(
                "system",
                "`system` must not be empty when given",
            ));
        }
        if let Some(max_tokens) = self.max_tokens
            && !(1..=model.max_output_tokens).contains(&max_tokens)
        {
            return Err(ValidationError::new(
                "max_tokens",
                format!(
                    "`max_tokens` must be between 1 and {} for model `{}`, got {max_tokens}",
                    model.max_output_tokens, model.name
                ),
            ));
        }
        check_unit_interval("temperature", self.temperature)?;
        check_unit_interval("top_p", self.top_p)?;
        let stop_sequences = self.stop_sequences.unwrap_or_default();
        validate_stop_sequences(&stop_sequences)?;
        if let Some(metadata) = &self.metadata {
            validate_metadata(metadata)?;
        }
        Ok(JobRequest {
            model: model.name.clone(),
            system: self.system,
            messages,
            inference: InferenceConfig {
                max_tokens: self.max_tokens,
                temperature: self.temperature,
                top_p: self.top_p,
                stop_sequences,
            },
            metadata: self.metadata,
            deadline: self.deadline,
        })
    }
}

fn validate_messages(messages: &[Message]) -> Result<(), ValidationError> {
    let Some(first) = messages.first() else {
        return Err(ValidationError::new(
            "messages",
            "`messages` must hold at least one message",
        ));
    };
    if first.role != Role::User {
        return Err(ValidationError::new(
            "messages[0].role",
            "the first message must come from the `user`",
        ));
    }
    for (i, message) in messages.iter().enumerate() {
        if i > 0 && messages[i - 1].role == message.role {
            return Err(ValidationError::new(
                format!("messages[{i}].role"),
                "roles must alternate between `user` and `assistant`",
            ));
        }
        if message.content.is_empty() {
            return Err(ValidationError::new(
                format!("messages[{i}].content"),
                "a message needs at least one content block",
            ));
        }
        if let Some(j) = message
            .content
            .iter()
            .position(|c| c.text.trim().is_empty())
        {
            return Err(ValidationError::new(
                format!("messages[{i}].content[{j}].text"),
                "content text must not be empty",
            ));
        }
    }
    Ok(())
}

fn check_unit_interval(field: &str, value: Option<f32>) -> Result<(), ValidationError> {
    match value {
        Some(v) if !(0.0..=1.0).contains(&v) => Err(ValidationError::new(
            field,
            format!("`{field}` must be between 0 and 1, got {v}"),
        )),
        _ => Ok(()),
    }
}

fn validate_stop_sequences(stop_sequences: &[String]) -> Result<(), ValidationError> {
    if stop_sequences.len() > MAX_STOP_SEQUENCES {
        return Err(ValidationError::new(
            "stop_sequences",
            format!(
                "at most {MAX_STOP_SEQUENCES} stop sequences are allowed, got {}",
                stop_sequences.len()
            ),
        ));
    }
    if let Some(i) = stop_sequences.iter().position(String::is_empty) {
        return Err(ValidationError::new(
            format!("stop_sequences[{i}]"),
            "stop sequences must not be empty",
        ));
    }
    Ok(())
}

fn validate_metadata(metadata: &Value) -> Result<(), ValidationError> {
    if !metadata.is_object() {
        return Err(ValidationError::new(
            "metadata",
            "`metadata` must be a JSON object",
        ));
    }
    let size = metadata.to_string().len();
    if size > MAX_METADATA_BYTES {
        return Err(ValidationError::new(
            "metadata",
            format!("`metadata` is {size} bytes; at most {MAX_METADATA_BYTES} are allowed"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{BucketId, ModelSpec};
    use serde_json::json;

    fn catalog() -> ModelCatalog {
        ModelCatalog::new(
            "small",
            [ModelSpec {
                name: "small".into(),
                max_output_tokens: 1000,
                buckets: vec![BucketId::new("us-east-1", "m")],
            }],
        )
        .unwrap()
    }

    fn validate(body: Value) -> Result<JobRequest, ValidationError> {
        serde_json::from_value::<InvokeRequest>(body)
            .unwrap()
            .validate(&catalog())
    }

    #[test]
    fn a_prompt_becomes_one_user_message_on_the_default_model() {
        let job = validate(json!({"prompt": "hello", "max_tokens": 10})).unwrap();
        assert_eq!(job.model, "small");
        assert_eq!(job.messages.len(), 1);
        assert_eq!(job.messages[0].role, Role::User);
        assert_eq!(job.messages[0].content[0].text, "hello");
        assert_eq!(job.inference.max_tokens, Some(10));
    }

    #[test]
    fn unknown_fields_are_rejected_by_name() {
        let err = serde_json::from_value::<InvokeRequest>(json!({"promt": "x"})).unwrap_err();
        assert!(err.to_string().contains("unknown field `promt`"), "{err}");
    }

    #[test]
    fn exactly_one_of_prompt_and_messages() {
        let both =
            json!({"prompt": "a", "messages": [{"role": "user", "content": [{"text": "b"}]}]});
        assert_eq!(validate(both).unwrap_err().field, "prompt");
        assert!(
            validate(json!({}))
                .unwrap_err()
                .message
                .contains("required")
        );
    }

    #[test]
    fn empty_prompt_is_rejected() {
        assert!(
            validate(json!({"prompt": "  "}))
                .unwrap_err()
                .message
                .contains("empty")
        );
    }

    #[test]
    fn out_of_range_numbers_are_rejected_with_the_limit() {
        let err = validate(json!({"prompt": "a", "max_tokens": 1001})).unwrap_err();
        assert_eq!(err.field, "max_tokens");
        assert!(
            err.message.contains("between 1 and 1000"),
            "{}",
            err.message
        );
        assert_eq!(
            validate(json!({"prompt": "a", "max_tokens": 0}))
                .unwrap_err()
                .field,
            "max_tokens"
        );
        assert_eq!(
            validate(json!({"prompt": "a", "temperature": 1.5}))
                .unwrap_err()
                .field,
            "temperature"
        );
        assert_eq!(
            validate(json!({"prompt": "a", "top_p": -0.1}))
                .unwrap_err()
                .field,
            "top_p"
        );
    }

    #[test]
    fn unknown_model_names_the_known_ones() {
        let err = validate(json!({"prompt": "a", "model": "gpt"})).unwrap_err();
        assert_eq!(err.field, "model");
        assert!(err.message.contains("small"), "{}", err.message);
    }

    #[test]
    fn conversations_must_start_with_the_user_and_alternate() {
        let starts_with_assistant =
            json!({"messages": [{"role": "assistant", "content": [{"text": "x"}]}]});
        assert_eq!(
            validate(starts_with_assistant).unwrap_err().field,
            "messages[0].role"
        );
        let repeats = json!({"messages": [
            {"role": "user", "content": [{"text": "x"}]},
            {"role": "user", "content": [{"text": "y"}]}
        ]});
        assert_eq!(validate(repeats).unwrap_err().field, "messages[1].role");
        let empty_text = json!({"messages": [{"role": "user", "content": [{"text": ""}]}]});
        assert_eq!(
            validate(empty_text).unwrap_err().field,
            "messages[0].content[0].text"
        );
        assert_eq!(
            validate(json!({"messages": []})).unwrap_err().field,
            "messages"
        );
    }

    #[test]
    fn metadata_must_be_a_small_object() {
        assert_eq!(
            validate(json!({"prompt": "a", "metadata": [1]}))
                .unwrap_err()
                .field,
            "metadata"
        );
        let big = "x".repeat(MAX_METADATA_BYTES);
        assert_eq!(
            validate(json!({"prompt": "a", "metadata": {"k": big}}))
                .unwrap_err()
                .field,
            "metadata"
        );
        assert!(validate(json!({"prompt": "a", "metadata": {"team": "search"}})).is_ok());
    }

    #[test]
    fn stop_sequences_are_bounded() {
        let five = json!({"prompt": "a", "stop_sequences": ["a", "b", "c", "d", "e"]});
        assert_eq!(validate(five).unwrap_err().field, "stop_sequences");
    }

    #[test]
    fn input_estimate_covers_system_and_messages() {
        let job = validate(json!({"prompt": "abcdefgh", "system": "abcd"})).unwrap();
        assert_eq!(job.estimated_input_tokens(), 3);
    }
}
