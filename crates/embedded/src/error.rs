//! The crate's error type, and how it maps onto the ports' error enums.
//!
//! Infrastructure failures (SQLite, a lost blocking task, a schema this build cannot read)
//! become `Unavailable` at the port boundary; a record that no longer parses becomes
//! `StoreError::Corrupt`, because retrying will not fix it.

use std::fmt::Display;
use std::path::PathBuf;

use bedrock_lb_core::{QueueError, StoreError};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Why an operation on the embedded database failed.
#[derive(Debug, thiserror::Error)]
pub enum EmbeddedError {
    /// The database file's parent directory could not be created.
    #[error("cannot create directory {path}: {source}")]
    CreateDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// SQLite reported an error (including "database is locked" after the busy timeout).
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The blocking task running the statement panicked or was cancelled.
    #[error("database task failed: {0}")]
    Task(String),
    /// The file was written by a newer build with migrations this build does not know.
    #[error("database schema version {found} is newer than this build supports ({supported})")]
    SchemaTooNew { found: i64, supported: i64 },
    /// A stored row could not be decoded (bad JSON, an out-of-range timestamp).
    #[error("stored record is unreadable: {0}")]
    Corrupt(String),
}

impl From<EmbeddedError> for QueueError {
    fn from(err: EmbeddedError) -> Self {
        QueueError::Unavailable(err.to_string())
    }
}

impl From<EmbeddedError> for StoreError {
    fn from(err: EmbeddedError) -> Self {
        match err {
            EmbeddedError::Corrupt(message) => StoreError::Corrupt(message),
            other => StoreError::Unavailable(other.to_string()),
        }
    }
}

/// Reads a JSON document stored in a row; `what` names the record in the error.
pub(crate) fn from_doc<T: DeserializeOwned>(
    doc: &str,
    what: impl Display,
) -> Result<T, EmbeddedError> {
    serde_json::from_str(doc).map_err(|err| EmbeddedError::Corrupt(format!("{what}: {err}")))
}

/// Writes `value` as the JSON document of a row; `what` names the record in the error.
pub(crate) fn to_doc<T: Serialize>(value: &T, what: impl Display) -> Result<String, EmbeddedError> {
    serde_json::to_string(value)
        .map_err(|err| EmbeddedError::Corrupt(format!("{what} cannot be encoded: {err}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corrupt_records_stay_corrupt_and_the_rest_is_unavailable() {
        let corrupt = StoreError::from(EmbeddedError::Corrupt("bad json".into()));
        assert_eq!(corrupt, StoreError::Corrupt("bad json".into()));
        let task = StoreError::from(EmbeddedError::Task("panicked".into()));
        assert!(matches!(task, StoreError::Unavailable(m) if m.contains("panicked")));
        let queue = QueueError::from(EmbeddedError::Task("cancelled".into()));
        assert!(matches!(queue, QueueError::Unavailable(m) if m.contains("cancelled")));
    }
}
