//! The AWS mode end to end: `serve --backend aws` on moto's SQS and DynamoDB, with Bedrock calls
//! going to the project's simulator over HTTP through the AWS SDK.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use bedrock_lb::serve::ServeOptions;
use bedrock_lb_e2e::{
    TestServer, aws_config, moto_resources, moto_sdk_config, require_aws_environment_on_moto,
    submit, wait_for_job, wait_for_produced_job,
};
use serde_json::json;

#[tokio::test]
async fn a_prompt_runs_through_sqs_dynamodb_and_the_simulator() {
    require_aws_environment_on_moto();
    let simulator = bedrock_sim::spawn(bedrock_sim::SimConfig::sample())
        .await
        .unwrap();
    let (queue_url, table) = moto_resources().await;
    let config = aws_config(&queue_url, &table, &simulator.url());
    let server = TestServer::start(config, ServeOptions::default()).await;

    let job_id = submit(
        &server.url,
        json!({"prompt": "Write a haiku about rivers", "max_tokens": 100}),
    )
    .await;
    let job = wait_for_job(&server.url, &job_id, Duration::from_secs(30)).await;
    assert_eq!(job["status"], "succeeded", "{job:#}");
    assert!(!job["result"]["text"].as_str().unwrap().is_empty());
    assert!(job["result"]["usage"]["output_tokens"].as_u64().unwrap() <= 100);

    // The record really is in DynamoDB, and the message is gone from SQS.
    let sdk = moto_sdk_config();
    let item = aws_sdk_dynamodb::Client::new(&sdk)
        .get_item()
        .table_name(&table)
        .key("job_id", AttributeValue::S(job_id.clone()))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
        .expect("the job item exists");
    assert_eq!(item["status"], AttributeValue::S("succeeded".into()));
    let attributes = aws_sdk_sqs::Client::new(&sdk)
        .get_queue_attributes()
        .queue_url(&queue_url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::All)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap();
    use aws_sdk_sqs::types::QueueAttributeName::{
        ApproximateNumberOfMessages, ApproximateNumberOfMessagesNotVisible,
    };
    assert_eq!(attributes[&ApproximateNumberOfMessages], "0");
    assert_eq!(attributes[&ApproximateNumberOfMessagesNotVisible], "0");

    server.stop().await;
    simulator.shutdown().await;
}

#[tokio::test]
async fn messages_written_straight_to_sqs_become_jobs() {
    require_aws_environment_on_moto();
    let simulator = bedrock_sim::spawn(bedrock_sim::SimConfig::sample())
        .await
        .unwrap();
    let (queue_url, table) = moto_resources().await;
    let sqs = aws_sdk_sqs::Client::new(&moto_sdk_config());
    let send = |body: String| {
        let (sqs, queue_url) = (sqs.clone(), queue_url.clone());
        async move {
            sqs.send_message()
                .queue_url(queue_url)
                .message_body(body)
                .send()
                .await
                .unwrap()
                .message_id
                .unwrap()
        }
    };
    let producer_id = format!("producer-{}", uuid::Uuid::new_v4().simple());
    send(json!({"job_id": producer_id, "prompt": "from a producer", "max_tokens": 20}).to_string())
        .await;
    let plain_text_id = send("Plain text is the prompt".to_owned()).await;
    let garbage_id = send(json!({"prompt": "x", "colour": "red"}).to_string()).await;

    let server = TestServer::start(
        aws_config(&queue_url, &table, &simulator.url()),
        ServeOptions::default(),
    )
    .await;
    let job = wait_for_produced_job(&server.url, &producer_id, Duration::from_secs(30)).await;
    assert_eq!(job["status"], "succeeded", "{job:#}");
    let job = wait_for_produced_job(&server.url, &plain_text_id, Duration::from_secs(30)).await;
    assert_eq!(
        job["status"], "succeeded",
        "the SQS message id is the job id: {job:#}"
    );
    let job = wait_for_produced_job(&server.url, &garbage_id, Duration::from_secs(30)).await;
    assert_eq!(job["status"], "failed", "{job:#}");
    assert_eq!(job["error"]["type"], "invalid_message");
    assert!(job["error"]["message"].as_str().unwrap().contains("colour"));
    server.stop().await;
    simulator.shutdown().await;
}
