//! The local mode's stand-in for DynamoDB's TTL: a periodic sweep that deletes finished jobs
//! past their time to live, and expired idempotency records, from the embedded store.

use std::sync::Arc;
use std::time::Duration;

use bedrock_lb_core::Clock;
use bedrock_lb_embedded::EmbeddedJobStore;
use tokio_util::sync::CancellationToken;

/// How often the sweep runs. Records may outlive their TTL by this much, as DynamoDB's own TTL
/// deletes within days rather than at once.
pub const SWEEP_EVERY: Duration = Duration::from_secs(60 * 60);

/// Sweeps `store` now and then every `every` until `shutdown` is cancelled.
pub async fn run(
    store: EmbeddedJobStore,
    clock: Arc<dyn Clock>,
    every: Duration,
    shutdown: CancellationToken,
) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = ticks.tick() => {}
        }
        match store.purge_finished(clock.now()).await {
            Ok(0) => {}
            Ok(purged) => tracing::info!(purged, "deleted finished jobs past their TTL"),
            Err(error) => tracing::warn!(%error, "TTL sweep failed; it will run again"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bedrock_lb_core::{Job, JobError, JobId, JobStore, ManualClock};
    use bedrock_lb_embedded::EmbeddedDb;
    use chrono::Utc;

    #[tokio::test(start_paused = true)]
    async fn finished_jobs_go_once_their_ttl_has_passed() {
        let start = Utc::now();
        let clock = Arc::new(ManualClock::new(start));
        let db = EmbeddedDb::open_in_memory(clock.clone()).unwrap();
        let store = db.job_store().with_job_ttl(Duration::from_secs(3600));
        let id = JobId::generate();
        store
            .create(&Job::rejected(id.clone(), JobError::new("x", "y"), start))
            .await
            .unwrap();
        let shutdown = CancellationToken::new();
        let sweep = tokio::spawn(run(
            store.clone(),
            clock.clone(),
            Duration::from_secs(600),
            shutdown.clone(),
        ));
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(
            store.get(&id).await.unwrap().is_some(),
            "kept within its TTL"
        );
        clock.advance(chrono::Duration::seconds(3601));
        tokio::time::sleep(Duration::from_secs(600)).await;
        assert!(
            store.get(&id).await.unwrap().is_none(),
            "swept after its TTL"
        );
        shutdown.cancel();
        sweep.await.unwrap();
    }
}
