//! The JSON bodies of the admin routes, with their OpenAPI schemas. The quota types live in
//! `bedrock-lb-core`, which knows nothing of utoipa, so the API keeps its own mirrors here;
//! the tests check each mirror against the core type's serde form, so they cannot drift.

#![allow(dead_code)] // Some mirror types exist for their schemas only.

use bedrock_lb_core::{BucketQuota, ModelRoute, QuotaError, QuotaTable};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The largest tpm, rpm or tpd the API accepts: far above any real quota, and an integer every
/// store (SQLite's i64, DynamoDB, JSON readers with doubles) holds exactly.
pub const MAX_LIMIT: u64 = 1_000_000_000_000_000;

/// One bucket's limits and routing settings.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = BucketQuota)]
pub struct BucketQuotaView {
    pub region: String,
    /// Bedrock model id, inference profile id or ARN.
    pub model_id: String,
    /// Tokens per quota window (a minute).
    pub tpm: u64,
    /// Requests per window, when the account has such a quota.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rpm: Option<u64>,
    /// Tokens per day, when the account has such a quota.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tpd: Option<u64>,
    /// Quota tokens one output token costs (5 for Claude 3.7 Sonnet and later, else 1).
    pub output_burndown: u32,
    /// Routing weight.
    pub weight: u32,
    /// A disabled bucket receives no traffic.
    pub enabled: bool,
}

impl From<&BucketQuota> for BucketQuotaView {
    fn from(q: &BucketQuota) -> Self {
        Self {
            region: q.region.clone(),
            model_id: q.model_id.clone(),
            tpm: q.tpm,
            rpm: q.rpm,
            tpd: q.tpd,
            output_burndown: q.output_burndown,
            weight: q.weight,
            enabled: q.enabled,
        }
    }
}

/// A route: logical model `model` is served in `region` by the bucket of `model_id` there.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = ModelRoute)]
pub struct ModelRouteView {
    pub model: String,
    pub region: String,
    pub model_id: String,
}

impl From<&ModelRoute> for ModelRouteView {
    fn from(r: &ModelRoute) -> Self {
        Self {
            model: r.model.clone(),
            region: r.region.clone(),
            model_id: r.model_id.clone(),
        }
    }
}

/// The quota table: every bucket and every route.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = QuotaTable)]
pub struct QuotaTableView {
    pub buckets: Vec<BucketQuotaView>,
    pub routes: Vec<ModelRouteView>,
}

impl From<&QuotaTable> for QuotaTableView {
    fn from(t: &QuotaTable) -> Self {
        Self {
            buckets: t.buckets.iter().map(BucketQuotaView::from).collect(),
            routes: t.routes.iter().map(ModelRouteView::from).collect(),
        }
    }
}

/// `PATCH /admin/buckets/{region}/{model_id}`: the fields to change; an absent field is left
/// alone, `null` removes an `rpm` or `tpd` limit. Parsed as the core `BucketPatch`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = BucketPatch)]
pub struct PatchSchema {
    #[schema(minimum = 1, maximum = 1_000_000_000_000_000_u64)]
    pub tpm: Option<u64>,
    #[schema(minimum = 1, maximum = 1_000_000_000_000_000_u64)]
    pub rpm: Option<u64>,
    #[schema(minimum = 1, maximum = 1_000_000_000_000_000_u64)]
    pub tpd: Option<u64>,
    #[schema(minimum = 1)]
    pub output_burndown: Option<u32>,
    pub weight: Option<u32>,
    pub enabled: Option<bool>,
}

/// `PUT /admin/buckets/{region}/{model_id}`: a whole bucket. `region` and `model_id` may be
/// left out (the path gives them); when given they must match the path.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = BucketBody)]
pub struct BucketBody {
    pub region: Option<String>,
    pub model_id: Option<String>,
    /// Tokens per quota window.
    #[schema(minimum = 1, maximum = 1_000_000_000_000_000_u64)]
    pub tpm: u64,
    #[serde(default)]
    #[schema(minimum = 1, maximum = 1_000_000_000_000_000_u64)]
    pub rpm: Option<u64>,
    #[serde(default)]
    #[schema(minimum = 1, maximum = 1_000_000_000_000_000_u64)]
    pub tpd: Option<u64>,
    /// Default 1.
    #[serde(default = "one")]
    #[schema(minimum = 1, default = 1)]
    pub output_burndown: u32,
    /// Default 1.
    #[serde(default = "one")]
    #[schema(default = 1)]
    pub weight: u32,
    /// Default true.
    #[serde(default = "yes")]
    #[schema(default = true)]
    pub enabled: bool,
}

fn one() -> u32 {
    1
}

fn yes() -> bool {
    true
}

impl BucketBody {
    /// The bucket at `region`/`model_id` (the path's) these settings describe.
    pub fn into_quota(self, region: &str, model_id: &str) -> Result<BucketQuota, QuotaError> {
        let mismatch = |field: &str, given: &str, path: &str| {
            QuotaError::Invalid(format!(
                "the body's {field} `{given}` differs from the path's `{path}`"
            ))
        };
        if let Some(given) = self.region.as_deref().filter(|r| *r != region) {
            return Err(mismatch("region", given, region));
        }
        if let Some(given) = self.model_id.as_deref().filter(|m| *m != model_id) {
            return Err(mismatch("model_id", given, model_id));
        }
        Ok(BucketQuota {
            region: region.to_owned(),
            model_id: model_id.to_owned(),
            tpm: self.tpm,
            rpm: self.rpm,
            tpd: self.tpd,
            output_burndown: self.output_burndown,
            weight: self.weight,
            enabled: self.enabled,
        })
    }
}

/// `PUT /admin/routes/{model}/{region}`: the bucket (in that region) to route to.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RouteBody {
    /// Bedrock model id, inference profile id or ARN in the path's region; its bucket must be
    /// in the table already.
    #[schema(min_length = 1)]
    pub model_id: String,
}

/// Refuses limits no store can hold exactly (see [`MAX_LIMIT`]).
pub fn check_limits(quota: &BucketQuota) -> Result<(), QuotaError> {
    let too_big = [Some(quota.tpm), quota.rpm, quota.tpd]
        .into_iter()
        .flatten()
        .any(|n| n > MAX_LIMIT);
    if too_big {
        return Err(QuotaError::Invalid(format!(
            "{}: tpm, rpm and tpd must be at most {MAX_LIMIT}",
            quota.bucket()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use bedrock_lb_core::BucketPatch;
    use serde_json::{Value, json};

    fn quota() -> BucketQuota {
        BucketQuota {
            region: "us-east-1".into(),
            model_id: "m".into(),
            tpm: 10,
            rpm: Some(2),
            tpd: Some(3),
            output_burndown: 5,
            weight: 7,
            enabled: false,
        }
    }

    fn keys(value: &Value) -> Vec<String> {
        let mut keys: Vec<String> = value.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        keys
    }

    #[test]
    fn views_serialize_exactly_like_the_core_types() {
        let q = quota();
        assert_eq!(
            serde_json::to_value(BucketQuotaView::from(&q)).unwrap(),
            serde_json::to_value(&q).unwrap()
        );
        let table = QuotaTable {
            buckets: vec![q],
            routes: vec![ModelRoute {
                model: "a".into(),
                region: "us-east-1".into(),
                model_id: "m".into(),
            }],
        };
        assert_eq!(
            serde_json::to_value(QuotaTableView::from(&table)).unwrap(),
            serde_json::to_value(&table).unwrap()
        );
    }

    #[test]
    fn the_patch_schema_names_every_patch_field() {
        let full = BucketPatch {
            tpm: Some(1),
            rpm: Some(Some(1)),
            tpd: Some(None),
            output_burndown: Some(1),
            weight: Some(1),
            enabled: Some(true),
        };
        let schema =
            serde_json::to_value(<PatchSchema as utoipa::PartialSchema>::schema()).unwrap();
        assert_eq!(
            keys(&schema["properties"]),
            keys(&serde_json::to_value(full).unwrap())
        );
    }

    #[test]
    fn a_bucket_body_takes_the_path_and_defaults() {
        let body: BucketBody = serde_json::from_value(json!({"tpm": 10})).unwrap();
        let q = body.into_quota("eu-west-1", "x").unwrap();
        assert_eq!((q.output_burndown, q.weight, q.enabled), (1, 1, true));
        assert_eq!(q.bucket().to_string(), "eu-west-1/x");
        let body: BucketBody =
            serde_json::from_value(json!({"tpm": 10, "region": "us-east-1"})).unwrap();
        assert!(body.into_quota("eu-west-1", "x").is_err());
        assert!(check_limits(&quota()).is_ok());
        let huge = BucketQuota {
            tpd: Some(MAX_LIMIT + 1),
            ..quota()
        };
        assert!(check_limits(&huge).is_err());
    }
}
