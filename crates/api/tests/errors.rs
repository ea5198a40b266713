//! Every bad request gets a JSON error with the right status, type and a message naming the
//! problem, over real HTTP; no axum plain-text rejection leaks out. Nothing is queued for a
//! rejected request.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use bedrock_lb_api::ApiLimits;
use common::{TestApi, assert_error, json_of};
use serde_json::{Value, json};

/// POSTs `body` as JSON and checks status, error type, message and (for validation errors)
/// the field.
async fn expect_rejected(api: &TestApi, body: Value, status: u16, kind: &str, needles: &[&str]) {
    let (got, answer) = json_of(api.invoke(body.clone()).await).await;
    assert_eq!(got, status, "for {body}: {answer}");
    assert_error(&answer, kind, needles);
}

async fn expect_invalid_field(api: &TestApi, body: Value, field: &str, needles: &[&str]) {
    let (got, answer) = json_of(api.invoke(body.clone()).await).await;
    assert_eq!(got, 400, "for {body}: {answer}");
    assert_error(&answer, "validation_error", needles);
    assert_eq!(answer["error"]["field"], field, "for {body}: {answer}");
}

#[tokio::test]
async fn wrong_shapes_are_invalid_request_naming_the_problem() {
    let api = TestApi::start().await;
    expect_rejected(
        &api,
        json!({"promt": "typo"}),
        400,
        "invalid_request",
        &["unknown field `promt`"],
    )
    .await;
    expect_rejected(
        &api,
        json!({"prompt": "x", "max_tokens": "ten"}),
        400,
        "invalid_request",
        &["invalid type", "u32"],
    )
    .await;
    // serde would read a struct from an array by position; the API must not.
    expect_rejected(
        &api,
        json!(["hello"]),
        400,
        "invalid_request",
        &["must be a JSON object", "array"],
    )
    .await;
    expect_rejected(&api, json!(null), 400, "invalid_request", &["JSON object"]).await;
    expect_rejected(&api, json!("hi"), 400, "invalid_request", &["a string"]).await;
    assert!(api.drain_queue().await.is_empty(), "nothing was queued");
}

#[tokio::test]
async fn rule_breaks_are_validation_errors_naming_the_field() {
    let api = TestApi::start().await;
    let both = json!({"prompt": "a", "messages": [{"role": "user", "content": [{"text": "b"}]}]});
    expect_invalid_field(&api, both, "prompt", &["not both"]).await;
    expect_invalid_field(&api, json!({"system": "s"}), "prompt", &["required"]).await;
    expect_invalid_field(&api, json!({"prompt": "   "}), "prompt", &["empty"]).await;
    expect_invalid_field(
        &api,
        json!({"prompt": "a", "max_tokens": 0}),
        "max_tokens",
        &["between 1 and 1000"],
    )
    .await;
    expect_invalid_field(
        &api,
        json!({"prompt": "a", "max_tokens": 1001}),
        "max_tokens",
        &["between 1 and 1000", "1001"],
    )
    .await;
    expect_invalid_field(
        &api,
        json!({"prompt": "a", "temperature": 2}),
        "temperature",
        &["between 0 and 1"],
    )
    .await;
    expect_invalid_field(
        &api,
        json!({"prompt": "a", "model": "gpt-9"}),
        "model",
        &["gpt-9", "small", "large"],
    )
    .await;
    // The same max_tokens is fine on the larger model.
    let (status, body) = json_of(
        api.invoke(json!({"prompt": "a", "model": "large", "max_tokens": 1001}))
            .await,
    )
    .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(
        api.drain_queue().await.len(),
        1,
        "only the valid job was queued"
    );
}

#[tokio::test]
async fn malformed_json_is_invalid_json_with_its_position() {
    let api = TestApi::start().await;
    let (status, body) = json_of(
        api.invoke_raw("{\"prompt\": \"x\",\n  oops}", Some("application/json"))
            .await,
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_error(&body, "invalid_json", &["line 2", "column"]);
    let (status, body) = json_of(api.invoke_raw("", None).await).await;
    assert_eq!(status, 400, "{body}");
    assert_error(&body, "invalid_json", &["EOF"]);
}

#[tokio::test]
async fn a_body_over_the_limit_is_413() {
    let api = TestApi::start().await;
    let prompt = "a".repeat(bedrock_lb_api::DEFAULT_MAX_BODY_BYTES + 1);
    let (status, body) = json_of(api.invoke(json!({"prompt": prompt})).await).await;
    assert_eq!(status, 413, "{body}");
    assert_error(&body, "payload_too_large", &["262144"]);

    let small = TestApi::start_with(
        None,
        None,
        ApiLimits {
            max_body_bytes: 64,
            ..ApiLimits::default()
        },
    )
    .await;
    let (status, body) = json_of(small.invoke(json!({"prompt": "a".repeat(65)})).await).await;
    assert_eq!(status, 413, "{body}");
    assert_error(&body, "payload_too_large", &["64 bytes"]);
    let (status, body) = json_of(small.invoke(json!({"prompt": "fits"})).await).await;
    assert_eq!(status, 202, "{body}");
}

#[tokio::test]
async fn a_non_json_content_type_is_415() {
    let api = TestApi::start().await;
    let (status, body) = json_of(
        api.invoke_raw(r#"{"prompt": "x"}"#, Some("text/plain"))
            .await,
    )
    .await;
    assert_eq!(status, 415, "{body}");
    assert_error(&body, "unsupported_media_type", &["text/plain"]);
    let (status, body) = json_of(
        api.invoke_raw("prompt=x", Some("application/x-www-form-urlencoded"))
            .await,
    )
    .await;
    assert_eq!(status, 415, "{body}");
    assert!(api.drain_queue().await.is_empty());
}

#[tokio::test]
async fn unknown_routes_are_404_json() {
    let api = TestApi::start().await;
    for path in ["/", "/nope", "/jobs", "/jobs/a/b", "/invoke/extra"] {
        let (status, body) = api.get_json(path).await;
        assert_eq!(status, 404, "{path}: {body}");
        assert_error(&body, "not_found", &[path]);
    }
    let response = api
        .client
        .post(api.url("/nope"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    let (status, body) = json_of(response).await;
    assert_eq!(status, 404);
    assert_error(&body, "not_found", &["/nope"]);
}

#[tokio::test]
async fn wrong_methods_are_405_json_with_allow() {
    let api = TestApi::start().await;
    let response = api.client.get(api.url("/invoke")).send().await.unwrap();
    let allow = response.headers().get("allow").cloned();
    let (status, body) = json_of(response).await;
    assert_eq!(status, 405, "{body}");
    assert_error(&body, "method_not_allowed", &["GET"]);
    assert_eq!(allow.as_ref().and_then(|v| v.to_str().ok()), Some("POST"));

    let response = api.client.delete(api.url("/healthz")).send().await.unwrap();
    let (status, body) = json_of(response).await;
    assert_eq!(status, 405, "{body}");
    assert_error(&body, "method_not_allowed", &["DELETE"]);

    let response = api
        .client
        .put(api.url("/jobs/abc"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    let (status, body) = json_of(response).await;
    assert_eq!(status, 405, "{body}");
    assert_error(&body, "method_not_allowed", &["PUT"]);
}
