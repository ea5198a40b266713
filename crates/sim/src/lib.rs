//! bedrock-sim: a Bedrock Runtime simulator that speaks Bedrock's real wire format, so that the
//! official `aws-sdk-bedrockruntime` client (and so bedrock-lb's own invoker) works against it
//! unchanged, with no AWS account and no cost.
//!
//! One simulator serves every region of a scenario on one port: the region of each call comes
//! from its SigV4 signature ([`region`]). Each region serves the models the scenario lists
//! ([`config`]); calls get deterministic synthetic completions ([`generate`]) with usage counted
//! by the balancer's own token estimate, and Bedrock's errors in Bedrock's shape ([`error`]).
//! Each (region, model) bucket keeps its own quota the way Bedrock counts it ([`ledger`],
//! [`quota`]), faults can be injected per region and per bucket ([`fault`]), and the ground
//! truth of what was admitted, throttled and settled is in [`stats`]. A control API under
//! `/_sim/` changes faults and quotas at runtime.
//!
//! Use [`spawn`] in tests, [`serve`] or the `bedrock-sim` binary to run one, [`router`] to mount
//! it in another axum app.

mod bucket;
pub mod config;
mod control;
pub mod error;
pub mod fault;
pub mod generate;
pub mod invoke;
pub mod ledger;
pub mod prepare;
pub mod quota;
pub mod region;
mod routes;
mod sample;
mod server;
pub mod simulator;
pub mod stats;
pub mod wire;

pub use config::{LatencyConfig, RegionConfig, SimConfig, SimConfigError, SimModel};
pub use error::{BedrockError, BedrockErrorKind};
pub use fault::{Fault, Faults};
pub use ledger::WindowMode;
pub use quota::{QuotaConfig, WindowConfig};
pub use server::{SimHandle, router, router_for, serve, serve_simulator, spawn};
pub use simulator::{Completion, ControlError, Simulator};
pub use stats::{BucketStats, SimStats, Totals, WindowStats};
