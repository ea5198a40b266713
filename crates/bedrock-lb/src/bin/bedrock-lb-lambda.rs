//! `bedrock-lb-lambda`: the API inside AWS Lambda. The same axum Router as `bedrock-lb serve`,
//! on SQS and DynamoDB, configured by environment (`BEDROCK_LB_QUEUE_URL`,
//! `BEDROCK_LB_JOBS_TABLE`, optionally `BEDROCK_LB_CONFIG` for the models file). Outside Lambda
//! (no `AWS_LAMBDA_RUNTIME_API`) it serves the Router on `BEDROCK_LB_LISTEN` instead, which is
//! how it is tested locally.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use bedrock_lb::wiring;
use bedrock_lb_api::ApiState;
use bedrock_lb_config::{Backend, Config};
use bedrock_lb_core::{Clock, SystemClock};

#[tokio::main]
async fn main() -> ExitCode {
    bedrock_lb::init_tracing();
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> anyhow::Result<()> {
    let config_path = std::env::var_os("BEDROCK_LB_CONFIG").map(std::path::PathBuf::from);
    let mut config = Config::load(config_path.as_deref())?;
    config.backend = Backend::Aws;
    config.validate()?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let storage = wiring::storage(&config, Arc::clone(&clock)).await?;
    let router = bedrock_lb_api::router(
        ApiState::new(
            storage.store,
            storage.queue,
            Arc::new(config.catalog()?),
            clock,
            &config.api,
        )?
        .with_quotas(storage.quotas),
    );
    if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some() {
        lambda_http::run(router)
            .await
            .map_err(|e| anyhow::anyhow!("lambda runtime: {e}"))
    } else {
        let listener = tokio::net::TcpListener::bind(&config.listen)
            .await
            .with_context(|| format!("binding {}", config.listen))?;
        tracing::info!(
            "bedrock-lb-lambda outside Lambda: serving on http://{}",
            config.listen
        );
        axum::serve(listener, router)
            .with_graceful_shutdown(bedrock_lb::shutdown_on_signal().cancelled_owned())
            .await
            .context("serving the API")
    }
}
