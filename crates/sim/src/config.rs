//! The simulator's scenario: which models each region serves, with what limits, and how slow
//! the simulated models are.
//!
//! A scenario is a TOML file (or [`SimConfig::sample`], the same as `scenarios/default.toml`).
//! Unknown keys are rejected so that a typo in a scenario fails loudly instead of silently
//! simulating something else. Quotas (`[quotas.REGION."MODEL"]`) and faults
//! (`[faults.regions.REGION]`, `[faults.buckets.REGION."MODEL"]`) are keyed the way the control
//! API addresses them, next to the models they apply to.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::fault::Faults;
use crate::quota::{QuotaConfig, WindowConfig};

/// A whole scenario: the seed of the synthetic text, the simulated latency and the regions.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SimConfig {
    /// Seeds the synthetic completions, so that two runs of one scenario answer alike.
    pub seed: u64,
    /// How long a simulated call takes.
    pub latency: LatencyConfig,
    /// How quota windows refill and how long they are.
    pub window: WindowConfig,
    /// Regions by name (e.g. `us-east-1`); a region not listed serves nothing.
    pub regions: BTreeMap<String, RegionConfig>,
    /// Quotas per bucket: region → model key (as in `regions`) → limits. A bucket not listed
    /// is unlimited.
    pub quotas: BTreeMap<String, BTreeMap<String, QuotaConfig>>,
    /// Faults in force at start.
    pub faults: Faults,
}

/// Simulated model latency; everything defaults to 0 so that tests run instantly.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LatencyConfig {
    /// Time before the first token, in milliseconds.
    pub first_token_ms: u64,
    /// Time per generated token, in milliseconds.
    pub per_output_token_ms: u64,
    /// Random spread of each call's latency, as a fraction (0.2 = up to 20% faster or slower),
    /// drawn from the scenario's seed.
    pub jitter: f64,
}

/// The models one region serves.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RegionConfig {
    /// Keyed by what a caller puts in the URL: a model id, an inference profile id, or an ARN.
    /// A foundation-model or inference-profile ARN of this region also finds the entry keyed by
    /// its bare id.
    pub models: BTreeMap<String, SimModel>,
}

/// One model (or inference profile) as served in one region.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SimModel {
    /// The largest `maxTokens` the model accepts; also the cap when a request sets none.
    pub max_output_tokens: u32,
    /// Quota tokens charged per output token (5 for Claude 3.7 Sonnet and later, else 1). Kept
    /// here so that the quota simulation can settle usage the way Bedrock does.
    pub output_burndown: u32,
    /// Bedrock refuses on-demand calls to some models: only an inference profile may call them.
    pub requires_inference_profile: bool,
}

impl Default for SimModel {
    fn default() -> Self {
        Self {
            max_output_tokens: 4096,
            output_burndown: 1,
            requires_inference_profile: false,
        }
    }
}

/// Why a scenario could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum SimConfigError {
    /// The scenario file could not be read.
    #[error("cannot read scenario file {path}: {error}")]
    Io { path: String, error: std::io::Error },
    /// The TOML is malformed or has unknown keys.
    #[error("invalid scenario: {0}")]
    Parse(toml::de::Error),
    /// The TOML parsed but describes something impossible.
    #[error("invalid scenario: {0}")]
    Invalid(String),
}

impl SimConfig {
    /// Parses and checks a TOML scenario.
    pub fn from_toml_str(s: &str) -> Result<Self, SimConfigError> {
        let config: Self = toml::from_str(s).map_err(SimConfigError::Parse)?;
        config.validate()?;
        Ok(config)
    }

    /// Reads, parses and checks a TOML scenario file.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, SimConfigError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|error| SimConfigError::Io {
            path: path.display().to_string(),
            error,
        })?;
        Self::from_toml_str(&text)
    }

    /// Checks what serde cannot: limits that would make every call fail.
    pub fn validate(&self) -> Result<(), SimConfigError> {
        for (region, region_config) in &self.regions {
            if region.trim().is_empty() {
                return Err(SimConfigError::Invalid("a region name is empty".into()));
            }
            for (model_id, model) in &region_config.models {
                if model_id.trim().is_empty() {
                    return Err(SimConfigError::Invalid(format!(
                        "region `{region}` has a model with an empty id"
                    )));
                }
                if model.max_output_tokens == 0 {
                    return Err(SimConfigError::Invalid(format!(
                        "model `{model_id}` in `{region}` has max_output_tokens 0"
                    )));
                }
                if model.output_burndown == 0 {
                    return Err(SimConfigError::Invalid(format!(
                        "model `{model_id}` in `{region}` has output_burndown 0"
                    )));
                }
            }
        }
        if !(self.window.secs.is_finite() && self.window.secs >= 0.001) {
            return Err(SimConfigError::Invalid(format!(
                "window.secs must be at least 0.001, got {}",
                self.window.secs
            )));
        }
        if !(0.0..1.0).contains(&self.latency.jitter) {
            return Err(SimConfigError::Invalid(format!(
                "latency.jitter must be in 0..1, got {}",
                self.latency.jitter
            )));
        }
        for (region, models) in &self.quotas {
            for model in models.keys() {
                let served = self
                    .regions
                    .get(region)
                    .is_some_and(|r| r.models.contains_key(model));
                if !served {
                    return Err(SimConfigError::Invalid(format!(
                        "quotas.{region}.\"{model}\": region `{region}` serves no model `{model}`"
                    )));
                }
            }
        }
        for (region, models) in &self.faults.buckets {
            for model in models.keys() {
                if self.model_key(region, model).is_none() {
                    return Err(SimConfigError::Invalid(format!(
                        "faults.buckets.{region}.\"{model}\": region `{region}` serves no model `{model}`"
                    )));
                }
            }
        }
        self.faults.validate().map_err(SimConfigError::Invalid)?;
        Ok(())
    }

    /// The quota of the bucket keyed `model_key` in `region`; unlimited when none is set.
    pub fn quota(&self, region: &str, model_key: &str) -> QuotaConfig {
        self.quotas
            .get(region)
            .and_then(|m| m.get(model_key))
            .copied()
            .unwrap_or_default()
    }

    /// Like [`SimConfig::model`], also giving the key the model is configured under, which
    /// names its bucket (an ARN call counts against the bucket of its bare id).
    pub fn model_key<'a>(
        &'a self,
        region: &str,
        model_id: &str,
    ) -> Option<(&'a str, &'a SimModel)> {
        let models = &self.regions.get(region)?.models;
        if let Some((key, model)) = models.get_key_value(model_id) {
            return Some((key.as_str(), model));
        }
        let arn = parse_bedrock_arn(model_id)?;
        if arn.region != region {
            return None;
        }
        models
            .get_key_value(arn.resource_id)
            .map(|(key, model)| (key.as_str(), model))
    }

    /// The model a call names in `region`: the entry keyed exactly by `model_id`, else, for a
    /// foundation-model or inference-profile ARN of that same region, the entry keyed by the
    /// ARN's bare id. `None` when the region serves no such model.
    pub fn model(&self, region: &str, model_id: &str) -> Option<&SimModel> {
        self.model_key(region, model_id).map(|(_, model)| model)
    }
}

/// The parts of a Bedrock model ARN the simulator needs.
struct BedrockArn<'a> {
    region: &'a str,
    resource_id: &'a str,
}

/// Parses `arn:aws:bedrock:REGION:ACCOUNT:foundation-model/ID` and
/// `arn:aws:bedrock:REGION:ACCOUNT:inference-profile/ID` (the account is empty for foundation
/// models). Other resource types are only found by their whole ARN.
fn parse_bedrock_arn(s: &str) -> Option<BedrockArn<'_>> {
    let mut parts = s.splitn(6, ':');
    let (arn, _partition, service, region, _account, resource) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    if arn != "arn" || service != "bedrock" || region.is_empty() {
        return None;
    }
    let (kind, resource_id) = resource.split_once('/')?;
    matches!(kind, "foundation-model" | "inference-profile").then_some(BedrockArn {
        region,
        resource_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_default_scenario_is_the_sample() {
        let shipped = include_str!("../../../scenarios/default.toml");
        assert_eq!(
            SimConfig::from_toml_str(shipped).unwrap(),
            SimConfig::sample()
        );
    }

    #[test]
    fn quotas_and_faults_must_name_served_models() {
        let err = SimConfig::from_toml_str(
            r#"
            [regions.us-east-1.models."m:0"]
            [quotas.us-east-1."n:0"]
            tpm = 10
            "#,
        )
        .unwrap_err();
        assert!(err.to_string().contains("serves no model `n:0`"), "{err}");
        let err = SimConfig::from_toml_str(
            r#"
            [regions.us-east-1.models."m:0"]
            [faults.regions.us-east-1]
            internal_error_rate = 2.0
            "#,
        )
        .unwrap_err();
        assert!(err.to_string().contains("internal_error_rate"), "{err}");
        let err = SimConfig::from_toml_str("[window]\nsecs = 0.0\n").unwrap_err();
        assert!(err.to_string().contains("window.secs"), "{err}");
    }

    #[test]
    fn the_sample_round_trips_through_toml() {
        let sample = SimConfig::sample();
        let text = toml::to_string(&sample).unwrap();
        assert_eq!(SimConfig::from_toml_str(&text).unwrap(), sample);
        assert_eq!(sample.regions.len(), 3);
        let sonnet = sample
            .model("us-west-2", "us.anthropic.claude-sonnet-4-20250514-v1:0")
            .unwrap();
        assert_eq!(
            (sonnet.max_output_tokens, sonnet.output_burndown),
            (64_000, 5)
        );
        assert!(
            sample
                .model("eu-west-1", "us.anthropic.claude-sonnet-4-20250514-v1:0")
                .is_none()
        );
    }

    #[test]
    fn omitted_model_fields_take_their_defaults() {
        let config = SimConfig::from_toml_str(
            r#"
            [regions.us-east-1.models."m:0"]
            "#,
        )
        .unwrap();
        assert_eq!(config.seed, 0);
        assert_eq!(config.latency.first_token_ms, 0);
        assert_eq!(config.model("us-east-1", "m:0"), Some(&SimModel::default()));
    }

    #[test]
    fn unknown_keys_are_rejected_by_name() {
        let err = SimConfig::from_toml_str(
            r#"
            [regions.us-east-1.models."m:0"]
            max_output_token = 10
            "#,
        )
        .unwrap_err();
        assert!(err.to_string().contains("max_output_token"), "{err}");
    }

    #[test]
    fn zero_limits_are_rejected() {
        let err = SimConfig::from_toml_str(
            r#"
            [regions.us-east-1.models."m:0"]
            max_output_tokens = 0
            "#,
        )
        .unwrap_err();
        assert!(matches!(err, SimConfigError::Invalid(_)), "{err}");
    }

    #[test]
    fn arns_of_the_calling_region_find_the_bare_id() {
        let config = SimConfig::sample();
        let profile = "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-sonnet-4-20250514-v1:0";
        assert!(config.model("us-east-1", profile).is_some());
        assert!(
            config.model("us-west-2", profile).is_none(),
            "ARN of another region"
        );
        let foundation =
            "arn:aws:bedrock:eu-west-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0";
        assert!(config.model("eu-west-1", foundation).is_some());
        assert!(
            config
                .model("eu-west-1", "arn:aws:bedrock:eu-west-1::custom-model/x")
                .is_none()
        );
        assert!(
            config
                .model("ap-south-1", "anthropic.claude-3-haiku-20240307-v1:0")
                .is_none()
        );
    }
}
