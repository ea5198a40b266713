//! The [`Router`]: one per worker, shared by all its dispatch tasks. It owns the state mutex,
//! the wake-ups of waiting calls and the count of them (the worker's backpressure signal).
//! `acquire` never spins: when nothing has room it sleeps until the earliest instant something
//! could, or until a settle, release or reconfiguration wakes it.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use bedrock_lb_core::{BucketId, BucketReport, QuotaTable, Strategy};
use tokio::sync::{Notify, watch};
use tokio::time::Instant;

use crate::bucket::Outcome;
use crate::permit::Permit;
use crate::settings::{RouterSettings, Unroutable};
use crate::state::{Admission, Decision, RouterState};

/// The quota-aware routing engine of one worker. Cheap to clone (shared state).
#[derive(Clone, Debug)]
pub struct Router {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    settings: RouterSettings,
    state: Mutex<RouterState>,
    /// Woken on every settle, release, reconfiguration and misconfiguration.
    notify: Notify,
    /// Calls waiting for room now.
    waiting: watch::Sender<usize>,
    /// Admission evaluations so far (tests prove `acquire` does not spin with it).
    evaluations: AtomicU64,
}

impl fmt::Debug for Inner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Router")
            .field("strategy", &self.settings.strategy)
            .field("waiting", &*self.waiting.borrow())
            .finish_non_exhaustive()
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, RouterState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Settles a permit's call and wakes the waiters (room may have come back).
    pub(crate) fn finish(
        &self,
        admission: &Admission,
        admitted: Instant,
        reservation: u64,
        outcome: Outcome,
    ) {
        let now = Instant::now();
        let disable = self
            .lock()
            .finish(admission, admitted, reservation, outcome, now);
        if let (true, Outcome::Failed { kind, .. }) = (disable, outcome) {
            self.mark_misconfigured(&admission.bucket, kind.label());
        }
        self.notify.notify_waiters();
    }

    fn mark_misconfigured(&self, bucket: &BucketId, reason: &str) {
        tracing::warn!(%bucket, reason, cooldown_s = self.settings.misconfigured_cooldown.as_secs(), "bucket taken out of rotation: misconfigured");
        self.lock()
            .mark_misconfigured(bucket, reason, Instant::now());
        self.notify.notify_waiters();
    }
}

/// Counts one waiting `acquire` for as long as it lives (also when its future is dropped).
struct Waiting<'a>(&'a watch::Sender<usize>);

impl<'a> Waiting<'a> {
    fn new(waiting: &'a watch::Sender<usize>) -> Self {
        waiting.send_modify(|n| *n += 1);
        Self(waiting)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n = n.saturating_sub(1));
    }
}

impl Router {
    /// A router with no quota table yet (every model is unroutable until `configure`).
    pub fn new(settings: RouterSettings) -> Self {
        Self {
            inner: Arc::new(Inner {
                state: Mutex::new(RouterState::new(settings.clone(), Instant::now())),
                settings,
                notify: Notify::new(),
                waiting: watch::Sender::new(0),
                evaluations: AtomicU64::new(0),
            }),
        }
    }

    /// The strategy it routes by (published with the worker's heartbeat).
    pub fn strategy(&self) -> Strategy {
        self.inner.settings.strategy
    }

    /// Installs the quota table and the number of live workers (max(1, n)): each bucket's share
    /// is its quota / n. Usage, breakers, backoff and latency survive; buckets that left the
    /// table are dropped (a permit on one still settles harmlessly). Wakes every waiter.
    pub fn configure(&self, table: &QuotaTable, live_workers: usize) {
        self.inner
            .lock()
            .configure(table, live_workers, Instant::now());
        self.inner.notify.notify_waiters();
    }

    /// The buckets that could serve `model` now or later: routed, enabled, not misconfigured
    /// (open breakers are included: they come back).
    pub fn usable(&self, model: &str) -> Vec<BucketId> {
        self.inner.lock().usable(model, Instant::now())
    }

    /// Waits until a bucket serving `model`, not in `exclude`, can admit a call reserving
    /// `reservation` tokens, chooses one by the strategy and admits it. Errors at once when no
    /// usable candidate is left. Cancel-safe: dropping the future leaves nothing admitted.
    pub async fn acquire(
        &self,
        model: &str,
        reservation: u64,
        exclude: &[BucketId],
    ) -> Result<Permit, Unroutable> {
        let started = Instant::now();
        let mut waiting: Option<Waiting<'_>> = None;
        loop {
            // Registered before the state is read, so a wake-up in between is not lost.
            let notified = self.inner.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            self.inner.evaluations.fetch_add(1, Ordering::Relaxed);
            let now = Instant::now();
            let decision = self
                .inner
                .lock()
                .try_admit(model, reservation, exclude, now)?;
            match decision {
                Decision::Admitted(admission) => {
                    metrics::histogram!("bedrock_lb_admission_wait_seconds")
                        .record(now.saturating_duration_since(started).as_secs_f64());
                    return Ok(Permit::new(
                        Arc::clone(&self.inner),
                        admission,
                        reservation,
                        now,
                    ));
                }
                Decision::Wait(at) => {
                    waiting.get_or_insert_with(|| Waiting::new(&self.inner.waiting));
                    match at {
                        Some(at) => {
                            tokio::select! {
                                () = &mut notified => {}
                                () = tokio::time::sleep_until(at) => {}
                            }
                        }
                        None => notified.await,
                    }
                }
            }
        }
    }

    /// Takes a bucket out of rotation for the misconfiguration cooldown (Bedrock said
    /// AccessDenied, ResourceNotFound, or on-demand not supported). Wakes waiters.
    pub fn mark_misconfigured(&self, bucket: &BucketId, reason: &str) {
        self.inner.mark_misconfigured(bucket, reason);
    }

    /// Calls to `acquire` waiting for room now (the worker's backpressure signal).
    pub fn waiting(&self) -> usize {
        *self.inner.waiting.borrow()
    }

    /// Resolves once fewer than `limit` calls wait (at once if that is already so; never for a
    /// `limit` of 0). The worker awaits this instead of receiving more messages.
    pub async fn wait_until_fewer_waiting_than(&self, limit: usize) {
        let mut rx = self.inner.waiting.subscribe();
        if rx.wait_for(|n| *n < limit).await.is_err() {
            // The sender lives in `inner`, which `self` holds: this cannot happen.
            std::future::pending::<()>().await;
        }
    }

    /// One report per bucket in the table, in table order.
    pub fn reports(&self) -> Vec<BucketReport> {
        self.inner.lock().reports(Instant::now())
    }

    /// Admission evaluations since start (for tests that prove waiting does not spin).
    #[cfg(test)]
    pub(crate) fn evaluations(&self) -> u64 {
        self.inner.evaluations.load(Ordering::Relaxed)
    }
}
