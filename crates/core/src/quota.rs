//! The quota table: what each Bedrock bucket may use (tokens per minute, optional requests per
//! minute and tokens per day, output burndown), how routing treats it (weight, enabled), which
//! buckets serve each logical model (its routes), and the heartbeats through which workers find
//! out how many of them share each quota. The [`QuotaStore`] port keeps it (DynamoDB in the aws
//! backend, SQLite in the local one); every worker reads it every few seconds, so an edit made
//! with the CLI or the admin API reaches all of them without a restart.

use std::fmt::{self, Debug};
use std::str::FromStr;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::catalog::BucketId;
use crate::ports::StoreError;

/// Tokens per minute seeded for a bucket whose configuration gives none. Conservative on
/// purpose: set the real quota with `bedrock-lb quotas set`.
pub const DEFAULT_TPM: u64 = 100_000;

/// The limits and routing settings of one bucket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketQuota {
    pub region: String,
    /// Bedrock model id, inference profile id or ARN.
    pub model_id: String,
    /// Tokens per quota window (a minute, unless the window is compressed for tests).
    pub tpm: u64,
    /// Requests per window, when the account has such a quota.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rpm: Option<u64>,
    /// Tokens per day, when the account has such a quota.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tpd: Option<u64>,
    /// Quota tokens one output token costs.
    pub output_burndown: u32,
    /// Routing weight: the tie-breaker of `quota-aware`, the share of `weighted`, the order of
    /// `failover`.
    pub weight: u32,
    /// A disabled bucket receives no traffic.
    pub enabled: bool,
}

impl BucketQuota {
    /// A bucket allowing `tpm` tokens per window, with no rpm or daily limit, burndown 1,
    /// weight 1, enabled.
    pub fn new(region: impl Into<String>, model_id: impl Into<String>, tpm: u64) -> Self {
        Self {
            region: region.into(),
            model_id: model_id.into(),
            tpm,
            rpm: None,
            tpd: None,
            output_burndown: 1,
            weight: 1,
            enabled: true,
        }
    }

    /// The bucket these settings are for.
    pub fn bucket(&self) -> BucketId {
        BucketId::new(&self.region, &self.model_id)
    }

    /// Applies the fields `patch` sets; fails on a value no bucket may have.
    pub fn apply(&mut self, patch: &BucketPatch) -> Result<(), QuotaError> {
        let mut next = self.clone();
        if let Some(tpm) = patch.tpm {
            next.tpm = tpm;
        }
        if let Some(rpm) = patch.rpm {
            next.rpm = rpm;
        }
        if let Some(tpd) = patch.tpd {
            next.tpd = tpd;
        }
        if let Some(burndown) = patch.output_burndown {
            next.output_burndown = burndown;
        }
        if let Some(weight) = patch.weight {
            next.weight = weight;
        }
        if let Some(enabled) = patch.enabled {
            next.enabled = enabled;
        }
        next.validate()?;
        *self = next;
        Ok(())
    }

    /// Checks the limits are usable: a zero quota or burndown is a typo, not a setting
    /// (disable the bucket instead).
    pub fn validate(&self) -> Result<(), QuotaError> {
        let bucket = self.bucket();
        let invalid = |what: &str| Err(QuotaError::Invalid(format!("{bucket}: {what}")));
        if self.region.trim().is_empty() || self.model_id.trim().is_empty() {
            return invalid("region and model id must not be empty");
        }
        if self.tpm == 0 {
            return invalid("tpm must be at least 1 (disable the bucket to stop its traffic)");
        }
        if self.rpm == Some(0) || self.tpd == Some(0) {
            return invalid("rpm and tpd must be at least 1 when set");
        }
        if self.output_burndown == 0 {
            return invalid("output_burndown must be at least 1");
        }
        Ok(())
    }
}

/// A change to some fields of a bucket; `None` leaves a field as it is. For `rpm` and `tpd`,
/// `Some(None)` removes the limit.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BucketPatch {
    #[serde(default)]
    pub tpm: Option<u64>,
    #[serde(default, with = "double_option")]
    pub rpm: Option<Option<u64>>,
    #[serde(default, with = "double_option")]
    pub tpd: Option<Option<u64>>,
    #[serde(default)]
    pub output_burndown: Option<u32>,
    #[serde(default)]
    pub weight: Option<u32>,
    #[serde(default)]
    pub enabled: Option<bool>,
}

/// `"rpm": null` clears the limit, an absent `rpm` leaves it alone.
mod double_option {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(value: &Option<Option<u64>>, s: S) -> Result<S::Ok, S::Error> {
        value.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<u64>>, D::Error> {
        Option::<u64>::deserialize(d).map(Some)
    }
}

/// A route: logical model `model` is served in `region` by the bucket of `model_id` there.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ModelRoute {
    /// The logical model name clients use.
    pub model: String,
    pub region: String,
    /// Bedrock model id, inference profile id or ARN called in `region`.
    pub model_id: String,
}

impl ModelRoute {
    /// The bucket this route sends traffic to.
    pub fn bucket(&self) -> BucketId {
        BucketId::new(&self.region, &self.model_id)
    }
}

/// The quota table's configuration: every bucket and every route.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuotaTable {
    pub buckets: Vec<BucketQuota>,
    pub routes: Vec<ModelRoute>,
}

impl QuotaTable {
    /// The settings of `bucket`, if it is in the table.
    pub fn bucket(&self, bucket: &BucketId) -> Option<&BucketQuota> {
        self.buckets
            .iter()
            .find(|b| b.region == bucket.region && b.model_id == bucket.model_id)
    }

    /// The buckets that serve logical model `model`, in region order.
    pub fn buckets_of(&self, model: &str) -> Vec<BucketId> {
        let mut buckets: Vec<BucketId> = self
            .routes
            .iter()
            .filter(|r| r.model == model)
            .map(ModelRoute::bucket)
            .collect();
        buckets.sort();
        buckets.dedup();
        buckets
    }
}

/// How a worker chooses among the buckets that serve a job's model.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    /// The most free capacity as a fraction of the bucket's share, then weight, then latency.
    #[default]
    QuotaAware,
    /// Each bucket in turn.
    RoundRobin,
    /// Buckets at random in proportion to their weights.
    Weighted,
    /// The highest weight that has room; lower weights only when it has none.
    Failover,
    /// The seed design: the most tokens left in a per-minute counter, no reservations.
    MaxAvailable,
}

impl Strategy {
    /// Every strategy, in the order benchmarks print them.
    pub const ALL: [Self; 5] = [
        Self::QuotaAware,
        Self::RoundRobin,
        Self::Weighted,
        Self::Failover,
        Self::MaxAvailable,
    ];

    /// The configuration name, e.g. `quota-aware`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::QuotaAware => "quota-aware",
            Self::RoundRobin => "round-robin",
            Self::Weighted => "weighted",
            Self::Failover => "failover",
            Self::MaxAvailable => "max-available",
        }
    }
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Strategy {
    type Err = QuotaError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|strategy| strategy.as_str() == s)
            .ok_or_else(|| {
                QuotaError::Invalid(format!(
                    "unknown strategy `{s}`; one of quota-aware, round-robin, weighted, failover, max-available"
                ))
            })
    }
}

/// A circuit breaker's state, as reported.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakerState {
    #[default]
    Closed,
    Open,
    HalfOpen,
}

impl BreakerState {
    /// A low-cardinality label for metrics and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::Open => "open",
            Self::HalfOpen => "half_open",
        }
    }
}

/// What one worker knows about one bucket right now; published with its heartbeat, so that
/// `GET /regions` can show every worker's view, wherever it runs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketReport {
    pub region: String,
    pub model_id: String,
    /// This worker's share of the bucket's tpm (the quota divided among live workers).
    pub share_tpm: u64,
    /// The share after adaptive backoff on throttles: what the worker admits up to now.
    pub limit_tpm: u64,
    /// This worker's share of the bucket's rpm, when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub share_rpm: Option<u64>,
    /// Tokens counted against the share now: settled usage not yet refilled, plus reservations.
    pub used_tokens: u64,
    /// Reservations of calls in flight.
    pub reserved_tokens: u64,
    /// Tokens reserved by calls admitted in the current window.
    pub window_reserved_tokens: u64,
    /// Tokens settled by calls finished in the current window.
    pub window_settled_tokens: u64,
    /// Calls in flight.
    pub in_flight: u64,
    pub breaker: BreakerState,
    /// Why the bucket is out of rotation for now (e.g. Bedrock said the model is not enabled
    /// there), if it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled_reason: Option<String>,
    /// Calls since the worker started, by outcome.
    pub successes: u64,
    pub throttles: u64,
    pub errors: u64,
    /// Smoothed latency of successful calls, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<u64>,
}

/// A worker's heartbeat in the quota store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerBeat {
    pub worker_id: String,
    pub seen_at: DateTime<Utc>,
    /// After this the worker counts as dead and its share goes to the others.
    pub expires_at: DateTime<Utc>,
    /// The routing strategy it runs.
    pub strategy: Strategy,
    /// Its view of every bucket it knows.
    pub buckets: Vec<BucketReport>,
}

/// Why a quota setting was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuotaError {
    #[error("{0}")]
    Invalid(String),
}

/// Where the quota table lives. Readers are every worker (every few seconds) and the API;
/// writers are the CLI and the admin API (configuration) and the workers (heartbeats).
#[async_trait]
pub trait QuotaStore: Send + Sync + Debug {
    /// Every bucket, in (region, model_id) order, and every route, in (model, region) order.
    async fn table(&self) -> Result<QuotaTable, StoreError>;

    /// Creates or replaces the settings of one bucket.
    async fn put_bucket(&self, quota: &BucketQuota) -> Result<(), StoreError>;

    /// Creates or replaces the route of `route.model` in `route.region`.
    async fn put_route(&self, route: &ModelRoute) -> Result<(), StoreError>;

    /// Removes the route of `model` in `region`; `false` when there was none.
    async fn delete_route(&self, model: &str, region: &str) -> Result<bool, StoreError>;

    /// Writes `seed` when the table holds no bucket yet and returns whether it did. Each item is
    /// written only where absent, so a concurrent seeder or an edit is never overwritten.
    async fn seed(&self, seed: &QuotaTable) -> Result<bool, StoreError>;

    /// Records or renews a worker's heartbeat.
    async fn beat(&self, beat: &WorkerBeat) -> Result<(), StoreError>;

    /// The workers whose heartbeat has not expired at `now`, by worker id.
    async fn live_workers(&self, now: DateTime<Utc>) -> Result<Vec<WorkerBeat>, StoreError>;

    /// Removes a worker's heartbeat (a clean shutdown), so its share returns to the others at
    /// once.
    async fn leave(&self, worker_id: &str) -> Result<(), StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quota() -> BucketQuota {
        BucketQuota {
            region: "us-east-1".into(),
            model_id: "m".into(),
            tpm: 1000,
            rpm: Some(10),
            tpd: None,
            output_burndown: 1,
            weight: 1,
            enabled: true,
        }
    }

    #[test]
    fn a_patch_sets_clears_and_leaves_fields() {
        let mut q = quota();
        let patch: BucketPatch =
            serde_json::from_str(r#"{"tpm": 5000, "rpm": null, "enabled": false}"#).unwrap();
        q.apply(&patch).unwrap();
        assert_eq!((q.tpm, q.rpm, q.enabled, q.weight), (5000, None, false, 1));
    }

    #[test]
    fn a_bad_patch_changes_nothing() {
        let mut q = quota();
        let err = q
            .apply(&BucketPatch {
                tpm: Some(0),
                weight: Some(9),
                ..BucketPatch::default()
            })
            .unwrap_err();
        assert!(err.to_string().contains("tpm"), "{err}");
        assert_eq!(q, quota());
    }

    #[test]
    fn strategies_round_trip_through_their_names() {
        for s in Strategy::ALL {
            assert_eq!(s.as_str().parse::<Strategy>().unwrap(), s);
            assert_eq!(serde_json::to_string(&s).unwrap(), format!("\"{s}\""));
        }
        assert!("fastest".parse::<Strategy>().is_err());
    }

    #[test]
    fn routes_name_each_bucket_once() {
        let route = |model: &str, region: &str| ModelRoute {
            model: model.into(),
            region: region.into(),
            model_id: "m".into(),
        };
        let table = QuotaTable {
            buckets: vec![quota()],
            routes: vec![
                route("a", "us-west-2"),
                route("a", "us-east-1"),
                route("b", "us-east-1"),
            ],
        };
        assert_eq!(
            table.buckets_of("a"),
            [
                BucketId::new("us-east-1", "m"),
                BucketId::new("us-west-2", "m")
            ]
        );
        assert!(table.bucket(&BucketId::new("us-east-1", "m")).is_some());
        assert!(table.buckets_of("c").is_empty());
    }
}
