//! `GET /regions` over real HTTP: a bucket's configured quota and the report a worker
//! published with its heartbeat in the (embedded) quota store; dead workers are left out.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod quota_api;

use bedrock_lb_core::{BreakerState, BucketReport, Strategy, WorkerBeat};
use chrono::{Duration, Utc};
use quota_api::QuotaApi;
use reqwest::Method;
use serde_json::Value;

fn beat(worker_id: &str, ttl: Duration, used: u64) -> WorkerBeat {
    let now = Utc::now();
    WorkerBeat {
        worker_id: worker_id.into(),
        seen_at: now,
        expires_at: now + ttl,
        strategy: Strategy::QuotaAware,
        buckets: vec![BucketReport {
            region: "us-east-1".into(),
            model_id: "vendor.small-v1:0".into(),
            share_tpm: 500,
            limit_tpm: 450,
            used_tokens: used,
            reserved_tokens: 40,
            in_flight: 2,
            breaker: BreakerState::HalfOpen,
            throttles: 3,
            successes: 9,
            latency_ms: Some(120),
            ..BucketReport::default()
        }],
    }
}

fn bucket<'a>(view: &'a Value, region: &str) -> &'a Value {
    view["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["region"] == region && b["model_id"] == "vendor.small-v1:0")
        .unwrap()
}

#[tokio::test]
async fn regions_show_each_bucket_with_its_quota_and_the_live_workers_reports() {
    let api = QuotaApi::open().await;
    api.store()
        .beat(&beat("w-live", Duration::minutes(5), 100))
        .await
        .unwrap();
    api.store()
        .beat(&beat("w-dead", Duration::minutes(-1), 999))
        .await
        .unwrap();

    let (status, view) = api.call(Method::GET, "/regions", None, None).await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["buckets"].as_array().unwrap().len(), 3);
    let workers: Vec<&str> = view["workers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["worker_id"].as_str().unwrap())
        .collect();
    assert_eq!(workers, ["w-live"]);
    assert_eq!(view["workers"][0]["strategy"], "quota-aware");

    let east = bucket(&view, "us-east-1");
    assert_eq!(east["tpm"], 1000);
    assert_eq!(east["rpm"], 10);
    assert_eq!(east["models"], serde_json::json!(["small"]));
    assert_eq!(east["live_workers"], 1);
    let report = &east["workers"][0];
    assert_eq!(report["worker_id"], "w-live");
    assert_eq!(report["share_tpm"], 500);
    assert_eq!(report["limit_tpm"], 450);
    assert_eq!(report["used_tokens"], 100);
    assert_eq!(report["breaker"], "half_open");
    assert_eq!(report["latency_ms"], 120);
    assert_eq!(east["totals"]["used_tokens"], 100);
    assert_eq!(east["totals"]["in_flight"], 2);
    assert_eq!(east["totals"]["breakers_not_closed"], 1);

    let west = bucket(&view, "us-west-2");
    assert_eq!(west["live_workers"], 0);
    assert_eq!(west["totals"]["used_tokens"], 0);
}
