//! One bucket's circuit breaker: Closed → Open after `failure_threshold` consecutive failures,
//! Open → HalfOpen after `recovery_timeout`, HalfOpen lets at most `half_open_max_probes` calls
//! run, `success_threshold` successes close it and a failure reopens it. Only failures that say
//! the bucket itself is unwell count (the caller decides, from the error table). Time is tokio's,
//! passed in, so tests run on paused time. Each transition is logged and counted.

use bedrock_lb_core::BreakerState;
use tokio::time::Instant;

use crate::settings::BreakerSettings;

/// A half-open probe slot held by a call in flight; giving it back frees the slot, unless the
/// breaker has left that half-open period since (the epoch tells).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Probe {
    epoch: u64,
}

/// The breaker of one bucket.
#[derive(Debug, Clone)]
pub struct Breaker {
    settings: BreakerSettings,
    /// `region/model_id`, for logs and metrics.
    label: String,
    state: BreakerState,
    consecutive_failures: u32,
    half_open_successes: u32,
    opened_at: Option<Instant>,
    probes_in_flight: u32,
    /// Incremented at each entry into half-open.
    epoch: u64,
}

impl Breaker {
    /// A closed breaker for the bucket labelled `label`.
    pub fn new(settings: BreakerSettings, label: impl Into<String>) -> Self {
        Self {
            settings,
            label: label.into(),
            state: BreakerState::Closed,
            consecutive_failures: 0,
            half_open_successes: 0,
            opened_at: None,
            probes_in_flight: 0,
            epoch: 0,
        }
    }

    /// The state at `now` (an open breaker whose timeout has passed turns half-open).
    pub fn state(&mut self, now: Instant) -> BreakerState {
        if self.state == BreakerState::Open && self.reopens_at().is_some_and(|at| now >= at) {
            self.epoch += 1;
            self.probes_in_flight = 0;
            self.half_open_successes = 0;
            self.transition(BreakerState::HalfOpen);
        }
        self.state
    }

    /// When an open breaker starts letting probes through.
    pub fn reopens_at(&self) -> Option<Instant> {
        match self.state {
            BreakerState::Open => self.opened_at.map(|at| at + self.settings.recovery_timeout),
            _ => None,
        }
    }

    /// Whether a call may be admitted at `now`.
    pub fn allows(&mut self, now: Instant) -> bool {
        match self.state(now) {
            BreakerState::Closed => true,
            BreakerState::Open => false,
            BreakerState::HalfOpen => self.probes_in_flight < self.settings.half_open_max_probes,
        }
    }

    /// Records an admission (check [`Breaker::allows`] first); in half-open it takes a probe slot.
    pub fn admit(&mut self, now: Instant) -> Option<Probe> {
        (self.state(now) == BreakerState::HalfOpen).then(|| {
            self.probes_in_flight += 1;
            Probe { epoch: self.epoch }
        })
    }

    /// A call succeeded.
    pub fn succeeded(&mut self, now: Instant, probe: Option<Probe>) {
        self.give_back(probe);
        match self.state(now) {
            BreakerState::Closed => self.consecutive_failures = 0,
            BreakerState::HalfOpen => {
                self.half_open_successes += 1;
                if self.half_open_successes >= self.settings.success_threshold {
                    self.consecutive_failures = 0;
                    self.transition(BreakerState::Closed);
                }
            }
            BreakerState::Open => {}
        }
    }

    /// A call failed in a way that counts against the bucket.
    pub fn failed(&mut self, now: Instant, probe: Option<Probe>) {
        self.give_back(probe);
        match self.state(now) {
            BreakerState::Closed => {
                self.consecutive_failures += 1;
                if self.consecutive_failures >= self.settings.failure_threshold {
                    self.open(now);
                }
            }
            BreakerState::HalfOpen => self.open(now),
            BreakerState::Open => {}
        }
    }

    /// A call ended with an outcome that says nothing about the bucket's health.
    pub fn neutral(&mut self, probe: Option<Probe>) {
        self.give_back(probe);
    }

    fn give_back(&mut self, probe: Option<Probe>) {
        if let Some(probe) = probe
            && probe.epoch == self.epoch
            && self.state == BreakerState::HalfOpen
        {
            self.probes_in_flight = self.probes_in_flight.saturating_sub(1);
        }
    }

    fn open(&mut self, now: Instant) {
        self.opened_at = Some(now);
        self.transition(BreakerState::Open);
    }

    fn transition(&mut self, to: BreakerState) {
        let from = self.state;
        self.state = to;
        tracing::info!(bucket = %self.label, from = from.as_str(), to = to.as_str(), "circuit breaker transition");
        metrics::counter!("bedrock_lb_breaker_transitions_total", "bucket" => self.label.clone(), "to" => to.as_str())
            .increment(1);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn breaker() -> Breaker {
        Breaker::new(BreakerSettings::default(), "us-east-1/m")
    }

    #[test]
    fn opens_after_three_consecutive_failures_only() {
        let t0 = Instant::now();
        let mut b = breaker();
        b.failed(t0, None);
        b.failed(t0, None);
        b.succeeded(t0, None);
        b.failed(t0, None);
        b.failed(t0, None);
        assert_eq!(
            b.state(t0),
            BreakerState::Closed,
            "a success resets the count"
        );
        b.failed(t0, None);
        assert_eq!(b.state(t0), BreakerState::Open);
        assert!(!b.allows(t0));
        assert_eq!(b.reopens_at(), Some(t0 + Duration::from_secs(30)));
    }

    #[test]
    fn half_opens_after_the_timeout_limits_probes_and_closes_after_two() {
        let t0 = Instant::now();
        let mut b = breaker();
        (0..3).for_each(|_| b.failed(t0, None));
        let almost = t0 + Duration::from_secs(30) - Duration::from_nanos(1);
        assert!(!b.allows(almost));
        let t30 = t0 + Duration::from_secs(30);
        assert!(b.allows(t30));
        assert_eq!(b.state(t30), BreakerState::HalfOpen);
        let probe = b.admit(t30);
        assert!(probe.is_some());
        assert!(!b.allows(t30), "one probe at a time");
        b.succeeded(t30, probe);
        assert_eq!(b.state(t30), BreakerState::HalfOpen);
        let probe = b.admit(t30);
        b.succeeded(t30, probe);
        assert_eq!(b.state(t30), BreakerState::Closed);
        assert_eq!(b.admit(t30), None, "closed breakers hand out no probes");
    }

    #[test]
    fn a_half_open_failure_reopens_and_neutral_outcomes_free_the_slot() {
        let t0 = Instant::now();
        let mut b = breaker();
        (0..3).for_each(|_| b.failed(t0, None));
        let t30 = t0 + Duration::from_secs(30);
        let probe = b.admit(t30);
        b.neutral(probe);
        assert!(b.allows(t30), "a neutral outcome frees the probe slot");
        let probe = b.admit(t30);
        b.failed(t30, probe);
        assert_eq!(b.state(t30), BreakerState::Open);
        assert_eq!(b.reopens_at(), Some(t30 + Duration::from_secs(30)));
        // A stale probe from the earlier half-open period does not free a new period's slot.
        let t60 = t30 + Duration::from_secs(30);
        let fresh = b.admit(t60);
        b.neutral(probe);
        assert!(!b.allows(t60));
        b.neutral(fresh);
        assert!(b.allows(t60));
    }
}
