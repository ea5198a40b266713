//! The benchmark's output: one table (plain text, and Markdown for BENCHMARKS.md), the
//! targets with PASS or MISS, and the notes a reader needs to trust the numbers.

use std::fmt::Write;

use super::BenchArgs;
use super::measure::RunResult;

/// Quota-aware must use at least this share of the quota...
pub const TARGET_UTILIZATION: f64 = 0.95;
/// ...with at most this share of calls throttled...
pub const TARGET_THROTTLED: f64 = 0.01;
/// ...and this many failed jobs.
pub const TARGET_FAILED: u64 = 0;

const COLUMNS: [&str; 9] = [
    "run",
    "strategy",
    "workers",
    "utilization",
    "throttled",
    "failed",
    "jobs/s",
    "p50",
    "p99",
];

/// One line saying what was run.
pub fn header(args: &BenchArgs) -> String {
    format!(
        "bedrock-lb bench: 1 model in 3 regions, tpm {}, sliding windows of {} s, {} measured \
         windows per run (window 0 and the partial last window skipped), latency {} ms + {} ms \
         per output token, {} jobs at once per worker, seed {}",
        args.tpm
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join("/"),
        args.window_secs,
        args.windows,
        args.first_token_ms,
        args.per_output_token_ms,
        args.concurrency,
        args.seed
    )
}

fn cells(r: &RunResult) -> [String; 9] {
    let ms = |v: Option<i64>| v.map_or_else(|| "-".to_owned(), |v| format!("{v} ms"));
    [
        r.name.clone(),
        r.strategy.clone(),
        r.workers.clone(),
        format!("{:.1} %", r.utilization * 100.0),
        format!("{:.2} %", r.throttled_ratio * 100.0),
        format!("{} (+{} unfinished)", r.failed_jobs, r.unfinished_jobs),
        format!("{:.1}", r.jobs_per_sec),
        ms(r.p50_ms),
        ms(r.p99_ms),
    ]
}

/// The plain-text table, columns aligned.
pub fn table(results: &[RunResult]) -> String {
    let rows: Vec<[String; 9]> = results.iter().map(cells).collect();
    let mut widths = COLUMNS.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &[String]| {
        cells
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect::<Vec<_>>()
            .join(" | ")
            .trim_end()
            .to_owned()
    };
    let mut out = line(&COLUMNS.map(str::to_owned));
    out.push('\n');
    out.push_str(
        &widths
            .iter()
            .map(|w| "-".repeat(*w))
            .collect::<Vec<_>>()
            .join("-+-"),
    );
    for row in &rows {
        out.push('\n');
        out.push_str(&line(row));
    }
    out
}

/// The same table as Markdown, with per-region utilization beneath.
pub fn markdown(results: &[RunResult]) -> String {
    let mut out = format!("| {} |\n|", COLUMNS.join(" | "));
    out.push_str(&"---|".repeat(COLUMNS.len()));
    for r in results {
        let _ = write!(out, "\n| {} |", cells(r).join(" | "));
    }
    out.push_str("\n\n| run | settled / capacity (tokens) | per region |\n|---|---|---|");
    for r in results {
        let regions = per_region(r);
        let _ = write!(
            out,
            "\n| {} | {} / {} | {regions} |",
            r.name, r.settled_tokens, r.capacity_tokens
        );
    }
    out
}

/// Whether a quota-aware run meets every target.
pub fn verdict(r: &RunResult) -> bool {
    r.utilization >= TARGET_UTILIZATION
        && r.throttled_ratio <= TARGET_THROTTLED
        && r.failed_jobs == TARGET_FAILED
}

/// The targets, with PASS or MISS for every quota-aware run.
pub fn targets(results: &[RunResult]) -> String {
    let mut out = format!(
        "targets (quota-aware runs): utilization >= {:.0} %, throttled <= {:.0} %, failed = {}",
        TARGET_UTILIZATION * 100.0,
        TARGET_THROTTLED * 100.0,
        TARGET_FAILED
    );
    for r in results.iter().filter(|r| r.strategy == "quota-aware") {
        let _ = write!(
            out,
            "\n  {:<12} {}: utilization {:.1} %, throttled {:.2} %, failed {}",
            r.name,
            if verdict(r) { "PASS" } else { "MISS" },
            r.utilization * 100.0,
            r.throttled_ratio * 100.0,
            r.failed_jobs
        );
    }
    out
}

/// A run's utilization per region, e.g. `eu-west-1 99.7 %, us-east-1 100.0 %`.
fn per_region(r: &RunResult) -> String {
    r.region_utilization
        .iter()
        .map(|(region, u)| format!("{region} {:.1} %", u * 100.0))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Every run's notes, prefixed with the run's name, and per-region utilization.
pub fn notes(results: &[RunResult]) -> Vec<String> {
    let mut notes = Vec::new();
    for r in results {
        let regions = per_region(r);
        notes.push(format!(
            "{}: {} jobs submitted; {} calls; per region {regions}",
            r.name, r.submitted_jobs, r.calls
        ));
        for note in &r.notes {
            if !notes.iter().any(|n| n.ends_with(note.as_str())) {
                notes.push(format!("{}: {note}", r.name));
            }
        }
    }
    notes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(name: &str, utilization: f64, throttled: f64, failed: u64) -> RunResult {
        RunResult {
            name: name.into(),
            strategy: "quota-aware".into(),
            workers: "1".into(),
            utilization,
            region_utilization: [("us-east-1".to_owned(), utilization)].into(),
            settled_tokens: 10,
            capacity_tokens: 11,
            throttled_ratio: throttled,
            calls: 100,
            throttled_calls: 0,
            failed_jobs: failed,
            unfinished_jobs: 5,
            submitted_jobs: 105,
            jobs_per_sec: 12.34,
            p50_ms: Some(100),
            p99_ms: None,
            notes: vec!["a note".into()],
        }
    }

    #[test]
    fn targets_say_pass_or_miss_per_quota_aware_run() {
        let results = [
            result("quota-aware", 0.97, 0.001, 0),
            result("fault", 0.97, 0.001, 2),
        ];
        let text = targets(&results);
        assert!(text.contains("quota-aware  PASS"), "{text}");
        assert!(text.contains("fault        MISS"), "{text}");
    }

    #[test]
    fn tables_show_every_column() {
        let results = [result("quota-aware", 0.5, 0.25, 0)];
        let plain = table(&results);
        assert!(plain.starts_with("run"), "{plain}");
        assert!(plain.contains("50.0 %"), "{plain}");
        assert!(plain.contains("25.00 %"), "{plain}");
        assert!(plain.contains("0 (+5 unfinished)"), "{plain}");
        assert!(plain.contains("12.3"), "{plain}");
        let md = markdown(&results);
        assert!(md.starts_with("| run | strategy |"), "{md}");
        assert!(md.contains("| 10 / 11 | us-east-1 50.0 % |"), "{md}");
        assert!(notes(&results).iter().any(|n| n == "quota-aware: a note"));
    }
}
