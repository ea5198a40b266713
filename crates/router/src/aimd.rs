//! Adaptive backoff of one bucket's rate: a throttle means the configured quota was too
//! optimistic (it may be wrong, or shared with other applications), so the limit shrinks
//! multiplicatively (×0.7); successes regrow it, never above the configured share.
//!
//! Growth is paced by time, not by the number of successes (one step at most per `spacing`),
//! so the sawtooth has the same period at any request rate, and it remembers where the last
//! throttle struck (the ceiling), as TCP remembers its slow-start threshold:
//! - below the ceiling it climbs back quickly, 5 % of the ceiling per step;
//! - at or above it, it probes carefully, 2 % of the current factor per step.
//!
//! Additive steps of the whole share would overshoot a real quota far below the configured one
//! at every step; steps relative to where throttling began do not. Kept in parts per million so
//! the arithmetic is exact.

use std::time::Duration;

use tokio::time::Instant;

const FULL: u64 = 1_000_000;
const FLOOR: u64 = 10_000;

/// The factor (in [0.01, 1.0]) applied to a bucket's share.
#[derive(Debug, Clone)]
pub(crate) struct Aimd {
    ppm: u64,
    /// The factor when the last throttle struck.
    ceiling: u64,
    last_decrease: Option<Instant>,
    last_increase: Option<Instant>,
}

impl Aimd {
    pub(crate) fn new() -> Self {
        Self {
            ppm: FULL,
            ceiling: FULL,
            last_decrease: None,
            last_increase: None,
        }
    }

    /// The limit for `share`: never zero, never above the share.
    pub(crate) fn limit(&self, share: u64) -> u64 {
        let scaled = u128::from(share) * u128::from(self.ppm) / u128::from(FULL);
        u64::try_from(scaled).unwrap_or(share).max(1)
    }

    /// A throttle at `now` of a call admitted at `admitted`: ×0.7, unless the call was admitted
    /// before the last decrease (it was admitted under the old limit, so its throttle says
    /// nothing new). A burst of calls admitted together thus counts once, and a limit far above
    /// the real quota comes down at the pace of the calls, not of a timer. Returns whether the
    /// factor changed.
    pub(crate) fn throttled(&mut self, admitted: Instant, now: Instant) -> bool {
        if self.last_decrease.is_some_and(|last| admitted <= last) {
            return false;
        }
        self.last_decrease = Some(now);
        self.ceiling = self.ppm;
        let next = (self.ppm * 7 / 10).max(FLOOR);
        let changed = next != self.ppm;
        self.ppm = next;
        changed
    }

    /// A success at `now`: one growth step, at most once per `spacing` and not within
    /// `spacing` of the last decrease. Returns whether the factor changed.
    pub(crate) fn succeeded(&mut self, now: Instant, spacing: Duration) -> bool {
        if self.ppm == FULL {
            return false;
        }
        let recent =
            |at: Option<Instant>| at.is_some_and(|at| now.saturating_duration_since(at) < spacing);
        if recent(self.last_increase) || recent(self.last_decrease) {
            return false;
        }
        self.last_increase = Some(now);
        let next = if self.ppm < self.ceiling {
            (self.ppm + self.ceiling / 20).min(self.ceiling)
        } else {
            self.ppm + (self.ppm / 50).max(1)
        }
        .min(FULL);
        self.ceiling = self.ceiling.max(next);
        let changed = next != self.ppm;
        self.ppm = next;
        changed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shrinks_once_per_burst_down_to_the_floor() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut aimd = Aimd::new();
        assert_eq!(aimd.limit(10_000), 10_000);
        assert!(aimd.throttled(t0, t0 + ms(50)));
        assert!(
            !aimd.throttled(t0 + ms(50), t0 + ms(60)),
            "admitted before the decrease: same burst"
        );
        assert_eq!(aimd.limit(10_000), 7_000);
        let mut t = t0 + ms(50);
        for _ in 0..20 {
            t += ms(100);
            aimd.throttled(t, t + ms(50));
        }
        assert_eq!(aimd.limit(10_000), 100, "floor 0.01");
        assert_eq!(aimd.limit(3), 1, "never zero");
    }

    #[test]
    fn climbs_back_to_the_ceiling_fast_then_probes_slowly_paced_by_time() {
        let t0 = Instant::now();
        let spacing = Duration::from_secs(3);
        let mut aimd = Aimd::new();
        aimd.throttled(t0, t0);
        assert!(!aimd.succeeded(t0, spacing), "not right after a decrease");
        let mut t = t0 + spacing;
        assert!(aimd.succeeded(t, spacing));
        assert_eq!(aimd.limit(100_000), 75_000, "+5% of the ceiling");
        assert!(
            !aimd.succeeded(t, spacing),
            "many successes at once count once"
        );
        for _ in 0..5 {
            t += spacing;
            aimd.succeeded(t, spacing);
        }
        assert_eq!(aimd.limit(100_000), 100_000, "back at the ceiling: full");
        assert!(
            !aimd.succeeded(t + spacing, spacing),
            "already at the share"
        );
    }

    #[test]
    fn above_a_low_ceiling_growth_is_two_percent_per_step() {
        let t0 = Instant::now();
        let spacing = Duration::from_secs(3);
        let mut aimd = Aimd::new();
        let mut t = t0;
        for _ in 0..10 {
            aimd.throttled(t, t);
            t += spacing;
        }
        // 0.7^10 ≈ 0.0282; the ceiling is the factor before the last throttle, ≈ 0.0404.
        assert_eq!(aimd.limit(1_000_000), 28_246);
        for _ in 0..7 {
            t += spacing;
            aimd.succeeded(t, spacing);
        }
        assert_eq!(aimd.limit(1_000_000), 40_352, "capped at the ceiling");
        t += spacing;
        aimd.succeeded(t, spacing);
        assert_eq!(aimd.limit(1_000_000), 41_159, "then +2%");
    }
}
