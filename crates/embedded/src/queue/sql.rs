//! The queue's statements: each function is one atomic step run on the blocking pool.
//!
//! Read-modify-write steps (`receive`) run in `BEGIN IMMEDIATE` transactions so that two
//! processes sharing the file never hand out the same message twice; single-statement steps
//! are atomic on their own.

use bedrock_lb_core::QueueMessage;
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};
use uuid::Uuid;

use super::{DeadLetter, QueueDepth};
use crate::db::from_ms;
use crate::error::EmbeddedError;

/// What one receive attempt found.
#[derive(Debug)]
pub(super) struct Received {
    /// The messages handed out, in send order.
    pub messages: Vec<QueueMessage>,
    /// When no message was handed out: the earliest time (epoch ms) a hidden one reappears.
    pub next_visible_ms: Option<i64>,
}

/// The two tables that hold messages: the work queue and its dead letters. Both hand out
/// messages the same way (a fresh receipt per receive, hidden until a time), so the statements
/// that do so are written once and told which table to use.
#[derive(Debug, Clone, Copy)]
pub(super) enum Table {
    Messages,
    DeadLetters,
}

impl Table {
    /// Stores a new row visible at once: `?1` message id, `?2` body, `?3` now.
    fn insert_sql(self) -> &'static str {
        match self {
            Self::Messages => {
                "INSERT INTO queue_messages (message_id, body, sent_ms, visible_at_ms) \
                 VALUES (?1, ?2, ?3, ?3)"
            }
            Self::DeadLetters => {
                "INSERT INTO dead_letters (message_id, body, sent_ms, receive_count, dead_ms) \
                 VALUES (?1, ?2, ?3, 0, ?3)"
            }
        }
    }

    /// Records a receive: `?1` receive count, `?2` receipt, `?3` hidden until, `?4` seq.
    fn hand_out_sql(self) -> &'static str {
        match self {
            Self::Messages => {
                "UPDATE queue_messages SET receive_count = ?1, receipt = ?2, visible_at_ms = ?3 \
                 WHERE seq = ?4"
            }
            Self::DeadLetters => {
                "UPDATE dead_letters SET dlq_receive_count = ?1, receipt = ?2, visible_at_ms = ?3 \
                 WHERE seq = ?4"
            }
        }
    }

    fn change_visibility_sql(self) -> &'static str {
        match self {
            Self::Messages => "UPDATE queue_messages SET visible_at_ms = ?1 WHERE receipt = ?2",
            Self::DeadLetters => "UPDATE dead_letters SET visible_at_ms = ?1 WHERE receipt = ?2",
        }
    }

    fn delete_sql(self) -> &'static str {
        match self {
            Self::Messages => "DELETE FROM queue_messages WHERE receipt = ?1",
            Self::DeadLetters => "DELETE FROM dead_letters WHERE receipt = ?1",
        }
    }
}

/// Stores `bodies` as new rows of `table` visible at `now_ms`; returns their ids in order.
pub(super) fn insert(
    conn: &mut Connection,
    table: Table,
    bodies: Vec<String>,
    now_ms: i64,
) -> Result<Vec<String>, EmbeddedError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut ids = Vec::with_capacity(bodies.len());
    {
        let mut insert = tx.prepare_cached(table.insert_sql())?;
        for body in bodies {
            let id = Uuid::new_v4().to_string();
            insert.execute(params![id, body, now_ms])?;
            ids.push(id);
        }
    }
    tx.commit()?;
    Ok(ids)
}

/// Hands out the row `seq` of `table` (received `count` times so far) with a new receipt,
/// hidden until `hidden_until`.
pub(super) fn hand_out(
    tx: &Transaction<'_>,
    table: Table,
    seq: i64,
    message_id: String,
    body: String,
    count: u32,
    hidden_until: i64,
) -> Result<QueueMessage, EmbeddedError> {
    let receipt = Uuid::new_v4().to_string();
    let receive_count = count.saturating_add(1);
    tx.prepare_cached(table.hand_out_sql())?.execute(params![
        receive_count,
        receipt,
        hidden_until,
        seq
    ])?;
    Ok(QueueMessage {
        message_id,
        receipt,
        body,
        receive_count,
        attributes: Default::default(),
    })
}

/// One row considered by `receive`.
struct Candidate {
    seq: i64,
    message_id: String,
    body: String,
    receive_count: u32,
    sent_ms: i64,
}

/// Hands out up to `max` visible messages in send order, each with a new receipt and hidden
/// until `now_ms + visibility_ms`. A visible message already received `max_receive_count`
/// times is moved to `dead_letters` instead.
pub(super) fn receive(
    conn: &mut Connection,
    max: u32,
    visibility_ms: i64,
    max_receive_count: u32,
    now_ms: i64,
) -> Result<Received, EmbeddedError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let hidden_until = now_ms.saturating_add(visibility_ms);
    let wanted = usize::try_from(max).unwrap_or(usize::MAX);
    let mut messages = Vec::new();
    // A cursor on `seq`, so a message received with visibility 0 is not taken twice here.
    let mut after_seq = 0_i64;
    while messages.len() < wanted {
        let limit = i64::try_from(wanted - messages.len()).unwrap_or(i64::MAX);
        let batch: Vec<Candidate> = {
            let mut select = tx.prepare_cached(
                "SELECT seq, message_id, body, receive_count, sent_ms FROM queue_messages \
                 WHERE visible_at_ms <= ?1 AND seq > ?2 ORDER BY seq LIMIT ?3",
            )?;
            select
                .query_map(params![now_ms, after_seq, limit], |row| {
                    Ok(Candidate {
                        seq: row.get(0)?,
                        message_id: row.get(1)?,
                        body: row.get(2)?,
                        receive_count: row.get(3)?,
                        sent_ms: row.get(4)?,
                    })
                })?
                .collect::<Result<_, _>>()?
        };
        if batch.is_empty() {
            break;
        }
        for candidate in batch {
            after_seq = candidate.seq;
            if candidate.receive_count >= max_receive_count {
                dead_letter(&tx, &candidate, now_ms)?;
                continue;
            }
            messages.push(hand_out(
                &tx,
                Table::Messages,
                candidate.seq,
                candidate.message_id,
                candidate.body,
                candidate.receive_count,
                hidden_until,
            )?);
        }
    }
    let next_visible_ms = if messages.is_empty() {
        tx.query_row("SELECT MIN(visible_at_ms) FROM queue_messages", [], |row| {
            row.get::<_, Option<i64>>(0)
        })?
    } else {
        None
    };
    tx.commit()?;
    Ok(Received {
        messages,
        next_visible_ms,
    })
}

/// Moves a message that was received too often into `dead_letters`.
fn dead_letter(
    tx: &Transaction<'_>,
    candidate: &Candidate,
    now_ms: i64,
) -> Result<(), EmbeddedError> {
    tx.prepare_cached(
        "INSERT INTO dead_letters (message_id, body, sent_ms, receive_count, dead_ms) \
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![
        candidate.message_id,
        candidate.body,
        candidate.sent_ms,
        candidate.receive_count,
        now_ms
    ])?;
    tx.prepare_cached("DELETE FROM queue_messages WHERE seq = ?1")?
        .execute(params![candidate.seq])?;
    tracing::warn!(
        message_id = %candidate.message_id,
        receive_count = candidate.receive_count,
        "queue message moved to dead letters"
    );
    Ok(())
}

/// Hides the row of `table` with `receipt` until `visible_at_ms`; false when the receipt is
/// stale.
pub(super) fn change_visibility(
    conn: &mut Connection,
    table: Table,
    receipt: &str,
    visible_at_ms: i64,
) -> Result<bool, EmbeddedError> {
    let changed = conn
        .prepare_cached(table.change_visibility_sql())?
        .execute(params![visible_at_ms, receipt])?;
    Ok(changed > 0)
}

/// Deletes the row of `table` with `receipt`; false when the receipt is stale.
pub(super) fn delete(
    conn: &mut Connection,
    table: Table,
    receipt: &str,
) -> Result<bool, EmbeddedError> {
    let changed = conn
        .prepare_cached(table.delete_sql())?
        .execute(params![receipt])?;
    Ok(changed > 0)
}

/// Every dead letter, oldest first.
pub(super) fn dead_letters(conn: &mut Connection) -> Result<Vec<DeadLetter>, EmbeddedError> {
    let mut select = conn.prepare_cached(
        "SELECT message_id, body, receive_count, dead_ms FROM dead_letters ORDER BY seq",
    )?;
    let rows = select
        .query_map([], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, u32>(2)?,
                row.get::<_, i64>(3)?,
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    rows.into_iter()
        .map(|(message_id, body, receive_count, dead_ms)| {
            Ok(DeadLetter {
                message_id,
                body,
                receive_count,
                dead_at: from_ms(dead_ms)?,
            })
        })
        .collect()
}

/// Removes the dead letter `message_id`; false when there is none.
pub(super) fn remove_dead_letter(
    conn: &mut Connection,
    message_id: &str,
) -> Result<bool, EmbeddedError> {
    let changed = conn
        .prepare_cached("DELETE FROM dead_letters WHERE message_id = ?1")?
        .execute(params![message_id])?;
    Ok(changed > 0)
}

/// How many messages are visible and how many are hidden (in flight) at `now_ms`.
pub(super) fn depth(conn: &mut Connection, now_ms: i64) -> Result<QueueDepth, EmbeddedError> {
    let (visible, in_flight): (i64, i64) = conn
        .prepare_cached(
            "SELECT COALESCE(SUM(visible_at_ms <= ?1), 0), COALESCE(SUM(visible_at_ms > ?1), 0) \
             FROM queue_messages",
        )?
        .query_row(params![now_ms], |row| Ok((row.get(0)?, row.get(1)?)))
        .optional()?
        .unwrap_or((0, 0));
    Ok(QueueDepth {
        visible: u64::try_from(visible).unwrap_or(0),
        in_flight: u64::try_from(in_flight).unwrap_or(0),
    })
}
