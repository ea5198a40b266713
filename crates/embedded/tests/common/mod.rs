//! Helpers shared by the integration tests: a hand-moved clock, databases and job fixtures.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use bedrock_lb_core::{Job, ManualClock};
use bedrock_lb_embedded::EmbeddedDb;
use chrono::{DateTime, Utc};

/// A fixed starting time, so tests do not depend on the wall clock.
pub fn start() -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000, 0).unwrap()
}

pub fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(start()))
}

/// An in-memory database driven by `clock`.
pub fn memory_db(clock: &Arc<ManualClock>) -> EmbeddedDb {
    EmbeddedDb::open_in_memory(clock.clone()).unwrap()
}

/// A queued job with a one-message request (the contract crate's fixture).
pub fn queued_job(now: DateTime<Utc>) -> Job {
    bedrock_lb_contract::queued_job(now)
}

/// A database in a fresh file under a temp dir (kept alive by the returned guard).
pub fn file_db(clock: &Arc<ManualClock>) -> (EmbeddedDb, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let db = EmbeddedDb::open(&dir.path().join("lb.sqlite3"), clock.clone()).unwrap();
    (db, dir)
}
