//! The admin routes: read the quota table, change a bucket's limits and routing settings,
//! create buckets, and map a logical model to a bucket in a region. Workers re-read the table
//! every few seconds, so an edit here reaches all of them without a restart.
//!
//! Only callers in `api.admin_callers` may use them when authentication is on (403
//! `forbidden` otherwise); without a quota store they answer 503 `quota_store_unavailable`.
//! Edits are read-modify-write on the table: two admins patching one bucket at the same
//! instant may lose one edit, which is acceptable for a configuration that people edit.

use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use bedrock_lb_core::{BucketId, BucketPatch, ModelRoute, QuotaError};

use crate::ApiState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::JsonBody;
use crate::openapi::ErrorBody;

pub mod access;
pub mod body;

use access::{QuotaRouteError, quota_store, require_admin};
use body::{
    BucketBody, BucketQuotaView, ModelRouteView, PatchSchema, QuotaTableView, RouteBody,
    check_limits,
};

/// The quota table: every bucket and every route.
#[utoipa::path(
    get,
    path = "/admin/quotas",
    tag = "admin",
    responses(
        (status = 200, description = "The quota table", body = QuotaTableView),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 503, description = "No quota store, or it is unavailable", body = ErrorBody),
    ),
    security((), ("sigv4" = []), ("api_key" = []))
)]
pub async fn get_quotas(
    State(state): State<ApiState>,
    caller: Caller,
) -> Result<Json<QuotaTableView>, QuotaRouteError> {
    require_admin(&state, &caller)?;
    let table = quota_store(&state)?.table().await?;
    Ok(Json(QuotaTableView::from(&table)))
}

/// Changes some settings of a bucket; answers the bucket as it now is.
#[utoipa::path(
    patch,
    path = "/admin/buckets/{region}/{model_id}",
    tag = "admin",
    params(
        ("region" = String, Path, description = "AWS region, e.g. `us-east-1`"),
        ("model_id" = String, Path, description = "Bedrock model id, inference profile id or ARN (percent-encode `/` and `:`)"),
    ),
    request_body = PatchSchema,
    responses(
        (status = 200, description = "The bucket, changed", body = BucketQuotaView),
        (status = 400, description = "Malformed body or a value no bucket may have; nothing changed", body = ErrorBody),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 404, description = "No such bucket", body = ErrorBody),
        (status = 503, description = "No quota store, or it is unavailable", body = ErrorBody),
    ),
    security((), ("sigv4" = []), ("api_key" = []))
)]
pub async fn patch_bucket(
    State(state): State<ApiState>,
    caller: Caller,
    path: Result<Path<(String, String)>, PathRejection>,
    body: Result<JsonBody<BucketPatch>, ApiError>,
) -> Result<Json<BucketQuotaView>, QuotaRouteError> {
    require_admin(&state, &caller)?;
    let (region, model_id) = path_pair(path)?;
    let JsonBody(patch) = body?;
    let store = quota_store(&state)?;
    let bucket = BucketId::new(region, model_id);
    let table = store.table().await?;
    let mut quota = table.bucket(&bucket).cloned().ok_or_else(|| {
        ApiError::NotFound(format!("bucket `{bucket}` is not in the quota table"))
    })?;
    quota.apply(&patch).map_err(invalid)?;
    check_limits(&quota).map_err(invalid)?;
    store.put_bucket(&quota).await?;
    tracing::info!(bucket = %bucket, "bucket settings changed");
    Ok(Json(BucketQuotaView::from(&quota)))
}

/// Creates or replaces a bucket: 201 when it is new, 200 when it replaced one.
#[utoipa::path(
    put,
    path = "/admin/buckets/{region}/{model_id}",
    tag = "admin",
    params(
        ("region" = String, Path, pattern = r"^[a-z0-9-]{1,32}$", description = "AWS region, e.g. `us-east-1`"),
        ("model_id" = String, Path, description = "Bedrock model id, inference profile id or ARN (percent-encode `/` and `:`)"),
    ),
    request_body = BucketBody,
    responses(
        (status = 200, description = "The bucket, replaced", body = BucketQuotaView),
        (status = 201, description = "The bucket, created", body = BucketQuotaView),
        (status = 400, description = "Malformed body or a value no bucket may have", body = ErrorBody),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 503, description = "No quota store, or it is unavailable", body = ErrorBody),
    ),
    security((), ("sigv4" = []), ("api_key" = []))
)]
pub async fn put_bucket(
    State(state): State<ApiState>,
    caller: Caller,
    path: Result<Path<(String, String)>, PathRejection>,
    body: Result<JsonBody<BucketBody>, ApiError>,
) -> Result<Response, QuotaRouteError> {
    require_admin(&state, &caller)?;
    let (region, model_id) = path_pair(path)?;
    let JsonBody(body) = body?;
    check_names(&region, &model_id)?;
    let quota = body.into_quota(&region, &model_id).map_err(invalid)?;
    quota.validate().map_err(invalid)?;
    check_limits(&quota).map_err(invalid)?;
    let store = quota_store(&state)?;
    let existed = store.table().await?.bucket(&quota.bucket()).is_some();
    store.put_bucket(&quota).await?;
    tracing::info!(bucket = %quota.bucket(), created = !existed, "bucket written");
    let status = if existed {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, Json(BucketQuotaView::from(&quota))).into_response())
}

/// Routes a logical model's traffic in a region to a bucket already in the table.
#[utoipa::path(
    put,
    path = "/admin/routes/{model}/{region}",
    tag = "admin",
    params(
        ("model" = String, Path, description = "A configured logical model name"),
        ("region" = String, Path, description = "AWS region, e.g. `us-east-1`"),
    ),
    request_body = RouteBody,
    responses(
        (status = 200, description = "The route", body = ModelRouteView),
        (status = 400, description = "Malformed body, or a model that is not configured", body = ErrorBody),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 409, description = "The bucket is not in the table: PUT it first", body = ErrorBody),
        (status = 503, description = "No quota store, or it is unavailable", body = ErrorBody),
    ),
    security((), ("sigv4" = []), ("api_key" = []))
)]
pub async fn put_route(
    State(state): State<ApiState>,
    caller: Caller,
    path: Result<Path<(String, String)>, PathRejection>,
    body: Result<JsonBody<RouteBody>, ApiError>,
) -> Result<Json<ModelRouteView>, QuotaRouteError> {
    require_admin(&state, &caller)?;
    let (model, region) = path_pair(path)?;
    let JsonBody(RouteBody { model_id }) = body?;
    if state.catalog.get(&model).is_none() {
        return Err(ApiError::InvalidRequest(format!(
            "model `{model}` is not configured; routes are for the configured models"
        ))
        .into());
    }
    let store = quota_store(&state)?;
    let route = ModelRoute {
        model,
        region,
        model_id,
    };
    let bucket = route.bucket();
    if store.table().await?.bucket(&bucket).is_none() {
        return Err(QuotaRouteError::Conflict(format!(
            "bucket `{bucket}` is not in the quota table; PUT /admin/buckets/{{region}}/{{model_id}} first"
        )));
    }
    store.put_route(&route).await?;
    tracing::info!(model = %route.model, bucket = %bucket, "route written");
    Ok(Json(ModelRouteView::from(&route)))
}

/// Removes a model's route in a region.
#[utoipa::path(
    delete,
    path = "/admin/routes/{model}/{region}",
    tag = "admin",
    params(
        ("model" = String, Path, description = "A logical model name"),
        ("region" = String, Path, description = "AWS region, e.g. `us-east-1`"),
    ),
    responses(
        (status = 204, description = "The route is gone"),
        (status = 400, description = "Malformed path", body = ErrorBody),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 404, description = "No such route", body = ErrorBody),
        (status = 503, description = "No quota store, or it is unavailable", body = ErrorBody),
    ),
    security((), ("sigv4" = []), ("api_key" = []))
)]
pub async fn delete_route(
    State(state): State<ApiState>,
    caller: Caller,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Result<StatusCode, QuotaRouteError> {
    require_admin(&state, &caller)?;
    let (model, region) = path_pair(path)?;
    if quota_store(&state)?.delete_route(&model, &region).await? {
        tracing::info!(model = %model, region = %region, "route removed");
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound(format!("model `{model}` has no route in `{region}`")).into())
    }
}

/// The two path parameters, decoded (`%2F` becomes `/`), or 400.
fn path_pair(
    path: Result<Path<(String, String)>, PathRejection>,
) -> Result<(String, String), ApiError> {
    path.map(|Path(pair)| pair)
        .map_err(|rejection| ApiError::InvalidRequest(rejection.body_text()))
}

/// A new bucket's names must look like a region and a model id, so that a typo (or a fuzzer)
/// cannot fill the table with buckets no worker can call.
fn check_names(region: &str, model_id: &str) -> Result<(), ApiError> {
    let region_ok = (1..=32).contains(&region.len())
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !region_ok {
        return Err(ApiError::InvalidRequest(format!(
            "`{region}` is not a region name (lowercase letters, digits and `-`, e.g. us-east-1)"
        )));
    }
    let model_ok = (1..=2048).contains(&model_id.len())
        && model_id.trim() == model_id
        && !model_id.chars().any(char::is_control);
    if !model_ok {
        return Err(ApiError::InvalidRequest(
            "the model id must be 1 to 2048 characters without spaces around it or control characters"
                .into(),
        ));
    }
    Ok(())
}

/// A setting no bucket may have: 400 `invalid_request`, naming it.
fn invalid(error: QuotaError) -> ApiError {
    ApiError::InvalidRequest(error.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_names_are_checked() {
        assert!(check_names("us-east-1", "arn:aws:bedrock:us-east-1:1:x/y").is_ok());
        assert!(check_names("US East", "m").is_err());
        assert!(check_names("us-east-1", " m").is_err());
        assert!(check_names("us-east-1", "m\n").is_err());
        assert!(check_names("", "m").is_err());
    }
}
