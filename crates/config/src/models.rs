//! The `[models]` section: logical model names, their limits, and the bucket (region and
//! Bedrock model id or inference profile id) that serves each in every region.

use std::collections::BTreeMap;

use bedrock_lb_core::quota::DEFAULT_TPM;
use bedrock_lb_core::{BucketId, BucketQuota, ModelCatalog, ModelRoute, ModelSpec, QuotaTable};
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
/// plain string, or as a table that also gives the bucket's quota and routing settings. These
/// seed the quota table when it is empty; after that the table (edited with `bedrock-lb quotas`
/// or the admin API) is what workers follow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum BucketConfig {
    ModelId(String),
    Table(BucketTable),
}

/// The table form of [`BucketConfig`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BucketTable {
    /// Bedrock model id, inference profile id or ARN.
    pub model_id: String,
    /// Tokens per minute; [`DEFAULT_TPM`] when absent.
    #[serde(default)]
    pub tpm: Option<u64>,
    /// Requests per minute, when the account has that quota.
    #[serde(default)]
    pub rpm: Option<u64>,
    /// Tokens per day, when the account has that quota.
    #[serde(default)]
    pub tpd: Option<u64>,
    /// Routing weight (default 1).
    #[serde(default)]
    pub weight: Option<u32>,
    /// `false` seeds the bucket disabled.
    #[serde(default)]
    pub enabled: Option<bool>,
}

impl BucketConfig {
    /// The Bedrock model id or inference profile id.
    pub fn model_id(&self) -> &str {
        match self {
            Self::ModelId(id) => id,
            Self::Table(table) => &table.model_id,
        }
    }

    /// The bucket's quota settings in `region` for a model with `output_burndown`.
    pub fn quota(&self, region: &str, output_burndown: u32) -> BucketQuota {
        let table = match self {
            Self::ModelId(_) => None,
            Self::Table(table) => Some(table),
        };
        BucketQuota {
            region: region.to_owned(),
            model_id: self.model_id().to_owned(),
            tpm: table.and_then(|t| t.tpm).unwrap_or(DEFAULT_TPM),
            rpm: table.and_then(|t| t.rpm),
            tpd: table.and_then(|t| t.tpd),
            output_burndown,
            weight: table.and_then(|t| t.weight).unwrap_or(1),
            enabled: table.and_then(|t| t.enabled).unwrap_or(true),
        }
    }
}

/// The quota table the configuration describes: one route per model and region, one bucket per
/// (region, model id). A bucket shared by several models takes the first model's settings.
pub(crate) fn quota_seed(models: &BTreeMap<String, ModelConfig>) -> QuotaTable {
    let mut table = QuotaTable::default();
    for (name, model) in models {
        for (region, bucket) in &model.regions {
            table.routes.push(ModelRoute {
                model: name.clone(),
                region: region.clone(),
                model_id: bucket.model_id().to_owned(),
            });
            let quota = bucket.quota(region, model.output_burndown);
            if table.bucket(&quota.bucket()).is_none() {
                table.buckets.push(quota);
            }
        }
    }
    table
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
        for (region, bucket) in &model.regions {
            bucket
                .quota(region, model.output_burndown)
                .validate()
                .map_err(|e| {
                    ConfigError::Invalid(format!("models.{name}.regions.{region}: {e}"))
                })?;
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
