//! DynamoJobStore and the table provisioning against moto's DynamoDB. Lease expiry is tested by
//! passing a `now` past it, never by waiting.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers panic on set-up failure

mod common;

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use bedrock_lb_aws::DynamoJobStore;
use bedrock_lb_aws::provision::ensure_jobs_table;
use bedrock_lb_core::{
    Attempt, ContentBlock, InferenceConfig, Job, JobCompletion, JobError, JobId, JobRequest,
    JobResult, JobStatus, JobStore, Lease, Message, Role, StoreError, Usage,
};
use chrono::{DateTime, Duration, Utc};
use common::{dynamo_client, unique};
use serde_json::json;

async fn new_store() -> DynamoJobStore {
    let client = dynamo_client();
    let table = unique("jobs");
    ensure_jobs_table(&client, &table).await.unwrap();
    DynamoJobStore::new(client, table)
}

fn t0() -> DateTime<Utc> {
    DateTime::from_timestamp_millis(1_760_000_000_000).unwrap()
}

fn request() -> JobRequest {
    JobRequest {
        model: "claude-haiku".into(),
        system: Some("Réponds brièvement 🙂".into()),
        messages: vec![Message {
            role: Role::User,
            content: vec![ContentBlock {
                text: "Write a haiku about 東京".into(),
            }],
        }],
        inference: InferenceConfig {
            max_tokens: Some(200),
            temperature: Some(0.7),
            top_p: Some(0.95),
            stop_sequences: vec!["\n\nHuman:".into()],
        },
        metadata: Some(json!({
            "team": "search",
            "ratio": 0.125,
            "negative": -3.5e-7,
            "big": 12345678901234_i64,
            "nested": {"list": [1, "two", null, true], "empty": {}},
            "emoji": "🚀 ünïcode"
        })),
        deadline: Some(DateTime::from_timestamp_millis(1_760_000_600_000).unwrap()),
    }
}

fn queued_job() -> Job {
    Job::queued(JobId::generate(), request(), t0())
}

fn lease(owner: &str, expires_at: DateTime<Utc>) -> Lease {
    Lease {
        owner: owner.into(),
        expires_at,
    }
}

fn success(at: DateTime<Utc>) -> JobCompletion {
    JobCompletion::succeeded(
        JobResult {
            text: "Neon rain falls — 東京".into(),
            stop_reason: "end_turn".into(),
            region: "us-west-2".into(),
            model_id: "anthropic.claude-3-haiku-20240307-v1:0".into(),
            usage: Usage {
                input_tokens: 12,
                output_tokens: 20,
                total_tokens: 32,
            },
            latency_ms: 840,
        },
        vec![
            Attempt {
                region: "us-east-1".into(),
                model_id: "anthropic.claude-3-haiku-20240307-v1:0".into(),
                started_at: at - Duration::seconds(2),
                latency_ms: 15,
                outcome: "throttling".into(),
                error: Some("Too many tokens".into()),
            },
            Attempt {
                region: "us-west-2".into(),
                model_id: "anthropic.claude-3-haiku-20240307-v1:0".into(),
                started_at: at - Duration::seconds(1),
                latency_ms: 840,
                outcome: "succeeded".into(),
                error: None,
            },
        ],
        at,
    )
}

/// The raw item, to check the flat attributes the store maintains.
async fn raw_item(store: &DynamoJobStore, id: &JobId) -> HashMap<String, AttributeValue> {
    dynamo_client()
        .get_item()
        .table_name(store.table())
        .key("job_id", AttributeValue::S(id.to_string()))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
        .unwrap()
}

#[tokio::test]
async fn a_job_round_trips_with_metadata_floats_and_unicode() {
    let store = new_store().await;
    let mut job = queued_job();
    job.batch_id = Some("batch-1".into());
    store.create(&job).await.unwrap();
    assert_eq!(store.get(&job.job_id).await.unwrap(), Some(job.clone()));
    let item = raw_item(&store, &job.job_id).await;
    assert_eq!(
        item.get("status"),
        Some(&AttributeValue::S("queued".into()))
    );
    assert_eq!(
        item.get("updated_ms"),
        Some(&AttributeValue::N("1760000000000".into()))
    );
    assert!(
        matches!(item.get("request"), Some(AttributeValue::M(_))),
        "the request is stored as a native map"
    );
    assert!(!item.contains_key("lease_owner"));
}

#[tokio::test]
async fn create_twice_is_already_exists() {
    let store = new_store().await;
    let job = queued_job();
    store.create(&job).await.unwrap();
    let mut other = queued_job();
    other.job_id = job.job_id.clone();
    other.batch_id = Some("different".into());
    assert_eq!(
        store.create(&other).await,
        Err(StoreError::AlreadyExists(job.job_id.clone()))
    );
    assert_eq!(
        store.get(&job.job_id).await.unwrap(),
        Some(job),
        "first write kept"
    );
}

#[tokio::test]
async fn a_missing_job_reads_as_none_and_cannot_be_claimed_or_written() {
    let store = new_store().await;
    let id = JobId::generate();
    assert_eq!(store.get(&id).await.unwrap(), None);
    let l = lease("w1", t0() + Duration::seconds(30));
    assert_eq!(store.claim(&id, &l, t0()).await.unwrap(), None);
    assert_eq!(
        store.get(&id).await.unwrap(),
        None,
        "claim must not create an item"
    );
    assert_eq!(
        store.complete(&id, "w1", &success(t0())).await,
        Err(StoreError::Conflict(id.clone()))
    );
    assert_eq!(
        store.extend_lease(&id, &l).await,
        Err(StoreError::Conflict(id.clone()))
    );
}

#[tokio::test]
async fn one_worker_claims_and_others_wait_for_the_lease_to_expire() {
    let store = new_store().await;
    let job = queued_job();
    store.create(&job).await.unwrap();
    let now = t0() + Duration::seconds(1);
    let l1 = lease("w1", now + Duration::seconds(30));
    let claimed = store.claim(&job.job_id, &l1, now).await.unwrap().unwrap();
    assert_eq!(claimed.status, JobStatus::Running);
    assert_eq!(claimed.lease, Some(l1.clone()));
    assert_eq!(claimed.updated_at, now);
    assert_eq!(claimed.request, job.request);
    let item = raw_item(&store, &job.job_id).await;
    assert_eq!(
        item.get("lease_owner"),
        Some(&AttributeValue::S("w1".into()))
    );
    assert_eq!(
        item.get("lease_expires_ms"),
        Some(&AttributeValue::N(
            (now + Duration::seconds(30)).timestamp_millis().to_string()
        ))
    );

    // Another worker, before expiry: no.
    let l2 = lease("w2", now + Duration::seconds(60));
    let before_expiry = now + Duration::seconds(29);
    assert_eq!(
        store.claim(&job.job_id, &l2, before_expiry).await.unwrap(),
        None
    );

    // The holder extends; the old expiry no longer lets w2 in.
    let l1_longer = lease("w1", now + Duration::seconds(90));
    store.extend_lease(&job.job_id, &l1_longer).await.unwrap();
    let after_first_expiry = now + Duration::seconds(31);
    assert_eq!(
        store
            .claim(&job.job_id, &l2, after_first_expiry)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store.get(&job.job_id).await.unwrap().unwrap().lease,
        Some(l1_longer.clone())
    );

    // At expiry, w2 takes over; w1 can no longer extend or complete.
    let at_expiry = now + Duration::seconds(90);
    let l2 = lease("w2", at_expiry + Duration::seconds(30));
    let taken = store
        .claim(&job.job_id, &l2, at_expiry)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(taken.lease.as_ref().map(|l| l.owner.as_str()), Some("w2"));
    assert_eq!(
        store.extend_lease(&job.job_id, &l1_longer).await,
        Err(StoreError::Conflict(job.job_id.clone()))
    );
    assert_eq!(
        store.complete(&job.job_id, "w1", &success(at_expiry)).await,
        Err(StoreError::Conflict(job.job_id.clone()))
    );
}

#[tokio::test]
async fn only_the_lease_holder_completes_and_only_once() {
    let store = new_store().await;
    let job = queued_job();
    store.create(&job).await.unwrap();
    let l1 = lease("w1", t0() + Duration::seconds(30));
    store.claim(&job.job_id, &l1, t0()).await.unwrap().unwrap();

    let done_at = t0() + Duration::seconds(5);
    let completion = success(done_at);
    assert_eq!(
        store.complete(&job.job_id, "w2", &completion).await,
        Err(StoreError::Conflict(job.job_id.clone()))
    );
    store
        .complete(&job.job_id, "w1", &completion)
        .await
        .unwrap();

    let stored = store.get(&job.job_id).await.unwrap().unwrap();
    assert_eq!(stored.status, JobStatus::Succeeded);
    assert_eq!(stored.result, completion.result);
    assert_eq!(stored.attempts, completion.attempts);
    assert_eq!(stored.error, None);
    assert_eq!(stored.lease, None);
    assert_eq!(stored.updated_at, done_at);
    assert_eq!(stored.created_at, job.created_at);
    let item = raw_item(&store, &job.job_id).await;
    assert!(!item.contains_key("lease_owner"));
    assert!(!item.contains_key("lease_expires_ms"));
    assert_eq!(
        item.get("updated_ms"),
        Some(&AttributeValue::N(done_at.timestamp_millis().to_string()))
    );

    // Written once: a second completion, or a late claim, finds a finished job.
    let failure = JobCompletion::failed(JobError::new("x", "late"), vec![], done_at);
    assert_eq!(
        store.complete(&job.job_id, "w1", &failure).await,
        Err(StoreError::Conflict(job.job_id.clone()))
    );
    let much_later = t0() + Duration::days(1);
    assert_eq!(
        store
            .claim(&job.job_id, &lease("w3", much_later), much_later)
            .await
            .unwrap(),
        None
    );
}

#[tokio::test]
async fn a_failure_stores_the_error_and_no_result() {
    let store = new_store().await;
    let job = queued_job();
    store.create(&job).await.unwrap();
    store
        .claim(
            &job.job_id,
            &lease("w1", t0() + Duration::seconds(30)),
            t0(),
        )
        .await
        .unwrap()
        .unwrap();
    let error = JobError::new("validation", "temperature must be ≤ 1");
    let completion = JobCompletion::failed(error.clone(), vec![], t0());
    store
        .complete(&job.job_id, "w1", &completion)
        .await
        .unwrap();
    let stored = store.get(&job.job_id).await.unwrap().unwrap();
    assert_eq!(stored.status, JobStatus::Failed);
    assert_eq!(stored.error, Some(error));
    assert_eq!(stored.result, None);
}

#[tokio::test]
async fn close_queued_only_closes_queued_jobs() {
    let store = new_store().await;
    let error = JobError::new("cancelled", "cancelled by the user");

    let queued = queued_job();
    store.create(&queued).await.unwrap();
    let at = t0() + Duration::seconds(3);
    store
        .close_queued(&queued.job_id, JobStatus::Cancelled, &error, at)
        .await
        .unwrap();
    let stored = store.get(&queued.job_id).await.unwrap().unwrap();
    assert_eq!(stored.status, JobStatus::Cancelled);
    assert_eq!(stored.error, Some(error.clone()));
    assert_eq!(stored.updated_at, at);
    assert_eq!(
        store
            .claim(&queued.job_id, &lease("w1", at + Duration::seconds(30)), at)
            .await
            .unwrap(),
        None,
        "a closed job is never claimed"
    );

    let running = queued_job();
    store.create(&running).await.unwrap();
    store
        .claim(
            &running.job_id,
            &lease("w1", t0() + Duration::seconds(30)),
            t0(),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        store
            .close_queued(&running.job_id, JobStatus::Expired, &error, at)
            .await,
        Err(StoreError::Conflict(running.job_id.clone()))
    );
    assert_eq!(
        store.get(&running.job_id).await.unwrap().unwrap().status,
        JobStatus::Running
    );
}

#[tokio::test]
async fn an_unreadable_item_is_corrupt() {
    let store = new_store().await;
    let id = JobId::generate();
    dynamo_client()
        .put_item()
        .table_name(store.table())
        .item("job_id", AttributeValue::S(id.to_string()))
        .item("status", AttributeValue::S("exploded".into()))
        .send()
        .await
        .unwrap();
    let err = store.get(&id).await.unwrap_err();
    assert!(
        matches!(err, StoreError::Corrupt(ref m) if m.contains(id.as_str())),
        "{err:?}"
    );
}

#[tokio::test]
async fn table_provisioning_is_idempotent_and_a_missing_table_is_unavailable() {
    let client = dynamo_client();
    let table = unique("jobs");
    ensure_jobs_table(&client, &table).await.unwrap();
    ensure_jobs_table(&client, &table).await.unwrap();
    let description = client
        .describe_table()
        .table_name(&table)
        .send()
        .await
        .unwrap()
        .table
        .unwrap();
    let key = &description.key_schema()[0];
    assert_eq!(key.attribute_name(), "job_id");

    let missing = DynamoJobStore::new(client, unique("missing"));
    let err = missing.get(&JobId::generate()).await.unwrap_err();
    assert!(
        matches!(err, StoreError::Unavailable(ref m) if m.contains("ResourceNotFound")),
        "{err:?}"
    );
}
