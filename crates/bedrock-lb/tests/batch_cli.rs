//! `bedrock-lb batch` as a user runs it: the binary as a process against a local server (in
//! this process, with a fast simulator), killed part-way and resumed; bad input refused before
//! anything is submitted; another input refused for the same output.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use bedrock_lb::serve::{self, ServeOptions};
use bedrock_lb_config::{Config, DEFAULT_TOML};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

const BIN: &str = env!("CARGO_BIN_EXE_bedrock-lb");

/// A local server (API and in-process worker) on a free port, its data in `dir`.
struct Server {
    url: String,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Server {
    async fn start(dir: &Path) -> Self {
        let mut config = Config::from_toml_str(DEFAULT_TOML).unwrap();
        config.data_dir = dir.to_path_buf();
        config.simulator.first_token_ms = 1;
        config.simulator.per_output_token_ms = 0;
        config.worker.shutdown_grace_secs = 5;
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(serve::run(
            config,
            listener,
            ServeOptions::default(),
            shutdown.clone(),
        ));
        let client = reqwest::Client::new();
        for _ in 0..200 {
            if let Ok(r) = client.get(format!("{url}/healthz")).send().await
                && r.status().is_success()
            {
                return Self {
                    url,
                    shutdown,
                    task,
                };
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("the server never became healthy");
    }

    async fn stop(self) {
        self.shutdown.cancel();
        self.task.await.unwrap().unwrap();
    }
}

/// Jobs in the local database (read directly: the count the server holds, whatever batch).
fn jobs_in_store(dir: &Path) -> i64 {
    let conn = rusqlite::Connection::open(dir.join("bedrock-lb.db")).unwrap();
    conn.query_row("SELECT COUNT(*) FROM jobs", [], |row| row.get(0))
        .unwrap()
}

fn batch_command(input: &Path, out: &Path, url: &str, chunk: &str) -> Command {
    let mut command = Command::new(BIN);
    command
        .args(["batch"])
        .arg(input)
        .arg("--out")
        .arg(out)
        .args([
            "--api",
            url,
            "--chunk",
            chunk,
            "--max-tokens",
            "16",
            "--poll-ms",
            "20",
        ])
        .env("RUST_LOG", "warn")
        .env_remove("BEDROCK_LB_API_KEY");
    command
}

fn text(output: &Output) -> String {
    format!(
        "status {:?}\nstdout: {}\nstderr: {}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// 1,000 prompts with a blank line every 100 lines, so output line numbers skip them.
fn write_prompts(path: &Path) -> Vec<usize> {
    let mut body = String::new();
    let mut lines = Vec::new();
    let mut n = 0;
    for i in 0..1000 {
        if i % 100 == 50 {
            body.push('\n');
            n += 1;
        }
        n += 1;
        lines.push(n);
        if i % 2 == 0 {
            body.push_str(&format!("\"prompt number {i}\"\n"));
        } else {
            body.push_str(&format!(
                "{{\"prompt\": \"prompt number {i}\", \"temperature\": 0.5}}\n"
            ));
        }
    }
    std::fs::write(path, body).unwrap();
    lines
}

fn state_chunks(state: &Path) -> usize {
    std::fs::read_to_string(state)
        .ok()
        .and_then(|t| serde_json::from_str::<Value>(&t).ok())
        .and_then(|v| v["chunks"].as_object().map(serde_json::Map::len))
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_batch_resumes_without_submitting_twice() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Server::start(&data).await;
    let input = dir.path().join("prompts.jsonl");
    let expected_lines = write_prompts(&input);
    let out = dir.path().join("results.jsonl");
    let state: PathBuf = dir.path().join("results.jsonl.state.json");

    // First run: killed (SIGKILL) as soon as its first chunk is accepted.
    let mut child = batch_command(&input, &out, &server.url, "50")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while state_chunks(&state) == 0 {
        assert!(tokio::time::Instant::now() < deadline, "no chunk accepted");
        if child.try_wait().unwrap().is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    child.kill().ok();
    child.wait().unwrap();
    let after_kill = state_chunks(&state);
    assert!(after_kill >= 1);

    // Second run: interrupted like Ctrl-C (SIGINT) shortly after it starts.
    let mut child = batch_command(&input, &out, &server.url, "50")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Once it reports progress, it is running (and handling signals).
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut all = String::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(());
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    let _ = tokio::task::spawn_blocking(move || rx.recv_timeout(Duration::from_secs(30)))
        .await
        .unwrap();
    Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let status = child.wait().unwrap();
    let stderr = reader.join().unwrap();
    let code = status.code();
    assert!(
        code == Some(130) || code == Some(0),
        "Ctrl-C ends the run cleanly (130) unless it had finished: {status:?}\n{stderr}"
    );
    eprintln!(
        "killed with {after_kill} of 20 chunks accepted; the second run ended with {code:?} \
         having {} chunks and {} lines",
        state_chunks(&state),
        std::fs::read_to_string(&out).unwrap().lines().count()
    );
    if code == Some(130) {
        assert!(stderr.contains("run the same command again"), "{stderr}");
    }

    // A different input for the same output is refused, and nothing is submitted for it.
    let other = dir.path().join("other.jsonl");
    std::fs::write(&other, "\"something else\"\n").unwrap();
    let refused = batch_command(&other, &out, &server.url, "50")
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("another input file"),
        "{}",
        text(&refused)
    );

    // Third run: completes.
    let done = batch_command(&input, &out, &server.url, "50")
        .output()
        .unwrap();
    assert!(done.status.success(), "{}", text(&done));

    let lines: Vec<Value> = std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1000);
    let numbers: Vec<usize> = lines
        .iter()
        .map(|l| usize::try_from(l["line"].as_u64().unwrap()).unwrap())
        .collect();
    assert_eq!(numbers, expected_lines, "results are in input order");
    for line in &lines {
        assert_eq!(line["status"], "succeeded", "{line}");
        assert!(line["result"]["text"].is_string(), "{line}");
    }
    let ids: HashSet<&str> = lines
        .iter()
        .map(|l| l["job_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 1000, "one job per line");
    assert_eq!(state_chunks(&state), 20);
    server.stop().await;
    assert_eq!(jobs_in_store(&data), 1000, "no chunk was queued twice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_line_is_named_and_nothing_is_submitted() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Server::start(&data).await;
    let input = dir.path().join("prompts.jsonl");
    std::fs::write(
        &input,
        "\"fine\"\n\n{\"prompt\": \"x\", \"max_tokens\": -1}\n\"fine\"\n",
    )
    .unwrap();
    let out = dir.path().join("results.jsonl");
    let output = batch_command(&input, &out, &server.url, "500")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("prompts.jsonl:3:"), "{}", text(&output));
    assert!(!out.exists(), "no output is started");

    // A request only the server can judge (an unknown model) is named by its line too.
    std::fs::write(
        &input,
        "\"fine\"\n{\"prompt\": \"x\", \"model\": \"nope\"}\n",
    )
    .unwrap();
    let output = batch_command(&input, &out, &server.url, "500")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("line 2: model") && stderr.contains("nope"),
        "{}",
        text(&output)
    );
    server.stop().await;
    assert_eq!(jobs_in_store(&data), 0);
}
