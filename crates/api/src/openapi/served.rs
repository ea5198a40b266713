//! The document a router serves: the generated one with what its configuration decides
//! written in, so that the document refuses what validation refuses: the model names (an
//! enum), the `max_tokens` ceiling and the most requests in a batch.

use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, Schema, SchemaFormat, Type};
use utoipa::openapi::{OpenApi, RefOr};

use bedrock_lb_core::ModelCatalog;

use crate::ApiLimits;

/// `document` (see [`crate::openapi_document`]) with `catalog`'s models and `limits` written
/// into the request schemas.
pub fn served_document(
    mut document: OpenApi,
    catalog: &ModelCatalog,
    limits: &ApiLimits,
) -> OpenApi {
    let Some(components) = document.components.as_mut() else {
        return document;
    };
    let schemas = &mut components.schemas;
    let names: Vec<&str> = catalog.models().map(|m| m.name.as_str()).collect();
    schemas.insert(
        "ModelName".into(),
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(names))
            .description(Some("A configured model name"))
            .into(),
    );
    // The ceiling depends on the model. The largest is documented: the document must admit every
    // request some model accepts; a value over the chosen model's own maximum answers 400.
    let ceiling = catalog.models().map(|m| m.max_output_tokens).max();
    schemas.insert(
        "MaxTokens".into(),
        ObjectBuilder::new()
            .schema_type(Type::Integer)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int32)))
            .minimum(Some(1))
            .maximum(ceiling)
            .description(Some(
                "Most tokens to generate: 1 to the chosen model's maximum (the largest model's is given here; over the chosen model's own, the answer is 400)",
            ))
            .into(),
    );
    if let Some(RefOr::T(Schema::Object(batch))) = schemas.get_mut("BatchBody")
        && let Some(RefOr::T(Schema::Array(requests))) = batch.properties.get_mut("requests")
    {
        requests.max_items = Some(limits.max_batch_requests);
    }
    document
}

#[cfg(test)]
mod tests {
    use super::*;
    use bedrock_lb_core::{BucketId, ModelSpec};
    use serde_json::json;

    #[test]
    fn the_served_document_names_the_models_and_limits() {
        let spec = |name: &str, max| ModelSpec {
            name: name.into(),
            max_output_tokens: max,
            buckets: vec![BucketId::new("us-east-1", "vendor.m-v1:0")],
        };
        let catalog = ModelCatalog::new("a", [spec("a", 300), spec("b", 900)]).unwrap();
        let limits = ApiLimits {
            max_batch_requests: 7,
            ..ApiLimits::default()
        };
        let doc = served_document(crate::openapi_document(), &catalog, &limits);
        let doc = serde_json::to_value(doc).unwrap();
        let schemas = &doc["components"]["schemas"];
        assert_eq!(schemas["ModelName"]["enum"], json!(["a", "b"]));
        assert_eq!(schemas["MaxTokens"]["maximum"], json!(900));
        assert_eq!(
            schemas["BatchBody"]["properties"]["requests"]["maxItems"],
            json!(7)
        );
    }
}
