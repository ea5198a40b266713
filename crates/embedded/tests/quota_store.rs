//! The embedded quota store against the shared contract, on a real SQLite file, plus what only
//! this adapter promises: the quota table and heartbeats survive reopening the file.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use bedrock_lb_contract as contract;
use bedrock_lb_core::{Clock, QuotaStore};
use bedrock_lb_embedded::{EmbeddedDb, SCHEMA_VERSION};
use chrono::Duration;

#[tokio::test]
async fn seed_writes_only_an_empty_table() {
    let clock = common::clock();
    let (db, _dir) = common::file_db(&clock);
    contract::seed_writes_only_an_empty_table(&db.quota_store()).await;
}

#[tokio::test]
async fn put_bucket_round_trips_every_field() {
    let clock = common::clock();
    let (db, _dir) = common::file_db(&clock);
    contract::put_bucket_round_trips_every_field(&db.quota_store()).await;
}

#[tokio::test]
async fn put_route_replaces_and_delete_route_reports() {
    let clock = common::clock();
    let (db, _dir) = common::file_db(&clock);
    contract::put_route_replaces_and_delete_route_reports(&db.quota_store()).await;
}

#[tokio::test]
async fn heartbeats_live_expire_renew_and_leave() {
    let clock = common::clock();
    let (db, _dir) = common::file_db(&clock);
    let now = clock.now() + Duration::microseconds(123_456);
    contract::heartbeats_live_expire_renew_and_leave(&db.quota_store(), now).await;
}

#[tokio::test]
async fn the_table_and_heartbeats_survive_reopening_the_file() {
    let clock = common::clock();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lb.sqlite3");
    let now = clock.now();
    let (table, beat) = {
        let db = EmbeddedDb::open(&path, clock.clone()).unwrap();
        let table = contract::seed_writes_only_an_empty_table(&db.quota_store()).await;
        let beat = contract::worker_beat("worker-a", now, 30);
        db.quota_store().beat(&beat).await.unwrap();
        (table, beat)
    };
    let db = EmbeddedDb::open(&path, clock.clone()).unwrap();
    assert_eq!(db.schema_version().await.unwrap(), SCHEMA_VERSION);
    let store = db.quota_store();
    assert_eq!(contract::sorted(store.table().await.unwrap()), table);
    assert_eq!(store.live_workers(now).await.unwrap(), [beat]);
}
