//! `bedrock-lb batch`: submits a JSON Lines file of requests through `POST /batch` in chunks,
//! shows progress while the jobs finish, and writes the results in input order; resumable.
//!
//! Guarantees, and how they are kept:
//! - a bad line is reported by number before anything is submitted ([`input`]);
//! - a chunk is never queued twice: each chunk is sent with an `Idempotency-Key` derived from
//!   the input's hash, the run's settings and the chunk's index, and the state file next to the
//!   output ([`state`]) records each accepted chunk at once; a run that stopped between the
//!   server's answer and the state write gets the same jobs back when it sends the chunk again;
//! - results are appended a finished chunk at a time, in input order ([`output`]); a resumed
//!   run continues after the last complete line and never rewrites one;
//! - a different input (or other settings) with the same output is refused.

pub mod input;
pub mod output;
pub mod progress;
pub mod state;
mod submit;

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::client::{ApiClient, ClientError, is_pending};
use input::{Entry, InputError, read_input};
use output::OutputError;
use progress::{Progress, Snapshot};
use state::{BatchState, RunSettings, StateError};

/// What to run.
#[derive(Debug, Clone)]
pub struct BatchOptions {
    /// The JSON Lines input.
    pub input: PathBuf,
    /// The JSON Lines output; its state file is `OUT.state.json`.
    pub out: PathBuf,
    pub settings: RunSettings,
    /// How often unfinished batches are polled.
    pub poll_interval: Duration,
}

/// How a finished run went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchSummary {
    pub requests: usize,
    pub succeeded: usize,
    /// Failed, cancelled or expired.
    pub not_succeeded: usize,
}

/// Why a run stopped before writing every result.
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    #[error(transparent)]
    Input(#[from] InputError),
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Output(#[from] OutputError),
    #[error(
        "{out} holds the results of another input file (its state {state} records input sha256 \
         {recorded}, this input is {actual}); use another --out, or delete both files to start over"
    )]
    DifferentInput {
        out: String,
        state: String,
        recorded: String,
        actual: String,
    },
    #[error(
        "{out} was started with other options ({recorded}); run again with those, or use another --out"
    )]
    DifferentSettings { out: String, recorded: String },
    #[error(
        "{out} already exists but has no state file {state}, so it was not written by `batch`; \
         use another --out or delete it"
    )]
    NotOurs { out: String, state: String },
    #[error("the API rejected chunk {chunk} (input lines {first}-{last}):\n{reasons}")]
    Rejected {
        chunk: usize,
        first: usize,
        last: usize,
        reasons: String,
    },
    #[error("chunk {chunk}: {source}")]
    Api {
        chunk: usize,
        #[source]
        source: ClientError,
    },
    #[error(
        "interrupted: {submitted} of {chunks} chunks submitted, {written} of {requests} results \
         written; run the same command again to continue"
    )]
    Interrupted {
        submitted: usize,
        chunks: usize,
        written: usize,
        requests: usize,
    },
}

/// Runs (or resumes) a batch; stops early with [`BatchError::Interrupted`] when `cancel` fires,
/// leaving the state and output consistent.
pub async fn run(
    client: &ApiClient,
    options: &BatchOptions,
    cancel: &CancellationToken,
) -> Result<BatchSummary, BatchError> {
    let input = read_input(&options.input)?;
    let state_path = BatchState::path_for(&options.out);
    let mut state = open_state(options, &input, &state_path)?;
    let entries = &input.entries;
    let mut written = output::prepare(&options.out, entries)?;
    let chunk_size = state.settings.chunk_size;
    let chunks: Vec<&[Entry]> = entries.chunks(chunk_size).collect();
    let mut progress = Progress::new(entries.len() as u64);
    let mut snapshot = Snapshot {
        finished: written as u64,
        written: written as u64,
        chunks_submitted: state.chunks.len(),
        chunks: chunks.len(),
    };
    progress.update(snapshot);
    let interrupted = |state: &BatchState, written: usize| BatchError::Interrupted {
        submitted: state.chunks.len(),
        chunks: chunks.len(),
        written,
        requests: entries.len(),
    };

    for (index, chunk) in chunks.iter().enumerate() {
        if state.chunks.contains_key(&index) {
            continue;
        }
        if cancel.is_cancelled() {
            progress.abandon();
            return Err(interrupted(&state, written));
        }
        let key = submit::idempotency_key(&input.sha256, &state.settings, index);
        let record =
            match submit::submit_chunk(client, &state.settings, index, chunk, &key, cancel).await {
                Ok(Some(record)) => record,
                Ok(None) => {
                    progress.abandon();
                    return Err(interrupted(&state, written));
                }
                Err(error) => {
                    progress.abandon();
                    return Err(error);
                }
            };
        state.chunks.insert(index, record);
        state.save(&state_path)?;
        snapshot.chunks_submitted = state.chunks.len();
        progress.update(snapshot);
    }

    // Every chunk is queued; poll the unfinished ones and write each leading finished chunk.
    let mut finished: Vec<u64> = chunks
        .iter()
        .enumerate()
        .map(|(i, chunk)| {
            if (i + 1) * chunk_size <= written {
                chunk.len() as u64
            } else {
                0
            }
        })
        .collect();
    while written < entries.len() {
        let current = written / chunk_size;
        for index in current..chunks.len() {
            if finished[index] == chunks[index].len() as u64 {
                continue;
            }
            let batch_id = &chunk_record(&state, index)?.batch_id;
            finished[index] =
                submit::finished_in_batch(client, batch_id)
                    .await
                    .map_err(|source| BatchError::Api {
                        chunk: index,
                        source,
                    })?;
        }
        let mut index = written / chunk_size;
        while index < chunks.len() && finished[index] == chunks[index].len() as u64 {
            let start = written - index * chunk_size;
            let lines =
                match result_lines(client, chunk_record(&state, index)?, chunks[index], start)
                    .await
                    .map_err(|source| BatchError::Api {
                        chunk: index,
                        source,
                    })? {
                    Some(lines) => lines,
                    None => {
                        // A job the counts called finished is still pending: poll again.
                        finished[index] = 0;
                        break;
                    }
                };
            output::append(&options.out, &lines)?;
            written += lines.len();
            index += 1;
        }
        snapshot.finished = finished.iter().sum();
        snapshot.written = written as u64;
        progress.update(snapshot);
        if written == entries.len() {
            break;
        }
        tokio::select! {
            () = cancel.cancelled() => {
                progress.abandon();
                return Err(interrupted(&state, written));
            }
            () = tokio::time::sleep(options.poll_interval) => {}
        }
    }
    let summary = summarize(&options.out, entries.len())?;
    progress.finish(&format!(
        "{} results written to {}: {} succeeded, {} did not",
        summary.requests,
        options.out.display(),
        summary.succeeded,
        summary.not_succeeded
    ));
    Ok(summary)
}

/// The state of this run: a new one, or the one of an earlier run over the same input with
/// the same settings.
fn open_state(
    options: &BatchOptions,
    input: &input::Input,
    state_path: &Path,
) -> Result<BatchState, BatchError> {
    match BatchState::load(state_path)? {
        Some(state) => {
            if state.input_sha256 != input.sha256 || state.requests != input.entries.len() {
                return Err(BatchError::DifferentInput {
                    out: options.out.display().to_string(),
                    state: state_path.display().to_string(),
                    recorded: state.input_sha256,
                    actual: input.sha256.clone(),
                });
            }
            if state.settings != options.settings {
                return Err(BatchError::DifferentSettings {
                    out: options.out.display().to_string(),
                    recorded: describe(&state.settings),
                });
            }
            Ok(state)
        }
        None => {
            let exists_with_content = std::fs::metadata(&options.out).is_ok_and(|m| m.len() > 0);
            if exists_with_content {
                return Err(BatchError::NotOurs {
                    out: options.out.display().to_string(),
                    state: state_path.display().to_string(),
                });
            }
            let state = BatchState::new(
                input.sha256.clone(),
                input.entries.len(),
                options.settings.clone(),
            );
            state.save(state_path)?;
            Ok(state)
        }
    }
}

fn describe(settings: &RunSettings) -> String {
    let mut parts = vec![format!("--chunk {}", settings.chunk_size)];
    if let Some(model) = &settings.model {
        parts.push(format!("--model {model}"));
    }
    if let Some(max_tokens) = settings.max_tokens {
        parts.push(format!("--max-tokens {max_tokens}"));
    }
    parts.join(" ")
}

fn chunk_record(state: &BatchState, index: usize) -> Result<&state::ChunkRecord, BatchError> {
    state.chunks.get(&index).ok_or_else(|| BatchError::Api {
        chunk: index,
        source: ClientError::Unexpected("the state file has no record of this chunk".into()),
    })
}

/// The output lines of `entries[start..]` of a finished chunk, or `None` if one of its jobs
/// turns out to be still pending.
async fn result_lines(
    client: &ApiClient,
    record: &state::ChunkRecord,
    entries: &[Entry],
    start: usize,
) -> Result<Option<Vec<Value>>, ClientError> {
    let mut results: std::collections::HashMap<String, Value> = client
        .batch_results(&record.batch_id)
        .await?
        .into_iter()
        .filter_map(|line| {
            let id = line.get("job_id")?.as_str()?.to_owned();
            Some((id, line))
        })
        .collect();
    let mut lines = Vec::with_capacity(entries.len().saturating_sub(start));
    for (entry, job_id) in entries.iter().zip(&record.job_ids).skip(start) {
        let job = match results.remove(job_id) {
            Some(job) => job,
            None => client.job(job_id).await?,
        };
        if is_pending(&job) {
            return Ok(None);
        }
        lines.push(output::result_line(entry, job_id, &job));
    }
    Ok(Some(lines))
}

/// Counts the statuses in the finished output file.
fn summarize(out: &Path, requests: usize) -> Result<BatchSummary, BatchError> {
    let text = std::fs::read_to_string(out).map_err(|e| OutputError::Io {
        path: out.display().to_string(),
        reason: e.to_string(),
    })?;
    let succeeded = text
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|line| line.get("status").and_then(Value::as_str) == Some("succeeded"))
        .count();
    Ok(BatchSummary {
        requests,
        succeeded,
        not_succeeded: requests.saturating_sub(succeeded),
    })
}
