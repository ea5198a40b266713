//! Idempotency records in the `idempotency` table: a conditional put that keeps a live record
//! and replaces an expired one, in one immediate transaction so two concurrent submissions with
//! one key cannot both win.

use bedrock_lb_core::IdempotencyRecord;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use crate::db::to_ms;
use crate::error::{EmbeddedError, from_doc, to_doc};

/// Stores `record` unless a record live at `now_ms` holds its key; returns that one instead.
pub(super) fn put(
    conn: &mut Connection,
    record: &IdempotencyRecord,
    now_ms: i64,
) -> Result<Option<IdempotencyRecord>, EmbeddedError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let existing: Option<(i64, String)> = tx
        .prepare_cached("SELECT expires_ms, doc FROM idempotency WHERE key = ?1")?
        .query_row(params![record.key], |row| Ok((row.get(0)?, row.get(1)?)))
        .optional()?;
    if let Some((expires_ms, doc)) = existing
        && now_ms < expires_ms
    {
        let live = from_doc(&doc, format_args!("idempotency record {}", record.key))?;
        return Ok(Some(live));
    }
    let doc = to_doc(record, format_args!("idempotency record {}", record.key))?;
    tx.prepare_cached(
        "INSERT INTO idempotency (key, expires_ms, doc) VALUES (?1, ?2, ?3) \
         ON CONFLICT (key) DO UPDATE SET expires_ms = excluded.expires_ms, doc = excluded.doc",
    )?
    .execute(params![record.key, to_ms(record.expires_at), doc])?;
    tx.commit()?;
    Ok(None)
}
