//! The [`QuotaStore`] contract: seeding only an empty table, buckets and routes that
//! round-trip and replace, and worker heartbeats that live, expire, renew and leave. Each
//! function needs a store with an empty quota table and no heartbeats (a fresh database or a
//! fresh DynamoDB table). Times are passed in (`now`), never read from a clock.
//!
//! The port promises no order for `table()`, so tables are compared after sorting; heartbeats
//! are promised in worker-id order and compared as returned.

use bedrock_lb_core::{
    BreakerState, BucketId, BucketQuota, BucketReport, ModelRoute, QuotaStore, QuotaTable,
    Strategy, WorkerBeat,
};
use chrono::{DateTime, Duration, Utc};

/// A bucket of `model_id` in `region` with a tpm, no rpm or tpd, burndown 1, weight 1, enabled.
pub fn bucket_quota(region: &str, model_id: &str, tpm: u64) -> BucketQuota {
    BucketQuota::new(region, model_id, tpm)
}

/// A route of logical model `model` to `model_id` in `region`.
pub fn model_route(model: &str, region: &str, model_id: &str) -> ModelRoute {
    ModelRoute {
        model: model.into(),
        region: region.into(),
        model_id: model_id.into(),
    }
}

/// `table` with buckets sorted by (region, model id) and routes by (model, region).
pub fn sorted(mut table: QuotaTable) -> QuotaTable {
    table
        .buckets
        .sort_by(|a, b| (&a.region, &a.model_id).cmp(&(&b.region, &b.model_id)));
    table
        .routes
        .sort_by(|a, b| (&a.model, &a.region).cmp(&(&b.model, &b.region)));
    table
}

/// Two models over three buckets in two regions, with every optional limit used somewhere.
fn seed_table() -> QuotaTable {
    let haiku = "anthropic.claude-3-haiku-20240307-v1:0";
    let sonnet = "us.anthropic.claude-sonnet-4-20250514-v1:0";
    QuotaTable {
        buckets: vec![
            BucketQuota {
                rpm: Some(50),
                ..bucket_quota("us-west-2", haiku, 200_000)
            },
            bucket_quota("us-east-1", haiku, 400_000),
            BucketQuota {
                tpd: Some(7_200_000),
                output_burndown: 5,
                weight: 3,
                ..bucket_quota("us-east-1", sonnet, 80_000)
            },
        ],
        routes: vec![
            model_route("claude-haiku", "us-west-2", haiku),
            model_route("claude-haiku", "us-east-1", haiku),
            model_route("claude-sonnet", "us-east-1", sonnet),
        ],
    }
}

/// Seeding an empty table writes all of it and says so; a second seed (even of a larger
/// table) writes nothing, says so, and leaves a bucket edited in between as edited. Returns
/// the table as it ends.
pub async fn seed_writes_only_an_empty_table(store: &dyn QuotaStore) -> QuotaTable {
    assert_eq!(store.table().await.unwrap(), QuotaTable::default());
    let seed = seed_table();
    assert!(store.seed(&seed).await.unwrap(), "an empty table is seeded");
    assert_eq!(sorted(store.table().await.unwrap()), sorted(seed.clone()));

    let mut edited = seed.buckets[0].clone();
    edited.tpm = 1_000;
    edited.rpm = None;
    edited.enabled = false;
    store.put_bucket(&edited).await.unwrap();

    let mut larger = seed.clone();
    larger.buckets.push(bucket_quota("eu-west-1", "m", 1));
    larger
        .routes
        .push(model_route("claude-haiku", "eu-west-1", "m"));
    larger.routes[0].model_id = "other".into();
    assert!(
        !store.seed(&larger).await.unwrap(),
        "a table with buckets is not seeded"
    );
    let mut expected = seed;
    expected.buckets[0] = edited;
    let table = sorted(store.table().await.unwrap());
    assert_eq!(table, sorted(expected), "the second seed wrote nothing");
    table
}

/// Buckets come back exactly as put (rpm and tpd absent or set, disabled, weights, large
/// limits, odd model ids), a put replaces the bucket with its key whole (a cleared rpm stays
/// cleared), and buckets of one model id in two regions stay apart.
pub async fn put_bucket_round_trips_every_field(store: &dyn QuotaStore) {
    let arn = "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.meta.llama3-1-70b#v1";
    let buckets = vec![
        BucketQuota {
            rpm: Some(1),
            tpd: None,
            output_burndown: 5,
            weight: 0,
            ..bucket_quota("us-east-1", "anthropic.claude-opus-4-1-20250805-v1:0", 1)
        },
        BucketQuota {
            rpm: None,
            tpd: Some(u64::from(u32::MAX) * 4),
            enabled: false,
            weight: u32::MAX,
            ..bucket_quota(
                "us-west-2",
                "anthropic.claude-opus-4-1-20250805-v1:0",
                3_000_000,
            )
        },
        BucketQuota {
            rpm: Some(9_007_199_254_740_993), // not exact as an f64
            tpd: Some(1),
            output_burndown: u32::MAX,
            ..bucket_quota("us-east-1", arn, 9_007_199_254_740_993)
        },
    ];
    for bucket in &buckets {
        store.put_bucket(bucket).await.unwrap();
    }
    let table = store.table().await.unwrap();
    assert_eq!(table.buckets.len(), 3);
    for bucket in &buckets {
        assert_eq!(table.bucket(&bucket.bucket()), Some(bucket), "round trip");
    }
    assert!(table.routes.is_empty(), "buckets are not routes");

    let mut replaced = buckets[0].clone();
    replaced.rpm = None;
    replaced.tpd = Some(10);
    replaced.tpm = 2;
    replaced.weight = 7;
    replaced.enabled = false;
    store.put_bucket(&replaced).await.unwrap();
    let table = store.table().await.unwrap();
    assert_eq!(table.buckets.len(), 3, "a put replaces, it does not add");
    assert_eq!(table.bucket(&replaced.bucket()), Some(&replaced));
    assert_eq!(table.bucket(&buckets[1].bucket()), Some(&buckets[1]));
    assert_eq!(table.bucket(&BucketId::new("eu-west-1", "m")), None);
}

/// A put replaces the route of a (model, region) with its new model id; routes of the same
/// model elsewhere and of other models stay; `delete_route` says whether it removed one.
pub async fn put_route_replaces_and_delete_route_reports(store: &dyn QuotaStore) {
    let first = model_route("claude-haiku", "us-east-1", "anthropic.claude-3-haiku-v1:0");
    let west = model_route("claude-haiku", "us-west-2", "anthropic.claude-3-haiku-v1:0");
    let other = model_route(
        "claude-sonnet",
        "us-east-1",
        "us.anthropic.claude-sonnet-4-v1:0",
    );
    for route in [&first, &west, &other] {
        store.put_route(route).await.unwrap();
    }
    let moved = model_route(
        "claude-haiku",
        "us-east-1",
        "us.anthropic.claude-3-haiku-v1:0",
    );
    store.put_route(&moved).await.unwrap();
    let table = sorted(store.table().await.unwrap());
    assert_eq!(table.routes, [moved.clone(), west.clone(), other.clone()]);
    assert!(table.buckets.is_empty(), "routes are not buckets");
    assert_eq!(
        table.buckets_of("claude-haiku"),
        [moved.bucket(), west.bucket()]
    );

    assert!(
        store
            .delete_route("claude-haiku", "us-east-1")
            .await
            .unwrap()
    );
    assert!(
        !store
            .delete_route("claude-haiku", "us-east-1")
            .await
            .unwrap()
    );
    assert!(!store.delete_route("never", "us-east-1").await.unwrap());
    assert!(
        !store
            .delete_route("claude-sonnet", "us-west-2")
            .await
            .unwrap()
    );
    let table = sorted(store.table().await.unwrap());
    assert_eq!(table.routes, [west, other]);
}

/// A beat from worker `id` seen at `seen_at`, live for `ttl_secs`, with two bucket reports
/// that use every optional field.
pub fn worker_beat(id: &str, seen_at: DateTime<Utc>, ttl_secs: i64) -> WorkerBeat {
    let report = BucketReport {
        region: "us-east-1".into(),
        model_id: "anthropic.claude-3-haiku-20240307-v1:0".into(),
        share_tpm: 100_000,
        limit_tpm: 75_000,
        share_rpm: Some(25),
        used_tokens: 12_345,
        reserved_tokens: 4_096,
        window_reserved_tokens: 8_192,
        window_settled_tokens: 6_000,
        in_flight: 3,
        breaker: BreakerState::HalfOpen,
        disabled_reason: Some(format!("{id}: model not enabled — 東京")),
        successes: 10,
        throttles: 2,
        errors: 1,
        latency_ms: Some(850),
    };
    WorkerBeat {
        worker_id: id.into(),
        seen_at,
        expires_at: seen_at + Duration::seconds(ttl_secs),
        strategy: Strategy::Failover,
        buckets: vec![
            report,
            BucketReport {
                region: "us-west-2".into(),
                ..BucketReport::default()
            },
        ],
    }
}

/// Beats come back whole, in worker-id order, only while `expires_at > now` (a beat expiring
/// exactly at `now` is dead); a renewed beat replaces the old one; `leave` removes a beat and
/// is idempotent; heartbeats never show in the quota table. `now` should have sub-second
/// precision to prove timestamps round-trip.
pub async fn heartbeats_live_expire_renew_and_leave(store: &dyn QuotaStore, now: DateTime<Utc>) {
    let w2 = worker_beat("worker-2", now, 30);
    let w1 = worker_beat("worker-1", now - Duration::seconds(5), 30);
    let expired = worker_beat("worker-0", now - Duration::seconds(40), 30);
    let at_now = worker_beat("worker-3", now - Duration::seconds(30), 30);
    for beat in [&w2, &w1, &expired, &at_now] {
        store.beat(beat).await.unwrap();
    }
    assert_eq!(
        store.live_workers(now).await.unwrap(),
        [w1.clone(), w2.clone()]
    );
    assert_eq!(
        store
            .live_workers(now - Duration::seconds(1))
            .await
            .unwrap(),
        [w1.clone(), w2.clone(), at_now],
        "alive just before it expires"
    );
    assert_eq!(
        store
            .live_workers(now + Duration::seconds(26))
            .await
            .unwrap(),
        std::slice::from_ref(&w2),
        "worker-1 expired first"
    );
    assert!(
        store
            .live_workers(now + Duration::seconds(31))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.table().await.unwrap(), QuotaTable::default());

    // A renewal replaces the beat whole.
    let mut renewed = worker_beat("worker-1", now + Duration::seconds(10), 30);
    renewed.strategy = Strategy::RoundRobin;
    renewed.buckets.truncate(1);
    renewed.buckets[0].breaker = BreakerState::Open;
    renewed.buckets[0].share_rpm = None;
    renewed.buckets[0].disabled_reason = None;
    store.beat(&renewed).await.unwrap();
    assert_eq!(
        store.live_workers(now).await.unwrap(),
        [renewed.clone(), w2.clone()]
    );
    assert_eq!(
        store
            .live_workers(now + Duration::seconds(35))
            .await
            .unwrap(),
        [renewed.clone()],
        "the renewal moved worker-1's expiry"
    );

    store.leave("worker-2").await.unwrap();
    store.leave("worker-2").await.unwrap();
    store.leave("never-beat").await.unwrap();
    assert_eq!(store.live_workers(now).await.unwrap(), [renewed]);
}
