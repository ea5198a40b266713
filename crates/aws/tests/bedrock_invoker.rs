//! BedrockInvoker against the project's Bedrock simulator over real HTTP: the official SDK
//! client signs and sends, the simulator answers in Bedrock's wire format, errors included.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers panic on set-up failure

use std::collections::BTreeMap;
use std::time::Duration;

use tokio::time::Instant;

use bedrock_lb_aws::{BedrockInvoker, BedrockSettings};
use bedrock_lb_core::{
    BucketId, ContentBlock, InferenceConfig, InvokeErrorKind, JobRequest, Message, ModelInvoker,
    Role,
};
use bedrock_sim::{RegionConfig, SimConfig, SimHandle, SimModel};

const ALPHA: &str = "vendor.alpha-v1:0";
const BETA: &str = "vendor.beta-v1:0";
const PROFILE_ONLY: &str = "vendor.profile-only-v1:0";

fn model(requires_inference_profile: bool) -> SimModel {
    SimModel {
        max_output_tokens: 1000,
        output_burndown: 1,
        requires_inference_profile,
    }
}

/// us-east-1 serves ALPHA and PROFILE_ONLY (on-demand refused); us-west-2 serves ALPHA and BETA.
async fn simulator() -> SimHandle {
    let mut config = SimConfig::sample();
    config.regions = BTreeMap::from([
        (
            "us-east-1".to_owned(),
            RegionConfig {
                models: BTreeMap::from([
                    (ALPHA.to_owned(), model(false)),
                    (PROFILE_ONLY.to_owned(), model(true)),
                ]),
            },
        ),
        (
            "us-west-2".to_owned(),
            RegionConfig {
                models: BTreeMap::from([
                    (ALPHA.to_owned(), model(false)),
                    (BETA.to_owned(), model(false)),
                ]),
            },
        ),
    ]);
    bedrock_sim::spawn(config).await.unwrap()
}

/// A base config with nothing in it but the region: the settings supply endpoint and
/// credentials, as they do when the service runs against the simulator.
fn base() -> aws_config::SdkConfig {
    aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("eu-central-1"))
        .build()
}

fn invoker(endpoint: &str) -> BedrockInvoker {
    BedrockInvoker::new(
        &base(),
        BedrockSettings {
            default_endpoint: Some(endpoint.to_owned()),
            static_credentials: true,
            call_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_millis(500),
            ..BedrockSettings::default()
        },
    )
}

fn request(inference: InferenceConfig) -> JobRequest {
    JobRequest {
        model: "alpha".into(),
        system: Some("You are terse.".into()),
        messages: vec![Message {
            role: Role::User,
            content: vec![ContentBlock {
                text: "Write one sentence about the sea.".into(),
            }],
        }],
        inference,
        metadata: None,
        deadline: None,
    }
}

fn small() -> InferenceConfig {
    InferenceConfig {
        max_tokens: Some(40),
        temperature: Some(0.5),
        ..InferenceConfig::default()
    }
}

#[tokio::test]
async fn converse_succeeds_in_two_regions_with_text_and_usage() {
    let sim = simulator().await;
    let invoker = invoker(&sim.url());
    for region in ["us-east-1", "us-west-2"] {
        let out = invoker
            .converse(&BucketId::new(region, ALPHA), &request(small()))
            .await
            .unwrap_or_else(|e| panic!("{region}: {e}"));
        assert!(!out.text.is_empty(), "{region}: empty text");
        assert!(out.usage.input_tokens > 0, "{region}: {:?}", out.usage);
        assert!(
            (1..=40).contains(&out.usage.output_tokens),
            "{region}: {:?}",
            out.usage
        );
        assert_eq!(
            out.usage.total_tokens,
            out.usage.input_tokens + out.usage.output_tokens
        );
        assert!(!out.stop_reason.is_empty());
    }
    // BETA exists only in us-west-2: reaching it proves the call went to that region.
    let beta = invoker
        .converse(&BucketId::new("us-west-2", BETA), &request(small()))
        .await;
    assert!(beta.is_ok(), "{beta:?}");
    sim.shutdown().await;
}

#[tokio::test]
async fn a_model_missing_from_the_region_is_access_denied() {
    let sim = simulator().await;
    let err = invoker(&sim.url())
        .converse(&BucketId::new("us-east-1", BETA), &request(small()))
        .await
        .unwrap_err();
    assert_eq!(err.kind, InvokeErrorKind::AccessDenied, "{err}");
    assert!(err.message.to_lowercase().contains("access"), "{err}");
}

#[tokio::test]
async fn an_out_of_range_temperature_is_the_jobs_own_validation_error() {
    let sim = simulator().await;
    // Built directly, bypassing the API's validation, so that Bedrock (the simulator) refuses it.
    let bad = request(InferenceConfig {
        temperature: Some(5.0),
        ..small()
    });
    let err = invoker(&sim.url())
        .converse(&BucketId::new("us-east-1", ALPHA), &bad)
        .await
        .unwrap_err();
    assert_eq!(err.kind, InvokeErrorKind::Validation, "{err}");
    assert!(!err.is_retryable());
}

#[tokio::test]
async fn an_on_demand_call_to_a_profile_only_model_needs_an_inference_profile() {
    let sim = simulator().await;
    let err = invoker(&sim.url())
        .converse(&BucketId::new("us-east-1", PROFILE_ONLY), &request(small()))
        .await
        .unwrap_err();
    assert_eq!(err.kind, InvokeErrorKind::OnDemandNotSupported, "{err}");
    assert!(err.message.contains("inference profile"), "{err}");
}

#[tokio::test]
async fn per_region_endpoints_override_the_default() {
    let sim = simulator().await;
    let dead = dead_endpoint().await;
    let invoker = BedrockInvoker::new(
        &base(),
        BedrockSettings {
            default_endpoint: Some(dead),
            endpoints: BTreeMap::from([("us-west-2".to_owned(), sim.url())]),
            static_credentials: true,
            connect_timeout: Duration::from_millis(500),
            ..BedrockSettings::default()
        },
    );
    let west = invoker
        .converse(&BucketId::new("us-west-2", ALPHA), &request(small()))
        .await;
    assert!(west.is_ok(), "{west:?}");
    let east = invoker
        .converse(&BucketId::new("us-east-1", ALPHA), &request(small()))
        .await
        .unwrap_err();
    assert_eq!(east.kind, InvokeErrorKind::Transport, "{east}");
}

/// A local URL where nothing listens: a port bound and released at once.
async fn dead_endpoint() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}")
}

#[tokio::test]
async fn nothing_listening_is_a_quick_transport_error() {
    let endpoint = dead_endpoint().await;
    let started = Instant::now();
    let err = invoker(&endpoint)
        .converse(&BucketId::new("us-east-1", ALPHA), &request(small()))
        .await
        .unwrap_err();
    assert_eq!(err.kind, InvokeErrorKind::Transport, "{err}");
    assert!(err.is_retryable());
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "took {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn latency_comes_from_bedrocks_metrics() {
    let mut config = SimConfig::sample();
    config.latency.first_token_ms = 25;
    config.latency.per_output_token_ms = 0;
    config.regions = BTreeMap::from([(
        "us-east-1".to_owned(),
        RegionConfig {
            models: BTreeMap::from([(ALPHA.to_owned(), model(false))]),
        },
    )]);
    let sim = bedrock_sim::spawn(config).await.unwrap();
    let out = invoker(&sim.url())
        .converse(&BucketId::new("us-east-1", ALPHA), &request(small()))
        .await
        .unwrap();
    assert_eq!(
        out.latency_ms, 25,
        "the simulator reports its simulated latency"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn a_call_slower_than_the_call_timeout_is_a_transport_error() {
    let mut config = SimConfig::sample();
    config.latency.first_token_ms = 60_000;
    config.regions = BTreeMap::from([(
        "us-east-1".to_owned(),
        RegionConfig {
            models: BTreeMap::from([(ALPHA.to_owned(), model(false))]),
        },
    )]);
    // Dropped, not shut down, at the end: a graceful shutdown would wait for the slow call.
    let sim = bedrock_sim::spawn(config).await.unwrap();
    let invoker = BedrockInvoker::new(
        &base(),
        BedrockSettings {
            default_endpoint: Some(sim.url()),
            static_credentials: true,
            call_timeout: Duration::from_millis(200),
            ..BedrockSettings::default()
        },
    );
    let started = Instant::now();
    let err = invoker
        .converse(&BucketId::new("us-east-1", ALPHA), &request(small()))
        .await
        .unwrap_err();
    assert_eq!(err.kind, InvokeErrorKind::Transport, "{err}");
    assert!(err.message.to_lowercase().contains("timeout"), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}
