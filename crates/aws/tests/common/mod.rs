//! Shared set-up for the tests against moto's server: an SDK config pointing at it, and
//! unique resource names so tests can run in parallel against one server.
#![allow(dead_code)]

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_sqs::config::{Credentials, SharedCredentialsProvider};

/// The endpoint of moto's server, from `MOTO_ENDPOINT`.
pub fn moto_endpoint() -> String {
    match std::env::var("MOTO_ENDPOINT") {
        Ok(endpoint) if !endpoint.trim().is_empty() => endpoint,
        _ => panic!(
            "MOTO_ENDPOINT is not set: start moto_server and set MOTO_ENDPOINT \
             (scripts/test.sh does this), e.g. \
             `moto_server -H 127.0.0.1 -p 5555 & MOTO_ENDPOINT=http://127.0.0.1:5555 cargo test`"
        ),
    }
}

/// An SDK config for moto: region us-east-1, static credentials, no retries (a moto error
/// should show at once, not after the SDK's backoff).
pub fn moto_config() -> SdkConfig {
    sdk_config(&moto_endpoint())
}

/// An SDK config for any endpoint, as `moto_config`.
pub fn sdk_config(endpoint: &str) -> SdkConfig {
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            "testing", "testing", None, None, "moto",
        )))
        .retry_config(RetryConfig::disabled())
        .build()
}

pub fn sqs_client() -> aws_sdk_sqs::Client {
    aws_sdk_sqs::Client::new(&moto_config())
}

pub fn dynamo_client() -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(&moto_config())
}

/// A name no other test uses.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}
