//! DynamoJobStore's batch writes, batch listing, recovery writes, idempotency records, TTL and
//! large results against moto's DynamoDB. Lease expiry is tested by passing a `now` past it.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers panic on set-up failure

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use aws_sdk_dynamodb::types::AttributeValue;
use bedrock_lb_aws::DynamoJobStore;
use bedrock_lb_aws::provision::{ensure_jobs_table, ensure_quotas_table};
use bedrock_lb_core::{
    ContentBlock, IdempotencyRecord, InferenceConfig, Job, JobCompletion, JobError, JobId,
    JobRequest, JobResult, JobStatus, JobStore, Lease, Message, Role, StoreError, Usage,
};
use chrono::{DateTime, Duration, Utc};
use common::{dynamo_client, unique};

const TTL_SECS: u64 = 3600;

async fn new_store() -> DynamoJobStore {
    let client = dynamo_client();
    let table = unique("jobs");
    ensure_jobs_table(&client, &table).await.unwrap();
    DynamoJobStore::new(client, table).with_job_ttl(StdDuration::from_secs(TTL_SECS))
}

fn t0() -> DateTime<Utc> {
    DateTime::from_timestamp_millis(1_760_000_000_000).unwrap()
}

fn job() -> Job {
    let request = JobRequest {
        model: "claude-haiku".into(),
        system: None,
        messages: vec![Message {
            role: Role::User,
            content: vec![ContentBlock {
                text: "hello".into(),
            }],
        }],
        inference: InferenceConfig::default(),
        metadata: None,
        deadline: None,
    };
    Job::queued(JobId::generate(), request, t0())
}

fn lease(owner: &str, expires_at: DateTime<Utc>) -> Lease {
    Lease {
        owner: owner.into(),
        expires_at,
    }
}

fn success(text: String, at: DateTime<Utc>) -> JobCompletion {
    JobCompletion::succeeded(
        JobResult {
            text,
            stop_reason: "end_turn".into(),
            region: "us-west-2".into(),
            model_id: "anthropic.claude-3-haiku-20240307-v1:0".into(),
            usage: Usage {
                input_tokens: 1,
                output_tokens: 2,
                total_tokens: 3,
            },
            latency_ms: 5,
        },
        vec![],
        at,
    )
}

async fn raw_item(store: &DynamoJobStore, key: &str) -> Option<HashMap<String, AttributeValue>> {
    dynamo_client()
        .get_item()
        .table_name(store.table())
        .key("job_id", AttributeValue::S(key.into()))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
}

async fn ttl_of(store: &DynamoJobStore, id: &JobId) -> Option<i64> {
    match raw_item(store, id.as_str()).await?.remove("ttl") {
        Some(AttributeValue::N(n)) => Some(n.parse().unwrap()),
        _ => None,
    }
}

/// A running job claimed by `owner` at t0.
async fn running(store: &DynamoJobStore, owner: &str, expires_at: DateTime<Utc>) -> Job {
    let job = job();
    store.create(&job).await.unwrap();
    store
        .claim(&job.job_id, &lease(owner, expires_at), t0())
        .await
        .unwrap()
        .unwrap()
}

#[tokio::test]
async fn create_batch_of_60_lists_in_pages_of_25_in_order() {
    let store = new_store().await;
    let jobs: Vec<Job> = (0..60).map(|_| job().in_batch("batch-a")).collect();
    store.create_batch(&jobs).await.unwrap();
    let other: Vec<Job> = (0..3).map(|_| job().in_batch("batch-b")).collect();
    store.create_batch(&other).await.unwrap();

    let mut listed = Vec::new();
    let mut after: Option<JobId> = None;
    let mut pages = 0;
    loop {
        let page = store
            .list_batch("batch-a", after.as_ref(), 25)
            .await
            .unwrap();
        if page.is_empty() {
            break;
        }
        pages += 1;
        assert!(page.len() <= 25);
        after = page.last().map(|j| j.job_id.clone());
        listed.extend(page);
    }
    assert_eq!(pages, 3);
    assert_eq!(listed, jobs, "all 60 jobs, in submission (id) order");
    assert_eq!(store.list_batch("batch-b", None, 100).await.unwrap(), other);
    assert!(store.list_batch("none", None, 10).await.unwrap().is_empty());
    // Each job is also readable on its own.
    assert_eq!(
        store.get(&jobs[59].job_id).await.unwrap().as_ref(),
        Some(&jobs[59])
    );
}

#[tokio::test]
async fn release_then_claim_by_another_owner() {
    let store = new_store().await;
    let far = t0() + Duration::minutes(5);
    let job = running(&store, "w1", far).await;
    assert_eq!(
        store.release(&job.job_id, "w2").await,
        Err(StoreError::Conflict(job.job_id.clone()))
    );
    store.release(&job.job_id, "w1").await.unwrap();
    let released = store.get(&job.job_id).await.unwrap().unwrap();
    assert_eq!(released.status, JobStatus::Queued);
    assert_eq!(released.lease, None);
    let item = raw_item(&store, job.job_id.as_str()).await.unwrap();
    assert!(!item.contains_key("lease_owner") && !item.contains_key("lease_expires_ms"));
    let claimed = store
        .claim(&job.job_id, &lease("w2", far), t0())
        .await
        .unwrap();
    assert_eq!(claimed.unwrap().lease.unwrap().owner, "w2");
    let missing = JobId::generate();
    assert_eq!(
        store.release(&missing, "w1").await,
        Err(StoreError::Conflict(missing))
    );
}

#[tokio::test]
async fn fail_abandoned_leaves_a_live_lease_and_a_finished_job_alone() {
    let store = new_store().await;
    let queued = job();
    store.create(&queued).await.unwrap();
    let live = running(&store, "w1", t0() + Duration::minutes(5)).await;
    let expired = running(&store, "w1", t0() + Duration::seconds(10)).await;
    let finished = running(&store, "w1", t0() + Duration::seconds(10)).await;
    store
        .complete(&finished.job_id, "w1", &success("done".into(), t0()))
        .await
        .unwrap();

    let later = t0() + Duration::seconds(30);
    let error = JobError::new("dead_lettered", "received too many times");
    assert!(
        store
            .fail_abandoned(&queued.job_id, &error, later)
            .await
            .unwrap()
    );
    assert!(
        store
            .fail_abandoned(&expired.job_id, &error, later)
            .await
            .unwrap()
    );
    assert!(
        !store
            .fail_abandoned(&live.job_id, &error, later)
            .await
            .unwrap()
    );
    assert!(
        !store
            .fail_abandoned(&finished.job_id, &error, later)
            .await
            .unwrap()
    );
    assert!(
        !store
            .fail_abandoned(&JobId::generate(), &error, later)
            .await
            .unwrap()
    );
    assert!(
        store.get(&JobId::generate()).await.unwrap().is_none(),
        "nothing was created"
    );

    for id in [&queued.job_id, &expired.job_id] {
        let job = store.get(id).await.unwrap().unwrap();
        assert_eq!(job.status, JobStatus::Failed);
        assert_eq!(job.error.as_ref(), Some(&error));
        assert_eq!(job.lease, None);
        assert_eq!(ttl_of(&store, id).await, Some(later.timestamp() + 3600));
    }
    assert_eq!(
        store.get(&live.job_id).await.unwrap().unwrap().status,
        JobStatus::Running
    );
    let done = store.get(&finished.job_id).await.unwrap().unwrap();
    assert_eq!(done.status, JobStatus::Succeeded);
    assert_eq!(done.result.unwrap().text, "done");
}

#[tokio::test]
async fn ttl_is_set_on_every_terminal_write_and_only_there() {
    let store = new_store().await;
    let done = running(&store, "w1", t0() + Duration::minutes(5)).await;
    assert_eq!(
        ttl_of(&store, &done.job_id).await,
        None,
        "running jobs have no ttl"
    );
    let finish = t0() + Duration::seconds(42);
    store
        .complete(&done.job_id, "w1", &success("ok".into(), finish))
        .await
        .unwrap();
    assert_eq!(
        ttl_of(&store, &done.job_id).await,
        Some(finish.timestamp() + 3600)
    );

    let cancelled = job();
    store.create(&cancelled).await.unwrap();
    assert_eq!(ttl_of(&store, &cancelled.job_id).await, None);
    store
        .close_queued(
            &cancelled.job_id,
            JobStatus::Cancelled,
            &JobError::new("cancelled", "c"),
            finish,
        )
        .await
        .unwrap();
    assert_eq!(
        ttl_of(&store, &cancelled.job_id).await,
        Some(finish.timestamp() + 3600)
    );

    let rejected = Job::rejected(JobId::generate(), JobError::new("bad_message", "x"), t0());
    store.create(&rejected).await.unwrap();
    assert_eq!(
        ttl_of(&store, &rejected.job_id).await,
        Some(t0().timestamp() + 3600)
    );

    // The table has TTL enabled on `ttl`.
    assert_eq!(
        ttl_attribute(&dynamo_client(), store.table()).await,
        Some("ttl".to_owned())
    );
}

/// The attribute DynamoDB TTL is configured on for `table`.
async fn ttl_attribute(client: &aws_sdk_dynamodb::Client, table: &str) -> Option<String> {
    client
        .describe_time_to_live()
        .table_name(table)
        .send()
        .await
        .unwrap()
        .time_to_live_description
        .unwrap()
        .attribute_name
}

fn record(key: &str, marker: &str, now: DateTime<Utc>) -> IdempotencyRecord {
    IdempotencyRecord {
        key: key.into(),
        request_hash: marker.into(),
        job_ids: vec![JobId::generate(), JobId::generate()],
        batch_id: Some(format!("batch-{marker}")),
        created_at: now,
        expires_at: now + Duration::hours(24),
    }
}

/// Real DynamoDB evaluates a condition and writes atomically. moto's server does not lock its
/// tables, so now and then both concurrent puts pass the condition there; such rounds are
/// counted and tolerated (a few), while every round with a loser must hand it the winner's
/// record, the one stored.
#[tokio::test]
async fn of_two_concurrent_idempotent_puts_exactly_one_wins() {
    const ROUNDS: usize = 10;
    let store = Arc::new(new_store().await);
    let now = t0();
    let mut moto_races = 0;
    for round in 0..ROUNDS {
        let key = format!("alice/key-{round}");
        let put = |r: IdempotencyRecord| {
            let store = Arc::clone(&store);
            tokio::spawn(async move { (store.put_idempotency(&r, now).await.unwrap(), r) })
        };
        let (ta, tb) = (put(record(&key, "a", now)), put(record(&key, "b", now)));
        let outcomes = [ta.await.unwrap(), tb.await.unwrap()];
        let winners: Vec<_> = outcomes.iter().filter(|(o, _)| o.is_none()).collect();
        assert!(!winners.is_empty(), "one put always wins");
        if winners.len() == 2 {
            moto_races += 1;
            continue;
        }
        let loser = outcomes.iter().find(|(o, _)| o.is_some()).unwrap();
        assert_eq!(
            loser.0.as_ref(),
            Some(&winners[0].1),
            "the loser gets the winner's record"
        );
        // The winner's record is the one stored: a third put sees it too.
        let third = store
            .put_idempotency(&record(&key, "c", now), now)
            .await
            .unwrap();
        assert_eq!(third.as_ref(), Some(&winners[0].1));
    }
    assert!(
        moto_races <= ROUNDS / 5,
        "{moto_races} of {ROUNDS} rounds had two winners"
    );
}

#[tokio::test]
async fn an_expired_idempotency_record_gives_its_key_up_and_is_never_a_job() {
    let store = new_store().await;
    let now = t0();
    let first = record("bob/k", "first", now);
    assert_eq!(store.put_idempotency(&first, now).await.unwrap(), None);
    let almost = now + Duration::hours(24) - Duration::milliseconds(1);
    assert_eq!(
        store
            .put_idempotency(&record("bob/k", "retry", now), almost)
            .await
            .unwrap(),
        Some(first.clone())
    );
    let at_expiry = now + Duration::hours(24);
    let second = record("bob/k", "second", at_expiry);
    assert_eq!(
        store.put_idempotency(&second, at_expiry).await.unwrap(),
        None
    );
    assert_eq!(
        store
            .put_idempotency(&record("bob/k", "third", at_expiry), at_expiry)
            .await
            .unwrap(),
        Some(second.clone())
    );
    let item = raw_item(&store, "idem#bob/k").await.unwrap();
    assert_eq!(
        item.get("ttl"),
        Some(&AttributeValue::N(
            second.expires_at.timestamp().to_string()
        ))
    );
    assert!(!item.contains_key("batch_id"), "never listed in a batch");
}

/// Text that does not compress: printable noise from a xorshift generator.
fn noise(len: usize) -> String {
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            char::from(b'!' + u8::try_from(state % 90).unwrap())
        })
        .collect()
}

#[tokio::test]
async fn a_large_compressible_result_is_stored_compressed_and_read_back_whole() {
    let store = new_store().await;
    let job = running(&store, "w1", t0() + Duration::minutes(5)).await;
    let text = "The quick brown fox jumps over the lazy dog. ".repeat(1_048_576 / 45 + 1);
    assert!(text.len() >= 1_048_576);
    store
        .complete(&job.job_id, "w1", &success(text.clone(), t0()))
        .await
        .unwrap();
    let stored = store.get(&job.job_id).await.unwrap().unwrap();
    assert_eq!(stored.status, JobStatus::Succeeded);
    assert_eq!(stored.result.unwrap().text, text, "nothing cut");
    let item = raw_item(&store, job.job_id.as_str()).await.unwrap();
    assert!(matches!(
        item.get("result_text_gz"),
        Some(AttributeValue::B(_))
    ));
}

#[tokio::test]
async fn a_large_incompressible_result_fails_the_job_with_the_sizes() {
    let store = new_store().await;
    let job = running(&store, "w1", t0() + Duration::minutes(5)).await;
    store
        .complete(&job.job_id, "w1", &success(noise(1_048_576), t0()))
        .await
        .unwrap();
    let stored = store.get(&job.job_id).await.unwrap().unwrap();
    assert_eq!(stored.status, JobStatus::Failed);
    assert_eq!(stored.result, None);
    let error = stored.error.unwrap();
    assert_eq!(error.kind, "result_too_large");
    assert!(error.message.contains("1048576 bytes"), "{}", error.message);
    assert!(ttl_of(&store, &job.job_id).await.is_some());
    // Finished: the lease holder cannot write again.
    assert_eq!(
        store
            .complete(&job.job_id, "w1", &success("x".into(), t0()))
            .await,
        Err(StoreError::Conflict(job.job_id.clone()))
    );
}

#[tokio::test]
async fn provisioning_adds_the_batch_index_to_an_old_table_and_creates_the_quota_table() {
    let client = dynamo_client();
    let table = unique("old-jobs");
    // A jobs table as the first release created it: key only, no index, no TTL.
    client
        .create_table()
        .table_name(&table)
        .attribute_definitions(
            aws_sdk_dynamodb::types::AttributeDefinition::builder()
                .attribute_name("job_id")
                .attribute_type(aws_sdk_dynamodb::types::ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .key_schema(
            aws_sdk_dynamodb::types::KeySchemaElement::builder()
                .attribute_name("job_id")
                .key_type(aws_sdk_dynamodb::types::KeyType::Hash)
                .build()
                .unwrap(),
        )
        .billing_mode(aws_sdk_dynamodb::types::BillingMode::PayPerRequest)
        .send()
        .await
        .unwrap();
    ensure_jobs_table(&client, &table).await.unwrap();
    ensure_jobs_table(&client, &table).await.unwrap();
    let store = DynamoJobStore::new(client.clone(), table);
    let jobs: Vec<Job> = (0..3).map(|_| job().in_batch("b")).collect();
    store.create_batch(&jobs).await.unwrap();
    assert_eq!(store.list_batch("b", None, 10).await.unwrap(), jobs);

    let quotas = unique("quotas");
    ensure_quotas_table(&client, &quotas).await.unwrap();
    ensure_quotas_table(&client, &quotas).await.unwrap();
    let described = client
        .describe_table()
        .table_name(&quotas)
        .send()
        .await
        .unwrap();
    let keys: Vec<String> = described
        .table
        .unwrap()
        .key_schema()
        .iter()
        .map(|k| k.attribute_name().to_owned())
        .collect();
    assert_eq!(keys, vec!["pk", "sk"]);
    assert_eq!(
        ttl_attribute(&client, &quotas).await,
        Some("ttl".to_owned())
    );
}
