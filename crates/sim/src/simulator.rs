//! The simulator's shared state and its operations (Converse, InvokeModel), apart from HTTP.
//!
//! [`Simulator`] is what every request handler shares (behind an `Arc`): the scenario, one
//! [`Bucket`] per configured (region, model key) with its quota ledgers and counters, the faults
//! in force, and the seeded generator that draws faults and latency jitter. Every call goes
//! through [`Simulator::call`]: access and validation, faults, quota admission (reserve
//! `input + max_tokens`), the simulated latency, then settlement (`input + output × burndown`).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use bedrock_lb_core::tokens::estimate_tokens;
use tokio::time::Instant;

use crate::bucket::Bucket;
use crate::config::{SimConfig, SimModel};
use crate::error::{BedrockError, BedrockErrorKind};
use crate::fault::Faults;
use crate::generate::{GenerationInput, generate};
use crate::invoke::InvokeBody;
use crate::ledger::WindowMode;
use crate::prepare::{Prepared, check_converse};
use crate::stats::{SimStats, Totals};
use crate::wire::{
    ConverseRequest, ConverseResponse, Metrics, Output, OutputMessage, OutputText, StopReason,
    TokenUsage,
};

/// The state shared by all requests to one simulator.
#[derive(Debug)]
pub struct Simulator {
    /// The scenario being simulated.
    config: SimConfig,
    /// Counts requests, to give each response a distinct request id.
    requests: AtomicU64,
    /// Every configured bucket, by (region, model key).
    pub(crate) buckets: BTreeMap<(String, String), Bucket>,
    /// The faults in force.
    pub(crate) faults: Mutex<Faults>,
    /// Draws faults and jitter; seeded by the scenario, so runs repeat.
    rng: Mutex<fastrand::Rng>,
}

/// A finished simulated call, whatever its operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    pub text: String,
    pub stop_reason: StopReason,
    pub input_tokens: u32,
    pub output_tokens: u32,
    /// The simulated latency, as reported in `metrics.latencyMs` and
    /// `x-amzn-bedrock-invocation-latency`.
    pub latency_ms: u64,
}

/// Why a control-API change was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ControlError {
    /// No such bucket in the scenario.
    #[error("region `{region}` serves no model `{model_id}`")]
    UnknownBucket { region: String, model_id: String },
    /// The fault or quota is not acceptable.
    #[error("{0}")]
    Invalid(String),
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Simulator {
    /// A simulator for `config`, with every bucket empty; window 0 starts now.
    pub fn new(config: SimConfig) -> Self {
        let start = Instant::now();
        let mut buckets = BTreeMap::new();
        for (region, region_config) in &config.regions {
            for (key, model) in &region_config.models {
                let bucket = Bucket::new(
                    region,
                    key,
                    model.output_burndown,
                    config.quota(region, key),
                    config.window,
                    start,
                );
                buckets.insert((region.clone(), key.clone()), bucket);
            }
        }
        Self {
            faults: Mutex::new(config.faults.clone()),
            rng: Mutex::new(fastrand::Rng::with_seed(config.seed)),
            buckets,
            config,
            requests: AtomicU64::new(0),
        }
    }

    /// The scenario being simulated (as loaded; runtime changes are in [`Simulator::stats`]
    /// and [`Simulator::faults`]).
    pub fn config(&self) -> &SimConfig {
        &self.config
    }

    /// A fresh request id in UUID form, for the `x-amzn-RequestId` header.
    pub fn next_request_id(&self) -> String {
        let n = self.requests.fetch_add(1, Ordering::Relaxed);
        format!("5157b3d0-0000-4000-8000-{:012x}", n & 0xffff_ffff_ffff)
    }

    /// Answers a Converse call to `model_id` in `region` the way Bedrock would.
    pub async fn converse(
        &self,
        region: &str,
        model_id: &str,
        request: &ConverseRequest,
    ) -> Result<ConverseResponse, BedrockError> {
        let done = self
            .call(region, model_id, |model| check_converse(request, model))
            .await?;
        Ok(ConverseResponse {
            output: Output {
                message: OutputMessage {
                    role: "assistant",
                    content: vec![OutputText { text: done.text }],
                },
            },
            stop_reason: done.stop_reason,
            usage: TokenUsage {
                input_tokens: done.input_tokens,
                output_tokens: done.output_tokens,
                total_tokens: done.input_tokens.saturating_add(done.output_tokens),
            },
            metrics: Metrics {
                latency_ms: done.latency_ms,
            },
        })
    }

    /// Answers an InvokeModel call whose body is already parsed.
    pub async fn invoke_model(
        &self,
        region: &str,
        model_id: &str,
        body: &InvokeBody,
    ) -> Result<Completion, BedrockError> {
        self.call(region, model_id, |model| body.prepare(model))
            .await
    }

    /// The one path of every call: access, validation, faults, admission, latency, settlement.
    pub async fn call<'r>(
        &self,
        region: &str,
        model_id: &str,
        prepare: impl FnOnce(&SimModel) -> Result<Prepared<'r>, BedrockError>,
    ) -> Result<Completion, BedrockError> {
        let Some((key, model)) = self.config.model_key(region, model_id) else {
            return Err(if model_id.starts_with("arn:") {
                BedrockError::new(
                    BedrockErrorKind::ResourceNotFound,
                    "The specified resource ARN was not found. Check the ARN and try your request again.",
                )
            } else {
                BedrockError::access_denied()
            });
        };
        if model.requires_inference_profile {
            return Err(BedrockError::on_demand_not_supported(model_id));
        }
        let prepared = prepare(model)?;
        let bucket = self
            .buckets
            .get(&(region.to_owned(), key.to_owned()))
            .ok_or_else(BedrockError::access_denied)?;
        let slowness = {
            let mut rng = lock(&self.rng);
            lock(&self.faults).check(region, key, &mut rng)
        };
        let slowness = match slowness {
            Ok(slowness) => slowness,
            Err(err) => {
                bucket.record_failure();
                return Err(err);
            }
        };
        let input_tokens = estimate_tokens(&prepared.texts.concat());
        let reserved = u64::from(input_tokens) + u64::from(prepared.max_tokens);
        let mut admission = bucket.admit(reserved)?;
        let generation = generate(&GenerationInput {
            seed: self.config.seed,
            model_id,
            texts: &prepared.texts,
            max_tokens: prepared.max_tokens,
            stop_sequences: prepared.stop_sequences,
        });
        let settled = u64::from(input_tokens)
            + u64::from(generation.output_tokens) * u64::from(model.output_burndown);
        admission.charge_if_dropped(settled);
        let latency_ms = self
            .latency_ms(generation.output_tokens)
            .saturating_add(slowness.extra_latency_ms);
        if let Some(timeout_ms) = slowness.timeout_ms
            && latency_ms > timeout_ms
        {
            sleep_ms(timeout_ms).await;
            admission.fail(u64::from(input_tokens));
            return Err(BedrockError::new(
                BedrockErrorKind::ModelTimeout,
                "Model has timed out in processing the request. Try your request again.",
            ));
        }
        sleep_ms(latency_ms).await;
        admission.succeed(settled);
        Ok(Completion {
            text: generation.text,
            stop_reason: generation.stop_reason,
            input_tokens,
            output_tokens: generation.output_tokens,
            latency_ms,
        })
    }

    /// First token plus per-token time for `output_tokens`, spread by the seeded jitter.
    fn latency_ms(&self, output_tokens: u32) -> u64 {
        let latency = &self.config.latency;
        let base = latency.first_token_ms.saturating_add(
            latency
                .per_output_token_ms
                .saturating_mul(u64::from(output_tokens)),
        );
        if latency.jitter <= 0.0 || base == 0 {
            return base;
        }
        let factor = 1.0 + latency.jitter * (lock(&self.rng).f64() * 2.0 - 1.0);
        // Rounded to whole milliseconds; `as` saturates and the factor is positive.
        (base as f64 * factor).round() as u64
    }

    /// The ground-truth statistics of every bucket.
    pub fn stats(&self) -> SimStats {
        let buckets: Vec<_> = self.buckets.values().map(Bucket::stats).collect();
        SimStats {
            window_secs: self.config.window.secs,
            window_mode: match self.config.window.mode {
                WindowMode::Sliding => "sliding".into(),
                WindowMode::Fixed => "fixed".into(),
            },
            totals: Totals::of(&buckets),
            buckets,
        }
    }

    /// Clears every counter and ledger; window 0 starts again now. Faults and quotas stay.
    pub fn reset(&self) {
        for bucket in self.buckets.values() {
            bucket.reset();
        }
    }
}

async fn sleep_ms(ms: u64) {
    if ms > 0 {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::StopReason;
    use serde_json::json;

    fn request(body: serde_json::Value) -> ConverseRequest {
        serde_json::from_value(body).unwrap()
    }

    fn sim() -> Simulator {
        Simulator::new(SimConfig::sample())
    }

    const HAIKU: &str = "anthropic.claude-3-haiku-20240307-v1:0";

    #[tokio::test]
    async fn input_tokens_cover_system_and_messages() {
        let body = request(json!({
            "system": [{"text": "abcd"}],
            "messages": [
                {"role": "user", "content": [{"text": "abcdefgh"}]},
                {"role": "assistant", "content": [{"text": "ab"}]},
                {"role": "user", "content": [{"text": "cd"}]}
            ],
            "inferenceConfig": {"maxTokens": 5}
        }));
        let response = sim().converse("us-east-1", HAIKU, &body).await.unwrap();
        assert_eq!(response.usage.input_tokens, 4);
        assert_eq!(response.usage.output_tokens, 5);
        assert_eq!(response.stop_reason, StopReason::MaxTokens);
        assert_eq!(response.metrics.latency_ms, 0);
    }

    #[tokio::test(start_paused = true)]
    async fn latency_follows_the_output_length() {
        let mut config = SimConfig::sample();
        config.latency.first_token_ms = 100;
        config.latency.per_output_token_ms = 10;
        let sim = Simulator::new(config);
        let body = request(json!({"messages": [{"role": "user", "content": [{"text": "hi"}]}]}));
        let start = tokio::time::Instant::now();
        let response = sim.converse("us-east-1", HAIKU, &body).await.unwrap();
        let expected = 100 + 10 * u64::from(response.usage.output_tokens);
        assert_eq!(response.metrics.latency_ms, expected);
        assert_eq!(start.elapsed(), Duration::from_millis(expected));
    }

    #[tokio::test]
    async fn conversations_are_checked_like_bedrock() {
        let cases = [
            (json!({}), "messages field is missing"),
            (
                json!({"messages": [{"role": "assistant", "content": [{"text": "x"}]}]}),
                "start with a user",
            ),
            (
                json!({"messages": [
                    {"role": "user", "content": [{"text": "x"}]},
                    {"role": "user", "content": [{"text": "y"}]}
                ]}),
                "alternate",
            ),
            (
                json!({"messages": [{"role": "robot", "content": [{"text": "x"}]}]}),
                "enum value set",
            ),
            (
                json!({"messages": [{"role": "user", "content": []}]}),
                "messages.0 is empty",
            ),
            (
                json!({"messages": [{"role": "user", "content": [{"text": " "}]}]}),
                "messages.0.content.0 is blank",
            ),
            (
                json!({"messages": [{"role": "user", "content": [{"image": {}}]}]}),
                "only text",
            ),
            (
                json!({"messages": [{"role": "user", "content": [{"text": "x"}]}], "inferenceConfig": {"maxTokens": 0}}),
                "greater than or equal to 1",
            ),
            (
                json!({"messages": [{"role": "user", "content": [{"text": "x"}]}], "inferenceConfig": {"maxTokens": 4097}}),
                "model limit of 4096",
            ),
            (
                json!({"messages": [{"role": "user", "content": [{"text": "x"}]}], "inferenceConfig": {"topP": -0.5}}),
                "inferenceConfig.topP",
            ),
        ];
        for (body, expected) in cases {
            let err = sim()
                .converse("us-east-1", HAIKU, &request(body.clone()))
                .await
                .unwrap_err();
            assert_eq!(
                err.kind,
                crate::error::BedrockErrorKind::Validation,
                "{body}"
            );
            assert!(err.message.contains(expected), "{body}: {}", err.message);
        }
    }
}
