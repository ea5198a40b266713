//! Batch submission end to end in local mode: 1,000 prompts through `POST /batch`, followed
//! through `GET /batches/{id}` and `/results`, replayed with the same `Idempotency-Key`; and
//! the same 1,000 prompts through the `bedrock-lb batch` binary.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;
use std::time::Duration;

use bedrock_lb::serve::ServeOptions;
use bedrock_lb_e2e::{TestServer, binary, local_config};
use serde_json::{Value, json};

const N: usize = 1000;

async fn batch_view(http: &reqwest::Client, base: &str, batch_id: &str) -> Value {
    let response = http
        .get(format!("{base}/batches/{batch_id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_prompts_through_post_batch() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(local_config(dir.path()), ServeOptions::default()).await;
    let http = reqwest::Client::new();
    let requests: Vec<Value> = (0..N)
        .map(|i| {
            if i % 2 == 0 {
                json!(format!("prompt {i}"))
            } else {
                json!({"prompt": format!("prompt {i}"), "temperature": 0.2})
            }
        })
        .collect();
    let body = json!({"requests": requests, "defaults": {"max_tokens": 16}});
    let key = format!("e2e-batch-{}", uuid::Uuid::new_v4());
    let response = http
        .post(format!("{}/batch", server.url))
        .header("idempotency-key", &key)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let accepted: Value = response.json().await.unwrap();
    let batch_id = accepted["batch_id"].as_str().unwrap().to_owned();
    let job_ids: Vec<String> = accepted["job_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|id| id.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(job_ids.len(), N);
    assert_eq!(job_ids.iter().collect::<HashSet<_>>().len(), N);

    // The same key and body again: the same jobs, nothing new queued.
    let replay = http
        .post(format!("{}/batch", server.url))
        .header("idempotency-key", &key)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status(), 202);
    let replay: Value = replay.json().await.unwrap();
    assert_eq!(replay["batch_id"], accepted["batch_id"]);
    assert_eq!(replay["job_ids"], accepted["job_ids"]);

    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    let view = loop {
        let view = batch_view(&http, &server.url, &batch_id).await;
        if view["counts"]["succeeded"] == N {
            break view;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "batch not finished: {}",
            view["counts"]
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(view["total"], N, "the replay queued nothing new");

    // Job ids page through in submission order.
    let mut paged = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let mut url = format!("{}/batches/{batch_id}?limit=300", server.url);
        if let Some(after) = &after {
            url.push_str(&format!("&after={after}"));
        }
        let page: Value = http.get(url).send().await.unwrap().json().await.unwrap();
        paged.extend(
            page["job_ids"]
                .as_array()
                .unwrap()
                .iter()
                .map(|id| id.as_str().unwrap().to_owned()),
        );
        after = page["next"].as_str().map(str::to_owned);
        if after.is_none() {
            break;
        }
    }
    assert_eq!(paged, job_ids);

    let results = http
        .get(format!("{}/batches/{batch_id}/results", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(results.status(), 200);
    let text = results.text().await.unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), N);
    let result_ids: Vec<&str> = lines
        .iter()
        .map(|l| l["job_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        result_ids,
        job_ids.iter().map(String::as_str).collect::<Vec<_>>()
    );
    assert!(
        lines
            .iter()
            .all(|l| l["status"] == "succeeded" && l["result"]["text"].is_string())
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_prompts_through_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(
        local_config(&dir.path().join("data")),
        ServeOptions::default(),
    )
    .await;
    let input = dir.path().join("prompts.jsonl");
    let body: String = (0..N).map(|i| format!("\"prompt {i}\"\n")).collect();
    std::fs::write(&input, body).unwrap();
    let out = dir.path().join("results.jsonl");
    let output = tokio::process::Command::new(binary("bedrock-lb"))
        .arg("batch")
        .arg(&input)
        .arg("--out")
        .arg(&out)
        .args(["--api", &server.url, "--max-tokens", "16", "--chunk", "250"])
        .env("RUST_LOG", "warn")
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains("1000 results written"),
        "plain progress lines: {stderr}"
    );
    let lines: Vec<Value> = std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), N);
    for (i, line) in lines.iter().enumerate() {
        assert_eq!(line["line"], i + 1);
        assert_eq!(line["status"], "succeeded");
    }

    // Running it again finds everything done: nothing is submitted or written again.
    let before = std::fs::read(&out).unwrap();
    let again = tokio::process::Command::new(binary("bedrock-lb"))
        .arg("batch")
        .arg(&input)
        .arg("--out")
        .arg(&out)
        .args(["--api", &server.url, "--max-tokens", "16", "--chunk", "250"])
        .output()
        .await
        .unwrap();
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    assert_eq!(std::fs::read(&out).unwrap(), before);
    server.stop().await;
}
