//! `complete` for [`DynamoJobStore`]: the lease-holder-only final write, with the result text
//! stored inline, gzip-compressed, or (too large even compressed) replaced by a
//! `result_too_large` failure, as decided in [`super::large`].

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use bedrock_lb_core::{JobCompletion, JobError, JobId, JobStore, StoreError};

use super::expr::Update;
use super::item::{
    ATTEMPTS, ERROR, LEASE, LEASE_EXPIRES_MS, LEASE_OWNER, RESULT, RESULT_TEXT_GZ, STATUS, TTL,
    attr, s, ttl_attr,
};
use super::{DynamoJobStore, MEASURE_RESULTS_ABOVE, Refused, held_by, large, set_updated};

impl DynamoJobStore {
    /// Writes a completion as `complete` does, choosing inline, compressed or
    /// `result_too_large` storage for its result text.
    pub(super) async fn complete_job(
        &self,
        id: &JobId,
        owner: &str,
        completion: &JobCompletion,
    ) -> Result<(), StoreError> {
        let text = completion.result.as_ref().map_or("", |r| r.text.as_str());
        let plan = if text.len() > MEASURE_RESULTS_ABOVE {
            large::store(text, self.size_besides_text(id, completion).await?)
        } else {
            large::Stored::Inline
        };
        let written = match plan {
            large::Stored::Inline => {
                match self.write_completion(id, owner, completion, None).await? {
                    // The estimate was short and DynamoDB refused the item: never cut it.
                    Err(Refused::TooLarge(_)) => {
                        let (text_len, compressed_len) =
                            match large::store(text, large::INLINE_LIMIT) {
                                large::Stored::TooLarge { text, compressed } => (text, compressed),
                                _ => (text.len(), text.len()),
                            };
                        tracing::warn!(job_id = %id, text_bytes = text_len,
                            "job record refused as too large; failing the job");
                        let failed = too_large(completion, text_len, compressed_len);
                        self.write_completion(id, owner, &failed, None).await?
                    }
                    other => other,
                }
            }
            large::Stored::Compressed(blob) => {
                tracing::info!(job_id = %id, text_bytes = text.len(), compressed_bytes = blob.len(),
                    "storing a large result compressed");
                self.write_completion(id, owner, completion, Some(blob))
                    .await?
            }
            large::Stored::TooLarge { text, compressed } => {
                tracing::warn!(job_id = %id, text_bytes = text, compressed_bytes = compressed,
                    "result too large to store; failing the job");
                let failed = too_large(completion, text, compressed);
                self.write_completion(id, owner, &failed, None).await?
            }
        };
        match written {
            Ok(()) => Ok(()),
            Err(Refused::Condition) => Err(StoreError::Conflict(id.clone())),
            Err(Refused::TooLarge(message)) => Err(StoreError::Unavailable(message)),
        }
    }

    /// Writes `completion` if `owner` holds the lease.
    async fn write_completion(
        &self,
        id: &JobId,
        owner: &str,
        completion: &JobCompletion,
        compressed_text: Option<Vec<u8>>,
    ) -> Result<Result<(), Refused>, StoreError> {
        let mut update = Update::default();
        let result = match (&completion.result, &compressed_text) {
            (Some(result), Some(_)) => {
                let mut stub = result.clone();
                stub.text = String::new();
                Some(attr(&stub)?)
            }
            (Some(result), None) => Some(attr(result)?),
            (None, _) => None,
        };
        update
            .set(STATUS, s(completion.status.as_str()))
            .set(ATTEMPTS, attr(&completion.attempts)?)
            .set_or_remove(RESULT, result)
            .set_or_remove(
                RESULT_TEXT_GZ,
                compressed_text.map(|b| AttributeValue::B(Blob::new(b))),
            )
            .set_or_remove(ERROR, completion.error.as_ref().map(attr).transpose()?)
            .set(TTL, ttl_attr(completion.finished_at, self.job_ttl_secs))
            .remove(LEASE)
            .remove(LEASE_OWNER)
            .remove(LEASE_EXPIRES_MS);
        set_updated(&mut update, completion.finished_at)?;
        let condition = held_by(&mut update, owner);
        Ok(self
            .try_update(id, &update, condition, false)
            .await?
            .map(drop))
    }

    /// About how many bytes the record of job `id` takes besides its result text once
    /// `completion` is applied; 0 when the job is missing (the write will then fail anyway).
    async fn size_besides_text(
        &self,
        id: &JobId,
        completion: &JobCompletion,
    ) -> Result<usize, StoreError> {
        let Some(mut job) = self.get(id).await? else {
            return Ok(0);
        };
        let mut finished = completion.clone();
        if let Some(result) = finished.result.as_mut() {
            result.text = String::new();
        }
        job.complete(finished);
        // JSON is a little larger than DynamoDB's own size accounting: a safe estimate.
        Ok(serde_json::to_vec(&job).map_or(0, |v| v.len()))
    }
}

/// The failure written instead of a result too large to store.
fn too_large(completion: &JobCompletion, text: usize, compressed: usize) -> JobCompletion {
    JobCompletion::failed(
        JobError::new(
            "result_too_large",
            format!(
                "the result text is {text} bytes ({compressed} bytes compressed), more than a \
                 DynamoDB job record can hold ({} bytes); it was not stored",
                large::INLINE_LIMIT
            ),
        ),
        completion.attempts.clone(),
        completion.finished_at,
    )
}
