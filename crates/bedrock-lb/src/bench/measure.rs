//! The numbers of one run, from the simulator's ground truth and the job store.
//!
//! - utilization: tokens the simulator settled in the measured windows ÷ Σ over those windows of
//!   the tpm of every bucket that was up in that window (twice its tpm in the first window after
//!   it was down: a sliding bucket refills while idle, so it comes back with a window stored).
//!   Windows are the simulator's fixed
//!   windows since its reset; window 0 (which starts with full buckets) and any window after the
//!   last measured one (partial) are left out.
//! - throttled: ThrottlingException answers ÷ all calls, in the measured windows.
//! - failed: jobs that ended failed or expired; unfinished: jobs still queued or running at the
//!   end (the backlog the run was given on purpose).
//! - jobs/s: jobs that finished inside the measured windows ÷ their length.
//! - p50/p99: from a job's creation (submit) to its end (`updated_at` of a finished job), over
//!   every job that finished.

use std::collections::{BTreeMap, BTreeSet};

use bedrock_lb_core::JobStatus;
use bedrock_sim::SimStats;
use chrono::{DateTime, Utc};

/// What one job contributes: its status and its two timestamps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobTimes {
    pub status: JobStatus,
    pub created_at: DateTime<Utc>,
    /// When it last changed: when it finished, for a finished job.
    pub updated_at: DateTime<Utc>,
}

/// Which windows are measured and which regions were down in which of them.
#[derive(Debug, Clone, PartialEq)]
pub struct Measurement {
    /// Measured windows: `1..=last`.
    pub last_window: u64,
    /// Window length in seconds.
    pub window_secs: f64,
    /// The start of window 0 (the simulator's reset), in wall-clock time.
    pub started: DateTime<Utc>,
    /// (region, window) pairs in which the region was down for the whole window.
    pub down: BTreeSet<(String, u64)>,
}

/// One row of the table.
#[derive(Debug, Clone, PartialEq)]
pub struct RunResult {
    /// The run's name (`quota-aware`, `processes`, `fault`, ...).
    pub name: String,
    pub strategy: String,
    /// Worker processes or tasks (e.g. `1`, `3 proc`).
    pub workers: String,
    /// Settled ÷ capacity over the measured windows.
    pub utilization: f64,
    /// Per region: settled ÷ its capacity while up.
    pub region_utilization: BTreeMap<String, f64>,
    pub settled_tokens: u64,
    pub capacity_tokens: u64,
    /// Throttled calls ÷ all calls in the measured windows.
    pub throttled_ratio: f64,
    pub calls: u64,
    pub throttled_calls: u64,
    /// Jobs that ended failed or expired.
    pub failed_jobs: u64,
    /// Jobs still queued or running at the end.
    pub unfinished_jobs: u64,
    /// Jobs submitted in all.
    pub submitted_jobs: u64,
    /// Finished jobs per second inside the measured windows.
    pub jobs_per_sec: f64,
    /// Submit-to-result latency percentiles of finished jobs, in milliseconds.
    pub p50_ms: Option<i64>,
    pub p99_ms: Option<i64>,
    /// Anything a reader must know about this run's numbers.
    pub notes: Vec<String>,
}

/// Tokens settled and capacity, in total and per region, over the measured windows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Usage {
    pub settled: u64,
    pub capacity: u64,
    pub calls: u64,
    pub throttled: u64,
    /// region → (settled, capacity).
    pub regions: BTreeMap<String, (u64, u64)>,
}

/// Sums the simulator's windows `1..=m.last_window`. A bucket without a tpm (unlimited) adds
/// no capacity, and is reported in `notes`.
pub fn usage(stats: &SimStats, m: &Measurement, notes: &mut Vec<String>) -> Usage {
    let mut usage = Usage::default();
    for bucket in &stats.buckets {
        let region = usage.regions.entry(bucket.region.clone()).or_default();
        let Some(tpm) = bucket.tpm else {
            notes.push(format!(
                "the simulator enforced no tpm on {} {}",
                bucket.region, bucket.model_id
            ));
            continue;
        };
        for window in 1..=m.last_window {
            let is_down = |w: u64| m.down.contains(&(bucket.region.clone(), w));
            if is_down(window) {
                continue;
            }
            // A sliding (refilling) bucket that sat idle while down comes back full: in its
            // first window up it can pass its refill plus one whole window of stored quota.
            let back_from_down = window > 1 && is_down(window - 1);
            let capacity = if back_from_down { 2 * tpm } else { tpm };
            region.1 += capacity;
            usage.capacity += capacity;
        }
        for w in &bucket.windows {
            if (1..=m.last_window).contains(&w.index) {
                region.0 += w.tokens_settled;
                usage.settled += w.tokens_settled;
                usage.calls += w.admitted + w.throttled + w.failed;
                usage.throttled += w.throttled;
            }
        }
    }
    usage
}

/// `part ÷ whole`, 0 when there is no whole.
pub fn ratio(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

/// Job counts, throughput and latency.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JobNumbers {
    pub failed: u64,
    pub unfinished: u64,
    pub jobs_per_sec: f64,
    pub p50_ms: Option<i64>,
    pub p99_ms: Option<i64>,
}

/// Counts `jobs` and computes throughput inside the measured windows and latency percentiles.
pub fn jobs(jobs: &[JobTimes], m: &Measurement) -> JobNumbers {
    let window = chrono::Duration::milliseconds((m.window_secs * 1000.0).round() as i64);
    let from = m.started + window;
    let until = m.started + window * (m.last_window as i32 + 1);
    let mut latencies = Vec::new();
    let mut numbers = JobNumbers::default();
    let mut finished_inside = 0u64;
    for job in jobs {
        match job.status {
            JobStatus::Queued | JobStatus::Running => numbers.unfinished += 1,
            JobStatus::Failed | JobStatus::Expired => numbers.failed += 1,
            JobStatus::Succeeded | JobStatus::Cancelled => {}
        }
        if job.status.is_terminal() {
            latencies.push((job.updated_at - job.created_at).num_milliseconds());
            if job.updated_at >= from && job.updated_at < until {
                finished_inside += 1;
            }
        }
    }
    let secs = m.window_secs * m.last_window as f64;
    numbers.jobs_per_sec = if secs > 0.0 {
        finished_inside as f64 / secs
    } else {
        0.0
    };
    latencies.sort_unstable();
    numbers.p50_ms = percentile(&latencies, 0.50);
    numbers.p99_ms = percentile(&latencies, 0.99);
    numbers
}

/// The nearest-rank percentile `p` (0..=1) of sorted `values`.
pub fn percentile(sorted: &[i64], p: f64) -> Option<i64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (p * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use bedrock_sim::{BucketStats, QuotaConfig, Totals, WindowStats};

    fn bucket(region: &str, tpm: u64, windows: &[(u64, u64, u64)]) -> BucketStats {
        let quota = QuotaConfig {
            tpm: Some(tpm),
            ..QuotaConfig::default()
        };
        let mut b = BucketStats::zero(region.into(), "m".into(), quota, 1);
        b.windows = windows
            .iter()
            .map(|&(index, tokens_settled, throttled)| WindowStats {
                index,
                admitted: 10,
                throttled,
                failed: 0,
                tokens_settled,
            })
            .collect();
        b
    }

    fn measurement(down: &[(&str, u64)]) -> Measurement {
        Measurement {
            last_window: 2,
            window_secs: 1.0,
            started: DateTime::from_timestamp(1_000, 0).unwrap(),
            down: down.iter().map(|(r, w)| ((*r).to_owned(), *w)).collect(),
        }
    }

    #[test]
    fn utilization_skips_window_zero_the_partial_window_and_down_regions() {
        let buckets = vec![
            bucket(
                "a",
                100,
                &[(0, 100, 5), (1, 90, 0), (2, 100, 10), (3, 40, 0)],
            ),
            bucket("b", 50, &[(1, 50, 0)]),
        ];
        let stats = SimStats {
            window_secs: 1.0,
            window_mode: "sliding".into(),
            totals: Totals::of(&buckets),
            buckets,
        };
        let mut notes = Vec::new();
        let all_up = usage(&stats, &measurement(&[]), &mut notes);
        assert_eq!((all_up.settled, all_up.capacity), (240, 300));
        assert_eq!((all_up.calls, all_up.throttled), (40, 10));
        let b_down = usage(&stats, &measurement(&[("b", 2)]), &mut notes);
        assert_eq!(b_down.capacity, 250);
        assert_eq!(b_down.regions["b"], (50, 50));
        assert!(notes.is_empty());
        assert!((ratio(b_down.settled, b_down.capacity) - 0.96).abs() < 1e-9);
        // Down in window 1, back in window 2 with a stored window: twice the tpm there.
        let b_back = usage(&stats, &measurement(&[("b", 1)]), &mut notes);
        assert_eq!(b_back.regions["b"], (50, 100));
        assert_eq!(b_back.capacity, 300);
    }

    #[test]
    fn job_numbers_count_failures_backlog_throughput_and_latency() {
        let m = measurement(&[]);
        let at = |ms: i64| m.started + chrono::Duration::milliseconds(ms);
        let job = |status, created, updated| JobTimes {
            status,
            created_at: at(created),
            updated_at: at(updated),
        };
        let jobs_list = vec![
            job(JobStatus::Succeeded, 0, 500),    // before the measured windows
            job(JobStatus::Succeeded, 0, 1500),   // inside
            job(JobStatus::Succeeded, 100, 2900), // inside
            job(JobStatus::Failed, 0, 2000),      // inside, failed
            job(JobStatus::Succeeded, 0, 3100),   // after
            job(JobStatus::Queued, 0, 0),
            job(JobStatus::Running, 0, 10),
        ];
        let n = jobs(&jobs_list, &m);
        assert_eq!((n.failed, n.unfinished), (1, 2));
        assert!((n.jobs_per_sec - 1.5).abs() < 1e-9);
        assert_eq!(n.p50_ms, Some(2000));
        assert_eq!(n.p99_ms, Some(3100));
    }

    #[test]
    fn percentiles_by_nearest_rank() {
        let values: Vec<i64> = (1..=100).collect();
        assert_eq!(percentile(&values, 0.5), Some(50));
        assert_eq!(percentile(&values, 0.99), Some(99));
        assert_eq!(percentile(&[7], 0.99), Some(7));
        assert_eq!(percentile(&[], 0.5), None);
    }
}
