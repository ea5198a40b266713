//! The port contracts every adapter must pass: one async function per behaviour of
//! [`JobStore`](bedrock_lb_core::JobStore), [`JobQueue`](bedrock_lb_core::JobQueue) and
//! [`QuotaStore`](bedrock_lb_core::QuotaStore) that both implementations (SQLite in
//! `bedrock-lb-embedded`, DynamoDB/SQS in `bedrock-lb-aws`) promise. Each adapter's integration tests build a fresh store or queue and call these, so
//! the two adapters are held to the same assertions instead of two drifting copies; what only
//! one adapter does (migrations, item layout, TTL attributes) stays in that adapter's tests.
//!
//! These functions panic on a broken contract, like any test assertion.
#![allow(clippy::unwrap_used, clippy::expect_used)] // assertions: a panic is the failure report

mod fixtures;
mod queue;
mod quotas;
mod store;

pub use fixtures::{lease, queued_job, record, success};
pub use queue::{SentBatch, send_batch_returns_ids_in_order};
pub use quotas::{
    bucket_quota, heartbeats_live_expire_renew_and_leave, model_route,
    put_bucket_round_trips_every_field, put_route_replaces_and_delete_route_reports,
    seed_writes_only_an_empty_table, sorted, worker_beat,
};
pub use store::{
    Abandoned, create_batch_then_list_in_pages, expired_idempotency_record_gives_its_key_up,
    fail_abandoned_leaves_live_leases_and_finished_jobs, put_idempotency_one_winner,
    release_then_claim_by_another,
};
