//! Admission: waiting, shares, exclusions, the unroutable cases, concurrency.

use std::time::Duration;

use bedrock_lb_core::Strategy;
use tokio::time::Instant;

use super::*;
use crate::Unroutable;

#[tokio::test(start_paused = true)]
async fn acquire_sleeps_until_the_earliest_refill_without_spinning() {
    let router = router(Strategy::QuotaAware, vec![quota("a", 1_000, 1)]);
    let first = router.acquire(MODEL, 1_000, &[]).await.unwrap();
    first.succeeded(400, 600);
    let before = router.evaluations();
    let start = Instant::now();
    let second = router.acquire(MODEL, 500, &[]).await.unwrap();
    let waited = start.elapsed();
    // 1,000 used at 1,000/min: 500 fit after exactly 30 s (tokio rounds timers up to 1 ms).
    assert!(waited >= Duration::from_secs(30), "{waited:?}");
    assert!(waited <= Duration::from_millis(30_002), "{waited:?}");
    let evaluations = router.evaluations() - before;
    assert!(evaluations <= 3, "{evaluations} evaluations: it spun");
    assert_eq!(second.bucket(), &bucket("a"));
    assert_eq!(router.waiting(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_call_above_the_share_runs_alone_once_the_bucket_is_idle() {
    let router = router(Strategy::QuotaAware, vec![quota("a", 1_000, 1)]);
    router.configure(&table(vec![quota("a", 1_000, 1)]), 2); // share 500 < 1,000 ≤ tpm
    let small = router.acquire(MODEL, 10, &[]).await.unwrap();
    let r = router.clone();
    let big = tokio::spawn(async move {
        let p = r.acquire(MODEL, 1_000, &[]).await?;
        Ok::<_, Unroutable>((p, Instant::now()))
    });
    tokio::time::sleep(Duration::from_secs(100)).await;
    assert_eq!(router.waiting(), 1, "waits while the 10 are in flight");
    let evaluations = router.evaluations();
    small.failed(bedrock_lb_core::InvokeErrorKind::Throttling);
    let (permit, at) = big.await.unwrap().unwrap();
    assert_eq!(
        (permit.reservation(), at.elapsed()),
        (1_000, Duration::ZERO),
        "woken by the release"
    );
    assert!(router.evaluations() - evaluations <= 2);
    assert_eq!(
        report(&router, "a").used_tokens,
        1_000,
        "over the 500 limit, alone"
    );
}

#[tokio::test(start_paused = true)]
async fn configure_with_two_workers_halves_the_share_and_keeps_usage() {
    let router = router(Strategy::QuotaAware, vec![quota("a", 10_000, 1)]);
    let permit = router.acquire(MODEL, 3_000, &[]).await.unwrap();
    router.configure(&table(vec![quota("a", 10_000, 1)]), 2);
    let r = report(&router, "a");
    assert_eq!((r.share_tpm, r.limit_tpm), (5_000, 5_000));
    assert_eq!((r.used_tokens, r.in_flight), (3_000, 1));
    assert!(router.acquire(MODEL, 2_000, &[]).await.is_ok());
    drop(permit);
    router.configure(&table(vec![quota("a", 10_000, 1)]), 0);
    assert_eq!(
        report(&router, "a").share_tpm,
        10_000,
        "zero workers count as one"
    );
}

#[tokio::test(start_paused = true)]
async fn exclude_sends_the_call_elsewhere_and_then_nowhere() {
    let router = router(
        Strategy::QuotaAware,
        vec![quota("a", 1_000, 1), quota("b", 1_000, 1)],
    );
    let p = router.acquire(MODEL, 100, &[bucket("a")]).await.unwrap();
    assert_eq!(p.bucket(), &bucket("b"));
    let err = router
        .acquire(MODEL, 100, &[bucket("a"), bucket("b")])
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Unroutable::NoneUsable { reason, .. } if reason.contains("a/model-v1: excluded")),
        "{err}"
    );
}

#[tokio::test(start_paused = true)]
async fn unroutable_calls_fail_at_once() {
    let mut off = quota("b", 5_000, 1);
    off.enabled = false;
    let router = router(Strategy::QuotaAware, vec![quota("a", 1_000, 1), off]);
    assert!(matches!(
        router.acquire("other", 1, &[]).await,
        Err(Unroutable::NoRoute { .. })
    ));
    assert!(matches!(
        router.acquire(MODEL, 1_001, &[]).await,
        Err(Unroutable::TooLarge {
            reservation: 1_001,
            largest: 1_000
        })
    ));
    router.mark_misconfigured(&bucket("a"), "access_denied");
    assert!(router.usable(MODEL).is_empty());
    let Err(Unroutable::NoneUsable { reason, .. }) = router.acquire(MODEL, 1, &[]).await else {
        panic!("expected NoneUsable");
    };
    assert!(
        reason.contains("disabled") && reason.contains("access_denied"),
        "{reason}"
    );
    assert_eq!(
        report(&router, "a").disabled_reason.as_deref(),
        Some("misconfigured: access_denied")
    );
    tokio::time::advance(Duration::from_secs(600)).await;
    assert_eq!(
        router.usable(MODEL),
        [bucket("a")],
        "back after the cooldown"
    );
}

#[tokio::test(start_paused = true)]
async fn a_dropped_permit_gives_its_reservation_back() {
    let router = router(Strategy::QuotaAware, vec![quota("a", 1_000, 1)]);
    let permit = router.acquire(MODEL, 800, &[]).await.unwrap();
    assert_eq!(report(&router, "a").reserved_tokens, 800);
    drop(permit);
    let r = report(&router, "a");
    assert_eq!((r.used_tokens, r.reserved_tokens, r.in_flight), (0, 0, 0));
    assert!(router.acquire(MODEL, 1_000, &[]).await.is_ok());
}

#[tokio::test(start_paused = true)]
async fn concurrent_acquires_never_over_admit() {
    let router = router(Strategy::QuotaAware, vec![quota("a", 1_000, 1)]);
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let r = router.clone();
        tasks.push(tokio::spawn(async move {
            let p = r.acquire(MODEL, 300, &[]).await.unwrap();
            let at = Instant::now();
            tokio::time::sleep(Duration::from_secs(120)).await;
            drop(p);
            at
        }));
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let r = report(&router, "a");
    assert_eq!(
        (r.in_flight, r.reserved_tokens),
        (3, 900),
        "only 3 × 300 fit 1,000"
    );
    assert_eq!(router.waiting(), 5);
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(router.waiting(), 0);
}

#[tokio::test(start_paused = true)]
async fn backpressure_resolves_when_waiters_drop_below_the_limit() {
    let router = router(Strategy::QuotaAware, vec![quota("a", 100, 1)]);
    let hold = router.acquire(MODEL, 100, &[]).await.unwrap();
    let r = router.clone();
    let waiter = tokio::spawn(async move { r.acquire(MODEL, 100, &[]).await.is_ok() });
    tokio::task::yield_now().await;
    assert_eq!(router.waiting(), 1);
    let r = router.clone();
    let gate = tokio::spawn(async move { r.wait_until_fewer_waiting_than(1).await });
    tokio::task::yield_now().await;
    assert!(!gate.is_finished());
    hold.succeeded(1, 0);
    assert!(waiter.await.unwrap());
    gate.await.unwrap();
    router.wait_until_fewer_waiting_than(1).await;
}

#[tokio::test(start_paused = true)]
async fn failover_sticks_to_the_highest_weight_until_it_is_full() {
    let router = router(
        Strategy::Failover,
        vec![quota("a", 1_000, 1), quota("b", 1_000, 5)],
    );
    let mut held = Vec::new();
    for _ in 0..2 {
        let p = router.acquire(MODEL, 500, &[]).await.unwrap();
        assert_eq!(p.bucket(), &bucket("b"));
        held.push(p);
    }
    let p = router.acquire(MODEL, 500, &[]).await.unwrap();
    assert_eq!(p.bucket(), &bucket("a"));
}

#[tokio::test(start_paused = true)]
async fn quota_aware_prefers_the_freest_share_and_round_robin_rotates() {
    let router = router(
        Strategy::QuotaAware,
        vec![quota("a", 1_000, 1), quota("b", 10_000, 1)],
    );
    let p = router.acquire(MODEL, 500, &[]).await.unwrap();
    assert_eq!(p.bucket(), &bucket("b"), "95 % free beats 50 %");
    let router = super::router(
        Strategy::RoundRobin,
        vec![quota("a", 1_000, 1), quota("b", 1_000, 1)],
    );
    let mut seen = Vec::new();
    for _ in 0..4 {
        let p = router.acquire(MODEL, 10, &[]).await.unwrap();
        seen.push(p.bucket().region.clone());
        p.succeeded(10, 0);
    }
    assert_eq!(seen, ["a", "b", "a", "b"]);
}

#[tokio::test(start_paused = true)]
async fn rpm_caps_admissions_and_waits_for_the_next_cell() {
    let mut q = quota("a", 1_000_000, 1);
    q.rpm = Some(60);
    let router = router(Strategy::QuotaAware, vec![q]);
    let start = Instant::now();
    for _ in 0..4 {
        router.acquire(MODEL, 1, &[]).await.unwrap().succeeded(1, 0);
    }
    // Burst max(1, 60 / 20) = 3, then one per second.
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_secs(1) && waited < Duration::from_millis(1_010),
        "{waited:?}"
    );
}
