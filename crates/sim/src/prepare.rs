//! Checking a request the way Bedrock does, and reducing it to what the simulation needs.
//!
//! Both operations (Converse and InvokeModel with its model-specific bodies) end in a
//! [`Prepared`] call: the texts that count as input, the effective output cap and the stop
//! sequences. Messages follow Bedrock's wording, so a caller sees the same ValidationException.

use crate::config::SimModel;
use crate::error::BedrockError;
use crate::wire::ConverseRequest;

/// A validated call, whatever its operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prepared<'r> {
    /// Every system and message text, in order; the input tokens are estimated from them.
    pub texts: Vec<&'r str>,
    /// The output cap, which is also what admission reserves beside the input.
    pub max_tokens: u32,
    /// Sequences that end generation.
    pub stop_sequences: &'r [String],
}

/// The output cap of a call: the model's maximum when unset, else a value in `1..=max`.
pub fn effective_max_tokens(
    requested: Option<i64>,
    model: &SimModel,
    field: &str,
) -> Result<u32, BedrockError> {
    match requested {
        None => Ok(model.max_output_tokens),
        Some(n) if n < 1 => Err(BedrockError::validation(format!(
            "1 validation error detected: Value '{n}' at '{field}' failed to satisfy constraint: Member must have value greater than or equal to 1"
        ))),
        Some(n) => match u32::try_from(n) {
            Ok(n) if n <= model.max_output_tokens => Ok(n),
            _ => {
                let max = model.max_output_tokens;
                Err(BedrockError::validation(format!(
                    "The maximum tokens you requested ({n}) exceeds the model limit of {max}. Try again with a maximum tokens value that is lower than {max}."
                )))
            }
        },
    }
}

/// Bedrock's checks of a Converse body, answered with messages in Bedrock's style.
pub fn check_converse<'r>(
    request: &'r ConverseRequest,
    model: &SimModel,
) -> Result<Prepared<'r>, BedrockError> {
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
    let max_tokens = effective_max_tokens(
        config.and_then(|c| c.max_tokens),
        model,
        "inferenceConfig.maxTokens",
    )?;
    check_unit_interval(
        "inferenceConfig.temperature",
        config.and_then(|c| c.temperature),
    )?;
    check_unit_interval("inferenceConfig.topP", config.and_then(|c| c.top_p))?;
    let stop_sequences = config
        .and_then(|c| c.stop_sequences.as_deref())
        .unwrap_or_default();
    Ok(Prepared {
        texts,
        max_tokens,
        stop_sequences,
    })
}

/// Temperature and topP must lie in 0..=1.
pub(crate) fn check_unit_interval(field: &str, value: Option<f64>) -> Result<(), BedrockError> {
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
