//! `GET /metrics`: the Prometheus text of everything recorded through the `metrics` facade
//! (the router's dispatch, token and breaker counters, the worker's job counters and waits).
//!
//! One recorder per process, installed by [`install`] (idempotent, so `serve`, the worker
//! binary and tests can all call it). The exporter runs no HTTP listener of its own: [`router`]
//! is merged into the API's router by `serve`, and `bedrock-lb-worker --metrics-listen` serves
//! it alone with [`serve`].

use std::sync::Mutex;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// The content type of Prometheus' text exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4";

/// How often histograms and summaries are compacted, whether or not anyone scrapes.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// Bucket bounds, in seconds, of every `*_seconds` histogram (admission and queue waits):
/// histograms rather than summaries, so that several workers' series can be aggregated.
const SECONDS_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
];

static HANDLE: Mutex<Option<PrometheusHandle>> = Mutex::new(None);

/// Installs the process's Prometheus recorder, or returns the one already installed. Fails
/// only if some other `metrics` recorder was installed first.
pub fn install() -> anyhow::Result<PrometheusHandle> {
    let mut slot = HANDLE
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(handle) = slot.as_ref() {
        return Ok(handle.clone());
    }
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), SECONDS_BUCKETS)
        .context("configuring the metrics histograms")?
        .install_recorder()
        .context("installing the Prometheus metrics recorder")?;
    // Compaction also runs before every render; this keeps memory flat when nobody scrapes.
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        let upkeep = handle.clone();
        runtime.spawn(async move {
            let mut every = tokio::time::interval(UPKEEP_EVERY);
            loop {
                every.tick().await;
                upkeep.run_upkeep();
            }
        });
    }
    *slot = Some(handle.clone());
    Ok(handle)
}

/// A router answering `GET /metrics` with `handle`'s rendering.
pub fn router(handle: PrometheusHandle) -> Router {
    Router::new()
        .route("/metrics", get(render))
        .with_state(handle)
}

async fn render(State(handle): State<PrometheusHandle>) -> impl IntoResponse {
    handle.run_upkeep();
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], handle.render())
}

/// Serves [`router`] alone on `listener` until `shutdown` is cancelled (the worker binary's
/// `--metrics-listen`).
pub async fn serve(
    listener: TcpListener,
    handle: PrometheusHandle,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    axum::serve(listener, router(handle))
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
        .context("serving /metrics")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_counter_recorded_after_install_is_served_as_prometheus_text() {
        let handle = install().unwrap();
        let again = install().unwrap();
        metrics::counter!("bedrock_lb_test_events_total", "bucket" => "us-east-1/m").increment(3);
        metrics::histogram!("bedrock_lb_test_wait_seconds").record(0.2);
        assert!(again.render().contains("bedrock_lb_test_events_total"));

        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/metrics", listener.local_addr().unwrap());
        let shutdown = CancellationToken::new();
        let server = tokio::spawn(serve(listener, handle, shutdown.clone()));
        let response = reqwest::get(&url).await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(
            response.headers()[header::CONTENT_TYPE.as_str()],
            CONTENT_TYPE
        );
        let text = response.text().await.unwrap();
        assert!(
            text.contains(r#"bedrock_lb_test_events_total{bucket="us-east-1/m"} 3"#),
            "{text}"
        );
        assert!(
            text.contains(r#"bedrock_lb_test_wait_seconds_bucket{le="0.25"} 1"#),
            "{text}"
        );
        shutdown.cancel();
        server.await.unwrap().unwrap();
    }
}
