//! DynamoQuotaStore against moto's DynamoDB: the shared quota-store contract on a fresh quota
//! table per test, plus what only this adapter does (paging, the item layout's TTL, one table
//! shared with nothing else in its partitions).
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers panic on set-up failure

mod common;

use aws_sdk_dynamodb::types::AttributeValue;
use bedrock_lb_aws::DynamoQuotaStore;
use bedrock_lb_aws::provision::ensure_quotas_table;
use bedrock_lb_contract as contract;
use bedrock_lb_core::{QuotaStore, QuotaTable, StoreError};
use chrono::{DateTime, Duration, Utc};
use common::{dynamo_client, unique};

async fn new_store() -> DynamoQuotaStore {
    let client = dynamo_client();
    let table = unique("quotas");
    ensure_quotas_table(&client, &table).await.unwrap();
    DynamoQuotaStore::new(client, table)
}

fn t0() -> DateTime<Utc> {
    DateTime::from_timestamp_micros(1_760_000_000_123_456).unwrap()
}

#[tokio::test]
async fn seed_writes_only_an_empty_table() {
    contract::seed_writes_only_an_empty_table(&new_store().await).await;
}

#[tokio::test]
async fn put_bucket_round_trips_every_field() {
    contract::put_bucket_round_trips_every_field(&new_store().await).await;
}

#[tokio::test]
async fn put_route_replaces_and_delete_route_reports() {
    contract::put_route_replaces_and_delete_route_reports(&new_store().await).await;
}

#[tokio::test]
async fn heartbeats_live_expire_renew_and_leave() {
    contract::heartbeats_live_expire_renew_and_leave(&new_store().await, t0()).await;
}

#[tokio::test]
async fn the_contract_holds_when_every_query_pages() {
    // One item per page: every read follows LastEvaluatedKey, and the live-workers filter
    // leaves some pages empty.
    let store = new_store().await.with_page_limit(1);
    contract::seed_writes_only_an_empty_table(&store).await;
    let store = new_store().await.with_page_limit(1);
    contract::heartbeats_live_expire_renew_and_leave(&store, t0()).await;
}

#[tokio::test]
async fn a_heartbeat_carries_a_ttl_a_day_after_it_expires() {
    let store = new_store().await;
    let beat = contract::worker_beat("worker-ttl", t0(), 30);
    store.beat(&beat).await.unwrap();
    let item = dynamo_client()
        .get_item()
        .table_name(store.table_name())
        .key("pk", AttributeValue::S("worker".into()))
        .key("sk", AttributeValue::S("worker-ttl".into()))
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    let expected = (t0() + Duration::seconds(30)).timestamp() + 24 * 60 * 60;
    assert_eq!(
        item.get("ttl"),
        Some(&AttributeValue::N(expected.to_string()))
    );
}

#[tokio::test]
async fn a_seed_racing_another_seeder_overwrites_nothing() {
    // Two stores on one table seed at once: both may see it empty, but each item is written
    // once, whole, by whichever seeder got there first.
    let store = new_store().await;
    let other = DynamoQuotaStore::new(dynamo_client(), store.table_name());
    let seed = QuotaTable {
        buckets: (0..8)
            .map(|i| contract::bucket_quota("us-east-1", &format!("model-{i}"), 1_000))
            .collect(),
        routes: vec![contract::model_route("m", "us-east-1", "model-0")],
    };
    let mut rival = seed.clone();
    for bucket in &mut rival.buckets {
        bucket.tpm = 2_000;
    }
    let (a, b) = tokio::join!(store.seed(&seed), other.seed(&rival));
    assert!(a.unwrap() || b.unwrap(), "at least one seeded");
    let table = store.table().await.unwrap();
    assert_eq!(table.buckets.len(), 8, "each bucket once");
    for bucket in &table.buckets {
        assert!(
            seed.buckets.contains(bucket) || rival.buckets.contains(bucket),
            "{bucket:?} is one seeder's item, whole"
        );
    }
    assert_eq!(table.routes, seed.routes);
    assert!(!store.seed(&seed).await.unwrap());
}

#[tokio::test]
async fn a_missing_table_is_unavailable() {
    let store = DynamoQuotaStore::new(dynamo_client(), unique("missing"));
    assert!(matches!(
        store.table().await,
        Err(StoreError::Unavailable(_))
    ));
    assert!(matches!(
        store.live_workers(t0()).await,
        Err(StoreError::Unavailable(_))
    ));
}
