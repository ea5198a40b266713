//! A small HTTP client for the bedrock-lb API, used by `submit`, `batch`, `jobs` and `batches`.
//!
//! Every call goes through one place ([`ApiClient::call`]) so that authentication is applied
//! the same way everywhere: nothing, an `x-api-key` header, or a SigV4 signature for an API
//! behind API Gateway in IAM mode.

use std::time::Duration;

use bedrock_lb_core::InvokeRequest;
use reqwest::Method;
use serde_json::Value;

use crate::signing::{SigV4Signer, SigningError};

/// Longest server-side wait of one `GET /jobs/{id}?wait=` (the API caps it at 20 s).
pub const MAX_LONG_POLL: Duration = Duration::from_secs(20);

/// How the client proves who it is.
#[derive(Debug, Default)]
pub enum Auth {
    /// No credentials (a local or open deployment).
    #[default]
    None,
    /// An API key, sent in `x-api-key` (API-key mode).
    ApiKey(String),
    /// A SigV4 signature for `execute-api` (IAM mode behind API Gateway).
    SigV4(SigV4Signer),
}

/// A client of one bedrock-lb API.
#[derive(Debug)]
pub struct ApiClient {
    base: String,
    http: reqwest::Client,
    auth: Auth,
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
        /// The whole error body, for callers that read more than the type and message (e.g.
        /// the per-request `details` of a rejected batch).
        body: Value,
    },
    #[error("the API answered something unexpected: {0}")]
    Unexpected(String),
    #[error("job {job_id} did not finish within {waited:?}")]
    Timeout { job_id: String, waited: Duration },
    #[error(transparent)]
    Signing(#[from] SigningError),
}

impl ClientError {
    /// The HTTP status of an API error answer.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Api { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// The answer to an accepted `POST /batch`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchAccepted {
    pub batch_id: String,
    /// The jobs created, in request order.
    pub job_ids: Vec<String>,
}

impl ApiClient {
    /// A client of the API at `base` (e.g. `http://127.0.0.1:8080`), without credentials.
    pub fn new(base: impl Into<String>) -> Self {
        Self {
            base: base.into().trim_end_matches('/').to_owned(),
            http: reqwest::Client::new(),
            auth: Auth::None,
        }
    }

    /// The same client, authenticating with `auth`.
    pub fn with_auth(mut self, auth: Auth) -> Self {
        self.auth = auth;
        self
    }

    /// The API's base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// Submits one request; returns the new job's id.
    pub async fn submit(
        &self,
        request: &InvokeRequest,
        idempotency_key: Option<&str>,
    ) -> Result<String, ClientError> {
        let body = serde_json::to_value(request)
            .map_err(|e| ClientError::Unexpected(format!("encoding the request: {e}")))?;
        let answer = self
            .call(Method::POST, "/invoke", Some(&body), idempotency_key)
            .await?;
        string_field(&answer, "job_id")
    }

    /// The job with `job_id`, as the API shows it.
    pub async fn job(&self, job_id: &str) -> Result<Value, ClientError> {
        self.call(Method::GET, &format!("/jobs/{job_id}"), None, None)
            .await
    }

    /// The job, after the API has waited up to `wait` (at most 20 s) for it to finish.
    pub async fn job_long_poll(&self, job_id: &str, wait: Duration) -> Result<Value, ClientError> {
        let secs = wait.min(MAX_LONG_POLL).as_secs();
        if secs == 0 {
            return self.job(job_id).await;
        }
        self.call(
            Method::GET,
            &format!("/jobs/{job_id}?wait={secs}"),
            None,
            None,
        )
        .await
    }

    /// Long-polls the job until it is finished or `timeout` has passed.
    pub async fn wait(&self, job_id: &str, timeout: Duration) -> Result<Value, ClientError> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut pause = Duration::from_millis(100);
        loop {
            let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
            let asked = remaining.min(MAX_LONG_POLL);
            let started = tokio::time::Instant::now();
            let job = self.job_long_poll(job_id, asked).await?;
            if !is_pending(&job) {
                return Ok(job);
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(ClientError::Timeout {
                    job_id: job_id.to_owned(),
                    waited: timeout,
                });
            }
            // A server that answered well before the wait it was asked for does not long-poll
            // (an older version): poll with a growing pause instead.
            if started.elapsed() + Duration::from_millis(500) < asked {
                tokio::time::sleep(pause.min(remaining)).await;
                pause = (pause * 2).min(Duration::from_secs(1));
            }
        }
    }

    /// Cancels a job that has not started; returns the job as the API shows it.
    pub async fn cancel(&self, job_id: &str) -> Result<Value, ClientError> {
        self.call(Method::DELETE, &format!("/jobs/{job_id}"), None, None)
            .await
    }

    /// `POST /batch` with `body` (`{"requests": [...], "defaults": {...}}`) under
    /// `idempotency_key`, so that sending it again can never queue the jobs twice.
    pub async fn submit_batch(
        &self,
        body: &Value,
        idempotency_key: &str,
    ) -> Result<BatchAccepted, ClientError> {
        let answer = self
            .call(Method::POST, "/batch", Some(body), Some(idempotency_key))
            .await?;
        batch_accepted(&answer)
    }

    /// `GET /batches/{id}`: counts by status and one page of job ids.
    pub async fn batch(&self, batch_id: &str) -> Result<Value, ClientError> {
        self.call(Method::GET, &format!("/batches/{batch_id}"), None, None)
            .await
    }

    /// `GET /batches/{id}/results`: one JSON value per finished job.
    pub async fn batch_results(&self, batch_id: &str) -> Result<Vec<Value>, ClientError> {
        let path = format!("/batches/{batch_id}/results");
        let (status, text) = self.send(Method::GET, &path, None, None).await?;
        if !(200..300).contains(&status) {
            return Err(api_error(status, &text));
        }
        text.lines()
            .filter(|line| !line.trim().is_empty())
            .map(|line| {
                serde_json::from_str(line)
                    .map_err(|e| ClientError::Unexpected(format!("a results line: {e}")))
            })
            .collect()
    }

    /// One call: the JSON answer of a 2xx, else the API's error.
    pub async fn call(
        &self,
        method: Method,
        path_and_query: &str,
        body: Option<&Value>,
        idempotency_key: Option<&str>,
    ) -> Result<Value, ClientError> {
        let (status, text) = self
            .send(method, path_and_query, body, idempotency_key)
            .await?;
        if !(200..300).contains(&status) {
            return Err(api_error(status, &text));
        }
        serde_json::from_str(&text)
            .map_err(|e| ClientError::Unexpected(format!("{status}: {e}: {}", clip(&text))))
    }

    /// Sends one request with authentication; returns the status and the body text.
    async fn send(
        &self,
        method: Method,
        path_and_query: &str,
        body: Option<&Value>,
        idempotency_key: Option<&str>,
    ) -> Result<(u16, String), ClientError> {
        let url = format!("{}{path_and_query}", self.base);
        let bytes = match body {
            Some(body) => serde_json::to_vec(body)
                .map_err(|e| ClientError::Unexpected(format!("encoding the request: {e}")))?,
            None => Vec::new(),
        };
        let mut headers: Vec<(&str, &str)> = Vec::new();
        if body.is_some() {
            headers.push(("content-type", "application/json"));
        }
        if let Some(key) = idempotency_key {
            headers.push(("idempotency-key", key));
        }
        let mut request = self.http.request(method.clone(), &url);
        for (name, value) in &headers {
            request = request.header(*name, *value);
        }
        match &self.auth {
            Auth::None => {}
            Auth::ApiKey(key) => request = request.header("x-api-key", key),
            Auth::SigV4(signer) => {
                for (name, value) in signer
                    .headers(method.as_str(), &url, &headers, &bytes)
                    .await?
                {
                    request = request.header(name, value);
                }
            }
        }
        if body.is_some() {
            request = request.body(bytes);
        }
        let unreachable = |e: reqwest::Error| ClientError::Unreachable {
            url: url.clone(),
            reason: e.to_string(),
        };
        let response = request.send().await.map_err(unreachable)?;
        let status = response.status().as_u16();
        let text = response.text().await.map_err(unreachable)?;
        Ok((status, text))
    }
}

/// Whether a job, as the API shows it, has yet to finish.
pub fn is_pending(job: &Value) -> bool {
    matches!(
        job.get("status").and_then(Value::as_str),
        Some("queued" | "running")
    )
}

fn batch_accepted(answer: &Value) -> Result<BatchAccepted, ClientError> {
    let job_ids = answer
        .get("job_ids")
        .and_then(Value::as_array)
        .and_then(|ids| {
            ids.iter()
                .map(|id| id.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
        })
        .ok_or_else(|| {
            ClientError::Unexpected(format!("no job_ids in {}", clip(&answer.to_string())))
        })?;
    Ok(BatchAccepted {
        batch_id: string_field(answer, "batch_id")?,
        job_ids,
    })
}

fn string_field(body: &Value, name: &str) -> Result<String, ClientError> {
    body.get(name)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| ClientError::Unexpected(format!("no {name} in {}", clip(&body.to_string()))))
}

fn api_error(status: u16, text: &str) -> ClientError {
    let body: Value = serde_json::from_str(text).unwrap_or(Value::Null);
    let field = |name: &str| {
        body.pointer(&format!("/error/{name}"))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned()
    };
    let (kind, message) = if body.get("error").is_some() {
        (field("type"), field("message"))
    } else {
        ("unknown".to_owned(), clip(text))
    };
    ClientError::Api {
        status,
        kind,
        message,
        body,
    }
}

/// At most 300 characters of `text`, for error messages.
fn clip(text: &str) -> String {
    text.chars().take(300).collect()
}
