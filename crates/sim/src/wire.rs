//! Bedrock Runtime's JSON shapes, as the AWS SDK serializes requests and parses responses
//! (restJson1, camelCase keys). Only what the simulator reads or writes is modelled; unknown
//! request fields are ignored, as a newer SDK may send fields the simulator has no use for.

use serde::{Deserialize, Serialize};

/// The body of `POST /model/{modelId}/converse`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConverseRequest {
    /// The conversation; Bedrock requires it, the simulator reports its absence itself.
    #[serde(default)]
    pub messages: Option<Vec<Message>>,
    /// System prompts.
    #[serde(default)]
    pub system: Option<Vec<SystemBlock>>,
    /// Inference settings.
    #[serde(default)]
    pub inference_config: Option<InferenceConfig>,
}

/// One turn of the conversation.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Message {
    /// `user` or `assistant`; kept as text so that a wrong role is a validation error, not a
    /// parse error.
    pub role: String,
    #[serde(default)]
    pub content: Vec<ContentBlock>,
}

/// A content block. Only text is simulated; a block without `text` is another kind (image,
/// document, tool use, ...) and is refused by validation.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ContentBlock {
    #[serde(default)]
    pub text: Option<String>,
}

/// A system content block; only text is simulated.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct SystemBlock {
    #[serde(default)]
    pub text: Option<String>,
}

/// `inferenceConfig`. Numbers are wide so that out-of-range values are validation errors with
/// Bedrock's messages rather than parse errors.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InferenceConfig {
    #[serde(default)]
    pub max_tokens: Option<i64>,
    #[serde(default)]
    pub temperature: Option<f64>,
    #[serde(default)]
    pub top_p: Option<f64>,
    #[serde(default)]
    pub stop_sequences: Option<Vec<String>>,
}

/// A successful Converse response.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConverseResponse {
    pub output: Output,
    pub stop_reason: StopReason,
    pub usage: TokenUsage,
    pub metrics: Metrics,
}

/// `output`: a union of which only `message` exists today.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Output {
    pub message: OutputMessage,
}

/// The assistant's reply.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutputMessage {
    /// Always `assistant`.
    pub role: &'static str,
    pub content: Vec<OutputText>,
}

/// A text content block of the reply.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutputText {
    pub text: String,
}

/// Why generation stopped, in Bedrock's spelling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// The model finished on its own.
    EndTurn,
    /// `maxTokens` cut it short.
    MaxTokens,
    /// A stop sequence appeared.
    StopSequence,
}

impl StopReason {
    /// Bedrock's spelling, e.g. `end_turn`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::EndTurn => "end_turn",
            Self::MaxTokens => "max_tokens",
            Self::StopSequence => "stop_sequence",
        }
    }
}

/// `usage`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenUsage {
    pub input_tokens: u32,
    pub output_tokens: u32,
    pub total_tokens: u32,
}

/// `metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Metrics {
    pub latency_ms: u64,
}

/// The body of every error response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ErrorBody {
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_response_serializes_in_bedrock_shape() {
        let response = ConverseResponse {
            output: Output {
                message: OutputMessage {
                    role: "assistant",
                    content: vec![OutputText { text: "hi".into() }],
                },
            },
            stop_reason: StopReason::MaxTokens,
            usage: TokenUsage {
                input_tokens: 1,
                output_tokens: 2,
                total_tokens: 3,
            },
            metrics: Metrics { latency_ms: 7 },
        };
        assert_eq!(
            serde_json::to_value(&response).unwrap(),
            json!({
                "output": {"message": {"role": "assistant", "content": [{"text": "hi"}]}},
                "stopReason": "max_tokens",
                "usage": {"inputTokens": 1, "outputTokens": 2, "totalTokens": 3},
                "metrics": {"latencyMs": 7}
            })
        );
    }

    #[test]
    fn a_request_parses_from_sdk_json() {
        let request: ConverseRequest = serde_json::from_value(json!({
            "messages": [{"role": "user", "content": [{"text": "hello"}]}],
            "system": [{"text": "be brief"}],
            "inferenceConfig": {"maxTokens": 10, "temperature": 0.5, "topP": 0.9, "stopSequences": ["x"]},
            "requestMetadata": {"k": "v"}
        }))
        .unwrap();
        let config = request.inference_config.unwrap();
        assert_eq!(config.max_tokens, Some(10));
        assert_eq!(config.top_p, Some(0.9));
        assert_eq!(
            request.messages.unwrap()[0].content[0].text.as_deref(),
            Some("hello")
        );
    }
}
