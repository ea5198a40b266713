//! One quota counter, Bedrock style: reserve at admission, settle at completion.
//!
//! A [`Ledger`] holds one limit (tokens per minute, requests per minute or tokens per day) of one
//! bucket. It is pure arithmetic over `tokio::time::Instant`s handed in by the caller, so it is
//! exact (integers only) and testable without any clock. Two behaviours, as [`WindowMode`]:
//!
//! - `sliding`: a continuously refilling bucket. Usage drains at `capacity / period`; a
//!   reservation of `n` is admitted when `used + n <= capacity`.
//! - `fixed`: clock windows of `period` counted from the ledger's start. A reservation is
//!   admitted when the tokens settled in the current window, plus the reservations in flight,
//!   plus `n` fit the capacity; settled usage starts again at zero in each new window.
//!
//! Settling replaces a reservation by the real cost, which may exceed it (Bedrock does the same:
//! output burndown can cost more than `max_tokens` reserved).

use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::time::Instant;

/// How a quota window behaves.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WindowMode {
    /// A continuously refilling bucket (what Bedrock behaves like).
    #[default]
    Sliding,
    /// Fixed windows: the whole quota comes back at each window boundary.
    Fixed,
}

/// One limit of one bucket.
#[derive(Debug, Clone)]
pub struct Ledger {
    mode: WindowMode,
    capacity: u64,
    period: Duration,
    start: Instant,
    /// Sliding: usage in units of token × period-nanoseconds, so that draining is exact.
    used_scaled: u128,
    /// Sliding: when `used_scaled` was last drained.
    last: Instant,
    /// Fixed: the window `settled` belongs to.
    window: u64,
    /// Fixed: tokens settled in `window`.
    settled: u64,
    /// Fixed: reservations not yet settled.
    in_flight: u64,
}

impl Ledger {
    /// An empty ledger allowing `capacity` per `period`, starting at `start`.
    pub fn new(mode: WindowMode, capacity: u64, period: Duration, start: Instant) -> Self {
        Self {
            mode,
            capacity,
            period: period.max(Duration::from_nanos(1)),
            start,
            used_scaled: 0,
            last: start,
            window: 0,
            settled: 0,
            in_flight: 0,
        }
    }

    /// The limit per period.
    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    /// Changes the limit; usage so far stays counted.
    pub fn set_capacity(&mut self, capacity: u64) {
        self.capacity = capacity;
    }

    fn period_nanos(&self) -> u128 {
        self.period.as_nanos().max(1)
    }

    /// Brings the ledger to `now`: drains (sliding) or rolls the window (fixed).
    fn advance(&mut self, now: Instant) {
        match self.mode {
            WindowMode::Sliding => {
                let elapsed = now.saturating_duration_since(self.last).as_nanos();
                let drained = elapsed.saturating_mul(u128::from(self.capacity));
                self.used_scaled = self.used_scaled.saturating_sub(drained);
                self.last = self.last.max(now);
            }
            WindowMode::Fixed => {
                let window = self.window_index(now);
                if window > self.window {
                    self.window = window;
                    self.settled = 0;
                }
            }
        }
    }

    fn window_index(&self, now: Instant) -> u64 {
        let since = now.saturating_duration_since(self.start).as_nanos();
        u64::try_from(since / self.period_nanos()).unwrap_or(u64::MAX)
    }

    /// Tokens counted against the limit at `now` (settled and in flight), rounded up.
    pub fn used(&mut self, now: Instant) -> u64 {
        self.advance(now);
        match self.mode {
            WindowMode::Sliding => {
                u64::try_from(self.used_scaled.div_ceil(self.period_nanos())).unwrap_or(u64::MAX)
            }
            WindowMode::Fixed => self.settled.saturating_add(self.in_flight),
        }
    }

    /// Whether a reservation of `n` fits at `now`.
    pub fn fits(&mut self, now: Instant, n: u64) -> bool {
        self.advance(now);
        match self.mode {
            WindowMode::Sliding => {
                let needed = u128::from(n).saturating_mul(self.period_nanos());
                let limit = u128::from(self.capacity).saturating_mul(self.period_nanos());
                self.used_scaled.saturating_add(needed) <= limit
            }
            WindowMode::Fixed => {
                self.settled
                    .saturating_add(self.in_flight)
                    .saturating_add(n)
                    <= self.capacity
            }
        }
    }

    /// Reserves `n` without checking (call [`Ledger::fits`] first).
    pub fn reserve(&mut self, now: Instant, n: u64) {
        self.advance(now);
        match self.mode {
            WindowMode::Sliding => {
                let scaled = u128::from(n).saturating_mul(self.period_nanos());
                self.used_scaled = self.used_scaled.saturating_add(scaled);
            }
            WindowMode::Fixed => self.in_flight = self.in_flight.saturating_add(n),
        }
    }

    /// Replaces a reservation of `reserved` by the real cost `actual`.
    pub fn settle(&mut self, now: Instant, reserved: u64, actual: u64) {
        self.advance(now);
        match self.mode {
            WindowMode::Sliding => {
                let p = self.period_nanos();
                if actual >= reserved {
                    let extra = u128::from(actual - reserved).saturating_mul(p);
                    self.used_scaled = self.used_scaled.saturating_add(extra);
                } else {
                    let back = u128::from(reserved - actual).saturating_mul(p);
                    self.used_scaled = self.used_scaled.saturating_sub(back);
                }
            }
            WindowMode::Fixed => {
                self.in_flight = self.in_flight.saturating_sub(reserved);
                self.settled = self.settled.saturating_add(actual);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: Duration = Duration::from_secs(60);

    #[test]
    fn sliding_admits_what_fits_and_refills_continuously() {
        let t0 = Instant::now();
        let mut ledger = Ledger::new(WindowMode::Sliding, 10_000, MINUTE, t0);
        for _ in 0..3 {
            assert!(ledger.fits(t0, 3_000));
            ledger.reserve(t0, 3_000);
        }
        assert!(
            !ledger.fits(t0, 3_000),
            "9,000 used: 3,000 more does not fit"
        );
        assert!(ledger.fits(t0, 1_000), "exactly the rest fits");
        // 10,000 per 60 s refills 2,000 in 12 s: exactly enough, not a nanosecond earlier.
        let almost = t0 + Duration::from_secs(12) - Duration::from_nanos(1);
        assert!(!ledger.fits(almost, 3_000));
        assert!(ledger.fits(t0 + Duration::from_secs(12), 3_000));
        assert_eq!(ledger.used(t0 + MINUTE), 0);
    }

    #[test]
    fn settlement_can_give_back_or_charge_more() {
        let t0 = Instant::now();
        let mut ledger = Ledger::new(WindowMode::Sliding, 10_000, MINUTE, t0);
        ledger.reserve(t0, 3_000);
        ledger.settle(t0, 3_000, 500);
        assert_eq!(ledger.used(t0), 500);
        ledger.reserve(t0, 1_000);
        ledger.settle(t0, 1_000, 9_000);
        assert_eq!(ledger.used(t0), 9_500);
        assert!(!ledger.fits(t0, 501));
        assert!(ledger.fits(t0, 500));
    }

    #[test]
    fn fixed_windows_come_back_whole_at_the_boundary() {
        let t0 = Instant::now();
        let mut ledger = Ledger::new(WindowMode::Fixed, 10_000, MINUTE, t0);
        for _ in 0..3 {
            assert!(ledger.fits(t0, 3_000));
            ledger.reserve(t0, 3_000);
            ledger.settle(t0, 3_000, 3_000);
        }
        let late = t0 + Duration::from_secs(59);
        assert!(!ledger.fits(late, 3_000), "no refill inside a fixed window");
        assert!(ledger.fits(t0 + MINUTE, 10_000));
        assert_eq!(ledger.used(t0 + MINUTE), 0);
    }

    #[test]
    fn fixed_windows_keep_reservations_in_flight_across_the_boundary() {
        let t0 = Instant::now();
        let mut ledger = Ledger::new(WindowMode::Fixed, 10_000, MINUTE, t0);
        ledger.reserve(t0, 6_000);
        assert!(!ledger.fits(t0 + MINUTE, 5_000), "6,000 still in flight");
        ledger.settle(t0 + MINUTE, 6_000, 2_000);
        assert_eq!(ledger.used(t0 + MINUTE), 2_000);
    }

    #[test]
    fn capacity_changes_keep_usage() {
        let t0 = Instant::now();
        let mut ledger = Ledger::new(WindowMode::Sliding, 10_000, MINUTE, t0);
        ledger.reserve(t0, 8_000);
        ledger.set_capacity(5_000);
        assert!(!ledger.fits(t0, 1));
        ledger.set_capacity(20_000);
        assert!(ledger.fits(t0, 12_000));
        assert_eq!(ledger.capacity(), 20_000);
    }
}
