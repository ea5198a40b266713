//! POST /batch throughput: jobs per second accepted in 1000-request batches, over real HTTP,
//! in local mode (SQLite file) and against moto's SQS and DynamoDB. Ignored by default (it
//! measures, it does not check behaviour beyond every batch being accepted); run with
//! `MOTO_ENDPOINT=... cargo test -p bedrock-lb-api --release --test bench_batch -- --ignored --nocapture`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_sqs::config::{Credentials, SharedCredentialsProvider};
use bedrock_lb_api::ApiLimits;
use bedrock_lb_aws::provision::{ensure_jobs_table, ensure_queue};
use bedrock_lb_aws::{DynamoJobStore, SqsQueue};
use bedrock_lb_core::{JobQueue, JobStore, SystemClock};
use bedrock_lb_embedded::{EmbeddedDb, QueueSettings};
use common::TestApi;
use serde_json::{Value, json};

const PER_BATCH: usize = 1000;

async fn measure(api: &TestApi, label: &str, batches: usize) -> f64 {
    let requests: Vec<Value> = (0..PER_BATCH)
        .map(|i| json!({"prompt": format!("benchmark prompt number {i}"), "max_tokens": 50}))
        .collect();
    let body = json!({"requests": requests});
    let started = tokio::time::Instant::now();
    for _ in 0..batches {
        let (status, answer) = api.post_json("/batch", &body, &[]).await;
        assert_eq!(status, 202, "{answer}");
        assert_eq!(answer["count"], PER_BATCH);
    }
    let secs = started.elapsed().as_secs_f64();
    let rate = (batches * PER_BATCH) as f64 / secs;
    println!(
        "POST /batch {label}: {} jobs in {batches} batches of {PER_BATCH} in {secs:.2} s = {rate:.0} jobs/s",
        batches * PER_BATCH
    );
    rate
}

#[tokio::test]
#[ignore = "benchmark: run with --ignored --nocapture"]
async fn batch_throughput_local() {
    let dir = tempfile::tempdir().unwrap();
    let db = EmbeddedDb::open(&dir.path().join("bench.db"), Arc::new(SystemClock)).unwrap();
    let store: Arc<dyn JobStore> = Arc::new(db.job_store());
    let queue: Arc<dyn JobQueue> = Arc::new(db.queue(QueueSettings::default()));
    let api = TestApi::start_with(Some(store), Some(queue), ApiLimits::default()).await;
    assert!(measure(&api, "local (SQLite file)", 5).await > 0.0);
}

#[tokio::test]
#[ignore = "benchmark against moto: needs MOTO_ENDPOINT"]
async fn batch_throughput_moto() {
    let endpoint = std::env::var("MOTO_ENDPOINT").expect("MOTO_ENDPOINT");
    let config = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            "testing", "testing", None, None, "moto",
        )))
        .retry_config(RetryConfig::disabled())
        .build();
    let name = format!("bench-{}", uuid::Uuid::new_v4().simple());
    let sqs = aws_sdk_sqs::Client::new(&config);
    let dynamo = aws_sdk_dynamodb::Client::new(&config);
    let urls = ensure_queue(&sqs, &name, 5).await.unwrap();
    ensure_jobs_table(&dynamo, &name).await.unwrap();
    let store: Arc<dyn JobStore> = Arc::new(DynamoJobStore::new(dynamo, name));
    let queue: Arc<dyn JobQueue> = Arc::new(SqsQueue::new(sqs, urls.queue_url));
    let api = TestApi::start_with(Some(store), Some(queue), ApiLimits::default()).await;
    assert!(measure(&api, "moto (SQS + DynamoDB)", 2).await > 0.0);
}
