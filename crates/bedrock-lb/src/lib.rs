//! bedrock-lb, assembled: turns a [`Config`](bedrock_lb_config::Config) into running adapters
//! (embedded or AWS storage, the simulator or real Bedrock), serves the API with an in-process
//! worker, and holds the command-line interface.
//!
//! This crate is the composition root shared by the three binaries, which stay thin:
//! `bedrock-lb` (serve, submit, batch, jobs, batches, init-aws, bench), `bedrock-lb-worker` (worker-only processes) and
//! `bedrock-lb-lambda` (the API inside AWS Lambda).

pub mod batch;
pub mod bench;
pub mod cli;
pub mod client;
pub mod metrics;
pub mod quotas_cli;
pub mod remote;
pub mod serve;
pub mod signing;
pub mod sweep;
pub mod wiring;

/// Logs to stderr, at `info` unless `RUST_LOG` says otherwise.
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

/// A token cancelled on Ctrl-C or SIGTERM.
pub fn shutdown_on_signal() -> tokio_util::sync::CancellationToken {
    let token = tokio_util::sync::CancellationToken::new();
    let cancel = token.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutdown signal received");
        cancel.cancel();
    });
    token
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
