//! Converse through the real AWS SDK: responses parse, usage adds up, answers are
//! deterministic, and the signing region picks what is served.

#![allow(clippy::unwrap_used)]

mod common;

use aws_sdk_bedrockruntime::types::{StopReason, SystemContentBlock};
use bedrock_lb_core::tokens::estimate_tokens;
use bedrock_sim::SimConfig;
use common::*;

fn text_of(output: &aws_sdk_bedrockruntime::operation::converse::ConverseOutput) -> String {
    let message = output.output().unwrap().as_message().unwrap();
    assert_eq!(message.role().as_str(), "assistant");
    message.content()[0].as_text().unwrap().clone()
}

#[tokio::test]
async fn a_converse_response_parses_with_consistent_usage() {
    let sim = bedrock_sim::spawn(SimConfig::sample()).await.unwrap();
    let client = client(&sim, "us-east-1");
    let output = converse(&client, HAIKU, "Tell me about quotas.")
        .system(SystemContentBlock::Text("Be brief.".into()))
        .send()
        .await
        .unwrap();
    let text = text_of(&output);
    assert!(!text.is_empty());
    let usage = output.usage().unwrap();
    assert_eq!(
        usage.input_tokens(),
        estimate_tokens("Be brief.Tell me about quotas.") as i32
    );
    assert_eq!(usage.output_tokens(), estimate_tokens(&text) as i32);
    assert_eq!(
        usage.total_tokens(),
        usage.input_tokens() + usage.output_tokens()
    );
    assert_eq!(output.stop_reason(), &StopReason::EndTurn);
    assert!((20..=300).contains(&usage.output_tokens()));
    assert_eq!(output.metrics().unwrap().latency_ms(), 0);
    sim.shutdown().await;
}

#[tokio::test]
async fn max_tokens_caps_the_output_and_says_so() {
    let sim = bedrock_sim::spawn(SimConfig::sample()).await.unwrap();
    let client = client(&sim, "us-west-2");
    let output = converse(&client, HAIKU, "Write a long essay.")
        .inference_config(max_tokens(7))
        .send()
        .await
        .unwrap();
    assert_eq!(output.usage().unwrap().output_tokens(), 7);
    assert_eq!(output.stop_reason(), &StopReason::MaxTokens);
    sim.shutdown().await;
}

#[tokio::test]
async fn the_same_request_gets_the_same_text() {
    let sim = bedrock_sim::spawn(SimConfig::sample()).await.unwrap();
    let client = client(&sim, "us-east-1");
    let first = converse(&client, HAIKU, "Same question")
        .send()
        .await
        .unwrap();
    let second = converse(&client, HAIKU, "Same question")
        .send()
        .await
        .unwrap();
    let other = converse(&client, HAIKU, "Other question")
        .send()
        .await
        .unwrap();
    assert_eq!(text_of(&first), text_of(&second));
    assert_ne!(text_of(&first), text_of(&other));
    // Another simulator with the same scenario answers alike, too.
    let again = bedrock_sim::spawn(SimConfig::sample()).await.unwrap();
    let third = converse(&common::client(&again, "us-east-1"), HAIKU, "Same question")
        .send()
        .await
        .unwrap();
    assert_eq!(text_of(&first), text_of(&third));
}

#[tokio::test]
async fn the_signing_region_decides_what_is_served() {
    let sim = bedrock_sim::spawn(SimConfig::sample()).await.unwrap();
    let from_us = converse(&client(&sim, "us-east-1"), SONNET_EU, "hi")
        .send()
        .await;
    let err = from_us.unwrap_err().into_service_error();
    assert!(err.is_access_denied_exception(), "{err:?}");
    let from_eu = converse(&client(&sim, "eu-west-1"), SONNET_EU, "hi")
        .send()
        .await;
    assert!(!text_of(&from_eu.unwrap()).is_empty());
    let unknown_region = converse(&client(&sim, "ap-south-1"), HAIKU, "hi")
        .send()
        .await;
    assert!(
        unknown_region
            .unwrap_err()
            .into_service_error()
            .is_access_denied_exception()
    );
}

#[tokio::test]
async fn inference_profile_ids_and_arns_pass_through_percent_encoding() {
    let sim = bedrock_sim::spawn(SimConfig::sample()).await.unwrap();
    let client = client(&sim, "us-east-1");
    let by_id = converse(&client, SONNET_US, "profile")
        .send()
        .await
        .unwrap();
    let arn = format!("arn:aws:bedrock:us-east-1:123456789012:inference-profile/{SONNET_US}");
    let by_arn = converse(&client, &arn, "profile").send().await.unwrap();
    assert!(!text_of(&by_id).is_empty());
    assert!(!text_of(&by_arn).is_empty());
    // A profile's maximum is the model's (64000), not the default.
    let big = converse(&client, &arn, "profile")
        .inference_config(max_tokens(64_000))
        .send()
        .await;
    assert!(big.is_ok(), "{big:?}");
}

#[tokio::test]
async fn an_arn_configured_as_a_key_is_found_as_is() {
    let arn = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc123";
    let scenario =
        format!("seed = 1\n[regions.us-east-1.models.\"{arn}\"]\nmax_output_tokens = 100\n");
    let sim = bedrock_sim::spawn(SimConfig::from_toml_str(&scenario).unwrap())
        .await
        .unwrap();
    let output = converse(&client(&sim, "us-east-1"), arn, "hello")
        .send()
        .await
        .unwrap();
    assert!(output.usage().unwrap().output_tokens() <= 100);
}

#[tokio::test]
async fn an_arn_with_its_slash_percent_encoded_is_one_path_segment() {
    // What the SDK puts on the wire: `:` as %3A and the ARN's `/` as %2F.
    let sim = bedrock_sim::spawn(SimConfig::sample()).await.unwrap();
    let encoded = "arn%3Aaws%3Abedrock%3Aeu-west-1%3A123456789012%3Ainference-profile%2Feu.anthropic.claude-sonnet-4-20250514-v1%3A0";
    let response = reqwest::Client::new()
        .post(format!("{}/model/{encoded}/converse", sim.url()))
        .header("host", "bedrock-runtime.eu-west-1.amazonaws.com")
        .body(r#"{"messages":[{"role":"user","content":[{"text":"hi"}]}]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
}

#[tokio::test]
async fn a_shut_down_simulator_stops_answering() {
    let sim = bedrock_sim::spawn(SimConfig::sample()).await.unwrap();
    let url = sim.url();
    assert!(url.starts_with("http://127.0.0.1:"));
    assert_eq!(url, format!("http://{}", sim.addr()));
    sim.shutdown().await;
    let after = reqwest::Client::new()
        .get(format!("{url}/nowhere"))
        .send()
        .await;
    assert!(after.is_err(), "{after:?}");
}
