//! The simulator's shared state and its one operation so far, Converse, apart from HTTP.
//!
//! [`Simulator`] is what every request handler shares (behind an `Arc`). It owns the scenario
//! now; the per-bucket state that quotas and faults need (token ledgers, request counters,
//! injected faults, statistics) will live here too, keyed by region and model.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bedrock_lb_core::tokens::estimate_tokens;

use crate::config::{SimConfig, SimModel};
use crate::error::BedrockError;
use crate::generate::{GenerationInput, generate};
use crate::wire::{
    ConverseRequest, ConverseResponse, Metrics, Output, OutputMessage, OutputText, TokenUsage,
};

/// The state shared by all requests to one simulator.
#[derive(Debug)]
pub struct Simulator {
    /// The scenario being simulated.
    config: SimConfig,
    /// Counts requests, to give each response a distinct request id.
    requests: AtomicU64,
}

/// A validated Converse call: the texts and the effective settings.
#[derive(Debug)]
struct Checked<'r> {
    texts: Vec<&'r str>,
    max_tokens: u32,
    stop_sequences: &'r [String],
}

impl Simulator {
    /// A simulator for `config`.
    pub fn new(config: SimConfig) -> Self {
        Self {
            config,
            requests: AtomicU64::new(0),
        }
    }

    /// The scenario being simulated.
    pub fn config(&self) -> &SimConfig {
        &self.config
    }

    /// A fresh request id in UUID form, for the `x-amzn-RequestId` header.
    pub fn next_request_id(&self) -> String {
        let n = self.requests.fetch_add(1, Ordering::Relaxed);
        format!("5157b3d0-0000-4000-8000-{:012x}", n & 0xffff_ffff_ffff)
    }

    /// Answers a Converse call to `model_id` in `region` the way Bedrock would: checks access
    /// and the request, waits the simulated latency, and returns a synthetic completion.
    pub async fn converse(
        &self,
        region: &str,
        model_id: &str,
        request: &ConverseRequest,
    ) -> Result<ConverseResponse, BedrockError> {
        let model = self
            .config
            .model(region, model_id)
            .ok_or_else(BedrockError::access_denied)?;
        if model.requires_inference_profile {
            return Err(BedrockError::on_demand_not_supported(model_id));
        }
        let checked = check_request(request, model)?;
        let input_tokens = estimate_tokens(&checked.texts.concat());
        let generation = generate(&GenerationInput {
            seed: self.config.seed,
            model_id,
            texts: &checked.texts,
            max_tokens: checked.max_tokens,
            stop_sequences: checked.stop_sequences,
        });
        let latency = &self.config.latency;
        let latency_ms = latency.first_token_ms.saturating_add(
            latency
                .per_output_token_ms
                .saturating_mul(u64::from(generation.output_tokens)),
        );
        if latency_ms > 0 {
            tokio::time::sleep(Duration::from_millis(latency_ms)).await;
        }
        Ok(ConverseResponse {
            output: Output {
                message: OutputMessage {
                    role: "assistant",
                    content: vec![OutputText {
                        text: generation.text,
                    }],
                },
            },
            stop_reason: generation.stop_reason,
            usage: TokenUsage {
                input_tokens,
                output_tokens: generation.output_tokens,
                total_tokens: input_tokens.saturating_add(generation.output_tokens),
            },
            metrics: Metrics { latency_ms },
        })
    }
}

/// Bedrock's checks of a Converse body, answered with messages in Bedrock's style.
fn check_request<'r>(
    request: &'r ConverseRequest,
    model: &SimModel,
) -> Result<Checked<'r>, BedrockError> {
    let messages = request.messages.as_deref().unwrap_or_default();
    if messages.is_empty() {
        return Err(BedrockError::validation(
            "The messages field is missing or empty. Add at least one message with the user role, and try again.",
        ));
    }
    let mut texts = Vec::new();
    for block in request.system.iter().flatten() {
        match block.text.as_deref() {
            Some(text) if !text.trim().is_empty() => texts.push(text),
            Some(_) => {
                return Err(BedrockError::validation(
                    "The text field in a system content block is blank. Add text to the text field, and try again.",
                ));
            }
            None => {
                return Err(BedrockError::validation(
                    "The simulator supports only text system content blocks.",
                ));
            }
        }
    }
    for (i, message) in messages.iter().enumerate() {
        if message.role != "user" && message.role != "assistant" {
            return Err(BedrockError::validation(format!(
                "Value '{}' at 'messages.{i}.member.role' failed to satisfy constraint: \
                 Member must satisfy enum value set: [user, assistant]",
                message.role
            )));
        }
        if i == 0 && message.role != "user" {
            return Err(BedrockError::validation(
                "A conversation must start with a user message. Try again with a conversation that starts with a user message.",
            ));
        }
        if i > 0 && messages[i - 1].role == message.role {
            return Err(BedrockError::validation(
                "A conversation must alternate between user and assistant roles. Make sure the conversation alternates between user and assistant roles and try again.",
            ));
        }
        if message.content.is_empty() {
            return Err(BedrockError::validation(format!(
                "The content field in the Message object at messages.{i} is empty. Add a ContentBlock object to the content field and try again."
            )));
        }
        for (j, block) in message.content.iter().enumerate() {
            match block.text.as_deref() {
                Some(text) if !text.trim().is_empty() => texts.push(text),
                Some(_) => {
                    return Err(BedrockError::validation(format!(
                        "The text field in the ContentBlock object at messages.{i}.content.{j} is blank. Add text to the text field, and try again."
                    )));
                }
                None => {
                    return Err(BedrockError::validation(format!(
                        "The simulator supports only text content blocks; messages.{i}.content.{j} is another kind."
                    )));
                }
            }
        }
    }
    let config = request.inference_config.as_ref();
    let max_tokens = match config.and_then(|c| c.max_tokens) {
        None => model.max_output_tokens,
        Some(n) if n < 1 => {
            return Err(BedrockError::validation(format!(
                "1 validation error detected: Value '{n}' at 'inferenceConfig.maxTokens' failed to satisfy constraint: Member must have value greater than or equal to 1"
            )));
        }
        Some(n) => match u32::try_from(n) {
            Ok(n) if n <= model.max_output_tokens => n,
            _ => {
                let max = model.max_output_tokens;
                return Err(BedrockError::validation(format!(
                    "The maximum tokens you requested ({n}) exceeds the model limit of {max}. Try again with a maximum tokens value that is lower than {max}."
                )));
            }
        },
    };
    check_unit_interval(
        "inferenceConfig.temperature",
        config.and_then(|c| c.temperature),
    )?;
    check_unit_interval("inferenceConfig.topP", config.and_then(|c| c.top_p))?;
    let stop_sequences = config
        .and_then(|c| c.stop_sequences.as_deref())
        .unwrap_or_default();
    Ok(Checked {
        texts,
        max_tokens,
        stop_sequences,
    })
}

/// Temperature and topP must lie in 0..=1.
fn check_unit_interval(field: &str, value: Option<f64>) -> Result<(), BedrockError> {
    match value {
        Some(v) if v < 0.0 => Err(BedrockError::validation(format!(
            "1 validation error detected: Value '{v}' at '{field}' failed to satisfy constraint: Member must have value greater than or equal to 0"
        ))),
        Some(v) if v > 1.0 || v.is_nan() => Err(BedrockError::validation(format!(
            "1 validation error detected: Value '{v}' at '{field}' failed to satisfy constraint: Member must have value less than or equal to 1"
        ))),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::StopReason;
    use serde_json::json;

    fn request(body: serde_json::Value) -> ConverseRequest {
        serde_json::from_value(body).unwrap()
    }

    fn sim() -> Simulator {
        Simulator::new(SimConfig::sample())
    }

    const HAIKU: &str = "anthropic.claude-3-haiku-20240307-v1:0";

    #[tokio::test]
    async fn input_tokens_cover_system_and_messages() {
        let body = request(json!({
            "system": [{"text": "abcd"}],
            "messages": [
                {"role": "user", "content": [{"text": "abcdefgh"}]},
                {"role": "assistant", "content": [{"text": "ab"}]},
                {"role": "user", "content": [{"text": "cd"}]}
            ],
            "inferenceConfig": {"maxTokens": 5}
        }));
        let response = sim().converse("us-east-1", HAIKU, &body).await.unwrap();
        assert_eq!(response.usage.input_tokens, 4);
        assert_eq!(response.usage.output_tokens, 5);
        assert_eq!(response.stop_reason, StopReason::MaxTokens);
        assert_eq!(response.metrics.latency_ms, 0);
    }

    #[tokio::test(start_paused = true)]
    async fn latency_follows_the_output_length() {
        let mut config = SimConfig::sample();
        config.latency.first_token_ms = 100;
        config.latency.per_output_token_ms = 10;
        let sim = Simulator::new(config);
        let body = request(json!({"messages": [{"role": "user", "content": [{"text": "hi"}]}]}));
        let start = tokio::time::Instant::now();
        let response = sim.converse("us-east-1", HAIKU, &body).await.unwrap();
        let expected = 100 + 10 * u64::from(response.usage.output_tokens);
        assert_eq!(response.metrics.latency_ms, expected);
        assert_eq!(start.elapsed(), Duration::from_millis(expected));
    }

    #[tokio::test]
    async fn conversations_are_checked_like_bedrock() {
        let cases = [
            (json!({}), "messages field is missing"),
            (
                json!({"messages": [{"role": "assistant", "content": [{"text": "x"}]}]}),
                "start with a user",
            ),
            (
                json!({"messages": [
                    {"role": "user", "content": [{"text": "x"}]},
                    {"role": "user", "content": [{"text": "y"}]}
                ]}),
                "alternate",
            ),
            (
                json!({"messages": [{"role": "robot", "content": [{"text": "x"}]}]}),
                "enum value set",
            ),
            (
                json!({"messages": [{"role": "user", "content": []}]}),
                "messages.0 is empty",
            ),
            (
                json!({"messages": [{"role": "user", "content": [{"text": " "}]}]}),
                "messages.0.content.0 is blank",
            ),
            (
                json!({"messages": [{"role": "user", "content": [{"image": {}}]}]}),
                "only text",
            ),
            (
                json!({"messages": [{"role": "user", "content": [{"text": "x"}]}], "inferenceConfig": {"maxTokens": 0}}),
                "greater than or equal to 1",
            ),
            (
                json!({"messages": [{"role": "user", "content": [{"text": "x"}]}], "inferenceConfig": {"maxTokens": 4097}}),
                "model limit of 4096",
            ),
            (
                json!({"messages": [{"role": "user", "content": [{"text": "x"}]}], "inferenceConfig": {"topP": -0.5}}),
                "inferenceConfig.topP",
            ),
        ];
        for (body, expected) in cases {
            let err = sim()
                .converse("us-east-1", HAIKU, &request(body.clone()))
                .await
                .unwrap_err();
            assert_eq!(
                err.kind,
                crate::error::BedrockErrorKind::Validation,
                "{body}"
            );
            assert!(err.message.contains(expected), "{body}: {}", err.message);
        }
    }
}
