//! The embedded quota store: the quota table (buckets, routes) and the workers' heartbeats in
//! the SQLite file, implementing [`QuotaStore`] for the local mode.
//!
//! Every write is one statement or one `BEGIN IMMEDIATE` transaction (the seed), so a second
//! process sharing the file sees either all of a change or none of it. Time comes only from
//! the callers (`live_workers(now)`, a beat's own `seen_at`): the store reads no clock.

mod sql;

use async_trait::async_trait;
use bedrock_lb_core::{BucketQuota, ModelRoute, QuotaStore, QuotaTable, StoreError, WorkerBeat};
use chrono::{DateTime, Utc};

use crate::db::{EmbeddedDb, to_ms};

/// The SQLite-backed [`QuotaStore`]. Clone is cheap (it shares the database handle).
#[derive(Debug, Clone)]
pub struct EmbeddedQuotaStore {
    db: EmbeddedDb,
}

impl EmbeddedDb {
    /// The quota store kept in this database, beside the queue and the job store, so the
    /// local mode's configuration edits and heartbeats persist in the same file.
    pub fn quota_store(&self) -> EmbeddedQuotaStore {
        EmbeddedQuotaStore { db: self.clone() }
    }
}

#[async_trait]
impl QuotaStore for EmbeddedQuotaStore {
    async fn table(&self) -> Result<QuotaTable, StoreError> {
        Ok(self.db.run(|conn| sql::table(conn)).await?)
    }

    async fn put_bucket(&self, quota: &BucketQuota) -> Result<(), StoreError> {
        let quota = quota.clone();
        self.db
            .run(move |conn| sql::put_bucket(conn, &quota, true))
            .await?;
        Ok(())
    }

    async fn put_route(&self, route: &ModelRoute) -> Result<(), StoreError> {
        let route = route.clone();
        Ok(self
            .db
            .run(move |conn| sql::put_route(conn, &route, true))
            .await?)
    }

    async fn delete_route(&self, model: &str, region: &str) -> Result<bool, StoreError> {
        let (model, region) = (model.to_owned(), region.to_owned());
        Ok(self
            .db
            .run(move |conn| sql::delete_route(conn, &model, &region))
            .await?)
    }

    async fn seed(&self, seed: &QuotaTable) -> Result<bool, StoreError> {
        let table = seed.clone();
        let seeded = self.db.run(move |conn| sql::seed(conn, &table)).await?;
        if seeded {
            tracing::info!(
                buckets = seed.buckets.len(),
                routes = seed.routes.len(),
                "quota table seeded"
            );
        }
        Ok(seeded)
    }

    async fn beat(&self, beat: &WorkerBeat) -> Result<(), StoreError> {
        let beat = beat.clone();
        Ok(self.db.run(move |conn| sql::beat(conn, &beat)).await?)
    }

    async fn live_workers(&self, now: DateTime<Utc>) -> Result<Vec<WorkerBeat>, StoreError> {
        let now_ms = to_ms(now);
        let mut beats = self
            .db
            .run(move |conn| sql::beats_from(conn, now_ms))
            .await?;
        // The column has millisecond precision; the beat itself decides.
        beats.retain(|beat| beat.expires_at > now);
        Ok(beats)
    }

    async fn leave(&self, worker_id: &str) -> Result<(), StoreError> {
        let worker_id = worker_id.to_owned();
        Ok(self
            .db
            .run(move |conn| sql::leave(conn, &worker_id))
            .await?)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::Arc;

    use bedrock_lb_core::{ManualClock, Strategy};
    use chrono::Duration;

    use super::*;

    fn store() -> EmbeddedQuotaStore {
        let clock = Arc::new(ManualClock::new(DateTime::UNIX_EPOCH));
        EmbeddedDb::open_in_memory(clock).unwrap().quota_store()
    }

    fn quota(tpm: u64) -> BucketQuota {
        BucketQuota::new("us-east-1", "m", tpm)
    }

    fn beat(id: &str, seen_at: DateTime<Utc>) -> WorkerBeat {
        WorkerBeat {
            worker_id: id.into(),
            seen_at,
            expires_at: seen_at + Duration::seconds(30),
            strategy: Strategy::QuotaAware,
            buckets: vec![],
        }
    }

    #[tokio::test]
    async fn a_limit_sqlite_cannot_hold_is_refused_and_nothing_is_written() {
        let store = store();
        let err = store.put_bucket(&quota(u64::MAX)).await.unwrap_err();
        assert!(
            matches!(err, StoreError::Corrupt(ref m) if m.contains("tpm")),
            "{err:?}"
        );
        assert!(store.table().await.unwrap().buckets.is_empty());
    }

    #[tokio::test]
    async fn a_row_out_of_range_reads_as_corrupt() {
        let store = store();
        store.put_bucket(&quota(5)).await.unwrap();
        store
            .db
            .run(|conn| Ok(conn.execute("UPDATE quota_buckets SET weight = -1", [])?))
            .await
            .unwrap();
        let err = store.table().await.unwrap_err();
        assert!(
            matches!(err, StoreError::Corrupt(ref m) if m.contains("weight")),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn a_beat_sweeps_heartbeats_dead_for_over_a_day() {
        let store = store();
        let t0 = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        store.beat(&beat("old", t0)).await.unwrap();
        store
            .beat(&beat("recent", t0 + Duration::hours(20)))
            .await
            .unwrap();
        store
            .beat(&beat("now", t0 + Duration::hours(25)))
            .await
            .unwrap();
        let rows = store
            .db
            .run(|conn| {
                let mut ids =
                    conn.prepare("SELECT worker_id FROM quota_workers ORDER BY worker_id")?;
                let ids = ids
                    .query_map([], |row| row.get::<_, String>(0))?
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(ids)
            })
            .await
            .unwrap();
        assert_eq!(rows, ["now", "recent"]);
    }
}
