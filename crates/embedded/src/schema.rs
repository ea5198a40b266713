//! The database schema as an ordered list of migrations, tracked by SQLite's `user_version`.
//!
//! Migration `i` (0-based) moves the file from version `i` to `i + 1`. Later features (quota
//! store, batches, idempotency keys, TTL sweeps) append a migration here; never edit one that
//! has shipped, because files in the field already ran it.

use rusqlite::{Connection, TransactionBehavior};

use crate::error::EmbeddedError;

/// Every migration, oldest first.
const MIGRATIONS: &[&str] = &[
    // 1: the queue, its dead letters and the job store.
    "
    CREATE TABLE queue_messages (
        seq              INTEGER PRIMARY KEY AUTOINCREMENT,
        message_id       TEXT    NOT NULL UNIQUE,
        body             TEXT    NOT NULL,
        sent_ms          INTEGER NOT NULL,
        visible_at_ms    INTEGER NOT NULL,
        receive_count    INTEGER NOT NULL DEFAULT 0,
        receipt          TEXT    UNIQUE
    );
    CREATE INDEX queue_messages_visible ON queue_messages (visible_at_ms, seq);

    CREATE TABLE dead_letters (
        seq              INTEGER PRIMARY KEY AUTOINCREMENT,
        message_id       TEXT    NOT NULL UNIQUE,
        body             TEXT    NOT NULL,
        sent_ms          INTEGER NOT NULL,
        receive_count    INTEGER NOT NULL,
        dead_ms          INTEGER NOT NULL
    );

    CREATE TABLE jobs (
        job_id           TEXT    PRIMARY KEY NOT NULL,
        status           TEXT    NOT NULL,
        lease_owner      TEXT,
        lease_expires_ms INTEGER,
        created_ms       INTEGER NOT NULL,
        updated_ms       INTEGER NOT NULL,
        batch_id         TEXT,
        doc              TEXT    NOT NULL
    );
    CREATE INDEX jobs_batch ON jobs (batch_id) WHERE batch_id IS NOT NULL;
    CREATE INDEX jobs_status_updated ON jobs (status, updated_ms);
    ",
    // 2: batch listing in id order, finished-job TTL, idempotency keys, and a dead-letter queue
    // that can be received from (visibility, receipts) like SQS's.
    "
    DROP INDEX jobs_batch;
    CREATE INDEX jobs_batch_id ON jobs (batch_id, job_id) WHERE batch_id IS NOT NULL;
    ALTER TABLE jobs ADD COLUMN ttl_s INTEGER;
    CREATE INDEX jobs_ttl ON jobs (ttl_s) WHERE ttl_s IS NOT NULL;

    CREATE TABLE idempotency (
        key              TEXT    PRIMARY KEY NOT NULL,
        expires_ms       INTEGER NOT NULL,
        doc              TEXT    NOT NULL
    );
    CREATE INDEX idempotency_expires ON idempotency (expires_ms);

    ALTER TABLE dead_letters ADD COLUMN visible_at_ms INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE dead_letters ADD COLUMN dlq_receive_count INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE dead_letters ADD COLUMN receipt TEXT;
    CREATE UNIQUE INDEX dead_letters_receipt ON dead_letters (receipt);
    CREATE INDEX dead_letters_visible ON dead_letters (visible_at_ms, seq);
    ",
    // 3: the quota table (buckets and routes) and the workers' heartbeats.
    "
    CREATE TABLE quota_buckets (
        region           TEXT    NOT NULL,
        model_id         TEXT    NOT NULL,
        tpm              INTEGER NOT NULL,
        rpm              INTEGER,
        tpd              INTEGER,
        output_burndown  INTEGER NOT NULL,
        weight           INTEGER NOT NULL,
        enabled          INTEGER NOT NULL,
        PRIMARY KEY (region, model_id)
    );

    CREATE TABLE quota_routes (
        model            TEXT    NOT NULL,
        region           TEXT    NOT NULL,
        model_id         TEXT    NOT NULL,
        PRIMARY KEY (model, region)
    );

    CREATE TABLE quota_workers (
        worker_id        TEXT    PRIMARY KEY NOT NULL,
        seen_ms          INTEGER NOT NULL,
        expires_ms       INTEGER NOT NULL,
        doc              TEXT    NOT NULL
    );
    CREATE INDEX quota_workers_expires ON quota_workers (expires_ms);
    ",
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Brings the database up to [`SCHEMA_VERSION`], in one immediate transaction so that two
/// processes opening the same new file do not both migrate it.
pub(crate) fn migrate(conn: &mut Connection) -> Result<(), EmbeddedError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let found: i64 = tx.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    if found > SCHEMA_VERSION {
        return Err(EmbeddedError::SchemaTooNew {
            found,
            supported: SCHEMA_VERSION,
        });
    }
    let start = usize::try_from(found).unwrap_or(0);
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(start) {
        tx.execute_batch(sql)?;
        let version = i64::try_from(index + 1).unwrap_or(i64::MAX);
        tx.pragma_update(None, "user_version", version)?;
        tracing::debug!(version, "applied embedded database migration");
    }
    tx.commit()?;
    Ok(())
}

/// The schema version recorded in the file.
pub(crate) fn current_version(conn: &Connection) -> Result<i64, EmbeddedError> {
    Ok(conn.query_row("PRAGMA user_version", [], |row| row.get(0))?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrating_twice_is_a_no_op_and_records_the_version() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        migrate(&mut conn).unwrap();
        assert_eq!(current_version(&conn).unwrap(), SCHEMA_VERSION);
        let tables: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' \
                 AND name IN ('queue_messages', 'dead_letters', 'jobs', 'idempotency', \
                 'quota_buckets', 'quota_routes', 'quota_workers')",
                [],
                |row| row.get(0),
            )
            .unwrap();
        assert_eq!(tables, 7);
    }

    #[test]
    fn a_version_1_file_keeps_its_rows_and_gains_the_new_columns() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(MIGRATIONS[0]).unwrap();
        conn.pragma_update(None, "user_version", 1).unwrap();
        conn.execute_batch(
            "INSERT INTO jobs (job_id, status, created_ms, updated_ms, batch_id, doc) \
             VALUES ('j1', 'queued', 1, 1, 'b', '{}'); \
             INSERT INTO dead_letters (message_id, body, sent_ms, receive_count, dead_ms) \
             VALUES ('m1', 'body', 1, 5, 2);",
        )
        .unwrap();
        migrate(&mut conn).unwrap();
        assert_eq!(current_version(&conn).unwrap(), SCHEMA_VERSION);
        let ttl: Option<i64> = conn
            .query_row("SELECT ttl_s FROM jobs WHERE job_id = 'j1'", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(ttl, None);
        let (visible, count, receipt): (i64, i64, Option<String>) = conn
            .query_row(
                "SELECT visible_at_ms, dlq_receive_count, receipt FROM dead_letters",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap();
        assert_eq!((visible, count, receipt), (0, 0, None));
    }

    #[test]
    fn a_newer_schema_is_refused() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .unwrap();
        assert!(matches!(
            migrate(&mut conn),
            Err(EmbeddedError::SchemaTooNew { found, .. }) if found == SCHEMA_VERSION + 1
        ));
    }
}
