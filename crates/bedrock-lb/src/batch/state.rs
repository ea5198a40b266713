//! The state file of a `batch` run, kept next to the output (`OUT.state.json`): which input it
//! belongs to, with which settings, and for every chunk the server accepted, its batch id and
//! job ids.
//!
//! It is written atomically (a temporary file in the same directory, synced, then renamed over
//! the old one) right after each chunk is accepted, so that however the process ends, the file
//! names every chunk that may have been queued. Together with the idempotency key of each
//! chunk, this is what makes a resumed run submit nothing twice.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Version of the state file's format.
pub const STATE_VERSION: u32 = 1;

/// The options that shape what is submitted; a resumed run must use the same ones.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunSettings {
    /// Requests per `POST /batch`.
    pub chunk_size: usize,
    /// `--model`: the default model of every request that names none.
    #[serde(default)]
    pub model: Option<String>,
    /// `--max-tokens`: the default of every request that sets none.
    #[serde(default)]
    pub max_tokens: Option<u32>,
}

/// A chunk the server accepted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkRecord {
    pub batch_id: String,
    /// One per request of the chunk, in input order.
    pub job_ids: Vec<String>,
}

/// The whole state file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchState {
    pub version: u32,
    /// Lowercase hex SHA-256 of the input file.
    pub input_sha256: String,
    /// Requests (non-blank lines) in the input.
    pub requests: usize,
    pub settings: RunSettings,
    /// Chunk index → what the server accepted.
    pub chunks: BTreeMap<usize, ChunkRecord>,
}

/// Why the state file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("{path}: {reason}")]
    Io { path: String, reason: String },
    #[error("{path} is not a batch state file: {reason}")]
    Corrupt { path: String, reason: String },
}

impl BatchState {
    /// A state with no chunk submitted yet.
    pub fn new(input_sha256: String, requests: usize, settings: RunSettings) -> Self {
        Self {
            version: STATE_VERSION,
            input_sha256,
            requests,
            settings,
            chunks: BTreeMap::new(),
        }
    }

    /// The state file that belongs to output file `out`.
    pub fn path_for(out: &Path) -> PathBuf {
        let mut name = out.as_os_str().to_owned();
        name.push(".state.json");
        PathBuf::from(name)
    }

    /// Reads the state at `path`, if there is one.
    pub fn load(path: &Path) -> Result<Option<Self>, StateError> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_error(path, &e)),
        };
        let state: Self = serde_json::from_str(&text).map_err(|e| StateError::Corrupt {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        if state.version != STATE_VERSION {
            return Err(StateError::Corrupt {
                path: path.display().to_string(),
                reason: format!("format version {} is not {STATE_VERSION}", state.version),
            });
        }
        Ok(Some(state))
    }

    /// Writes the state to `path` atomically: a reader (or a later run) sees either the old
    /// file or the new one, never a part.
    pub fn save(&self, path: &Path) -> Result<(), StateError> {
        let text = serde_json::to_vec_pretty(self).map_err(|e| StateError::Corrupt {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        let mut temp = path.as_os_str().to_owned();
        temp.push(".tmp");
        let temp = PathBuf::from(temp);
        let write = || -> std::io::Result<()> {
            let mut file = std::fs::File::create(&temp)?;
            file.write_all(&text)?;
            file.sync_all()?;
            std::fs::rename(&temp, path)?;
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
                && let Ok(dir) = std::fs::File::open(dir)
            {
                // Make the rename itself durable; not every platform can sync a directory.
                let _ = dir.sync_all();
            }
            Ok(())
        };
        write().map_err(|e| io_error(path, &e))
    }
}

fn io_error(path: &Path, error: &std::io::Error) -> StateError {
    StateError::Io {
        path: path.display().to_string(),
        reason: error.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saves_and_loads_the_same_state() {
        let dir = tempfile::tempdir().unwrap();
        let path = BatchState::path_for(&dir.path().join("out.jsonl"));
        assert!(path.ends_with("out.jsonl.state.json"));
        assert_eq!(BatchState::load(&path).unwrap(), None);
        let settings = RunSettings {
            chunk_size: 2,
            model: Some("m".into()),
            max_tokens: None,
        };
        let mut state = BatchState::new("ab".repeat(32), 3, settings);
        state.chunks.insert(
            0,
            ChunkRecord {
                batch_id: "b1".into(),
                job_ids: vec!["j1".into(), "j2".into()],
            },
        );
        state.save(&path).unwrap();
        state.save(&path).unwrap();
        assert_eq!(BatchState::load(&path).unwrap(), Some(state));
        let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no temporary file is left behind");
    }

    #[test]
    fn a_foreign_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.state.json");
        std::fs::write(&path, "{\"hello\": 1}").unwrap();
        assert!(matches!(
            BatchState::load(&path),
            Err(StateError::Corrupt { .. })
        ));
    }
}
