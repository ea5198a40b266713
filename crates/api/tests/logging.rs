//! What the API logs: a span per request with the method, the matched route and the job id,
//! an event with the status, and never the prompt or the completion text.
//!
//! Its own test binary, because it installs a global subscriber.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io;
use std::sync::{Arc, Mutex};

use bedrock_lb_core::{JobCompletion, JobId, JobResult, Lease, Usage};
use chrono::{Duration, Utc};
use common::{TestApi, json_of};
use serde_json::json;

/// A log sink the test can read back.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

#[tokio::test]
async fn logs_carry_ids_and_statuses_but_no_text() {
    let logs = Captured::default();
    let writer = logs.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .init();

    let api = TestApi::start().await;
    let prompt = "PROMPT-SECRET-7f3a";
    let completion = "COMPLETION-SECRET-91bc";
    let (status, body) = json_of(api.invoke(json!({"prompt": prompt})).await).await;
    assert_eq!(status, 202);
    let id: JobId = body["job_id"].as_str().unwrap().parse().unwrap();

    let lease = Lease {
        owner: "w".into(),
        expires_at: Utc::now() + Duration::seconds(60),
    };
    api.store.claim(&id, &lease, Utc::now()).await.unwrap();
    let result = JobResult {
        text: completion.into(),
        stop_reason: "end_turn".into(),
        region: "us-east-1".into(),
        model_id: "vendor.small-v1:0".into(),
        usage: Usage::default(),
        latency_ms: 1,
    };
    let done = JobCompletion::succeeded(result, vec![], Utc::now());
    api.store.complete(&id, "w", &done).await.unwrap();
    let (status, job) = api.get_json(&format!("/jobs/{id}")).await;
    assert_eq!(status, 200);
    assert_eq!(
        job["result"]["text"], completion,
        "the client does get the text"
    );
    let (status, _) = json_of(
        api.invoke(json!({"prompt": prompt, "temperature": 5}))
            .await,
    )
    .await;
    assert_eq!(status, 400);

    let text = logs.text();
    let invoke_line = text
        .lines()
        .find(|l| {
            l.contains("request answered")
                && l.contains("route=/invoke")
                && l.contains("status=202")
        })
        .unwrap_or_else(|| panic!("no invoke status line in:\n{text}"));
    assert!(invoke_line.contains("method=POST"), "{invoke_line}");
    assert!(
        invoke_line.contains(id.as_str()),
        "job id in the span: {invoke_line}"
    );
    let get_line = text
        .lines()
        .find(|l| l.contains("route=/jobs/{id}") && l.contains("status=200"))
        .unwrap_or_else(|| panic!("no GET status line in:\n{text}"));
    assert!(get_line.contains(id.as_str()), "{get_line}");
    assert!(text.contains("status=400"), "{text}");
    assert!(
        !text.contains(prompt),
        "prompt text leaked into logs:\n{text}"
    );
    assert!(
        !text.contains(completion),
        "completion leaked into logs:\n{text}"
    );
}
