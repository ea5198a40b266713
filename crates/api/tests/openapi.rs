//! The OpenAPI document: served at /openapi.json, it documents every route of the router, and
//! every documented operation is really routed (a request to it reaches its handler, not the
//! not-found or method-not-allowed fallbacks).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;

use bedrock_lb_api::openapi_document;
use bedrock_lb_core::JobId;
use common::TestApi;
use reqwest::Method;

/// Every (method, path) the router serves. The router is built from the same `routes!` list
/// as the document, so this list is the test's independent statement of the API surface.
const ROUTES: &[(&str, &str)] = &[
    ("post", "/invoke"),
    ("post", "/batch"),
    ("get", "/jobs/{id}"),
    ("delete", "/jobs/{id}"),
    ("get", "/batches/{id}"),
    ("get", "/batches/{id}/results"),
    ("get", "/healthz"),
    ("get", "/openapi.json"),
];

fn documented(doc: &serde_json::Value) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            if ["get", "post", "put", "delete", "patch", "head", "options"]
                .contains(&method.as_str())
            {
                out.insert((method.clone(), path.clone()));
            }
        }
    }
    out
}

#[tokio::test]
async fn the_served_document_covers_every_route_and_only_routed_ones() {
    let api = TestApi::start().await;
    let (status, served) = api.get_json("/openapi.json").await;
    assert_eq!(status, 200);
    assert_eq!(served, serde_json::to_value(openapi_document()).unwrap());
    let documented = documented(&served);
    let expected: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
        .collect();
    assert_eq!(documented, expected);

    // Every documented operation reaches a handler: never the fallbacks' "no route" 404 or 405.
    let id = JobId::generate();
    for (method, path) in &documented {
        let url_path = path.replace("{id}", id.as_str());
        let method: Method = method.to_uppercase().parse().unwrap();
        let response = api
            .client
            .request(method.clone(), api.url(&url_path))
            .json(&serde_json::json!({}))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        assert_ne!(status, 405, "{method} {path}: {text}");
        assert!(
            !text.contains("no route for"),
            "{method} {path} is documented but not routed: {text}"
        );
    }
}

#[tokio::test]
async fn every_operation_documents_its_error_answers_with_the_error_schema() {
    let doc = serde_json::to_value(openapi_document()).unwrap();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let responses = operation["responses"].as_object().unwrap();
            assert!(!responses.is_empty(), "{method} {path}");
            for (code, response) in responses {
                if code.starts_with('4') || code.starts_with('5') {
                    let schema = &response["content"]["application/json"]["schema"]["$ref"];
                    assert_eq!(
                        schema, "#/components/schemas/ErrorBody",
                        "{method} {path} {code}"
                    );
                }
            }
        }
    }
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    for name in [
        "Job",
        "InvokeRequest",
        "BatchBody",
        "BatchAccepted",
        "BatchStatusView",
        "ErrorBody",
    ] {
        assert!(schemas.contains_key(name), "schema {name} missing");
    }
}
