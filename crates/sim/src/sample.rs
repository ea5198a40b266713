//! The built-in scenario, [`SimConfig::sample`]: the same as the shipped
//! `scenarios/default.toml` (a test checks they stay equal), and `bedrock-sim`'s default.

use std::collections::BTreeMap;

use crate::config::{LatencyConfig, RegionConfig, SimConfig, SimModel};
use crate::fault::Faults;
use crate::quota::{QuotaConfig, WindowConfig};

/// Claude 4 Sonnet's on-demand id; Bedrock serves it only through inference profiles.
const SONNET_4: &str = "anthropic.claude-sonnet-4-20250514-v1:0";
const HAIKU_3: &str = "anthropic.claude-3-haiku-20240307-v1:0";
const NOVA_LITE: &str = "amazon.nova-lite-v1:0";

impl SimConfig {
    /// Three regions (us-east-1, us-west-2, eu-west-1) serving a few real Bedrock models:
    /// Claude 3 Haiku everywhere, Claude Sonnet 4 through the `us.` profile in the US regions and
    /// the `eu.` profile in eu-west-1 (its on-demand id is refused everywhere), and Nova Lite in
    /// the US regions, with quotas in the range of Bedrock's defaults (Haiku 400k/200k/100k
    /// TPM, Sonnet 4 200k/200k/100k TPM with burndown 5 and a daily cap). Seed 42, no latency,
    /// sliding 60 s windows, no faults. `scenarios/default.toml` is the same scenario.
    pub fn sample() -> Self {
        let haiku = SimModel {
            max_output_tokens: 4096,
            output_burndown: 1,
            requires_inference_profile: false,
        };
        let sonnet_profile = SimModel {
            max_output_tokens: 64_000,
            output_burndown: 5,
            requires_inference_profile: false,
        };
        let sonnet_on_demand = SimModel {
            requires_inference_profile: true,
            ..sonnet_profile.clone()
        };
        let nova_lite = SimModel {
            max_output_tokens: 5000,
            output_burndown: 1,
            requires_inference_profile: false,
        };
        let region = |profile_prefix: &str, with_nova: bool| {
            let mut models = BTreeMap::new();
            models.insert(HAIKU_3.to_owned(), haiku.clone());
            models.insert(SONNET_4.to_owned(), sonnet_on_demand.clone());
            models.insert(
                format!("{profile_prefix}.{SONNET_4}"),
                sonnet_profile.clone(),
            );
            if with_nova {
                models.insert(NOVA_LITE.to_owned(), nova_lite.clone());
            }
            RegionConfig { models }
        };
        let regions = BTreeMap::from([
            ("us-east-1".to_owned(), region("us", true)),
            ("us-west-2".to_owned(), region("us", true)),
            ("eu-west-1".to_owned(), region("eu", false)),
        ]);
        let quota = |tpm: u64, rpm: u64, tpd: Option<u64>| QuotaConfig {
            tpm: Some(tpm),
            rpm: Some(rpm),
            tpd,
        };
        let sonnet_us = format!("us.{SONNET_4}");
        let sonnet_eu = format!("eu.{SONNET_4}");
        let sonnet_tpd = Some(144_000_000);
        let quotas = BTreeMap::from([
            (
                "us-east-1".to_owned(),
                BTreeMap::from([
                    (HAIKU_3.to_owned(), quota(400_000, 1_000, None)),
                    (sonnet_us.clone(), quota(200_000, 200, sonnet_tpd)),
                    (NOVA_LITE.to_owned(), quota(300_000, 1_000, None)),
                ]),
            ),
            (
                "us-west-2".to_owned(),
                BTreeMap::from([
                    (HAIKU_3.to_owned(), quota(200_000, 500, None)),
                    (sonnet_us, quota(200_000, 200, sonnet_tpd)),
                    (NOVA_LITE.to_owned(), quota(300_000, 1_000, None)),
                ]),
            ),
            (
                "eu-west-1".to_owned(),
                BTreeMap::from([
                    (HAIKU_3.to_owned(), quota(100_000, 250, None)),
                    (sonnet_eu, quota(100_000, 100, Some(72_000_000))),
                ]),
            ),
        ]);
        Self {
            seed: 42,
            latency: LatencyConfig::default(),
            window: WindowConfig::default(),
            regions,
            quotas,
            faults: Faults::default(),
        }
    }
}
