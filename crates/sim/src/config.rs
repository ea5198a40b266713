//! The simulator's scenario: which models each region serves, with what limits, and how slow
//! the simulated models are.
//!
//! A scenario is a TOML file (or [`SimConfig::sample`]). Unknown keys are rejected so that a typo
//! in a scenario fails loudly instead of silently simulating something else. Later scenarios will
//! also carry quotas and faults per bucket; they belong here, next to the models they apply to.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

/// A whole scenario: the seed of the synthetic text, the simulated latency and the regions.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SimConfig {
    /// Seeds the synthetic completions, so that two runs of one scenario answer alike.
    pub seed: u64,
    /// How long a simulated call takes.
    pub latency: LatencyConfig,
    /// Regions by name (e.g. `us-east-1`); a region not listed serves nothing.
    pub regions: BTreeMap<String, RegionConfig>,
}

/// Simulated model latency; both parts default to 0 so that tests run instantly.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LatencyConfig {
    /// Time before the first token, in milliseconds.
    pub first_token_ms: u64,
    /// Time per generated token, in milliseconds.
    pub per_output_token_ms: u64,
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

/// Claude 4 Sonnet's on-demand id; Bedrock serves it only through inference profiles.
const SONNET_4: &str = "anthropic.claude-sonnet-4-20250514-v1:0";
const HAIKU_3: &str = "anthropic.claude-3-haiku-20240307-v1:0";
const NOVA_LITE: &str = "amazon.nova-lite-v1:0";

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

    /// Three regions (us-east-1, us-west-2, eu-west-1) serving a few real Bedrock models:
    /// Claude 3 Haiku everywhere, Claude Sonnet 4 through the `us.` profile in the US regions and
    /// the `eu.` profile in eu-west-1 (its on-demand id is refused everywhere), and Nova Lite in
    /// the US regions. Seed 42, no latency.
    pub fn sample() -> Self {
        let haiku = SimModel {
            max_output_tokens: 4096,
            output_burndown: 1,
            requires_inference_profile: false,
        };
        let sonnet_profile = SimModel {
            max_output_tokens: 64_000,
            output_burndown: 5,
            requires_inference_profile: false,
        };
        let sonnet_on_demand = SimModel {
            requires_inference_profile: true,
            ..sonnet_profile.clone()
        };
        let nova_lite = SimModel {
            max_output_tokens: 5000,
            output_burndown: 1,
            requires_inference_profile: false,
        };
        let region = |profile_prefix: &str, with_nova: bool| {
            let mut models = BTreeMap::new();
            models.insert(HAIKU_3.to_owned(), haiku.clone());
            models.insert(SONNET_4.to_owned(), sonnet_on_demand.clone());
            models.insert(
                format!("{profile_prefix}.{SONNET_4}"),
                sonnet_profile.clone(),
            );
            if with_nova {
                models.insert(NOVA_LITE.to_owned(), nova_lite.clone());
            }
            RegionConfig { models }
        };
        let regions = BTreeMap::from([
            ("us-east-1".to_owned(), region("us", true)),
            ("us-west-2".to_owned(), region("us", true)),
            ("eu-west-1".to_owned(), region("eu", false)),
        ]);
        Self {
            seed: 42,
            latency: LatencyConfig::default(),
            regions,
        }
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
        Ok(())
    }

    /// The model a call names in `region`: the entry keyed exactly by `model_id`, else, for a
    /// foundation-model or inference-profile ARN of that same region, the entry keyed by the
    /// ARN's bare id. `None` when the region serves no such model.
    pub fn model(&self, region: &str, model_id: &str) -> Option<&SimModel> {
        let models = &self.regions.get(region)?.models;
        if let Some(model) = models.get(model_id) {
            return Some(model);
        }
        let arn = parse_bedrock_arn(model_id)?;
        if arn.region != region {
            return None;
        }
        models.get(arn.resource_id)
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
