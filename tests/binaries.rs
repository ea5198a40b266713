//! The three binaries as a user runs them: `bedrock-lb submit --wait` against a server,
//! `bedrock-lb-worker` draining SQS for an API-only server, and `bedrock-lb-lambda` serving the
//! Router both inside Lambda (through a stand-in for the Runtime API) and outside it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Stdio;
use std::time::Duration;

use bedrock_lb::serve::ServeOptions;
use bedrock_lb_e2e::lambda_runtime::{FakeLambdaRuntime, http_api_event};
use bedrock_lb_e2e::{
    TestServer, aws_config, binary, get_job, local_config, moto_resources,
    require_aws_environment_on_moto, submit, terminate, wait_for_job, wait_until_healthy,
};
use serde_json::json;
use tokio::process::Command;

#[tokio::test]
async fn submit_wait_prints_the_completion() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(local_config(dir.path()), ServeOptions::default()).await;
    let output = Command::new(binary("bedrock-lb"))
        .args([
            "submit",
            "Write a haiku",
            "--wait",
            "--max-tokens",
            "40",
            "--api",
            &server.url,
        ])
        .env("RUST_LOG", "warn")
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "stdout: {stdout}\nstderr: {stderr}"
    );
    assert!(!stdout.trim().is_empty(), "the completion is printed");
    assert!(stderr.contains("succeeded in"), "{stderr}");

    let output = Command::new(binary("bedrock-lb"))
        .args(["submit", "x", "--model", "nope", "--api", &server.url])
        .output()
        .await
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("unknown model `nope`"));
    server.stop().await;
}

#[tokio::test]
async fn a_standalone_worker_drains_the_queue_of_an_api_only_server() {
    require_aws_environment_on_moto();
    let simulator = bedrock_sim::spawn(bedrock_sim::SimConfig::sample())
        .await
        .unwrap();
    let (queue_url, table) = moto_resources().await;
    let api_only = ServeOptions {
        run_worker: false,
        ..ServeOptions::default()
    };
    let server =
        TestServer::start(aws_config(&queue_url, &table, &simulator.url()), api_only).await;
    let job_id = submit(
        &server.url,
        json!({"prompt": "for the worker process", "max_tokens": 30}),
    )
    .await;

    let mut worker = Command::new(binary("bedrock-lb-worker"))
        .args([
            "--backend",
            "aws",
            "--queue-url",
            &queue_url,
            "--jobs-table",
            &table,
        ])
        .args(["--bedrock", "sim", "--bedrock-endpoint", &simulator.url()])
        .env("BEDROCK_LB_WORKER__WAIT_TIME_SECS", "1")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let job = wait_for_job(&server.url, &job_id, Duration::from_secs(30)).await;
    assert_eq!(job["status"], "succeeded", "{job:#}");

    // SIGTERM stops it cleanly.
    let status = terminate(&mut worker).await;
    assert!(status.success(), "worker exits 0 on SIGTERM: {status}");
    server.stop().await;
    simulator.shutdown().await;
}

#[tokio::test]
async fn the_lambda_binary_serves_the_router_outside_lambda() {
    require_aws_environment_on_moto();
    let (queue_url, table) = moto_resources().await;
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let _lambda = Command::new(binary("bedrock-lb-lambda"))
        .env("BEDROCK_LB_QUEUE_URL", &queue_url)
        .env("BEDROCK_LB_JOBS_TABLE", &table)
        .env("BEDROCK_LB_LISTEN", format!("127.0.0.1:{port}"))
        .env_remove("AWS_LAMBDA_RUNTIME_API")
        .env("RUST_LOG", "warn")
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    wait_until_healthy(&base).await;
    let job_id = submit(&base, json!({"prompt": "via the lambda binary"})).await;
    let (status, job) = get_job(&base, &job_id).await;
    assert_eq!(status, 200);
    assert_eq!(job["status"], "queued");
}

#[tokio::test]
async fn the_lambda_binary_answers_api_gateway_events_through_the_runtime_api() {
    require_aws_environment_on_moto();
    let (queue_url, table) = moto_resources().await;
    let runtime = FakeLambdaRuntime::start().await;
    let _lambda = Command::new(binary("bedrock-lb-lambda"))
        .env("AWS_LAMBDA_RUNTIME_API", runtime.address())
        .env("AWS_LAMBDA_FUNCTION_NAME", "bedrock-lb-api")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("BEDROCK_LB_QUEUE_URL", &queue_url)
        .env("BEDROCK_LB_JOBS_TABLE", &table)
        .env("RUST_LOG", "warn")
        .kill_on_drop(true)
        .spawn()
        .unwrap();

    let body = json!({"prompt": "through API Gateway"});
    let answer = runtime
        .invoke(http_api_event("POST", "/invoke", Some(&body)))
        .await;
    assert_eq!(answer["statusCode"], 202, "{answer:#}");
    let submitted: serde_json::Value =
        serde_json::from_str(answer["body"].as_str().unwrap()).unwrap();
    let job_id = submitted["job_id"].as_str().unwrap();
    assert_eq!(submitted["status"], "queued");

    let answer = runtime
        .invoke(http_api_event("GET", &format!("/jobs/{job_id}"), None))
        .await;
    assert_eq!(answer["statusCode"], 200, "{answer:#}");
    let job: serde_json::Value = serde_json::from_str(answer["body"].as_str().unwrap()).unwrap();
    assert_eq!(job["job_id"], job_id);
    assert_eq!(job["status"], "queued");

    let bad = json!({"prompt": ""});
    let answer = runtime
        .invoke(http_api_event("POST", "/invoke", Some(&bad)))
        .await;
    assert_eq!(answer["statusCode"], 400, "{answer:#}");
    let error: serde_json::Value = serde_json::from_str(answer["body"].as_str().unwrap()).unwrap();
    assert_eq!(error["error"]["type"], "validation_error");
}
