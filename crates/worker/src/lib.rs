//! The worker: drains the job queue, claims each job with a lease, sends it to a Bedrock bucket
//! that can serve it, and stores the result.
//!
//! It sees only the ports of `bedrock-lb-core`, so the same loop runs in-process in the local mode
//! (SQLite queue and store, the simulator) and as `bedrock-lb-worker` processes on SQS and
//! DynamoDB. Modules: [`runner`] (the receive loop and backpressure), [`process`] (one message,
//! from receipt to delete), [`heartbeat`] (lease and visibility renewal), [`dispatch`] (one job
//! through the router's buckets: failover and retries), [`quota_sync`] (the quota table and the
//! live workers, read into the router), [`inflight`] (the jobs a shutdown must hand back) and
//! [`dead_letters`] (failing the jobs whose messages were dead-lettered). Which bucket has room
//! is the router's business (`bedrock-lb-router`).

pub mod dead_letters;
pub mod dispatch;
mod heartbeat;
mod inflight;
mod intake;
mod process;
pub mod quota_sync;
mod runner;

use std::sync::Arc;
use std::time::Duration;

use bedrock_lb_config::{Config, RoutingConfig};
use bedrock_lb_core::{Clock, JobQueue, JobStore, ModelCatalog, ModelInvoker, QuotaStore};
use bedrock_lb_router::{BreakerSettings, Router, RouterSettings};

pub use quota_sync::QuotaSettings;
pub use runner::run;

/// The ports and shared state a worker needs.
#[derive(Debug, Clone)]
pub struct WorkerContext {
    pub queue: Arc<dyn JobQueue>,
    pub store: Arc<dyn JobStore>,
    pub invoker: Arc<dyn ModelInvoker>,
    pub catalog: Arc<ModelCatalog>,
    pub clock: Arc<dyn Clock>,
    /// The dead-letter queue of `queue` (SQS: the target of its redrive policy; local mode: the
    /// embedded queue's dead letters). When set, the worker drains it slowly and fails the jobs
    /// whose messages ended there, so no job stays queued or running forever; it also receives
    /// a copy of every message the worker cannot understand. `None` disables both.
    pub dead_letters: Option<Arc<dyn JobQueue>>,
    /// Chooses a bucket with room for each call; shared by all of this worker's jobs.
    pub router: Router,
    /// The quota table and the workers' heartbeats; `None` runs the router on
    /// [`QuotaSettings::seed`] alone, as the only worker.
    pub quotas: Option<Arc<dyn QuotaStore>>,
}

/// How a worker behaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerSettings {
    /// This worker's name in job leases; unique among live workers.
    pub worker_id: String,
    /// Jobs run at once; the worker receives no more messages than it has free slots.
    pub concurrency: usize,
    /// Most messages per receive.
    pub receive_batch: u32,
    /// Long-poll wait per receive.
    pub wait_time: Duration,
    /// Message visibility and job lease length; both are renewed at a third of it.
    pub visibility_timeout: Duration,
    /// Retry behaviour of one job.
    pub retry: dispatch::RetryPolicy,
    /// How long shutdown waits for jobs in flight.
    pub shutdown_grace: Duration,
    /// Long-poll wait of one receive from the dead-letter queue. It is received one message at
    /// a time, so a long wait keeps the drain from adding load; tests shorten it.
    pub dead_letter_wait: Duration,
    /// The quota table's seed and refresh rhythm.
    pub quota: QuotaSettings,
}

impl WorkerSettings {
    /// Settings from the `[worker]` and `[routing]` configuration sections and the models'
    /// quotas.
    pub fn from_config(full: &Config, worker_id: impl Into<String>) -> Self {
        let config = &full.worker;
        Self {
            worker_id: worker_id.into(),
            concurrency: config.concurrency,
            receive_batch: config.receive_batch,
            wait_time: Duration::from_secs(config.wait_time_secs),
            visibility_timeout: config.visibility_timeout(),
            retry: dispatch::RetryPolicy {
                max_attempts: config.max_attempts,
                base_delay: Duration::from_millis(config.retry_base_ms),
                max_delay: Duration::from_millis(config.retry_max_ms),
            },
            shutdown_grace: Duration::from_secs(config.shutdown_grace_secs),
            dead_letter_wait: dead_letters::DEFAULT_WAIT,
            quota: QuotaSettings {
                seed: full.quota_seed(),
                refresh: full.routing.refresh(),
                worker_ttl: full.routing.worker_ttl(),
            },
        }
    }
}

/// The router's settings from the `[routing]` configuration section.
pub fn router_settings(config: &RoutingConfig) -> RouterSettings {
    RouterSettings {
        strategy: config.strategy,
        window: config.window(),
        breaker: BreakerSettings {
            failure_threshold: config.failure_threshold,
            recovery_timeout: config.recovery_timeout(),
            success_threshold: config.success_threshold,
            half_open_max_probes: config.half_open_max_probes,
        },
        misconfigured_cooldown: config.misconfigured_cooldown(),
    }
}

/// A worker id for this process: host name, process id and a random suffix.
pub fn default_worker_id() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "worker".into());
    let suffix: u16 = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default()
        % 65_536)
        .try_into()
        .unwrap_or_default();
    format!("{host}-{}-{suffix:04x}", std::process::id())
}

#[cfg(test)]
mod tests;
