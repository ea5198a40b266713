//! [`BedrockInvoker`]: the `ModelInvoker` port on Bedrock Runtime's Converse API, one SDK client
//! per region.
//!
//! The SDK's own retries are disabled: failover between regions is the router's job, and a
//! retry inside the SDK would hide a throttle (the region is full) behind a slow success. Every
//! error is classified once, here, into an [`InvokeErrorKind`](bedrock_lb_core::InvokeErrorKind).

mod convert;

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::RwLock;
use std::time::Duration;

use tokio::time::Instant;

use async_trait::async_trait;
use aws_sdk_bedrockruntime::config::retry::RetryConfig;
use aws_sdk_bedrockruntime::config::timeout::TimeoutConfig;
use aws_sdk_bedrockruntime::config::{Credentials, Region};
use bedrock_lb_core::{BucketId, ConverseOutput, InvokeError, JobRequest, ModelInvoker};

/// How the invoker reaches Bedrock: endpoint overrides (the simulator, or a VPC endpoint),
/// credentials for the simulator, and timeouts.
#[derive(Debug, Clone)]
pub struct BedrockSettings {
    /// Endpoint for every region (e.g. the simulator), unless `endpoints` names the region.
    pub default_endpoint: Option<String>,
    /// Region -> endpoint URL override.
    pub endpoints: BTreeMap<String, String>,
    /// Use these static credentials instead of the base config's (the simulator needs none real).
    pub static_credentials: bool,
    /// Whole-operation timeout of one Converse call; a call that takes longer is a `Transport`
    /// error. Long enough for a full generation by default (120 s).
    pub call_timeout: Duration,
    /// Connect timeout (3 s by default): a region that cannot be reached fails fast so the
    /// router can go elsewhere.
    pub connect_timeout: Duration,
}

impl Default for BedrockSettings {
    fn default() -> Self {
        Self {
            default_endpoint: None,
            endpoints: BTreeMap::new(),
            static_credentials: false,
            call_timeout: Duration::from_secs(120),
            connect_timeout: Duration::from_secs(3),
        }
    }
}

impl BedrockSettings {
    /// The endpoint override for `region`, if any.
    pub fn endpoint_for(&self, region: &str) -> Option<&str> {
        self.endpoints
            .get(region)
            .or(self.default_endpoint.as_ref())
            .map(String::as_str)
    }
}

/// Calls Converse in the bucket's region. Clients are created on first use of a region and
/// kept, so connections are reused.
pub struct BedrockInvoker {
    base: aws_config::SdkConfig,
    settings: BedrockSettings,
    clients: RwLock<HashMap<String, aws_sdk_bedrockruntime::Client>>,
}

impl fmt::Debug for BedrockInvoker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let regions: Vec<String> = self
            .clients
            .read()
            .map(|c| c.keys().cloned().collect())
            .unwrap_or_default();
        f.debug_struct("BedrockInvoker")
            .field("settings", &self.settings)
            .field("client_regions", &regions)
            .finish_non_exhaustive()
    }
}

impl BedrockInvoker {
    /// An invoker whose per-region clients start from `base` (credentials, HTTP client, ...)
    /// with `settings` applied on top.
    pub fn new(base: &aws_config::SdkConfig, settings: BedrockSettings) -> Self {
        Self {
            base: base.clone(),
            settings,
            clients: RwLock::new(HashMap::new()),
        }
    }

    /// The client for `region`, built on first use.
    fn client(&self, region: &str) -> aws_sdk_bedrockruntime::Client {
        if let Some(client) = self
            .clients
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(region)
        {
            return client.clone();
        }
        let mut clients = self
            .clients
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        clients
            .entry(region.to_owned())
            .or_insert_with(|| self.build_client(region))
            .clone()
    }

    fn build_client(&self, region: &str) -> aws_sdk_bedrockruntime::Client {
        let timeouts = TimeoutConfig::builder()
            .operation_timeout(self.settings.call_timeout)
            .connect_timeout(self.settings.connect_timeout)
            .build();
        let mut config = aws_sdk_bedrockruntime::config::Builder::from(&self.base)
            .region(Region::new(region.to_owned()))
            .retry_config(RetryConfig::disabled())
            .timeout_config(timeouts);
        if let Some(endpoint) = self.settings.endpoint_for(region) {
            config = config.endpoint_url(endpoint);
        }
        if self.settings.static_credentials {
            config = config.credentials_provider(Credentials::new(
                "AKIDBEDROCKLBTEST",
                "bedrock-lb-test-secret",
                None,
                None,
                "bedrock-lb-static",
            ));
        }
        tracing::debug!(
            region,
            endpoint = self.settings.endpoint_for(region),
            "bedrock client created"
        );
        aws_sdk_bedrockruntime::Client::from_conf(config.build())
    }
}

#[async_trait]
impl ModelInvoker for BedrockInvoker {
    async fn converse(
        &self,
        bucket: &BucketId,
        request: &JobRequest,
    ) -> Result<ConverseOutput, InvokeError> {
        let client = self.client(&bucket.region);
        let call = client
            .converse()
            .model_id(&bucket.model_id)
            .set_system(convert::system(request))
            .set_messages(Some(convert::messages(request)?))
            .set_inference_config(convert::inference(request));
        let started = Instant::now();
        let result = call.send().await;
        let wall_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        match result {
            Ok(out) => {
                let output = convert::output(&out, wall_ms)?;
                tracing::debug!(
                    region = %bucket.region,
                    model_id = %bucket.model_id,
                    latency_ms = output.latency_ms,
                    input_tokens = output.usage.input_tokens,
                    output_tokens = output.usage.output_tokens,
                    stop_reason = %output.stop_reason,
                    "converse succeeded"
                );
                Ok(output)
            }
            Err(err) => {
                let err = convert::classify(err);
                tracing::debug!(
                    region = %bucket.region,
                    model_id = %bucket.model_id,
                    wall_ms,
                    kind = err.kind.label(),
                    "converse failed"
                );
                Err(err)
            }
        }
    }
}
