//! The local mode end to end over real HTTP: the embedded store and queue, the in-process worker
//! and the in-process simulator, as `bedrock-lb serve` runs them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::time::Duration;

use bedrock_lb::serve::ServeOptions;
use bedrock_lb_core::tokens::estimate_tokens;
use bedrock_lb_e2e::{TestServer, get_job, local_config, submit, wait_for_job};
use chrono::DateTime;
use serde_json::json;

const HAIKU: &str = "anthropic.claude-3-haiku-20240307-v1:0";
const REGIONS: [&str; 3] = ["eu-west-1", "us-east-1", "us-west-2"];

#[tokio::test]
async fn a_prompt_goes_from_post_invoke_to_succeeded() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(local_config(dir.path()), ServeOptions::default()).await;
    let prompt = "Write a haiku about rivers";

    let job_id = submit(
        &server.url,
        json!({"prompt": prompt, "max_tokens": 200, "metadata": {"team": "docs"}}),
    )
    .await;
    let job = wait_for_job(&server.url, &job_id, Duration::from_secs(20)).await;

    assert_eq!(job["status"], "succeeded", "{job:#}");
    assert_eq!(job["job_id"], job_id.as_str());
    assert_eq!(job["model"], "claude-3-haiku");
    assert_eq!(job["metadata"], json!({"team": "docs"}));
    let result = &job["result"];
    assert!(!result["text"].as_str().unwrap().is_empty());
    assert!(["end_turn", "max_tokens"].contains(&result["stop_reason"].as_str().unwrap()));
    assert!(REGIONS.contains(&result["region"].as_str().unwrap()));
    assert_eq!(result["model_id"], HAIKU);
    let usage = &result["usage"];
    let input = usage["input_tokens"].as_u64().unwrap();
    let output = usage["output_tokens"].as_u64().unwrap();
    assert_eq!(input, u64::from(estimate_tokens(prompt)));
    assert!((1..=200).contains(&output));
    assert_eq!(usage["total_tokens"].as_u64().unwrap(), input + output);
    assert!(result["latency_ms"].is_u64());
    let attempts = job["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0]["outcome"], "succeeded");
    assert_eq!(attempts[0]["region"], result["region"]);
    for field in ["created_at", "updated_at"] {
        DateTime::parse_from_rfc3339(job[field].as_str().unwrap()).expect("RFC 3339 timestamps");
    }
    assert!(job.get("error").is_none_or(serde_json::Value::is_null));
    server.stop().await;
}

#[tokio::test]
async fn jobs_spread_over_every_region_of_the_model() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(local_config(dir.path()), ServeOptions::default()).await;
    let mut ids = Vec::new();
    for i in 0..9 {
        ids.push(
            submit(
                &server.url,
                json!({"prompt": format!("question {i}"), "max_tokens": 50}),
            )
            .await,
        );
    }
    let mut regions = BTreeSet::new();
    for id in &ids {
        let job = wait_for_job(&server.url, id, Duration::from_secs(20)).await;
        assert_eq!(job["status"], "succeeded", "{job:#}");
        regions.insert(job["result"]["region"].as_str().unwrap().to_owned());
    }
    assert_eq!(
        regions.len(),
        3,
        "all three regions served jobs: {regions:?}"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_conversation_with_a_system_prompt_runs_on_the_named_model() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(local_config(dir.path()), ServeOptions::default()).await;
    let body = json!({
        "model": "claude-sonnet-4",
        "system": "Answer briefly.",
        "messages": [
            {"role": "user", "content": [{"text": "Name a river."}]},
            {"role": "assistant", "content": [{"text": "The Danube."}]},
            {"role": "user", "content": [{"text": "Another one?"}]}
        ],
        "max_tokens": 64,
        "temperature": 0.2,
        "top_p": 0.9,
        "stop_sequences": ["END"]
    });
    let job_id = submit(&server.url, body).await;
    let job = wait_for_job(&server.url, &job_id, Duration::from_secs(20)).await;
    assert_eq!(job["status"], "succeeded", "{job:#}");
    assert_eq!(job["model"], "claude-sonnet-4");
    let model_id = job["result"]["model_id"].as_str().unwrap();
    assert!(
        model_id.ends_with("anthropic.claude-sonnet-4-20250514-v1:0"),
        "{model_id}"
    );
    assert!(job["result"]["usage"]["output_tokens"].as_u64().unwrap() <= 64);
    server.stop().await;
}

#[tokio::test]
async fn a_restart_keeps_queued_and_finished_jobs() {
    let dir = tempfile::tempdir().unwrap();

    // First run: a job finishes.
    let server = TestServer::start(local_config(dir.path()), ServeOptions::default()).await;
    let finished_id = submit(
        &server.url,
        json!({"prompt": "before the restart", "max_tokens": 30}),
    )
    .await;
    let finished = wait_for_job(&server.url, &finished_id, Duration::from_secs(20)).await;
    assert_eq!(finished["status"], "succeeded");
    server.stop().await;

    // Second run, API only: a job is accepted and stays queued.
    let api_only = ServeOptions {
        run_worker: false,
        ..ServeOptions::default()
    };
    let server = TestServer::start(local_config(dir.path()), api_only.clone()).await;
    let queued_id = submit(
        &server.url,
        json!({"prompt": "across the restart", "max_tokens": 30}),
    )
    .await;
    server.stop().await;

    // Third run, API only: both are still there as they were.
    let server = TestServer::start(local_config(dir.path()), api_only).await;
    let (_, still_finished) = get_job(&server.url, &finished_id).await;
    assert_eq!(still_finished, finished, "a finished job is kept unchanged");
    let (_, still_queued) = get_job(&server.url, &queued_id).await;
    assert_eq!(still_queued["status"], "queued");
    server.stop().await;

    // Fourth run, with the worker: the queued job's message survived and is processed.
    let server = TestServer::start(local_config(dir.path()), ServeOptions::default()).await;
    let job = wait_for_job(&server.url, &queued_id, Duration::from_secs(20)).await;
    assert_eq!(job["status"], "succeeded", "{job:#}");
    server.stop().await;
}
