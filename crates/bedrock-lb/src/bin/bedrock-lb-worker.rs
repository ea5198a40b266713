//! `bedrock-lb-worker`: a worker-only process, for scaling out on SQS and DynamoDB (or sharing a
//! local database with an API-only `bedrock-lb serve --no-worker`). Stops on Ctrl-C or SIGTERM,
//! letting jobs in flight finish within the grace period.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use bedrock_lb::cli::ConfigArgs;
use bedrock_lb::wiring;
use bedrock_lb_core::{Clock, SystemClock};
use bedrock_lb_worker::{WorkerContext, WorkerSettings};
use clap::Parser;

/// Drains the job queue and dispatches jobs to Bedrock.
#[derive(Debug, Parser)]
#[command(name = "bedrock-lb-worker", version, about)]
struct Args {
    #[command(flatten)]
    config: ConfigArgs,
    /// Jobs run at once (overrides worker.concurrency).
    #[arg(long)]
    concurrency: Option<usize>,
    /// This worker's id in job leases (default: host, pid and a random suffix).
    #[arg(long, env = "BEDROCK_LB_WORKER_ID")]
    worker_id: Option<String>,
    /// Serve Prometheus metrics at http://ADDR/metrics (e.g. 0.0.0.0:9090).
    #[arg(long, env = "BEDROCK_LB_METRICS_LISTEN", value_name = "ADDR")]
    metrics_listen: Option<String>,
}

#[tokio::main]
async fn main() -> ExitCode {
    bedrock_lb::init_tracing();
    match run(Args::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
    let mut config = args.config.load()?;
    if let Some(concurrency) = args.concurrency {
        config.worker.concurrency = concurrency;
        config.validate()?;
    }
    let shutdown = bedrock_lb::shutdown_on_signal();
    let metrics = match &args.metrics_listen {
        Some(addr) => {
            let handle = bedrock_lb::metrics::install()?;
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("binding --metrics-listen {addr}"))?;
            tracing::info!("metrics on http://{}/metrics", listener.local_addr()?);
            let stop = shutdown.child_token();
            Some(tokio::spawn(bedrock_lb::metrics::serve(
                listener, handle, stop,
            )))
        }
        None => None,
    };
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let storage = wiring::storage(&config, Arc::clone(&clock)).await?;
    let bedrock = wiring::bedrock(&config).await?;
    let worker_id = args
        .worker_id
        .unwrap_or_else(bedrock_lb_worker::default_worker_id);
    tracing::info!(
        "bedrock-lb-worker {worker_id}: {}; {}",
        storage.description,
        bedrock.description
    );
    let ctx = WorkerContext {
        queue: storage.queue,
        store: storage.store,
        invoker: bedrock.invoker,
        catalog: Arc::new(config.catalog()?),
        clock,
        dead_letters: storage.dead_letters,
        router: wiring::router(&config),
        quotas: Some(storage.quotas),
    };
    let settings = WorkerSettings::from_config(&config, worker_id);
    bedrock_lb_worker::run(ctx, settings, shutdown.clone()).await;
    shutdown.cancel();
    if let Some(metrics) = metrics {
        metrics.await.context("the metrics server panicked")??;
    }
    if let Some(simulator) = bedrock.simulator {
        simulator.shutdown().await;
    }
    Ok(())
}
