//! `bedrock-lb serve --api-key` as a process, and the API-calling commands against it:
//! unauthenticated calls refused (401), `submit`, `jobs cancel`, `jobs get --wait` and
//! `batches get` with the key.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_bedrock-lb");
const KEY: &str = "correct horse battery staple";

/// `bedrock-lb serve` on a free port; killed on drop.
struct ServeProcess {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `serve` with `args` and reads its address from the start-up log line.
async fn serve(args: &[&str]) -> ServeProcess {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(BIN)
        .arg("serve")
        .args(["--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .args(args)
        .env("RUST_LOG", "info")
        .env_remove("BEDROCK_LB_CONFIG")
        .env_remove("BEDROCK_LB_CONFIG_TOML")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel();
    // Reads the log to the end, so that the server never blocks on a full pipe.
    tokio::task::spawn_blocking(move || {
        let mut tx = Some(tx);
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(at) = line.find("listening on http://") {
                let rest = &line[at + "listening on ".len()..];
                let url = rest.split([';', ' ']).next().unwrap_or("").to_owned();
                if let Some(tx) = tx.take() {
                    let _ = tx.send(url);
                }
            }
        }
    });
    let url = tokio::time::timeout(Duration::from_secs(30), rx)
        .await
        .expect("serve starts within 30 s")
        .expect("serve logs its address");
    ServeProcess {
        child,
        url,
        _dir: dir,
    }
}

fn cli(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env("RUST_LOG", "warn")
        .env_remove("BEDROCK_LB_API_KEY")
        .output()
        .unwrap()
}

fn stdout_json(output: &Output) -> Value {
    assert!(
        output.status.success(),
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_with_an_api_key_lets_only_key_holders_in() {
    let server = serve(&["--api-key", KEY, "--no-worker"]).await;
    let url = server.url.clone();
    let http = reqwest::Client::new();
    let body = json!({"prompt": "hello", "max_tokens": 8});

    let anonymous = http
        .post(format!("{url}/invoke"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    let error: Value = anonymous.json().await.unwrap();
    assert_eq!(error["error"]["type"], "unauthorized");
    let wrong = http
        .post(format!("{url}/invoke"))
        .header("x-api-key", "not the key")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let accepted = http
        .post(format!("{url}/invoke"))
        .header("x-api-key", KEY)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(accepted.status(), 202);
    let health = http.get(format!("{url}/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200, "health stays open");

    // The CLI without the key is refused; with it (flag or environment) it works.
    let refused = cli(&["submit", "hi", "--api", &url]);
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("401"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    let submitted = cli(&["submit", "hi", "--api", &url, "--api-key", KEY]);
    assert!(submitted.status.success(), "{submitted:?}");
    let job_id = String::from_utf8_lossy(&submitted.stdout).trim().to_owned();

    // No worker runs, so the job stays queued and can be cancelled.
    let cancelled = stdout_json(&cli(&[
        "jobs",
        "cancel",
        &job_id,
        "--api",
        &url,
        "--api-key",
        KEY,
    ]));
    assert_eq!(cancelled["status"], "cancelled");
    let again = cli(&["jobs", "cancel", &job_id, "--api", &url, "--api-key", KEY]);
    assert!(!again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("409"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    let waited = Command::new(BIN)
        .args(["jobs", "get", &job_id, "--wait", "5", "--api", &url])
        .env("BEDROCK_LB_API_KEY", KEY)
        .output()
        .unwrap();
    assert_eq!(stdout_json(&waited)["status"], "cancelled");

    // A batch, read back by `batches get`.
    let batch = http
        .post(format!("{url}/batch"))
        .header("x-api-key", KEY)
        .json(&json!({"requests": ["a", "b", {"prompt": "c"}], "defaults": {"max_tokens": 4}}))
        .send()
        .await
        .unwrap();
    assert_eq!(batch.status(), 202);
    let batch: Value = batch.json().await.unwrap();
    let batch_id = batch["batch_id"].as_str().unwrap();
    let view = stdout_json(&cli(&[
        "batches",
        "get",
        batch_id,
        "--api",
        &url,
        "--api-key",
        KEY,
    ]));
    assert_eq!(view["total"], 3);
    assert_eq!(view["counts"]["queued"], 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_get_wait_returns_when_the_job_finishes() {
    let server = serve(&[]).await;
    let url = server.url.clone();
    let submitted = cli(&["submit", "hello there", "--max-tokens", "8", "--api", &url]);
    assert!(submitted.status.success(), "{submitted:?}");
    let job_id = String::from_utf8_lossy(&submitted.stdout).trim().to_owned();
    let job = stdout_json(&cli(&[
        "jobs", "get", &job_id, "--wait", "60", "--api", &url,
    ]));
    assert_eq!(job["status"], "succeeded", "{job}");
    let missing = cli(&["jobs", "get", "no-such-job", "--api", &url]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("404"));
}
