//! The shared database handle: one SQLite connection behind a mutex, the injected clock, and
//! the notifier that wakes long-polling receivers when a message arrives.
//!
//! rusqlite is blocking, so every operation runs on tokio's blocking pool through
//! [`EmbeddedDb::run`]; the lock is taken and released inside that blocking task and never held
//! across an await.

use std::path::Path;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bedrock_lb_core::Clock;
use chrono::{DateTime, Utc};
use rusqlite::Connection;
use tokio::sync::Notify;

use crate::error::EmbeddedError;
use crate::jobs::EmbeddedJobStore;
use crate::queue::{DeadLetterQueue, EmbeddedQueue, QueueSettings};
use crate::schema;

/// How long a statement waits for another connection's write lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// One SQLite database (file or in-memory) shared by the queue and the job store, so the
/// local mode keeps all its durable state in a single file. Clone is cheap (Arc inside).
#[derive(Debug, Clone)]
pub struct EmbeddedDb {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// The one connection; SQLite serialises writers anyway, and one connection keeps
    /// in-memory databases shared between the queue and the store.
    conn: Mutex<Connection>,
    /// Source of "now" for visibility timeouts, leases and timestamps.
    clock: Arc<dyn Clock>,
    /// Woken on every send so that long-polling receivers return at once.
    message_sent: Notify,
    /// How many receivers are parked in a long poll right now (idle workers).
    waiting_receivers: AtomicUsize,
}

impl EmbeddedDb {
    /// Opens or creates the database file (creating parent dirs), in WAL mode with a busy
    /// timeout, and applies pending migrations.
    pub fn open(path: &Path, clock: Arc<dyn Clock>) -> Result<Self, EmbeddedError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|source| EmbeddedError::CreateDir {
                path: parent.to_path_buf(),
                source,
            })?;
        }
        let conn = Connection::open(path)?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        let mode: String =
            conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            tracing::warn!(%mode, "SQLite refused WAL journal mode");
        }
        // In WAL mode NORMAL survives process crashes; only an OS crash can lose the last commits.
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        tracing::info!(path = %path.display(), "opened embedded database");
        Self::with_connection(conn, clock)
    }

    /// A private in-memory database, for tests and throwaway runs.
    pub fn open_in_memory(clock: Arc<dyn Clock>) -> Result<Self, EmbeddedError> {
        Self::with_connection(Connection::open_in_memory()?, clock)
    }

    fn with_connection(mut conn: Connection, clock: Arc<dyn Clock>) -> Result<Self, EmbeddedError> {
        schema::migrate(&mut conn)?;
        Ok(Self {
            inner: Arc::new(Inner {
                conn: Mutex::new(conn),
                clock,
                message_sent: Notify::new(),
                waiting_receivers: AtomicUsize::new(0),
            }),
        })
    }

    /// The queue stored in this database.
    pub fn queue(&self, settings: QueueSettings) -> EmbeddedQueue {
        EmbeddedQueue::new(self.clone(), settings)
    }

    /// The dead letters stored in this database (messages the queue received too often), as
    /// a queue the worker drains to fail their jobs, like SQS's dead-letter queue.
    pub fn dead_letter_queue(&self) -> DeadLetterQueue {
        DeadLetterQueue::new(self.clone())
    }

    /// The job store stored in this database.
    pub fn job_store(&self) -> EmbeddedJobStore {
        EmbeddedJobStore::new(self.clone())
    }

    /// The clock this database reads "now" from.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.inner.clock
    }

    /// The schema version recorded in the database.
    pub async fn schema_version(&self) -> Result<i64, EmbeddedError> {
        self.run(|conn| schema::current_version(conn)).await
    }

    /// The current time from the injected clock.
    pub(crate) fn now(&self) -> DateTime<Utc> {
        self.inner.clock.now()
    }

    /// The notifier woken on every send.
    pub(crate) fn message_sent(&self) -> &Notify {
        &self.inner.message_sent
    }

    /// The count of receivers parked in a long poll.
    pub(crate) fn waiting_receivers(&self) -> &AtomicUsize {
        &self.inner.waiting_receivers
    }

    /// Runs `op` with the connection on the blocking pool.
    ///
    /// A poisoned lock is recovered: a panic inside `op` drops its transaction, which rolls
    /// back, so the connection is still consistent.
    pub(crate) async fn run<T, F>(&self, op: F) -> Result<T, EmbeddedError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, EmbeddedError> + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || {
            let mut conn = inner.conn.lock().unwrap_or_else(PoisonError::into_inner);
            op(&mut conn)
        })
        .await
        .map_err(|err| EmbeddedError::Task(err.to_string()))?
    }
}

/// Epoch milliseconds of `t`, as stored in SQLite.
pub(crate) fn to_ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

/// The time at epoch milliseconds `ms`; out-of-range values mean the row is corrupt.
pub(crate) fn from_ms(ms: i64) -> Result<DateTime<Utc>, EmbeddedError> {
    DateTime::from_timestamp_millis(ms)
        .ok_or_else(|| EmbeddedError::Corrupt(format!("timestamp {ms} ms is out of range")))
}

/// `d` in whole milliseconds, saturating at `i64::MAX`.
pub(crate) fn duration_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}
