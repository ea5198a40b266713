//! [`DynamoQuotaStore`]: the `QuotaStore` port on the DynamoDB quota table (key `pk` + `sk`,
//! see [`crate::provision::ensure_quotas_table`]). Buckets, routes and worker heartbeats each
//! live in one partition (layout in [`item`]), so reading the table is two Queries and
//! listing live workers one.
//!
//! Configuration writes are plain puts (last writer wins: they come from an operator); the
//! seed writes each item only where absent, so concurrent seeders, or a seeder racing an
//! operator's edit, never overwrite anything. All reads are strongly consistent, so an edit is
//! seen by the next poll.

mod item;

use std::collections::HashMap;
use std::error::Error;

use async_trait::async_trait;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use bedrock_lb_core::{BucketQuota, ModelRoute, QuotaStore, QuotaTable, StoreError, WorkerBeat};
use chrono::{DateTime, Utc};

use crate::errors::chain;
use item::{
    BUCKETS, EXPIRES_MS, PK, ROUTES, SK, WORKERS, bucket_from, bucket_item, route_from, route_item,
    route_sk, s, worker_from, worker_item,
};

/// The quota store on one DynamoDB table. Cheap to clone: the SDK client is shared.
#[derive(Debug, Clone)]
pub struct DynamoQuotaStore {
    client: aws_sdk_dynamodb::Client,
    table: String,
    /// Items per Query page; `None` lets DynamoDB fill pages up to 1 MB.
    page_limit: Option<i32>,
}

impl DynamoQuotaStore {
    /// A store on `table` (see [`crate::provision::ensure_quotas_table`]), called through
    /// `client`.
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
            page_limit: None,
        }
    }

    /// Reads at most `items` items per Query page. Only worth setting to exercise paging (in
    /// tests); DynamoDB's own 1 MB pages are the efficient choice.
    #[must_use]
    pub fn with_page_limit(mut self, items: u16) -> Self {
        self.page_limit = Some(i32::from(items.max(1)));
        self
    }

    /// The table this store reads and writes.
    pub fn table_name(&self) -> &str {
        &self.table
    }

    /// Every item of partition `pk`, in sort-key order, following pagination; with `live_at`,
    /// only heartbeats expiring at or after that millisecond.
    async fn query_all(
        &self,
        pk: &str,
        live_at: Option<DateTime<Utc>>,
    ) -> Result<Vec<HashMap<String, AttributeValue>>, StoreError> {
        let mut items = Vec::new();
        let mut start_key: Option<HashMap<String, AttributeValue>> = None;
        loop {
            let mut query = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("#pk = :pk")
                .expression_attribute_names("#pk", PK)
                .expression_attribute_values(":pk", s(pk))
                .consistent_read(true)
                .set_limit(self.page_limit)
                .set_exclusive_start_key(start_key.take());
            if let Some(now) = live_at {
                query = query
                    .filter_expression("#exp >= :now")
                    .expression_attribute_names("#exp", EXPIRES_MS)
                    .expression_attribute_values(
                        ":now",
                        AttributeValue::N(now.timestamp_millis().to_string()),
                    );
            }
            let out = query.send().await.map_err(unavailable)?;
            items.extend(out.items.unwrap_or_default());
            match out.last_evaluated_key {
                Some(key) if !key.is_empty() => start_key = Some(key),
                _ => return Ok(items),
            }
        }
    }

    /// Puts `item`, only where no item has its key when `if_absent`; false when the condition
    /// kept it out.
    async fn put(
        &self,
        item: HashMap<String, AttributeValue>,
        if_absent: bool,
    ) -> Result<bool, StoreError> {
        let mut put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item));
        if if_absent {
            put = put
                .condition_expression("attribute_not_exists(#pk)")
                .expression_attribute_names("#pk", PK);
        }
        match put.send().await {
            Ok(_) => Ok(true),
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(err) => Err(unavailable(err)),
        }
    }

    /// Deletes the item (`pk`, `sk`); whether there was one.
    async fn delete(&self, pk: &str, sk: String) -> Result<bool, StoreError> {
        let out = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key(PK, s(pk))
            .key(SK, s(sk))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(out.attributes.is_some_and(|old| !old.is_empty()))
    }

    /// Whether any bucket item exists.
    async fn has_buckets(&self) -> Result<bool, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("#pk = :pk")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_values(":pk", s(BUCKETS))
            .consistent_read(true)
            .limit(1)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(!out.items.unwrap_or_default().is_empty())
    }
}

fn unavailable<E: Error + 'static>(err: SdkError<E>) -> StoreError {
    StoreError::Unavailable(chain(&err))
}

#[async_trait]
impl QuotaStore for DynamoQuotaStore {
    async fn table(&self) -> Result<QuotaTable, StoreError> {
        let mut buckets = self
            .query_all(BUCKETS, None)
            .await?
            .into_iter()
            .map(bucket_from)
            .collect::<Result<Vec<_>, _>>()?;
        let mut routes = self
            .query_all(ROUTES, None)
            .await?
            .into_iter()
            .map(route_from)
            .collect::<Result<Vec<_>, _>>()?;
        // The sort keys join with `#`, which orders differently from the fields themselves
        // when an id holds a character below it; sort on the fields, as the embedded store.
        buckets.sort_by(|a, b| (&a.region, &a.model_id).cmp(&(&b.region, &b.model_id)));
        routes.sort_by(|a, b| (&a.model, &a.region).cmp(&(&b.model, &b.region)));
        Ok(QuotaTable { buckets, routes })
    }

    async fn put_bucket(&self, quota: &BucketQuota) -> Result<(), StoreError> {
        self.put(bucket_item(quota)?, false).await.map(drop)
    }

    async fn put_route(&self, route: &ModelRoute) -> Result<(), StoreError> {
        self.put(route_item(route)?, false).await.map(drop)
    }

    async fn delete_route(&self, model: &str, region: &str) -> Result<bool, StoreError> {
        self.delete(ROUTES, route_sk(model, region)).await
    }

    async fn seed(&self, seed: &QuotaTable) -> Result<bool, StoreError> {
        if self.has_buckets().await? {
            return Ok(false);
        }
        let mut written = 0_usize;
        for quota in &seed.buckets {
            written += usize::from(self.put(bucket_item(quota)?, true).await?);
        }
        for route in &seed.routes {
            written += usize::from(self.put(route_item(route)?, true).await?);
        }
        tracing::info!(
            table = %self.table,
            written,
            items = seed.buckets.len() + seed.routes.len(),
            "quota table seeded"
        );
        Ok(true)
    }

    async fn beat(&self, beat: &WorkerBeat) -> Result<(), StoreError> {
        self.put(worker_item(beat)?, false).await.map(drop)
    }

    async fn live_workers(&self, now: DateTime<Utc>) -> Result<Vec<WorkerBeat>, StoreError> {
        let mut beats = self
            .query_all(WORKERS, Some(now))
            .await?
            .into_iter()
            .map(worker_from)
            .collect::<Result<Vec<_>, _>>()?;
        // `expires_ms` has millisecond precision; the beat itself decides.
        beats.retain(|beat| beat.expires_at > now);
        beats.sort_by(|a, b| a.worker_id.cmp(&b.worker_id));
        Ok(beats)
    }

    async fn leave(&self, worker_id: &str) -> Result<(), StoreError> {
        self.delete(WORKERS, worker_id.to_owned()).await.map(drop)
    }
}
