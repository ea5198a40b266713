//! One benchmark run, start to stop: a fresh data directory and simulator, the API (with an
//! in-process worker, or with `bedrock-lb-worker` processes), the backlog submitted over HTTP,
//! the simulator reset so that window 0 starts with everything in place, the queue kept topped
//! up (and a region taken down for the middle third when asked), then everything stopped and
//! the numbers read from the simulator and the job store.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use bedrock_lb_core::{JobStore, Strategy, SystemClock};
use bedrock_lb_embedded::EmbeddedDb;
use bedrock_sim::QuotaConfig;
use tokio::net::TcpListener;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::measure::{self, JobTimes, Measurement, RunResult};
use super::processes::WorkerProcesses;
use super::simctl::SimControl;
use super::workload::{CHUNK, Submitter};
use super::{BenchArgs, BenchError, scenario};
use crate::client::ApiClient;
use crate::serve::{self, ServeOptions};

/// Who runs the jobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workers {
    /// One worker inside the API's process (`bedrock-lb serve`).
    InProcess,
    /// This many `bedrock-lb-worker` processes beside an API-only server.
    Processes(usize),
}

/// One run of the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunSpec {
    /// The name `--only` selects it by.
    pub name: String,
    pub strategy: Strategy,
    pub workers: Workers,
    /// A region down for the middle third of the measured windows.
    pub fault_region: Option<String>,
    /// A region whose real quota is half what the balancer is configured with (it must find
    /// out from throttles).
    pub overquoted_region: Option<String>,
}

/// How often the feeder looks at the backlog, in windows.
const FEED_EVERY: f64 = 0.1;

/// Runs `spec` and measures it.
pub async fn run(args: &BenchArgs, spec: &RunSpec) -> Result<RunResult, BenchError> {
    let dir = tempfile::tempdir()?;
    let mut notes = Vec::new();
    let draft = scenario::config(args, spec.strategy, dir.path(), None)?;
    let sim = bedrock_sim::spawn(scenario::simulator(&draft))
        .await
        .map_err(BenchError::Simulator)?;
    if let Some(region) = &spec.overquoted_region {
        let configured = scenario::quotas(&draft).get(region).copied().unwrap_or(0);
        let real = QuotaConfig {
            tpm: Some(configured / 2),
            rpm: None,
            tpd: None,
        };
        sim.simulator()
            .set_quota(region, scenario::MODEL_ID, real)
            .map_err(|e| BenchError::Server(e.to_string()))?;
    }
    let config = scenario::config(args, spec.strategy, dir.path(), Some(sim.url()))?;
    let control = SimControl::new(&sim.url());

    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let api_url = format!("http://{}", listener.local_addr()?);
    let shutdown = CancellationToken::new();
    let options = ServeOptions {
        run_worker: spec.workers == Workers::InProcess,
        worker_id: "bench-worker-0".into(),
    };
    let server = tokio::spawn(serve::run(
        config.clone(),
        listener,
        options,
        shutdown.clone(),
    ));
    let mut processes = match spec.workers {
        Workers::InProcess => None,
        Workers::Processes(n) => Some(WorkerProcesses::start(&config, dir.path(), n)?),
    };

    let outcome = drive(
        args,
        spec,
        &config,
        &api_url,
        &control,
        &mut processes,
        &mut notes,
    )
    .await;
    // Stop everything whatever happened, then report the first failure.
    shutdown.cancel();
    if let Some(processes) = processes {
        processes.stop().await;
    }
    let served = server.await;
    sim.shutdown().await;
    let (submitter, stats, measurement) = outcome?;
    match served {
        Ok(Ok(())) => {}
        Ok(Err(error)) => return Err(BenchError::Server(format!("{error:#}"))),
        Err(error) => return Err(BenchError::Server(error.to_string())),
    }

    let jobs = read_jobs(&config, &submitter.batch_ids).await?;
    let usage = measure::usage(&stats, &measurement, &mut notes);
    let numbers = measure::jobs(&jobs, &measurement);
    Ok(RunResult {
        name: spec.name.clone(),
        strategy: spec.strategy.as_str().to_owned(),
        workers: match spec.workers {
            Workers::InProcess => "1".into(),
            Workers::Processes(n) => format!("{n} proc"),
        },
        utilization: measure::ratio(usage.settled, usage.capacity),
        region_utilization: usage
            .regions
            .iter()
            .map(|(region, (settled, capacity))| {
                (region.clone(), measure::ratio(*settled, *capacity))
            })
            .collect(),
        settled_tokens: usage.settled,
        capacity_tokens: usage.capacity,
        throttled_ratio: measure::ratio(usage.throttled, usage.calls),
        calls: usage.calls,
        throttled_calls: usage.throttled,
        failed_jobs: numbers.failed,
        unfinished_jobs: numbers.unfinished,
        submitted_jobs: submitter.submitted,
        jobs_per_sec: numbers.jobs_per_sec,
        p50_ms: numbers.p50_ms,
        p99_ms: numbers.p99_ms,
        notes,
    })
}

/// Submits, resets, keeps the queue full for the measured windows and takes the region down
/// and up; returns the submitter, the final statistics and what was measured.
async fn drive(
    args: &BenchArgs,
    spec: &RunSpec,
    config: &bedrock_lb_config::Config,
    api_url: &str,
    control: &SimControl,
    processes: &mut Option<WorkerProcesses>,
    notes: &mut Vec<String>,
) -> Result<(Submitter, bedrock_sim::SimStats, Measurement), BenchError> {
    wait_until_healthy(api_url).await?;
    let total_tpm: u64 = scenario::quotas(config).values().sum();
    let backlog_tokens = (args.backlog_windows * total_tpm as f64) as u64;
    let mut submitter = Submitter::new(ApiClient::new(api_url), args.seed, &spec.name);
    submitter.fill_to(backlog_tokens).await?;
    if let Some(processes) = processes.as_mut() {
        processes.check_running()?;
    }

    // Window 0 starts now, with the backlog queued; what was admitted before is remembered so
    // that the backlog estimate stays right.
    let admitted_before = control.stats().await?.totals.admitted;
    control.reset().await?;
    let started_at = Instant::now();
    let started = chrono::Utc::now();
    let window = Duration::from_secs_f64(args.window_secs);
    let last_window = u64::from(args.windows);
    let end = started_at + window * (args.windows + 1);

    // The middle third of the measured windows, in whole windows.
    let third = last_window / 3;
    let down_windows: Vec<u64> = match &spec.fault_region {
        Some(_) if last_window >= 3 => (1 + third..1 + last_window - third).collect(),
        Some(_) => {
            notes.push("too few windows to take a region down; no fault injected".into());
            Vec::new()
        }
        None => Vec::new(),
    };
    let mut down = BTreeSet::new();
    let mut schedule = Vec::new();
    if let (Some(region), Some(first), Some(last)) = (
        &spec.fault_region,
        down_windows.first(),
        down_windows.last(),
    ) {
        schedule.push((started_at + window * (*first as u32), region.clone(), true));
        schedule.push((
            started_at + window * (*last as u32 + 1),
            region.clone(),
            false,
        ));
        down = down_windows.iter().map(|w| (region.clone(), *w)).collect();
        notes.push(format!("{region} down in windows {first}..={last}"));
    }

    let tick = window.mul_f64(FEED_EVERY);
    let mut next_fault = schedule.into_iter().peekable();
    while Instant::now() < end {
        if let Some((at, region, is_down)) = next_fault.next_if(|(at, _, _)| Instant::now() >= *at)
        {
            control.set_region_down(&region, is_down).await?;
            tracing::info!(%region, down = is_down, late_ms = at.elapsed().as_millis() as u64,
                "bench region fault changed");
            continue;
        }
        let admitted = admitted_before + control.stats().await?.totals.admitted;
        let queued_jobs = submitter.submitted.saturating_sub(admitted);
        let queued_tokens = queued_jobs * submitter.mean_cost();
        if queued_tokens < backlog_tokens {
            let missing = (backlog_tokens - queued_tokens) / submitter.mean_cost();
            submitter
                .submit_chunk((missing as usize).clamp(1, CHUNK))
                .await?;
            continue;
        }
        if let Some(processes) = processes.as_mut() {
            processes.check_running()?;
        }
        let mut wake = (Instant::now() + tick).min(end);
        if let Some((at, _, _)) = next_fault.peek() {
            wake = wake.min(*at);
        }
        tokio::time::sleep_until(wake).await;
    }
    let stats = control.stats().await?;
    let measurement = Measurement {
        last_window,
        window_secs: args.window_secs,
        started,
        down,
    };
    Ok((submitter, stats, measurement))
}

/// Waits for `GET /healthz` to answer 200.
async fn wait_until_healthy(api_url: &str) -> Result<(), BenchError> {
    let client = reqwest::Client::new();
    for _ in 0..200 {
        if let Ok(response) = client.get(format!("{api_url}/healthz")).send().await
            && response.status().is_success()
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err(BenchError::Server(format!(
        "the API at {api_url} did not become healthy"
    )))
}

/// Every job of `batch_ids`, read from the run's database after the server has stopped.
async fn read_jobs(
    config: &bedrock_lb_config::Config,
    batch_ids: &[String],
) -> Result<Vec<JobTimes>, BenchError> {
    let db = EmbeddedDb::open(&config.database_path(), Arc::new(SystemClock))
        .map_err(|e| BenchError::Store(e.to_string()))?;
    let store = db.job_store();
    let mut jobs = Vec::new();
    for batch in batch_ids {
        let mut after = None;
        loop {
            let page = store
                .list_batch(batch, after.as_ref(), 500)
                .await
                .map_err(|e| BenchError::Store(e.to_string()))?;
            let Some(last) = page.last() else { break };
            after = Some(last.job_id.clone());
            jobs.extend(page.iter().map(|job| JobTimes {
                status: job.status,
                created_at: job.created_at,
                updated_at: job.updated_at,
            }));
        }
    }
    Ok(jobs)
}
