//! Everything one worker tracks about one bucket: its share of the quota, the token ledgers
//! (tpm, and tpd when set), the rpm limiter, adaptive backoff, the breaker, the current-window
//! counters and the outcome totals. `room` says whether a call fits now (or when it may);
//! `admit` and `finish` are the two ends of a call's accounting.

use std::time::Duration;

use bedrock_lb_core::{BucketQuota, BucketReport, FailureAction, InvokeErrorKind, Strategy};
use tokio::time::Instant;

use crate::aimd::Aimd;
use crate::breaker::{Breaker, Probe};
use crate::ledger::Ledger;
use crate::rpm::Rpm;
use crate::settings::RouterSettings;

/// Days are this many windows (1440 one-minute windows).
const WINDOWS_PER_DAY: u32 = 1_440;
/// Weight of the newest latency sample in the moving average.
const LATENCY_ALPHA: f64 = 0.2;

/// How a call admitted to the bucket ended.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Outcome {
    Succeeded {
        input: u64,
        output: u64,
    },
    Failed {
        kind: InvokeErrorKind,
        input: Option<u64>,
    },
    /// The permit was dropped without an outcome (the job was cancelled).
    Cancelled,
}

/// Whether a call fits a bucket now.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Room {
    /// It fits; `free` tokens are left after it, of `limit` (see `strategy::Candidate`).
    Now { free: i128, limit: u64 },
    /// Not now; it may at this instant (`None`: only after some call ends).
    Later(Option<Instant>),
}

/// One bucket's state in this worker.
#[derive(Debug)]
pub(crate) struct BucketState {
    /// Tells a permit whether the bucket it was admitted to is still this one.
    pub(crate) instance: u64,
    label: String,
    quota: BucketQuota,
    share_tpm: u64,
    share_rpm: Option<u64>,
    window: Duration,
    /// The router's start: windows are counted from it.
    start: Instant,
    aimd: Aimd,
    ledger: Ledger,
    day: Option<Ledger>,
    rpm: Option<Rpm>,
    breaker: Breaker,
    window_index: u64,
    window_reserved: u64,
    window_settled: u64,
    reserved: u64,
    in_flight: u64,
    successes: u64,
    throttles: u64,
    errors: u64,
    latency_ms: Option<f64>,
}

fn share(quota: u64, workers: u64) -> u64 {
    (quota / workers.max(1)).max(1)
}

impl BucketState {
    pub(crate) fn new(
        instance: u64,
        quota: &BucketQuota,
        workers: u64,
        settings: &RouterSettings,
        start: Instant,
        now: Instant,
    ) -> Self {
        let window = settings.window;
        let label = quota.bucket().to_string();
        let mut state = Self {
            instance,
            breaker: Breaker::new(settings.breaker, label.clone()),
            label,
            quota: quota.clone(),
            share_tpm: 0,
            share_rpm: None,
            window,
            start,
            aimd: Aimd::new(),
            ledger: Ledger::new(1, window, now),
            day: None,
            rpm: None,
            window_index: 0,
            window_reserved: 0,
            window_settled: 0,
            reserved: 0,
            in_flight: 0,
            successes: 0,
            throttles: 0,
            errors: 0,
            latency_ms: None,
        };
        state.reconfigure(quota, workers, now);
        state
    }

    /// Applies new settings and this worker's share of them; usage and history stay.
    pub(crate) fn reconfigure(&mut self, quota: &BucketQuota, workers: u64, now: Instant) {
        self.quota = quota.clone();
        self.share_tpm = share(quota.tpm, workers);
        self.ledger
            .set_capacity(now, self.aimd.limit(self.share_tpm));
        let share_rpm = quota.rpm.map(|rpm| share(rpm, workers));
        if share_rpm != self.share_rpm || (share_rpm.is_some() && self.rpm.is_none()) {
            self.rpm = share_rpm.and_then(|s| Rpm::new(s, self.window));
        }
        self.share_rpm = share_rpm;
        match quota.tpd.map(|tpd| share(tpd, workers)) {
            None => self.day = None,
            Some(tpd) => match &mut self.day {
                Some(day) => day.set_capacity(now, tpd),
                None => self.day = Some(Ledger::new(tpd, self.window * WINDOWS_PER_DAY, now)),
            },
        }
    }

    pub(crate) fn quota(&self) -> &BucketQuota {
        &self.quota
    }

    pub(crate) fn latency_ms(&self) -> Option<u64> {
        self.latency_ms.map(|ms| ms.round() as u64)
    }

    fn roll(&mut self, now: Instant) {
        let since = now.saturating_duration_since(self.start).as_nanos();
        let index = u64::try_from(since / self.window.as_nanos().max(1)).unwrap_or(u64::MAX);
        if index != self.window_index {
            self.window_index = index;
            self.window_reserved = 0;
            self.window_settled = 0;
        }
    }

    /// Whether a call reserving `reservation` (at most the bucket's whole tpm) fits now.
    pub(crate) fn room(&mut self, now: Instant, reservation: u64, strategy: Strategy) -> Room {
        self.roll(now);
        if !self.breaker.allows(now) {
            return Room::Later(self.breaker.reopens_at());
        }
        let mut wait: Option<Option<Instant>> = None;
        if let Some(day) = &mut self.day
            && let Err(d) = day.admission(now, reservation, self.in_flight)
        {
            wait = Some(d.map(|d| now + d));
        }
        let limit = self.ledger.capacity();
        let free = if strategy == Strategy::MaxAvailable {
            let free = i128::from(limit) - i128::from(self.window_settled);
            if free <= 0 {
                let next = u64::try_from(
                    self.window
                        .as_nanos()
                        .saturating_mul(u128::from(self.window_index) + 1),
                )
                .unwrap_or(u64::MAX);
                let boundary = Some(self.start + Duration::from_nanos(next));
                wait = Some(wait.flatten().max(boundary));
            }
            free
        } else {
            if let Err(d) = self.ledger.admission(now, reservation, self.in_flight) {
                wait = Some(wait.flatten().max(d.map(|d| now + d)));
            }
            i128::from(limit) - i128::from(self.ledger.used(now)) - i128::from(reservation)
        };
        match wait {
            Some(at) => Room::Later(at),
            None => Room::Now { free, limit },
        }
    }

    /// Takes an rpm cell (do this last: cells cannot be given back).
    pub(crate) fn check_rpm(&self) -> Result<(), Instant> {
        self.rpm.as_ref().map_or(Ok(()), Rpm::check)
    }

    /// Counts a call admitted at `now` (after `room` said it fits and the rpm check passed).
    pub(crate) fn admit(&mut self, now: Instant, reservation: u64) -> Option<Probe> {
        self.roll(now);
        self.ledger.reserve(now, reservation);
        if let Some(day) = &mut self.day {
            day.reserve(now, reservation);
        }
        self.window_reserved += reservation;
        self.reserved += reservation;
        self.in_flight += 1;
        metrics::counter!("bedrock_lb_tokens_reserved_total", "bucket" => self.label.clone())
            .increment(reservation);
        self.breaker.admit(now)
    }

    /// Settles a call admitted at `admitted` with `reservation`. Returns whether the bucket
    /// must be taken out of rotation (Bedrock said it is misconfigured).
    pub(crate) fn finish(
        &mut self,
        now: Instant,
        admitted: Instant,
        reservation: u64,
        probe: Option<Probe>,
        outcome: Outcome,
    ) -> bool {
        self.roll(now);
        self.reserved = self.reserved.saturating_sub(reservation);
        self.in_flight = self.in_flight.saturating_sub(1);
        let (charge, label) = match outcome {
            Outcome::Succeeded { input, output } => {
                let cost =
                    input.saturating_add(output.saturating_mul(self.quota.output_burndown.into()));
                self.breaker.succeeded(now, probe);
                if self.aimd.succeeded(now, self.window / 20) {
                    self.ledger
                        .set_capacity(now, self.aimd.limit(self.share_tpm));
                }
                self.successes += 1;
                let ms = now.saturating_duration_since(admitted).as_secs_f64() * 1_000.0;
                self.latency_ms = Some(
                    self.latency_ms
                        .map_or(ms, |old| old + LATENCY_ALPHA * (ms - old)),
                );
                (cost, "succeeded")
            }
            Outcome::Failed { kind, input } => {
                let charge = self.failed(now, admitted, kind, probe, input, reservation);
                (charge, kind.label())
            }
            Outcome::Cancelled => {
                self.breaker.neutral(probe);
                (0, "cancelled")
            }
        };
        self.ledger.settle(now, reservation, charge);
        if let Some(day) = &mut self.day {
            day.settle(now, reservation, charge);
        }
        self.window_settled += charge;
        metrics::counter!("bedrock_lb_dispatches_total", "bucket" => self.label.clone(), "outcome" => label)
            .increment(1);
        metrics::counter!("bedrock_lb_tokens_settled_total", "bucket" => self.label.clone())
            .increment(charge);
        matches!(outcome, Outcome::Failed { kind, .. } if kind.action() == FailureAction::DisableBucket)
    }

    /// Applies the error table to the breaker and backoff; returns the tokens to charge.
    fn failed(
        &mut self,
        now: Instant,
        admitted: Instant,
        kind: InvokeErrorKind,
        probe: Option<Probe>,
        input: Option<u64>,
        reservation: u64,
    ) -> u64 {
        if kind == InvokeErrorKind::Throttling {
            self.throttles += 1;
        } else {
            self.errors += 1;
        }
        match kind.action() {
            FailureAction::BreakerFailure => {
                self.breaker.failed(now, probe);
                match kind {
                    // Bedrock counted the input of a call that started: charge it (the whole
                    // reservation when the caller did not say how much input there was).
                    InvokeErrorKind::ModelTimeout | InvokeErrorKind::Transport => {
                        input.unwrap_or(reservation).min(reservation)
                    }
                    _ => 0,
                }
            }
            FailureAction::TryElsewhere => {
                self.breaker.neutral(probe);
                if kind == InvokeErrorKind::Throttling && self.aimd.throttled(admitted, now) {
                    self.ledger
                        .set_capacity(now, self.aimd.limit(self.share_tpm));
                }
                0
            }
            FailureAction::DisableBucket | FailureAction::FailJob => {
                self.breaker.neutral(probe);
                0
            }
        }
    }

    /// What this worker knows about the bucket now.
    pub(crate) fn report(&mut self, now: Instant, disabled_reason: Option<String>) -> BucketReport {
        self.roll(now);
        BucketReport {
            region: self.quota.region.clone(),
            model_id: self.quota.model_id.clone(),
            share_tpm: self.share_tpm,
            limit_tpm: self.ledger.capacity(),
            share_rpm: self.share_rpm,
            used_tokens: self.ledger.used(now),
            reserved_tokens: self.reserved,
            window_reserved_tokens: self.window_reserved,
            window_settled_tokens: self.window_settled,
            in_flight: self.in_flight,
            breaker: self.breaker.state(now),
            disabled_reason,
            successes: self.successes,
            throttles: self.throttles,
            errors: self.errors,
            latency_ms: self.latency_ms(),
        }
    }
}
