//! Keeps this worker's router in step with the quota table: seeds the table from configuration
//! when it is empty, then every `refresh` renews this worker's heartbeat (with its view of every
//! bucket, for `GET /regions`), re-reads the table and counts the live workers, so that each
//! bucket runs at quota ÷ live workers. An edit made with the CLI or the admin API, or a worker
//! joining or dying, reaches the router within one refresh. On shutdown the heartbeat is
//! removed, so the others take the share back at once. If the store cannot be reached the
//! router keeps the last table it had.

use std::sync::Arc;
use std::time::Duration;

use bedrock_lb_core::{QuotaStore, QuotaTable, StoreError, WorkerBeat};
use chrono::TimeDelta;
use tokio_util::sync::CancellationToken;

use crate::WorkerContext;

/// Where the quota table comes from and how often it is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotaSettings {
    /// What an empty quota store is seeded with, and what the router runs on when there is no
    /// store at all.
    pub seed: QuotaTable,
    /// How often the heartbeat is renewed and the table re-read.
    pub refresh: Duration,
    /// How long a heartbeat keeps a worker counted as live.
    pub worker_ttl: Duration,
}

/// Configures the router once (seeding the store if it is empty), then keeps it configured
/// until `stop` is cancelled, and leaves the store then.
pub(crate) async fn start(
    ctx: &WorkerContext,
    worker_id: &str,
    settings: &QuotaSettings,
    stop: CancellationToken,
) -> Option<tokio::task::JoinHandle<()>> {
    let Some(store) = ctx.quotas.clone() else {
        ctx.router.configure(&settings.seed, 1);
        return None;
    };
    match store.seed(&settings.seed).await {
        Ok(true) => tracing::info!(
            buckets = settings.seed.buckets.len(),
            routes = settings.seed.routes.len(),
            "quota table was empty; seeded it from the configuration"
        ),
        Ok(false) => {}
        Err(error) => tracing::warn!(%error, "could not seed the quota table"),
    }
    if let Err(error) = sync_once(ctx, store.as_ref(), worker_id, settings).await {
        tracing::warn!(%error, "quota table unreachable at start; running on the configured quotas alone");
        ctx.router.configure(&settings.seed, 1);
    }
    let (ctx, worker_id, settings) = (ctx.clone(), worker_id.to_owned(), settings.clone());
    Some(tokio::spawn(async move {
        keep_in_step(&ctx, store, &worker_id, &settings, stop).await;
    }))
}

async fn keep_in_step(
    ctx: &WorkerContext,
    store: Arc<dyn QuotaStore>,
    worker_id: &str,
    settings: &QuotaSettings,
    stop: CancellationToken,
) {
    let mut every = tokio::time::interval(settings.refresh);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    every.tick().await;
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            _ = every.tick() => {}
        }
        if let Err(error) = sync_once(ctx, store.as_ref(), worker_id, settings).await {
            tracing::warn!(%error, "quota table refresh failed; keeping the last one");
        }
    }
    if let Err(error) = store.leave(worker_id).await {
        tracing::warn!(%error, "could not remove this worker's heartbeat");
    }
}

/// Renews the heartbeat, then reads the table and the live workers into the router.
async fn sync_once(
    ctx: &WorkerContext,
    store: &dyn QuotaStore,
    worker_id: &str,
    settings: &QuotaSettings,
) -> Result<(), StoreError> {
    let now = ctx.clock.now();
    let beat = WorkerBeat {
        worker_id: worker_id.to_owned(),
        seen_at: now,
        expires_at: now + TimeDelta::from_std(settings.worker_ttl).unwrap_or(TimeDelta::MAX),
        strategy: ctx.router.strategy(),
        buckets: ctx.router.reports(),
    };
    store.beat(&beat).await?;
    let table = store.table().await?;
    let live = store.live_workers(now).await?.len().max(1);
    if table.buckets.is_empty() {
        tracing::warn!("the quota table has no buckets; running on the configured quotas");
        ctx.router.configure(&settings.seed, live);
    } else {
        ctx.router.configure(&table, live);
    }
    Ok(())
}
