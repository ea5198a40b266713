//! `bedrock-lb bench` in miniature: one short quota-aware run (one in-process worker, two
//! measured one-second windows, small quotas) through the real API, simulator and job store,
//! checking that the table is printed and its numbers are sane. Fast on purpose (a few
//! seconds): the full benchmark is `scripts/bench.sh`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use bedrock_lb::bench::{self, BenchArgs};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_bench_prints_sane_numbers() {
    let args = BenchArgs {
        windows: 2,
        window_secs: 1.0,
        tpm: vec![40_000, 20_000, 10_000],
        backlog_windows: 2.0,
        only: vec!["quota-aware".into()],
        markdown: true,
        ..BenchArgs::default()
    };
    let mut out = Vec::new();
    let report = bench::run(&args, &mut out).await.unwrap();
    let text = String::from_utf8(out).unwrap();
    println!("{text}");

    assert!(text.contains("run | strategy"), "{text}");
    assert!(
        text.contains("| run | strategy | workers | utilization |"),
        "{text}"
    );
    assert!(
        text.contains("quota-aware  PASS") || text.contains("quota-aware  MISS"),
        "{text}"
    );
    assert_eq!(report.results.len(), 1, "{text}");
    let run = &report.results[0];
    assert_eq!(run.name, "quota-aware");
    assert_eq!(run.failed_jobs, 0, "{text}");
    assert!(
        run.utilization > 0.0 && run.utilization <= 1.1,
        "utilization {}: {text}",
        run.utilization
    );
    assert!(
        (0.0..=1.0).contains(&run.throttled_ratio),
        "throttled {}: {text}",
        run.throttled_ratio
    );
    assert_eq!(run.capacity_tokens, 2 * 70_000, "{text}");
    assert!(run.calls > 0 && run.jobs_per_sec > 0.0, "{text}");
    assert!(run.p50_ms.is_some() && run.p50_ms <= run.p99_ms, "{text}");
    // Saturating: more was queued than the quotas could pass.
    assert!(run.unfinished_jobs > 0, "{text}");
    assert!(run.submitted_jobs > run.unfinished_jobs, "{text}");
}
