//! The smaller configuration sections: API limits, worker tuning, routing and quota sharing,
//! where Bedrock calls go, and the in-process simulator's settings.

use std::collections::BTreeMap;
use std::time::Duration;

use bedrock_lb_core::Strategy;
use serde::{Deserialize, Serialize};

use crate::ConfigError;

/// Which storage and queue the service runs on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// Embedded SQLite queue and job store in `data_dir`.
    #[default]
    Local,
    /// Amazon SQS and DynamoDB, configured by the standard AWS environment.
    Aws,
}

/// Where Bedrock calls go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BedrockTarget {
    /// The simulator, in-process (no credentials needed), unless `bedrock.endpoint_url` names one.
    #[serde(alias = "sim")]
    Simulator,
    /// Real Bedrock with the standard AWS credential chain.
    Aws,
}

/// Who may call the API, and how a caller is recognised.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthMode {
    /// No authentication: every caller sees every job (local use, trusted networks).
    #[default]
    None,
    /// API Gateway checks SigV4 signatures; the caller is the IAM principal in the request
    /// context, and each caller sees only its own jobs.
    Iam,
    /// A key in the `x-api-key` header, checked against `api.api_keys`; the caller is the key's
    /// name, and each caller sees only its own jobs.
    ApiKey,
}

/// HTTP API settings: limits, authentication and idempotency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiConfig {
    /// Largest request body accepted; larger ones answer 413.
    pub max_body_bytes: usize,
    /// Most requests in one `POST /batch`.
    pub max_batch_requests: usize,
    /// How long an `Idempotency-Key` keeps answering with the jobs it first created, in seconds.
    pub idempotency_ttl_secs: u64,
    /// How callers are authenticated.
    pub auth: AuthMode,
    /// For `auth = "api_key"`: key name → lowercase hex SHA-256 of the key. Only hashes are
    /// configured, so the configuration never holds a usable secret.
    pub api_keys: BTreeMap<String, String>,
    /// Callers allowed to use the admin routes (`/admin/...`: quotas, weights, routes) when
    /// authentication is on: API key names, or IAM principal ARNs. With `auth = "none"` every
    /// caller may.
    pub admin_callers: Vec<String>,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            max_body_bytes: 256 * 1024,
            max_batch_requests: 1000,
            idempotency_ttl_secs: 24 * 60 * 60,
            auth: AuthMode::None,
            api_keys: BTreeMap::new(),
            admin_callers: Vec::new(),
        }
    }
}

impl ApiConfig {
    /// How long an idempotency key is remembered.
    pub fn idempotency_ttl(&self) -> Duration {
        Duration::from_secs(self.idempotency_ttl_secs)
    }

    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |message: String| Err(ConfigError::Invalid(message));
        if self.max_body_bytes < 1024 {
            return invalid("api.max_body_bytes must be at least 1024".into());
        }
        if !(1..=10_000).contains(&self.max_batch_requests) {
            return invalid("api.max_batch_requests must be between 1 and 10000".into());
        }
        if self.idempotency_ttl_secs == 0 {
            return invalid("api.idempotency_ttl_secs must be at least 1".into());
        }
        if self.auth == AuthMode::ApiKey && self.api_keys.is_empty() {
            return invalid(
                "api.auth = \"api_key\" needs at least one entry in api.api_keys \
                 (name = hex SHA-256 of the key)"
                    .into(),
            );
        }
        for (name, hash) in &self.api_keys {
            let is_sha256_hex = hash.len() == 64
                && hash
                    .chars()
                    .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c));
            if !is_sha256_hex {
                return invalid(format!(
                    "api.api_keys.{name} must be the lowercase hex SHA-256 of the key (64 characters)"
                ));
            }
        }
        Ok(())
    }
}

/// Worker tuning.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WorkerConfig {
    /// Jobs one worker runs at once.
    pub concurrency: usize,
    /// Most messages asked for in one receive (SQS allows 10).
    pub receive_batch: u32,
    /// Long-poll wait of one receive, in seconds (SQS allows 20).
    pub wait_time_secs: u64,
    /// How long a received message stays hidden and a job's lease lasts before they are renewed,
    /// in seconds; renewed at a third of it while a job runs.
    pub visibility_timeout_secs: u64,
    /// Most Bedrock calls made for one job.
    pub max_attempts: u32,
    /// First retry delay once every bucket has been tried, in milliseconds (doubles, jittered).
    pub retry_base_ms: u64,
    /// Longest retry delay, in milliseconds.
    pub retry_max_ms: u64,
    /// How long shutdown waits for jobs in flight, in seconds.
    pub shutdown_grace_secs: u64,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            concurrency: 32,
            receive_batch: 10,
            wait_time_secs: 20,
            visibility_timeout_secs: 120,
            max_attempts: 6,
            retry_base_ms: 250,
            retry_max_ms: 10_000,
            shutdown_grace_secs: 30,
        }
    }
}

impl WorkerConfig {
    /// The visibility timeout and lease length.
    pub fn visibility_timeout(&self) -> Duration {
        Duration::from_secs(self.visibility_timeout_secs)
    }

    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        let check = |ok: bool, what: &str| {
            if ok {
                Ok(())
            } else {
                Err(ConfigError::Invalid(format!("worker.{what}")))
            }
        };
        check(
            (1..=10_000).contains(&self.concurrency),
            "concurrency must be between 1 and 10000",
        )?;
        check(
            (1..=10).contains(&self.receive_batch),
            "receive_batch must be between 1 and 10",
        )?;
        check(
            self.wait_time_secs <= 20,
            "wait_time_secs must be at most 20",
        )?;
        check(
            (3..=43_200).contains(&self.visibility_timeout_secs),
            "visibility_timeout_secs must be between 3 and 43200",
        )?;
        check(
            (1..=100).contains(&self.max_attempts),
            "max_attempts must be between 1 and 100",
        )?;
        check(
            self.retry_base_ms <= self.retry_max_ms,
            "retry_base_ms must not exceed retry_max_ms",
        )
    }
}

/// Where Bedrock calls go and how long they may take.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BedrockConfig {
    /// `simulator` or `aws`; by default the simulator for the local backend, Bedrock for aws.
    #[serde(default)]
    pub target: Option<BedrockTarget>,
    /// One endpoint for every region, e.g. a standalone `bedrock-sim`.
    #[serde(default)]
    pub endpoint_url: Option<String>,
    /// Per-region endpoint overrides.
    #[serde(default)]
    pub endpoints: BTreeMap<String, String>,
    /// Whole-call timeout in seconds (default 120).
    #[serde(default)]
    pub call_timeout_secs: Option<u64>,
}

/// The in-process simulator of the local mode.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SimulatorConfig {
    /// Seed of the synthetic completions.
    pub seed: u64,
    /// Simulated time to first token, in milliseconds.
    pub first_token_ms: u64,
    /// Simulated time per output token, in milliseconds.
    pub per_output_token_ms: u64,
}

/// How workers share quotas and choose buckets: the `[routing]` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RoutingConfig {
    /// `quota-aware` (default), `round-robin`, `weighted`, `failover` or `max-available`.
    pub strategy: Strategy,
    /// Length of a quota window in seconds: Bedrock's minute, shortened by tests and benchmarks
    /// to compress time.
    pub window_secs: f64,
    /// How often a worker re-reads the quota table and renews its heartbeat, in seconds.
    pub refresh_secs: f64,
    /// A worker whose heartbeat is older than this counts as gone, in seconds.
    pub worker_ttl_secs: f64,
    /// Consecutive failures that open a bucket's breaker.
    pub failure_threshold: u32,
    /// How long an open breaker waits before letting probes through, in seconds.
    pub recovery_timeout_secs: f64,
    /// Successful probes that close a half-open breaker.
    pub success_threshold: u32,
    /// Probes a half-open breaker lets through at once.
    pub half_open_max_probes: u32,
    /// How long a bucket Bedrock calls misconfigured (model not enabled, needs an inference
    /// profile) stays out of rotation, in seconds.
    pub misconfigured_cooldown_secs: f64,
}

impl Default for RoutingConfig {
    fn default() -> Self {
        Self {
            strategy: Strategy::QuotaAware,
            window_secs: 60.0,
            refresh_secs: 5.0,
            worker_ttl_secs: 20.0,
            failure_threshold: 3,
            recovery_timeout_secs: 30.0,
            success_threshold: 2,
            half_open_max_probes: 1,
            misconfigured_cooldown_secs: 600.0,
        }
    }
}

impl RoutingConfig {
    /// The quota window.
    pub fn window(&self) -> Duration {
        Duration::from_secs_f64(self.window_secs)
    }

    /// How often the quota table is re-read.
    pub fn refresh(&self) -> Duration {
        Duration::from_secs_f64(self.refresh_secs)
    }

    /// How long a heartbeat stays live.
    pub fn worker_ttl(&self) -> Duration {
        Duration::from_secs_f64(self.worker_ttl_secs)
    }

    /// How long an open breaker stays open.
    pub fn recovery_timeout(&self) -> Duration {
        Duration::from_secs_f64(self.recovery_timeout_secs)
    }

    /// How long a misconfigured bucket stays out of rotation.
    pub fn misconfigured_cooldown(&self) -> Duration {
        Duration::from_secs_f64(self.misconfigured_cooldown_secs)
    }

    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        let check = |ok: bool, what: &str| {
            if ok {
                Ok(())
            } else {
                Err(ConfigError::Invalid(format!("routing.{what}")))
            }
        };
        let seconds = |s: f64, low: f64| s.is_finite() && s >= low && s <= 86_400.0;
        check(
            seconds(self.window_secs, 0.1),
            "window_secs must be between 0.1 and 86400",
        )?;
        check(
            seconds(self.refresh_secs, 0.05),
            "refresh_secs must be between 0.05 and 86400",
        )?;
        check(
            seconds(self.worker_ttl_secs, 0.1) && self.worker_ttl_secs > self.refresh_secs,
            "worker_ttl_secs must be longer than refresh_secs",
        )?;
        check(
            self.refresh_secs <= 10.0,
            "refresh_secs must be at most 10, so that quota edits reach workers within 10 s",
        )?;
        check(
            self.failure_threshold >= 1,
            "failure_threshold must be at least 1",
        )?;
        check(
            self.success_threshold >= 1,
            "success_threshold must be at least 1",
        )?;
        check(
            self.half_open_max_probes >= 1,
            "half_open_max_probes must be at least 1",
        )?;
        check(
            seconds(self.recovery_timeout_secs, 0.0),
            "recovery_timeout_secs must be between 0 and 86400",
        )?;
        check(
            seconds(self.misconfigured_cooldown_secs, 0.0),
            "misconfigured_cooldown_secs must be between 0 and 86400",
        )
    }
}
