//! The model catalogue: which logical model names the service accepts, and which Bedrock
//! buckets (region, model id or inference profile id) can serve each of them.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// One Bedrock quota bucket: a region and the model id or inference profile id called there.
/// Bedrock keeps a separate quota for each such pair.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct BucketId {
    /// AWS region, e.g. `us-east-1`.
    pub region: String,
    /// Bedrock model id, inference profile id or ARN, e.g. `anthropic.claude-3-haiku-20240307-v1:0`.
    pub model_id: String,
}

impl BucketId {
    /// A bucket for `model_id` in `region`.
    pub fn new(region: impl Into<String>, model_id: impl Into<String>) -> Self {
        Self {
            region: region.into(),
            model_id: model_id.into(),
        }
    }
}

impl fmt::Display for BucketId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.region, self.model_id)
    }
}

/// A logical model that clients name in their requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelSpec {
    /// The logical name, e.g. `claude-3-haiku`.
    pub name: String,
    /// The model's largest allowed `max_tokens`; Bedrock reserves this much when a request sets
    /// no `max_tokens`.
    pub max_output_tokens: u32,
    /// The buckets that serve this model, in configuration order.
    pub buckets: Vec<BucketId>,
}

/// All logical models the service serves, and the one used when a request names none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelCatalog {
    default_model: String,
    models: BTreeMap<String, ModelSpec>,
}

/// Why a catalogue could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CatalogError {
    #[error("the catalogue has no models")]
    Empty,
    #[error("default model `{0}` is not one of the configured models")]
    UnknownDefault(String),
    #[error("model `{0}` has no regions to serve it")]
    NoBuckets(String),
    #[error("model `{0}` has max_output_tokens 0")]
    ZeroMaxTokens(String),
}

impl ModelCatalog {
    /// Builds a catalogue and checks that it is usable.
    pub fn new(
        default_model: impl Into<String>,
        models: impl IntoIterator<Item = ModelSpec>,
    ) -> Result<Self, CatalogError> {
        let default_model = default_model.into();
        let models: BTreeMap<_, _> = models.into_iter().map(|m| (m.name.clone(), m)).collect();
        if models.is_empty() {
            return Err(CatalogError::Empty);
        }
        if let Some(model) = models.values().find(|m| m.buckets.is_empty()) {
            return Err(CatalogError::NoBuckets(model.name.clone()));
        }
        if let Some(model) = models.values().find(|m| m.max_output_tokens == 0) {
            return Err(CatalogError::ZeroMaxTokens(model.name.clone()));
        }
        if !models.contains_key(&default_model) {
            return Err(CatalogError::UnknownDefault(default_model));
        }
        Ok(Self {
            default_model,
            models,
        })
    }

    /// The model used when a request names none.
    pub fn default_model(&self) -> &str {
        &self.default_model
    }

    /// The model called `name`, if configured.
    pub fn get(&self, name: &str) -> Option<&ModelSpec> {
        self.models.get(name)
    }

    /// All models, by name.
    pub fn models(&self) -> impl Iterator<Item = &ModelSpec> {
        self.models.values()
    }

    /// Every region that serves at least one model, sorted and without repeats.
    pub fn regions(&self) -> Vec<String> {
        let mut regions: Vec<String> = self
            .models
            .values()
            .flat_map(|m| m.buckets.iter().map(|b| b.region.clone()))
            .collect();
        regions.sort();
        regions.dedup();
        regions
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str, regions: &[&str]) -> ModelSpec {
        ModelSpec {
            name: name.into(),
            max_output_tokens: 4096,
            buckets: regions.iter().map(|r| BucketId::new(*r, "m")).collect(),
        }
    }

    #[test]
    fn rejects_an_unknown_default() {
        let err = ModelCatalog::new("nope", [spec("a", &["us-east-1"])]).unwrap_err();
        assert_eq!(err, CatalogError::UnknownDefault("nope".into()));
    }

    #[test]
    fn rejects_a_model_without_buckets() {
        let err = ModelCatalog::new("a", [spec("a", &[])]).unwrap_err();
        assert_eq!(err, CatalogError::NoBuckets("a".into()));
    }

    #[test]
    fn lists_regions_once_each() {
        let catalog = ModelCatalog::new(
            "a",
            [
                spec("a", &["us-west-2", "us-east-1"]),
                spec("b", &["us-east-1"]),
            ],
        )
        .unwrap();
        assert_eq!(catalog.regions(), ["us-east-1", "us-west-2"]);
        assert_eq!(catalog.default_model(), "a");
        assert!(catalog.get("b").is_some());
    }
}
