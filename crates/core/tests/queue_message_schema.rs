//! The shipped JSON Schema for queue messages (`schemas/queue-message.schema.json`) must name
//! exactly the fields the worker accepts, so that producers who validate against it are never
//! told a message is fine that the worker then rejects, or the other way round.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;

use bedrock_lb_core::message::{self, MessageError};
use bedrock_lb_core::{ContentBlock, InvokeRequest, Message, Role};
use serde_json::Value;

const SCHEMA: &str = include_str!("../../../schemas/queue-message.schema.json");

fn object_schema() -> Value {
    let schema: Value = serde_json::from_str(SCHEMA).unwrap();
    schema["oneOf"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["type"] == "object")
        .cloned()
        .unwrap()
}

#[test]
fn the_schema_names_every_field_the_worker_reads_and_no_other() {
    let schema = object_schema();
    let documented: BTreeSet<String> = schema["properties"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    // A request with every field set serializes every field name the worker deserializes.
    let every_field = InvokeRequest {
        prompt: Some("p".into()),
        messages: Some(vec![Message {
            role: Role::User,
            content: vec![ContentBlock { text: "t".into() }],
        }]),
        system: Some("s".into()),
        model: Some("m".into()),
        max_tokens: Some(1),
        temperature: Some(0.5),
        top_p: Some(0.5),
        stop_sequences: Some(vec!["x".into()]),
        metadata: Some(serde_json::json!({})),
        deadline: Some(chrono::Utc::now()),
    };
    let mut accepted: BTreeSet<String> = serde_json::to_value(&every_field)
        .unwrap()
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    accepted.insert("job_id".into());
    assert_eq!(documented, accepted);
    assert_eq!(schema["additionalProperties"], false);
}

#[test]
fn the_schema_job_id_pattern_matches_what_the_worker_accepts() {
    let pattern = object_schema()["properties"]["job_id"]["pattern"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(pattern, "^[A-Za-z0-9._:-]{1,128}$");
    for good in ["order-42", "a.b:c_d", &"x".repeat(128)] {
        let body = serde_json::json!({"job_id": good, "prompt": "hi"}).to_string();
        assert!(message::decode(&body).is_ok(), "{good}");
    }
    for bad in ["", "a b", "a/b", &"x".repeat(129)] {
        let body = serde_json::json!({"job_id": bad, "prompt": "hi"}).to_string();
        assert!(
            matches!(message::decode(&body), Err(MessageError::InvalidJobId(_))),
            "{bad}"
        );
    }
}
