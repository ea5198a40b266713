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

/// A scenario with one model, `TEST_MODEL` (max 1,000 output tokens, burndown `burndown`), in
/// us-east-1 and us-west-2, with `quota` on the us-east-1 bucket.
pub fn one_model(burndown: u32, quota: bedrock_sim::QuotaConfig) -> bedrock_sim::SimConfig {
    use std::collections::BTreeMap;
    let model = bedrock_sim::SimModel {
        max_output_tokens: 1_000,
        output_burndown: burndown,
        requires_inference_profile: false,
    };
    let region = || bedrock_sim::RegionConfig {
        models: BTreeMap::from([(TEST_MODEL.to_owned(), model.clone())]),
    };
    bedrock_sim::SimConfig {
        regions: BTreeMap::from([
            ("us-east-1".to_owned(), region()),
            ("us-west-2".to_owned(), region()),
        ]),
        quotas: BTreeMap::from([(
            "us-east-1".to_owned(),
            BTreeMap::from([(TEST_MODEL.to_owned(), quota)]),
        )]),
        ..bedrock_sim::SimConfig::default()
    }
}

pub const TEST_MODEL: &str = "vendor.test-model-v1:0";

/// A prompt of exactly `tokens` estimated tokens.
pub fn prompt_of(tokens: usize) -> String {
    "x".repeat(tokens * 4)
}

/// The control API's URL for `path` (which starts with `/_sim/`).
pub fn control(sim: &SimHandle, path: &str) -> String {
    format!("{}{path}", sim.url())
}
