//! Shared set-up for the simulator's tests: a real SDK client pointed at a spawned simulator.

#![allow(dead_code, clippy::unwrap_used)]

use aws_sdk_bedrockruntime::Client;
use aws_sdk_bedrockruntime::config::retry::RetryConfig;
use aws_sdk_bedrockruntime::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_bedrockruntime::operation::converse::builders::ConverseFluentBuilder;
use aws_sdk_bedrockruntime::types::{
    ContentBlock, ConversationRole, InferenceConfiguration, Message,
};
use bedrock_sim::SimHandle;

pub const HAIKU: &str = "anthropic.claude-3-haiku-20240307-v1:0";
pub const SONNET_ON_DEMAND: &str = "anthropic.claude-sonnet-4-20250514-v1:0";
pub const SONNET_US: &str = "us.anthropic.claude-sonnet-4-20250514-v1:0";
pub const SONNET_EU: &str = "eu.anthropic.claude-sonnet-4-20250514-v1:0";

/// An SDK client signing for `region` and calling the simulator, with retries off so that every
/// error reaches the test.
pub fn client(sim: &SimHandle, region: &str) -> Client {
    let config = aws_sdk_bedrockruntime::config::Builder::new()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region.to_owned()))
        .endpoint_url(sim.url())
        .credentials_provider(Credentials::new("test", "test", None, None, "test"))
        .retry_config(RetryConfig::disabled())
        .build();
    Client::from_conf(config)
}

/// A user message holding `text`.
pub fn user(text: &str) -> Message {
    Message::builder()
        .role(ConversationRole::User)
        .content(ContentBlock::Text(text.to_owned()))
        .build()
        .unwrap()
}

/// A Converse call of `model_id` with one user message.
pub fn converse(client: &Client, model_id: &str, text: &str) -> ConverseFluentBuilder {
    client.converse().model_id(model_id).messages(user(text))
}

/// Inference settings with only `maxTokens`.
pub fn max_tokens(n: i32) -> InferenceConfiguration {
    InferenceConfiguration::builder().max_tokens(n).build()
}
