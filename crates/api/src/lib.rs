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

use axum::extract::FromRef;
use bedrock_lb_core::{Clock, JobQueue, JobStore, ModelCatalog};

pub mod error;
pub mod extract;
pub mod routes;
pub mod trace;
pub mod view;

pub use error::ApiError;
pub use routes::router;

/// Default largest request body: 256 KiB.
pub const DEFAULT_MAX_BODY_BYTES: usize = 256 * 1024;

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
}

/// Limits on requests, so that a client cannot make the API buffer arbitrary amounts of data.
#[derive(Clone, Debug)]
pub struct ApiLimits {
    /// Largest request body accepted, in bytes; larger bodies get 413 `payload_too_large`.
    pub max_body_bytes: usize,
}

impl Default for ApiLimits {
    fn default() -> Self {
        Self {
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
        }
    }
}

impl FromRef<ApiState> for ApiLimits {
    fn from_ref(state: &ApiState) -> Self {
        state.limits.clone()
    }
}
