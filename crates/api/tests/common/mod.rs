//! Shared test harness: the real router served over HTTP on 127.0.0.1:0, backed by the
//! embedded (SQLite, in-memory) job store and queue.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use bedrock_lb_api::{ApiLimits, ApiState, AuthSettings, DEFAULT_IDEMPOTENCY_TTL, router};
use bedrock_lb_core::{
    BucketId, JobQueue, JobStore, ModelCatalog, ModelSpec, QueueMessage, SystemClock,
};
use bedrock_lb_embedded::{EmbeddedDb, QueueSettings};
use serde_json::Value;

/// The catalogue used by the tests: `small` (max 1000 tokens, the default) and `large`.
pub fn catalog() -> ModelCatalog {
    ModelCatalog::new(
        "small",
        [
            ModelSpec {
                name: "small".into(),
                max_output_tokens: 1000,
                buckets: vec![
                    BucketId::new("us-east-1", "vendor.small-v1:0"),
                    BucketId::new("us-west-2", "vendor.small-v1:0"),
                ],
            },
            ModelSpec {
                name: "large".into(),
                max_output_tokens: 8000,
                buckets: vec![BucketId::new("eu-west-1", "vendor.large-v2:0")],
            },
        ],
    )
    .expect("test catalogue is valid")
}

/// A running API and the backends behind it.
#[derive(Debug)]
pub struct TestApi {
    pub base: String,
    pub client: reqwest::Client,
    pub store: Arc<dyn JobStore>,
    pub queue: Arc<dyn JobQueue>,
    _db: EmbeddedDb,
}

impl TestApi {
    /// Serves the API with the embedded queue and default limits.
    pub async fn start() -> Self {
        Self::start_with(None, None, ApiLimits::default()).await
    }

    /// Serves the API with `store` and `queue` instead of the embedded ones (where given) and
    /// with `limits`.
    pub async fn start_with(
        store: Option<Arc<dyn JobStore>>,
        queue: Option<Arc<dyn JobQueue>>,
        limits: ApiLimits,
    ) -> Self {
        Self::start_custom(store, queue, limits, AuthSettings::none(), |r| r).await
    }

    /// Serves the API with `auth`, its router passed through `wrap` (to add layers that stand
    /// in for API Gateway, for instance).
    pub async fn start_custom(
        store: Option<Arc<dyn JobStore>>,
        queue: Option<Arc<dyn JobQueue>>,
        limits: ApiLimits,
        auth: AuthSettings,
        wrap: fn(axum::Router) -> axum::Router,
    ) -> Self {
        let db = EmbeddedDb::open_in_memory(Arc::new(SystemClock)).expect("open embedded db");
        let store = store.unwrap_or_else(|| Arc::new(db.job_store()));
        let queue = queue.unwrap_or_else(|| Arc::new(db.queue(QueueSettings::default())));
        let state = ApiState {
            store: store.clone(),
            queue: queue.clone(),
            catalog: Arc::new(catalog()),
            clock: Arc::new(SystemClock),
            limits,
            auth,
            idempotency_ttl: DEFAULT_IDEMPOTENCY_TTL,
            quotas: None,
            admin_callers: Vec::new(),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("local addr");
        tokio::spawn(async move {
            axum::serve(listener, wrap(router(state)))
                .await
                .expect("serve");
        });
        Self {
            base: format!("http://{addr}"),
            client: reqwest::Client::new(),
            store,
            queue,
            _db: db,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// POSTs `body` as JSON to `/invoke`.
    pub async fn invoke(&self, body: Value) -> reqwest::Response {
        self.client
            .post(self.url("/invoke"))
            .json(&body)
            .send()
            .await
            .expect("POST /invoke")
    }

    /// POSTs raw bytes to `/invoke` with an optional content type.
    pub async fn invoke_raw(
        &self,
        body: impl Into<reqwest::Body>,
        content_type: Option<&str>,
    ) -> reqwest::Response {
        let mut request = self.client.post(self.url("/invoke")).body(body);
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        request.send().await.expect("POST /invoke")
    }

    /// POSTs `body` as JSON to `path` with extra `headers`.
    pub async fn post_json(
        &self,
        path: &str,
        body: &Value,
        headers: &[(&str, &str)],
    ) -> (u16, Value) {
        let mut request = self.client.post(self.url(path)).json(body);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        json_of(request.send().await.expect("POST")).await
    }

    /// Sends `method` to `path` with `headers`; the status and the JSON body.
    pub async fn request_json(
        &self,
        method: reqwest::Method,
        path: &str,
        headers: &[(&str, &str)],
    ) -> (u16, Value) {
        let mut request = self.client.request(method, self.url(path));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        json_of(request.send().await.expect("request")).await
    }

    /// Every message on the queue, received until none is left (hidden afterwards).
    pub async fn drain_all(&self) -> Vec<QueueMessage> {
        let mut all = Vec::new();
        loop {
            let batch = self.drain_queue().await;
            if batch.is_empty() {
                return all;
            }
            all.extend(batch);
        }
    }

    /// GETs `path` and returns the status and the JSON body.
    pub async fn get_json(&self, path: &str) -> (u16, Value) {
        let response = self.client.get(self.url(path)).send().await.expect("GET");
        json_of(response).await
    }

    /// Every message currently visible on the queue (hidden afterwards).
    pub async fn drain_queue(&self) -> Vec<QueueMessage> {
        self.queue
            .receive(10, Duration::ZERO, Duration::from_secs(300))
            .await
            .expect("receive")
    }
}

/// The status and JSON body of `response`, checking that the body is declared as JSON.
pub async fn json_of(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let text = response.text().await.expect("body");
    assert!(
        content_type.starts_with("application/json"),
        "status {status}: content-type {content_type:?}, body {text:?}"
    );
    let body = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("status {status}: body is not JSON ({e}): {text:?}"));
    (status, body)
}

/// Asserts that `body` is an error of `kind` whose message contains every one of `needles`.
pub fn assert_error(body: &Value, kind: &str, needles: &[&str]) {
    let error = &body["error"];
    assert_eq!(error["type"], kind, "body: {body}");
    let message = error["message"].as_str().expect("message is a string");
    for needle in needles {
        assert!(
            message.contains(needle),
            "message {message:?} should mention {needle:?}"
        );
    }
}
