//! The job table's statements. The whole `Job` is kept as JSON in `doc`; the columns beside it
//! (`status`, lease, timestamps, `batch_id`, `ttl_s`) mirror the document so that queries and
//! indexes (batch listing, TTL sweeps) need not parse JSON.

use bedrock_lb_core::{Job, JobId};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use crate::db::to_ms;
use crate::error::{EmbeddedError, from_doc, to_doc};

/// When a finished job may be deleted (epoch seconds): `updated_at` (its finishing time) plus
/// `job_ttl_secs`; `None` while the job can still change.
fn ttl_of(job: &Job, job_ttl_secs: i64) -> Option<i64> {
    job.status
        .is_terminal()
        .then(|| job.updated_at.timestamp().saturating_add(job_ttl_secs))
}

/// Inserts `job`; false when a job with its id exists already.
pub(super) fn insert(
    conn: &Connection,
    job: &Job,
    job_ttl_secs: i64,
) -> Result<bool, EmbeddedError> {
    let doc = encode(job)?;
    let lease = job.lease.as_ref();
    let inserted = conn
        .prepare_cached(
            "INSERT INTO jobs (job_id, status, lease_owner, lease_expires_ms, created_ms, \
             updated_ms, batch_id, ttl_s, doc) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) \
             ON CONFLICT (job_id) DO NOTHING",
        )?
        .execute(params![
            job.job_id.as_str(),
            job.status.as_str(),
            lease.map(|l| l.owner.as_str()),
            lease.map(|l| to_ms(l.expires_at)),
            to_ms(job.created_at),
            to_ms(job.updated_at),
            job.batch_id.as_deref(),
            ttl_of(job, job_ttl_secs),
            doc,
        ])?;
    Ok(inserted > 0)
}

/// Inserts every job in one transaction; on an id that is taken, nothing is stored and that
/// id is returned.
pub(super) fn insert_all(
    conn: &mut Connection,
    jobs: &[Job],
    job_ttl_secs: i64,
) -> Result<Option<JobId>, EmbeddedError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    for job in jobs {
        if !insert(&tx, job, job_ttl_secs)? {
            // Dropping the transaction rolls back the jobs inserted so far.
            return Ok(Some(job.job_id.clone()));
        }
    }
    tx.commit()?;
    Ok(None)
}

/// The job with `id`, if any.
pub(super) fn get(conn: &Connection, id: &JobId) -> Result<Option<Job>, EmbeddedError> {
    let doc: Option<String> = conn
        .prepare_cached("SELECT doc FROM jobs WHERE job_id = ?1")?
        .query_row(params![id.as_str()], |row| row.get(0))
        .optional()?;
    doc.map(|doc| decode(id, &doc)).transpose()
}

/// Up to `limit` jobs of `batch_id` with ids after `after`, in id order.
pub(super) fn list_batch(
    conn: &Connection,
    batch_id: &str,
    after: Option<&JobId>,
    limit: usize,
) -> Result<Vec<Job>, EmbeddedError> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let after = after.map_or("", JobId::as_str);
    let mut select = conn.prepare_cached(
        "SELECT job_id, doc FROM jobs WHERE batch_id = ?1 AND job_id > ?2 \
         ORDER BY job_id LIMIT ?3",
    )?;
    let rows = select
        .query_map(params![batch_id, after, limit], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    rows.into_iter()
        .map(|(id, doc)| from_doc(&doc, format_args!("job {id}")))
        .collect()
}

/// Reads the job, lets `change` edit it, and writes it back if `change` returns true, all in
/// one immediate transaction. Returns the written job, or `None` when the job is missing or
/// `change` declined.
pub(super) fn modify<F>(
    conn: &mut Connection,
    id: &JobId,
    job_ttl_secs: i64,
    change: F,
) -> Result<Option<Job>, EmbeddedError>
where
    F: FnOnce(&mut Job) -> bool,
{
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let Some(mut job) = get(&tx, id)? else {
        return Ok(None);
    };
    if !change(&mut job) {
        return Ok(None);
    }
    let doc = encode(&job)?;
    let lease = job.lease.as_ref();
    tx.prepare_cached(
        "UPDATE jobs SET status = ?2, lease_owner = ?3, lease_expires_ms = ?4, updated_ms = ?5, \
         batch_id = ?6, ttl_s = ?7, doc = ?8 WHERE job_id = ?1",
    )?
    .execute(params![
        id.as_str(),
        job.status.as_str(),
        lease.map(|l| l.owner.as_str()),
        lease.map(|l| to_ms(l.expires_at)),
        to_ms(job.updated_at),
        job.batch_id.as_deref(),
        ttl_of(&job, job_ttl_secs),
        doc,
    ])?;
    tx.commit()?;
    Ok(Some(job))
}

/// Deletes finished jobs whose TTL (epoch seconds) is at or before `now_s`, and idempotency
/// records that expired at or before `now_ms`; returns how many rows went.
pub(super) fn purge(
    conn: &mut Connection,
    now_s: i64,
    now_ms: i64,
) -> Result<usize, EmbeddedError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let jobs = tx
        .prepare_cached("DELETE FROM jobs WHERE ttl_s IS NOT NULL AND ttl_s <= ?1")?
        .execute(params![now_s])?;
    let keys = tx
        .prepare_cached("DELETE FROM idempotency WHERE expires_ms <= ?1")?
        .execute(params![now_ms])?;
    tx.commit()?;
    Ok(jobs + keys)
}

/// The stored TTL (epoch seconds) of job `id`, for tests and diagnostics.
pub(super) fn ttl(conn: &Connection, id: &JobId) -> Result<Option<i64>, EmbeddedError> {
    Ok(conn
        .prepare_cached("SELECT ttl_s FROM jobs WHERE job_id = ?1")?
        .query_row(params![id.as_str()], |row| row.get::<_, Option<i64>>(0))
        .optional()?
        .flatten())
}

fn encode(job: &Job) -> Result<String, EmbeddedError> {
    to_doc(job, format_args!("job {}", job.job_id))
}

fn decode(id: &JobId, doc: &str) -> Result<Job, EmbeddedError> {
    from_doc(doc, format_args!("job {id}"))
}
