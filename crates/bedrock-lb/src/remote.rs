//! The commands that call a running bedrock-lb API (`batch`, `jobs get|cancel`, `batches get`;
//! `submit` shares [`ApiArgs`]), and how they authenticate: nothing, an API key, or SigV4.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;

use crate::batch::state::RunSettings;
use crate::batch::{self, BatchError, BatchOptions};
use crate::client::{ApiClient, Auth};
use crate::signing::{self, SigV4Signer};

/// Where the API is and how to authenticate to it.
#[derive(Debug, Clone, Args)]
pub struct ApiArgs {
    /// Base URL of the bedrock-lb API.
    #[arg(long, env = "BEDROCK_LB_API", default_value = "http://127.0.0.1:8080")]
    pub api: String,
    /// API key, sent in `x-api-key` (for an API in API-key mode).
    #[arg(long, env = "BEDROCK_LB_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    /// Sign requests with SigV4 (service execute-api) using the standard AWS credential chain;
    /// on by default for `*.amazonaws.com` URLs.
    #[arg(long, conflicts_with = "api_key")]
    pub sigv4: bool,
    /// Region for SigV4 (default: the region in an execute-api URL, else AWS_REGION).
    #[arg(long)]
    pub region: Option<String>,
}

impl ApiArgs {
    /// A client for the API with the authentication these flags ask for.
    pub async fn client(&self) -> anyhow::Result<ApiClient> {
        let auth = if let Some(key) = &self.api_key {
            Auth::ApiKey(key.clone())
        } else if self.sigv4 || signing::is_aws_url(&self.api) {
            let signer = SigV4Signer::from_environment(&self.api, self.region.as_deref()).await?;
            tracing::debug!(region = signer.region(), "signing API calls with SigV4");
            Auth::SigV4(signer)
        } else {
            Auth::None
        };
        Ok(ApiClient::new(&self.api).with_auth(auth))
    }
}

/// `bedrock-lb batch`.
#[derive(Debug, Args)]
pub struct BatchArgs {
    /// JSON Lines input: each line a JSON string (the prompt) or a request object like
    /// POST /invoke's body; blank lines are skipped.
    pub input: PathBuf,
    /// Where results go, one JSON line per input request, in input order. Its state is kept in
    /// OUT.state.json; run again with the same --out to resume.
    #[arg(long)]
    pub out: PathBuf,
    /// Default model for requests that name none.
    #[arg(long)]
    pub model: Option<String>,
    /// Default max_tokens for requests that set none.
    #[arg(long)]
    pub max_tokens: Option<u32>,
    /// Requests per POST /batch.
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub chunk: u64,
    /// How often unfinished batches are polled, in milliseconds.
    #[arg(long, default_value_t = 500, hide = true)]
    pub poll_ms: u64,
    #[command(flatten)]
    pub api: ApiArgs,
}

/// Runs `batch`: exit 0 when every job succeeded, 1 when some did not (their lines say why),
/// 130 when interrupted (run again to continue).
pub async fn run_batch(args: BatchArgs) -> anyhow::Result<ExitCode> {
    let client = args.api.client().await?;
    let options = BatchOptions {
        input: args.input,
        out: args.out,
        settings: RunSettings {
            chunk_size: usize::try_from(args.chunk).context("--chunk is too large")?,
            model: args.model,
            max_tokens: args.max_tokens,
        },
        poll_interval: Duration::from_millis(args.poll_ms.max(10)),
    };
    let cancel = cancel_on_interrupt()?;
    match batch::run(&client, &options, &cancel).await {
        Ok(summary) if summary.not_succeeded == 0 => Ok(ExitCode::SUCCESS),
        Ok(summary) => {
            eprintln!(
                "{} of {} jobs did not succeed; see their lines in {}",
                summary.not_succeeded,
                summary.requests,
                options.out.display()
            );
            Ok(ExitCode::FAILURE)
        }
        Err(error @ BatchError::Interrupted { .. }) => {
            eprintln!("{error}");
            Ok(ExitCode::from(130))
        }
        Err(error) => Err(error.into()),
    }
}

/// A token cancelled on Ctrl-C (SIGINT) or SIGTERM. The handlers are registered before this
/// returns, so a signal that arrives at any later moment stops the run cleanly.
fn cancel_on_interrupt() -> anyhow::Result<CancellationToken> {
    let token = CancellationToken::new();
    let cancel = token.clone();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut interrupt = signal(SignalKind::interrupt()).context("handling Ctrl-C")?;
        let mut terminate = signal(SignalKind::terminate()).context("handling SIGTERM")?;
        tokio::spawn(async move {
            tokio::select! {
                _ = interrupt.recv() => {}
                _ = terminate.recv() => {}
            }
            cancel.cancel();
        });
    }
    #[cfg(not(unix))]
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            cancel.cancel();
        }
    });
    Ok(token)
}

/// `jobs get`: the job, after waiting for it to finish if asked.
pub async fn get_job(
    api: &ApiArgs,
    job_id: &str,
    wait: Option<Duration>,
) -> anyhow::Result<ExitCode> {
    let client = api.client().await?;
    let job = match wait {
        Some(wait) => client.wait(job_id, wait).await?,
        None => client.job(job_id).await?,
    };
    println!("{}", serde_json::to_string_pretty(&job)?);
    Ok(ExitCode::SUCCESS)
}

/// `jobs cancel`.
pub async fn cancel_job(api: &ApiArgs, job_id: &str) -> anyhow::Result<ExitCode> {
    let job = api.client().await?.cancel(job_id).await?;
    println!("{}", serde_json::to_string_pretty(&job)?);
    Ok(ExitCode::SUCCESS)
}

/// `batches get`.
pub async fn get_batch(api: &ApiArgs, batch_id: &str) -> anyhow::Result<ExitCode> {
    let view = api.client().await?.batch(batch_id).await?;
    println!("{}", serde_json::to_string_pretty(&view)?);
    Ok(ExitCode::SUCCESS)
}

/// Lowercase hex SHA-256 of `key`, as `api.api_keys` holds keys.
pub fn sha256_hex(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_hashes_are_lowercase_sha256_hex() {
        assert_eq!(
            sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
