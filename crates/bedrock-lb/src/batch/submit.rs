//! Sending one chunk through `POST /batch` (with its idempotency key and retries of transient
//! failures), and reading a batch's progress back.

use std::time::Duration;

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;

use super::BatchError;
use super::input::Entry;
use super::state::{ChunkRecord, RunSettings};
use crate::client::{ApiClient, ClientError};

/// Attempts at sending one chunk before giving up on transient failures.
const SEND_ATTEMPTS: u32 = 5;

/// Statuses a job never leaves.
const TERMINAL: [&str; 4] = ["succeeded", "failed", "cancelled", "expired"];

/// The `Idempotency-Key` of chunk `index`: the same input, settings and chunk always give the
/// same key, so a chunk sent again (after a crash, or by a resumed run) cannot queue twice.
pub fn idempotency_key(input_sha256: &str, settings: &RunSettings, index: usize) -> String {
    let mut hash = Sha256::new();
    hash.update(input_sha256.as_bytes());
    hash.update(serde_json::to_vec(settings).unwrap_or_default());
    let digest = hex::encode(hash.finalize());
    format!("bedrock-lb-batch-{}-{index}", &digest[..40])
}

/// The `POST /batch` body of a chunk.
fn body(settings: &RunSettings, entries: &[Entry]) -> Value {
    let requests: Vec<Value> = entries.iter().map(|e| e.request.clone()).collect();
    let mut defaults = Map::new();
    if let Some(model) = &settings.model {
        defaults.insert("model".into(), json!(model));
    }
    if let Some(max_tokens) = settings.max_tokens {
        defaults.insert("max_tokens".into(), json!(max_tokens));
    }
    let mut body = json!({ "requests": requests });
    if !defaults.is_empty() {
        body["defaults"] = Value::Object(defaults);
    }
    body
}

/// Sends chunk `index` until the API accepts it; `None` when `cancel` fired while waiting to
/// retry. Invalid requests come back as [`BatchError::Rejected`] naming input lines.
pub async fn submit_chunk(
    client: &ApiClient,
    settings: &RunSettings,
    index: usize,
    entries: &[Entry],
    key: &str,
    cancel: &CancellationToken,
) -> Result<Option<ChunkRecord>, BatchError> {
    let body = body(settings, entries);
    let mut pause = Duration::from_millis(500);
    let mut attempt = 1;
    loop {
        let error = match client.submit_batch(&body, key).await {
            Ok(accepted) => {
                return Ok(Some(ChunkRecord {
                    batch_id: accepted.batch_id,
                    job_ids: accepted.job_ids,
                }));
            }
            Err(error) => error,
        };
        let api = |source| BatchError::Api {
            chunk: index,
            source,
        };
        match error.status() {
            Some(400) => return Err(rejected(index, entries, &error)),
            Some(503) => {
                if let Some(record) = partly_queued(client, entries, &error).await.map_err(api)? {
                    return Ok(Some(record));
                }
            }
            _ => {}
        }
        let transient = matches!(error, ClientError::Unreachable { .. })
            || matches!(error.status(), Some(429 | 500 | 502 | 503 | 504));
        if !transient || attempt >= SEND_ATTEMPTS {
            return Err(api(error));
        }
        tracing::warn!(chunk = index, attempt, error = %error, "retrying a chunk");
        tokio::select! {
            () = cancel.cancelled() => return Ok(None),
            () = tokio::time::sleep(pause) => {}
        }
        pause *= 2;
        attempt += 1;
    }
}

/// A 400 for a chunk, with each bad request's input line.
fn rejected(index: usize, entries: &[Entry], error: &ClientError) -> BatchError {
    let line_of = |i: usize| entries.get(i).map_or(0, |e| e.line);
    let mut reasons: Vec<String> = Vec::new();
    if let ClientError::Api { body, message, .. } = error {
        let details = body
            .pointer("/error/details")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for detail in details.iter().take(20) {
            let text = |name: &str| detail.get(name).and_then(Value::as_str).unwrap_or("");
            let at = detail
                .get("index")
                .and_then(Value::as_u64)
                .map_or(0, |i| line_of(usize::try_from(i).unwrap_or(usize::MAX)));
            reasons.push(format!(
                "  line {at}: {}: {}",
                text("field"),
                text("message")
            ));
        }
        if details.len() > 20 {
            reasons.push(format!("  ... and {} more", details.len() - 20));
        }
        if reasons.is_empty() {
            reasons.push(format!("  {message}"));
        }
    }
    BatchError::Rejected {
        chunk: index,
        first: line_of(0),
        last: entries.last().map_or(0, |e| e.line),
        reasons: reasons.join("\n"),
    }
}

/// A 503 saying that part of the batch was not queued: those jobs are closed `failed`
/// (`enqueue_failed`) and, under this idempotency key, will stay so. The chunk is recorded
/// with its jobs in input order (the batch's job list), so that their lines say what happened.
async fn partly_queued(
    client: &ApiClient,
    entries: &[Entry],
    error: &ClientError,
) -> Result<Option<ChunkRecord>, ClientError> {
    let ClientError::Api { body, .. } = error else {
        return Ok(None);
    };
    let Some(batch_id) = body.pointer("/error/batch_id").and_then(Value::as_str) else {
        return Ok(None);
    };
    let job_ids = batch_job_ids(client, batch_id).await?;
    if job_ids.len() != entries.len() {
        return Ok(None);
    }
    let not_queued = body
        .pointer("/error/not_queued")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    tracing::warn!(
        batch_id,
        not_queued,
        "part of a chunk could not be queued; those jobs are marked failed"
    );
    Ok(Some(ChunkRecord {
        batch_id: batch_id.to_owned(),
        job_ids,
    }))
}

/// Every job id of a batch, in job order, through the paginated `GET /batches/{id}`.
pub async fn batch_job_ids(client: &ApiClient, batch_id: &str) -> Result<Vec<String>, ClientError> {
    let mut ids = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let path = match &after {
            Some(after) => format!("/batches/{batch_id}?limit=1000&after={after}"),
            None => format!("/batches/{batch_id}?limit=1000"),
        };
        let page = client.call(reqwest::Method::GET, &path, None, None).await?;
        let page_ids: Vec<String> = page
            .get("job_ids")
            .and_then(Value::as_array)
            .map(|ids| {
                ids.iter()
                    .filter_map(|id| id.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        ids.extend(page_ids);
        after = page.get("next").and_then(Value::as_str).map(str::to_owned);
        if after.is_none() {
            return Ok(ids);
        }
    }
}

/// How many jobs of a batch have finished, from `GET /batches/{id}`.
pub async fn finished_in_batch(client: &ApiClient, batch_id: &str) -> Result<u64, ClientError> {
    let view = client.batch(batch_id).await?;
    finished_count(&view)
        .ok_or_else(|| ClientError::Unexpected(format!("no status counts in batch {batch_id}")))
}

/// The number of finished jobs in a batch view: the terminal statuses of its `counts`.
pub fn finished_count(view: &Value) -> Option<u64> {
    let counts = view.get("counts")?.as_object()?;
    Some(
        TERMINAL
            .iter()
            .filter_map(|status| counts.get(*status).and_then(Value::as_u64))
            .sum(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(chunk_size: usize) -> RunSettings {
        RunSettings {
            chunk_size,
            model: None,
            max_tokens: None,
        }
    }

    #[test]
    fn keys_are_stable_valid_and_distinct_per_chunk_input_and_settings() {
        let a = idempotency_key("aa", &settings(500), 0);
        assert_eq!(a, idempotency_key("aa", &settings(500), 0));
        assert_ne!(a, idempotency_key("aa", &settings(500), 1));
        assert_ne!(a, idempotency_key("bb", &settings(500), 0));
        assert_ne!(a, idempotency_key("aa", &settings(100), 0));
        assert!(
            a.len() <= 255 && a.chars().all(|c| c.is_ascii_graphic()),
            "{a}"
        );
    }

    #[test]
    fn defaults_carry_the_run_options() {
        let entries = [Entry {
            line: 1,
            request: json!("hi"),
        }];
        let plain = body(&settings(1), &entries);
        assert_eq!(plain, json!({"requests": ["hi"]}));
        let with = RunSettings {
            chunk_size: 1,
            model: Some("nova-lite".into()),
            max_tokens: Some(7),
        };
        assert_eq!(
            body(&with, &entries)["defaults"],
            json!({"model": "nova-lite", "max_tokens": 7})
        );
    }

    #[test]
    fn finished_counts_only_terminal_statuses() {
        let view = json!({"counts": {"queued": 3, "running": 1, "succeeded": 5, "failed": 1, "expired": 1}});
        assert_eq!(finished_count(&view), Some(7));
        assert_eq!(finished_count(&json!({})), None);
    }

    #[test]
    fn a_rejection_names_input_lines() {
        let entries = [
            Entry {
                line: 3,
                request: json!("a"),
            },
            Entry {
                line: 9,
                request: json!("b"),
            },
        ];
        let error = ClientError::Api {
            status: 400,
            kind: "validation_error".into(),
            message: "1 of the batch's requests are invalid".into(),
            body: json!({"error": {"details": [{"index": 1, "field": "model", "message": "unknown model `x`"}]}}),
        };
        let text = rejected(0, &entries, &error).to_string();
        assert!(text.contains("input lines 3-9"), "{text}");
        assert!(text.contains("line 9: model: unknown model `x`"), "{text}");
    }
}
