//! bedrock-lb's configuration: one TOML file (or the built-in default) overridden by
//! `BEDROCK_LB_*` environment variables, then by command-line flags, validated once at start-up.
//!
//! Environment variables name a key with the `BEDROCK_LB_` prefix and `__` between nested keys:
//! `BEDROCK_LB_QUEUE_URL`, `BEDROCK_LB_WORKER__CONCURRENCY=64`, `BEDROCK_LB_BEDROCK__ENDPOINT_URL`.
//! Unknown keys are errors, so a typo never silently falls back to a default.

mod models;
mod sections;

use std::path::{Path, PathBuf};

use bedrock_lb_core::ModelCatalog;
use figment::Figment;
use figment::providers::{Env, Format, Toml};
use serde::{Deserialize, Serialize};

pub use models::{BucketConfig, BucketTable, ModelConfig};
pub use sections::{
    ApiConfig, AuthMode, Backend, BedrockConfig, BedrockTarget, RoutingConfig, SimulatorConfig,
    WorkerConfig,
};

/// The built-in configuration used when no file is given.
pub const DEFAULT_TOML: &str = include_str!("../default.toml");

/// Prefix of the environment variables that override configuration keys.
pub const ENV_PREFIX: &str = "BEDROCK_LB_";

/// An environment variable holding a whole configuration file's text, for hosts where a file
/// is awkward to ship (Lambda, ECS task definitions); used when no file is given.
pub const CONFIG_TOML_ENV: &str = "BEDROCK_LB_CONFIG_TOML";

/// How long finished jobs are kept by default: seven days.
pub const DEFAULT_JOB_TTL_SECS: u64 = 7 * 24 * 60 * 60;

/// The whole configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where jobs and messages live: `local` (embedded SQLite) or `aws` (SQS and DynamoDB).
    #[serde(default)]
    pub backend: Backend,
    /// Address the HTTP API listens on.
    #[serde(default = "default_listen")]
    pub listen: String,
    /// Directory of the local mode's database.
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    /// SQS queue URL (aws backend).
    #[serde(default)]
    pub queue_url: Option<String>,
    /// SQS dead-letter queue URL (aws backend). When absent it is found through the queue's
    /// redrive policy, which costs two calls and the rights to make them at start-up.
    #[serde(default)]
    pub dead_letter_queue_url: Option<String>,
    /// DynamoDB jobs table name (aws backend).
    #[serde(default)]
    pub jobs_table: Option<String>,
    /// DynamoDB quota table name (aws backend): bucket limits, worker heartbeats, usage.
    #[serde(default)]
    pub quotas_table: Option<String>,
    /// How long a finished job is kept before it is deleted, in seconds (DynamoDB TTL in the
    /// aws backend, a periodic sweep in the local one).
    #[serde(default = "default_job_ttl_secs")]
    pub job_ttl_secs: u64,
    /// The model used when a request names none.
    pub default_model: String,
    /// Logical model name → its settings and the buckets that serve it.
    pub models: std::collections::BTreeMap<String, ModelConfig>,
    #[serde(default)]
    pub api: ApiConfig,
    #[serde(default)]
    pub worker: WorkerConfig,
    #[serde(default)]
    pub routing: RoutingConfig,
    #[serde(default)]
    pub bedrock: BedrockConfig,
    #[serde(default)]
    pub simulator: SimulatorConfig,
}

fn default_listen() -> String {
    "127.0.0.1:8080".into()
}

fn default_job_ttl_secs() -> u64 {
    DEFAULT_JOB_TTL_SECS
}

fn default_data_dir() -> PathBuf {
    PathBuf::from(".bedrock-lb")
}

/// Why the configuration could not be loaded or is not usable.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration: {0}")]
    Parse(Box<figment::Error>),
    #[error("configuration: {0}")]
    Invalid(String),
}

impl From<figment::Error> for ConfigError {
    fn from(error: figment::Error) -> Self {
        Self::Parse(Box::new(error))
    }
}

impl Config {
    /// Loads `path` (or, when `None`, the text of `BEDROCK_LB_CONFIG_TOML`, else the built-in
    /// default), applies environment overrides and validates the result.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        let config = Self::load_unvalidated(path)?;
        config.validate()?;
        Ok(config)
    }

    /// Like [`Config::load`], without validation: for callers that change fields first and
    /// then validate what they need ([`Config::validate`] or [`Config::validate_settings`]).
    pub fn load_unvalidated(path: Option<&Path>) -> Result<Self, ConfigError> {
        let base = match (path, std::env::var(CONFIG_TOML_ENV)) {
            (Some(path), _) => Figment::from(Toml::file_exact(path)),
            (None, Ok(text)) => Figment::from(Toml::string(&text)),
            (None, Err(_)) => Figment::from(Toml::string(DEFAULT_TOML)),
        };
        // BEDROCK_LB_CONFIG and BEDROCK_LB_CONFIG_TOML name the file; they are not keys.
        let env = Env::prefixed(ENV_PREFIX)
            .split("__")
            .ignore(&["config", "config_toml"]);
        Ok(base.merge(env).extract()?)
    }

    /// Parses a TOML document without environment overrides; for tests and tools.
    pub fn from_toml_str(toml: &str) -> Result<Self, ConfigError> {
        let config: Self = Figment::from(Toml::string(toml)).extract()?;
        config.validate()?;
        Ok(config)
    }

    /// Checks everything that can be checked without I/O. Call again after changing fields.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.validate_settings()?;
        if self.backend == Backend::Aws {
            if self.queue_url.as_deref().is_none_or(str::is_empty) {
                return Err(ConfigError::Invalid(
                    "the aws backend needs a queue URL (--queue-url or BEDROCK_LB_QUEUE_URL)"
                        .into(),
                ));
            }
            if self.jobs_table.as_deref().is_none_or(str::is_empty) {
                return Err(ConfigError::Invalid(
                    "the aws backend needs a jobs table (--jobs-table or BEDROCK_LB_JOBS_TABLE)"
                        .into(),
                ));
            }
        }
        Ok(())
    }

    /// Checks the settings without requiring the aws backend's queue and jobs table: enough
    /// for tools that touch only the quota table.
    pub fn validate_settings(&self) -> Result<(), ConfigError> {
        self.catalog()?;
        self.worker.validate()?;
        self.routing.validate()?;
        self.api.validate()?;
        if self.job_ttl_secs < 60 {
            return Err(ConfigError::Invalid(
                "job_ttl_secs must be at least 60".into(),
            ));
        }
        Ok(())
    }

    /// The model catalogue this configuration describes.
    pub fn catalog(&self) -> Result<ModelCatalog, ConfigError> {
        models::catalog(&self.default_model, &self.models)
    }

    /// Where Bedrock calls go: the setting if given, else the simulator for the local backend
    /// and real Bedrock for the aws backend.
    pub fn bedrock_target(&self) -> BedrockTarget {
        self.bedrock.target.unwrap_or(match self.backend {
            Backend::Local => BedrockTarget::Simulator,
            Backend::Aws => BedrockTarget::Aws,
        })
    }

    /// How long finished jobs are kept.
    pub fn job_ttl(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.job_ttl_secs)
    }

    /// The quota table this configuration describes: what an empty quota store is seeded with.
    pub fn quota_seed(&self) -> bedrock_lb_core::QuotaTable {
        models::quota_seed(&self.models)
    }

    /// The quota table's name: the setting, else `bedrock-lb-quotas`.
    pub fn quotas_table_name(&self) -> &str {
        self.quotas_table.as_deref().unwrap_or("bedrock-lb-quotas")
    }

    /// The local mode's database file.
    pub fn database_path(&self) -> PathBuf {
        self.data_dir.join("bedrock-lb.db")
    }
}

#[cfg(test)]
mod tests;
