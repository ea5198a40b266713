//! `bedrock-lb serve`: the API on a listener and, unless asked not to, a worker in the same
//! process, on either backend. Everything stops when the shutdown token is cancelled: the API
//! stops accepting, the worker stops receiving and finishes its jobs in flight.

use std::sync::Arc;

use anyhow::Context;
use bedrock_lb_api::ApiState;
use bedrock_lb_config::Config;
use bedrock_lb_core::{Clock, SystemClock};
use bedrock_lb_worker::{WorkerContext, WorkerSettings};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::wiring;

/// What `serve` runs besides the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServeOptions {
    /// Run a worker in this process.
    pub run_worker: bool,
    /// The worker's id in job leases.
    pub worker_id: String,
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            run_worker: true,
            worker_id: bedrock_lb_worker::default_worker_id(),
        }
    }
}

/// Serves the API on `listener` (and runs a worker) until `shutdown` is cancelled.
pub async fn run(
    config: Config,
    listener: TcpListener,
    options: ServeOptions,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let catalog = Arc::new(config.catalog()?);
    let storage = wiring::storage(&config, Arc::clone(&clock)).await?;
    let router = bedrock_lb_api::router(
        ApiState::new(
            Arc::clone(&storage.store),
            Arc::clone(&storage.queue),
            Arc::clone(&catalog),
            Arc::clone(&clock),
            &config.api,
        )?
        .with_quotas(Arc::clone(&storage.quotas)),
    )
    .merge(crate::metrics::router(crate::metrics::install()?));

    let sweep = storage.embedded_store.clone().map(|store| {
        tokio::spawn(crate::sweep::run(
            store,
            Arc::clone(&clock),
            crate::sweep::SWEEP_EVERY,
            shutdown.child_token(),
        ))
    });

    let mut bedrock = None;
    let worker = if options.run_worker {
        let wired = wiring::bedrock(&config).await?;
        let ctx = WorkerContext {
            queue: Arc::clone(&storage.queue),
            store: Arc::clone(&storage.store),
            invoker: Arc::clone(&wired.invoker),
            catalog: Arc::clone(&catalog),
            clock: Arc::clone(&clock),
            dead_letters: storage.dead_letters.clone(),
            router: wiring::router(&config),
            quotas: Some(Arc::clone(&storage.quotas)),
        };
        bedrock = Some(wired);
        let settings = WorkerSettings::from_config(&config, options.worker_id.clone());
        Some(tokio::spawn(bedrock_lb_worker::run(
            ctx,
            settings,
            shutdown.child_token(),
        )))
    } else {
        None
    };

    let addr = listener
        .local_addr()
        .context("reading the listen address")?;
    let models: Vec<String> = catalog
        .models()
        .map(|m| {
            if m.name == catalog.default_model() {
                format!("{} (default)", m.name)
            } else {
                m.name.clone()
            }
        })
        .collect();
    tracing::info!(
        "bedrock-lb listening on http://{addr}; {}; worker: {}; regions: {}; models: {}",
        storage.description,
        bedrock
            .as_ref()
            .map_or_else(|| "none (API only)".to_owned(), |b| b.description.clone()),
        catalog.regions().join(", "),
        models.join(", "),
    );

    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown.clone().cancelled_owned())
        .await
        .context("serving the API")?;
    if let Some(worker) = worker {
        worker.await.context("the worker task panicked")?;
    }
    if let Some(sweep) = sweep {
        sweep.await.context("the TTL sweep panicked")?;
    }
    if let Some(simulator) = bedrock.and_then(|b| b.simulator) {
        simulator.shutdown().await;
    }
    tracing::info!("bedrock-lb stopped");
    Ok(())
}
