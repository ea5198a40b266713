//! `GET /regions`: every bucket of the quota table with its configured limits, the models
//! routed to it, and what each live worker reports about it right now (its share, its limit
//! after throttle backoff, tokens used and reserved, calls in flight, breaker, outcomes,
//! latency), with sums over the workers. The reports come from the workers' heartbeats in the
//! quota store, so the view covers every worker wherever it runs.
//!
//! Open to every authenticated caller (it shows no prompts and no owners); without a quota
//! store it answers 503 `quota_store_unavailable`.

use axum::Json;
use axum::extract::State;
use bedrock_lb_core::{BreakerState, BucketQuota, BucketReport, QuotaTable, WorkerBeat};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use crate::ApiState;
use crate::auth::Caller;
use crate::openapi::ErrorBody;
use crate::routes::admin::access::{QuotaRouteError, quota_store};
use crate::routes::admin::body::BucketQuotaView;

/// The answer of `GET /regions`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RegionsView {
    /// When this view was taken (RFC 3339).
    pub at: DateTime<Utc>,
    /// The workers whose heartbeat is fresh.
    pub workers: Vec<WorkerView>,
    /// Every bucket of the quota table, by region then model id.
    pub buckets: Vec<BucketView>,
}

/// A live worker.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WorkerView {
    pub worker_id: String,
    /// Its routing strategy, e.g. `quota-aware`.
    pub strategy: String,
    /// Its last heartbeat (RFC 3339).
    pub seen_at: DateTime<Utc>,
    /// When it counts as gone unless it beats again (RFC 3339).
    pub expires_at: DateTime<Utc>,
}

/// One bucket: its configuration and the live workers' reports.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BucketView {
    /// Its limits and routing settings, as `GET /admin/quotas` shows them.
    #[serde(flatten)]
    pub quota: BucketQuotaView,
    /// The logical models routed to this bucket.
    pub models: Vec<String>,
    /// How many live workers report this bucket.
    pub live_workers: usize,
    /// Each live worker's report, by worker id.
    pub workers: Vec<WorkerBucketView>,
    /// The reports summed over the workers.
    pub totals: BucketTotals,
}

/// A circuit breaker's state.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = BreakerState)]
pub enum BreakerView {
    Closed,
    Open,
    HalfOpen,
}

impl From<BreakerState> for BreakerView {
    fn from(state: BreakerState) -> Self {
        match state {
            BreakerState::Closed => Self::Closed,
            BreakerState::Open => Self::Open,
            BreakerState::HalfOpen => Self::HalfOpen,
        }
    }
}

/// What one worker reports about one bucket.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WorkerBucketView {
    pub worker_id: String,
    /// The worker's share of the bucket's tpm.
    pub share_tpm: u64,
    /// The share after throttle backoff: what the worker admits up to now.
    pub limit_tpm: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub share_rpm: Option<u64>,
    /// Tokens counted against the share now (settled, not yet refilled, plus reserved).
    pub used_tokens: u64,
    /// Reservations of calls in flight.
    pub reserved_tokens: u64,
    pub window_reserved_tokens: u64,
    pub window_settled_tokens: u64,
    pub in_flight: u64,
    pub breaker: BreakerView,
    /// Why the bucket is out of rotation for this worker, if it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disabled_reason: Option<String>,
    pub successes: u64,
    pub throttles: u64,
    pub errors: u64,
    /// Smoothed latency of successful calls, in milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<u64>,
}

impl WorkerBucketView {
    fn new(worker_id: &str, r: &BucketReport) -> Self {
        Self {
            worker_id: worker_id.to_owned(),
            share_tpm: r.share_tpm,
            limit_tpm: r.limit_tpm,
            share_rpm: r.share_rpm,
            used_tokens: r.used_tokens,
            reserved_tokens: r.reserved_tokens,
            window_reserved_tokens: r.window_reserved_tokens,
            window_settled_tokens: r.window_settled_tokens,
            in_flight: r.in_flight,
            breaker: r.breaker.into(),
            disabled_reason: r.disabled_reason.clone(),
            successes: r.successes,
            throttles: r.throttles,
            errors: r.errors,
            latency_ms: r.latency_ms,
        }
    }
}

/// Sums over the live workers' reports of one bucket.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct BucketTotals {
    pub share_tpm: u64,
    pub limit_tpm: u64,
    pub used_tokens: u64,
    pub reserved_tokens: u64,
    pub window_reserved_tokens: u64,
    pub window_settled_tokens: u64,
    pub in_flight: u64,
    pub successes: u64,
    pub throttles: u64,
    pub errors: u64,
    /// Mean of the workers' latencies, when any reports one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<u64>,
    /// Workers whose breaker for this bucket is not closed.
    pub breakers_not_closed: usize,
}

impl BucketTotals {
    fn of(reports: &[WorkerBucketView]) -> Self {
        let sum =
            |f: fn(&WorkerBucketView) -> u64| reports.iter().map(f).fold(0u64, u64::saturating_add);
        let latencies: Vec<u64> = reports.iter().filter_map(|r| r.latency_ms).collect();
        let latency_ms = u64::try_from(latencies.len())
            .ok()
            .filter(|n| *n > 0)
            .map(|n| latencies.iter().fold(0u64, |a, b| a.saturating_add(*b)) / n);
        Self {
            share_tpm: sum(|r| r.share_tpm),
            limit_tpm: sum(|r| r.limit_tpm),
            used_tokens: sum(|r| r.used_tokens),
            reserved_tokens: sum(|r| r.reserved_tokens),
            window_reserved_tokens: sum(|r| r.window_reserved_tokens),
            window_settled_tokens: sum(|r| r.window_settled_tokens),
            in_flight: sum(|r| r.in_flight),
            successes: sum(|r| r.successes),
            throttles: sum(|r| r.throttles),
            errors: sum(|r| r.errors),
            latency_ms,
            breakers_not_closed: reports
                .iter()
                .filter(|r| !matches!(r.breaker, BreakerView::Closed))
                .count(),
        }
    }
}

/// Every bucket with its quota and the live workers' reports.
#[utoipa::path(
    get,
    path = "/regions",
    tag = "quotas",
    responses(
        (status = 200, description = "Every bucket, its configuration and the workers' view of it", body = RegionsView),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 503, description = "No quota store, or it is unavailable", body = ErrorBody),
    ),
    security((), ("sigv4" = []), ("api_key" = []))
)]
pub async fn get_regions(
    State(state): State<ApiState>,
    _caller: Caller,
) -> Result<Json<RegionsView>, QuotaRouteError> {
    let store = quota_store(&state)?;
    let now = state.clock.now();
    let table = store.table().await?;
    let workers = store.live_workers(now).await?;
    Ok(Json(regions_view(&table, &workers, now)))
}

/// The view of `table` with the reports of `workers`, taken at `now`.
pub fn regions_view(table: &QuotaTable, workers: &[WorkerBeat], now: DateTime<Utc>) -> RegionsView {
    let mut workers: Vec<&WorkerBeat> = workers.iter().collect();
    workers.sort_by(|a, b| a.worker_id.cmp(&b.worker_id));
    let mut buckets: Vec<&BucketQuota> = table.buckets.iter().collect();
    buckets.sort_by(|a, b| (&a.region, &a.model_id).cmp(&(&b.region, &b.model_id)));
    RegionsView {
        at: now,
        workers: workers
            .iter()
            .map(|w| WorkerView {
                worker_id: w.worker_id.clone(),
                strategy: w.strategy.as_str().to_owned(),
                seen_at: w.seen_at,
                expires_at: w.expires_at,
            })
            .collect(),
        buckets: buckets
            .into_iter()
            .map(|q| bucket_view(table, q, &workers))
            .collect(),
    }
}

fn bucket_view(table: &QuotaTable, q: &BucketQuota, workers: &[&WorkerBeat]) -> BucketView {
    let mut models: Vec<String> = table
        .routes
        .iter()
        .filter(|r| r.region == q.region && r.model_id == q.model_id)
        .map(|r| r.model.clone())
        .collect();
    models.sort();
    models.dedup();
    let reports: Vec<WorkerBucketView> = workers
        .iter()
        .filter_map(|w| {
            w.buckets
                .iter()
                .find(|r| r.region == q.region && r.model_id == q.model_id)
                .map(|r| WorkerBucketView::new(&w.worker_id, r))
        })
        .collect();
    BucketView {
        quota: BucketQuotaView::from(q),
        models,
        live_workers: reports.len(),
        totals: BucketTotals::of(&reports),
        workers: reports,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bedrock_lb_core::{ModelRoute, Strategy};

    fn report(used: u64, latency: Option<u64>, breaker: BreakerState) -> BucketReport {
        BucketReport {
            region: "us-east-1".into(),
            model_id: "m".into(),
            share_tpm: 500,
            limit_tpm: 400,
            used_tokens: used,
            latency_ms: latency,
            breaker,
            throttles: 1,
            ..BucketReport::default()
        }
    }

    fn beat(id: &str, report: BucketReport) -> WorkerBeat {
        WorkerBeat {
            worker_id: id.into(),
            seen_at: DateTime::UNIX_EPOCH,
            expires_at: DateTime::UNIX_EPOCH,
            strategy: Strategy::QuotaAware,
            buckets: vec![report],
        }
    }

    #[test]
    fn reports_are_listed_per_bucket_and_summed() {
        let quota = BucketQuota::new("us-east-1", "m", 1000);
        let other = BucketQuota {
            region: "eu-west-1".into(),
            ..quota.clone()
        };
        let table = QuotaTable {
            buckets: vec![quota, other],
            routes: vec![ModelRoute {
                model: "a".into(),
                region: "us-east-1".into(),
                model_id: "m".into(),
            }],
        };
        let workers = [
            beat("w2", report(30, None, BreakerState::Open)),
            beat("w1", report(10, Some(100), BreakerState::Closed)),
        ];
        let view = regions_view(&table, &workers, DateTime::UNIX_EPOCH);
        assert_eq!(view.workers[0].worker_id, "w1");
        assert_eq!(view.buckets[0].quota.region, "eu-west-1");
        assert_eq!(view.buckets[0].live_workers, 0);
        let us = &view.buckets[1];
        assert_eq!(us.models, ["a"]);
        assert_eq!(us.live_workers, 2);
        assert_eq!(us.totals.share_tpm, 1000);
        assert_eq!(us.totals.used_tokens, 40);
        assert_eq!(us.totals.throttles, 2);
        assert_eq!(us.totals.latency_ms, Some(100));
        assert_eq!(us.totals.breakers_not_closed, 1);
    }
}
