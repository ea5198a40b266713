//! Conversions between the domain's request and result types and the Bedrock Runtime SDK's
//! Converse types, and the classification of the SDK's errors into [`InvokeErrorKind`].

use aws_sdk_bedrockruntime::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_bedrockruntime::operation::converse::{ConverseError, ConverseOutput as SdkOutput};
use aws_sdk_bedrockruntime::types::{
    self as sdk, ConversationRole, InferenceConfiguration, SystemContentBlock,
};
use bedrock_lb_core::{ConverseOutput, InvokeError, InvokeErrorKind, JobRequest, Role, Usage};

/// The system prompt as Converse system blocks.
pub(super) fn system(request: &JobRequest) -> Option<Vec<SystemContentBlock>> {
    request
        .system
        .as_ref()
        .map(|text| vec![SystemContentBlock::Text(text.clone())])
}

/// The conversation as Converse messages.
pub(super) fn messages(request: &JobRequest) -> Result<Vec<sdk::Message>, InvokeError> {
    request
        .messages
        .iter()
        .map(|message| {
            let role = match message.role {
                Role::User => ConversationRole::User,
                Role::Assistant => ConversationRole::Assistant,
            };
            let content = message
                .content
                .iter()
                .map(|block| sdk::ContentBlock::Text(block.text.clone()))
                .collect();
            sdk::Message::builder()
                .role(role)
                .set_content(Some(content))
                .build()
                .map_err(|e| InvokeError::new(InvokeErrorKind::Validation, e.to_string()))
        })
        .collect()
}

/// The inference settings, or `None` when none is set (Bedrock's defaults apply).
pub(super) fn inference(request: &JobRequest) -> Option<InferenceConfiguration> {
    let settings = &request.inference;
    let unset = settings.max_tokens.is_none()
        && settings.temperature.is_none()
        && settings.top_p.is_none()
        && settings.stop_sequences.is_empty();
    if unset {
        return None;
    }
    Some(
        InferenceConfiguration::builder()
            .set_max_tokens(
                settings
                    .max_tokens
                    .map(|n| i32::try_from(n).unwrap_or(i32::MAX)),
            )
            .set_temperature(settings.temperature)
            .set_top_p(settings.top_p)
            .set_stop_sequences(
                (!settings.stop_sequences.is_empty()).then(|| settings.stop_sequences.clone()),
            )
            .build(),
    )
}

/// The domain's view of a successful answer; `wall_ms` stands in when Bedrock reports no
/// latency.
pub(super) fn output(out: &SdkOutput, wall_ms: u64) -> Result<ConverseOutput, InvokeError> {
    let message = out
        .output()
        .and_then(|o| o.as_message().ok())
        .ok_or_else(|| {
            InvokeError::new(
                InvokeErrorKind::Transport,
                "Converse answered without a message",
            )
        })?;
    let text: String = message
        .content()
        .iter()
        .filter_map(|block| block.as_text().ok())
        .map(String::as_str)
        .collect();
    let count = |n: i32| u32::try_from(n).unwrap_or(0);
    let usage = out
        .usage()
        .map(|u| Usage {
            input_tokens: count(u.input_tokens()),
            output_tokens: count(u.output_tokens()),
            total_tokens: count(u.total_tokens()),
        })
        .unwrap_or_default();
    let latency_ms = out
        .metrics()
        .and_then(|m| u64::try_from(m.latency_ms()).ok())
        .unwrap_or(wall_ms);
    Ok(ConverseOutput {
        text,
        stop_reason: out.stop_reason().as_str().to_owned(),
        usage,
        latency_ms,
    })
}

/// Classifies a failed Converse call. Bedrock's modelled errors map one to one; an unmodelled
/// error answer is classified by its HTTP status where that is unambiguous; anything that is
/// not an answer from Bedrock (connection, timeout, unparseable response) is `Transport`.
pub(super) fn classify(err: SdkError<ConverseError>) -> InvokeError {
    let status = err.raw_response().map(|r| r.status().as_u16());
    let Some(service_err) = err.as_service_error() else {
        return InvokeError::new(
            InvokeErrorKind::Transport,
            DisplayErrorContext(&err).to_string(),
        );
    };
    let message = service_err
        .message()
        .map(str::to_owned)
        .unwrap_or_else(|| DisplayErrorContext(&err).to_string());
    let kind = if service_err.is_throttling_exception() {
        InvokeErrorKind::Throttling
    } else if service_err.is_model_not_ready_exception() {
        InvokeErrorKind::ModelNotReady
    } else if service_err.is_service_unavailable_exception() {
        InvokeErrorKind::ServiceUnavailable
    } else if service_err.is_internal_server_exception() {
        InvokeErrorKind::InternalServer
    } else if service_err.is_model_timeout_exception() {
        InvokeErrorKind::ModelTimeout
    } else if service_err.is_access_denied_exception() {
        InvokeErrorKind::AccessDenied
    } else if service_err.is_resource_not_found_exception() {
        InvokeErrorKind::ResourceNotFound
    } else if service_err.is_validation_exception() {
        InvokeErrorKind::from_validation_message(&message)
    } else if service_err.is_model_error_exception() {
        InvokeErrorKind::ModelError
    } else {
        match status {
            Some(429) => InvokeErrorKind::Throttling,
            Some(500) => InvokeErrorKind::InternalServer,
            Some(503) => InvokeErrorKind::ServiceUnavailable,
            Some(408) => InvokeErrorKind::ModelTimeout,
            _ => InvokeErrorKind::Transport,
        }
    };
    let message = match service_err.code() {
        Some(code) if kind == InvokeErrorKind::Transport => format!("{code}: {message}"),
        _ => message,
    };
    InvokeError::new(kind, message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bedrock_lb_core::{ContentBlock, InferenceConfig, Message};

    fn request(inference: InferenceConfig) -> JobRequest {
        JobRequest {
            model: "m".into(),
            system: Some("be brief".into()),
            messages: vec![
                Message {
                    role: Role::User,
                    content: vec![ContentBlock { text: "hi".into() }],
                },
                Message {
                    role: Role::Assistant,
                    content: vec![ContentBlock {
                        text: "hello".into(),
                    }],
                },
            ],
            inference,
            metadata: None,
            deadline: None,
        }
    }

    #[test]
    fn only_the_settings_given_are_sent() {
        assert!(inference(&request(InferenceConfig::default())).is_none());
        let config = inference(&request(InferenceConfig {
            max_tokens: Some(50),
            temperature: Some(0.5),
            ..InferenceConfig::default()
        }))
        .unwrap();
        assert_eq!(config.max_tokens(), Some(50));
        assert_eq!(config.temperature(), Some(0.5));
        assert_eq!(config.top_p(), None);
        assert!(config.stop_sequences().is_empty());
    }

    #[test]
    fn roles_and_system_carry_over() {
        let req = request(InferenceConfig::default());
        let msgs = messages(&req).unwrap();
        assert_eq!(msgs[0].role(), &ConversationRole::User);
        assert_eq!(msgs[1].role(), &ConversationRole::Assistant);
        assert_eq!(
            msgs[1].content()[0].as_text().ok().map(String::as_str),
            Some("hello")
        );
        assert_eq!(system(&req).map(|s| s.len()), Some(1));
    }
}
