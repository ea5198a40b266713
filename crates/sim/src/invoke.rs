//! InvokeModel's model-specific bodies: the Anthropic Messages body
//! (`anthropic_version: bedrock-2023-05-31`) and the plain `inputText` body of the Titan-style
//! text models, each parsed into a [`Prepared`] call and answered in that model's native shape.
//!
//! Which body a call carries is read from the body itself: `anthropic_version` marks Anthropic,
//! `inputText` the text form. Errors use the wording Bedrock relays from the model provider.

use serde::Deserialize;
use serde_json::{Value, json};

use crate::config::SimModel;
use crate::error::BedrockError;
use crate::prepare::{Prepared, check_unit_interval, effective_max_tokens};
use crate::simulator::Completion;
use crate::wire::StopReason;

/// The only `anthropic_version` Bedrock accepts.
pub const ANTHROPIC_VERSION: &str = "bedrock-2023-05-31";

/// A parsed InvokeModel body.
#[derive(Debug, Clone, PartialEq)]
pub enum InvokeBody {
    /// An Anthropic Messages request.
    Anthropic(AnthropicRequest),
    /// A Titan-style `inputText` request.
    Text(TextRequest),
}

/// The Anthropic Messages body, as far as the simulator reads it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct AnthropicRequest {
    pub anthropic_version: Option<String>,
    #[serde(default)]
    pub messages: Option<Vec<AnthropicMessage>>,
    #[serde(default)]
    pub system: Option<AnthropicContent>,
    #[serde(default)]
    pub max_tokens: Option<i64>,
    #[serde(default)]
    pub temperature: Option<f64>,
    #[serde(default)]
    pub top_p: Option<f64>,
    #[serde(default)]
    pub stop_sequences: Option<Vec<String>>,
}

/// One Anthropic message.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct AnthropicMessage {
    pub role: String,
    pub content: AnthropicContent,
}

/// Anthropic content: a plain string or a list of typed blocks.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum AnthropicContent {
    Text(String),
    Blocks(Vec<AnthropicBlock>),
}

/// A typed content block; only `text` blocks are simulated.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct AnthropicBlock {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub text: Option<String>,
}

/// The Titan-style text body.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TextRequest {
    pub input_text: String,
    #[serde(default)]
    pub text_generation_config: Option<TextGenerationConfig>,
}

/// `textGenerationConfig`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TextGenerationConfig {
    #[serde(default)]
    pub max_token_count: Option<i64>,
    #[serde(default)]
    pub temperature: Option<f64>,
    #[serde(default)]
    pub top_p: Option<f64>,
    #[serde(default)]
    pub stop_sequences: Option<Vec<String>>,
}

fn malformed(detail: &str) -> BedrockError {
    BedrockError::validation(format!(
        "Malformed input request: {detail}, please reformat your input and try again."
    ))
}

impl InvokeBody {
    /// Parses an InvokeModel body for `model_id`.
    pub fn parse(body: &[u8], model_id: &str) -> Result<Self, BedrockError> {
        let value: Value = serde_json::from_slice(body)
            .map_err(|e| malformed(&format!("the body is not JSON ({e})")))?;
        if value.get("anthropic_version").is_some() {
            return serde_json::from_value(value)
                .map(Self::Anthropic)
                .map_err(|e| malformed(&format!("#: {e}")));
        }
        if value.get("inputText").is_some() {
            return serde_json::from_value(value)
                .map(Self::Text)
                .map_err(|e| malformed(&format!("#: {e}")));
        }
        if model_id.contains("anthropic.") {
            return Err(malformed("#: required key [anthropic_version] not found"));
        }
        Err(malformed("#: required key [inputText] not found"))
    }

    /// Checks the body against `model` and reduces it to the call to simulate.
    pub fn prepare<'r>(&'r self, model: &SimModel) -> Result<Prepared<'r>, BedrockError> {
        match self {
            Self::Anthropic(request) => prepare_anthropic(request, model),
            Self::Text(request) => {
                if request.input_text.trim().is_empty() {
                    return Err(malformed("#/inputText: expected minLength: 1"));
                }
                let config = request.text_generation_config.as_ref();
                let max_tokens = effective_max_tokens(
                    config.and_then(|c| c.max_token_count),
                    model,
                    "textGenerationConfig.maxTokenCount",
                )?;
                check_unit_interval(
                    "textGenerationConfig.temperature",
                    config.and_then(|c| c.temperature),
                )?;
                check_unit_interval("textGenerationConfig.topP", config.and_then(|c| c.top_p))?;
                Ok(Prepared {
                    texts: vec![request.input_text.as_str()],
                    max_tokens,
                    stop_sequences: config
                        .and_then(|c| c.stop_sequences.as_deref())
                        .unwrap_or_default(),
                })
            }
        }
    }

    /// The model's native response body for `completion`.
    pub fn respond(&self, model_id: &str, request_id: &str, completion: &Completion) -> Value {
        match self {
            Self::Anthropic(request) => {
                let stop_sequence = match completion.stop_reason {
                    StopReason::StopSequence => request
                        .stop_sequences
                        .iter()
                        .flatten()
                        .find(|s| !s.is_empty())
                        .map(|s| Value::String(s.clone()))
                        .unwrap_or(Value::Null),
                    _ => Value::Null,
                };
                json!({
                    "id": format!("msg_bdrk_{}", request_id.replace('-', "")),
                    "type": "message",
                    "role": "assistant",
                    "model": model_id,
                    "content": [{"type": "text", "text": completion.text}],
                    "stop_reason": completion.stop_reason.as_str(),
                    "stop_sequence": stop_sequence,
                    "usage": {
                        "input_tokens": completion.input_tokens,
                        "output_tokens": completion.output_tokens
                    }
                })
            }
            Self::Text(_) => {
                let reason = match completion.stop_reason {
                    StopReason::EndTurn => "FINISH",
                    StopReason::MaxTokens => "LENGTH",
                    StopReason::StopSequence => "STOP_CRITERIA_MET",
                };
                json!({
                    "inputTextTokenCount": completion.input_tokens,
                    "results": [{
                        "tokenCount": completion.output_tokens,
                        "outputText": completion.text,
                        "completionReason": reason
                    }]
                })
            }
        }
    }
}

fn prepare_anthropic<'r>(
    request: &'r AnthropicRequest,
    model: &SimModel,
) -> Result<Prepared<'r>, BedrockError> {
    if request.anthropic_version.as_deref() != Some(ANTHROPIC_VERSION) {
        return Err(malformed(&format!(
            "#/anthropic_version: {} is not a valid enum value (expected {ANTHROPIC_VERSION})",
            request.anthropic_version.as_deref().unwrap_or("null")
        )));
    }
    let Some(requested) = request.max_tokens else {
        return Err(malformed("#: required key [max_tokens] not found"));
    };
    let max_tokens = effective_max_tokens(Some(requested), model, "max_tokens")?;
    check_unit_interval("temperature", request.temperature)?;
    check_unit_interval("top_p", request.top_p)?;
    let messages = request.messages.as_deref().unwrap_or_default();
    if messages.is_empty() {
        return Err(BedrockError::validation(
            "messages: at least one message is required",
        ));
    }
    let mut texts = Vec::new();
    if let Some(system) = &request.system {
        push_texts(system, "system", &mut texts)?;
    }
    for (i, message) in messages.iter().enumerate() {
        if message.role != "user" && message.role != "assistant" {
            return Err(BedrockError::validation(format!(
                "messages.{i}.role: Input should be 'user' or 'assistant'"
            )));
        }
        if i == 0 && message.role != "user" {
            return Err(BedrockError::validation(
                "messages: first message must use the \"user\" role",
            ));
        }
        if i > 0 && messages[i - 1].role == message.role {
            return Err(BedrockError::validation(format!(
                "messages: roles must alternate between \"user\" and \"assistant\", but found multiple \"{}\" roles in a row",
                message.role
            )));
        }
        push_texts(
            &message.content,
            &format!("messages.{i}.content"),
            &mut texts,
        )?;
    }
    Ok(Prepared {
        texts,
        max_tokens,
        stop_sequences: request.stop_sequences.as_deref().unwrap_or_default(),
    })
}

fn push_texts<'r>(
    content: &'r AnthropicContent,
    at: &str,
    texts: &mut Vec<&'r str>,
) -> Result<(), BedrockError> {
    let blank = || BedrockError::validation(format!("{at}: text content blocks must be non-empty"));
    match content {
        AnthropicContent::Text(text) if text.trim().is_empty() => return Err(blank()),
        AnthropicContent::Text(text) => texts.push(text),
        AnthropicContent::Blocks(blocks) => {
            if blocks.is_empty() {
                return Err(BedrockError::validation(format!(
                    "{at}: at least one content block is required"
                )));
            }
            for block in blocks {
                match (block.kind.as_str(), block.text.as_deref()) {
                    ("text", Some(text)) if !text.trim().is_empty() => texts.push(text),
                    ("text", _) => return Err(blank()),
                    (kind, _) => {
                        return Err(BedrockError::validation(format!(
                            "{at}: the simulator supports only text blocks, not `{kind}`"
                        )));
                    }
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model() -> SimModel {
        SimModel {
            max_output_tokens: 100,
            ..SimModel::default()
        }
    }

    fn parse(body: Value) -> Result<InvokeBody, BedrockError> {
        InvokeBody::parse(
            body.to_string().as_bytes(),
            "anthropic.claude-3-haiku-20240307-v1:0",
        )
    }

    #[test]
    fn an_anthropic_body_counts_system_and_every_message() {
        let body = parse(json!({
            "anthropic_version": ANTHROPIC_VERSION,
            "max_tokens": 10,
            "system": "be brief",
            "messages": [
                {"role": "user", "content": "hello"},
                {"role": "assistant", "content": [{"type": "text", "text": "hi"}]},
                {"role": "user", "content": [{"type": "text", "text": "again"}]}
            ]
        }))
        .unwrap();
        let prepared = body.prepare(&model()).unwrap();
        assert_eq!(prepared.texts, ["be brief", "hello", "hi", "again"]);
        assert_eq!(prepared.max_tokens, 10);
    }

    #[test]
    fn anthropic_bodies_are_checked_like_bedrock() {
        let base = |extra: Value| {
            let mut body = json!({
                "anthropic_version": ANTHROPIC_VERSION,
                "max_tokens": 10,
                "messages": [{"role": "user", "content": "x"}]
            });
            for (k, v) in extra.as_object().unwrap() {
                body[k] = v.clone();
            }
            body
        };
        let cases = [
            (
                base(json!({"anthropic_version": "2023-06-01"})),
                "anthropic_version",
            ),
            (
                base(json!({"max_tokens": null})),
                "required key [max_tokens]",
            ),
            (base(json!({"max_tokens": 101})), "model limit of 100"),
            (base(json!({"temperature": 2.0})), "temperature"),
            (base(json!({"messages": []})), "at least one message"),
            (
                base(json!({"messages": [{"role": "assistant", "content": "x"}]})),
                "first message",
            ),
            (
                base(json!({"messages": [{"role": "user", "content": [{"type": "image"}]}]})),
                "only text",
            ),
        ];
        for (body, expected) in cases {
            let err = parse(body.clone())
                .and_then(|b| b.prepare(&model()).map(|_| ()))
                .unwrap_err();
            assert!(err.message.contains(expected), "{body}: {}", err.message);
        }
        let err = parse(json!({"messages": []})).unwrap_err();
        assert!(err.message.contains("anthropic_version"), "{}", err.message);
    }

    #[test]
    fn a_text_body_defaults_to_the_model_maximum() {
        let body = InvokeBody::parse(
            br#"{"inputText": "hello there"}"#,
            "amazon.titan-text-lite-v1",
        )
        .unwrap();
        let prepared = body.prepare(&model()).unwrap();
        assert_eq!(
            (prepared.texts, prepared.max_tokens),
            (vec!["hello there"], 100)
        );
        let err =
            InvokeBody::parse(br#"{"prompt": "x"}"#, "amazon.titan-text-lite-v1").unwrap_err();
        assert!(err.message.contains("inputText"), "{}", err.message);
    }
}
