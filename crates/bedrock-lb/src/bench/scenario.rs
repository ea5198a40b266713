//! The benchmark's scenario as a bedrock-lb [`Config`]: one logical model in three regions with
//! the `--tpm` quotas, compressed sliding windows, workers tuned for a saturating load, and the
//! simulator built from that same configuration by [`wiring::simulator_config`], so the balancer
//! and the simulator see the same quotas.
//!
//! Routing timings (quota refresh, heartbeat lifetime, breaker recovery) are scaled to the window,
//! so a compressed run behaves like a real one minutes long.

use std::collections::BTreeMap;
use std::path::Path;

use bedrock_lb_config::{
    BedrockTarget, BucketConfig, BucketTable, Config, DEFAULT_TOML, ModelConfig,
};
use bedrock_lb_core::Strategy;
use bedrock_sim::SimConfig;

use super::{BenchArgs, BenchError};
use crate::wiring;

/// The benchmark's regions, in the order of `--tpm`.
pub const REGIONS: [&str; 3] = ["us-east-1", "us-west-2", "eu-west-1"];
/// The logical model every job asks for.
pub const MODEL: &str = "claude-3-haiku";
/// The Bedrock model id that serves it in every region.
pub const MODEL_ID: &str = "anthropic.claude-3-haiku-20240307-v1:0";
/// The model's largest `max_tokens`: what a job without one reserves.
pub const MAX_OUTPUT_TOKENS: u32 = 4096;
/// Largest `POST /batch` body the bench sends: 1,000 prompts of up to 24 KB each.
const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;

/// The configuration of one run: `strategy`, a fresh `data_dir`, Bedrock calls to the
/// simulator at `simulator_url` (none yet: filled in once the simulator runs).
pub fn config(
    args: &BenchArgs,
    strategy: Strategy,
    data_dir: &Path,
    simulator_url: Option<String>,
) -> Result<Config, BenchError> {
    let mut config = Config::from_toml_str(DEFAULT_TOML)?;
    config.data_dir = data_dir.to_path_buf();
    config.default_model = MODEL.into();
    let regions = REGIONS
        .iter()
        .zip(&args.tpm)
        .map(|(region, tpm)| {
            let bucket = BucketConfig::Table(BucketTable {
                model_id: MODEL_ID.into(),
                tpm: Some(*tpm),
                rpm: None,
                tpd: None,
                weight: Some(weight(*tpm)),
                enabled: None,
            });
            ((*region).to_owned(), bucket)
        })
        .collect();
    config.models = BTreeMap::from([(
        MODEL.to_owned(),
        ModelConfig {
            max_output_tokens: MAX_OUTPUT_TOKENS,
            output_burndown: 1,
            regions,
        },
    )]);

    let window = args.window_secs;
    config.routing.strategy = strategy;
    config.routing.window_secs = window;
    config.routing.refresh_secs = (window / 6.0).clamp(0.05, 10.0);
    config.routing.worker_ttl_secs = config.routing.refresh_secs * 4.0;
    config.routing.recovery_timeout_secs = window / 2.0;
    config.routing.misconfigured_cooldown_secs = window * 10.0;

    config.worker.concurrency = args.concurrency;
    config.worker.receive_batch = 10;
    config.worker.wait_time_secs = 1;
    config.worker.visibility_timeout_secs = 30;
    config.worker.max_attempts = 6;
    config.worker.retry_base_ms = ((window * 1000.0 / 100.0) as u64).max(1);
    config.worker.retry_max_ms = ((window * 1000.0 / 6.0) as u64).max(config.worker.retry_base_ms);
    config.worker.shutdown_grace_secs = 2;

    config.api.max_body_bytes = MAX_BODY_BYTES;
    config.api.max_batch_requests = super::workload::CHUNK;

    config.bedrock.target = Some(BedrockTarget::Simulator);
    config.bedrock.endpoint_url = simulator_url;
    config.simulator.seed = args.seed;
    config.simulator.first_token_ms = args.first_token_ms;
    config.simulator.per_output_token_ms = args.per_output_token_ms;
    config.validate()?;
    Ok(config)
}

/// Weights proportional to the quota (in units of 100k), so that `weighted` splits traffic the
/// way the quotas do and `failover` prefers the largest bucket.
fn weight(tpm: u64) -> u32 {
    u32::try_from((tpm / 100_000).max(1)).unwrap_or(u32::MAX)
}

/// The simulator of a run: [`wiring::simulator_config`] of the run's configuration, so that it
/// enforces exactly the quotas and window the balancer is configured with.
pub fn simulator(config: &Config) -> SimConfig {
    wiring::simulator_config(config)
}

/// The configured tokens per window of each region's bucket.
pub fn quotas(config: &Config) -> BTreeMap<String, u64> {
    config
        .quota_seed()
        .buckets
        .into_iter()
        .map(|b| (b.region, b.tpm))
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use bedrock_sim::WindowMode;

    use super::*;

    #[test]
    fn the_simulator_enforces_the_configured_quotas_and_window() {
        let args = BenchArgs::default();
        let dir = tempfile::tempdir().unwrap();
        let config = config(&args, Strategy::RoundRobin, dir.path(), None).unwrap();
        assert_eq!(config.routing.strategy, Strategy::RoundRobin);
        let sim = simulator(&config);
        assert_eq!(sim.window.secs, 3.0);
        assert_eq!(sim.window.mode, WindowMode::Sliding);
        let tpm = |region: &str| sim.quotas[region][MODEL_ID].tpm;
        assert_eq!(
            (tpm("us-east-1"), tpm("us-west-2"), tpm("eu-west-1")),
            (Some(400_000), Some(200_000), Some(100_000))
        );
        assert_eq!(quotas(&config)["us-west-2"], 200_000);
        assert_eq!(sim.regions.len(), 3);
    }
}
