//! A governor clock over `tokio::time::Instant`, so the rpm limiters and the token ledgers read
//! the same (pausable) time: governor's own clock ignores `tokio::time::pause`.

use std::ops::Add;
use std::time::Duration;

use governor::clock::{Clock, Reference};
use governor::nanos::Nanos;
use tokio::time::Instant;

/// A `tokio::time::Instant` as governor's [`Reference`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TokioInstant(pub Instant);

impl Add<Nanos> for TokioInstant {
    type Output = Self;

    fn add(self, other: Nanos) -> Self {
        Self(self.0 + Duration::from(other))
    }
}

impl Reference for TokioInstant {
    fn duration_since(&self, earlier: Self) -> Nanos {
        Nanos::from(self.0.saturating_duration_since(earlier.0))
    }

    fn saturating_sub(&self, duration: Nanos) -> Self {
        self.0
            .checked_sub(Duration::from(duration))
            .map_or(*self, Self)
    }
}

/// governor's [`Clock`] reading tokio's time.
#[derive(Debug, Clone, Copy, Default)]
pub struct TokioClock;

impl Clock for TokioClock {
    type Instant = TokioInstant;

    fn now(&self) -> TokioInstant {
        TokioInstant(Instant::now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn follows_paused_tokio_time() {
        let clock = TokioClock;
        let t0 = clock.now();
        tokio::time::advance(Duration::from_secs(5)).await;
        let t1 = clock.now();
        assert_eq!(
            Duration::from(t1.duration_since(t0)),
            Duration::from_secs(5)
        );
        assert_eq!(t0.duration_since(t1), Nanos::from(0u64));
        assert_eq!(t0 + Nanos::from(Duration::from_secs(5)), t1);
    }
}
