//! Shared helpers of the end-to-end tests: a bedrock-lb server on a loopback port, the
//! configuration for each mode, moto's endpoint, and polling a job until it finishes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod lambda_runtime;

use std::path::{Path, PathBuf};
use std::time::Duration;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use bedrock_lb::serve::{self, ServeOptions};
use bedrock_lb_config::{Backend, BedrockTarget, Config, DEFAULT_TOML};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// A bedrock-lb server (API, and the in-process worker unless disabled) on 127.0.0.1.
#[derive(Debug)]
pub struct TestServer {
    pub url: String,
    shutdown: CancellationToken,
    task: JoinHandle<anyhow::Result<()>>,
}

impl TestServer {
    /// Starts `serve` with `config` on a free port and waits until it answers.
    pub async fn start(config: Config, options: ServeOptions) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(serve::run(config, listener, options, shutdown.clone()));
        let server = Self {
            url,
            shutdown,
            task,
        };
        wait_until_healthy(&server.url).await;
        server
    }

    /// Stops the server the way Ctrl-C does and waits for it to finish.
    pub async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(30), self.task)
            .await
            .expect("server stops within 30 s")
            .expect("server task does not panic")
            .expect("server shuts down cleanly");
    }
}

/// Waits until `GET {base}/healthz` answers 200; panics after 5 s.
pub async fn wait_until_healthy(base: &str) {
    let client = reqwest::Client::new();
    for _ in 0..100 {
        if let Ok(response) = client.get(format!("{base}/healthz")).send().await
            && response.status().is_success()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("server at {base} never became healthy");
}

/// The built-in configuration on the local backend in `data_dir`, with a fast simulator.
pub fn local_config(data_dir: &Path) -> Config {
    let mut config = Config::from_toml_str(DEFAULT_TOML).unwrap();
    config.data_dir = data_dir.to_path_buf();
    config.simulator.first_token_ms = 5;
    config.simulator.per_output_token_ms = 0;
    config.worker.shutdown_grace_secs = 5;
    // Quota windows of a second: the configured quotas still apply, but a test's few hundred
    // calls never wait a real minute for them.
    config.routing.window_secs = 1.0;
    config
}

/// moto's server, started by scripts/test.sh.
pub fn moto_endpoint() -> String {
    std::env::var("MOTO_ENDPOINT").expect(
        "MOTO_ENDPOINT is not set: run the tests with scripts/test.sh, which starts moto's server",
    )
}

/// An SDK configuration for moto: static credentials, us-east-1.
pub fn moto_sdk_config() -> SdkConfig {
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(moto_endpoint())
        .credentials_provider(aws_sdk_sqs::config::SharedCredentialsProvider::new(
            aws_sdk_sqs::config::Credentials::new("test", "test", None, None, "test"),
        ))
        .build()
}

/// Checks that the standard AWS environment points at moto, as scripts/test.sh sets it, so
/// that binaries configured "the AWS way" talk to moto.
pub fn require_aws_environment_on_moto() {
    let endpoint = std::env::var("AWS_ENDPOINT_URL").unwrap_or_default();
    assert_eq!(
        endpoint,
        moto_endpoint(),
        "AWS_ENDPOINT_URL must point at moto: run the tests with scripts/test.sh"
    );
}

/// A fresh queue (with its dead-letter queue) and jobs table in moto, with unique names.
pub async fn moto_resources() -> (String, String) {
    let created = moto_resources_named("e2e", 5).await;
    (created.queue_url, created.table)
}

/// Queues and a jobs table created in moto for one test.
#[derive(Debug, Clone)]
pub struct MotoResources {
    pub queue_url: String,
    pub dead_letter_queue_url: String,
    /// The jobs table; also the unique `{prefix}-{uuid}` name of the queue.
    pub table: String,
}

/// A fresh queue named `{prefix}-{uuid}` whose messages move to its dead-letter queue after
/// `max_receive_count` receives, and a jobs table of the same name, in moto.
pub async fn moto_resources_named(prefix: &str, max_receive_count: u32) -> MotoResources {
    let sdk = moto_sdk_config();
    let name = format!("{prefix}-{}", uuid::Uuid::new_v4().simple());
    let urls = bedrock_lb_aws::provision::ensure_queue(
        &aws_sdk_sqs::Client::new(&sdk),
        &name,
        max_receive_count,
    )
    .await
    .unwrap();
    bedrock_lb_aws::provision::ensure_jobs_table(&aws_sdk_dynamodb::Client::new(&sdk), &name)
        .await
        .unwrap();
    MotoResources {
        queue_url: urls.queue_url,
        dead_letter_queue_url: urls.dead_letter_queue_url,
        table: name,
    }
}

/// Sends SIGTERM to `child` and waits (at most 15 s) for it to exit; returns how it exited.
pub async fn terminate(child: &mut tokio::process::Child) -> std::process::ExitStatus {
    let pid = child.id().expect("the child is still running");
    let sent = tokio::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .await
        .unwrap();
    assert!(sent.success(), "kill -TERM {pid}");
    tokio::time::timeout(Duration::from_secs(15), child.wait())
        .await
        .expect("the child exits within 15 s of SIGTERM")
        .unwrap()
}

/// The built-in configuration on the aws backend with the given queue and table, calling the
/// simulator at `simulator_url`.
pub fn aws_config(queue_url: &str, table: &str, simulator_url: &str) -> Config {
    let mut config = Config::from_toml_str(DEFAULT_TOML).unwrap();
    config.backend = Backend::Aws;
    config.queue_url = Some(queue_url.to_owned());
    config.jobs_table = Some(table.to_owned());
    config.bedrock.target = Some(BedrockTarget::Simulator);
    config.bedrock.endpoint_url = Some(simulator_url.to_owned());
    config.worker.wait_time_secs = 1;
    config.worker.shutdown_grace_secs = 5;
    config.routing.window_secs = 1.0;
    config.validate().unwrap();
    config
}

/// `POST /invoke` with `body`; returns the job id after checking the 202 answer.
pub async fn submit(base: &str, body: Value) -> String {
    let response = reqwest::Client::new()
        .post(format!("{base}/invoke"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202, "POST /invoke answers 202");
    let location = response
        .headers()
        .get("location")
        .expect("a Location header")
        .to_str()
        .unwrap()
        .to_owned();
    let body: Value = response.json().await.unwrap();
    let job_id = body["job_id"].as_str().unwrap().to_owned();
    assert_eq!(body["status"], "queued");
    assert_eq!(location, format!("/jobs/{job_id}"));
    job_id
}

/// `GET /jobs/{id}`: the status code and the JSON body.
pub async fn get_job(base: &str, job_id: &str) -> (u16, Value) {
    let response = reqwest::get(format!("{base}/jobs/{job_id}")).await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

/// `GET /jobs/{id}` until the job is finished; panics after `timeout`.
pub async fn wait_for_job(base: &str, job_id: &str, timeout: Duration) -> Value {
    poll_until_finished(base, job_id, timeout, false).await
}

/// Like [`wait_for_job`], but for a job whose record the worker creates (from a message written
/// straight to the queue): a 404 means "not received yet" until `timeout`.
pub async fn wait_for_produced_job(base: &str, job_id: &str, timeout: Duration) -> Value {
    poll_until_finished(base, job_id, timeout, true).await
}

async fn poll_until_finished(
    base: &str,
    job_id: &str,
    timeout: Duration,
    missing_is_pending: bool,
) -> Value {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let (status, job) = get_job(base, job_id).await;
        let pending = match status {
            200 => matches!(job["status"].as_str(), Some("queued" | "running")),
            404 if missing_is_pending => true,
            other => panic!("GET /jobs/{job_id} answered {other}: {job}"),
        };
        if !pending {
            return job;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "job {job_id} not finished after {timeout:?}: {job}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Path of a binary of the `bedrock-lb` package, built beside the test executables.
pub fn binary(name: &str) -> PathBuf {
    let deps = std::env::current_exe().unwrap();
    let dir = deps.parent().and_then(Path::parent).unwrap();
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: `cargo test --workspace` builds it (the bedrock-lb package's own tests need it)",
        path.display()
    );
    path
}
