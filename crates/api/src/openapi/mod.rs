//! The OpenAPI document's shared parts: the document's header and security schemes, and the
//! schemas of bodies whose Rust types live in `bedrock-lb-core` (which knows nothing of
//! utoipa). The paths themselves come from the `#[utoipa::path]` attributes on the handlers,
//! collected by the router (see [`crate::routes::openapi_document`]), so a route cannot exist
//! without being documented.
//!
//! The mirror types here ([`StatusSchema`], and [`request::InvokeBody`]) are checked against
//! the core types by tests, so they cannot drift apart silently. The document a router serves
//! also carries its configuration's limits (see [`served`]).

#![allow(dead_code)] // The mirror types exist for their schemas only.

use serde::Serialize;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

use crate::error::BatchErrorDetail;

pub mod request;
pub mod served;

pub use request::{BatchEntrySchema, InvokeBody, InvokeRequestSchema};
pub use served::served_document;

/// The document's header, security schemes and shared schemas.
#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "bedrock-lb",
        description = "Quota-aware load balancer for Amazon Bedrock: submit prompts, poll their results."
    ),
    modifiers(&Security),
    components(schemas(ErrorBody, ErrorDetail, BatchErrorDetail, StatusSchema))
)]
pub struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("x-api-key"))),
        );
        components.add_security_scheme(
            "sigv4",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "Authorization",
                "AWS SigV4 (service execute-api), checked by API Gateway in `iam` mode",
            ))),
        );
    }
}

/// Every error answer: `{"error": {...}}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// What went wrong.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable, low-cardinality type clients branch on, e.g. `validation_error`, `not_found`,
    /// `unauthorized`, `conflict`, `idempotency_key_reused`, `unavailable`.
    #[serde(rename = "type")]
    pub kind: String,
    /// A sentence for people.
    pub message: String,
    /// The offending field (`validation_error` on one request).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The job concerned (`unavailable` after an enqueue failure, `conflict`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job_id: Option<String>,
    /// The job's status (`conflict`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<StatusSchema>,
    /// Every invalid request of a batch (`validation_error` on `POST /batch`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<Vec<BatchErrorDetail>>,
    /// The batch concerned (`unavailable` on `POST /batch`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub batch_id: Option<String>,
    /// The batch's jobs that were queued (`unavailable` on `POST /batch`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queued: Option<Vec<String>>,
    /// The batch's jobs that were not queued and are failed `enqueue_failed`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_queued: Option<Vec<String>>,
}

/// A job's status.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = JobStatus)]
pub enum StatusSchema {
    Queued,
    Running,
    Succeeded,
    Failed,
    Cancelled,
    Expired,
}

/// 202 answer of `POST /invoke`.
#[derive(Debug, Serialize, ToSchema)]
pub struct InvokeAccepted {
    pub job_id: String,
    /// Always `queued`.
    pub status: StatusSchema,
}

#[cfg(test)]
mod tests {
    use super::*;
    use bedrock_lb_core::{InvokeRequest, JobStatus};
    use serde_json::Value;
    use serde_json::json;

    fn schema_json(name: &str) -> Value {
        let doc = serde_json::to_value(ApiDoc::openapi()).unwrap();
        doc["components"]["schemas"][name].clone()
    }

    #[test]
    fn the_invoke_schema_names_every_field_the_core_type_accepts() {
        // A request with every field set, serialized by the core type.
        let full: InvokeRequest = serde_json::from_value(json!({
            "prompt": "p", "messages": [{"role": "user", "content": [{"text": "t"}]}],
            "system": "s", "model": "m", "max_tokens": 1, "temperature": 0.5, "top_p": 0.5,
            "stop_sequences": ["x"], "metadata": {"k": 1}, "deadline": "2030-01-01T00:00:00Z"
        }))
        .unwrap();
        let fields: Vec<String> = serde_json::to_value(full)
            .unwrap()
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        let schema = serde_json::to_value(<InvokeBody as utoipa::PartialSchema>::schema()).unwrap();
        let mut documented: Vec<String> = schema["properties"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        documented.sort();
        let mut fields = fields;
        fields.sort();
        assert_eq!(documented, fields);
    }

    #[test]
    fn the_status_schema_lists_every_status() {
        let schema = schema_json("JobStatus");
        let listed = schema["enum"].as_array().unwrap();
        for status in JobStatus::ALL {
            assert!(listed.contains(&json!(status.as_str())), "{status}");
        }
        assert_eq!(listed.len(), JobStatus::ALL.len());
    }
}
