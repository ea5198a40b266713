//! `GET /_sim/stats` and `POST /_sim/reset`: the same ground truth over HTTP and in-process.

#![allow(clippy::unwrap_used)]

mod common;

use bedrock_sim::{QuotaConfig, SimStats};
use common::*;

#[tokio::test]
async fn stats_over_http_match_the_in_process_view_and_reset_clears_them() {
    let quota = QuotaConfig {
        tpm: Some(5_000),
        rpm: Some(100),
        tpd: None,
    };
    let sim = bedrock_sim::spawn(one_model(1, quota)).await.unwrap();
    let client = client(&sim, "us-east-1");
    for _ in 0..3 {
        let _ = converse(&client, TEST_MODEL, &prompt_of(1_990))
            .inference_config(max_tokens(10))
            .send()
            .await;
    }
    let raw: serde_json::Value = reqwest::get(control(&sim, "/_sim/stats"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(raw["window_secs"], 60.0);
    let east = &raw["buckets"][0];
    assert_eq!(east["region"], "us-east-1");
    assert_eq!(east["model_id"], TEST_MODEL);
    assert_eq!(
        (east["tpm"].as_u64(), east["rpm"].as_u64()),
        (Some(5_000), Some(100))
    );
    assert!(east["tpd"].is_null());
    assert_eq!(raw["buckets"][1]["tpm"], serde_json::Value::Null);
    let over_http: SimStats = serde_json::from_value(raw.clone()).unwrap();
    assert_eq!(over_http, sim.stats());
    let b = &over_http.buckets[0];
    assert_eq!((b.requests, b.admitted, b.throttled), (3, 2, 1));
    assert_eq!(b.tokens_settled, 4_000);
    assert_eq!(b.windows.len(), 1);
    assert_eq!((b.windows[0].admitted, b.windows[0].throttled), (2, 1));
    assert_eq!(over_http.totals.requests, 3);
    assert_eq!(over_http.totals.tokens_settled, 4_000);

    let reset = reqwest::Client::new()
        .post(control(&sim, "/_sim/reset"))
        .send()
        .await
        .unwrap();
    assert_eq!(reset.status().as_u16(), 204);
    let stats = sim.stats();
    assert_eq!(stats.totals.requests, 0);
    assert!(stats.buckets[0].windows.is_empty());
    assert_eq!(stats.buckets[0].tpm, Some(5_000), "quotas survive a reset");
    // The ledger is empty again: two more fit at once.
    for _ in 0..2 {
        converse(&client, TEST_MODEL, &prompt_of(1_990))
            .inference_config(max_tokens(10))
            .send()
            .await
            .unwrap();
    }
}
