//! Quota accounting through the real SDK: reserve `input + maxTokens` at admission, throttle
//! what does not fit, settle to `input + output × burndown`, refill with the window, and the
//! per-request and per-day limits. Time moves only when the test advances it (paused clock).

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use aws_sdk_bedrockruntime::error::ProvideErrorMetadata;
use bedrock_sim::{QuotaConfig, WindowMode};
use common::*;

/// A call reserving and settling exactly 3,000 tokens: 2,990 input + 10 output (the output is
/// capped at exactly `maxTokens`, which is below the shortest natural completion).
async fn call_3000(client: &aws_sdk_bedrockruntime::Client) -> Result<(), String> {
    match converse(client, TEST_MODEL, &prompt_of(2_990))
        .inference_config(max_tokens(10))
        .send()
        .await
    {
        Ok(out) => {
            let usage = out.usage().unwrap();
            assert_eq!((usage.input_tokens(), usage.output_tokens()), (2_990, 10));
            Ok(())
        }
        Err(err) => {
            let err = err.into_service_error();
            assert!(err.is_throttling_exception(), "{err:?}");
            Err(err.message().unwrap_or_default().to_owned())
        }
    }
}

fn tpm(n: u64) -> QuotaConfig {
    QuotaConfig {
        tpm: Some(n),
        ..QuotaConfig::default()
    }
}

#[tokio::test(start_paused = true)]
async fn ten_thousand_tpm_admits_three_reservations_of_3000_and_refills() {
    let sim = bedrock_sim::spawn(one_model(1, tpm(10_000))).await.unwrap();
    let client = client(&sim, "us-east-1");
    for i in 0..3 {
        assert_eq!(call_3000(&client).await, Ok(()), "call {i}");
    }
    assert_eq!(
        call_3000(&client).await,
        Err("Too many tokens, please wait before trying again.".to_owned())
    );
    // Sliding window: 10,000 per 60 s refills the missing 2,000 in 12 s.
    tokio::time::advance(Duration::from_secs(11)).await;
    assert!(call_3000(&client).await.is_err(), "1,833 refilled: not yet");
    tokio::time::advance(Duration::from_secs(1)).await;
    assert_eq!(call_3000(&client).await, Ok(()));
    let stats = sim.stats();
    let bucket = stats
        .buckets
        .iter()
        .find(|b| b.region == "us-east-1")
        .unwrap();
    assert_eq!(bucket.tpm, Some(10_000));
    assert_eq!(
        (
            bucket.requests,
            bucket.admitted,
            bucket.throttled,
            bucket.failed
        ),
        (6, 4, 2, 0)
    );
    assert_eq!(
        (bucket.tokens_reserved, bucket.tokens_settled),
        (12_000, 12_000)
    );
    // The other region's bucket is its own, and unlimited.
    let west = client_for_west(&sim);
    for _ in 0..5 {
        assert_eq!(call_3000(&west).await, Ok(()));
    }
}

fn client_for_west(sim: &bedrock_sim::SimHandle) -> aws_sdk_bedrockruntime::Client {
    client(sim, "us-west-2")
}

#[tokio::test(start_paused = true)]
async fn fixed_windows_come_back_whole_at_the_boundary() {
    let mut config = one_model(1, tpm(10_000));
    config.window.mode = WindowMode::Fixed;
    config.window.secs = 6.0;
    let sim = bedrock_sim::spawn(config).await.unwrap();
    let client = client(&sim, "us-east-1");
    for _ in 0..3 {
        assert_eq!(call_3000(&client).await, Ok(()));
    }
    tokio::time::advance(Duration::from_millis(5_999)).await;
    assert!(
        call_3000(&client).await.is_err(),
        "no refill inside a window"
    );
    tokio::time::advance(Duration::from_millis(1)).await;
    for _ in 0..3 {
        assert_eq!(call_3000(&client).await, Ok(()));
    }
    let windows = &sim.stats().buckets[0].windows;
    assert_eq!(windows.len(), 2);
    assert_eq!(
        (windows[0].index, windows[0].admitted, windows[0].throttled),
        (0, 3, 1)
    );
    assert_eq!((windows[1].index, windows[1].tokens_settled), (1, 9_000));
}

#[tokio::test(start_paused = true)]
async fn settlement_charges_output_times_burndown() {
    let mut config = one_model(5, tpm(1_000_000));
    config.window.mode = WindowMode::Fixed;
    let sim = bedrock_sim::spawn(config).await.unwrap();
    let client = client(&sim, "us-east-1");
    let out = converse(&client, TEST_MODEL, "Tell me about burndown.")
        .inference_config(max_tokens(1_000))
        .send()
        .await
        .unwrap();
    let usage = out.usage().unwrap();
    let (input, output) = (usage.input_tokens() as u64, usage.output_tokens() as u64);
    let settled = input + 5 * output;
    let stats = sim.stats();
    assert_eq!(stats.buckets[0].tokens_reserved, input + 1_000);
    assert_eq!(stats.buckets[0].tokens_settled, settled);
    assert_eq!(stats.totals.tokens_settled, settled);

    // The next call reserves 2,990 + 10 = 3,000 on top of what was settled: it fits a quota of
    // exactly settled + 3,000, and not one token less. Quotas change through the control API.
    let http = reqwest::Client::new();
    let url = control(&sim, &format!("/_sim/quotas/us-east-1/{TEST_MODEL}"));
    for (quota, fits) in [(settled + 2_999, false), (settled + 3_000, true)] {
        let response = http
            .put(&url)
            .json(&serde_json::json!({"tpm": quota}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200);
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["tpm"], quota);
        let result = converse(&client, TEST_MODEL, &prompt_of(2_990))
            .inference_config(max_tokens(10))
            .send()
            .await;
        assert_eq!(result.is_ok(), fits, "quota {quota}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_settlement_above_the_reservation_is_charged_in_full() {
    // Burndown 5 with maxTokens 100: reserving input + 100 but settling input + 5 × 100.
    let mut config = one_model(5, tpm(1_000));
    config.window.mode = WindowMode::Fixed;
    let sim = bedrock_sim::spawn(config).await.unwrap();
    let client = client(&sim, "us-east-1");
    converse(&client, TEST_MODEL, &prompt_of(10))
        .inference_config(max_tokens(10))
        .send()
        .await
        .unwrap();
    let bucket = &sim.stats().buckets[0];
    assert_eq!((bucket.tokens_reserved, bucket.tokens_settled), (20, 60));
    // 60 settled: a reservation of 941 does not fit 1,000, 940 does.
    let err = converse(&client, TEST_MODEL, &prompt_of(931))
        .inference_config(max_tokens(10))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_throttling_exception(), "{err:?}");
    converse(&client, TEST_MODEL, &prompt_of(930))
        .inference_config(max_tokens(10))
        .send()
        .await
        .unwrap();
}

#[tokio::test(start_paused = true)]
async fn requests_per_minute_throttle_with_their_own_message() {
    let quota = QuotaConfig {
        rpm: Some(2),
        ..QuotaConfig::default()
    };
    let sim = bedrock_sim::spawn(one_model(1, quota)).await.unwrap();
    let client = client(&sim, "us-east-1");
    assert_eq!(call_3000(&client).await, Ok(()));
    assert_eq!(call_3000(&client).await, Ok(()));
    assert_eq!(
        call_3000(&client).await,
        Err("Too many requests, please wait before trying again.".to_owned())
    );
    tokio::time::advance(Duration::from_secs(30)).await;
    assert_eq!(call_3000(&client).await, Ok(()), "one request refilled");
}

#[tokio::test(start_paused = true)]
async fn tokens_per_day_run_out_and_come_back_the_next_day() {
    let quota = QuotaConfig {
        tpm: Some(10_000),
        tpd: Some(7_000),
        ..QuotaConfig::default()
    };
    let mut config = one_model(1, quota);
    config.window.mode = WindowMode::Fixed;
    config.window.secs = 1.0; // a "day" is 1,440 s
    let sim = bedrock_sim::spawn(config).await.unwrap();
    let client = client(&sim, "us-east-1");
    assert_eq!(call_3000(&client).await, Ok(()));
    assert_eq!(call_3000(&client).await, Ok(()));
    let per_day = Err("Too many tokens per day, please wait before trying again.".to_owned());
    assert_eq!(
        call_3000(&client).await,
        per_day,
        "the minute has room, the day not"
    );
    tokio::time::advance(Duration::from_secs(60)).await;
    assert_eq!(
        call_3000(&client).await,
        per_day,
        "a new minute does not help"
    );
    tokio::time::advance(Duration::from_secs(1_440)).await;
    assert_eq!(call_3000(&client).await, Ok(()));
    assert_eq!(sim.stats().buckets[0].throttled, 2);
}
