//! The admin routes over real HTTP against the embedded quota store: reading the table,
//! patching and creating buckets (ARN model ids included), routes, the admin check in API-key
//! mode, the answer without a quota store, and the routes in the OpenAPI document.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod quota_api;

use bedrock_lb_config::ApiConfig;
use common::assert_error;
use quota_api::{QuotaApi, bucket};
use reqwest::Method;
use serde_json::json;

const SMALL: &str = "vendor.small-v1:0";
const SMALL_PATH: &str = "/admin/buckets/us-east-1/vendor.small-v1%3A0";

#[tokio::test]
async fn a_patch_changes_tpm_and_enabled_and_the_table_shows_it() {
    let api = QuotaApi::open().await;
    let before = api.quotas().await;
    assert_eq!(before["buckets"].as_array().unwrap().len(), 3);
    assert_eq!(bucket(&before, "us-east-1", SMALL).unwrap()["tpm"], 1000);

    let patch = json!({"tpm": 5000, "enabled": false, "rpm": null});
    let (status, body) = api
        .call(Method::PATCH, SMALL_PATH, Some(&patch), None)
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["tpm"], 5000);
    assert_eq!(body["enabled"], false);
    assert!(body.get("rpm").is_none(), "rpm removed: {body}");
    assert_eq!(body["weight"], 1, "untouched fields stay");

    let after = api.quotas().await;
    let changed = bucket(&after, "us-east-1", SMALL).unwrap();
    assert_eq!(
        (changed["tpm"].as_u64(), changed["enabled"].as_bool()),
        (Some(5000), Some(false))
    );
    let other = bucket(&after, "us-west-2", SMALL).unwrap();
    assert_eq!(other["tpm"], 1000, "another region's bucket is untouched");
}

#[tokio::test]
async fn a_bad_patch_is_refused_and_changes_nothing() {
    let api = QuotaApi::open().await;
    let before = api.quotas().await;
    for (body, kind, needle) in [
        (
            json!({"tpm": 0, "weight": 9}),
            "invalid_request",
            "tpm must be at least 1",
        ),
        (
            json!({"tpm": 1_000_000_000_000_000_001_u64}),
            "invalid_request",
            "at most",
        ),
        (json!({"tpm": -5}), "invalid_request", "invalid"),
        (json!({"colour": "red"}), "invalid_request", "colour"),
    ] {
        let (status, answer) = api.call(Method::PATCH, SMALL_PATH, Some(&body), None).await;
        assert_eq!(status, 400, "{body}: {answer}");
        assert_error(&answer, kind, &[needle]);
    }
    assert_eq!(api.quotas().await, before);

    let (status, answer) = api
        .call(
            Method::PATCH,
            "/admin/buckets/us-east-1/nope",
            Some(&json!({"tpm": 5})),
            None,
        )
        .await;
    assert_eq!(status, 404, "{answer}");
    assert_error(&answer, "not_found", &["us-east-1/nope"]);
}

#[tokio::test]
async fn a_bucket_with_an_arn_is_created_then_replaced_then_patched() {
    let api = QuotaApi::open().await;
    let arn = "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.vendor.small-v1:0";
    let path = "/admin/buckets/us-east-1/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Ainference-profile%2Fus.vendor.small-v1%3A0";
    let body = json!({"tpm": 2000, "output_burndown": 5});
    let (status, answer) = api.call(Method::PUT, path, Some(&body), None).await;
    assert_eq!(status, 201, "{answer}");
    assert_eq!(answer["model_id"], arn);
    assert_eq!(
        (answer["weight"].as_u64(), answer["enabled"].as_bool()),
        (Some(1), Some(true))
    );

    let body = json!({"tpm": 3000, "region": "us-east-1", "model_id": arn, "weight": 4});
    let (status, answer) = api.call(Method::PUT, path, Some(&body), None).await;
    assert_eq!(status, 200, "{answer}");
    let (status, answer) = api
        .call(Method::PATCH, path, Some(&json!({"enabled": false})), None)
        .await;
    assert_eq!(status, 200, "{answer}");
    let stored = api.quotas().await;
    let stored = bucket(&stored, "us-east-1", arn).unwrap();
    assert_eq!(
        (
            stored["tpm"].as_u64(),
            stored["weight"].as_u64(),
            stored["enabled"].as_bool()
        ),
        (Some(3000), Some(4), Some(false))
    );

    // A body naming another bucket, a zero quota and a junk region are refused.
    for (path, body) in [
        (path, json!({"tpm": 1, "region": "eu-west-1"})),
        (path, json!({"tpm": 0})),
        ("/admin/buckets/US%20East/m", json!({"tpm": 1})),
    ] {
        let (status, answer) = api.call(Method::PUT, path, Some(&body), None).await;
        assert_eq!(status, 400, "{path} {body}: {answer}");
    }
}

#[tokio::test]
async fn routes_are_put_and_deleted() {
    let api = QuotaApi::open().await;
    // `large` in us-east-1 through the small model's bucket, which is in the table.
    let (status, answer) = api
        .call(
            Method::PUT,
            "/admin/routes/large/us-east-1",
            Some(&json!({"model_id": SMALL})),
            None,
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer,
        json!({"model": "large", "region": "us-east-1", "model_id": SMALL})
    );
    let table = api.store().table().await.unwrap();
    assert!(
        table
            .buckets_of("large")
            .iter()
            .any(|b| b.region == "us-east-1")
    );

    let (status, answer) = api
        .call(
            Method::PUT,
            "/admin/routes/large/ap-south-1",
            Some(&json!({"model_id": SMALL})),
            None,
        )
        .await;
    assert_eq!(status, 409, "{answer}");
    assert_error(&answer, "conflict", &["ap-south-1", "PUT /admin/buckets"]);
    let (status, answer) = api
        .call(
            Method::PUT,
            "/admin/routes/nope/us-east-1",
            Some(&json!({"model_id": SMALL})),
            None,
        )
        .await;
    assert_eq!(status, 400, "{answer}");
    assert_error(&answer, "invalid_request", &["nope"]);

    let (status, _) = api
        .call(Method::DELETE, "/admin/routes/large/us-east-1", None, None)
        .await;
    assert_eq!(status, 204);
    let table = api.store().table().await.unwrap();
    assert!(
        !table
            .buckets_of("large")
            .iter()
            .any(|b| b.region == "us-east-1")
    );
    let (status, answer) = api
        .call(Method::DELETE, "/admin/routes/large/us-east-1", None, None)
        .await;
    assert_eq!(status, 404, "{answer}");
    assert_error(&answer, "not_found", &["large"]);
}

#[tokio::test]
async fn only_admins_may_use_the_admin_routes_when_keys_are_required() {
    let api = QuotaApi::with_keys().await;
    let patch = json!({"tpm": 7});
    let (status, answer) = api.call(Method::GET, "/admin/quotas", None, None).await;
    assert_eq!(status, 401, "{answer}");
    for (method, body) in [(Method::GET, None), (Method::PATCH, Some(&patch))] {
        let path = if method == Method::GET {
            "/admin/quotas"
        } else {
            SMALL_PATH
        };
        let (status, answer) = api.call(method, path, body, Some("user-secret")).await;
        assert_eq!(status, 403, "{answer}");
        assert_error(&answer, "forbidden", &["key:user", "admin_callers"]);
    }
    let (status, answer) = api
        .call(
            Method::PATCH,
            SMALL_PATH,
            Some(&patch),
            Some("admin-secret"),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["tpm"], 7);
    let (status, answer) = api
        .call(Method::GET, "/admin/quotas", None, Some("admin-secret"))
        .await;
    assert_eq!(status, 200, "{answer}");
    // GET /regions is for every authenticated caller.
    let (status, answer) = api
        .call(Method::GET, "/regions", None, Some("user-secret"))
        .await;
    assert_eq!(status, 200, "{answer}");
}

#[tokio::test]
async fn without_a_quota_store_the_routes_answer_503() {
    let api = QuotaApi::start(ApiConfig::default(), false).await;
    for (method, path) in [
        (Method::GET, "/admin/quotas"),
        (Method::GET, "/regions"),
        (Method::DELETE, "/admin/routes/small/us-east-1"),
    ] {
        let (status, answer) = api.call(method, path, None, None).await;
        assert_eq!(status, 503, "{path}: {answer}");
        assert_error(&answer, "quota_store_unavailable", &["quota store"]);
    }
}

#[tokio::test]
async fn the_openapi_document_lists_the_quota_routes() {
    let api = QuotaApi::open().await;
    let (status, doc) = api.call(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(status, 200);
    for (path, method) in [
        ("/regions", "get"),
        ("/admin/quotas", "get"),
        ("/admin/buckets/{region}/{model_id}", "patch"),
        ("/admin/buckets/{region}/{model_id}", "put"),
        ("/admin/routes/{model}/{region}", "put"),
        ("/admin/routes/{model}/{region}", "delete"),
    ] {
        assert!(doc["paths"][path][method].is_object(), "{method} {path}");
    }
    for schema in [
        "RegionsView",
        "QuotaTable",
        "BucketPatch",
        "BucketBody",
        "BucketQuota",
    ] {
        assert!(doc["components"]["schemas"][schema].is_object(), "{schema}");
    }
}
