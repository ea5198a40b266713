//! The job table's statements. The whole `Job` is kept as JSON in `doc`; the columns beside it
//! (`status`, lease, timestamps, `batch_id`) mirror the document so that queries and indexes
//! (batch listing, TTL sweeps) need not parse JSON.

use bedrock_lb_core::{Job, JobId};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use crate::db::to_ms;
use crate::error::EmbeddedError;

/// Inserts `job`; false when a job with its id exists already.
pub(super) fn insert(conn: &mut Connection, job: &Job) -> Result<bool, EmbeddedError> {
    let doc = encode(job)?;
    let lease = job.lease.as_ref();
    let inserted = conn
        .prepare_cached(
            "INSERT INTO jobs (job_id, status, lease_owner, lease_expires_ms, created_ms, \
             updated_ms, batch_id, doc) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) \
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
            doc,
        ])?;
    Ok(inserted > 0)
}

/// The job with `id`, if any.
pub(super) fn get(conn: &Connection, id: &JobId) -> Result<Option<Job>, EmbeddedError> {
    let doc: Option<String> = conn
        .prepare_cached("SELECT doc FROM jobs WHERE job_id = ?1")?
        .query_row(params![id.as_str()], |row| row.get(0))
        .optional()?;
    doc.map(|doc| decode(id, &doc)).transpose()
}

/// Reads the job, lets `change` edit it, and writes it back if `change` returns true, all in
/// one immediate transaction. Returns the written job, or `None` when the job is missing or
/// `change` declined.
pub(super) fn modify<F>(
    conn: &mut Connection,
    id: &JobId,
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
         batch_id = ?6, doc = ?7 WHERE job_id = ?1",
    )?
    .execute(params![
        id.as_str(),
        job.status.as_str(),
        lease.map(|l| l.owner.as_str()),
        lease.map(|l| to_ms(l.expires_at)),
        to_ms(job.updated_at),
        job.batch_id.as_deref(),
        doc,
    ])?;
    tx.commit()?;
    Ok(Some(job))
}

fn encode(job: &Job) -> Result<String, EmbeddedError> {
    serde_json::to_string(job).map_err(|err| {
        EmbeddedError::Corrupt(format!("job {} cannot be encoded: {err}", job.job_id))
    })
}

fn decode(id: &JobId, doc: &str) -> Result<Job, EmbeddedError> {
    serde_json::from_str(doc).map_err(|err| EmbeddedError::Corrupt(format!("job {id}: {err}")))
}
