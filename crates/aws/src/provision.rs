//! Creates the SQS queues and the DynamoDB table the adapters need, idempotently, so that the
//! CLI, local development against moto, and tests can start from an empty account. Production
//! deployments create the same resources through the `infra/` template; running these helpers
//! against them changes nothing but the redrive policy's receive count (and adds the batch
//! index and TTL to a jobs table created before they existed).

use std::error::Error;
use std::time::Duration;

use aws_sdk_dynamodb::operation::create_table::CreateTableError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, CreateGlobalSecondaryIndexAction, GlobalSecondaryIndex,
    GlobalSecondaryIndexUpdate, IndexStatus, KeySchemaElement, KeyType, Projection, ProjectionType,
    ScalarAttributeType, TableDescription, TableStatus, TimeToLiveSpecification, TimeToLiveStatus,
};
use aws_sdk_sqs::error::SdkError;
use aws_sdk_sqs::types::QueueAttributeName;

use crate::errors::chain;
use crate::{BATCH_INDEX, TTL_ATTRIBUTE};

/// How long [`ensure_jobs_table`] waits for a new table to become active.
const TABLE_ACTIVE_TIMEOUT: Duration = Duration::from_secs(120);

/// The URLs of a work queue and of the dead-letter queue its messages move to after too many
/// receives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueUrls {
    pub queue_url: String,
    pub dead_letter_queue_url: String,
}

/// Why provisioning failed.
#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    /// An SQS call failed (the message holds the whole error chain).
    #[error("SQS: {0}")]
    Sqs(String),
    /// A DynamoDB call failed (the message holds the whole error chain).
    #[error("DynamoDB: {0}")]
    DynamoDb(String),
    /// The service answered without a field it always sends.
    #[error("the answer lacked {0}")]
    Missing(&'static str),
    /// The table was created but did not become active in time.
    #[error("table `{table}` did not become active within {waited:?}")]
    TableNotActive { table: String, waited: Duration },
}

fn sqs_error<E: Error + 'static>(err: SdkError<E>) -> ProvisionError {
    ProvisionError::Sqs(chain(&err))
}

fn dynamo_error<E: Error + 'static>(err: aws_sdk_dynamodb::error::SdkError<E>) -> ProvisionError {
    ProvisionError::DynamoDb(chain(&err))
}

/// Creates (idempotently) the standard queue `name` and its dead-letter queue `{name}-dlq`,
/// and sets the queue's redrive policy so that a message received `max_receive_count` times
/// moves to the dead-letter queue. Returns both URLs.
pub async fn ensure_queue(
    client: &aws_sdk_sqs::Client,
    name: &str,
    max_receive_count: u32,
) -> Result<QueueUrls, ProvisionError> {
    let dead_letter_queue_url = queue_url(client, &format!("{name}-dlq")).await?;
    let dlq_arn = client
        .get_queue_attributes()
        .queue_url(&dead_letter_queue_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(sqs_error)?
        .attributes
        .and_then(|mut a| a.remove(&QueueAttributeName::QueueArn))
        .ok_or(ProvisionError::Missing("QueueArn"))?;
    let queue_url = queue_url(client, name).await?;
    let policy = serde_json::json!({
        "deadLetterTargetArn": dlq_arn,
        "maxReceiveCount": max_receive_count.max(1),
    });
    client
        .set_queue_attributes()
        .queue_url(&queue_url)
        .attributes(QueueAttributeName::RedrivePolicy, policy.to_string())
        .send()
        .await
        .map_err(sqs_error)?;
    tracing::info!(
        queue = name,
        max_receive_count,
        "queue and dead-letter queue ready"
    );
    Ok(QueueUrls {
        queue_url,
        dead_letter_queue_url,
    })
}

/// The URL of queue `name`, created without attributes if it does not exist. Looking it up
/// first keeps this idempotent: CreateQueue fails for an existing queue whose attributes
/// differ from the ones given.
async fn queue_url(client: &aws_sdk_sqs::Client, name: &str) -> Result<String, ProvisionError> {
    match client.get_queue_url().queue_name(name).send().await {
        Ok(out) => return out.queue_url.ok_or(ProvisionError::Missing("QueueUrl")),
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_queue_does_not_exist()) => {}
        Err(err) => return Err(sqs_error(err)),
    }
    client
        .create_queue()
        .queue_name(name)
        .send()
        .await
        .map_err(sqs_error)?
        .queue_url
        .ok_or(ProvisionError::Missing("QueueUrl"))
}

/// Creates (idempotently) the jobs table: partition key `job_id` (S), on-demand billing, the
/// global secondary index `batch_id-index` (hash `batch_id`, range `job_id`, all attributes)
/// for batch listings, and DynamoDB TTL on `ttl`; then waits until table and index are active.
/// An existing table missing the index gets it through UpdateTable, and TTL is enabled if it
/// is off.
pub async fn ensure_jobs_table(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
) -> Result<(), ProvisionError> {
    match describe(client, table).await? {
        None => {
            let created = client
                .create_table()
                .table_name(table)
                .set_attribute_definitions(Some(jobs_attributes()?))
                .key_schema(key("job_id", KeyType::Hash)?)
                .global_secondary_indexes(
                    GlobalSecondaryIndex::builder()
                        .index_name(BATCH_INDEX)
                        .set_key_schema(Some(batch_index_keys()?))
                        .projection(all_attributes())
                        .build()
                        .map_err(build_error)?,
                )
                .billing_mode(BillingMode::PayPerRequest)
                .send()
                .await;
            created_or_raced(created, table, "jobs table created")?;
        }
        Some(description) if !has_index(&description, BATCH_INDEX) => {
            wait_until_active(client, table).await?;
            client
                .update_table()
                .table_name(table)
                .set_attribute_definitions(Some(jobs_attributes()?))
                .global_secondary_index_updates(
                    GlobalSecondaryIndexUpdate::builder()
                        .create(
                            CreateGlobalSecondaryIndexAction::builder()
                                .index_name(BATCH_INDEX)
                                .set_key_schema(Some(batch_index_keys()?))
                                .projection(all_attributes())
                                .build()
                                .map_err(build_error)?,
                        )
                        .build(),
                )
                .send()
                .await
                .map_err(dynamo_error)?;
            tracing::info!(
                table,
                index = BATCH_INDEX,
                "batch index added to the jobs table"
            );
        }
        Some(_) => {}
    }
    wait_until_active(client, table).await?;
    ensure_ttl(client, table).await
}

/// Creates (idempotently) the quota table: partition key `pk` (S), sort key `sk` (S),
/// on-demand billing, DynamoDB TTL on `ttl` (worker heartbeats and usage windows expire);
/// then waits until it is active.
pub async fn ensure_quotas_table(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
) -> Result<(), ProvisionError> {
    if describe(client, table).await?.is_none() {
        let created = client
            .create_table()
            .table_name(table)
            .attribute_definitions(string_attribute("pk")?)
            .attribute_definitions(string_attribute("sk")?)
            .key_schema(key("pk", KeyType::Hash)?)
            .key_schema(key("sk", KeyType::Range)?)
            .billing_mode(BillingMode::PayPerRequest)
            .send()
            .await;
        created_or_raced(created, table, "quota table created")?;
    }
    wait_until_active(client, table).await?;
    ensure_ttl(client, table).await
}

/// Enables DynamoDB TTL on [`TTL_ATTRIBUTE`] unless it is on (or being turned on) already.
async fn ensure_ttl(client: &aws_sdk_dynamodb::Client, table: &str) -> Result<(), ProvisionError> {
    let status = client
        .describe_time_to_live()
        .table_name(table)
        .send()
        .await
        .map_err(dynamo_error)?
        .time_to_live_description
        .and_then(|d| d.time_to_live_status);
    if matches!(
        status,
        Some(TimeToLiveStatus::Enabled | TimeToLiveStatus::Enabling)
    ) {
        return Ok(());
    }
    client
        .update_time_to_live()
        .table_name(table)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .enabled(true)
                .attribute_name(TTL_ATTRIBUTE)
                .build()
                .map_err(build_error)?,
        )
        .send()
        .await
        .map_err(dynamo_error)?;
    tracing::info!(table, attribute = TTL_ATTRIBUTE, "TTL enabled");
    Ok(())
}

fn build_error(e: aws_sdk_dynamodb::error::BuildError) -> ProvisionError {
    ProvisionError::DynamoDb(e.to_string())
}

fn string_attribute(name: &str) -> Result<AttributeDefinition, ProvisionError> {
    AttributeDefinition::builder()
        .attribute_name(name)
        .attribute_type(ScalarAttributeType::S)
        .build()
        .map_err(build_error)
}

fn key(name: &str, key_type: KeyType) -> Result<KeySchemaElement, ProvisionError> {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(key_type)
        .build()
        .map_err(build_error)
}

/// The jobs table's typed attributes: its key `job_id` and the batch index's `batch_id`.
fn jobs_attributes() -> Result<Vec<AttributeDefinition>, ProvisionError> {
    Ok(vec![
        string_attribute("job_id")?,
        string_attribute("batch_id")?,
    ])
}

/// The batch index's keys: hash `batch_id`, range `job_id`.
fn batch_index_keys() -> Result<Vec<KeySchemaElement>, ProvisionError> {
    Ok(vec![
        key("batch_id", KeyType::Hash)?,
        key("job_id", KeyType::Range)?,
    ])
}

fn all_attributes() -> Projection {
    Projection::builder()
        .projection_type(ProjectionType::All)
        .build()
}

fn has_index(description: &TableDescription, index: &str) -> bool {
    description
        .global_secondary_indexes()
        .iter()
        .any(|i| i.index_name() == Some(index))
}

/// Accepts a CreateTable that succeeded, or lost a race with another creator.
fn created_or_raced<T>(
    created: Result<T, aws_sdk_dynamodb::error::SdkError<CreateTableError>>,
    table: &str,
    what: &str,
) -> Result<(), ProvisionError> {
    match created {
        Ok(_) => {
            tracing::info!(table, "{what}");
            Ok(())
        }
        // Someone else created it between our describe and create.
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_resource_in_use_exception()) =>
        {
            Ok(())
        }
        Err(err) => Err(dynamo_error(err)),
    }
}

/// The table's description, or `None` when it does not exist.
async fn describe(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
) -> Result<Option<TableDescription>, ProvisionError> {
    match client.describe_table().table_name(table).send().await {
        Ok(out) => Ok(Some(out.table.ok_or(ProvisionError::Missing("Table"))?)),
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_resource_not_found_exception()) =>
        {
            Ok(None)
        }
        Err(err) => Err(dynamo_error(err)),
    }
}

/// Whether the table and all its global secondary indexes are active.
async fn is_active(client: &aws_sdk_dynamodb::Client, table: &str) -> Result<bool, ProvisionError> {
    let Some(description) = describe(client, table).await? else {
        return Ok(false);
    };
    let indexes_active = description
        .global_secondary_indexes()
        .iter()
        .all(|i| matches!(i.index_status(), None | Some(IndexStatus::Active)));
    Ok(description.table_status() == Some(&TableStatus::Active) && indexes_active)
}

async fn wait_until_active(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
) -> Result<(), ProvisionError> {
    let started = tokio::time::Instant::now();
    let mut delay = Duration::from_millis(100);
    loop {
        if is_active(client, table).await? {
            return Ok(());
        }
        if started.elapsed() >= TABLE_ACTIVE_TIMEOUT {
            return Err(ProvisionError::TableNotActive {
                table: table.to_owned(),
                waited: started.elapsed(),
            });
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(2));
    }
}
