//! Schemas of the request bodies, as strict as the validation behind them
//! (`InvokeRequest::validate` in `bedrock-lb-core`), so that a client or a fuzzer working
//! from the document sends what the API accepts: non-blank text, at least one message and
//! content block, bounded settings, and exactly one of `prompt` or `messages`.
//!
//! [`InvokeBody`] lists every field with its own constraints; [`InvokeRequestSchema`] derives
//! from it the two shapes a request may have (one of `prompt` or `messages`, never both).
//! What depends on the configuration (the model names, the `max_tokens` ceiling, the batch
//! size) is filled in by [`super::served`].

#![allow(dead_code)] // The mirror types exist for their schemas only.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;
use utoipa::openapi::schema::{
    KnownFormat, ObjectBuilder, OneOfBuilder, Schema, SchemaFormat, SchemaType, Type,
};
use utoipa::openapi::{Ref, RefOr};
use utoipa::{PartialSchema, ToSchema};

/// What `trim().is_empty()` refuses: text must hold a non-whitespace character.
pub const NON_BLANK: &str = r"\S";

/// Every field of a `POST /invoke` body, each optional: the `defaults` of a batch. A request
/// itself is an [`InvokeRequestSchema`]. Unknown fields are refused.
#[derive(Debug, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = InvokeFields)]
pub struct InvokeBody {
    /// A single user prompt; shorthand for one user message.
    #[schema(min_length = 1, pattern = r"\S")]
    pub prompt: Option<String>,
    /// A conversation, first message from the user, roles alternating.
    #[schema(min_items = 1)]
    pub messages: Option<Vec<MessageSchema>>,
    /// A system prompt.
    #[schema(min_length = 1, pattern = r"\S")]
    pub system: Option<String>,
    /// A configured model name; the default model when absent.
    #[schema(value_type = Option<ModelNameSchema>)]
    pub model: Option<String>,
    /// Most tokens to generate; the model's maximum when absent.
    #[schema(value_type = Option<MaxTokensSchema>)]
    pub max_tokens: Option<u32>,
    /// 0 to 1.
    #[schema(minimum = 0.0, maximum = 1.0)]
    pub temperature: Option<f32>,
    /// 0 to 1.
    #[schema(minimum = 0.0, maximum = 1.0)]
    pub top_p: Option<f32>,
    /// At most 4 non-empty sequences.
    #[schema(max_items = 4, value_type = Option<Vec<StopSequenceSchema>>)]
    pub stop_sequences: Option<Vec<String>>,
    /// A JSON object (at most 4096 bytes) stored with the job and returned with it.
    pub metadata: Option<BTreeMap<String, Value>>,
    /// RFC 3339; a job not dispatched by then ends `expired`.
    pub deadline: Option<chrono::DateTime<chrono::Utc>>,
}

/// A schema with a fixed name and no dependencies, for a field whose constraints the derive
/// cannot express on the field itself.
macro_rules! named_schema {
    ($(#[$doc:meta])* $ty:ident = $name:literal, $schema:expr) => {
        $(#[$doc])*
        #[derive(Debug)]
        pub struct $ty;

        impl PartialSchema for $ty {
            fn schema() -> RefOr<Schema> {
                $schema.into()
            }
        }

        impl ToSchema for $ty {
            fn name() -> Cow<'static, str> {
                Cow::Borrowed($name)
            }
        }
    };
}

named_schema!(
    /// A configured model name; the served document lists the configuration's models.
    ModelNameSchema = "ModelName",
    ObjectBuilder::new().schema_type(Type::String).min_length(Some(1))
);

named_schema!(
    /// Most tokens to generate; the served document caps it at the largest model maximum.
    MaxTokensSchema = "MaxTokens",
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int32)))
        .minimum(Some(1))
);

named_schema!(
    /// A sequence that stops generation.
    StopSequenceSchema = "StopSequence",
    ObjectBuilder::new().schema_type(Type::String).min_length(Some(1))
);

/// One turn of a conversation.
#[derive(Debug, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = Message)]
pub struct MessageSchema {
    pub role: RoleSchema,
    #[schema(min_items = 1)]
    pub content: Vec<ContentSchema>,
}

/// Who speaks a message.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
#[schema(as = Role)]
pub enum RoleSchema {
    User,
    Assistant,
}

/// A block of text.
#[derive(Debug, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ContentBlock)]
pub struct ContentSchema {
    #[schema(min_length = 1, pattern = r"\S")]
    pub text: String,
}

/// The body of `POST /invoke`, and one request of `POST /batch`: [`InvokeBody`]'s fields with
/// exactly one of `prompt` or `messages` present.
#[derive(Debug)]
pub struct InvokeRequestSchema;

impl PartialSchema for InvokeRequestSchema {
    fn schema() -> RefOr<Schema> {
        let RefOr::T(Schema::Object(fields)) = InvokeBody::schema() else {
            return InvokeBody::schema();
        };
        let shape = |keep: &str, drop: &str| {
            let mut shape = fields.clone();
            shape.properties.retain(|name, _| name != drop);
            if let Some(field) = shape.properties.get_mut(keep) {
                not_null(field);
            }
            shape.required.push(keep.to_owned());
            shape.title = Some(format!("{keep} request"));
            shape.description = None;
            Schema::Object(shape)
        };
        OneOfBuilder::new()
            .item(shape("prompt", "messages"))
            .item(shape("messages", "prompt"))
            .description(Some(
                "A request: `prompt` or `messages` (not both), and optional settings. \
                 Unknown fields are refused.",
            ))
            .into()
    }
}

/// Drops `null` from a field's types: a required `prompt` or `messages` must be given, and
/// `null` counts as absent.
fn not_null(field: &mut RefOr<Schema>) {
    let schema_type = match field {
        RefOr::T(Schema::Object(object)) => &mut object.schema_type,
        RefOr::T(Schema::Array(array)) => &mut array.schema_type,
        _ => return,
    };
    if let SchemaType::Array(types) = schema_type {
        types.retain(|t| *t != Type::Null);
        if let [only] = types.as_slice() {
            *schema_type = SchemaType::Type(only.clone());
        }
    }
}

impl ToSchema for InvokeRequestSchema {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("InvokeRequest")
    }

    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        <InvokeBody as ToSchema>::schemas(schemas);
    }
}

/// One request of a batch: an [`InvokeRequestSchema`] or a non-blank prompt string.
#[derive(Debug)]
pub struct BatchEntrySchema;

impl PartialSchema for BatchEntrySchema {
    fn schema() -> RefOr<Schema> {
        let prompt = ObjectBuilder::new()
            .schema_type(Type::String)
            .min_length(Some(1))
            .pattern(Some(NON_BLANK))
            .description(Some("A prompt, with every setting from `defaults`"));
        OneOfBuilder::new()
            .item(prompt)
            .item(Ref::from_schema_name(InvokeRequestSchema::name()))
            .into()
    }
}

impl ToSchema for BatchEntrySchema {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("BatchEntry")
    }

    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        schemas.push((
            InvokeRequestSchema::name().into_owned(),
            InvokeRequestSchema::schema(),
        ));
        InvokeRequestSchema::schemas(schemas);
    }
}
