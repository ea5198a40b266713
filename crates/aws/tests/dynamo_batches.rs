//! DynamoJobStore's batch writes, batch listing, recovery writes, idempotency records, TTL and
//! large results against moto's DynamoDB. Lease expiry is tested by passing a `now` past it.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers panic on set-up failure

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use aws_sdk_dynamodb::types::AttributeValue;
use bedrock_lb_aws::DynamoJobStore;
use bedrock_lb_aws::provision::{ensure_jobs_table, ensure_quotas_table};
use bedrock_lb_contract::{self as contract, lease, success};
use bedrock_lb_core::{Job, JobError, JobId, JobStatus, JobStore, StoreError};
use chrono::{DateTime, Duration, Utc};
use common::{dynamo_client, unique};

const TTL_SECS: u64 = 3600;

async fn new_store() -> DynamoJobStore {
    let client = dynamo_client();
    let table = unique("jobs");
    ensure_jobs_table(&client, &table).await.unwrap();
    DynamoJobStore::new(client, table).with_job_ttl(StdDuration::from_secs(TTL_SECS))
}

fn t0() -> DateTime<Utc> {
    DateTime::from_timestamp_millis(1_760_000_000_000).unwrap()
}

fn job() -> Job {
    contract::queued_job(t0())
}

async fn raw_item(store: &DynamoJobStore, key: &str) -> Option<HashMap<String, AttributeValue>> {
    dynamo_client()
        .get_item()
        .table_name(store.table())
        .key("job_id", AttributeValue::S(key.into()))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
}

async fn ttl_of(store: &DynamoJobStore, id: &JobId) -> Option<i64> {
    match raw_item(store, id.as_str()).await?.remove("ttl") {
        Some(AttributeValue::N(n)) => Some(n.parse().unwrap()),
        _ => None,
    }
}

/// A running job claimed by `owner` at t0.
async fn running(store: &DynamoJobStore, owner: &str, expires_at: DateTime<Utc>) -> Job {
    let job = job();
    store.create(&job).await.unwrap();
    store
        .claim(&job.job_id, &lease(owner, expires_at), t0())
        .await
        .unwrap()
        .unwrap()
}

#[tokio::test]
async fn create_batch_of_60_lists_in_pages_of_25_in_order() {
    contract::create_batch_then_list_in_pages(&new_store().await, t0()).await;
}

#[tokio::test]
async fn release_then_claim_by_another_owner() {
    let store = new_store().await;
    let id = contract::release_then_claim_by_another(&store, t0()).await;
    // A released item keeps no lease attributes.
    store.release(&id, "w2").await.unwrap();
    let item = raw_item(&store, id.as_str()).await.unwrap();
    assert!(!item.contains_key("lease_owner") && !item.contains_key("lease_expires_ms"));
}

#[tokio::test]
async fn fail_abandoned_leaves_a_live_lease_and_a_finished_job_alone() {
    let store = new_store().await;
    let abandoned =
        contract::fail_abandoned_leaves_live_leases_and_finished_jobs(&store, t0()).await;
    for id in &abandoned.failed {
        assert_eq!(
            ttl_of(&store, id).await,
            Some(abandoned.at.timestamp() + 3600)
        );
    }
}

#[tokio::test]
async fn ttl_is_set_on_every_terminal_write_and_only_there() {
    let store = new_store().await;
    let done = running(&store, "w1", t0() + Duration::minutes(5)).await;
    assert_eq!(
        ttl_of(&store, &done.job_id).await,
        None,
        "running jobs have no ttl"
    );
    let finish = t0() + Duration::seconds(42);
    store
        .complete(&done.job_id, "w1", &success("ok".into(), finish))
        .await
        .unwrap();
    assert_eq!(
        ttl_of(&store, &done.job_id).await,
        Some(finish.timestamp() + 3600)
    );

    let cancelled = job();
    store.create(&cancelled).await.unwrap();
    assert_eq!(ttl_of(&store, &cancelled.job_id).await, None);
    store
        .close_queued(
            &cancelled.job_id,
            JobStatus::Cancelled,
            &JobError::new("cancelled", "c"),
            finish,
        )
        .await
        .unwrap();
    assert_eq!(
        ttl_of(&store, &cancelled.job_id).await,
        Some(finish.timestamp() + 3600)
    );

    let rejected = Job::rejected(JobId::generate(), JobError::new("bad_message", "x"), t0());
    store.create(&rejected).await.unwrap();
    assert_eq!(
        ttl_of(&store, &rejected.job_id).await,
        Some(t0().timestamp() + 3600)
    );

    // The table has TTL enabled on `ttl`.
    assert_eq!(
        ttl_attribute(&dynamo_client(), store.table()).await,
        Some("ttl".to_owned())
    );
}

/// The attribute DynamoDB TTL is configured on for `table`.
async fn ttl_attribute(client: &aws_sdk_dynamodb::Client, table: &str) -> Option<String> {
    client
        .describe_time_to_live()
        .table_name(table)
        .send()
        .await
        .unwrap()
        .time_to_live_description
        .unwrap()
        .attribute_name
}

/// Real DynamoDB evaluates a condition and writes atomically. moto's server does not lock its
/// tables, so now and then both concurrent puts pass the condition there; such rounds are
/// tolerated (two of ten), while every round with a loser must hand it the winner's record,
/// the one stored.
#[tokio::test]
async fn of_two_concurrent_idempotent_puts_exactly_one_wins() {
    contract::put_idempotency_one_winner(Arc::new(new_store().await), t0(), 2).await;
}

#[tokio::test]
async fn an_expired_idempotency_record_gives_its_key_up_and_is_never_a_job() {
    let store = new_store().await;
    let second = contract::expired_idempotency_record_gives_its_key_up(&store, "bob/k", t0()).await;
    let item = raw_item(&store, "idem#bob/k").await.unwrap();
    assert_eq!(
        item.get("ttl"),
        Some(&AttributeValue::N(
            second.expires_at.timestamp().to_string()
        ))
    );
    assert!(!item.contains_key("batch_id"), "never listed in a batch");
}

/// Text that does not compress: printable noise from a xorshift generator.
fn noise(len: usize) -> String {
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            char::from(b'!' + u8::try_from(state % 90).unwrap())
        })
        .collect()
}

#[tokio::test]
async fn a_large_compressible_result_is_stored_compressed_and_read_back_whole() {
    let store = new_store().await;
    let job = running(&store, "w1", t0() + Duration::minutes(5)).await;
    let text = "The quick brown fox jumps over the lazy dog. ".repeat(1_048_576 / 45 + 1);
    assert!(text.len() >= 1_048_576);
    store
        .complete(&job.job_id, "w1", &success(text.clone(), t0()))
        .await
        .unwrap();
    let stored = store.get(&job.job_id).await.unwrap().unwrap();
    assert_eq!(stored.status, JobStatus::Succeeded);
    assert_eq!(stored.result.unwrap().text, text, "nothing cut");
    let item = raw_item(&store, job.job_id.as_str()).await.unwrap();
    assert!(matches!(
        item.get("result_text_gz"),
        Some(AttributeValue::B(_))
    ));
}

#[tokio::test]
async fn a_large_incompressible_result_fails_the_job_with_the_sizes() {
    let store = new_store().await;
    let job = running(&store, "w1", t0() + Duration::minutes(5)).await;
    store
        .complete(&job.job_id, "w1", &success(noise(1_048_576), t0()))
        .await
        .unwrap();
    let stored = store.get(&job.job_id).await.unwrap().unwrap();
    assert_eq!(stored.status, JobStatus::Failed);
    assert_eq!(stored.result, None);
    let error = stored.error.unwrap();
    assert_eq!(error.kind, "result_too_large");
    assert!(error.message.contains("1048576 bytes"), "{}", error.message);
    assert!(ttl_of(&store, &job.job_id).await.is_some());
    // Finished: the lease holder cannot write again.
    assert_eq!(
        store
            .complete(&job.job_id, "w1", &success("x".into(), t0()))
            .await,
        Err(StoreError::Conflict(job.job_id.clone()))
    );
}

#[tokio::test]
async fn provisioning_adds_the_batch_index_to_an_old_table_and_creates_the_quota_table() {
    let client = dynamo_client();
    let table = unique("old-jobs");
    // A jobs table as the first release created it: key only, no index, no TTL.
    client
        .create_table()
        .table_name(&table)
        .attribute_definitions(
            aws_sdk_dynamodb::types::AttributeDefinition::builder()
                .attribute_name("job_id")
                .attribute_type(aws_sdk_dynamodb::types::ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .key_schema(
            aws_sdk_dynamodb::types::KeySchemaElement::builder()
                .attribute_name("job_id")
                .key_type(aws_sdk_dynamodb::types::KeyType::Hash)
                .build()
                .unwrap(),
        )
        .billing_mode(aws_sdk_dynamodb::types::BillingMode::PayPerRequest)
        .send()
        .await
        .unwrap();
    ensure_jobs_table(&client, &table).await.unwrap();
    ensure_jobs_table(&client, &table).await.unwrap();
    let store = DynamoJobStore::new(client.clone(), table);
    let jobs: Vec<Job> = (0..3).map(|_| job().in_batch("b")).collect();
    store.create_batch(&jobs).await.unwrap();
    assert_eq!(store.list_batch("b", None, 10).await.unwrap(), jobs);

    let quotas = unique("quotas");
    ensure_quotas_table(&client, &quotas).await.unwrap();
    ensure_quotas_table(&client, &quotas).await.unwrap();
    let described = client
        .describe_table()
        .table_name(&quotas)
        .send()
        .await
        .unwrap();
    let keys: Vec<String> = described
        .table
        .unwrap()
        .key_schema()
        .iter()
        .map(|k| k.attribute_name().to_owned())
        .collect();
    assert_eq!(keys, vec!["pk", "sk"]);
    assert_eq!(
        ttl_attribute(&client, &quotas).await,
        Some("ttl".to_owned())
    );
}
