//! The AWS adapters of bedrock-lb: the ports of `bedrock-lb-core` implemented on Amazon SQS
//! ([`SqsQueue`]), DynamoDB ([`DynamoJobStore`], [`DynamoQuotaStore`]) and Bedrock Runtime
//! ([`BedrockInvoker`]), and the [`provision`] helpers that create the queues and tables they
//! need.
//!
//! The crate takes plain settings and ready-built SDK clients rather than the service's
//! configuration, so that the binaries, the tests (against moto's server and the project's
//! Bedrock simulator) and any other caller can wire it however they like. Every SDK error is
//! turned into the port's own error type here, at the boundary; nothing above this crate sees
//! an SDK type.

mod bedrock;
mod dynamo;
mod errors;
pub mod provision;
mod quotas;
mod sqs;

pub use bedrock::{BedrockInvoker, BedrockSettings};
pub use dynamo::{BATCH_INDEX, DEFAULT_JOB_TTL, DynamoJobStore, TTL_ATTRIBUTE};
pub use quotas::DynamoQuotaStore;
pub use sqs::SqsQueue;
