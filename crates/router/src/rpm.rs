//! The requests-per-window limit of one bucket, with governor on tokio time. Its burst is a
//! twentieth of the share: a GCRA limiter whose burst is the whole quota would pass about twice
//! the quota in a fresh limiter's first window (see AWS-RUST-NOTES.md, governor).

use std::fmt;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::middleware::NoOpMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use tokio::time::Instant;

use crate::clock::{TokioClock, TokioInstant};

type Limiter = RateLimiter<NotKeyed, InMemoryState, TokioClock, NoOpMiddleware<TokioInstant>>;

/// One bucket's rpm limiter for this worker's share.
pub(crate) struct Rpm {
    share: u64,
    limiter: Limiter,
}

impl fmt::Debug for Rpm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rpm").field("share", &self.share).finish()
    }
}

impl Rpm {
    /// A full limiter passing `share` requests per `window` (`None` for a zero share or window).
    pub(crate) fn new(share: u64, window: Duration) -> Option<Self> {
        let period = u64::try_from(window.as_nanos() / u128::from(share.max(1))).ok()?;
        let burst = u32::try_from((share / 20).max(1)).unwrap_or(u32::MAX);
        let quota = Quota::with_period(Duration::from_nanos(period))?
            .allow_burst(NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN));
        (share > 0).then(|| Self {
            share,
            limiter: RateLimiter::direct_with_clock(quota, TokioClock),
        })
    }

    /// Takes a cell, or says when one will be free (cells cannot be given back: check last).
    pub(crate) fn check(&self) -> Result<(), Instant> {
        self.limiter
            .check()
            .map_err(|not_until| not_until.earliest_possible().0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_fresh_limiter_passes_about_the_share_in_its_first_window() {
        let window = Duration::from_secs(60);
        let rpm = Rpm::new(100, window).unwrap();
        let start = Instant::now();
        let mut passed = 0u64;
        while start.elapsed() < window {
            match rpm.check() {
                Ok(()) => passed += 1,
                Err(at) => tokio::time::sleep_until(at).await,
            }
        }
        assert!((100..=105).contains(&passed), "passed {passed}");
    }

    #[tokio::test(start_paused = true)]
    async fn says_when_the_next_cell_is_free() {
        let rpm = Rpm::new(60, Duration::from_secs(60)).unwrap();
        let now = Instant::now();
        assert!(rpm.check().is_ok(), "burst of max(1, 60/20) = 3");
        assert!(rpm.check().is_ok());
        assert!(rpm.check().is_ok());
        let at = rpm.check().unwrap_err();
        assert_eq!(at, now + Duration::from_secs(1));
    }
}
