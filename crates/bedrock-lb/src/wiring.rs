//! Builds the ports from configuration: the job store, queue and quota store (embedded SQLite,
//! or SQS and DynamoDB) and the model invoker (the simulator, in-process or standalone, or real
//! Bedrock).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use aws_config::{BehaviorVersion, SdkConfig};
use bedrock_lb_aws::{BedrockInvoker, BedrockSettings, DynamoJobStore, DynamoQuotaStore, SqsQueue};
use bedrock_lb_config::{Backend, BedrockTarget, Config};
use bedrock_lb_core::{Clock, JobQueue, JobStore, ModelInvoker, QuotaStore};
use bedrock_lb_embedded::{EmbeddedDb, EmbeddedJobStore, QueueSettings};
use bedrock_sim::{
    LatencyConfig, QuotaConfig, RegionConfig, SimConfig, SimHandle, SimModel, WindowConfig,
};

/// The job store and queue.
#[derive(Debug, Clone)]
pub struct Storage {
    pub store: Arc<dyn JobStore>,
    pub queue: Arc<dyn JobQueue>,
    /// The quota table and the workers' heartbeats.
    pub quotas: Arc<dyn QuotaStore>,
    /// Where the queue's messages go after too many receives (SQS: the dead-letter queue of
    /// the queue's redrive policy; local: the embedded dead letters), for the worker to drain
    /// and fail their jobs. `None` when the SQS queue has no redrive policy.
    pub dead_letters: Option<Arc<dyn JobQueue>>,
    /// The embedded job store, for the local mode's TTL sweep (`purge_finished`); `None` in
    /// the aws backend, where DynamoDB's TTL deletes finished jobs.
    pub embedded_store: Option<EmbeddedJobStore>,
    /// Where they live, for the start-up log line.
    pub description: String,
}

/// Where Bedrock calls go, and the in-process simulator when there is one.
#[derive(Debug)]
pub struct Bedrock {
    pub invoker: Arc<dyn ModelInvoker>,
    /// Kept alive for as long as the invoker is used; `None` when calls leave the process.
    pub simulator: Option<SimHandle>,
    /// Where calls go, for the start-up log line.
    pub description: String,
}

/// Opens the configured storage.
pub async fn storage(config: &Config, clock: Arc<dyn Clock>) -> anyhow::Result<Storage> {
    match config.backend {
        Backend::Local => {
            let path = config.database_path();
            let db = EmbeddedDb::open(&path, clock)
                .with_context(|| format!("opening the local database {}", path.display()))?;
            let store = db.job_store().with_job_ttl(config.job_ttl());
            Ok(Storage {
                store: Arc::new(store.clone()),
                queue: Arc::new(db.queue(QueueSettings::default())),
                quotas: Arc::new(db.quota_store()),
                dead_letters: Some(Arc::new(db.dead_letter_queue())),
                embedded_store: Some(store),
                description: format!("local store {}", path.display()),
            })
        }
        Backend::Aws => {
            let sdk = aws_sdk_config().await;
            anyhow::ensure!(
                sdk.region().is_some(),
                "the aws backend needs a region: set AWS_REGION"
            );
            let queue_url = config.queue_url.clone().unwrap_or_default();
            let table = config.jobs_table.clone().unwrap_or_default();
            let queue = SqsQueue::new(aws_sdk_sqs::Client::new(&sdk), queue_url.clone());
            // Not fatal: the API (Lambda) never drains dead letters and may lack the rights
            // to read the queue's attributes; a worker without them logs this warning.
            let configured_dlq = config
                .dead_letter_queue_url
                .clone()
                .map(|url| SqsQueue::new(aws_sdk_sqs::Client::new(&sdk), url));
            let dead_letters = match configured_dlq {
                Some(dlq) => Some(dlq),
                None => match queue.dead_letter_queue().await {
                    Ok(dlq) => dlq,
                    Err(err) => {
                        tracing::warn!(queue = %queue_url, error = %err,
                        "cannot resolve the dead-letter queue; dead letters will not be drained");
                        None
                    }
                },
            };
            let description = match &dead_letters {
                Some(dlq) => format!(
                    "SQS {queue_url} (dead letters {}), DynamoDB table {table}",
                    dlq.queue_url()
                ),
                None => format!("SQS {queue_url} (no redrive policy), DynamoDB table {table}"),
            };
            Ok(Storage {
                store: Arc::new(
                    DynamoJobStore::new(aws_sdk_dynamodb::Client::new(&sdk), table)
                        .with_job_ttl(config.job_ttl()),
                ),
                queue: Arc::new(queue),
                quotas: Arc::new(DynamoQuotaStore::new(
                    aws_sdk_dynamodb::Client::new(&sdk),
                    config.quotas_table_name().to_owned(),
                )),
                dead_letters: dead_letters.map(|dlq| Arc::new(dlq) as Arc<dyn JobQueue>),
                embedded_store: None,
                description,
            })
        }
    }
}

/// Sets up Bedrock calls as configured, starting the in-process simulator if needed.
pub async fn bedrock(config: &Config) -> anyhow::Result<Bedrock> {
    let call_timeout = Duration::from_secs(config.bedrock.call_timeout_secs.unwrap_or(120));
    let mut settings = BedrockSettings {
        default_endpoint: config.bedrock.endpoint_url.clone(),
        endpoints: config.bedrock.endpoints.clone(),
        static_credentials: false,
        call_timeout,
        connect_timeout: Duration::from_secs(3),
    };
    match config.bedrock_target() {
        BedrockTarget::Aws => {
            let sdk = aws_sdk_config().await;
            Ok(Bedrock {
                invoker: Arc::new(BedrockInvoker::new(&sdk, settings)),
                simulator: None,
                description: "Amazon Bedrock".into(),
            })
        }
        BedrockTarget::Simulator => {
            // The simulator needs no real credentials and no AWS environment at all.
            let sdk = SdkConfig::builder()
                .behavior_version(BehaviorVersion::latest())
                .build();
            settings.static_credentials = true;
            let simulator = match &settings.default_endpoint {
                Some(_) => None,
                None => {
                    let handle = bedrock_sim::spawn(simulator_config(config))
                        .await
                        .context("starting the in-process Bedrock simulator")?;
                    settings.default_endpoint = Some(handle.url());
                    Some(handle)
                }
            };
            let description = match (&simulator, &settings.default_endpoint) {
                (Some(handle), _) => format!("Bedrock simulator (in-process, {})", handle.url()),
                (None, Some(url)) => format!("Bedrock simulator at {url}"),
                (None, None) => "Bedrock simulator".into(),
            };
            Ok(Bedrock {
                invoker: Arc::new(BedrockInvoker::new(&sdk, settings)),
                simulator,
                description,
            })
        }
    }
}

/// A simulator scenario that serves every bucket of the configuration and enforces its quotas
/// (as configured, not as later edited in the quota table) over windows of
/// `routing.window_secs`, sliding as Bedrock's do.
pub fn simulator_config(config: &Config) -> SimConfig {
    let mut regions: BTreeMap<String, RegionConfig> = BTreeMap::new();
    let mut quotas: BTreeMap<String, BTreeMap<String, QuotaConfig>> = BTreeMap::new();
    for model in config.models.values() {
        for (region, bucket) in &model.regions {
            regions.entry(region.clone()).or_default().models.insert(
                bucket.model_id().to_owned(),
                SimModel {
                    max_output_tokens: model.max_output_tokens,
                    output_burndown: model.output_burndown,
                    requires_inference_profile: false,
                },
            );
            let quota = bucket.quota(region, model.output_burndown);
            quotas.entry(region.clone()).or_default().insert(
                quota.model_id,
                QuotaConfig {
                    tpm: Some(quota.tpm),
                    rpm: quota.rpm,
                    tpd: quota.tpd,
                },
            );
        }
    }
    SimConfig {
        seed: config.simulator.seed,
        latency: LatencyConfig {
            first_token_ms: config.simulator.first_token_ms,
            per_output_token_ms: config.simulator.per_output_token_ms,
            jitter: 0.0,
        },
        window: WindowConfig {
            secs: config.routing.window_secs,
            ..WindowConfig::default()
        },
        regions,
        quotas,
        ..SimConfig::default()
    }
}

/// The quota store alone, for the `quotas` commands: the local database or the DynamoDB
/// quota table.
pub async fn quota_store(config: &Config) -> anyhow::Result<Arc<dyn QuotaStore>> {
    match config.backend {
        Backend::Local => {
            let path = config.database_path();
            let db = EmbeddedDb::open(&path, Arc::new(bedrock_lb_core::SystemClock))
                .with_context(|| format!("opening the local database {}", path.display()))?;
            Ok(Arc::new(db.quota_store()))
        }
        Backend::Aws => {
            let sdk = aws_sdk_config().await;
            anyhow::ensure!(
                sdk.region().is_some(),
                "the aws backend needs a region: set AWS_REGION"
            );
            Ok(Arc::new(DynamoQuotaStore::new(
                aws_sdk_dynamodb::Client::new(&sdk),
                config.quotas_table_name().to_owned(),
            )))
        }
    }
}

/// A router for this process's worker, as `[routing]` configures it.
pub fn router(config: &Config) -> bedrock_lb_router::Router {
    bedrock_lb_router::Router::new(bedrock_lb_worker::router_settings(&config.routing))
}

/// The standard AWS configuration chain (environment, profile, instance metadata), which also
/// honours `AWS_ENDPOINT_URL` for tests against moto.
pub async fn aws_sdk_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest()).load().await
}
