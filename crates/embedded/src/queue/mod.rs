//! The embedded queue: SQS semantics on a SQLite table, for the local mode.
//!
//! Messages are received in send order, hidden for a visibility timeout, and given a new
//! receipt on each receive; only the latest receipt can delete or extend a message, so a
//! worker that lost its message to a redelivery cannot delete it. A message that becomes
//! receivable again after `max_receive_count` receives moves to the dead-letter table, like an
//! SQS redrive policy. Receivers long-poll: they wake at once when a message is sent through
//! the same [`EmbeddedDb`], or when the earliest hidden message reappears.

mod dead;
mod sql;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use bedrock_lb_core::{JobQueue, QueueError, QueueMessage, SendOutcome};
use chrono::{DateTime, Utc};
use tokio::time::Instant;

use crate::db::{EmbeddedDb, duration_ms, to_ms};
use crate::error::EmbeddedError;

pub use dead::DeadLetterQueue;
use sql::Table;

/// How often a long poll re-checks the table even without a wake-up, by default, so that
/// messages sent by another process sharing the file are found within this delay.
pub const DEFAULT_RECHECK_INTERVAL: Duration = Duration::from_secs(1);

/// Longest single long-poll wait honoured (a guard against `Duration::MAX` overflowing).
pub(crate) const MAX_WAIT: Duration = Duration::from_secs(24 * 60 * 60);

/// Queue behaviour that SQS would configure on the queue itself.
#[derive(Debug, Clone)]
pub struct QueueSettings {
    /// A message is dead-lettered when it becomes receivable again after this many receives
    /// (SQS `maxReceiveCount`); values below 1 count as 1.
    pub max_receive_count: u32,
}

impl Default for QueueSettings {
    fn default() -> Self {
        Self {
            max_receive_count: 5,
        }
    }
}

/// A message that was received too many times without being deleted, kept so it is never lost
/// and so the worker can fail its job with the reason.
#[derive(Debug, Clone, PartialEq)]
pub struct DeadLetter {
    pub message_id: String,
    pub body: String,
    /// How many times it was received before being dead-lettered.
    pub receive_count: u32,
    pub dead_at: DateTime<Utc>,
}

/// How many messages wait in the queue, for status pages and backpressure.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueDepth {
    /// Messages a receive would return now.
    pub visible: u64,
    /// Messages hidden by a visibility timeout (received and not yet deleted).
    pub in_flight: u64,
}

/// The SQLite-backed [`JobQueue`]. Clone is cheap.
#[derive(Debug, Clone)]
pub struct EmbeddedQueue {
    db: EmbeddedDb,
    settings: QueueSettings,
    /// Longest a long poll sleeps without a wake-up before looking at the table again.
    recheck_interval: Duration,
}

impl EmbeddedQueue {
    pub(crate) fn new(db: EmbeddedDb, settings: QueueSettings) -> Self {
        Self {
            db,
            settings,
            recheck_interval: DEFAULT_RECHECK_INTERVAL,
        }
    }

    /// Sets how often a long poll looks at the table without a wake-up; this bounds how late
    /// a message sent by another process sharing the file is noticed (sends through the same
    /// [`EmbeddedDb`] wake receivers at once).
    #[must_use]
    pub fn with_recheck_interval(mut self, interval: Duration) -> Self {
        self.recheck_interval = interval.max(Duration::from_millis(1));
        self
    }

    /// How many receivers of this database are parked in a long poll right now: a measure of
    /// idle workers, and a way for tests to know a receiver is waiting.
    pub fn waiting_receivers(&self) -> usize {
        self.db.waiting_receivers().load(Ordering::SeqCst)
    }

    /// The settings this queue was opened with.
    pub fn settings(&self) -> &QueueSettings {
        &self.settings
    }

    /// Stores `bodies` in one transaction and wakes long-polling receivers; returns their
    /// message ids in the order of `bodies`.
    async fn send_all(&self, bodies: Vec<String>) -> Result<Vec<String>, EmbeddedError> {
        if bodies.is_empty() {
            return Ok(Vec::new());
        }
        let now_ms = to_ms(self.db.now());
        let ids = self
            .db
            .run(move |conn| sql::insert(conn, Table::Messages, bodies, now_ms))
            .await?;
        self.db.message_sent().notify_waiters();
        Ok(ids)
    }

    /// The dead letters of this database as a queue the worker can drain (see
    /// [`EmbeddedDb::dead_letter_queue`]).
    pub fn dead_letter_queue(&self) -> DeadLetterQueue {
        DeadLetterQueue::new(self.db.clone())
    }

    /// Every dead-lettered message, oldest first.
    pub async fn dead_letters(&self) -> Result<Vec<DeadLetter>, EmbeddedError> {
        self.db.run(sql::dead_letters).await
    }

    /// Removes a dead letter once it has been dealt with; false when there was none.
    pub async fn remove_dead_letter(&self, message_id: &str) -> Result<bool, EmbeddedError> {
        let message_id = message_id.to_owned();
        self.db
            .run(move |conn| sql::remove_dead_letter(conn, &message_id))
            .await
    }

    /// How many messages are visible and in flight right now.
    pub async fn depth(&self) -> Result<QueueDepth, EmbeddedError> {
        let now_ms = to_ms(self.db.now());
        self.db.run(move |conn| sql::depth(conn, now_ms)).await
    }

    /// One receive attempt, without waiting.
    async fn receive_now(
        &self,
        max: u32,
        visibility: Duration,
    ) -> Result<sql::Received, EmbeddedError> {
        let now_ms = to_ms(self.db.now());
        let visibility_ms = duration_ms(visibility);
        let max_receive_count = self.settings.max_receive_count.max(1);
        self.db
            .run(move |conn| sql::receive(conn, max, visibility_ms, max_receive_count, now_ms))
            .await
    }

    /// When a waiting receiver should look again: at the deadline, when the earliest hidden
    /// message reappears, or after the recheck interval, whichever comes first.
    fn recheck_at(&self, deadline: Instant, next_visible_ms: Option<i64>) -> Instant {
        let now = Instant::now();
        let mut at = deadline.min(now + self.recheck_interval);
        if let Some(next_ms) = next_visible_ms {
            let in_ms = next_ms.saturating_sub(to_ms(self.db.now())).max(1);
            let in_ms = u64::try_from(in_ms).unwrap_or(1);
            at = at.min(now + Duration::from_millis(in_ms));
        }
        at
    }
}

#[async_trait]
impl JobQueue for EmbeddedQueue {
    async fn send(&self, body: String) -> Result<String, QueueError> {
        let mut ids = self.send_all(vec![body]).await?;
        ids.pop()
            .ok_or_else(|| QueueError::Unavailable("send stored no message".into()))
    }

    /// One transaction: either every message is queued or none is (each outcome then carries
    /// the same error).
    async fn send_batch(&self, bodies: &[String]) -> Vec<SendOutcome> {
        send_outcomes(self.send_all(bodies.to_vec()).await, bodies.len())
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
            // Register for the wake-up before looking, so a send in between is not missed.
            let sent = self.db.message_sent().notified();
            tokio::pin!(sent);
            sent.as_mut().enable();

            let received = self.receive_now(max, visibility).await?;
            if !received.messages.is_empty() || Instant::now() >= deadline {
                return Ok(received.messages);
            }
            let recheck = self.recheck_at(deadline, received.next_visible_ms);
            let _parked = Parked::new(self.db.waiting_receivers());
            tokio::select! {
                () = &mut sent => {}
                () = tokio::time::sleep_until(recheck) => {}
            }
        }
    }

    async fn extend_visibility(
        &self,
        receipt: &str,
        visibility: Duration,
    ) -> Result<(), QueueError> {
        extend_in(&self.db, Table::Messages, receipt, visibility).await?;
        if visibility.is_zero() {
            // The message is receivable again: wake long-polling receivers.
            self.db.message_sent().notify_waiters();
        }
        Ok(())
    }

    async fn delete(&self, receipt: &str) -> Result<(), QueueError> {
        delete_in(&self.db, Table::Messages, receipt).await
    }
}

/// The outcomes of a one-transaction send of `count` bodies: every id, or the same error for
/// every body.
fn send_outcomes(stored: Result<Vec<String>, EmbeddedError>, count: usize) -> Vec<SendOutcome> {
    match stored {
        Ok(ids) => ids.into_iter().map(Ok).collect(),
        Err(err) => {
            let err = QueueError::from(err);
            (0..count).map(|_| Err(err.clone())).collect()
        }
    }
}

/// Hides the message of `table` holding `receipt` for `visibility` from now; a stale receipt
/// is [`QueueError::InvalidReceipt`], as in SQS.
async fn extend_in(
    db: &EmbeddedDb,
    table: Table,
    receipt: &str,
    visibility: Duration,
) -> Result<(), QueueError> {
    let receipt = receipt.to_owned();
    let visible_at_ms = to_ms(db.now()).saturating_add(duration_ms(visibility));
    let changed = db
        .run(move |conn| sql::change_visibility(conn, table, &receipt, visible_at_ms))
        .await?;
    if changed {
        Ok(())
    } else {
        Err(QueueError::InvalidReceipt)
    }
}

/// Deletes the message of `table` holding `receipt`; a stale receipt is
/// [`QueueError::InvalidReceipt`], as in SQS.
async fn delete_in(db: &EmbeddedDb, table: Table, receipt: &str) -> Result<(), QueueError> {
    let receipt = receipt.to_owned();
    let deleted = db
        .run(move |conn| sql::delete(conn, table, &receipt))
        .await?;
    if deleted {
        Ok(())
    } else {
        Err(QueueError::InvalidReceipt)
    }
}

/// Counts a receiver as parked for as long as it lives (also when its future is dropped).
struct Parked<'a>(&'a AtomicUsize);

impl<'a> Parked<'a> {
    fn new(count: &'a AtomicUsize) -> Self {
        count.fetch_add(1, Ordering::SeqCst);
        Self(count)
    }
}

impl Drop for Parked<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}
