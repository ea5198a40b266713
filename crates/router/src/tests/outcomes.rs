//! Settling: the error table, backoff, breakers, window counters, max-available, tpd.

use std::time::Duration;

use bedrock_lb_core::{BreakerState, InvokeErrorKind, Strategy};
use tokio::time::Instant;

use super::*;

#[tokio::test(start_paused = true)]
async fn success_settles_with_output_burndown_and_counts_the_window() {
    let mut q = quota("a", 10_000, 1);
    q.output_burndown = 5;
    let router = router(Strategy::QuotaAware, vec![q]);
    let p = router.acquire(MODEL, 1_000, &[]).await.unwrap();
    tokio::time::advance(Duration::from_millis(250)).await;
    p.succeeded(100, 300);
    let r = report(&router, "a");
    assert_eq!(
        r.used_tokens,
        1_600 - 41,
        "1,600 settled, 250 ms drained at 10,000/min"
    );
    assert_eq!(
        (r.window_reserved_tokens, r.window_settled_tokens),
        (1_000, 1_600)
    );
    assert_eq!((r.successes, r.reserved_tokens, r.in_flight), (1, 0, 0));
    assert_eq!(r.latency_ms, Some(250));
    tokio::time::advance(WINDOW).await;
    let r = report(&router, "a");
    assert_eq!(
        (r.window_reserved_tokens, r.window_settled_tokens),
        (0, 0),
        "a new window"
    );
}

#[tokio::test(start_paused = true)]
async fn throttles_shrink_the_limit_once_per_burst_and_successes_regrow_it() {
    let router = router(Strategy::QuotaAware, vec![quota("a", 10_000, 1)]);
    let burst: Vec<_> = futures_of(&router, 3, 100).await;
    for p in burst {
        p.failed(InvokeErrorKind::Throttling);
    }
    let r = report(&router, "a");
    assert_eq!((r.limit_tpm, r.throttles, r.used_tokens), (7_000, 3, 0));
    tokio::time::advance(Duration::from_secs(6)).await;
    router
        .acquire(MODEL, 100, &[])
        .await
        .unwrap()
        .failed(InvokeErrorKind::Throttling);
    assert_eq!(report(&router, "a").limit_tpm, 4_900);
    // Growth is paced: +0.02 per twentieth of a window, however many calls succeed.
    for _ in 0..40 {
        one_success(&router).await;
    }
    assert_eq!(
        report(&router, "a").limit_tpm,
        4_900,
        "not within the spacing"
    );
    for _ in 0..40 {
        tokio::time::advance(WINDOW / 20).await;
        one_success(&router).await;
    }
    assert_eq!(
        report(&router, "a").limit_tpm,
        10_000,
        "capped at the share"
    );
}

/// One small call that succeeds.
async fn one_success(router: &Router) {
    router
        .acquire(MODEL, 10, &[])
        .await
        .unwrap()
        .succeeded(1, 0);
}

async fn futures_of(router: &Router, n: usize, reservation: u64) -> Vec<crate::Permit> {
    let mut permits = Vec::new();
    for _ in 0..n {
        permits.push(router.acquire(MODEL, reservation, &[]).await.unwrap());
    }
    permits
}

#[tokio::test(start_paused = true)]
async fn breaker_failures_open_the_bucket_and_traffic_moves_until_it_recovers() {
    let router = router(
        Strategy::Failover,
        vec![quota("a", 10_000, 9), quota("b", 10_000, 1)],
    );
    for kind in [
        InvokeErrorKind::ServiceUnavailable,
        InvokeErrorKind::InternalServer,
        InvokeErrorKind::Validation, // the job's fault: neutral
        InvokeErrorKind::ModelTimeout,
    ] {
        let p = router.acquire(MODEL, 100, &[]).await.unwrap();
        assert_eq!(p.bucket(), &bucket("a"));
        p.failed(kind);
    }
    let r = report(&router, "a");
    assert_eq!((r.breaker, r.errors), (BreakerState::Open, 4));
    assert_eq!(
        r.used_tokens, 100,
        "the timeout charged its reservation, the rest released"
    );
    assert_eq!(router.usable(MODEL).len(), 2, "open breakers come back");
    let p = router.acquire(MODEL, 100, &[]).await.unwrap();
    assert_eq!(p.bucket(), &bucket("b"));
    // With b excluded, the call waits for a's half-open probe slot 30 s after it opened.
    let start = Instant::now();
    let probe = router.acquire(MODEL, 100, &[bucket("b")]).await.unwrap();
    assert_eq!(start.elapsed().as_secs(), 30);
    assert_eq!(report(&router, "a").breaker, BreakerState::HalfOpen);
    probe.succeeded(10, 10);
    router
        .acquire(MODEL, 100, &[bucket("b")])
        .await
        .unwrap()
        .succeeded(10, 10);
    assert_eq!(report(&router, "a").breaker, BreakerState::Closed);
}

#[tokio::test(start_paused = true)]
async fn a_timeout_with_known_input_charges_just_the_input() {
    let router = router(Strategy::QuotaAware, vec![quota("a", 10_000, 1)]);
    let mut p = router.acquire(MODEL, 4_000, &[]).await.unwrap();
    p.set_input_tokens(700);
    p.failed(InvokeErrorKind::Transport);
    assert_eq!(report(&router, "a").used_tokens, 700);
}

#[tokio::test(start_paused = true)]
async fn misconfiguration_errors_take_the_bucket_out_of_rotation() {
    let router = router(
        Strategy::QuotaAware,
        vec![quota("a", 10_000, 1), quota("b", 1_000, 1)],
    );
    let p = router.acquire(MODEL, 100, &[]).await.unwrap();
    assert_eq!(p.bucket(), &bucket("a"));
    p.failed(InvokeErrorKind::OnDemandNotSupported);
    assert_eq!(router.usable(MODEL), [bucket("b")]);
    let r = report(&router, "a");
    assert_eq!((r.used_tokens, r.breaker), (0, BreakerState::Closed));
    assert!(
        r.disabled_reason
            .unwrap()
            .contains("on_demand_not_supported")
    );
}

#[tokio::test(start_paused = true)]
async fn max_available_over_admits_because_it_ignores_calls_in_flight() {
    let router = router(Strategy::MaxAvailable, vec![quota("a", 1_000, 1)]);
    let held = futures_of(&router, 5, 800).await;
    assert_eq!(
        report(&router, "a").in_flight,
        5,
        "4,000 admitted against 1,000"
    );
    for p in held {
        p.succeeded(400, 400);
    }
    // 4,000 settled in this window: nothing until the next window starts.
    let start = Instant::now();
    router
        .acquire(MODEL, 800, &[])
        .await
        .unwrap()
        .succeeded(1, 0);
    assert_eq!(start.elapsed(), WINDOW);
}

#[tokio::test(start_paused = true)]
async fn a_tokens_per_day_share_blocks_after_it_is_spent() {
    let mut q = quota("a", 10_000, 1);
    q.tpd = Some(15_000);
    let router = router(Strategy::QuotaAware, vec![q]);
    router
        .acquire(MODEL, 10_000, &[])
        .await
        .unwrap()
        .succeeded(10_000, 0);
    let start = Instant::now();
    router
        .acquire(MODEL, 10_000, &[])
        .await
        .unwrap()
        .succeeded(10_000, 0);
    // The minute refills in 60 s, but the day (15,000 per 1,440 min) needs 5,000 back:
    // 5,000 / 15,000 of a day = 480 min.
    assert_eq!(start.elapsed().as_secs(), 480 * 60);
}
