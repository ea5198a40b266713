//! A bucket's quotas as Bedrock counts them: tokens per minute, and optionally requests per
//! minute and tokens per day, each a [`Ledger`].
//!
//! Admission reserves `input + max_tokens` tokens (and one request) on every limit at once, or
//! on none: a call that does not fit any one of them is throttled with Bedrock's message for
//! that limit. Settlement replaces the reservation by `input + output × burndown`.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::error::{BedrockError, BedrockErrorKind};
use crate::ledger::{Ledger, WindowMode};

/// Bedrock's message when a token reservation does not fit.
pub const TOO_MANY_TOKENS: &str = "Too many tokens, please wait before trying again.";
/// Bedrock's message when the request rate is over the limit.
pub const TOO_MANY_REQUESTS: &str = "Too many requests, please wait before trying again.";
/// Bedrock's message when the daily token quota is spent.
pub const TOO_MANY_TOKENS_PER_DAY: &str =
    "Too many tokens per day, please wait before trying again.";

/// How many windows make a day: 1,440 minutes, compressed like the minute.
pub const WINDOWS_PER_DAY: u32 = 1_440;

/// The quota window: how it refills and how long a "minute" is.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WindowConfig {
    /// `sliding` (continuously refilling, the default) or `fixed` (whole windows).
    pub mode: WindowMode,
    /// The length of a quota "minute" in seconds (default 60); smaller values compress time so
    /// a benchmark runs ten minutes of quota in ten seconds. A day is 1,440 of these.
    pub secs: f64,
}

impl Default for WindowConfig {
    fn default() -> Self {
        Self {
            mode: WindowMode::Sliding,
            secs: 60.0,
        }
    }
}

impl WindowConfig {
    /// The window length; at least one millisecond.
    pub fn period(&self) -> Duration {
        Duration::try_from_secs_f64(self.secs)
            .unwrap_or(Duration::from_secs(60))
            .max(Duration::from_millis(1))
    }
}

/// The limits of one bucket; `None` is unlimited.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QuotaConfig {
    /// Tokens per minute (per window).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tpm: Option<u64>,
    /// Requests per minute (per window).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rpm: Option<u64>,
    /// Tokens per day (1,440 windows).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tpd: Option<u64>,
}

/// The live ledgers of one bucket.
#[derive(Debug, Clone)]
pub struct BucketQuota {
    window: WindowConfig,
    start: Instant,
    tpm: Option<Ledger>,
    rpm: Option<Ledger>,
    tpd: Option<Ledger>,
}

impl BucketQuota {
    /// Fresh ledgers for `quota`, starting at `start`.
    pub fn new(quota: QuotaConfig, window: WindowConfig, start: Instant) -> Self {
        let mut this = Self {
            window,
            start,
            tpm: None,
            rpm: None,
            tpd: None,
        };
        this.set(quota);
        this
    }

    fn day(&self) -> Duration {
        self.window.period().saturating_mul(WINDOWS_PER_DAY)
    }

    /// The limits now in force.
    pub fn config(&self) -> QuotaConfig {
        QuotaConfig {
            tpm: self.tpm.as_ref().map(Ledger::capacity),
            rpm: self.rpm.as_ref().map(Ledger::capacity),
            tpd: self.tpd.as_ref().map(Ledger::capacity),
        }
    }

    /// Changes the limits; a limit that stays keeps its usage, a new one starts empty.
    pub fn set(&mut self, quota: QuotaConfig) {
        let (mode, minute, day, start) = (
            self.window.mode,
            self.window.period(),
            self.day(),
            self.start,
        );
        let update = |ledger: &mut Option<Ledger>, limit: Option<u64>, period: Duration| {
            *ledger = match (ledger.take(), limit) {
                (_, None) => None,
                (Some(mut l), Some(cap)) => {
                    l.set_capacity(cap);
                    Some(l)
                }
                (None, Some(cap)) => Some(Ledger::new(mode, cap, period, start)),
            };
        };
        update(&mut self.tpm, quota.tpm, minute);
        update(&mut self.rpm, quota.rpm, minute);
        update(&mut self.tpd, quota.tpd, day);
    }

    /// Reserves `tokens` and one request on every limit, or throttles with the message of the
    /// first limit that has no room.
    pub fn admit(&mut self, now: Instant, tokens: u64) -> Result<(), BedrockError> {
        let checks = [
            (&mut self.rpm, 1, TOO_MANY_REQUESTS),
            (&mut self.tpm, tokens, TOO_MANY_TOKENS),
            (&mut self.tpd, tokens, TOO_MANY_TOKENS_PER_DAY),
        ];
        for (ledger, n, message) in checks {
            if let Some(ledger) = ledger
                && !ledger.fits(now, n)
            {
                return Err(BedrockError::new(BedrockErrorKind::Throttling, message));
            }
        }
        for (ledger, n) in [
            (&mut self.rpm, 1),
            (&mut self.tpm, tokens),
            (&mut self.tpd, tokens),
        ] {
            if let Some(ledger) = ledger {
                ledger.reserve(now, n);
            }
        }
        Ok(())
    }

    /// Replaces a reservation of `reserved` tokens by the real cost `actual`. The request stays
    /// counted against the request rate.
    pub fn settle(&mut self, now: Instant, reserved: u64, actual: u64) {
        for ledger in [&mut self.tpm, &mut self.tpd].into_iter().flatten() {
            ledger.settle(now, reserved, actual);
        }
        if let Some(rpm) = &mut self.rpm {
            rpm.settle(now, 1, 1);
        }
    }

    /// Tokens counted against the per-minute limit now, if there is one.
    pub fn tokens_in_use(&mut self, now: Instant) -> Option<u64> {
        self.tpm.as_mut().map(|l| l.used(now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quota(tpm: Option<u64>, rpm: Option<u64>, tpd: Option<u64>) -> QuotaConfig {
        QuotaConfig { tpm, rpm, tpd }
    }

    #[test]
    fn each_limit_throttles_with_its_own_message() {
        let t0 = Instant::now();
        let window = WindowConfig::default();
        let mut rpm = BucketQuota::new(quota(None, Some(1), None), window, t0);
        assert!(rpm.admit(t0, 10).is_ok());
        let err = rpm.admit(t0, 10).unwrap_err();
        assert_eq!(
            (err.kind, err.message.as_str()),
            (BedrockErrorKind::Throttling, TOO_MANY_REQUESTS)
        );

        let mut tpm = BucketQuota::new(quota(Some(100), None, None), window, t0);
        assert_eq!(tpm.admit(t0, 101).unwrap_err().message, TOO_MANY_TOKENS);

        let mut tpd = BucketQuota::new(quota(Some(1_000), None, Some(150)), window, t0);
        assert!(tpd.admit(t0, 100).is_ok());
        assert_eq!(
            tpd.admit(t0, 100).unwrap_err().message,
            TOO_MANY_TOKENS_PER_DAY
        );
    }

    #[test]
    fn a_throttled_call_reserves_nothing() {
        let t0 = Instant::now();
        let mut q = BucketQuota::new(
            quota(Some(1_000), Some(10), Some(1_500)),
            WindowConfig::default(),
            t0,
        );
        assert!(q.admit(t0, 1_200).is_err());
        assert_eq!(q.tokens_in_use(t0), Some(0));
        assert!(q.admit(t0, 1_000).is_ok());
    }

    #[test]
    fn the_day_is_1440_windows() {
        let t0 = Instant::now();
        let window = WindowConfig {
            mode: WindowMode::Fixed,
            secs: 1.0,
        };
        let mut q = BucketQuota::new(quota(None, None, Some(100)), window, t0);
        q.admit(t0, 100).unwrap();
        q.settle(t0, 100, 100);
        assert!(q.admit(t0 + Duration::from_secs(1_439), 1).is_err());
        assert!(q.admit(t0 + Duration::from_secs(1_440), 100).is_ok());
    }

    #[test]
    fn unlimited_buckets_admit_everything_and_quotas_change_live() {
        let t0 = Instant::now();
        let mut q = BucketQuota::new(QuotaConfig::default(), WindowConfig::default(), t0);
        assert!(q.admit(t0, u64::MAX / 2).is_ok());
        q.set(quota(Some(10), None, None));
        assert_eq!(q.config(), quota(Some(10), None, None));
        assert!(q.admit(t0, 11).is_err());
    }
}
