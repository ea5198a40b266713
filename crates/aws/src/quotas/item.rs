//! How the quota table's records are stored as DynamoDB items, on a table keyed by `pk` (S) +
//! `sk` (S):
//!
//! | record | `pk` | `sk` | other attributes |
//! |---|---|---|---|
//! | bucket | `bucket` | `{region}#{model_id}` | the [`BucketQuota`]'s fields, `rpm`/`tpd` absent when unset |
//! | route | `route` | `{model}#{region}` | the [`ModelRoute`]'s fields |
//! | worker | `worker` | `{worker_id}` | `worker_id`, `seen_at`, `expires_at` (RFC 3339), `strategy`, `reports` (the bucket reports as one JSON string), `expires_ms` (N), `ttl` (N) |
//!
//! One partition per record kind keeps every read a single Query. The fields are native
//! attributes (through serde_dynamo) so the console shows readable records; a heartbeat's
//! reports are one JSON string because nothing queries inside them and they change whole.
//! `expires_ms` lets a Query filter dead workers out; `ttl` (expiry + one day) lets DynamoDB
//! delete them.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use bedrock_lb_core::{BucketQuota, BucketReport, ModelRoute, StoreError, Strategy, WorkerBeat};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_dynamo::aws_sdk_dynamodb_1 as codec;

/// The partition key.
pub(super) const PK: &str = "pk";
/// The sort key.
pub(super) const SK: &str = "sk";
/// The partition of bucket records.
pub(super) const BUCKETS: &str = "bucket";
/// The partition of route records.
pub(super) const ROUTES: &str = "route";
/// The partition of heartbeats.
pub(super) const WORKERS: &str = "worker";
/// A heartbeat's expiry in epoch milliseconds, for the live-workers filter.
pub(super) const EXPIRES_MS: &str = "expires_ms";
/// The table's TTL attribute (epoch seconds).
pub(super) const TTL: &str = "ttl";
/// How long after it expired DynamoDB may delete a heartbeat: a day, so a dead worker stays
/// visible for diagnosis for a while.
const DEAD_WORKER_KEPT_SECS: i64 = 24 * 60 * 60;

/// A string attribute.
pub(super) fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

/// The key of the bucket record of (`region`, `model_id`).
pub(super) fn bucket_sk(region: &str, model_id: &str) -> String {
    format!("{region}#{model_id}")
}

/// The key of the route record of (`model`, `region`).
pub(super) fn route_sk(model: &str, region: &str) -> String {
    format!("{model}#{region}")
}

/// `value`'s fields as attributes, under key (`pk`, `sk`).
fn keyed<T: Serialize>(
    value: &T,
    pk: &str,
    sk: String,
) -> Result<HashMap<String, AttributeValue>, StoreError> {
    let mut item: HashMap<String, AttributeValue> = codec::to_item(value)
        .map_err(|e| StoreError::Corrupt(format!("cannot encode {pk} {sk}: {e}")))?;
    item.insert(PK.to_owned(), s(pk));
    item.insert(SK.to_owned(), s(sk));
    Ok(item)
}

/// The sort key of `item`, for error messages.
fn sk_of(item: &HashMap<String, AttributeValue>) -> &str {
    match item.get(SK) {
        Some(AttributeValue::S(sk)) => sk,
        _ => "<no sk>",
    }
}

/// The item of `quota`.
pub(super) fn bucket_item(
    quota: &BucketQuota,
) -> Result<HashMap<String, AttributeValue>, StoreError> {
    keyed(quota, BUCKETS, bucket_sk(&quota.region, &quota.model_id))
}

/// The bucket stored in `item` (its keys are ignored).
pub(super) fn bucket_from(
    item: HashMap<String, AttributeValue>,
) -> Result<BucketQuota, StoreError> {
    let sk = sk_of(&item).to_owned();
    codec::from_item(item).map_err(|e| StoreError::Corrupt(format!("bucket {sk}: {e}")))
}

/// The item of `route`.
pub(super) fn route_item(
    route: &ModelRoute,
) -> Result<HashMap<String, AttributeValue>, StoreError> {
    keyed(route, ROUTES, route_sk(&route.model, &route.region))
}

/// The route stored in `item`.
pub(super) fn route_from(item: HashMap<String, AttributeValue>) -> Result<ModelRoute, StoreError> {
    let sk = sk_of(&item).to_owned();
    codec::from_item(item).map_err(|e| StoreError::Corrupt(format!("route {sk}: {e}")))
}

/// A heartbeat as stored: the beat with its reports folded into one JSON string.
#[derive(Serialize, Deserialize)]
struct WorkerItem {
    worker_id: String,
    seen_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    strategy: Strategy,
    /// The beat's bucket reports, as JSON.
    reports: String,
}

/// The item of `beat`, with its `expires_ms` and `ttl`.
pub(super) fn worker_item(
    beat: &WorkerBeat,
) -> Result<HashMap<String, AttributeValue>, StoreError> {
    let reports = serde_json::to_string(&beat.buckets).map_err(|e| {
        StoreError::Corrupt(format!(
            "cannot encode the reports of {}: {e}",
            beat.worker_id
        ))
    })?;
    let stored = WorkerItem {
        worker_id: beat.worker_id.clone(),
        seen_at: beat.seen_at,
        expires_at: beat.expires_at,
        strategy: beat.strategy,
        reports,
    };
    let mut item = keyed(&stored, WORKERS, beat.worker_id.clone())?;
    item.insert(
        EXPIRES_MS.to_owned(),
        AttributeValue::N(beat.expires_at.timestamp_millis().to_string()),
    );
    let ttl = beat
        .expires_at
        .timestamp()
        .saturating_add(DEAD_WORKER_KEPT_SECS);
    item.insert(TTL.to_owned(), AttributeValue::N(ttl.to_string()));
    Ok(item)
}

/// The heartbeat stored in `item`.
pub(super) fn worker_from(item: HashMap<String, AttributeValue>) -> Result<WorkerBeat, StoreError> {
    let sk = sk_of(&item).to_owned();
    let corrupt = |e: &dyn std::fmt::Display| StoreError::Corrupt(format!("worker {sk}: {e}"));
    let stored: WorkerItem = codec::from_item(item).map_err(|e| corrupt(&e))?;
    let buckets: Vec<BucketReport> =
        serde_json::from_str(&stored.reports).map_err(|e| corrupt(&e))?;
    Ok(WorkerBeat {
        worker_id: stored.worker_id,
        seen_at: stored.seen_at,
        expires_at: stored.expires_at,
        strategy: stored.strategy,
        buckets,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn a_bucket_without_limits_has_no_rpm_or_tpd_attributes() {
        let quota = BucketQuota {
            region: "us-east-1".into(),
            model_id: "m:0".into(),
            tpm: 18_446_744_073_709_551_615,
            rpm: None,
            tpd: None,
            output_burndown: 5,
            weight: 2,
            enabled: false,
        };
        let item = bucket_item(&quota).unwrap();
        assert_eq!(item.get(PK), Some(&s("bucket")));
        assert_eq!(item.get(SK), Some(&s("us-east-1#m:0")));
        assert_eq!(
            item.get("tpm"),
            Some(&AttributeValue::N("18446744073709551615".into()))
        );
        assert_eq!(item.get("enabled"), Some(&AttributeValue::Bool(false)));
        assert!(!item.contains_key("rpm") && !item.contains_key("tpd"));
        assert_eq!(bucket_from(item).unwrap(), quota);
    }

    #[test]
    fn a_heartbeat_expires_in_ms_and_is_kept_a_day_by_ttl() {
        let seen = DateTime::from_timestamp_millis(1_800_000_000_250).unwrap();
        let beat = WorkerBeat {
            worker_id: "w#1".into(),
            seen_at: seen,
            expires_at: seen + chrono::Duration::seconds(30),
            strategy: Strategy::Weighted,
            buckets: vec![BucketReport::default()],
        };
        let item = worker_item(&beat).unwrap();
        assert_eq!(item.get(SK), Some(&s("w#1")));
        assert_eq!(
            item.get(EXPIRES_MS),
            Some(&AttributeValue::N("1800000030250".into()))
        );
        assert_eq!(
            item.get(TTL),
            Some(&AttributeValue::N((1_800_000_030 + 86_400).to_string()))
        );
        assert!(matches!(item.get("reports"), Some(AttributeValue::S(_))));
        assert_eq!(worker_from(item).unwrap(), beat);
    }

    #[test]
    fn unreadable_items_are_corrupt() {
        let mut item = bucket_item(&BucketQuota::new("r", "m", 1)).unwrap();
        item.insert("tpm".into(), s("lots"));
        assert!(matches!(bucket_from(item), Err(StoreError::Corrupt(m)) if m.contains("r#m")));
        let mut beat = worker_item(&WorkerBeat {
            worker_id: "w".into(),
            seen_at: DateTime::UNIX_EPOCH,
            expires_at: DateTime::UNIX_EPOCH,
            strategy: Strategy::QuotaAware,
            buckets: vec![],
        })
        .unwrap();
        beat.insert("reports".into(), s("not json"));
        assert!(matches!(worker_from(beat), Err(StoreError::Corrupt(m)) if m.contains("worker w")));
    }
}
