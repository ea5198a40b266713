//! Bedrock's errors as the SDK sees them, and on the raw wire.

#![allow(clippy::unwrap_used)]

mod common;

use aws_sdk_bedrockruntime::error::ProvideErrorMetadata;
use aws_sdk_bedrockruntime::types::InferenceConfiguration;
use bedrock_sim::SimConfig;
use common::*;

#[tokio::test]
async fn validation_errors_reach_the_sdk_with_their_message() {
    let sim = bedrock_sim::spawn(SimConfig::sample()).await.unwrap();
    let client = client(&sim, "us-east-1");
    let cases = [
        (max_tokens(4097), "model limit of 4096"),
        (max_tokens(0), "greater than or equal to 1"),
        (
            InferenceConfiguration::builder().temperature(1.5).build(),
            "inferenceConfig.temperature",
        ),
        (
            InferenceConfiguration::builder().top_p(-0.1).build(),
            "inferenceConfig.topP",
        ),
    ];
    for (config, expected) in cases {
        let err = converse(&client, HAIKU, "hi")
            .inference_config(config)
            .send()
            .await
            .unwrap_err()
            .into_service_error();
        assert!(err.is_validation_exception(), "{err:?}");
        let message = err.message().unwrap_or_default();
        assert!(message.contains(expected), "{message}");
    }
    let no_messages = client.converse().model_id(HAIKU).send().await;
    let err = no_messages.unwrap_err().into_service_error();
    assert!(err.is_validation_exception(), "{err:?}");
    assert!(err.message().unwrap_or_default().contains("messages"));
}

#[tokio::test]
async fn a_model_not_served_in_the_region_is_access_denied() {
    let sim = bedrock_sim::spawn(SimConfig::sample()).await.unwrap();
    let err = converse(&client(&sim, "eu-west-1"), "amazon.nova-lite-v1:0", "hi")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_access_denied_exception(), "{err:?}");
    assert_eq!(
        err.message(),
        Some("You don't have access to the model with the specified model ID.")
    );
}

#[tokio::test]
async fn a_profile_only_model_refuses_on_demand_calls() {
    let sim = bedrock_sim::spawn(SimConfig::sample()).await.unwrap();
    let err = converse(&client(&sim, "us-east-1"), SONNET_ON_DEMAND, "hi")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_validation_exception(), "{err:?}");
    assert_eq!(
        err.message(),
        Some(
            "Invocation of model ID anthropic.claude-sonnet-4-20250514-v1:0 with on-demand throughput isn't supported. Retry your request with the ID or ARN of an inference profile that contains this model."
        )
    );
    let kind = bedrock_lb_core::InvokeErrorKind::from_validation_message(err.message().unwrap());
    assert_eq!(kind, bedrock_lb_core::InvokeErrorKind::OnDemandNotSupported);
}

#[tokio::test]
async fn errors_on_the_wire_name_their_type_and_never_say_retry_after() {
    let sim = bedrock_sim::spawn(SimConfig::sample()).await.unwrap();
    let http = reqwest::Client::new();
    let url = format!("{}/model/{}/converse", sim.url(), "nope%3Av1");
    let response = http
        .post(&url)
        .header("authorization", "AWS4-HMAC-SHA256 Credential=test/20261101/us-east-1/bedrock/aws4_request, SignedHeaders=host, Signature=0")
        .header("content-type", "application/json")
        .body(r#"{"messages":[{"role":"user","content":[{"text":"hi"}]}]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 403);
    assert_eq!(
        response.headers()["x-amzn-errortype"],
        "AccessDeniedException"
    );
    assert!(response.headers().get("retry-after").is_none());
    assert!(response.headers().get("x-amzn-requestid").is_some());
    let body: serde_json::Value = response.json().await.unwrap();
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("don't have access")
    );
}

#[tokio::test]
async fn a_call_without_a_region_is_refused() {
    let sim = bedrock_sim::spawn(SimConfig::sample()).await.unwrap();
    let response = reqwest::Client::new()
        .post(format!("{}/model/{HAIKU}/converse", sim.url()))
        .body(r#"{"messages":[{"role":"user","content":[{"text":"hi"}]}]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 400);
    assert_eq!(
        response.headers()["x-amzn-errortype"],
        "ValidationException"
    );
    let body: serde_json::Value = response.json().await.unwrap();
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("region could not be determined")
    );
}

#[tokio::test]
async fn the_host_names_the_region_when_nothing_is_signed() {
    let sim = bedrock_sim::spawn(SimConfig::sample()).await.unwrap();
    let response = reqwest::Client::new()
        .post(format!("{}/model/{HAIKU}/converse", sim.url()))
        .header("host", "bedrock-runtime.eu-west-1.amazonaws.com")
        .body(r#"{"messages":[{"role":"user","content":[{"text":"hi"}]}]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert!(body["usage"]["outputTokens"].as_u64().unwrap() > 0);
    assert!(body["output"]["message"]["content"][0]["text"].is_string());
}

#[tokio::test]
async fn unknown_routes_and_bad_bodies_answer_in_json() {
    let sim = bedrock_sim::spawn(SimConfig::sample()).await.unwrap();
    let http = reqwest::Client::new();
    let missing = http
        .get(format!("{}/nowhere", sim.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status().as_u16(), 404);
    assert_eq!(
        missing.headers()["x-amzn-errortype"],
        "UnknownOperationException"
    );
    let body: serde_json::Value = missing.json().await.unwrap();
    assert!(body["message"].as_str().unwrap().contains("/nowhere"));
    let wrong_method = http
        .get(format!("{}/model/{HAIKU}/converse", sim.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_method.status().as_u16(), 404);
    let bad_body = http
        .post(format!("{}/model/{HAIKU}/converse", sim.url()))
        .header("host", "bedrock-runtime.us-east-1.amazonaws.com")
        .body("not json")
        .send()
        .await
        .unwrap();
    assert_eq!(bad_body.status().as_u16(), 400);
    assert_eq!(
        bad_body.headers()["x-amzn-errortype"],
        "ValidationException"
    );
}
