//! The router's state behind its one mutex: every bucket's state (in quota-table order), the
//! buckets routed to each model, the misconfigured buckets and the round-robin cursors; and the
//! admission decision itself, which is synchronous so the lock is never held across an await.

use std::collections::HashMap;
use std::sync::Arc;

use bedrock_lb_core::{BucketId, BucketQuota, BucketReport, QuotaTable};
use tokio::time::Instant;

use crate::breaker::Probe;
use crate::bucket::{BucketState, Outcome, Room};
use crate::settings::{RouterSettings, Unroutable};
use crate::strategy::{self, Candidate};

/// A call admitted to a bucket: what its permit needs to settle it.
#[derive(Debug)]
pub(crate) struct Admission {
    pub bucket: BucketId,
    pub instance: u64,
    pub probe: Option<Probe>,
}

/// What one look at the buckets came to.
#[derive(Debug)]
pub(crate) enum Decision {
    Admitted(Admission),
    /// Nothing has room; re-evaluate at this instant (`None`: when woken).
    Wait(Option<Instant>),
}

#[derive(Debug)]
pub(crate) struct RouterState {
    settings: RouterSettings,
    /// Windows are counted from here.
    start: Instant,
    /// The buckets of the quota table, in its order (the order of reports).
    order: Vec<BucketId>,
    /// Model → the buckets routed to it, sorted; derived from the table's routes once per
    /// `configure`, not at every admission.
    routes: HashMap<String, Arc<[BucketId]>>,
    buckets: HashMap<BucketId, BucketState>,
    /// Buckets out of rotation until the instant, and why.
    misconfigured: HashMap<BucketId, (Instant, String)>,
    /// Round-robin position per model.
    cursors: HashMap<String, usize>,
    next_instance: u64,
}

impl RouterState {
    pub(crate) fn new(settings: RouterSettings, now: Instant) -> Self {
        Self {
            settings,
            start: now,
            order: Vec::new(),
            routes: HashMap::new(),
            buckets: HashMap::new(),
            misconfigured: HashMap::new(),
            cursors: HashMap::new(),
            next_instance: 0,
        }
    }

    pub(crate) fn configure(&mut self, table: &QuotaTable, live_workers: usize, now: Instant) {
        let workers = u64::try_from(live_workers.max(1)).unwrap_or(u64::MAX);
        self.buckets.retain(|id, _| table.bucket(id).is_some());
        for quota in &table.buckets {
            let id = quota.bucket();
            match self.buckets.get_mut(&id) {
                Some(state) => state.reconfigure(quota, workers, now),
                None => {
                    self.next_instance += 1;
                    let state = BucketState::new(
                        self.next_instance,
                        quota,
                        workers,
                        &self.settings,
                        self.start,
                        now,
                    );
                    self.buckets.insert(id, state);
                }
            }
        }
        self.order = table.buckets.iter().map(BucketQuota::bucket).collect();
        self.routes.clear();
        for route in &table.routes {
            self.routes
                .entry(route.model.clone())
                .or_insert_with(|| table.buckets_of(&route.model).into());
        }
    }

    /// The buckets routed to `model`, sorted (empty when it has no route).
    fn routed(&self, model: &str) -> Arc<[BucketId]> {
        self.routes
            .get(model)
            .cloned()
            .unwrap_or_else(|| Arc::new([]))
    }

    pub(crate) fn mark_misconfigured(&mut self, bucket: &BucketId, reason: &str, now: Instant) {
        let until = now + self.settings.misconfigured_cooldown;
        self.misconfigured
            .insert(bucket.clone(), (until, reason.to_owned()));
    }

    fn misconfigured_reason(&mut self, bucket: &BucketId, now: Instant) -> Option<String> {
        match self.misconfigured.get(bucket) {
            Some((until, _)) if *until <= now => {
                self.misconfigured.remove(bucket);
                None
            }
            Some((_, reason)) => Some(reason.clone()),
            None => None,
        }
    }

    /// Why `bucket` is out of rotation, if it is (not counting breakers and exclusions).
    fn unusable_reason(&mut self, bucket: &BucketId, now: Instant) -> Option<String> {
        match self.buckets.get(bucket).map(BucketState::quota) {
            None => Some("no quota configured".to_owned()),
            Some(quota) if !quota.enabled => Some("disabled".to_owned()),
            Some(_) => self
                .misconfigured_reason(bucket, now)
                .map(|reason| format!("misconfigured: {reason}")),
        }
    }

    pub(crate) fn usable(&mut self, model: &str, now: Instant) -> Vec<BucketId> {
        let routed = self.routed(model);
        routed
            .iter()
            .filter(|b| self.unusable_reason(b, now).is_none())
            .cloned()
            .collect()
    }

    /// Admits the call to the best bucket with room, or says when to look again.
    pub(crate) fn try_admit(
        &mut self,
        model: &str,
        reservation: u64,
        exclude: &[BucketId],
        now: Instant,
    ) -> Result<Decision, Unroutable> {
        let routed = self.routed(model);
        if routed.is_empty() {
            return Err(Unroutable::NoRoute {
                model: model.to_owned(),
            });
        }
        let mut reasons = Vec::new();
        let mut usable = Vec::new();
        for (position, bucket) in routed.iter().enumerate() {
            let reason = if exclude.contains(bucket) {
                Some("excluded".to_owned())
            } else {
                self.unusable_reason(bucket, now)
            };
            match reason {
                Some(reason) => reasons.push(format!("{bucket}: {reason}")),
                None => usable.push(position),
            }
        }
        if usable.is_empty() {
            return Err(Unroutable::NoneUsable {
                model: model.to_owned(),
                reason: reasons.join("; "),
            });
        }
        let tpm = |b: &BucketId| self.buckets.get(b).map_or(0, |s| s.quota().tpm);
        let largest = usable.iter().map(|&p| tpm(&routed[p])).max().unwrap_or(0);
        if reservation > largest {
            return Err(Unroutable::TooLarge {
                reservation,
                largest,
            });
        }

        let strategy = self.settings.strategy;
        // Buckets back from misconfiguration may serve the call later: wake up for them.
        let mut wake = self
            .misconfigured
            .values()
            .map(|(until, _)| *until)
            .filter(|until| *until > now)
            .min();
        let mut candidates = Vec::new();
        for &position in &usable {
            let Some(state) = self.buckets.get_mut(&routed[position]) else {
                continue;
            };
            if reservation > state.quota().tpm {
                continue;
            }
            match state.room(now, reservation, strategy) {
                Room::Now { free, limit } => candidates.push(Candidate {
                    position,
                    free,
                    limit,
                    weight: state.quota().weight,
                    latency_ms: state.latency_ms(),
                }),
                Room::Later(at) => wake = earliest(wake, at),
            }
        }
        let cursor = self.cursors.get(model).copied().unwrap_or(0);
        strategy::order(strategy, &mut candidates, cursor, routed.len());
        for candidate in candidates {
            let bucket = &routed[candidate.position];
            let Some(state) = self.buckets.get_mut(bucket) else {
                continue;
            };
            match state.check_rpm() {
                Ok(()) => {
                    let probe = state.admit(now, reservation);
                    self.cursors
                        .insert(model.to_owned(), candidate.position + 1);
                    return Ok(Decision::Admitted(Admission {
                        bucket: bucket.clone(),
                        instance: state.instance,
                        probe,
                    }));
                }
                Err(at) => wake = earliest(wake, Some(at)),
            }
        }
        Ok(Decision::Wait(wake))
    }

    /// Settles a call; returns whether the bucket must be marked misconfigured. A permit on a
    /// bucket that left the table (or was replaced since) settles nothing.
    pub(crate) fn finish(
        &mut self,
        admission: &Admission,
        admitted: Instant,
        reservation: u64,
        outcome: Outcome,
        now: Instant,
    ) -> bool {
        match self.buckets.get_mut(&admission.bucket) {
            Some(state) if state.instance == admission.instance => {
                state.finish(now, admitted, reservation, admission.probe, outcome)
            }
            _ => false,
        }
    }

    pub(crate) fn reports(&mut self, now: Instant) -> Vec<BucketReport> {
        let ids = self.order.clone();
        ids.into_iter()
            .filter_map(|id| {
                let reason = self.unusable_reason(&id, now);
                self.buckets.get_mut(&id).map(|s| s.report(now, reason))
            })
            .collect()
    }
}

fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}
