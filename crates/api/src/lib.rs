//! bedrock-lb's HTTP API: one axum [`Router`](axum::Router) that accepts jobs, queues them and
//! answers their status.
//!
//! The same router is served locally (`axum::serve`) and inside AWS Lambda (`lambda_http`), so
//! it depends on nothing but the ports of `bedrock-lb-core`: a [`JobStore`], a [`JobQueue`], the
//! [`ModelCatalog`] and a [`Clock`], all carried in [`ApiState`].
//!
//! Every answer that is not a success is JSON of the form
//! `{"error": {"type": "...", "message": "..."}}` (see [`error::ApiError`]); no axum default
//! plain-text rejection reaches a client.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::FromRef;
use bedrock_lb_config::ApiConfig;
use bedrock_lb_core::{Clock, JobQueue, JobStore, ModelCatalog, QuotaStore};

pub mod auth;
pub mod error;
pub mod extract;
pub mod idempotency;
pub mod openapi;
pub mod routes;
pub mod submit;
pub mod trace;
pub mod view;

pub use auth::{AuthSettings, Caller};
pub use error::ApiError;
pub use routes::{openapi_document, router};

/// Default largest request body: 256 KiB.
pub const DEFAULT_MAX_BODY_BYTES: usize = 256 * 1024;
/// Default most requests in one `POST /batch`.
pub const DEFAULT_MAX_BATCH_REQUESTS: usize = 1000;
/// Default lifetime of an `Idempotency-Key`: 24 hours.
pub const DEFAULT_IDEMPOTENCY_TTL: Duration = Duration::from_secs(24 * 60 * 60);

/// Everything a request handler needs, shared by all requests.
///
/// Only ports: the router runs unchanged against SQS and DynamoDB in Lambda and against the
/// embedded SQLite queue and store locally.
#[derive(Clone, Debug)]
pub struct ApiState {
    /// Where job records are created and read.
    pub store: Arc<dyn JobStore>,
    /// Where a message is sent for every accepted job, for the workers to pick up.
    pub queue: Arc<dyn JobQueue>,
    /// The models requests may name, used to validate them before they are accepted.
    pub catalog: Arc<ModelCatalog>,
    /// The source of job timestamps, injectable so tests control time.
    pub clock: Arc<dyn Clock>,
    /// Limits on what clients may send.
    pub limits: ApiLimits,
    /// How callers are authenticated; their identity becomes the owner of their jobs.
    pub auth: AuthSettings,
    /// How long an `Idempotency-Key` keeps answering with the jobs it first created.
    pub idempotency_ttl: Duration,
    /// The quota table behind `GET /regions` and the admin routes; `None` (a deployment
    /// without one) makes those routes answer 503 `quota_store_unavailable`.
    pub quotas: Option<Arc<dyn QuotaStore>>,
    /// Callers allowed on `/admin/...` when authentication is on: API key names (the caller
    /// `key:{name}`) or IAM principal ARNs.
    pub admin_callers: Vec<String>,
}

impl ApiState {
    /// A state with the API settings of `config` (limits, auth, idempotency).
    pub fn new(
        store: Arc<dyn JobStore>,
        queue: Arc<dyn JobQueue>,
        catalog: Arc<ModelCatalog>,
        clock: Arc<dyn Clock>,
        config: &ApiConfig,
    ) -> Result<Self, auth::AuthConfigError> {
        Ok(Self {
            store,
            queue,
            catalog,
            clock,
            limits: ApiLimits::from_config(config),
            auth: AuthSettings::from_config(config)?,
            idempotency_ttl: config.idempotency_ttl(),
            quotas: None,
            admin_callers: config.admin_callers.clone(),
        })
    }

    /// The same state with `quotas` as its quota table, which turns on `GET /regions` and the
    /// admin routes.
    pub fn with_quotas(mut self, quotas: Arc<dyn QuotaStore>) -> Self {
        self.quotas = Some(quotas);
        self
    }

    /// The same state with `callers` as the admin list (see [`ApiState::admin_callers`]).
    pub fn with_admin_callers(mut self, callers: Vec<String>) -> Self {
        self.admin_callers = callers;
        self
    }
}

/// Limits on requests, so that a client cannot make the API buffer arbitrary amounts of data.
#[derive(Clone, Debug)]
pub struct ApiLimits {
    /// Largest request body accepted, in bytes; larger bodies get 413 `payload_too_large`.
    pub max_body_bytes: usize,
    /// Most requests in one `POST /batch`; more get 400.
    pub max_batch_requests: usize,
}

/// Largest `POST /batch` body: what Lambda accepts in a synchronous invocation (6 MB).
pub const MAX_BATCH_BODY_BYTES: usize = 6 * 1000 * 1000;

impl ApiLimits {
    /// Largest `POST /batch` body: room for `max_batch_requests` requests of up to 1/16 of
    /// `max_body_bytes` each, at least `max_body_bytes`, at most [`MAX_BATCH_BODY_BYTES`].
    pub fn max_batch_body_bytes(&self) -> usize {
        (self.max_body_bytes / 16)
            .saturating_mul(self.max_batch_requests)
            .clamp(
                self.max_body_bytes.min(MAX_BATCH_BODY_BYTES),
                MAX_BATCH_BODY_BYTES,
            )
    }

    /// The limits `config` sets.
    pub fn from_config(config: &ApiConfig) -> Self {
        Self {
            max_body_bytes: config.max_body_bytes,
            max_batch_requests: config.max_batch_requests,
        }
    }
}

impl Default for ApiLimits {
    fn default() -> Self {
        Self {
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            max_batch_requests: DEFAULT_MAX_BATCH_REQUESTS,
        }
    }
}

impl FromRef<ApiState> for AuthSettings {
    fn from_ref(state: &ApiState) -> Self {
        state.auth.clone()
    }
}

impl FromRef<ApiState> for ApiLimits {
    fn from_ref(state: &ApiState) -> Self {
        state.limits.clone()
    }
}
