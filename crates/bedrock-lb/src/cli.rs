//! The `bedrock-lb` command line: `serve`, `submit`, `batch`, `jobs`, `batches` and
//! `init-aws`. The commands that call a running API live in [`crate::remote`].

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use bedrock_lb_config::{AuthMode, Backend, BedrockTarget, Config};
use bedrock_lb_core::InvokeRequest;
use clap::{Args, Parser, Subcommand};
use serde_json::Value;
use tokio::net::TcpListener;

use crate::remote::{self, ApiArgs, BatchArgs};
use crate::serve::{self, ServeOptions};

/// Quota-aware load balancer for Amazon Bedrock.
#[derive(Debug, Parser)]
#[command(name = "bedrock-lb", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the API with an in-process worker (local mode by default: no AWS account needed).
    Serve(ServeArgs),
    /// Submit one prompt to a running API.
    Submit(SubmitArgs),
    /// Submit a JSON Lines file of prompts in chunks and write the results in input order
    /// (resumable: run it again with the same --out to continue).
    Batch(BatchArgs),
    /// Look at or cancel jobs.
    #[command(subcommand)]
    Jobs(JobsCommand),
    /// Look at batches.
    #[command(subcommand)]
    Batches(BatchesCommand),
    /// Create the SQS queue (with its dead-letter queue) and the DynamoDB jobs table, e.g. in moto.
    InitAws(InitAwsArgs),
    /// Read and edit the quota table (limits, weights, routes) in the configured store.
    #[command(subcommand)]
    Quotas(crate::quotas_cli::QuotasCommand),
    /// Show every bucket's quota and the live workers' use of it, from a running API.
    Regions(crate::quotas_cli::RegionsArgs),
    /// Benchmark every routing strategy against the simulator and print how much of the
    /// quota each one uses.
    Bench(crate::bench::BenchArgs),
}

/// Where the configuration comes from, and flags that override it.
#[derive(Debug, Clone, Default, Args)]
pub struct ConfigArgs {
    /// Configuration file (TOML); the built-in default when absent.
    #[arg(long, env = "BEDROCK_LB_CONFIG")]
    pub config: Option<PathBuf>,
    /// `local` (embedded SQLite) or `aws` (SQS and DynamoDB).
    #[arg(long, value_parser = parse_backend)]
    pub backend: Option<Backend>,
    /// Directory of the local mode's database.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// SQS queue URL (aws backend).
    #[arg(long)]
    pub queue_url: Option<String>,
    /// DynamoDB jobs table (aws backend).
    #[arg(long)]
    pub jobs_table: Option<String>,
    /// `sim` (the simulator) or `aws` (real Bedrock).
    #[arg(long, value_parser = parse_bedrock)]
    pub bedrock: Option<BedrockTarget>,
    /// One Bedrock endpoint for every region, e.g. a standalone `bedrock-sim`.
    #[arg(long)]
    pub bedrock_endpoint: Option<String>,
}

impl ConfigArgs {
    /// The configuration: file or default, then environment, then these flags; validated.
    pub fn load(&self) -> anyhow::Result<Config> {
        let mut config = Config::load_unvalidated(self.config.as_deref())?;
        self.apply(&mut config);
        config.validate()?;
        Ok(config)
    }

    /// Writes these flags over `config`, without validating the result.
    pub fn apply(&self, config: &mut Config) {
        if let Some(backend) = self.backend {
            config.backend = backend;
        }
        if let Some(dir) = &self.data_dir {
            config.data_dir.clone_from(dir);
        }
        if let Some(url) = &self.queue_url {
            config.queue_url = Some(url.clone());
        }
        if let Some(table) = &self.jobs_table {
            config.jobs_table = Some(table.clone());
        }
        if let Some(target) = self.bedrock {
            config.bedrock.target = Some(target);
        }
        if let Some(endpoint) = &self.bedrock_endpoint {
            config.bedrock.endpoint_url = Some(endpoint.clone());
        }
    }
}

fn parse_backend(value: &str) -> Result<Backend, String> {
    match value {
        "local" => Ok(Backend::Local),
        "aws" => Ok(Backend::Aws),
        other => Err(format!("`{other}` is not a backend; use `local` or `aws`")),
    }
}

fn parse_bedrock(value: &str) -> Result<BedrockTarget, String> {
    match value {
        "sim" | "simulator" => Ok(BedrockTarget::Simulator),
        "aws" => Ok(BedrockTarget::Aws),
        other => Err(format!(
            "`{other}` is not a Bedrock target; use `sim` or `aws`"
        )),
    }
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Address to listen on (default 127.0.0.1:8080).
    #[arg(long)]
    pub listen: Option<String>,
    /// Serve the API only, without an in-process worker.
    #[arg(long)]
    pub no_worker: bool,
    /// Require this key in `x-api-key` on every API call (API-key mode with one key named
    /// `local`), so that a local server can be shared safely.
    #[arg(long, env = "BEDROCK_LB_SERVE_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
}

#[derive(Debug, Args)]
pub struct SubmitArgs {
    /// The prompt.
    pub prompt: String,
    /// Logical model name (the configured default when absent).
    #[arg(long)]
    pub model: Option<String>,
    /// System prompt.
    #[arg(long)]
    pub system: Option<String>,
    /// Most tokens to generate.
    #[arg(long)]
    pub max_tokens: Option<u32>,
    /// Sampling temperature, 0 to 1.
    #[arg(long)]
    pub temperature: Option<f32>,
    /// Wait for the job to finish and print its result.
    #[arg(long)]
    pub wait: bool,
    /// How long --wait waits, in seconds.
    #[arg(long, default_value_t = 300)]
    pub timeout: u64,
    /// Print the whole job as JSON instead of the completion text.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub api: ApiArgs,
}

#[derive(Debug, Subcommand)]
pub enum JobsCommand {
    /// Print one job as JSON.
    Get {
        job_id: String,
        /// Wait up to SECS (300 when no value is given) for the job to finish first; the
        /// server holds each request up to 20 s (long poll).
        #[arg(long, value_name = "SECS", num_args = 0..=1, default_missing_value = "300")]
        wait: Option<u64>,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Cancel a job that has not started yet; prints the cancelled job.
    Cancel {
        job_id: String,
        #[command(flatten)]
        api: ApiArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum BatchesCommand {
    /// Print a batch's job counts by status, and its first job ids, as JSON.
    Get {
        batch_id: String,
        #[command(flatten)]
        api: ApiArgs,
    },
}

#[derive(Debug, Args)]
pub struct InitAwsArgs {
    /// Name of the queue to create (its dead-letter queue is NAME-dlq).
    #[arg(long, default_value = "bedrock-lb-jobs")]
    pub queue_name: String,
    /// Name of the jobs table to create.
    #[arg(long, default_value = "bedrock-lb-jobs")]
    pub jobs_table: String,
    /// Receives after which a message goes to the dead-letter queue.
    #[arg(long, default_value_t = 5)]
    pub max_receive_count: u32,
}

/// Runs a parsed command line.
pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve(args) => run_serve(args).await,
        Command::Submit(args) => run_submit(args).await,
        Command::Batch(args) => remote::run_batch(args).await,
        Command::Jobs(JobsCommand::Get { job_id, wait, api }) => {
            remote::get_job(&api, &job_id, wait.map(Duration::from_secs)).await
        }
        Command::Jobs(JobsCommand::Cancel { job_id, api }) => {
            remote::cancel_job(&api, &job_id).await
        }
        Command::Batches(BatchesCommand::Get { batch_id, api }) => {
            remote::get_batch(&api, &batch_id).await
        }
        Command::InitAws(args) => run_init_aws(args).await,
        Command::Quotas(command) => crate::quotas_cli::run(command).await,
        Command::Regions(args) => crate::quotas_cli::run_regions(args).await,
        Command::Bench(args) => {
            crate::bench::run(&args, &mut std::io::stdout()).await?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn run_serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let mut config = args.config.load()?;
    if let Some(listen) = args.listen {
        config.listen = listen;
    }
    if let Some(key) = &args.api_key {
        require_api_key(&mut config, key)?;
    }
    let listener = TcpListener::bind(&config.listen)
        .await
        .with_context(|| format!("binding {}", config.listen))?;
    let options = ServeOptions {
        run_worker: !args.no_worker,
        ..ServeOptions::default()
    };
    serve::run(config, listener, options, crate::shutdown_on_signal()).await?;
    Ok(ExitCode::SUCCESS)
}

/// Switches `config` to API-key mode with the single key `key`, named `local`; only its
/// SHA-256 is kept, as in a configuration file.
pub fn require_api_key(config: &mut Config, key: &str) -> anyhow::Result<()> {
    anyhow::ensure!(!key.trim().is_empty(), "--api-key must not be empty");
    config.api.auth = AuthMode::ApiKey;
    config.api.api_keys = [("local".to_owned(), remote::sha256_hex(key))].into();
    config.validate()?;
    Ok(())
}

async fn run_submit(args: SubmitArgs) -> anyhow::Result<ExitCode> {
    let client = args.api.client().await?;
    let request = InvokeRequest {
        model: args.model,
        system: args.system,
        max_tokens: args.max_tokens,
        temperature: args.temperature,
        ..InvokeRequest::from_prompt(args.prompt)
    };
    let job_id = client.submit(&request, None).await?;
    if !args.wait {
        println!("{job_id}");
        return Ok(ExitCode::SUCCESS);
    }
    let job = client
        .wait(&job_id, Duration::from_secs(args.timeout))
        .await?;
    let succeeded = job.get("status").and_then(Value::as_str) == Some("succeeded");
    if args.json {
        println!("{}", serde_json::to_string_pretty(&job)?);
    } else if succeeded {
        println!(
            "{}",
            job.pointer("/result/text")
                .and_then(Value::as_str)
                .unwrap_or("")
        );
        eprintln!("{}", summary(&job_id, &job));
    } else {
        eprintln!("{}", summary(&job_id, &job));
    }
    Ok(if succeeded {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// One line about a finished job: where it ran and what it cost, or why it failed.
fn summary(job_id: &str, job: &Value) -> String {
    let text = |pointer: &str| {
        job.pointer(pointer)
            .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
            .unwrap_or_default()
    };
    match job.get("status").and_then(Value::as_str) {
        Some("succeeded") => format!(
            "job {job_id} succeeded in {} ({}): {} input + {} output tokens, {} ms",
            text("/result/region"),
            text("/result/model_id"),
            text("/result/usage/input_tokens"),
            text("/result/usage/output_tokens"),
            text("/result/latency_ms"),
        ),
        Some(status) => format!(
            "job {job_id} {status}: {}: {}",
            text("/error/type"),
            text("/error/message")
        ),
        None => format!("job {job_id}: no status in {job}"),
    }
}

async fn run_init_aws(args: InitAwsArgs) -> anyhow::Result<ExitCode> {
    let sdk = crate::wiring::aws_sdk_config().await;
    anyhow::ensure!(sdk.region().is_some(), "set AWS_REGION");
    let urls = bedrock_lb_aws::provision::ensure_queue(
        &aws_sdk_sqs::Client::new(&sdk),
        &args.queue_name,
        args.max_receive_count,
    )
    .await?;
    bedrock_lb_aws::provision::ensure_jobs_table(
        &aws_sdk_dynamodb::Client::new(&sdk),
        &args.jobs_table,
    )
    .await?;
    println!("export BEDROCK_LB_QUEUE_URL={}", urls.queue_url);
    println!("export BEDROCK_LB_JOBS_TABLE={}", args.jobs_table);
    eprintln!("dead-letter queue: {}", urls.dead_letter_queue_url);
    Ok(ExitCode::SUCCESS)
}
