//! Creates the SQS queues and the DynamoDB table the adapters need, idempotently, so that the
//! CLI, local development against moto, and tests can start from an empty account. Production
//! deployments create the same resources through the `infra/` template; running these helpers
//! against them changes nothing but the redrive policy's receive count.

use std::error::Error;
use std::time::Duration;

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType, TableStatus,
};
use aws_sdk_sqs::error::SdkError;
use aws_sdk_sqs::types::QueueAttributeName;

use crate::errors::chain;

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

/// Creates (idempotently) the jobs table: partition key `job_id` (S), on-demand billing; then
/// waits until it is active.
pub async fn ensure_jobs_table(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
) -> Result<(), ProvisionError> {
    if table_status(client, table).await?.is_none() {
        let build =
            |e: aws_sdk_dynamodb::error::BuildError| ProvisionError::DynamoDb(e.to_string());
        let created = client
            .create_table()
            .table_name(table)
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name("job_id")
                    .attribute_type(ScalarAttributeType::S)
                    .build()
                    .map_err(build)?,
            )
            .key_schema(
                KeySchemaElement::builder()
                    .attribute_name("job_id")
                    .key_type(KeyType::Hash)
                    .build()
                    .map_err(build)?,
            )
            .billing_mode(BillingMode::PayPerRequest)
            .send()
            .await;
        match created {
            Ok(_) => tracing::info!(table, "jobs table created"),
            // Someone else created it between our describe and create.
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_resource_in_use_exception()) => {}
            Err(err) => return Err(dynamo_error(err)),
        }
    }
    wait_until_active(client, table).await
}

/// The table's status, or `None` when it does not exist.
async fn table_status(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
) -> Result<Option<TableStatus>, ProvisionError> {
    match client.describe_table().table_name(table).send().await {
        Ok(out) => Ok(Some(
            out.table
                .and_then(|t| t.table_status)
                .ok_or(ProvisionError::Missing("TableStatus"))?,
        )),
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

async fn wait_until_active(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
) -> Result<(), ProvisionError> {
    let started = tokio::time::Instant::now();
    let mut delay = Duration::from_millis(100);
    loop {
        if table_status(client, table).await? == Some(TableStatus::Active) {
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
