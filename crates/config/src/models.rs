//! The `[models]` section: logical model names, their limits, and the bucket (region and
//! Bedrock model id or inference profile id) that serves each in every region.

use std::collections::BTreeMap;

use bedrock_lb_core::{BucketId, ModelCatalog, ModelSpec};
use serde::{Deserialize, Serialize};

use crate::ConfigError;

/// One logical model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// The model's largest `max_tokens`.
    pub max_output_tokens: u32,
    /// Quota tokens one output token costs (5 for Claude 3.7 Sonnet and the Claude 4 family).
    #[serde(default = "one")]
    pub output_burndown: u32,
    /// Region → the bucket that serves this model there.
    pub regions: BTreeMap<String, BucketConfig>,
}

fn one() -> u32 {
    1
}

/// The bucket serving a model in one region: a model id or inference profile id, written as a
/// plain string or as a table (which later settings such as quotas extend).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum BucketConfig {
    ModelId(String),
    Table {
        /// Bedrock model id, inference profile id or ARN.
        model_id: String,
    },
}

impl BucketConfig {
    /// The Bedrock model id or inference profile id.
    pub fn model_id(&self) -> &str {
        match self {
            Self::ModelId(id) | Self::Table { model_id: id } => id,
        }
    }
}

pub(crate) fn catalog(
    default_model: &str,
    models: &BTreeMap<String, ModelConfig>,
) -> Result<ModelCatalog, ConfigError> {
    let mut specs = Vec::with_capacity(models.len());
    for (name, model) in models {
        let mut buckets = Vec::with_capacity(model.regions.len());
        for (region, bucket) in &model.regions {
            if !is_region_name(region) {
                return Err(ConfigError::Invalid(format!(
                    "models.{name}.regions: `{region}` is not an AWS region name"
                )));
            }
            if bucket.model_id().trim().is_empty() {
                return Err(ConfigError::Invalid(format!(
                    "models.{name}.regions.{region}: empty model id"
                )));
            }
            buckets.push(BucketId::new(region, bucket.model_id()));
        }
        if model.output_burndown == 0 {
            return Err(ConfigError::Invalid(format!(
                "models.{name}.output_burndown must be at least 1"
            )));
        }
        specs.push(ModelSpec {
            name: name.clone(),
            max_output_tokens: model.max_output_tokens,
            buckets,
        });
    }
    ModelCatalog::new(default_model, specs).map_err(|e| ConfigError::Invalid(e.to_string()))
}

/// `us-east-1`, `eu-central-2`, `ap-southeast-3`, `us-gov-west-1`: lowercase words and a number.
fn is_region_name(region: &str) -> bool {
    let parts: Vec<&str> = region.split('-').collect();
    parts.len() >= 3
        && parts
            .last()
            .is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
        && parts[..parts.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_lowercase()))
}

#[cfg(test)]
mod tests {
    use super::is_region_name;

    #[test]
    fn region_names() {
        assert!(is_region_name("us-east-1"));
        assert!(is_region_name("us-gov-west-1"));
        assert!(!is_region_name("useast1"));
        assert!(!is_region_name("us-east-"));
        assert!(!is_region_name("US-EAST-1"));
    }
}
