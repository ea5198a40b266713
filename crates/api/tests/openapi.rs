//! The OpenAPI document: served at /openapi.json, it documents every route of the router, and
//! every documented operation is really routed (a request to it reaches its handler, not the
//! not-found or method-not-allowed fallbacks).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;

use bedrock_lb_api::openapi::served_document;
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
    ("get", "/regions"),
    ("get", "/admin/quotas"),
    ("patch", "/admin/buckets/{region}/{model_id}"),
    ("put", "/admin/buckets/{region}/{model_id}"),
    ("put", "/admin/routes/{model}/{region}"),
    ("delete", "/admin/routes/{model}/{region}"),
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
    let expected = served_document(
        openapi_document(),
        &common::catalog(),
        &bedrock_lb_api::ApiLimits::default(),
    );
    assert_eq!(served, serde_json::to_value(expected).unwrap());
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

/// The ids a create operation answers are linked to the operations that take them, so that a
/// client (or schemathesis' stateful phase) can follow them; every link names a real
/// operation and a real parameter.
#[test]
fn created_ids_are_linked_to_the_operations_that_take_them() {
    let doc = serde_json::to_value(openapi_document()).unwrap();
    let mut operations = BTreeSet::new();
    for item in doc["paths"].as_object().unwrap().values() {
        for operation in item.as_object().unwrap().values() {
            if let Some(id) = operation["operationId"].as_str() {
                operations.insert(id.to_owned());
            }
        }
    }
    let links = |path: &str| doc["paths"][path]["post"]["responses"]["202"]["links"].clone();
    let mut seen = BTreeSet::new();
    for (path, field) in [("/invoke", "job_id"), ("/batch", "batch_id")] {
        for link in links(path).as_object().unwrap().values() {
            let target = link["operationId"].as_str().unwrap();
            assert!(
                operations.contains(target),
                "{path} links to unknown {target}"
            );
            let id = link["parameters"]["id"].as_str().unwrap();
            assert!(id.starts_with("$response.body#/"), "{id}");
            if id == format!("$response.body#/{field}") {
                seen.insert(target.to_owned());
            }
        }
    }
    let expected: BTreeSet<String> = ["get_job", "cancel_job", "get_batch", "batch_results"]
        .map(String::from)
        .into();
    assert_eq!(seen, expected);
}

/// A request is `prompt` or `messages`, never both: two shapes, each requiring its own field
/// and not knowing the other, with non-blank text.
#[test]
fn the_request_schema_has_exactly_one_of_prompt_or_messages() {
    let doc = serde_json::to_value(openapi_document()).unwrap();
    let shapes = doc["components"]["schemas"]["InvokeRequest"]["oneOf"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(shapes.len(), 2);
    for (shape, (own, other)) in shapes
        .iter()
        .zip([("prompt", "messages"), ("messages", "prompt")])
    {
        assert!(shape["required"].as_array().unwrap().contains(&own.into()));
        assert!(shape["properties"].get(own).is_some());
        assert!(
            !shape["properties"][own]["type"]
                .to_string()
                .contains("null"),
            "{own} is required and not null"
        );
        assert!(shape["properties"].get(other).is_none());
        assert_eq!(shape["additionalProperties"], false);
    }
    assert_eq!(shapes[0]["properties"]["prompt"]["pattern"], "\\S");
}
