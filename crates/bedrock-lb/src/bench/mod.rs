//! `bedrock-lb bench`: the benchmark that shows whether the configured quotas are used.
//!
//! One invocation runs every strategy against the same scenario (one model in three regions with
//! 400k, 200k and 100k tokens per window, compressed windows), then quota-aware with several
//! worker processes, then quota-aware with one region down for the middle third of the run, and
//! prints one table. The numbers come from the simulator's own ground truth (`/_sim/stats`) and
//! from the job store, never from what the balancer believes about itself.
//!
//! Modules: [`scenario`] (the bedrock-lb `Config` and the simulator built from it), [`workload`]
//! (the seeded prompt mix and its submission over HTTP), [`simctl`] (the simulator's control
//! API), [`processes`] (`bedrock-lb-worker` children), [`run`] (one run, start to stop),
//! [`measure`] (the numbers of one run) and [`report`] (the table and the targets).

pub mod measure;
pub mod processes;
pub mod report;
pub mod run;
pub mod scenario;
pub mod simctl;
pub mod workload;

use std::io::Write;

use bedrock_lb_core::Strategy;
use clap::Args;

pub use measure::RunResult;
pub use run::{RunSpec, Workers};

/// Everything `bedrock-lb bench` can be told.
#[derive(Debug, Clone, Args)]
pub struct BenchArgs {
    /// Measured quota windows per run (window 0, which starts with full buckets, comes first and
    /// is not measured).
    #[arg(long, default_value_t = 8)]
    pub windows: u32,
    /// Length of a quota window ("minute") in seconds; compresses time.
    #[arg(long, default_value_t = 3.0)]
    pub window_secs: f64,
    /// Tokens per window of us-east-1, us-west-2 and eu-west-1, comma-separated.
    #[arg(long, value_delimiter = ',', default_values_t = [400_000u64, 200_000, 100_000])]
    pub tpm: Vec<u64>,
    /// Simulated time to first token, in milliseconds.
    #[arg(long, default_value_t = 20)]
    pub first_token_ms: u64,
    /// Simulated time per output token, in milliseconds (whole milliseconds only: the
    /// simulator's setting is an integer).
    #[arg(long, default_value_t = 0)]
    pub per_output_token_ms: u64,
    /// Jobs each worker runs at once.
    #[arg(long, default_value_t = 128)]
    pub concurrency: usize,
    /// Worker processes of the multi-process run.
    #[arg(long, default_value_t = 3)]
    pub worker_processes: usize,
    /// How much work is kept queued, in windows of the total quota: more than the quotas can
    /// pass, so that every run is saturated.
    #[arg(long, default_value_t = 3.0)]
    pub backlog_windows: f64,
    /// The region taken down in the fault run, and whose real quota is half the configured one
    /// in the overquoted run.
    #[arg(long, default_value = "us-east-1")]
    pub fault_region: String,
    /// Seed of the workload and of the simulator.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Only these runs, comma-separated: strategy names (one in-process worker),
    /// `processes` (quota-aware, several worker processes) and `fault` (quota-aware, a region
    /// down). All of them when absent.
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<String>,
    /// Also print the table as Markdown, for BENCHMARKS.md.
    #[arg(long)]
    pub markdown: bool,
}

impl Default for BenchArgs {
    fn default() -> Self {
        Self {
            windows: 8,
            window_secs: 3.0,
            tpm: vec![400_000, 200_000, 100_000],
            first_token_ms: 20,
            per_output_token_ms: 0,
            concurrency: 128,
            worker_processes: 3,
            backlog_windows: 3.0,
            fault_region: "us-east-1".into(),
            seed: 42,
            only: Vec::new(),
            markdown: false,
        }
    }
}

/// Why the benchmark could not run (a missed target is not an error).
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("bench arguments: {0}")]
    Args(String),
    #[error("bench configuration: {0}")]
    Config(#[from] bedrock_lb_config::ConfigError),
    #[error("starting the simulator: {0}")]
    Simulator(std::io::Error),
    #[error("simulator control API: {0}")]
    SimControl(String),
    #[error("the server failed: {0}")]
    Server(String),
    #[error("worker processes: {0}")]
    Processes(String),
    #[error("submitting the workload: {0}")]
    Submit(#[from] crate::client::ClientError),
    #[error("reading the job store: {0}")]
    Store(String),
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
}

impl BenchArgs {
    /// Checks what clap cannot.
    pub fn validate(&self) -> Result<(), BenchError> {
        let invalid = |m: &str| Err(BenchError::Args(m.to_owned()));
        if self.windows == 0 {
            return invalid("--windows must be at least 1");
        }
        if !(self.window_secs.is_finite() && (0.2..=120.0).contains(&self.window_secs)) {
            return invalid("--window-secs must be between 0.2 and 120");
        }
        if self.tpm.len() != scenario::REGIONS.len() || self.tpm.contains(&0) {
            return invalid("--tpm needs three non-zero values (us-east-1, us-west-2, eu-west-1)");
        }
        if !scenario::REGIONS.contains(&self.fault_region.as_str()) {
            return invalid("--fault-region must be one of us-east-1, us-west-2, eu-west-1");
        }
        if self.worker_processes == 0 || self.concurrency == 0 {
            return invalid("--worker-processes and --concurrency must be at least 1");
        }
        if !(self.backlog_windows.is_finite() && self.backlog_windows > 0.0) {
            return invalid("--backlog-windows must be positive");
        }
        for name in &self.only {
            if !matches!(name.as_str(), "processes" | "fault" | "overquoted")
                && name.parse::<Strategy>().is_err()
            {
                return invalid(&format!("--only: unknown run `{name}`"));
            }
        }
        Ok(())
    }

    /// The runs to make, in the order they are printed.
    pub fn runs(&self) -> Vec<RunSpec> {
        let mut runs: Vec<RunSpec> = Strategy::ALL
            .into_iter()
            .map(|strategy| RunSpec {
                name: strategy.as_str().to_owned(),
                strategy,
                workers: Workers::InProcess,
                fault_region: None,
                overquoted_region: None,
            })
            .collect();
        runs.push(RunSpec {
            name: "processes".into(),
            strategy: Strategy::QuotaAware,
            workers: Workers::Processes(self.worker_processes),
            fault_region: None,
            overquoted_region: None,
        });
        runs.push(RunSpec {
            name: "fault".into(),
            strategy: Strategy::QuotaAware,
            workers: Workers::InProcess,
            fault_region: Some(self.fault_region.clone()),
            overquoted_region: None,
        });
        runs.push(RunSpec {
            name: "overquoted".into(),
            strategy: Strategy::QuotaAware,
            workers: Workers::InProcess,
            fault_region: None,
            overquoted_region: Some(self.fault_region.clone()),
        });
        runs.retain(|run| self.only.is_empty() || self.only.contains(&run.name));
        runs
    }
}

/// What one invocation measured.
#[derive(Debug, Clone)]
pub struct BenchReport {
    /// One row per run, in order.
    pub results: Vec<RunResult>,
}

/// Runs every selected run one after the other and prints the table (and the Markdown) to
/// `out`; progress goes to the log. A run that cannot start is an error; a run that misses its
/// targets is not.
pub async fn run(args: &BenchArgs, out: &mut dyn Write) -> Result<BenchReport, BenchError> {
    args.validate()?;
    let mut results = Vec::new();
    for spec in args.runs() {
        tracing::info!(run = %spec.name, "bench run starting");
        let result = run::run(args, &spec).await?;
        tracing::info!(
            run = %spec.name,
            utilization = result.utilization,
            throttled = result.throttled_ratio,
            "bench run finished"
        );
        results.push(result);
    }
    writeln!(out, "{}", report::header(args))?;
    writeln!(out, "{}", report::table(&results))?;
    writeln!(out, "{}", report::targets(&results))?;
    for note in report::notes(&results) {
        writeln!(out, "note: {note}")?;
    }
    if args.markdown {
        writeln!(out)?;
        writeln!(out, "{}", report::markdown(&results))?;
    }
    Ok(BenchReport { results })
}
