use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use async_trait::async_trait;
use bedrock_lb_core::{
    BucketQuota, InvokeErrorKind, InvokeRequest, ModelCatalog, ModelRoute, QuotaTable, SystemClock,
    Usage,
};
use bedrock_lb_router::RouterSettings;

use super::*;

/// A Bedrock stand-in for the dispatcher's unit tests: each bucket answers from its own script
/// (the last answer repeats), and every call is recorded.
#[derive(Debug, Default)]
struct ScriptedInvoker {
    scripts: Mutex<HashMap<String, VecDeque<Result<(), InvokeErrorKind>>>>,
    calls: Mutex<Vec<String>>,
}

impl ScriptedInvoker {
    fn with(scripts: &[(&str, &[Result<(), InvokeErrorKind>])]) -> Self {
        let scripts = scripts
            .iter()
            .map(|(region, answers)| (region.to_string(), answers.iter().copied().collect()))
            .collect();
        Self {
            scripts: Mutex::new(scripts),
            calls: Mutex::default(),
        }
    }

    fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap().clone()
    }
}

#[async_trait]
impl ModelInvoker for ScriptedInvoker {
    async fn converse(
        &self,
        bucket: &BucketId,
        _request: &JobRequest,
    ) -> Result<ConverseOutput, InvokeError> {
        self.calls.lock().unwrap().push(bucket.region.clone());
        let mut scripts = self.scripts.lock().unwrap();
        let script = scripts.get_mut(&bucket.region).expect("scripted region");
        let answer = if script.len() > 1 {
            script.pop_front().unwrap()
        } else {
            *script.front().unwrap()
        };
        answer
            .map(|()| ConverseOutput {
                text: "ok".into(),
                stop_reason: "end_turn".into(),
                usage: Usage {
                    input_tokens: 1,
                    output_tokens: 1,
                    total_tokens: 2,
                },
                latency_ms: 1,
            })
            .map_err(|kind| InvokeError::new(kind, format!("{kind} in {}", bucket.region)))
    }
}

const REGIONS: [&str; 3] = ["us-r1-1", "us-r2-1", "us-r3-1"];

fn model() -> (ModelSpec, JobRequest) {
    let spec = ModelSpec {
        name: "m".into(),
        max_output_tokens: 100,
        buckets: REGIONS.iter().map(|r| BucketId::new(*r, "model")).collect(),
    };
    let catalog = ModelCatalog::new("m", [spec.clone()]).unwrap();
    let request = InvokeRequest::from_prompt("hi").validate(&catalog).unwrap();
    (spec, request)
}

/// A router over the three regions, roomy, us-r1-1 weighted highest so it is tried first.
fn router() -> Router {
    let router = Router::new(RouterSettings::default());
    let buckets = REGIONS
        .iter()
        .enumerate()
        .map(|(i, region)| BucketQuota {
            region: (*region).into(),
            model_id: "model".into(),
            tpm: 1_000_000,
            rpm: None,
            tpd: None,
            output_burndown: 1,
            weight: 3 - u32::try_from(i).unwrap(),
            enabled: true,
        })
        .collect();
    let routes = REGIONS
        .iter()
        .map(|region| ModelRoute {
            model: "m".into(),
            region: (*region).into(),
            model_id: "model".into(),
        })
        .collect();
    router.configure(&QuotaTable { buckets, routes }, 1);
    router
}

fn policy(max_attempts: u32) -> RetryPolicy {
    RetryPolicy {
        max_attempts,
        base_delay: Duration::from_millis(100),
        max_delay: Duration::from_secs(2),
    }
}

/// Dispatches `request` for `spec` through `router` with up to `max_attempts` failures.
async fn run(
    invoker: &ScriptedInvoker,
    router: &Router,
    spec: &ModelSpec,
    request: &JobRequest,
    max_attempts: u32,
) -> Dispatched {
    let policy = policy(max_attempts);
    dispatch(router, invoker, &SystemClock, spec, request, &policy).await
}

use InvokeErrorKind::*;
const OK: Result<(), InvokeErrorKind> = Ok(());

#[tokio::test(start_paused = true)]
async fn a_throttled_region_moves_the_job_to_another_one_at_once() {
    let invoker = ScriptedInvoker::with(&[
        ("us-r1-1", &[Err(Throttling)]),
        ("us-r2-1", &[OK]),
        ("us-r3-1", &[OK]),
    ]);
    let (spec, request) = model();
    let before = Instant::now();
    let out = run(&invoker, &router(), &spec, &request, 6).await;
    let (bucket, _) = out.outcome.unwrap();
    assert_ne!(bucket.region, "us-r1-1");
    assert_eq!(invoker.calls()[0], "us-r1-1");
    assert_eq!(out.attempts.len(), 2);
    assert_eq!(out.attempts[0].outcome, "throttling");
    assert_eq!(out.attempts[1].outcome, "succeeded");
    assert_eq!(
        before.elapsed(),
        Duration::ZERO,
        "no backoff inside a round"
    );
}

#[tokio::test(start_paused = true)]
async fn the_jobs_own_fault_fails_it_without_trying_elsewhere() {
    let invoker = ScriptedInvoker::with(&[
        ("us-r1-1", &[Err(Validation)]),
        ("us-r2-1", &[OK]),
        ("us-r3-1", &[OK]),
    ]);
    let (spec, request) = model();
    let out = run(&invoker, &router(), &spec, &request, 6).await;
    let error = out.outcome.unwrap_err();
    assert_eq!(error.kind, "validation");
    assert_eq!(invoker.calls().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_misconfigured_bucket_leaves_rotation_and_is_not_tried_again() {
    let invoker = ScriptedInvoker::with(&[
        ("us-r1-1", &[Err(AccessDenied)]),
        ("us-r2-1", &[Err(ServiceUnavailable)]),
        ("us-r3-1", &[Err(ServiceUnavailable)]),
    ]);
    let (spec, request) = model();
    let router = router();
    let out = run(&invoker, &router, &spec, &request, 5).await;
    let calls = invoker.calls();
    assert_eq!(calls.len(), 5);
    assert_eq!(calls.iter().filter(|r| *r == "us-r1-1").count(), 1);
    assert!(
        !router
            .usable("m")
            .contains(&BucketId::new("us-r1-1", "model"))
    );
    let error = out.outcome.unwrap_err();
    assert_eq!(error.kind, "attempts_exhausted");
    assert!(
        error.message.contains("all 5 attempts failed"),
        "{}",
        error.message
    );
}

#[tokio::test(start_paused = true)]
async fn rounds_after_the_first_wait_with_backoff() {
    let invoker = ScriptedInvoker::with(&[
        ("us-r1-1", &[Err(ServiceUnavailable), OK]),
        ("us-r2-1", &[Err(ServiceUnavailable)]),
        ("us-r3-1", &[Err(ServiceUnavailable)]),
    ]);
    let (spec, request) = model();
    let before = Instant::now();
    let out = run(&invoker, &router(), &spec, &request, 10).await;
    assert!(out.outcome.is_ok(), "{:?}", out.outcome);
    assert_eq!(out.attempts.len(), 4, "two rounds: 3 + 1 calls");
    let waited = before.elapsed();
    assert!(
        waited >= Duration::from_millis(100),
        "a backoff of at least 100 ms, waited {waited:?}"
    );
    assert!(
        waited <= Duration::from_secs(4),
        "backoff is capped, waited {waited:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn when_every_bucket_is_misconfigured_the_job_fails_with_the_reason() {
    let invoker = ScriptedInvoker::with(&[
        ("us-r1-1", &[Err(AccessDenied)]),
        ("us-r2-1", &[Err(ResourceNotFound)]),
        ("us-r3-1", &[Err(OnDemandNotSupported)]),
    ]);
    let (spec, request) = model();
    let out = run(&invoker, &router(), &spec, &request, 10).await;
    let error = out.outcome.unwrap_err();
    assert_eq!(error.kind, "no_bucket_available");
    assert!(error.message.contains("model `m`"), "{}", error.message);
    assert_eq!(invoker.calls().len(), 3);
}

#[tokio::test(start_paused = true)]
async fn a_model_without_routes_fails_at_once() {
    let invoker = ScriptedInvoker::with(&[]);
    let (mut spec, request) = model();
    spec.name = "unrouted".into();
    let out = run(&invoker, &router(), &spec, &request, 3).await;
    assert_eq!(out.outcome.unwrap_err().kind, "no_bucket_available");
    assert!(invoker.calls().is_empty());
}

#[tokio::test(start_paused = true)]
async fn the_reservation_is_the_input_plus_max_tokens_or_the_models_maximum() {
    let (spec, mut request) = model();
    assert_eq!(reservation(&spec, &request), 1 + 100);
    request.inference.max_tokens = Some(7);
    assert_eq!(reservation(&spec, &request), 1 + 7);
}
