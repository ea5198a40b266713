//! The routing engine end to end: `serve` (API and worker) on the embedded store and queue,
//! calling the simulator over HTTP, with quota windows of one second. The simulator is the
//! ground truth: it counts what each bucket admitted, throttled and failed. Each worker's own
//! view of its buckets comes from the heartbeats it writes into the quota store.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use bedrock_lb::serve::ServeOptions;
use bedrock_lb_config::{BedrockTarget, BucketConfig, BucketTable, Config};
use bedrock_lb_core::{BreakerState, BucketReport, QuotaStore, SystemClock, WorkerBeat};
use bedrock_lb_e2e::{TestServer, local_config};
use bedrock_lb_embedded::EmbeddedDb;
use bedrock_sim::{BucketStats, Fault, QuotaConfig, SimHandle};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

const HAIKU: &str = "anthropic.claude-3-haiku-20240307-v1:0";

/// A simulator enforcing `config`'s quotas, and `config` pointed at it, with fast refreshes.
async fn rig(dir: &std::path::Path, adjust: impl FnOnce(&mut Config)) -> (Config, SimHandle) {
    let mut config = local_config(dir);
    config.routing.refresh_secs = 0.2;
    config.routing.worker_ttl_secs = 1.0;
    config.worker.wait_time_secs = 1;
    config.worker.retry_base_ms = 10;
    config.worker.retry_max_ms = 50;
    adjust(&mut config);
    config.validate().unwrap();
    let sim = bedrock_sim::spawn(bedrock_lb::wiring::simulator_config(&config))
        .await
        .unwrap();
    config.bedrock.target = Some(BedrockTarget::Simulator);
    config.bedrock.endpoint_url = Some(sim.url());
    (config, sim)
}

/// The settings of Claude 3 Haiku's bucket in `region`.
fn haiku_in<'c>(config: &'c mut Config, region: &str) -> &'c mut BucketTable {
    let haiku = config.models.get_mut("claude-3-haiku").unwrap();
    match haiku.regions.get_mut(region).unwrap() {
        BucketConfig::Table(table) => table,
        BucketConfig::ModelId(_) => panic!("the default configuration gives tables"),
    }
}

fn quota_store(config: &Config) -> impl QuotaStore {
    EmbeddedDb::open(&config.database_path(), Arc::new(SystemClock))
        .unwrap()
        .quota_store()
}

/// Submits `n` small Claude 3 Haiku prompts as one batch; returns the batch id.
async fn submit(base: &str, n: usize, max_tokens: u32) -> String {
    let requests: Vec<Value> = (0..n)
        .map(|i| json!(format!("prompt number {i}: say something short")))
        .collect();
    let body = json!({"requests": requests, "defaults": {"model": "claude-3-haiku", "max_tokens": max_tokens}});
    let response = reqwest::Client::new()
        .post(format!("{base}/batch"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let accepted: Value = response.json().await.unwrap();
    accepted["batch_id"].as_str().unwrap().to_owned()
}

/// Waits until every job of the batch is finished; returns the counts by status.
async fn finished(base: &str, batch_id: &str, n: usize) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let view: Value = reqwest::get(format!("{base}/batches/{batch_id}"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let counts = &view["counts"];
        let done: u64 = ["succeeded", "failed", "expired", "cancelled"]
            .iter()
            .map(|s| counts[*s].as_u64().unwrap_or(0))
            .sum();
        if done == n as u64 {
            return counts.clone();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "batch unfinished: {counts}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn bucket_stats(sim: &SimHandle, region: &str) -> BucketStats {
    sim.stats()
        .buckets
        .into_iter()
        .find(|b| b.region == region && b.model_id == HAIKU)
        .unwrap()
}

/// Polls the heartbeats until `check` holds for some live worker's report on `region`.
async fn until_reported(
    store: &impl QuotaStore,
    region: &str,
    check: impl Fn(&BucketReport) -> bool,
) -> BucketReport {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let beats: Vec<WorkerBeat> = store.live_workers(chrono::Utc::now()).await.unwrap();
        let found = beats
            .iter()
            .flat_map(|beat| beat.buckets.iter())
            .find(|r| r.region == region && r.model_id == HAIKU && check(r));
        if let Some(report) = found {
            return report.clone();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no report on {region} as expected: {beats:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_region_throttling_below_its_configured_quota_gets_less_traffic() {
    let dir = tempfile::tempdir().unwrap();
    // us-east-1 is preferred (weight), and the configuration believes it has 400,000 TPM;
    // Bedrock really gives 10,000.
    // The other regions' quotas are right, and small, so the run lasts several windows.
    let (config, sim) = rig(dir.path(), |c| {
        haiku_in(c, "us-east-1").weight = Some(10);
        haiku_in(c, "us-west-2").tpm = Some(20_000);
        haiku_in(c, "eu-west-1").tpm = Some(10_000);
    })
    .await;
    let real = QuotaConfig {
        tpm: Some(10_000),
        rpm: None,
        tpd: None,
    };
    sim.simulator().set_quota("us-east-1", HAIKU, real).unwrap();
    let server = TestServer::start(config.clone(), ServeOptions::default()).await;

    // About 200,000 tokens reserved against 40,000 a second really available.
    let batch = submit(&server.url, 800, 240).await;
    let counts = finished(&server.url, &batch, 800).await;
    assert_eq!(counts["succeeded"], 800, "{counts}");

    let east = bucket_stats(&sim, "us-east-1");
    let others =
        bucket_stats(&sim, "us-west-2").admitted + bucket_stats(&sim, "eu-west-1").admitted;
    assert!(
        east.throttled > 0,
        "the wrong quota was discovered: {east:?}"
    );
    assert!(
        others > 0,
        "traffic the preferred region could not take went elsewhere"
    );
    // The first two windows discover a quota 40 times smaller than configured (×0.7 per
    // throttled round trip); after them, the worker keeps within it.
    let later = east.windows.iter().skip(2);
    let (throttled, calls) = later.fold((0, 0), |(t, c), w| {
        (t + w.throttled, c + w.throttled + w.admitted + w.failed)
    });
    assert!(
        calls > 0,
        "the run lasted several windows: {:?}",
        east.windows
    );
    assert!(
        throttled * 10 <= calls,
        "after two windows at most 10% of calls throttled: {throttled} of {calls} ({:?})",
        east.windows
    );
    // The worker counted them (and shrank its rate each time; the router's unit tests check
    // the arithmetic, and the rate has regrown by the time the batch is done).
    let report = until_reported(&quota_store(&config), "us-east-1", |r| r.throttles > 0).await;
    assert!(report.throttles <= east.throttled, "{report:?}");
    server.stop().await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_region_that_is_down_opens_its_breaker_and_recovers_through_half_open() {
    let dir = tempfile::tempdir().unwrap();
    let (config, sim) = rig(dir.path(), |c| {
        c.routing.recovery_timeout_secs = 1.0;
        c.worker.concurrency = 4;
        haiku_in(c, "us-west-2").weight = Some(10);
    })
    .await;
    let down = Fault {
        down: true,
        ..Fault::default()
    };
    sim.simulator()
        .set_region_fault("us-west-2", Some(down))
        .unwrap();
    let server = TestServer::start(config.clone(), ServeOptions::default()).await;
    let store = quota_store(&config);

    let batch = submit(&server.url, 40, 20).await;
    let counts = finished(&server.url, &batch, 40).await;
    assert_eq!(counts["succeeded"], 40, "jobs went elsewhere: {counts}");
    let failed_calls = bucket_stats(&sim, "us-west-2").failed;
    assert!(
        (3..=3 + 4).contains(&failed_calls),
        "three failures open the breaker (plus calls already in flight): {failed_calls}"
    );
    until_reported(&store, "us-west-2", |r| r.breaker != BreakerState::Closed).await;

    // Back up: after the recovery timeout, probes go through and close the breaker again.
    sim.simulator().set_region_fault("us-west-2", None).unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while bucket_stats(&sim, "us-west-2").admitted < 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "us-west-2 never came back"
        );
        let batch = submit(&server.url, 6, 20).await;
        finished(&server.url, &batch, 6).await;
    }
    until_reported(&store, "us-west-2", |r| {
        r.breaker == BreakerState::Closed && r.successes >= 2
    })
    .await;
    server.stop().await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_misconfigured_bucket_is_taken_out_and_the_jobs_succeed_elsewhere() {
    let dir = tempfile::tempdir().unwrap();
    let (config, sim) = rig(dir.path(), |c| {
        c.worker.concurrency = 2;
        haiku_in(c, "eu-west-1").weight = Some(10);
    })
    .await;
    let not_enabled = Fault {
        not_enabled: true,
        ..Fault::default()
    };
    sim.simulator()
        .set_bucket_fault("eu-west-1", HAIKU, Some(not_enabled))
        .unwrap();
    let server = TestServer::start(config.clone(), ServeOptions::default()).await;

    let batch = submit(&server.url, 30, 20).await;
    let counts = finished(&server.url, &batch, 30).await;
    assert_eq!(counts["succeeded"], 30, "{counts}");
    let first = bucket_stats(&sim, "eu-west-1").requests;
    assert!(
        (1..=2).contains(&first),
        "tried once (per call in flight), then taken out: {first}"
    );
    let report = until_reported(&quota_store(&config), "eu-west-1", |r| {
        r.disabled_reason.is_some()
    })
    .await;
    assert!(
        report.disabled_reason.unwrap().contains("access_denied"),
        "the reason names Bedrock's error"
    );
    let batch = submit(&server.url, 30, 20).await;
    finished(&server.url, &batch, 30).await;
    assert_eq!(bucket_stats(&sim, "eu-west-1").requests, first);
    server.stop().await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quota_edit_in_the_store_reaches_a_running_worker() {
    let dir = tempfile::tempdir().unwrap();
    let (config, sim) = rig(dir.path(), |_| {}).await;
    let server = TestServer::start(config.clone(), ServeOptions::default()).await;
    let store = quota_store(&config);
    until_reported(&store, "us-east-1", |r| r.share_tpm == 400_000).await;

    let mut table = store.table().await.unwrap();
    let east = table
        .buckets
        .iter_mut()
        .find(|b| b.region == "us-east-1" && b.model_id == HAIKU)
        .unwrap();
    east.tpm = 123_456;
    east.enabled = false;
    store.put_bucket(east).await.unwrap();
    let started = tokio::time::Instant::now();
    until_reported(&store, "us-east-1", |r| r.share_tpm == 123_456).await;
    assert!(started.elapsed() < Duration::from_secs(10));

    // Disabled: no traffic there any more.
    let before = bucket_stats(&sim, "us-east-1").requests;
    let batch = submit(&server.url, 20, 20).await;
    let counts = finished(&server.url, &batch, 20).await;
    assert_eq!(counts["succeeded"], 20);
    assert_eq!(bucket_stats(&sim, "us-east-1").requests, before);
    server.stop().await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_together_stay_within_one_buckets_quota() {
    let dir = tempfile::tempdir().unwrap();
    let (config, sim) = rig(dir.path(), |c| {
        let east = haiku_in(c, "us-east-1");
        east.tpm = Some(8_000);
        east.rpm = None;
        let haiku = c.models.get_mut("claude-3-haiku").unwrap();
        haiku.regions.retain(|region, _| region == "us-east-1");
    })
    .await;
    let server = TestServer::start(
        config.clone(),
        ServeOptions {
            run_worker: true,
            worker_id: "worker-a".into(),
        },
    )
    .await;
    let storage = bedrock_lb::wiring::storage(&config, Arc::new(SystemClock))
        .await
        .unwrap();
    let bedrock = bedrock_lb::wiring::bedrock(&config).await.unwrap();
    let stop = CancellationToken::new();
    let second = tokio::spawn(bedrock_lb_worker::run(
        bedrock_lb_worker::WorkerContext {
            queue: storage.queue,
            store: storage.store,
            invoker: bedrock.invoker,
            catalog: Arc::new(config.catalog().unwrap()),
            clock: Arc::new(SystemClock),
            dead_letters: None,
            router: bedrock_lb::wiring::router(&config),
            quotas: Some(storage.quotas),
        },
        bedrock_lb_worker::WorkerSettings::from_config(&config, "worker-b"),
        stop.clone(),
    ));
    let store = quota_store(&config);
    // Both workers see each other: each runs the bucket at half the quota.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let beats = store.live_workers(chrono::Utc::now()).await.unwrap();
        let halves = beats
            .iter()
            .filter(|beat| {
                beat.buckets
                    .iter()
                    .any(|r| r.region == "us-east-1" && r.model_id == HAIKU && r.share_tpm == 4_000)
            })
            .count();
        if halves == 2 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "shares: {beats:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // About 45,000 tokens reserved against 8,000 a second: several windows of saturation.
    let batch = submit(&server.url, 300, 120).await;
    let counts = finished(&server.url, &batch, 300).await;
    assert_eq!(counts["succeeded"], 300, "{counts}");
    let east = bucket_stats(&sim, "us-east-1");
    assert!(
        east.throttled * 100 <= east.requests,
        "at most 1% of calls throttled: {} of {}",
        east.throttled,
        east.requests
    );
    let beats = store.live_workers(chrono::Utc::now()).await.unwrap();
    for beat in &beats {
        let served: u64 = beat.buckets.iter().map(|r| r.successes).sum();
        assert!(served > 0, "{} served jobs too", beat.worker_id);
    }
    stop.cancel();
    second.await.unwrap();
    server.stop().await;
    sim.shutdown().await;
}
