//! Idempotency records in the jobs table, under key `idem#{record.key}` (`#` never occurs in a
//! job id, so a record can never be read as a job), with `ttl` = its expiry so DynamoDB deletes
//! it. The put is conditional: it wins when no record holds the key or the one there has
//! expired; otherwise the live record comes back, from the failed condition's old item
//! (`ReturnValuesOnConditionCheckFailure::AllOld`) or, failing that, a consistent read.

use std::collections::HashMap;

use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};
use bedrock_lb_core::{IdempotencyRecord, StoreError};
use chrono::{DateTime, Utc};
use serde_dynamo::aws_sdk_dynamodb_1 as codec;

use super::item::{JOB_ID, TTL, attr, millis, s};
use super::unavailable;

/// The key prefix of idempotency records.
const PREFIX: &str = "idem#";
/// The record itself, as a map.
const RECORD: &str = "record";
/// `expires_at` in epoch milliseconds, for the put's condition.
const EXPIRES_MS: &str = "expires_ms";
/// A put that lost to a record which then vanished (expired and deleted) is tried again.
const MAX_TRIES: usize = 3;

/// Stores `record` unless a live record holds its key; returns that record instead.
pub(super) async fn put(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    record: &IdempotencyRecord,
    now: DateTime<Utc>,
) -> Result<Option<IdempotencyRecord>, StoreError> {
    let key = format!("{PREFIX}{}", record.key);
    let mut item = HashMap::new();
    item.insert(JOB_ID.to_owned(), s(&key));
    item.insert(RECORD.to_owned(), attr(record)?);
    item.insert(EXPIRES_MS.to_owned(), millis(record.expires_at));
    item.insert(
        TTL.to_owned(),
        AttributeValue::N(record.expires_at.timestamp().to_string()),
    );
    for _ in 0..MAX_TRIES {
        let result = client
            .put_item()
            .table_name(table)
            .set_item(Some(item.clone()))
            .condition_expression("attribute_not_exists(#id) OR #expires <= :now")
            .expression_attribute_names("#id", JOB_ID)
            .expression_attribute_names("#expires", EXPIRES_MS)
            .expression_attribute_values(":now", millis(now))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        let err = match result {
            Ok(_) => return Ok(None),
            Err(err) => err,
        };
        let old = match err.into_service_error() {
            PutItemError::ConditionalCheckFailedException(failed) => failed.item,
            other => return Err(StoreError::Unavailable(crate::errors::chain(&other))),
        };
        let old = match old {
            Some(old) => Some(old),
            None => get(client, table, &key).await?,
        };
        if let Some(old) = old {
            return decode(old).map(Some);
        }
    }
    Err(StoreError::Unavailable(format!(
        "idempotency key {} kept changing under {MAX_TRIES} conditional puts",
        record.key
    )))
}

async fn get(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    key: &str,
) -> Result<Option<HashMap<String, AttributeValue>>, StoreError> {
    Ok(client
        .get_item()
        .table_name(table)
        .key(JOB_ID, s(key))
        .consistent_read(true)
        .send()
        .await
        .map_err(unavailable)?
        .item)
}

fn decode(mut item: HashMap<String, AttributeValue>) -> Result<IdempotencyRecord, StoreError> {
    let record = item
        .remove(RECORD)
        .ok_or_else(|| StoreError::Corrupt("idempotency item without its record".into()))?;
    codec::from_attribute_value(record)
        .map_err(|e| StoreError::Corrupt(format!("idempotency record: {e}")))
}
