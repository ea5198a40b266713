//! A burst against one bucket of the default scenario: 150 simultaneous Converse calls to
//! Claude 3 Haiku in us-east-1 (400,000 TPM), none setting `maxTokens`, so each reserves its
//! input plus the model's 4,096. Prints what the simulator admitted, throttled and settled.
//!
//! `cargo run -p bedrock-sim --example burst`

use aws_sdk_bedrockruntime::config::retry::RetryConfig;
use aws_sdk_bedrockruntime::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_bedrockruntime::types::{ContentBlock, ConversationRole, Message};
use bedrock_sim::SimConfig;

const HAIKU: &str = "anthropic.claude-3-haiku-20240307-v1:0";
const CALLS: usize = 150;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut config = SimConfig::sample();
    // Long enough that every call of the burst is in flight at once.
    config.latency.first_token_ms = 1_500;
    let sim = bedrock_sim::spawn(config).await?;
    let client = aws_sdk_bedrockruntime::Client::from_conf(
        aws_sdk_bedrockruntime::config::Builder::new()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .endpoint_url(sim.url())
            .credentials_provider(Credentials::new("test", "test", None, None, "example"))
            .retry_config(RetryConfig::disabled())
            .build(),
    );
    let prompt = "Summarize the quarterly capacity report in three sentences, please.";
    let message = Message::builder()
        .role(ConversationRole::User)
        .content(ContentBlock::Text(prompt.into()))
        .build()?;
    let calls = (0..CALLS).map(|_| {
        client
            .converse()
            .model_id(HAIKU)
            .messages(message.clone())
            .send()
    });
    let results = futures_join_all(calls).await;
    let ok = results.iter().filter(|r| r.is_ok()).count();
    let throttled = results
        .iter()
        .filter(|r| {
            r.as_ref()
                .err()
                .and_then(|e| e.as_service_error())
                .is_some_and(|e| e.is_throttling_exception())
        })
        .count();
    let stats = sim.stats();
    let Some(bucket) = stats
        .buckets
        .iter()
        .find(|b| b.region == "us-east-1" && b.model_id == HAIKU)
    else {
        anyhow::bail!("no haiku bucket in us-east-1");
    };
    let input = bedrock_lb_core::tokens::estimate_tokens(prompt);
    let reservation = u64::from(input) + 4_096;
    println!(
        "burst: {CALLS} calls, each reserving {input} input + 4096 max = {reservation} tokens"
    );
    println!("client saw: {ok} ok, {throttled} throttled");
    println!(
        "simulator: requests {} admitted {} throttled {} failed {}",
        bucket.requests, bucket.admitted, bucket.throttled, bucket.failed
    );
    println!(
        "tokens: tpm {:?}, reserved {}, settled {}",
        bucket.tpm, bucket.tokens_reserved, bucket.tokens_settled
    );
    if let Some(tpm) = bucket.tpm {
        println!(
            "check: floor({tpm} / {reservation}) = {} admissible at once; settled is {:.1}% of the quota",
            tpm / reservation,
            100.0 * bucket.tokens_settled as f64 / tpm as f64
        );
    }
    sim.shutdown().await;
    Ok(())
}

/// Awaits every future, concurrently, in order (a tiny `join_all` without another dependency).
async fn futures_join_all<F: std::future::Future + Send + 'static>(
    futures: impl Iterator<Item = F>,
) -> Vec<F::Output>
where
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futures.map(tokio::spawn).collect();
    let mut out = Vec::with_capacity(handles.len());
    for handle in handles {
        if let Ok(result) = handle.await {
            out.push(result);
        }
    }
    out
}
