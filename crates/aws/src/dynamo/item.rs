//! How a [`Job`] is stored as a DynamoDB item.
//!
//! The item is the job itself as native DynamoDB attributes (through serde_dynamo, so that the
//! console and ad-hoc queries show readable records), plus flat copies of the fields that
//! conditions and indexes need as scalars: `lease_owner` (S, absent when no lease),
//! `lease_expires_ms` (N, epoch milliseconds) and `updated_ms` (N). DynamoDB cannot compare a
//! nested RFC 3339 string with a number, and its conditions allow no arithmetic, so the store
//! keeps these in step on every write.
//!
//! Finished jobs carry `ttl` (N, epoch seconds: finishing time + the job TTL), the table's
//! DynamoDB TTL attribute. A result too large to store inline keeps its text gzip-compressed in
//! `result_text_gz` (B) with an empty `result.text`; [`job_from_item`] puts it back.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use bedrock_lb_core::{Job, StoreError};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_dynamo::aws_sdk_dynamodb_1 as codec;

/// The table's partition key.
pub(super) const JOB_ID: &str = "job_id";
pub(super) const STATUS: &str = "status";
pub(super) const UPDATED_AT: &str = "updated_at";
pub(super) const ATTEMPTS: &str = "attempts";
pub(super) const RESULT: &str = "result";
pub(super) const ERROR: &str = "error";
pub(super) const LEASE: &str = "lease";
/// Flat copy of `lease.owner`, for the lease-holder conditions.
pub(super) const LEASE_OWNER: &str = "lease_owner";
/// `lease.expires_at` in epoch milliseconds, for the takeover condition.
pub(super) const LEASE_EXPIRES_MS: &str = "lease_expires_ms";
/// `updated_at` in epoch milliseconds, for indexes and sorting.
pub(super) const UPDATED_MS: &str = "updated_ms";
/// The batch a job belongs to: the hash key of [`BATCH_INDEX`].
pub(super) const BATCH_ID: &str = "batch_id";
/// The global secondary index listing a batch's jobs in id order.
pub const BATCH_INDEX: &str = "batch_id-index";
/// The table's TTL attribute (epoch seconds), set on finished jobs and idempotency records.
pub const TTL: &str = "ttl";
/// The gzip-compressed result text of a result too large to store inline.
pub(super) const RESULT_TEXT_GZ: &str = "result_text_gz";

/// A number attribute holding the epoch seconds at which a record finished at `at` may be
/// deleted after `ttl_secs`.
pub(super) fn ttl_attr(at: DateTime<Utc>, ttl_secs: i64) -> AttributeValue {
    AttributeValue::N(at.timestamp().saturating_add(ttl_secs).to_string())
}

/// A string attribute.
pub(super) fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

/// A number attribute holding epoch milliseconds.
pub(super) fn millis(at: DateTime<Utc>) -> AttributeValue {
    AttributeValue::N(at.timestamp_millis().to_string())
}

/// `value` as a native attribute (a map for structs, a string for timestamps).
pub(super) fn attr<T: Serialize>(value: &T) -> Result<AttributeValue, StoreError> {
    codec::to_attribute_value(value)
        .map_err(|e| StoreError::Corrupt(format!("cannot encode job field: {e}")))
}

/// The full item for `job`, flat attributes included, with a `ttl` of `ttl_secs` after its
/// last update when the job is already finished.
pub(super) fn job_to_item(
    job: &Job,
    ttl_secs: i64,
) -> Result<HashMap<String, AttributeValue>, StoreError> {
    let mut item: HashMap<String, AttributeValue> = codec::to_item(job)
        .map_err(|e| StoreError::Corrupt(format!("cannot encode job {}: {e}", job.job_id)))?;
    item.insert(UPDATED_MS.to_owned(), millis(job.updated_at));
    if job.status.is_terminal() {
        item.insert(TTL.to_owned(), ttl_attr(job.updated_at, ttl_secs));
    }
    if let Some(lease) = &job.lease {
        item.insert(LEASE_OWNER.to_owned(), s(&lease.owner));
        item.insert(LEASE_EXPIRES_MS.to_owned(), millis(lease.expires_at));
    }
    Ok(item)
}

/// The job stored in `item`, with a compressed result text restored; the flat attributes
/// are ignored.
pub(super) fn job_from_item(mut item: HashMap<String, AttributeValue>) -> Result<Job, StoreError> {
    let id = match item.get(JOB_ID) {
        Some(AttributeValue::S(id)) => id.clone(),
        _ => "<no job_id>".to_owned(),
    };
    let compressed = item.remove(RESULT_TEXT_GZ);
    let mut job: Job =
        codec::from_item(item).map_err(|e| StoreError::Corrupt(format!("job {id}: {e}")))?;
    if let Some(compressed) = compressed {
        let AttributeValue::B(blob) = compressed else {
            return Err(StoreError::Corrupt(format!(
                "job {id}: {RESULT_TEXT_GZ} is not binary"
            )));
        };
        let text = super::large::decompress(blob.as_ref())
            .map_err(|e| StoreError::Corrupt(format!("job {id}: compressed result: {e}")))?;
        if let Some(result) = job.result.as_mut() {
            result.text = text;
        }
    }
    Ok(job)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bedrock_lb_core::{JobError, JobId, Lease};

    #[test]
    fn flat_attributes_mirror_the_lease_and_update_time() {
        let now = DateTime::from_timestamp_millis(1_700_000_000_123).unwrap_or_default();
        let mut job = Job::rejected(JobId::generate(), JobError::new("t", "m"), now);
        job.lease = Some(Lease {
            owner: "w1".into(),
            expires_at: now + chrono::Duration::seconds(30),
        });
        let item = job_to_item(&job, 60).unwrap();
        assert_eq!(item.get(TTL), Some(&AttributeValue::N("1700000060".into())));
        assert_eq!(
            item.get(UPDATED_MS),
            Some(&AttributeValue::N("1700000000123".into()))
        );
        assert_eq!(item.get(LEASE_OWNER), Some(&s("w1")));
        assert_eq!(
            item.get(LEASE_EXPIRES_MS),
            Some(&AttributeValue::N("1700000030123".into()))
        );
        assert_eq!(item.get(STATUS), Some(&s("failed")));
        assert_eq!(job_from_item(item).unwrap(), job);
    }

    #[test]
    fn unreadable_items_are_corrupt() {
        let mut item = HashMap::new();
        item.insert(JOB_ID.to_owned(), s("j1"));
        item.insert(STATUS.to_owned(), s("bogus"));
        let err = job_from_item(item).unwrap_err();
        assert!(
            matches!(err, StoreError::Corrupt(ref m) if m.contains("j1")),
            "{err:?}"
        );
    }
}
