//! What the quota routes (`GET /regions`, `/admin/...`) share: reaching the quota store (503
//! `quota_store_unavailable` when the deployment has none), the admin check (403 `forbidden`
//! for a caller not in `api.admin_callers`), and [`QuotaRouteError`], which adds those answers
//! and 409 `conflict` to [`ApiError`] in the same `{"error": {"type", "message"}}` form.

use std::sync::Arc;

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use bedrock_lb_config::AuthMode;
use bedrock_lb_core::{QuotaStore, StoreError};
use serde_json::json;

use crate::ApiState;
use crate::auth::Caller;
use crate::error::ApiError;

/// An error of a quota route.
#[derive(Debug, thiserror::Error)]
pub enum QuotaRouteError {
    /// Any error the rest of the API answers too (bad input, not found, unavailable).
    #[error(transparent)]
    Api(#[from] ApiError),
    /// The caller is authenticated but not an admin.
    #[error("{0}")]
    Forbidden(String),
    /// The deployment has no quota store.
    #[error("this deployment has no quota store")]
    NoQuotaStore,
    /// The request contradicts the table (a route to a bucket that is not in it).
    #[error("{0}")]
    Conflict(String),
}

impl QuotaRouteError {
    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Api(error) => error.status(),
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NoQuotaStore => StatusCode::SERVICE_UNAVAILABLE,
            Self::Conflict(_) => StatusCode::CONFLICT,
        }
    }

    /// The stable `type` clients branch on.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Api(error) => error.kind(),
            Self::Forbidden(_) => "forbidden",
            Self::NoQuotaStore => "quota_store_unavailable",
            Self::Conflict(_) => "conflict",
        }
    }
}

impl IntoResponse for QuotaRouteError {
    fn into_response(self) -> Response {
        if let Self::Api(error) = self {
            return error.into_response();
        }
        tracing::debug!(error_type = self.kind(), "quota request rejected");
        let body = json!({"error": {"type": self.kind(), "message": self.to_string()}});
        (self.status(), Json(body)).into_response()
    }
}

impl From<StoreError> for QuotaRouteError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Unavailable(detail) => {
                tracing::warn!(error = %detail, "quota store unavailable");
                ApiError::Unavailable("the quota store is unavailable; retry later".into()).into()
            }
            other => ApiError::Internal(format!("quota store: {other}")).into(),
        }
    }
}

/// The quota store, or 503 `quota_store_unavailable`.
pub fn quota_store(state: &ApiState) -> Result<Arc<dyn QuotaStore>, QuotaRouteError> {
    state.quotas.clone().ok_or(QuotaRouteError::NoQuotaStore)
}

/// Succeeds when `caller` may use the admin routes: always without authentication, else when
/// the caller (`key:{name}` or an IAM principal) is in the admin list, by key name or whole.
pub fn require_admin(state: &ApiState, caller: &Caller) -> Result<(), QuotaRouteError> {
    if state.auth.mode() == AuthMode::None {
        return Ok(());
    }
    let Some(who) = caller.owner() else {
        return Err(QuotaRouteError::Forbidden(
            "the admin routes need an authenticated caller".into(),
        ));
    };
    let key_name = who.strip_prefix("key:");
    let allowed = state
        .admin_callers
        .iter()
        .any(|admin| admin == who || Some(admin.as_str()) == key_name);
    if allowed {
        Ok(())
    } else {
        Err(QuotaRouteError::Forbidden(format!(
            "`{who}` is not in api.admin_callers"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_errors_keep_the_api_error_form() {
        let response = QuotaRouteError::NoQuotaStore.into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        let response = QuotaRouteError::Forbidden("no".into()).into_response();
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        let response = QuotaRouteError::from(ApiError::NotFound("x".into())).into_response();
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        let error = QuotaRouteError::from(StoreError::Unavailable("down".into()));
        assert!(matches!(
            error,
            QuotaRouteError::Api(ApiError::Unavailable(_))
        ));
    }
}
