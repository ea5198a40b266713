//! bedrock-sim: a Bedrock Runtime simulator that speaks Bedrock's real wire format, so that the
//! official `aws-sdk-bedrockruntime` client (and so bedrock-lb's own invoker) works against it
//! unchanged, with no AWS account and no cost.
//!
//! One simulator serves every region of a scenario on one port: the region of each call comes
//! from its SigV4 signature ([`region`]). Each region serves the models the scenario lists
//! ([`config`]); calls get deterministic synthetic completions ([`generate`]) with usage counted
//! by the balancer's own token estimate, and Bedrock's errors in Bedrock's shape ([`error`]).
//!
//! Use [`spawn`] in tests, [`serve`] or the `bedrock-sim` binary to run one, [`router`] to mount
//! it in another axum app.

pub mod config;
pub mod error;
pub mod generate;
pub mod region;
mod routes;
mod server;
pub mod simulator;
pub mod wire;

pub use config::{LatencyConfig, RegionConfig, SimConfig, SimConfigError, SimModel};
pub use error::{BedrockError, BedrockErrorKind};
pub use server::{SimHandle, router, serve, spawn};
pub use simulator::Simulator;
