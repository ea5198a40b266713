//! Ground-truth statistics: what each bucket admitted, throttled, failed and settled, in total
//! and per fixed window of `window_secs` since the simulator started (or was reset).
//!
//! This is Bedrock's side of the story, served at `GET /_sim/stats` and by
//! [`crate::Simulator::stats`], so that a benchmark measures utilization against the quota the
//! simulator enforced, not against what the balancer believes. Windows without any activity are
//! left out of `windows`; at most [`MAX_WINDOWS`] recent windows are kept per bucket.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::quota::QuotaConfig;

/// Windows kept per bucket; older ones are dropped.
pub const MAX_WINDOWS: usize = 10_000;

/// The whole `GET /_sim/stats` document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimStats {
    /// The length of a window (a quota "minute") in seconds.
    pub window_secs: f64,
    /// `sliding` or `fixed`.
    pub window_mode: String,
    /// Every configured bucket, by region then model id.
    pub buckets: Vec<BucketStats>,
    /// Sums over all buckets.
    pub totals: Totals,
}

/// One bucket's counts and its quota bound.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BucketStats {
    pub region: String,
    /// The model key the bucket is configured under (an ARN call counts here too).
    pub model_id: String,
    /// Tokens per window; `null` is unlimited.
    pub tpm: Option<u64>,
    /// Requests per window; `null` is unlimited.
    pub rpm: Option<u64>,
    /// Tokens per day (1,440 windows); `null` is unlimited.
    pub tpd: Option<u64>,
    /// Quota tokens per output token.
    pub output_burndown: u32,
    /// Every call that reached the bucket: `admitted + throttled + failed`.
    pub requests: u64,
    /// Calls that passed the quota and answered 200.
    pub admitted: u64,
    /// Calls answered ThrottlingException by the quota.
    pub throttled: u64,
    /// Calls failed by an injected fault (including timeouts after admission).
    pub failed: u64,
    /// Sum of reservations made at admission (`input + max_tokens`).
    pub tokens_reserved: u64,
    /// Sum of settled costs (`input + output × burndown`; input only for a timeout).
    pub tokens_settled: u64,
    /// Reservations of calls still running.
    pub tokens_in_flight: u64,
    /// Per-window counts, oldest first.
    pub windows: Vec<WindowStats>,
}

impl BucketStats {
    /// The statistics of a bucket no call has reached: its bounds, every count zero.
    pub fn zero(
        region: String,
        model_id: String,
        quota: QuotaConfig,
        output_burndown: u32,
    ) -> Self {
        Self {
            region,
            model_id,
            tpm: quota.tpm,
            rpm: quota.rpm,
            tpd: quota.tpd,
            output_burndown,
            requests: 0,
            admitted: 0,
            throttled: 0,
            failed: 0,
            tokens_reserved: 0,
            tokens_settled: 0,
            tokens_in_flight: 0,
            windows: Vec::new(),
        }
    }
}

/// One fixed window of one bucket.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WindowStats {
    /// 0 is the first window after the simulator started (or was reset).
    pub index: u64,
    pub admitted: u64,
    pub throttled: u64,
    pub failed: u64,
    /// Tokens settled in this window.
    pub tokens_settled: u64,
}

/// Sums over all buckets.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    pub requests: u64,
    pub admitted: u64,
    pub throttled: u64,
    pub failed: u64,
    pub tokens_settled: u64,
}

impl Totals {
    /// The sums over `buckets`.
    pub fn of(buckets: &[BucketStats]) -> Self {
        buckets.iter().fold(Self::default(), |t, b| Self {
            requests: t.requests + b.requests,
            admitted: t.admitted + b.admitted,
            throttled: t.throttled + b.throttled,
            failed: t.failed + b.failed,
            tokens_settled: t.tokens_settled + b.tokens_settled,
        })
    }
}

/// What happened to one call at a bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Reserved this many tokens at admission (counted as admitted when it settles).
    Reserved(u64),
    /// Settled: answered 200 after reserving `reserved`, costing `settled`.
    Admitted { reserved: u64, settled: u64 },
    /// Refused by the quota.
    Throttled,
    /// Refused by a fault before admission.
    Failed,
    /// Admitted, then failed (a timeout), costing `settled`.
    FailedAfterAdmission { reserved: u64, settled: u64 },
}

/// The running counts of one bucket.
#[derive(Debug, Clone, Default)]
pub struct Counters {
    admitted: u64,
    throttled: u64,
    failed: u64,
    tokens_reserved: u64,
    tokens_settled: u64,
    tokens_in_flight: u64,
    windows: BTreeMap<u64, WindowStats>,
}

impl Counters {
    /// Counts `outcome` in window `window`.
    pub fn record(&mut self, window: u64, outcome: Outcome) {
        let w = self.windows.entry(window).or_insert_with(|| WindowStats {
            index: window,
            ..WindowStats::default()
        });
        match outcome {
            Outcome::Reserved(n) => {
                self.tokens_reserved += n;
                self.tokens_in_flight += n;
            }
            Outcome::Admitted { reserved, settled } => {
                self.admitted += 1;
                self.tokens_in_flight = self.tokens_in_flight.saturating_sub(reserved);
                self.tokens_settled += settled;
                w.admitted += 1;
                w.tokens_settled += settled;
            }
            Outcome::Throttled => {
                self.throttled += 1;
                w.throttled += 1;
            }
            Outcome::Failed => {
                self.failed += 1;
                w.failed += 1;
            }
            Outcome::FailedAfterAdmission { reserved, settled } => {
                self.failed += 1;
                self.tokens_in_flight = self.tokens_in_flight.saturating_sub(reserved);
                self.tokens_settled += settled;
                w.failed += 1;
                w.tokens_settled += settled;
            }
        }
        while self.windows.len() > MAX_WINDOWS {
            self.windows.pop_first();
        }
    }

    /// The counts as stats, with the bucket's identity and limits filled in by the caller.
    pub fn fill(&self, stats: &mut BucketStats) {
        stats.requests = self.admitted + self.throttled + self.failed;
        stats.admitted = self.admitted;
        stats.throttled = self.throttled;
        stats.failed = self.failed;
        stats.tokens_reserved = self.tokens_reserved;
        stats.tokens_settled = self.tokens_settled;
        stats.tokens_in_flight = self.tokens_in_flight;
        stats.windows = self
            .windows
            .values()
            .filter(|w| w.admitted + w.throttled + w.failed > 0 || w.tokens_settled > 0)
            .cloned()
            .collect();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn empty() -> BucketStats {
        BucketStats::zero("r".into(), "m".into(), QuotaConfig::default(), 1)
    }

    #[test]
    fn outcomes_add_up_per_bucket_and_per_window() {
        let mut c = Counters::default();
        c.record(0, Outcome::Reserved(100));
        c.record(0, Outcome::Throttled);
        c.record(
            1,
            Outcome::Admitted {
                reserved: 100,
                settled: 60,
            },
        );
        c.record(1, Outcome::Failed);
        c.record(1, Outcome::Reserved(50));
        let mut stats = empty();
        c.fill(&mut stats);
        assert_eq!(
            (
                stats.requests,
                stats.admitted,
                stats.throttled,
                stats.failed
            ),
            (3, 1, 1, 1)
        );
        assert_eq!(
            (
                stats.tokens_reserved,
                stats.tokens_settled,
                stats.tokens_in_flight
            ),
            (150, 60, 50)
        );
        assert_eq!(stats.windows.len(), 2);
        assert_eq!(
            stats.windows[1],
            WindowStats {
                index: 1,
                admitted: 1,
                throttled: 0,
                failed: 1,
                tokens_settled: 60
            }
        );
        let totals = Totals::of(&[stats.clone(), stats]);
        assert_eq!(totals.requests, 6);
        assert_eq!(totals.tokens_settled, 120);
    }
}
