//! Batch writes and batch listing on the jobs table: BatchWriteItem in chunks of 25 (DynamoDB's
//! limit), several chunks at once, retrying unprocessed items with jittered backoff; and a
//! Query on the `batch_id-index` GSI that pages until it has `limit` jobs or the end.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
use backon::{BackoffBuilder, ExponentialBuilder};
use bedrock_lb_core::{Job, JobId, StoreError};
use tokio::task::JoinSet;

use super::item::{BATCH_ID, BATCH_INDEX, JOB_ID, job_from_item, job_to_item, s};
use super::unavailable;

/// Most items DynamoDB accepts in one BatchWriteItem.
const CHUNK: usize = 25;
/// How many BatchWriteItem calls run at once for one `create_batch`.
const CONCURRENT_CHUNKS: usize = 4;
/// Retries of unprocessed items (not counting the first try) before giving up.
const MAX_RETRIES: usize = 8;

/// The backoff between retries of unprocessed items: 25 ms doubling to 1 s, jittered.
fn backoff() -> impl Iterator<Item = Duration> {
    ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(25))
        .with_max_delay(Duration::from_secs(1))
        .with_max_times(MAX_RETRIES)
        .with_jitter()
        .build()
}

/// Stores `jobs` (fresh ids: existing items would be overwritten).
pub(super) async fn create_batch(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    jobs: &[Job],
    ttl_secs: i64,
) -> Result<(), StoreError> {
    let mut chunks = Vec::new();
    for chunk in jobs.chunks(CHUNK) {
        let requests = chunk
            .iter()
            .map(|job| {
                let put = PutRequest::builder()
                    .set_item(Some(job_to_item(job, ttl_secs)?))
                    .build()
                    .map_err(|e| StoreError::Corrupt(format!("cannot build a put: {e}")))?;
                Ok(WriteRequest::builder().put_request(put).build())
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        chunks.push(requests);
    }
    let mut chunks = chunks.into_iter();
    let mut running = JoinSet::new();
    let mut first_error = None;
    loop {
        while running.len() < CONCURRENT_CHUNKS {
            let Some(requests) = chunks.next() else {
                break;
            };
            let (client, table) = (client.clone(), table.to_owned());
            running.spawn(async move { write_chunk(&client, &table, requests).await });
        }
        let Some(joined) = running.join_next().await else {
            break;
        };
        let outcome = joined
            .map_err(|e| StoreError::Unavailable(format!("BatchWriteItem task failed: {e}")))
            .and_then(|r| r);
        if let Err(err) = outcome {
            // Stop starting new chunks; let the running ones finish so none is cut mid-call.
            first_error.get_or_insert(err);
            chunks = Vec::new().into_iter();
        }
    }
    first_error.map_or(Ok(()), Err)
}

/// Writes one chunk, retrying what DynamoDB leaves unprocessed.
async fn write_chunk(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    mut requests: Vec<WriteRequest>,
) -> Result<(), StoreError> {
    let mut delays = backoff();
    loop {
        let out = client
            .batch_write_item()
            .request_items(table, requests)
            .send()
            .await
            .map_err(unavailable)?;
        requests = out
            .unprocessed_items
            .and_then(|mut items| items.remove(table))
            .unwrap_or_default();
        if requests.is_empty() {
            return Ok(());
        }
        let Some(delay) = delays.next() else {
            return Err(StoreError::Unavailable(format!(
                "{} job records still unprocessed after {MAX_RETRIES} BatchWriteItem retries",
                requests.len()
            )));
        };
        tracing::debug!(
            unprocessed = requests.len(),
            ?delay,
            "retrying unprocessed items"
        );
        tokio::time::sleep(delay).await;
    }
}

/// Up to `limit` jobs of `batch_id` with ids after `after`, in id order. The index is
/// eventually consistent: a job written a moment ago may be missing from the listing.
pub(super) async fn list_batch(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    batch_id: &str,
    after: Option<&JobId>,
    limit: usize,
) -> Result<Vec<Job>, StoreError> {
    let mut jobs = Vec::new();
    let mut start_key: Option<HashMap<String, AttributeValue>> = None;
    while jobs.len() < limit {
        let wanted = i32::try_from(limit - jobs.len()).unwrap_or(i32::MAX);
        let mut query = client
            .query()
            .table_name(table)
            .index_name(BATCH_INDEX)
            .expression_attribute_names("#batch", BATCH_ID)
            .expression_attribute_values(":batch", s(batch_id))
            .limit(wanted)
            .set_exclusive_start_key(start_key.take());
        query = match after {
            Some(after) => query
                .key_condition_expression("#batch = :batch AND #id > :after")
                .expression_attribute_names("#id", JOB_ID)
                .expression_attribute_values(":after", s(after.as_str())),
            None => query.key_condition_expression("#batch = :batch"),
        };
        let out = query.send().await.map_err(unavailable)?;
        for item in out.items.unwrap_or_default() {
            jobs.push(job_from_item(item)?);
        }
        match out.last_evaluated_key {
            Some(key) if !key.is_empty() => start_key = Some(key),
            _ => break,
        }
    }
    jobs.truncate(limit);
    Ok(jobs)
}
