//! The `batch` output file: one JSON line per input request, in input order,
//! `{"line": n, "job_id", "status", "result" | "error"}`.
//!
//! Lines are only ever appended, a finished chunk at a time, in input order, so the lines
//! already in the file are exactly a prefix of the input's requests. A resumed run checks that
//! prefix, drops a last line cut short by a crash, and appends from there: nothing written is
//! rewritten.

use std::io::Write;
use std::path::Path;

use serde_json::{Map, Value, json};

use super::input::Entry;

/// Why the output file cannot be used or written.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error("{path}: {reason}")]
    Io { path: String, reason: String },
    #[error(
        "{path} does not match this input at its line {at}: {reason}; \
         it was not written by this batch (use another --out)"
    )]
    Mismatch {
        path: String,
        at: usize,
        reason: String,
    },
}

/// Opens (creating it if needed) the output file for a run over `entries`; returns how many
/// requests already have their line. A partial last line is removed.
pub fn prepare(path: &Path, entries: &[Entry]) -> Result<usize, OutputError> {
    let io = |e: std::io::Error| io_error(path, &e);
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::File::create(path).map_err(io)?;
            return Ok(0);
        }
        Err(e) => return Err(io(e)),
    };
    let complete = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    if complete < bytes.len() {
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(io)?;
        file.set_len(complete as u64).map_err(io)?;
        file.sync_all().map_err(io)?;
    }
    let text = String::from_utf8_lossy(&bytes[..complete]);
    let mut written = 0;
    for (i, raw) in text.lines().enumerate() {
        let mismatch = |reason: String| OutputError::Mismatch {
            path: path.display().to_string(),
            at: i + 1,
            reason,
        };
        let value: Value = serde_json::from_str(raw).map_err(|e| mismatch(e.to_string()))?;
        let Some(entry) = entries.get(i) else {
            return Err(mismatch("more lines than the input has requests".into()));
        };
        let line = value.get("line").and_then(Value::as_u64);
        if line != Some(entry.line as u64) {
            return Err(mismatch(format!(
                "expected the result of input line {}, found {}",
                entry.line,
                line.map_or_else(|| "no line number".to_owned(), |l| format!("line {l}"))
            )));
        }
        written += 1;
    }
    Ok(written)
}

/// Appends `lines` and syncs them to disk.
pub fn append(path: &Path, lines: &[Value]) -> Result<(), OutputError> {
    let io = |e: std::io::Error| io_error(path, &e);
    let mut buffer = Vec::new();
    for line in lines {
        serde_json::to_writer(&mut buffer, line).map_err(|e| io(e.into()))?;
        buffer.push(b'\n');
    }
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .map_err(io)?;
    file.write_all(&buffer).map_err(io)?;
    file.sync_data().map_err(io)
}

/// The output line for `entry`, from its job as the API shows it (a job view, or a line of
/// `GET /batches/{id}/results`).
pub fn result_line(entry: &Entry, job_id: &str, job: &Value) -> Value {
    let mut line = Map::new();
    line.insert("line".into(), json!(entry.line));
    line.insert("job_id".into(), json!(job_id));
    line.insert(
        "status".into(),
        job.get("status").cloned().unwrap_or(Value::Null),
    );
    for field in ["result", "error"] {
        if let Some(value) = job.get(field).filter(|v| !v.is_null()) {
            line.insert(field.into(), value.clone());
        }
    }
    Value::Object(line)
}

fn io_error(path: &Path, error: &std::io::Error) -> OutputError {
    OutputError::Io {
        path: path.display().to_string(),
        reason: error.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(lines: &[usize]) -> Vec<Entry> {
        lines
            .iter()
            .map(|&line| Entry {
                line,
                request: json!("p"),
            })
            .collect()
    }

    #[test]
    fn appended_lines_are_counted_and_a_cut_line_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out.jsonl");
        let entries = entries(&[1, 3, 4]);
        assert_eq!(prepare(&out, &entries).unwrap(), 0);
        let job = json!({"status": "succeeded", "result": {"text": "t"}, "error": null});
        append(&out, &[result_line(&entries[0], "j1", &job)]).unwrap();
        let mut text = std::fs::read_to_string(&out).unwrap();
        assert_eq!(
            text,
            "{\"job_id\":\"j1\",\"line\":1,\"result\":{\"text\":\"t\"},\"status\":\"succeeded\"}\n"
        );
        text.push_str("{\"line\": 3, \"job_");
        std::fs::write(&out, &text).unwrap();
        assert_eq!(prepare(&out, &entries).unwrap(), 1);
        assert_eq!(std::fs::read_to_string(&out).unwrap().lines().count(), 1);
    }

    #[test]
    fn a_file_from_another_input_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out.jsonl");
        std::fs::write(&out, "{\"line\": 2}\n").unwrap();
        let err = prepare(&out, &entries(&[1, 2])).unwrap_err().to_string();
        assert!(err.contains("expected the result of input line 1"), "{err}");
    }
}
