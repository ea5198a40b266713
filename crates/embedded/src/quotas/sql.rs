//! The quota tables' statements. Buckets and routes are typed columns (so `sqlite3` shows
//! readable rows and the keys are enforced by SQLite); a heartbeat is kept whole as JSON in
//! `doc`, beside the columns that key, filter and sweep it.

use bedrock_lb_core::{BucketQuota, ModelRoute, QuotaTable, WorkerBeat};
use rusqlite::{Connection, TransactionBehavior, params};

use crate::db::to_ms;
use crate::error::{EmbeddedError, from_doc, to_doc};

/// How long an expired heartbeat is kept before a later beat sweeps it: one day, as the
/// DynamoDB adapter's TTL, so that a dead worker stays visible for diagnosis for a while.
const EXPIRED_BEAT_KEPT_MS: i64 = 24 * 60 * 60 * 1000;

/// Every bucket, in (region, model id) order, and every route, in (model, region) order.
pub(super) fn table(conn: &Connection) -> Result<QuotaTable, EmbeddedError> {
    let rows = conn
        .prepare_cached(
            "SELECT region, model_id, tpm, rpm, tpd, output_burndown, weight, enabled \
             FROM quota_buckets ORDER BY region, model_id",
        )?
        .query_map([], |row| {
            Ok(BucketRow {
                region: row.get(0)?,
                model_id: row.get(1)?,
                tpm: row.get(2)?,
                rpm: row.get(3)?,
                tpd: row.get(4)?,
                output_burndown: row.get(5)?,
                weight: row.get(6)?,
                enabled: row.get(7)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    let buckets = rows
        .into_iter()
        .map(BucketRow::decode)
        .collect::<Result<Vec<_>, _>>()?;
    let routes = conn
        .prepare_cached("SELECT model, region, model_id FROM quota_routes ORDER BY model, region")?
        .query_map([], |row| {
            Ok(ModelRoute {
                model: row.get(0)?,
                region: row.get(1)?,
                model_id: row.get(2)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(QuotaTable { buckets, routes })
}

/// A bucket row as SQLite holds it (signed integers).
struct BucketRow {
    region: String,
    model_id: String,
    tpm: i64,
    rpm: Option<i64>,
    tpd: Option<i64>,
    output_burndown: i64,
    weight: i64,
    enabled: bool,
}

impl BucketRow {
    /// The bucket; a number that does not fit its field means the row is corrupt.
    fn decode(self) -> Result<BucketQuota, EmbeddedError> {
        let bucket = format!("{}/{}", self.region, self.model_id);
        let corrupt =
            |field: &str| EmbeddedError::Corrupt(format!("bucket {bucket}: {field} out of range"));
        Ok(BucketQuota {
            tpm: u64::try_from(self.tpm).map_err(|_| corrupt("tpm"))?,
            rpm: self
                .rpm
                .map(u64::try_from)
                .transpose()
                .map_err(|_| corrupt("rpm"))?,
            tpd: self
                .tpd
                .map(u64::try_from)
                .transpose()
                .map_err(|_| corrupt("tpd"))?,
            output_burndown: u32::try_from(self.output_burndown)
                .map_err(|_| corrupt("output_burndown"))?,
            weight: u32::try_from(self.weight).map_err(|_| corrupt("weight"))?,
            enabled: self.enabled,
            region: self.region,
            model_id: self.model_id,
        })
    }
}

/// A limit as SQLite's signed integer; one beyond `i64::MAX` cannot be stored.
fn limit(quota: &BucketQuota, field: &str, value: u64) -> Result<i64, EmbeddedError> {
    i64::try_from(value).map_err(|_| {
        EmbeddedError::Corrupt(format!(
            "bucket {}: {field} {value} is larger than SQLite stores",
            quota.bucket()
        ))
    })
}

/// Inserts `quota`, or only if absent when `replace` is false; whether a row was written.
pub(super) fn put_bucket(
    conn: &Connection,
    quota: &BucketQuota,
    replace: bool,
) -> Result<bool, EmbeddedError> {
    let rpm = quota.rpm.map(|v| limit(quota, "rpm", v)).transpose()?;
    let tpd = quota.tpd.map(|v| limit(quota, "tpd", v)).transpose()?;
    let sql = if replace {
        "INSERT INTO quota_buckets (region, model_id, tpm, rpm, tpd, output_burndown, weight, \
         enabled) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT (region, model_id) DO UPDATE \
         SET tpm = excluded.tpm, rpm = excluded.rpm, tpd = excluded.tpd, \
         output_burndown = excluded.output_burndown, weight = excluded.weight, \
         enabled = excluded.enabled"
    } else {
        "INSERT INTO quota_buckets (region, model_id, tpm, rpm, tpd, output_burndown, weight, \
         enabled) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT (region, model_id) DO NOTHING"
    };
    let written = conn.prepare_cached(sql)?.execute(params![
        quota.region,
        quota.model_id,
        limit(quota, "tpm", quota.tpm)?,
        rpm,
        tpd,
        quota.output_burndown,
        quota.weight,
        quota.enabled,
    ])?;
    Ok(written > 0)
}

/// Inserts `route`, or only if absent when `replace` is false.
pub(super) fn put_route(
    conn: &Connection,
    route: &ModelRoute,
    replace: bool,
) -> Result<(), EmbeddedError> {
    let sql = if replace {
        "INSERT INTO quota_routes (model, region, model_id) VALUES (?1, ?2, ?3) \
         ON CONFLICT (model, region) DO UPDATE SET model_id = excluded.model_id"
    } else {
        "INSERT INTO quota_routes (model, region, model_id) VALUES (?1, ?2, ?3) \
         ON CONFLICT (model, region) DO NOTHING"
    };
    conn.prepare_cached(sql)?
        .execute(params![route.model, route.region, route.model_id])?;
    Ok(())
}

/// Deletes the route of `model` in `region`; whether there was one.
pub(super) fn delete_route(
    conn: &Connection,
    model: &str,
    region: &str,
) -> Result<bool, EmbeddedError> {
    let deleted = conn
        .prepare_cached("DELETE FROM quota_routes WHERE model = ?1 AND region = ?2")?
        .execute(params![model, region])?;
    Ok(deleted > 0)
}

/// Writes `seed` where absent, in one immediate transaction, unless a bucket exists already;
/// whether it did.
pub(super) fn seed(conn: &mut Connection, seed: &QuotaTable) -> Result<bool, EmbeddedError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let seeded: bool = tx.query_row("SELECT EXISTS (SELECT 1 FROM quota_buckets)", [], |row| {
        row.get(0)
    })?;
    if seeded {
        return Ok(false);
    }
    for quota in &seed.buckets {
        put_bucket(&tx, quota, false)?;
    }
    for route in &seed.routes {
        put_route(&tx, route, false)?;
    }
    tx.commit()?;
    Ok(true)
}

/// Records or replaces `beat`, and sweeps heartbeats that expired over a day before it.
pub(super) fn beat(conn: &mut Connection, beat: &WorkerBeat) -> Result<(), EmbeddedError> {
    let doc = to_doc(beat, format_args!("heartbeat of {}", beat.worker_id))?;
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    tx.prepare_cached(
        "INSERT INTO quota_workers (worker_id, seen_ms, expires_ms, doc) VALUES (?1, ?2, ?3, ?4) \
         ON CONFLICT (worker_id) DO UPDATE SET seen_ms = excluded.seen_ms, \
         expires_ms = excluded.expires_ms, doc = excluded.doc",
    )?
    .execute(params![
        beat.worker_id,
        to_ms(beat.seen_at),
        to_ms(beat.expires_at),
        doc
    ])?;
    tx.prepare_cached("DELETE FROM quota_workers WHERE expires_ms < ?1")?
        .execute(params![
            to_ms(beat.seen_at).saturating_sub(EXPIRED_BEAT_KEPT_MS)
        ])?;
    tx.commit()?;
    Ok(())
}

/// The heartbeats expiring at or after `now_ms`, by worker id (the caller drops those that
/// expire within that millisecond).
pub(super) fn beats_from(conn: &Connection, now_ms: i64) -> Result<Vec<WorkerBeat>, EmbeddedError> {
    let rows = conn
        .prepare_cached(
            "SELECT worker_id, doc FROM quota_workers WHERE expires_ms >= ?1 ORDER BY worker_id",
        )?
        .query_map(params![now_ms], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    rows.into_iter()
        .map(|(id, doc)| from_doc(&doc, format_args!("heartbeat of {id}")))
        .collect()
}

/// Deletes the heartbeat of `worker_id`, if any.
pub(super) fn leave(conn: &Connection, worker_id: &str) -> Result<(), EmbeddedError> {
    conn.prepare_cached("DELETE FROM quota_workers WHERE worker_id = ?1")?
        .execute(params![worker_id])?;
    Ok(())
}
