//! The dead letters as a queue: what SQS's dead-letter queue is to the work queue.
//!
//! The worker drains dead letters through the same [`JobQueue`] port it uses for SQS's
//! dead-letter queue: receive (hidden for a visibility timeout, with a fresh receipt), extend,
//! delete. A dead letter keeps the message id and body it had in the work queue, so the job it
//! names can be found and failed. Dead letters are never dead-lettered again.

use std::time::Duration;

use async_trait::async_trait;
use bedrock_lb_core::{JobQueue, QueueError, QueueMessage, SendOutcome};
use rusqlite::{Connection, TransactionBehavior, params};
use tokio::time::Instant;

use super::sql::{self, Table};
use super::{DEFAULT_RECHECK_INTERVAL, MAX_WAIT, delete_in, extend_in, send_outcomes};
use crate::db::{EmbeddedDb, duration_ms, to_ms};
use crate::error::EmbeddedError;

/// The SQLite-backed dead-letter queue. Clone is cheap.
#[derive(Debug, Clone)]
pub struct DeadLetterQueue {
    db: EmbeddedDb,
    /// Longest a long poll sleeps before looking at the table again.
    recheck_interval: Duration,
}

impl DeadLetterQueue {
    pub(crate) fn new(db: EmbeddedDb) -> Self {
        Self {
            db,
            recheck_interval: DEFAULT_RECHECK_INTERVAL,
        }
    }

    /// Sets how often a waiting receive looks at the table again.
    #[must_use]
    pub fn with_recheck_interval(mut self, interval: Duration) -> Self {
        self.recheck_interval = interval.max(Duration::from_millis(1));
        self
    }

    async fn receive_now(
        &self,
        max: u32,
        visibility: Duration,
    ) -> Result<Vec<QueueMessage>, EmbeddedError> {
        let now_ms = to_ms(self.db.now());
        let hidden_until = now_ms.saturating_add(duration_ms(visibility));
        self.db
            .run(move |conn| receive(conn, max, hidden_until, now_ms))
            .await
    }
}

#[async_trait]
impl JobQueue for DeadLetterQueue {
    /// Stores a dead letter directly (for tools and tests; the work queue moves its own).
    async fn send(&self, body: String) -> Result<String, QueueError> {
        let mut outcomes = self.send_batch(&[body]).await;
        outcomes
            .pop()
            .unwrap_or_else(|| Err(QueueError::Unavailable("send stored no message".into())))
    }

    async fn send_batch(&self, bodies: &[String]) -> Vec<SendOutcome> {
        let stored = bodies.to_vec();
        let now_ms = to_ms(self.db.now());
        let inserted = self
            .db
            .run(move |conn| sql::insert(conn, Table::DeadLetters, stored, now_ms))
            .await;
        send_outcomes(inserted, bodies.len())
    }

    async fn receive(
        &self,
        max: u32,
        wait: Duration,
        visibility: Duration,
    ) -> Result<Vec<QueueMessage>, QueueError> {
        if max == 0 {
            return Ok(Vec::new());
        }
        let deadline = Instant::now() + wait.min(MAX_WAIT);
        loop {
            let messages = self.receive_now(max, visibility).await?;
            let now = Instant::now();
            if !messages.is_empty() || now >= deadline {
                return Ok(messages);
            }
            tokio::time::sleep_until(deadline.min(now + self.recheck_interval)).await;
        }
    }

    async fn extend_visibility(
        &self,
        receipt: &str,
        visibility: Duration,
    ) -> Result<(), QueueError> {
        extend_in(&self.db, Table::DeadLetters, receipt, visibility).await
    }

    async fn delete(&self, receipt: &str) -> Result<(), QueueError> {
        delete_in(&self.db, Table::DeadLetters, receipt).await
    }
}

/// Hands out up to `max` visible dead letters, oldest first, each with a new receipt and
/// hidden until `hidden_until`.
fn receive(
    conn: &mut Connection,
    max: u32,
    hidden_until: i64,
    now_ms: i64,
) -> Result<Vec<QueueMessage>, EmbeddedError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let rows: Vec<(i64, String, String, u32)> = tx
        .prepare_cached(
            "SELECT seq, message_id, body, dlq_receive_count FROM dead_letters \
             WHERE visible_at_ms <= ?1 ORDER BY seq LIMIT ?2",
        )?
        .query_map(params![now_ms, i64::from(max)], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
        })?
        .collect::<Result<_, _>>()?;
    let messages = rows
        .into_iter()
        .map(|(seq, message_id, body, count)| {
            sql::hand_out(
                &tx,
                Table::DeadLetters,
                seq,
                message_id,
                body,
                count,
                hidden_until,
            )
        })
        .collect::<Result<Vec<_>, _>>()?;
    tx.commit()?;
    Ok(messages)
}
