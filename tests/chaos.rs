//! Process-level chaos: a `bedrock-lb-worker` process drains a few hundred jobs from moto's SQS
//! and DynamoDB, calling the simulator, and is killed with SIGKILL at random moments several
//! times, a new one started each time. At the end every job has succeeded, each result was
//! written once (every worker logs one `job finished` line per result it wrote), and the
//! simulator saw no more calls than jobs plus the calls in flight at the kills.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use bedrock_lb_e2e::{
    binary, moto_resources_named, moto_sdk_config, require_aws_environment_on_moto, terminate,
};
use serde_json::json;
use tokio::process::{Child, Command};

const JOBS: usize = 300;
const KILLS: usize = 5;
const CONCURRENCY: usize = 10;
/// Short, so that jobs held by a killed worker are taken over quickly.
const VISIBILITY_SECS: u64 = 3;

#[tokio::test]
async fn killed_workers_lose_no_job_and_write_no_result_twice() {
    require_aws_environment_on_moto();
    let mut sim_config = bedrock_sim::SimConfig::sample();
    sim_config.latency.first_token_ms = 200;
    let simulator = bedrock_sim::spawn(sim_config).await.unwrap();
    let sdk = moto_sdk_config();
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let dynamo = aws_sdk_dynamodb::Client::new(&sdk);
    // Room for several takeovers per message before the redrive policy would step in.
    let urls = moto_resources_named("chaos", 20).await;
    let name = urls.table.clone();

    let ids: Vec<String> = (0..JOBS).map(|i| format!("{name}-{i}")).collect();
    for chunk in ids.chunks(10) {
        let entries = chunk.iter().enumerate().map(|(i, id)| {
            let body =
                json!({"job_id": id, "prompt": format!("chaos prompt {id}"), "max_tokens": 20});
            SendMessageBatchRequestEntry::builder()
                .id(i.to_string())
                .message_body(body.to_string())
                .build()
                .unwrap()
        });
        let out = sqs
            .send_message_batch()
            .queue_url(&urls.queue_url)
            .set_entries(Some(entries.collect()))
            .send()
            .await
            .unwrap();
        assert!(out.failed.is_empty(), "every message queued");
    }

    let logs = tempfile::tempdir().unwrap();
    let seed = uuid::Uuid::new_v4().as_u128() as u64;
    let mut rng = seed | 1;
    let mut next_ms = |lo: u64, hi: u64| {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        lo + rng % (hi - lo)
    };
    let start = tokio::time::Instant::now();
    let mut spawned = 0;
    let mut worker = spawn_worker(
        &urls.queue_url,
        &name,
        &simulator.url(),
        logs.path(),
        spawned,
    );
    spawned += 1;
    for _ in 0..KILLS {
        tokio::time::sleep(Duration::from_millis(next_ms(800, 2500))).await;
        worker.start_kill().unwrap();
        worker.wait().await.unwrap();
        // Calls in flight at the kill are repeated by the worker that takes their jobs over.
        worker = spawn_worker(
            &urls.queue_url,
            &name,
            &simulator.url(),
            logs.path(),
            spawned,
        );
        spawned += 1;
    }

    let statuses = wait_until_all_finished(&dynamo, &name, Duration::from_secs(120)).await;
    let elapsed = start.elapsed();
    // The last worker stops cleanly on SIGTERM.
    let status = terminate(&mut worker).await;
    assert!(status.success(), "the last worker exits 0 on SIGTERM");

    let succeeded = ids
        .iter()
        .filter(|id| statuses.get(*id).map(String::as_str) == Some("succeeded"))
        .count();
    let lost = JOBS - succeeded;
    let results = count_results(logs.path(), spawned);
    let duplicated: usize = results.values().map(|n| n.saturating_sub(1)).sum();
    let unlogged = ids.iter().filter(|id| !results.contains_key(*id)).count();
    let calls = simulator.stats().totals.requests;
    let extra_calls = calls.saturating_sub(JOBS as u64);
    println!(
        "chaos: jobs={JOBS} kills={KILLS} lost={lost} duplicated_results={duplicated} \
         unlogged_results={unlogged} bedrock_calls={calls} extra_bedrock_calls={extra_calls} \
         bound={} seed={seed:#x} elapsed={:.1}s",
        KILLS * CONCURRENCY,
        elapsed.as_secs_f64()
    );
    assert_eq!(lost, 0, "every job succeeded: {statuses:?}");
    assert_eq!(duplicated, 0, "no result was written twice: {results:?}");
    // A kill while a result write is in flight (the store has applied it, the worker has not yet
    // read the answer and logged it) leaves a result without its log line: at most the jobs in
    // flight at each kill.
    assert!(
        unlogged <= KILLS * CONCURRENCY,
        "{unlogged} results without a log line"
    );
    assert!(calls >= JOBS as u64);
    assert!(
        extra_calls <= (KILLS * CONCURRENCY) as u64,
        "{extra_calls} extra Bedrock calls exceed the calls that can be in flight at {KILLS} kills"
    );
    simulator.shutdown().await;
}

fn spawn_worker(queue_url: &str, table: &str, sim_url: &str, logs: &Path, n: usize) -> Child {
    let log = std::fs::File::create(log_path(logs, n)).unwrap();
    Command::new(binary("bedrock-lb-worker"))
        .args([
            "--backend",
            "aws",
            "--queue-url",
            queue_url,
            "--jobs-table",
            table,
        ])
        .args(["--bedrock", "sim", "--bedrock-endpoint", sim_url])
        .args(["--concurrency", &CONCURRENCY.to_string()])
        .args(["--worker-id", &format!("chaos-worker-{n}")])
        .env("BEDROCK_LB_WORKER__WAIT_TIME_SECS", "1")
        .env(
            "BEDROCK_LB_WORKER__VISIBILITY_TIMEOUT_SECS",
            VISIBILITY_SECS.to_string(),
        )
        .env("BEDROCK_LB_WORKER__SHUTDOWN_GRACE_SECS", "5")
        .env("RUST_LOG", "warn,bedrock_lb_worker=info")
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::from(log))
        .kill_on_drop(true)
        .spawn()
        .unwrap()
}

fn log_path(logs: &Path, n: usize) -> PathBuf {
    logs.join(format!("worker-{n}.log"))
}

/// Result writes per job id, from every worker's `job finished` lines.
fn count_results(logs: &Path, workers: usize) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for n in 0..workers {
        let text = std::fs::read_to_string(log_path(logs, n)).unwrap();
        for line in text.lines().filter(|l| l.contains("job finished")) {
            let line = strip_ansi(line);
            let at = line.rfind("job_id=").expect("a job_id field") + "job_id=".len();
            let id: String = line[at..]
                .chars()
                .take_while(|c| !c.is_whitespace() && *c != '}')
                .collect();
            *counts.entry(id).or_insert(0) += 1;
        }
    }
    counts
}

fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Scans the jobs table until every job is finished; returns the status of each.
async fn wait_until_all_finished(
    dynamo: &aws_sdk_dynamodb::Client,
    table: &str,
    timeout: Duration,
) -> HashMap<String, String> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let statuses = scan_statuses(dynamo, table).await;
        let finished = statuses
            .values()
            .filter(|s| !matches!(s.as_str(), "queued" | "running"))
            .count();
        if finished >= JOBS || tokio::time::Instant::now() >= deadline {
            return statuses;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn scan_statuses(dynamo: &aws_sdk_dynamodb::Client, table: &str) -> HashMap<String, String> {
    let mut statuses = HashMap::new();
    let mut start = None;
    loop {
        let out = dynamo
            .scan()
            .table_name(table)
            .consistent_read(true)
            .set_exclusive_start_key(start)
            .send()
            .await
            .unwrap();
        for item in out.items.unwrap_or_default() {
            if let (Some(AttributeValue::S(id)), Some(AttributeValue::S(status))) =
                (item.get("job_id"), item.get("status"))
            {
                statuses.insert(id.clone(), status.clone());
            }
        }
        start = out.last_evaluated_key;
        if start.is_none() {
            return statuses;
        }
    }
}
