//! Auth modes over real HTTP: API keys (good, wrong, missing), IAM (the identity taken from the
//! API Gateway request context that lambda_http inserts, stood in for here by a layer), and
//! owners: another caller's jobs and batches answer 404. /healthz and /openapi.json stay open.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;

use aws_lambda_events_types::*;
use axum::extract::Request;
use bedrock_lb_api::auth::{sha256, to_hex};
use bedrock_lb_api::{ApiLimits, AuthSettings};
use common::{TestApi, assert_error};
use reqwest::Method;
use serde_json::json;

/// The lambda_http request-context types, through lambda_http's re-export.
mod aws_lambda_events_types {
    pub use lambda_http::aws_lambda_events::apigw::{
        ApiGatewayRequestAuthorizer, ApiGatewayRequestAuthorizerIamDescription,
        ApiGatewayV2httpRequestContext,
    };
    pub use lambda_http::request::RequestContext;
}

async fn key_api() -> TestApi {
    let keys = BTreeMap::from([
        ("alice".to_owned(), to_hex(&sha256(b"alice-secret"))),
        ("bob".to_owned(), to_hex(&sha256(b"bob-secret"))),
    ]);
    let auth = AuthSettings::api_keys(&keys).unwrap();
    TestApi::start_custom(None, None, ApiLimits::default(), auth, |r| r).await
}

#[tokio::test]
async fn api_keys_authenticate_and_scope_jobs_to_their_owner() {
    let api = key_api().await;
    let alice = [("x-api-key", "alice-secret")];
    let bob = [("x-api-key", "bob-secret")];

    let (status, body) = api.post_json("/invoke", &json!({"prompt": "p"}), &[]).await;
    assert_eq!(status, 401, "{body}");
    assert_error(&body, "unauthorized", &["x-api-key"]);
    let (status, body) = api
        .post_json(
            "/invoke",
            &json!({"prompt": "p"}),
            &[("x-api-key", "guess")],
        )
        .await;
    assert_eq!(status, 401, "{body}");
    assert_error(&body, "unauthorized", &["not valid"]);
    assert!(api.drain_all().await.is_empty());

    let (status, body) = api
        .post_json("/invoke", &json!({"prompt": "p"}), &alice)
        .await;
    assert_eq!(status, 202, "{body}");
    let id = body["job_id"].as_str().unwrap().to_owned();
    let stored = api.store.get(&id.parse().unwrap()).await.unwrap().unwrap();
    assert_eq!(stored.owner.as_deref(), Some("key:alice"));

    let path = format!("/jobs/{id}");
    assert_eq!(api.request_json(Method::GET, &path, &alice).await.0, 200);
    let (status, body) = api.request_json(Method::GET, &path, &bob).await;
    assert_eq!(status, 404, "{body}");
    assert_error(&body, "not_found", &[]);
    assert_eq!(api.request_json(Method::DELETE, &path, &bob).await.0, 404);
    assert_eq!(api.request_json(Method::GET, &path, &[]).await.0, 401);

    let (status, body) = api
        .post_json("/batch", &json!({"requests": ["a"]}), &alice)
        .await;
    assert_eq!(status, 202, "{body}");
    let batch = body["batch_id"].as_str().unwrap();
    assert_eq!(
        api.request_json(Method::GET, &format!("/batches/{batch}"), &alice)
            .await
            .0,
        200
    );
    for path in [
        format!("/batches/{batch}"),
        format!("/batches/{batch}/results"),
    ] {
        let (status, body) = api.request_json(Method::GET, &path, &bob).await;
        assert_eq!(status, 404, "{path}: {body}");
    }
}

#[tokio::test]
async fn health_and_the_openapi_document_stay_open() {
    let api = key_api().await;
    assert_eq!(api.get_json("/healthz").await.0, 200);
    let (status, doc) = api.get_json("/openapi.json").await;
    assert_eq!(status, 200);
    assert!(doc["paths"].is_object());
}

/// Stands in for API Gateway with IAM authorization: a request with `x-test-principal` gets
/// the request context lambda_http would insert for that principal; one without gets none.
fn fake_api_gateway(router: axum::Router) -> axum::Router {
    router.layer(axum::middleware::map_request(
        |mut req: Request| async move {
            if let Some(arn) = req
                .headers()
                .get("x-test-principal")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
            {
                // The types are non-exhaustive: build them from their defaults.
                let mut iam = ApiGatewayRequestAuthorizerIamDescription::default();
                iam.user_arn = Some(arn);
                iam.account_id = Some("123456789012".into());
                let mut authorizer = ApiGatewayRequestAuthorizer::default();
                authorizer.iam = Some(iam);
                let mut context = ApiGatewayV2httpRequestContext::default();
                context.authorizer = Some(authorizer);
                req.extensions_mut()
                    .insert(RequestContext::ApiGatewayV2(context));
            }
            req
        },
    ))
}

#[tokio::test]
async fn iam_mode_takes_the_principal_from_the_request_context() {
    let api = TestApi::start_custom(
        None,
        None,
        ApiLimits::default(),
        AuthSettings::iam(),
        fake_api_gateway,
    )
    .await;
    let alice = [("x-test-principal", "arn:aws:iam::123456789012:user/alice")];
    let bob = [("x-test-principal", "arn:aws:iam::123456789012:user/bob")];

    let (status, body) = api.post_json("/invoke", &json!({"prompt": "p"}), &[]).await;
    assert_eq!(status, 401, "unsigned: {body}");
    assert_error(&body, "unauthorized", &["IAM"]);

    let (status, body) = api
        .post_json("/invoke", &json!({"prompt": "p"}), &alice)
        .await;
    assert_eq!(status, 202, "{body}");
    let id = body["job_id"].as_str().unwrap().to_owned();
    let stored = api.store.get(&id.parse().unwrap()).await.unwrap().unwrap();
    assert_eq!(
        stored.owner.as_deref(),
        Some("arn:aws:iam::123456789012:user/alice")
    );
    let path = format!("/jobs/{id}");
    assert_eq!(api.request_json(Method::GET, &path, &alice).await.0, 200);
    assert_eq!(api.request_json(Method::GET, &path, &bob).await.0, 404);
    assert_eq!(api.request_json(Method::GET, &path, &[]).await.0, 401);
    assert_eq!(api.get_json("/healthz").await.0, 200);
}
