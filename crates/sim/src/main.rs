//! `bedrock-sim`: runs the Bedrock Runtime simulator on a local port until Ctrl-C.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use bedrock_sim::SimConfig;
use clap::Parser;
use tracing_subscriber::EnvFilter;

/// A Bedrock Runtime simulator that the AWS SDK can call unchanged.
#[derive(Debug, Parser)]
#[command(name = "bedrock-sim", version)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:4010")]
    listen: SocketAddr,
    /// A TOML scenario file; the built-in sample scenario when absent.
    #[arg(long)]
    scenario: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    let args = Args::parse();
    let config = match &args.scenario {
        Some(path) => SimConfig::from_file(path)?,
        None => SimConfig::sample(),
    };
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let addr = listener.local_addr()?;
    let regions: Vec<&str> = config.regions.keys().map(String::as_str).collect();
    tracing::info!(%addr, regions = %regions.join(","), "bedrock-sim listening on http://{addr}");
    let shutdown = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %err, "cannot wait for Ctrl-C");
        }
    };
    bedrock_sim::serve(listener, config, shutdown).await?;
    tracing::info!("bedrock-sim stopped");
    Ok(())
}
