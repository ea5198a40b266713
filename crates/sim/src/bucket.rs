//! One bucket's live state (its quota ledgers and counters) and the admission of one call to it.
//!
//! An [`Admission`] is the reservation of one call in flight. It settles when the call ends,
//! and also when the call is dropped half-way (the client hung up): Bedrock charges a call it
//! started, and a reservation must never leak. A reset bumps the bucket's epoch, so calls
//! admitted before it do not disturb the fresh ledgers.

use std::sync::{Mutex, MutexGuard};

use tokio::time::Instant;

use crate::error::BedrockError;
use crate::quota::{BucketQuota, QuotaConfig, WindowConfig};
use crate::stats::{BucketStats, Counters, Outcome};

/// A bucket: one (region, model key) pair with its own quota.
#[derive(Debug)]
pub struct Bucket {
    pub region: String,
    pub model_key: String,
    pub output_burndown: u32,
    window: WindowConfig,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    quota: BucketQuota,
    counters: Counters,
    /// When window 0 began.
    start: Instant,
    epoch: u64,
}

impl Bucket {
    /// A fresh bucket starting at `start`.
    pub fn new(
        region: &str,
        model_key: &str,
        output_burndown: u32,
        quota: QuotaConfig,
        window: WindowConfig,
        start: Instant,
    ) -> Self {
        Self {
            region: region.to_owned(),
            model_key: model_key.to_owned(),
            output_burndown,
            window,
            state: Mutex::new(State {
                quota: BucketQuota::new(quota, window, start),
                counters: Counters::default(),
                start,
                epoch: 0,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn window_index(&self, state: &State, now: Instant) -> u64 {
        let since = now.saturating_duration_since(state.start).as_nanos();
        let period = self.window.period().as_nanos().max(1);
        u64::try_from(since / period).unwrap_or(u64::MAX)
    }

    /// Counts a call refused by a fault before admission.
    pub fn record_failure(&self) {
        let now = Instant::now();
        let mut state = self.lock();
        let window = self.window_index(&state, now);
        state.counters.record(window, Outcome::Failed);
    }

    /// Reserves `reserved` tokens for a call, or throttles it.
    pub fn admit(&self, reserved: u64) -> Result<Admission<'_>, BedrockError> {
        let now = Instant::now();
        let mut state = self.lock();
        let window = self.window_index(&state, now);
        match state.quota.admit(now, reserved) {
            Ok(()) => {
                state.counters.record(window, Outcome::Reserved(reserved));
                Ok(Admission {
                    bucket: self,
                    reserved,
                    epoch: state.epoch,
                    if_dropped: reserved,
                    done: false,
                })
            }
            Err(err) => {
                state.counters.record(window, Outcome::Throttled);
                Err(err)
            }
        }
    }

    fn settle(&self, reserved: u64, settled: u64, epoch: u64, success: bool) {
        let now = Instant::now();
        let mut state = self.lock();
        if state.epoch != epoch {
            return;
        }
        state.quota.settle(now, reserved, settled);
        let window = self.window_index(&state, now);
        let outcome = if success {
            Outcome::Admitted { reserved, settled }
        } else {
            Outcome::FailedAfterAdmission { reserved, settled }
        };
        state.counters.record(window, outcome);
    }

    /// The limits now in force.
    pub fn quota(&self) -> QuotaConfig {
        self.lock().quota.config()
    }

    /// Changes the limits at runtime.
    pub fn set_quota(&self, quota: QuotaConfig) {
        self.lock().quota.set(quota);
    }

    /// Forgets every count and reservation; window 0 starts now.
    pub fn reset(&self) {
        let now = Instant::now();
        let mut state = self.lock();
        let quota = state.quota.config();
        state.quota = BucketQuota::new(quota, self.window, now);
        state.counters = Counters::default();
        state.start = now;
        state.epoch += 1;
    }

    /// This bucket's statistics.
    pub fn stats(&self) -> BucketStats {
        let state = self.lock();
        let mut stats = BucketStats::zero(
            self.region.clone(),
            self.model_key.clone(),
            state.quota.config(),
            self.output_burndown,
        );
        state.counters.fill(&mut stats);
        stats
    }
}

/// A call admitted to a bucket and not yet settled.
#[derive(Debug)]
pub struct Admission<'b> {
    bucket: &'b Bucket,
    reserved: u64,
    epoch: u64,
    /// What the call costs if it is dropped before it settles.
    if_dropped: u64,
    done: bool,
}

impl Admission<'_> {
    /// The cost to charge if the call is abandoned from here on.
    pub fn charge_if_dropped(&mut self, tokens: u64) {
        self.if_dropped = tokens;
    }

    /// The call answered 200 and cost `settled`.
    pub fn succeed(mut self, settled: u64) {
        self.done = true;
        self.bucket.settle(self.reserved, settled, self.epoch, true);
    }

    /// The call failed after admission (a timeout) and cost `settled`.
    pub fn fail(mut self, settled: u64) {
        self.done = true;
        self.bucket
            .settle(self.reserved, settled, self.epoch, false);
    }
}

impl Drop for Admission<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.bucket
                .settle(self.reserved, self.if_dropped, self.epoch, true);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bucket(tpm: u64) -> Bucket {
        let quota = QuotaConfig {
            tpm: Some(tpm),
            ..QuotaConfig::default()
        };
        Bucket::new("r", "m", 1, quota, WindowConfig::default(), Instant::now())
    }

    #[tokio::test(start_paused = true)]
    async fn a_dropped_call_still_settles() {
        let b = bucket(1_000);
        let mut admission = b.admit(600).unwrap();
        admission.charge_if_dropped(700);
        drop(admission);
        let stats = b.stats();
        assert_eq!(
            (stats.admitted, stats.tokens_settled, stats.tokens_in_flight),
            (1, 700, 0)
        );
        assert!(b.admit(301).is_err(), "700 charged: 301 more does not fit");
        assert_eq!(b.stats().throttled, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_reset_ignores_calls_admitted_before_it() {
        let b = bucket(1_000);
        let admission = b.admit(900).unwrap();
        b.reset();
        admission.succeed(900);
        let stats = b.stats();
        assert_eq!((stats.requests, stats.tokens_settled), (0, 0));
        assert!(b.admit(1_000).is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn windows_are_counted_from_the_start() {
        let b = bucket(1_000_000);
        b.admit(10).unwrap().succeed(10);
        tokio::time::advance(std::time::Duration::from_secs(125)).await;
        b.admit(10).unwrap().fail(4);
        b.record_failure();
        let stats = b.stats();
        let indices: Vec<u64> = stats.windows.iter().map(|w| w.index).collect();
        assert_eq!(indices, [0, 2]);
        assert_eq!(
            (stats.windows[1].failed, stats.windows[1].tokens_settled),
            (2, 4)
        );
        assert_eq!((stats.requests, stats.admitted, stats.failed), (3, 1, 2));
    }
}
