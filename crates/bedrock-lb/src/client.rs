//! A small HTTP client for the bedrock-lb API, used by `submit` and `jobs`.

use std::time::Duration;

use bedrock_lb_core::InvokeRequest;
use serde_json::Value;

/// A client of one bedrock-lb API.
#[derive(Debug, Clone)]
pub struct ApiClient {
    base: String,
    http: reqwest::Client,
}

/// Why an API call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot reach the API at {url}: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("the API answered {status}: {kind}: {message}")]
    Api {
        status: u16,
        kind: String,
        message: String,
    },
    #[error("the API answered something unexpected: {0}")]
    Unexpected(String),
    #[error("job {job_id} did not finish within {waited:?}")]
    Timeout { job_id: String, waited: Duration },
}

impl ApiClient {
    /// A client of the API at `base` (e.g. `http://127.0.0.1:8080`).
    pub fn new(base: impl Into<String>) -> Self {
        Self {
            base: base.into().trim_end_matches('/').to_owned(),
            http: reqwest::Client::new(),
        }
    }

    /// Submits one request; returns the new job's id.
    pub async fn submit(&self, request: &InvokeRequest) -> Result<String, ClientError> {
        let url = format!("{}/invoke", self.base);
        let response = self.http.post(&url).json(request).send().await;
        let body = self.read(&url, response).await?;
        body.get("job_id")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| ClientError::Unexpected(body.to_string()))
    }

    /// The job with `job_id`, as the API shows it.
    pub async fn job(&self, job_id: &str) -> Result<Value, ClientError> {
        let url = format!("{}/jobs/{job_id}", self.base);
        let response = self.http.get(&url).send().await;
        self.read(&url, response).await
    }

    /// Polls the job until it is finished or `timeout` has passed.
    pub async fn wait(&self, job_id: &str, timeout: Duration) -> Result<Value, ClientError> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut interval = Duration::from_millis(100);
        loop {
            let job = self.job(job_id).await?;
            let status = job.get("status").and_then(Value::as_str).unwrap_or("");
            if !matches!(status, "queued" | "running") {
                return Ok(job);
            }
            if tokio::time::Instant::now() + interval > deadline {
                return Err(ClientError::Timeout {
                    job_id: job_id.to_owned(),
                    waited: timeout,
                });
            }
            tokio::time::sleep(interval).await;
            interval = (interval * 2).min(Duration::from_secs(1));
        }
    }

    async fn read(
        &self,
        url: &str,
        response: reqwest::Result<reqwest::Response>,
    ) -> Result<Value, ClientError> {
        let response = response.map_err(|e| ClientError::Unreachable {
            url: url.to_owned(),
            reason: e.to_string(),
        })?;
        let status = response.status();
        let body: Value = response
            .json()
            .await
            .map_err(|e| ClientError::Unexpected(format!("{status}: {e}")))?;
        if status.is_success() {
            return Ok(body);
        }
        let field = |name: &str| {
            body.pointer(&format!("/error/{name}"))
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned()
        };
        Err(ClientError::Api {
            status: status.as_u16(),
            kind: field("type"),
            message: field("message"),
        })
    }
}
