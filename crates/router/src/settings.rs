//! The router's settings and the one error `acquire` returns. Kept apart from the engine so the
//! worker's configuration code can build them without pulling anything else in.

use std::time::Duration;

use bedrock_lb_core::Strategy;

/// How a bucket's circuit breaker trips and recovers (see ARCHITECTURE.md, Circuit breaker).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerSettings {
    /// Consecutive breaker failures that open a closed breaker.
    pub failure_threshold: u32,
    /// How long an open breaker refuses calls before it lets probes through.
    pub recovery_timeout: Duration,
    /// Successes in half-open that close the breaker again.
    pub success_threshold: u32,
    /// Probes a half-open breaker lets run at once.
    pub half_open_max_probes: u32,
}

impl Default for BreakerSettings {
    fn default() -> Self {
        Self {
            failure_threshold: 3,
            recovery_timeout: Duration::from_secs(30),
            success_threshold: 2,
            half_open_max_probes: 1,
        }
    }
}

/// Everything that shapes one worker's routing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouterSettings {
    /// How a bucket is chosen among those with room.
    pub strategy: Strategy,
    /// The quota window (a minute in production; compressed in tests and benchmarks).
    pub window: Duration,
    /// Circuit breaker settings, the same for every bucket.
    pub breaker: BreakerSettings,
    /// How long a bucket Bedrock called misconfigured stays out of rotation.
    pub misconfigured_cooldown: Duration,
}

impl Default for RouterSettings {
    fn default() -> Self {
        Self {
            strategy: Strategy::QuotaAware,
            window: Duration::from_secs(60),
            breaker: BreakerSettings::default(),
            misconfigured_cooldown: Duration::from_secs(600),
        }
    }
}

/// Why a call cannot be routed at all (as opposed to "not yet": that one waits).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unroutable {
    /// The quota table has no route for the model.
    #[error("no route for model `{model}` in the quota table")]
    NoRoute { model: String },
    /// Every bucket of the model is disabled, misconfigured or excluded.
    #[error("no usable bucket for model `{model}`: {reason}")]
    NoneUsable { model: String, reason: String },
    /// The reservation exceeds the whole tpm quota of every candidate bucket.
    #[error(
        "a reservation of {reservation} tokens exceeds every bucket's quota (largest {largest})"
    )]
    TooLarge { reservation: u64, largest: u64 },
}
