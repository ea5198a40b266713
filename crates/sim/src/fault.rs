//! Injected faults: the ways Bedrock fails besides throttling, per region and per bucket.
//!
//! A [`Fault`] set on a region applies to every bucket of that region; one set on a bucket
//! applies to that bucket only; both apply when both are set. Faults come from the scenario's
//! `[faults]` table at start and change at runtime through the control API. Random faults draw
//! from the simulator's seeded generator, so a run with the same calls in the same order fails
//! the same way.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{BedrockError, BedrockErrorKind};

/// How many calls a ModelNotReady burst lasts when a scenario does not say.
pub const DEFAULT_NOT_READY_BURST: u32 = 3;

/// One set of faults. Every field defaults to "no fault".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Fault {
    /// Every call answers 503 ServiceUnavailableException: the region (or bucket) is down.
    pub down: bool,
    /// Every call answers 403 AccessDeniedException: the model is not enabled here.
    pub not_enabled: bool,
    /// Share of calls (0..=1) answered with 500 InternalServerException.
    pub internal_error_rate: f64,
    /// Share of calls (0..=1) answered with 503 ServiceUnavailableException.
    pub unavailable_rate: f64,
    /// The next this-many calls answer 429 ModelNotReadyException (counts down as they come).
    pub not_ready_calls: u32,
    /// Share of calls (0..=1) that start a ModelNotReady burst of `not_ready_burst` calls.
    pub not_ready_rate: f64,
    /// Calls in one random ModelNotReady burst.
    pub not_ready_burst: u32,
    /// Extra latency added to every successful call, in milliseconds: a slow region.
    pub extra_latency_ms: u64,
    /// A call whose simulated latency exceeds this waits this long, then answers 408
    /// ModelTimeoutException.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
}

impl Default for Fault {
    fn default() -> Self {
        Self {
            down: false,
            not_enabled: false,
            internal_error_rate: 0.0,
            unavailable_rate: 0.0,
            not_ready_calls: 0,
            not_ready_rate: 0.0,
            not_ready_burst: DEFAULT_NOT_READY_BURST,
            extra_latency_ms: 0,
            timeout_ms: None,
        }
    }
}

impl Fault {
    /// Checks the rates; the control API and the scenario loader both call it.
    pub fn validate(&self) -> Result<(), String> {
        for (name, rate) in [
            ("internal_error_rate", self.internal_error_rate),
            ("unavailable_rate", self.unavailable_rate),
            ("not_ready_rate", self.not_ready_rate),
        ] {
            if !(0.0..=1.0).contains(&rate) {
                return Err(format!("{name} must be between 0 and 1, got {rate}"));
            }
        }
        Ok(())
    }

    /// Decides whether this call fails before it reaches the quota, drawing from `rng`.
    /// Counts a ModelNotReady burst down.
    pub fn reject(&mut self, rng: &mut fastrand::Rng) -> Option<BedrockError> {
        if self.not_enabled {
            return Some(BedrockError::access_denied());
        }
        if self.down {
            return Some(unavailable());
        }
        if self.not_ready_calls == 0 && self.not_ready_rate > 0.0 && rng.f64() < self.not_ready_rate
        {
            self.not_ready_calls = self.not_ready_burst.max(1);
        }
        if self.not_ready_calls > 0 {
            self.not_ready_calls -= 1;
            return Some(BedrockError::new(
                BedrockErrorKind::ModelNotReady,
                "Model is not ready to serve inference requests. The model is currently being loaded; try again later.",
            ));
        }
        if self.internal_error_rate > 0.0 && rng.f64() < self.internal_error_rate {
            return Some(BedrockError::new(
                BedrockErrorKind::InternalServer,
                "The server encountered an internal error while processing the request.",
            ));
        }
        if self.unavailable_rate > 0.0 && rng.f64() < self.unavailable_rate {
            return Some(unavailable());
        }
        None
    }
}

fn unavailable() -> BedrockError {
    BedrockError::new(
        BedrockErrorKind::ServiceUnavailable,
        "Bedrock is unable to process your request.",
    )
}

/// Every fault in force: per region, and per bucket (region, then model key).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Faults {
    /// Faults of whole regions.
    pub regions: BTreeMap<String, Fault>,
    /// Faults of single buckets: region → model key → fault.
    pub buckets: BTreeMap<String, BTreeMap<String, Fault>>,
}

/// What the faults decide for one call that passed them: how much slower it is, and when it
/// times out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Slowness {
    pub extra_latency_ms: u64,
    pub timeout_ms: Option<u64>,
}

impl Faults {
    /// Checks every fault.
    pub fn validate(&self) -> Result<(), String> {
        let bucket_faults = self.buckets.iter().flat_map(|(region, models)| {
            models
                .iter()
                .map(move |(model, f)| (format!("{region}/{model}"), f))
        });
        let region_faults = self.regions.iter().map(|(r, f)| (r.clone(), f));
        for (name, fault) in region_faults.chain(bucket_faults) {
            fault
                .validate()
                .map_err(|e| format!("fault of {name}: {e}"))?;
        }
        Ok(())
    }

    /// Applies the region's fault, then the bucket's, to a call of `model_key` in `region`.
    pub fn check(
        &mut self,
        region: &str,
        model_key: &str,
        rng: &mut fastrand::Rng,
    ) -> Result<Slowness, BedrockError> {
        let mut slowness = Slowness::default();
        let region_fault = self.regions.get_mut(region);
        let faults = [
            region_fault,
            self.buckets
                .get_mut(region)
                .and_then(|m| m.get_mut(model_key)),
        ];
        for fault in faults.into_iter().flatten() {
            if let Some(err) = fault.reject(rng) {
                return Err(err);
            }
            slowness.extra_latency_ms = slowness
                .extra_latency_ms
                .saturating_add(fault.extra_latency_ms);
            slowness.timeout_ms = match (slowness.timeout_ms, fault.timeout_ms) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
        Ok(slowness)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rng() -> fastrand::Rng {
        fastrand::Rng::with_seed(7)
    }

    #[test]
    fn a_region_fault_covers_its_buckets_and_a_bucket_fault_only_itself() {
        let mut faults = Faults::default();
        faults.regions.insert(
            "r1".into(),
            Fault {
                down: true,
                ..Fault::default()
            },
        );
        faults.buckets.entry("r2".into()).or_default().insert(
            "m".into(),
            Fault {
                not_enabled: true,
                ..Fault::default()
            },
        );
        let err = faults.check("r1", "any", &mut rng()).unwrap_err();
        assert_eq!(err.kind, BedrockErrorKind::ServiceUnavailable);
        let err = faults.check("r2", "m", &mut rng()).unwrap_err();
        assert_eq!(err.kind, BedrockErrorKind::AccessDenied);
        assert!(faults.check("r2", "other", &mut rng()).is_ok());
    }

    #[test]
    fn a_not_ready_burst_counts_down() {
        let mut faults = Faults::default();
        faults.regions.insert(
            "r".into(),
            Fault {
                not_ready_calls: 2,
                ..Fault::default()
            },
        );
        let mut rng = rng();
        for _ in 0..2 {
            let err = faults.check("r", "m", &mut rng).unwrap_err();
            assert_eq!(err.kind, BedrockErrorKind::ModelNotReady);
        }
        assert!(faults.check("r", "m", &mut rng).is_ok());
        assert_eq!(faults.regions["r"].not_ready_calls, 0);
    }

    #[test]
    fn error_rates_are_seeded_and_roughly_right() {
        let fault = Fault {
            internal_error_rate: 0.25,
            ..Fault::default()
        };
        let run = |seed| {
            let mut faults = Faults::default();
            faults.regions.insert("r".into(), fault.clone());
            let mut rng = fastrand::Rng::with_seed(seed);
            (0..1_000)
                .map(|_| faults.check("r", "m", &mut rng).is_err())
                .collect::<Vec<_>>()
        };
        assert_eq!(run(1), run(1), "the same seed fails the same calls");
        let failures = run(1).iter().filter(|f| **f).count();
        assert!((200..300).contains(&failures), "{failures}");
    }

    #[test]
    fn slowness_adds_up_and_the_tighter_timeout_wins() {
        let mut faults = Faults::default();
        faults.regions.insert(
            "r".into(),
            Fault {
                extra_latency_ms: 100,
                timeout_ms: Some(500),
                ..Fault::default()
            },
        );
        faults.buckets.entry("r".into()).or_default().insert(
            "m".into(),
            Fault {
                extra_latency_ms: 50,
                timeout_ms: Some(300),
                ..Fault::default()
            },
        );
        let slow = faults.check("r", "m", &mut rng()).unwrap();
        assert_eq!(
            slow,
            Slowness {
                extra_latency_ms: 150,
                timeout_ms: Some(300)
            }
        );
    }

    #[test]
    fn rates_outside_zero_to_one_are_refused() {
        let fault = Fault {
            unavailable_rate: 1.5,
            ..Fault::default()
        };
        assert!(fault.validate().unwrap_err().contains("unavailable_rate"));
    }
}
