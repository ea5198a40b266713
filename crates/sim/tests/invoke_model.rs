//! InvokeModel through the real SDK: Anthropic Messages and `inputText` bodies answered in the
//! model's native shape, with Bedrock's usage headers, counted against the same quota.

#![allow(clippy::unwrap_used)]

mod common;

use aws_sdk_bedrockruntime::primitives::Blob;
use bedrock_lb_core::tokens::estimate_tokens;
use bedrock_sim::{QuotaConfig, SimConfig};
use common::*;
use serde_json::{Value, json};

async fn invoke(
    client: &aws_sdk_bedrockruntime::Client,
    model_id: &str,
    body: Value,
) -> Result<Value, aws_sdk_bedrockruntime::operation::invoke_model::InvokeModelError> {
    let out = client
        .invoke_model()
        .model_id(model_id)
        .content_type("application/json")
        .accept("application/json")
        .body(Blob::new(body.to_string()))
        .send()
        .await
        .map_err(|e| e.into_service_error())?;
    Ok(serde_json::from_slice(out.body().as_ref()).unwrap())
}

#[tokio::test]
async fn an_anthropic_body_gets_the_anthropic_answer() {
    let sim = bedrock_sim::spawn(SimConfig::sample()).await.unwrap();
    let client = client(&sim, "us-east-1");
    let body = invoke(
        &client,
        HAIKU,
        json!({
            "anthropic_version": "bedrock-2023-05-31",
            "max_tokens": 512,
            "system": "Be brief.",
            "messages": [{"role": "user", "content": [{"type": "text", "text": "Tell me about quotas."}]}],
            "temperature": 0.5
        }),
    )
    .await
    .unwrap();
    assert_eq!(body["type"], "message");
    assert_eq!(body["role"], "assistant");
    assert!(body["id"].as_str().unwrap().starts_with("msg_bdrk_"));
    let text = body["content"][0]["text"].as_str().unwrap();
    assert_eq!(body["content"][0]["type"], "text");
    assert_eq!(body["stop_reason"], "end_turn");
    assert_eq!(
        body["usage"]["input_tokens"],
        estimate_tokens("Be brief.Tell me about quotas.")
    );
    assert_eq!(body["usage"]["output_tokens"], estimate_tokens(text));
    let haiku = sim
        .stats()
        .buckets
        .into_iter()
        .find(|b| b.region == "us-east-1" && b.model_id == HAIKU)
        .unwrap();
    assert_eq!(haiku.admitted, 1);
    assert_eq!(
        haiku.tokens_reserved,
        u64::from(estimate_tokens("Be brief.Tell me about quotas.")) + 512
    );
}

#[tokio::test]
async fn a_text_body_gets_the_titan_answer() {
    let sim = bedrock_sim::spawn(SimConfig::sample()).await.unwrap();
    let client = client(&sim, "us-west-2");
    let body = invoke(
        &client,
        "amazon.nova-lite-v1:0",
        json!({"inputText": "Write a long essay.", "textGenerationConfig": {"maxTokenCount": 5}}),
    )
    .await
    .unwrap();
    assert_eq!(
        body["inputTextTokenCount"],
        estimate_tokens("Write a long essay.")
    );
    assert_eq!(body["results"][0]["tokenCount"], 5);
    assert_eq!(body["results"][0]["completionReason"], "LENGTH");
    assert!(body["results"][0]["outputText"].is_string());
}

#[tokio::test]
async fn invoke_errors_are_typed_like_converse_errors() {
    let sim = bedrock_sim::spawn(SimConfig::sample()).await.unwrap();
    let east = client(&sim, "us-east-1");
    let err = invoke(
        &east,
        HAIKU,
        json!({"anthropic_version": "bedrock-2023-05-31", "messages": []}),
    )
    .await
    .unwrap_err();
    assert!(err.is_validation_exception(), "{err:?}");
    let err = invoke(&east, SONNET_ON_DEMAND, json!({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]}))
        .await
        .unwrap_err();
    assert!(err.is_validation_exception(), "{err:?}");

    let sim = bedrock_sim::spawn(one_model(
        1,
        QuotaConfig {
            tpm: Some(100),
            ..QuotaConfig::default()
        },
    ))
    .await
    .unwrap();
    let err = invoke(
        &client(&sim, "us-east-1"),
        TEST_MODEL,
        json!({"inputText": "hi", "textGenerationConfig": {"maxTokenCount": 100}}),
    )
    .await
    .unwrap_err();
    assert!(
        err.is_throttling_exception(),
        "100 + 1 does not fit 100: {err:?}"
    );
}

#[tokio::test]
async fn the_usage_headers_are_on_the_wire() {
    let mut config = SimConfig::sample();
    config.latency.first_token_ms = 3;
    let sim = bedrock_sim::spawn(config).await.unwrap();
    let response = reqwest::Client::new()
        .post(format!("{}/model/{}/invoke", sim.url(), "us.anthropic.claude-sonnet-4-20250514-v1%3A0"))
        .header("host", "bedrock-runtime.us-west-2.amazonaws.com")
        .header("content-type", "application/json")
        .body(json!({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 7, "messages": [{"role": "user", "content": "abcdefgh"}]}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let headers = response.headers().clone();
    assert_eq!(headers["x-amzn-bedrock-input-token-count"], "2");
    assert_eq!(headers["x-amzn-bedrock-output-token-count"], "7");
    assert_eq!(headers["x-amzn-bedrock-invocation-latency"], "3");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["stop_reason"], "max_tokens");
    // Burndown 5: 2 + 7 × 5 settled.
    let bucket = sim
        .stats()
        .buckets
        .into_iter()
        .find(|b| b.region == "us-west-2" && b.model_id.starts_with("us."))
        .unwrap();
    assert_eq!(bucket.tokens_settled, 37);
}
