//! The benchmark's workload: a seeded, realistic mix of jobs (prompts of ~100 to ~6,000 tokens,
//! log-uniform; `max_tokens` from 256 to 2,048, and some jobs without one), submitted through
//! the real API (`POST /batch`, chunks of [`CHUNK`]).

use serde_json::{Value, json};

use crate::client::ApiClient;

use super::BenchError;
use super::scenario::{MAX_OUTPUT_TOKENS, MODEL};

/// Requests per `POST /batch`.
pub const CHUNK: usize = 1000;
/// Smallest and largest prompt, in tokens.
const PROMPT_TOKENS: (f64, f64) = (100.0, 6000.0);
/// The `max_tokens` a job may ask for.
const MAX_TOKENS: [u32; 4] = [256, 512, 1024, 2048];
/// One job in this many sets no `max_tokens` (so reserves the model's maximum).
const WITHOUT_MAX_TOKENS_ONE_IN: u32 = 5;
/// The simulator's outputs are 20 to 300 tokens: their mean, for sizing the backlog.
const MEAN_OUTPUT_TOKENS: u64 = 160;
/// Words the prompts are made of (the text is irrelevant; only its length counts).
const WORDS: [&str; 8] = [
    "quota", "bucket", "region", "token", "window", "worker", "router", "bedrock",
];

/// One job of the workload.
#[derive(Debug, Clone, PartialEq)]
pub struct JobSpec {
    /// Prompt length in tokens (`ceil(chars / 4)`, as Bedrock and the simulator count).
    pub input_tokens: u32,
    pub max_tokens: Option<u32>,
}

impl JobSpec {
    /// What the job will likely cost at settlement: input plus a typical output.
    pub fn expected_cost(&self) -> u64 {
        let cap = self.max_tokens.unwrap_or(MAX_OUTPUT_TOKENS);
        u64::from(self.input_tokens) + MEAN_OUTPUT_TOKENS.min(u64::from(cap))
    }

    /// The `POST /invoke` body of this job; `n` makes the prompt unique.
    pub fn request(&self, n: u64) -> Value {
        let prefix = format!("job {n}: ");
        let chars = (self.input_tokens as usize) * 4;
        let mut prompt = String::with_capacity(chars + 8);
        prompt.push_str(&prefix);
        let mut i = n as usize;
        while prompt.len() < chars {
            prompt.push_str(WORDS[i % WORDS.len()]);
            prompt.push(' ');
            i = i.wrapping_mul(31).wrapping_add(7);
        }
        prompt.truncate(chars);
        let mut body = json!({ "prompt": prompt, "model": MODEL });
        if let Some(max) = self.max_tokens {
            body["max_tokens"] = json!(max);
        }
        body
    }
}

/// A seeded stream of jobs.
#[derive(Debug)]
pub struct Workload {
    rng: fastrand::Rng,
}

impl Workload {
    /// The same seed gives the same jobs.
    pub fn new(seed: u64) -> Self {
        Self {
            rng: fastrand::Rng::with_seed(seed),
        }
    }

    /// The next job.
    pub fn job(&mut self) -> JobSpec {
        let (low, high) = PROMPT_TOKENS;
        let tokens = (low.ln() + self.rng.f64() * (high.ln() - low.ln())).exp();
        let max_tokens = if self.rng.u32(0..WITHOUT_MAX_TOKENS_ONE_IN) == 0 {
            None
        } else {
            Some(MAX_TOKENS[self.rng.usize(0..MAX_TOKENS.len())])
        };
        JobSpec {
            input_tokens: tokens.round() as u32,
            max_tokens,
        }
    }
}

/// Submits the workload through the API and keeps count of what it submitted.
#[derive(Debug)]
pub struct Submitter {
    client: ApiClient,
    workload: Workload,
    run: String,
    /// Jobs accepted so far.
    pub submitted: u64,
    /// Expected settled cost of those jobs, in tokens.
    pub submitted_cost: u64,
    /// Every batch created, for reading the jobs back.
    pub batch_ids: Vec<String>,
}

impl Submitter {
    /// A submitter for the API at `client`, named `run` (in idempotency keys).
    pub fn new(client: ApiClient, seed: u64, run: &str) -> Self {
        Self {
            client,
            workload: Workload::new(seed),
            run: run.to_owned(),
            submitted: 0,
            submitted_cost: 0,
            batch_ids: Vec::new(),
        }
    }

    /// Submits one batch of `count` jobs (at most [`CHUNK`]).
    pub async fn submit_chunk(&mut self, count: usize) -> Result<(), BenchError> {
        let count = count.clamp(1, CHUNK);
        let mut requests = Vec::with_capacity(count);
        let mut cost = 0;
        for i in 0..count as u64 {
            let job = self.workload.job();
            cost += job.expected_cost();
            requests.push(job.request(self.submitted + i));
        }
        let key = format!("bench-{}-{}", self.run, self.batch_ids.len());
        let accepted = self
            .client
            .submit_batch(&json!({ "requests": requests }), &key)
            .await?;
        self.submitted += accepted.job_ids.len() as u64;
        self.submitted_cost += cost;
        self.batch_ids.push(accepted.batch_id);
        Ok(())
    }

    /// Submits until at least `tokens` of expected cost have been submitted in all.
    pub async fn fill_to(&mut self, tokens: u64) -> Result<(), BenchError> {
        while self.submitted_cost < tokens {
            let missing = tokens - self.submitted_cost;
            let jobs = (missing / self.mean_cost()).max(1) as usize;
            self.submit_chunk(jobs).await?;
        }
        Ok(())
    }

    /// Mean expected cost of a job so far (a prior before the first chunk).
    pub fn mean_cost(&self) -> u64 {
        self.submitted_cost
            .checked_div(self.submitted)
            .map_or(1_600, |mean| mean.max(1))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_mix_is_seeded_and_spans_the_sizes() {
        let jobs: Vec<JobSpec> = {
            let mut w = Workload::new(7);
            (0..5000).map(|_| w.job()).collect()
        };
        let again: Vec<JobSpec> = {
            let mut w = Workload::new(7);
            (0..5000).map(|_| w.job()).collect()
        };
        assert_eq!(jobs, again);
        let min = jobs.iter().map(|j| j.input_tokens).min().unwrap();
        let max = jobs.iter().map(|j| j.input_tokens).max().unwrap();
        assert!((100..150).contains(&min), "{min}");
        assert!((5000..=6000).contains(&max), "{max}");
        // Log-uniform: the median is near sqrt(100 × 6000) ≈ 775 tokens.
        let mut sizes: Vec<u32> = jobs.iter().map(|j| j.input_tokens).collect();
        sizes.sort_unstable();
        assert!((600..950).contains(&sizes[2500]), "{}", sizes[2500]);
        let without = jobs.iter().filter(|j| j.max_tokens.is_none()).count();
        assert!((800..1200).contains(&without), "{without}");
        assert!(jobs.iter().any(|j| j.max_tokens == Some(2048)));
    }

    #[test]
    fn a_request_has_the_promised_token_count() {
        let job = JobSpec {
            input_tokens: 1234,
            max_tokens: Some(512),
        };
        let body = job.request(99);
        let prompt = body["prompt"].as_str().unwrap();
        assert_eq!(bedrock_lb_core::tokens::estimate_tokens(prompt), 1234);
        assert_eq!(body["max_tokens"], 512);
        assert_eq!(body["model"], MODEL);
        let none = JobSpec {
            input_tokens: 100,
            max_tokens: None,
        };
        assert!(none.request(1).get("max_tokens").is_none());
        assert_eq!(none.expected_cost(), 260);
    }
}
