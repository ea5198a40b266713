//! Bad input through the whole `serve` stack answers 4xx with a JSON error body, never a 500.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use bedrock_lb::serve::ServeOptions;
use bedrock_lb_e2e::{TestServer, local_config};
use serde_json::{Value, json};

async fn post_invoke(base: &str, body: reqwest::Body, content_type: &str) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(format!("{base}/invoke"))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.expect("a JSON error body"))
}

#[tokio::test]
async fn bad_requests_are_answered_with_json_errors() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = local_config(dir.path());
    config.api.max_body_bytes = 4096;
    let server = TestServer::start(config, ServeOptions::default()).await;
    let url = server.url.clone();
    let json_body = |v: Value| reqwest::Body::from(v.to_string());

    let cases: Vec<(reqwest::Body, &str, u16, &str)> = vec![
        (
            json_body(json!({"promt": "x"})),
            "promt",
            400,
            "invalid_request",
        ),
        (
            json_body(json!({"prompt": "a", "messages": []})),
            "prompt",
            400,
            "validation_error",
        ),
        (json_body(json!({})), "required", 400, "validation_error"),
        (
            json_body(json!({"prompt": ""})),
            "empty",
            400,
            "validation_error",
        ),
        (
            json_body(json!({"prompt": "a", "max_tokens": 5000})),
            "max_tokens",
            400,
            "validation_error",
        ),
        (
            json_body(json!({"prompt": "a", "temperature": 3})),
            "temperature",
            400,
            "validation_error",
        ),
        (
            json_body(json!({"prompt": "a", "model": "gpt-9"})),
            "gpt-9",
            400,
            "validation_error",
        ),
        (
            reqwest::Body::from("{\"prompt\": "),
            "",
            400,
            "invalid_json",
        ),
        (
            json_body(json!({"prompt": "x".repeat(10_000)})),
            "",
            413,
            "payload_too_large",
        ),
    ];
    for (body, mentions, status, kind) in cases {
        let (got_status, error) = post_invoke(&url, body, "application/json").await;
        assert_eq!(got_status, status, "{error}");
        assert_eq!(error["error"]["type"], kind, "{error}");
        let message = error["error"]["message"].as_str().unwrap();
        assert!(
            message.contains(mentions),
            "`{message}` should mention `{mentions}`"
        );
    }

    let (status, error) = post_invoke(&url, "hi".into(), "text/plain").await;
    assert_eq!(status, 415, "{error}");

    let response = reqwest::get(format!("{url}/jobs/0190d4f2-0000-7000-8000-000000000000"))
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["error"]["type"], "not_found");

    let response = reqwest::get(format!("{url}/no/such/route")).await.unwrap();
    assert_eq!(response.status(), 404);
    assert!(response.json::<Value>().await.unwrap()["error"].is_object());
    server.stop().await;
}
