//! Producers that write straight to SQS with the AWS SDK: every kind of message ends as the
//! README's message schema says. Runnable messages succeed and answer GET /jobs/{id} (their
//! `job_id`, else the SQS message id); messages that cannot be run end `failed` with the reason,
//! are deleted from the work queue and copied to the dead-letter queue; and a message the queue
//! dead-letters fails its job with type `dead_lettered`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use aws_sdk_sqs::types::{MessageAttributeValue, QueueAttributeName};
use bedrock_lb::serve::ServeOptions;
use bedrock_lb_e2e::{
    TestServer, aws_config, moto_resources_named, moto_sdk_config, require_aws_environment_on_moto,
    wait_for_produced_job,
};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(40);

#[tokio::test]
async fn every_kind_of_producer_message_ends_as_documented() {
    require_aws_environment_on_moto();
    let simulator = bedrock_sim::spawn(bedrock_sim::SimConfig::sample())
        .await
        .unwrap();
    let sdk = moto_sdk_config();
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    // Two receives before the redrive policy moves a message to the dead-letter queue.
    let urls = moto_resources_named("producers", 2).await;
    let name = urls.table.clone();
    let send = |body: String, model: Option<&str>| {
        let (sqs, url) = (sqs.clone(), urls.queue_url.clone());
        let attribute = model.map(|m| {
            MessageAttributeValue::builder()
                .data_type("String")
                .string_value(m)
                .build()
                .unwrap()
        });
        async move {
            let mut request = sqs.send_message().queue_url(url).message_body(body);
            if let Some(attribute) = attribute {
                request = request.message_attributes("model", attribute);
            }
            request.send().await.unwrap().message_id.unwrap()
        }
    };

    // A message the queue dead-letters before any worker sees it: received twice, never
    // deleted (a worker that died twice).
    let dead_id = format!("dead-{}", uuid::Uuid::new_v4().simple());
    send(
        json!({"job_id": dead_id, "prompt": "never finished"}).to_string(),
        None,
    )
    .await;
    for _ in 0..2 {
        let got = sqs
            .receive_message()
            .queue_url(&urls.queue_url)
            .visibility_timeout(0)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap();
        assert_eq!(got.messages.unwrap_or_default().len(), 1);
    }

    let with_id = format!("producer-{}", uuid::Uuid::new_v4().simple());
    send(
        json!({"job_id": with_id, "prompt": "with an id", "max_tokens": 20}).to_string(),
        None,
    )
    .await;
    let without_id = send(
        json!({"prompt": "without an id", "max_tokens": 20}).to_string(),
        None,
    )
    .await;
    let plain = send("Plain text is the prompt".into(), None).await;
    let plain_model = send("Plain text on another model".into(), Some("nova-lite")).await;
    let unknown_model = send("Plain text on a model nobody has".into(), Some("gpt-9")).await;
    let bad_request = send(json!({"prompt": "x", "colour": "red"}).to_string(), None).await;
    let not_an_object = send("[1, 2, 3]".into(), None).await;
    let bad_id = send(
        json!({"job_id": "has spaces", "prompt": "x"}).to_string(),
        None,
    )
    .await;

    let server = TestServer::start(
        aws_config(&urls.queue_url, &name, &simulator.url()),
        ServeOptions::default(),
    )
    .await;
    let base = server.url.clone();
    let job = |id: String| {
        let base = base.clone();
        async move { wait_for_produced_job(&base, &id, WAIT).await }
    };

    for id in [&with_id, &without_id, &plain] {
        let done = job(id.clone()).await;
        assert_eq!(done["status"], "succeeded", "{done:#}");
        assert_eq!(done["job_id"], id.as_str());
    }
    let done = job(plain_model.clone()).await;
    assert_eq!(done["status"], "succeeded", "{done:#}");
    assert_eq!(
        done["model"], "nova-lite",
        "the model attribute names the model: {done:#}"
    );

    let failed = [
        (unknown_model, "validation_error", "gpt-9"),
        (bad_request, "invalid_message", "colour"),
        (not_an_object, "invalid_message", "not an object"),
        (bad_id, "invalid_message", "job_id"),
    ];
    for (id, kind, says) in &failed {
        let done = job(id.clone()).await;
        assert_failed(&done, kind, says);
    }
    let done = job(dead_id.clone()).await;
    assert_failed(&done, "dead_lettered", "without the job finishing");

    // Nothing is left in the work queue; the dead-letter queue keeps the dead-lettered message
    // and a copy of each message that could not be run.
    let counts = |url: String| {
        let sqs = sqs.clone();
        async move {
            let attributes = sqs
                .get_queue_attributes()
                .queue_url(url)
                .attribute_names(QueueAttributeName::All)
                .send()
                .await
                .unwrap()
                .attributes
                .unwrap();
            let n = |a: QueueAttributeName| attributes[&a].parse::<usize>().unwrap();
            n(QueueAttributeName::ApproximateNumberOfMessages)
                + n(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
        }
    };
    assert_eq!(
        counts(urls.queue_url.clone()).await,
        0,
        "work queue drained"
    );
    assert_eq!(
        counts(urls.dead_letter_queue_url.clone()).await,
        1 + failed.len(),
        "dead letters are kept, never deleted"
    );
    server.stop().await;
    simulator.shutdown().await;
}

fn assert_failed(job: &Value, kind: &str, says: &str) {
    assert_eq!(job["status"], "failed", "{job:#}");
    assert_eq!(job["error"]["type"], kind, "{job:#}");
    let message = job["error"]["message"].as_str().unwrap();
    assert!(
        message.contains(says),
        "{message:?} should mention {says:?}"
    );
}
