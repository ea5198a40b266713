//! One token quota counter, Bedrock style: a continuously refilling bucket that reserves at
//! admission and settles at completion (the simulator's `sliding` mode, mirrored exactly).
//!
//! Usage drains at `capacity / period`; a reservation of `n` fits when `used + n <= capacity`.
//! Usage is kept in units of token × period-nanoseconds so draining is exact integer maths, and
//! [`Ledger::time_until_fits`] gives the exact instant a reservation will fit, which is what lets
//! a waiting call sleep instead of polling.

use std::time::Duration;

use tokio::time::Instant;

/// One refilling limit of one bucket (its tpm share, or its tpd share over a day).
#[derive(Debug, Clone)]
pub struct Ledger {
    capacity: u64,
    period: Duration,
    /// Usage in token × period-nanoseconds.
    used_scaled: u128,
    /// When `used_scaled` was last drained.
    last: Instant,
}

impl Ledger {
    /// An empty ledger allowing `capacity` tokens per `period`.
    pub fn new(capacity: u64, period: Duration, now: Instant) -> Self {
        Self {
            capacity,
            period: period.max(Duration::from_nanos(1)),
            used_scaled: 0,
            last: now,
        }
    }

    /// The limit per period.
    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    /// Changes the limit (and so the drain rate) from `now` on; usage so far stays counted.
    pub fn set_capacity(&mut self, now: Instant, capacity: u64) {
        self.advance(now);
        self.capacity = capacity;
    }

    fn p(&self) -> u128 {
        self.period.as_nanos().max(1)
    }

    fn advance(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.last).as_nanos();
        let drained = elapsed.saturating_mul(u128::from(self.capacity));
        self.used_scaled = self.used_scaled.saturating_sub(drained);
        self.last = self.last.max(now);
    }

    /// Tokens counted against the limit at `now`, rounded up.
    pub fn used(&mut self, now: Instant) -> u64 {
        self.advance(now);
        u64::try_from(self.used_scaled.div_ceil(self.p())).unwrap_or(u64::MAX)
    }

    /// Whether a reservation of `n` fits at `now`.
    pub fn fits(&mut self, now: Instant, n: u64) -> bool {
        self.advance(now);
        n <= self.capacity && self.used_scaled <= u128::from(self.capacity - n) * self.p()
    }

    /// How long until a reservation of `n` fits: zero if it fits now, `None` if it never can
    /// (`n` above the capacity, or a zero capacity that never drains).
    pub fn time_until_fits(&mut self, now: Instant, n: u64) -> Option<Duration> {
        let target = self.capacity.checked_sub(n)?;
        self.time_until_used_at_most(now, target)
    }

    /// How long until nothing is counted any more.
    pub fn time_until_empty(&mut self, now: Instant) -> Option<Duration> {
        self.time_until_used_at_most(now, 0)
    }

    fn time_until_used_at_most(&mut self, now: Instant, target: u64) -> Option<Duration> {
        self.advance(now);
        let excess = self
            .used_scaled
            .saturating_sub(u128::from(target) * self.p());
        if excess == 0 {
            return Some(Duration::ZERO);
        }
        if self.capacity == 0 {
            return None;
        }
        let nanos = excess.div_ceil(u128::from(self.capacity));
        Some(Duration::from_nanos(
            u64::try_from(nanos).unwrap_or(u64::MAX),
        ))
    }

    /// Whether a call reserving `n` may be admitted now, given `in_flight` calls on the bucket;
    /// if not, how long until it may (`None`: only after a call ends). A reservation above the
    /// capacity is admitted alone into an empty ledger, so a share smaller than one big request
    /// still progresses.
    pub fn admission(
        &mut self,
        now: Instant,
        n: u64,
        in_flight: u64,
    ) -> Result<(), Option<Duration>> {
        let wait = if n <= self.capacity {
            self.time_until_fits(now, n)
        } else if in_flight > 0 {
            None
        } else {
            self.time_until_empty(now)
        };
        match wait {
            Some(Duration::ZERO) => Ok(()),
            wait => Err(wait),
        }
    }

    /// Reserves `n` without checking (check [`Ledger::fits`] first).
    pub fn reserve(&mut self, now: Instant, n: u64) {
        self.advance(now);
        self.used_scaled = self
            .used_scaled
            .saturating_add(u128::from(n).saturating_mul(self.p()));
    }

    /// Replaces a reservation of `reserved` by the real cost `actual` (which may exceed it).
    pub fn settle(&mut self, now: Instant, reserved: u64, actual: u64) {
        self.advance(now);
        let p = self.p();
        if actual >= reserved {
            let extra = u128::from(actual - reserved).saturating_mul(p);
            self.used_scaled = self.used_scaled.saturating_add(extra);
        } else {
            let back = u128::from(reserved - actual).saturating_mul(p);
            self.used_scaled = self.used_scaled.saturating_sub(back);
        }
    }

    /// Gives a reservation back whole (the call was never counted by Bedrock).
    pub fn release(&mut self, now: Instant, reserved: u64) {
        self.settle(now, reserved, 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: Duration = Duration::from_secs(60);

    #[test]
    fn admits_up_to_the_limit_and_refuses_beyond() {
        let t0 = Instant::now();
        let mut ledger = Ledger::new(10_000, MINUTE, t0);
        for _ in 0..3 {
            assert!(ledger.fits(t0, 3_000));
            ledger.reserve(t0, 3_000);
        }
        assert!(
            !ledger.fits(t0, 3_000),
            "9,000 used: 3,000 more does not fit"
        );
        assert!(ledger.fits(t0, 1_000), "exactly the rest fits");
        assert!(!ledger.fits(t0, 1_001));
        assert!(!Ledger::new(10, MINUTE, t0).fits(t0, 11), "above capacity");
    }

    #[test]
    fn refills_at_limit_per_window_exactly() {
        let t0 = Instant::now();
        let mut ledger = Ledger::new(10_000, MINUTE, t0);
        ledger.reserve(t0, 9_000);
        // 10,000 per 60 s refills 2,000 in 12 s: exactly enough, not a nanosecond earlier.
        assert_eq!(
            ledger.time_until_fits(t0, 3_000),
            Some(Duration::from_secs(12))
        );
        let almost = t0 + Duration::from_secs(12) - Duration::from_nanos(1);
        assert!(!ledger.fits(almost, 3_000));
        assert!(ledger.fits(t0 + Duration::from_secs(12), 3_000));
        assert_eq!(ledger.used(t0 + Duration::from_secs(30)), 4_000);
        assert_eq!(ledger.used(t0 + MINUTE), 0);
        assert_eq!(
            ledger.time_until_fits(t0 + MINUTE, 10_000),
            Some(Duration::ZERO)
        );
        assert_eq!(ledger.time_until_fits(t0 + MINUTE, 10_001), None);
    }

    #[test]
    fn settle_over_and_under_the_reservation_and_release() {
        let t0 = Instant::now();
        let mut ledger = Ledger::new(10_000, MINUTE, t0);
        ledger.reserve(t0, 3_000);
        ledger.settle(t0, 3_000, 500);
        assert_eq!(ledger.used(t0), 500);
        ledger.reserve(t0, 1_000);
        ledger.settle(t0, 1_000, 9_000);
        assert_eq!(ledger.used(t0), 9_500);
        assert!(!ledger.fits(t0, 501));
        assert!(ledger.fits(t0, 500));
        ledger.reserve(t0, 500);
        ledger.release(t0, 500);
        assert_eq!(ledger.used(t0), 9_500);
        ledger.settle(t0, 20_000, 0);
        assert_eq!(ledger.used(t0), 0, "settling saturates at zero");
    }

    #[test]
    fn a_reservation_above_the_capacity_runs_alone_in_an_empty_ledger() {
        let t0 = Instant::now();
        let mut ledger = Ledger::new(500, MINUTE, t0);
        assert_eq!(ledger.admission(t0, 1_000, 0), Ok(()));
        ledger.reserve(t0, 1_000);
        assert_eq!(
            ledger.admission(t0, 1_000, 1),
            Err(None),
            "wait for it to end"
        );
        assert_eq!(
            ledger.admission(t0, 1_000, 0),
            Err(Some(Duration::from_secs(120)))
        );
        assert_eq!(
            ledger.admission(t0, 100, 1),
            Err(Some(Duration::from_secs(72)))
        );
    }

    #[test]
    fn a_smaller_capacity_drains_slower_from_the_change_on() {
        let t0 = Instant::now();
        let mut ledger = Ledger::new(6_000, MINUTE, t0);
        ledger.reserve(t0, 6_000);
        let t10 = t0 + Duration::from_secs(10);
        ledger.set_capacity(t10, 3_000); // 1,000 drained at the old rate
        assert_eq!(ledger.used(t10), 5_000);
        assert_eq!(ledger.time_until_empty(t10), Some(Duration::from_secs(100)));
        assert!(!ledger.fits(t10, 1), "5,000 used over a 3,000 limit");
    }
}
