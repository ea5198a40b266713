//! Injected faults through the control API, as the SDK sees them: each one arrives as its typed
//! error, a region goes down and comes back, and the ground truth counts the failures.

#![allow(clippy::unwrap_used)]

mod common;

use aws_sdk_bedrockruntime::error::ProvideErrorMetadata;
use aws_sdk_bedrockruntime::operation::converse::ConverseError;
use bedrock_sim::{QuotaConfig, SimHandle};
use common::*;
use serde_json::{Value, json};

async fn put(sim: &SimHandle, path: &str, body: Value) -> reqwest::Response {
    reqwest::Client::new()
        .put(control(sim, path))
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn delete(sim: &SimHandle, path: &str) -> u16 {
    let response = reqwest::Client::new()
        .delete(control(sim, path))
        .send()
        .await
        .unwrap();
    response.status().as_u16()
}

async fn call(sim: &SimHandle, region: &str) -> Result<(), ConverseError> {
    converse(&client(sim, region), TEST_MODEL, "hello")
        .inference_config(max_tokens(10))
        .send()
        .await
        .map(|_| ())
        .map_err(|e| e.into_service_error())
}

#[tokio::test]
async fn a_region_taken_down_and_restored_through_the_control_api() {
    let sim = bedrock_sim::spawn(one_model(1, QuotaConfig::default()))
        .await
        .unwrap();
    call(&sim, "us-east-1").await.unwrap();
    let response = put(&sim, "/_sim/faults/us-east-1", json!({"down": true})).await;
    assert_eq!(response.status().as_u16(), 200);
    let err = call(&sim, "us-east-1").await.unwrap_err();
    assert!(err.is_service_unavailable_exception(), "{err:?}");
    call(&sim, "us-west-2").await.unwrap();
    let faults: Value = reqwest::get(control(&sim, "/_sim/faults"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(faults["regions"]["us-east-1"]["down"], true);
    assert_eq!(delete(&sim, "/_sim/faults/us-east-1").await, 204);
    call(&sim, "us-east-1").await.unwrap();
    let stats = sim.stats();
    let east = stats
        .buckets
        .iter()
        .find(|b| b.region == "us-east-1")
        .unwrap();
    assert_eq!((east.requests, east.admitted, east.failed), (3, 2, 1));
    assert_eq!(stats.totals.requests, 4);
}

#[tokio::test]
async fn each_fault_arrives_as_its_typed_sdk_error() {
    let sim = bedrock_sim::spawn(one_model(1, QuotaConfig::default()))
        .await
        .unwrap();
    let path = format!("/_sim/faults/us-east-1/{TEST_MODEL}");
    type Check = fn(&ConverseError) -> bool;
    let cases: [(Value, Check, u16); 5] = [
        (
            json!({"not_enabled": true}),
            ConverseError::is_access_denied_exception,
            403,
        ),
        (
            json!({"not_ready_calls": 1}),
            ConverseError::is_model_not_ready_exception,
            429,
        ),
        (
            json!({"internal_error_rate": 1.0}),
            ConverseError::is_internal_server_exception,
            500,
        ),
        (
            json!({"unavailable_rate": 1.0}),
            ConverseError::is_service_unavailable_exception,
            503,
        ),
        (
            json!({"extra_latency_ms": 5000, "timeout_ms": 20}),
            ConverseError::is_model_timeout_exception,
            408,
        ),
    ];
    for (fault, is_expected, status) in cases {
        assert_eq!(put(&sim, &path, fault.clone()).await.status().as_u16(), 200);
        let err = call(&sim, "us-east-1").await.unwrap_err();
        assert!(is_expected(&err), "{fault}: {err:?}");
        assert!(err.message().is_some_and(|m| !m.is_empty()));
        let raw = err.meta().code().unwrap_or_default().to_owned();
        assert!(raw.ends_with("Exception"), "{raw} for status {status}");
        assert_eq!(delete(&sim, &path).await, 204);
        call(&sim, "us-east-1").await.unwrap();
    }
    // The timed-out call was admitted, then failed, and paid for its input only.
    let east = &sim.stats().buckets[0];
    assert_eq!((east.failed, east.admitted), (5, 5));
    let arn = "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.nope-v1:0";
    let err = converse(&client(&sim, "us-east-1"), arn, "hi")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_resource_not_found_exception(), "{err:?}");
}

#[tokio::test]
async fn a_not_ready_burst_ends_by_itself() {
    let sim = bedrock_sim::spawn(one_model(1, QuotaConfig::default()))
        .await
        .unwrap();
    put(
        &sim,
        "/_sim/faults/us-east-1",
        json!({"not_ready_calls": 2}),
    )
    .await;
    for _ in 0..2 {
        let err = call(&sim, "us-east-1").await.unwrap_err();
        assert!(err.is_model_not_ready_exception(), "{err:?}");
    }
    call(&sim, "us-east-1").await.unwrap();
}

#[tokio::test]
async fn the_control_api_refuses_what_it_cannot_do() {
    let sim = bedrock_sim::spawn(one_model(1, QuotaConfig::default()))
        .await
        .unwrap();
    let typo = put(&sim, "/_sim/faults/us-east-1", json!({"dwn": true})).await;
    assert_eq!(typo.status().as_u16(), 400);
    let body: Value = typo.json().await.unwrap();
    assert!(body["message"].as_str().unwrap().contains("dwn"), "{body}");
    let rate = put(
        &sim,
        "/_sim/faults/us-east-1",
        json!({"internal_error_rate": 3}),
    )
    .await;
    assert_eq!(rate.status().as_u16(), 400);
    let unknown = put(
        &sim,
        "/_sim/quotas/us-east-1/nope-v1%3A0",
        json!({"tpm": 1}),
    )
    .await;
    assert_eq!(unknown.status().as_u16(), 404);
    let unknown = put(&sim, "/_sim/faults/eu-west-1/nope", json!({"down": true})).await;
    assert_eq!(unknown.status().as_u16(), 404);
}
