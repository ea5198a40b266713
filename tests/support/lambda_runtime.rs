//! A stand-in for the AWS Lambda Runtime API (the HTTP interface a custom runtime polls), so the
//! real `bedrock-lb-lambda` binary can be driven with API Gateway events on this machine.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use serde_json::{Value, json};
use tokio::sync::{Notify, oneshot};

#[derive(Debug, Default)]
struct Invocations {
    waiting: Mutex<VecDeque<(String, Value)>>,
    arrived: Notify,
    answers: Mutex<HashMap<String, oneshot::Sender<Value>>>,
}

/// The fake Runtime API on a loopback port.
#[derive(Debug)]
pub struct FakeLambdaRuntime {
    addr: SocketAddr,
    invocations: Arc<Invocations>,
    next_id: Mutex<u64>,
}

impl FakeLambdaRuntime {
    /// Starts serving on 127.0.0.1 with a free port.
    pub async fn start() -> Self {
        let invocations = Arc::new(Invocations::default());
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(respond),
            )
            .route("/2018-06-01/runtime/invocation/{id}/error", post(respond))
            .with_state(Arc::clone(&invocations));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self {
            addr,
            invocations,
            next_id: Mutex::new(0),
        }
    }

    /// The value of `AWS_LAMBDA_RUNTIME_API` for the function: host and port.
    pub fn address(&self) -> String {
        self.addr.to_string()
    }

    /// Invokes the function with `event` and returns what it answered.
    pub async fn invoke(&self, event: Value) -> Value {
        let id = {
            let mut next = self.next_id.lock().unwrap();
            *next += 1;
            format!("request-{next}")
        };
        let (tx, rx) = oneshot::channel();
        self.invocations
            .answers
            .lock()
            .unwrap()
            .insert(id.clone(), tx);
        self.invocations
            .waiting
            .lock()
            .unwrap()
            .push_back((id, event));
        self.invocations.arrived.notify_one();
        tokio::time::timeout(Duration::from_secs(30), rx)
            .await
            .expect("the function answers within 30 s")
            .unwrap()
    }
}

async fn next(State(invocations): State<Arc<Invocations>>) -> impl IntoResponse {
    loop {
        let notified = invocations.arrived.notified();
        let waiting = invocations.waiting.lock().unwrap().pop_front();
        if let Some((id, event)) = waiting {
            let deadline = chrono::Utc::now().timestamp_millis() + 30_000;
            let mut headers = HeaderMap::new();
            headers.insert("lambda-runtime-aws-request-id", id.parse().unwrap());
            headers.insert(
                "lambda-runtime-deadline-ms",
                deadline.to_string().parse().unwrap(),
            );
            headers.insert(
                "lambda-runtime-invoked-function-arn",
                "arn:aws:lambda:us-east-1:123456789012:function:bedrock-lb-api"
                    .parse()
                    .unwrap(),
            );
            headers.insert("content-type", "application/json".parse().unwrap());
            return (headers, event.to_string());
        }
        notified.await;
    }
}

async fn respond(
    State(invocations): State<Arc<Invocations>>,
    Path(id): Path<String>,
    body: String,
) -> impl IntoResponse {
    let answer = serde_json::from_str(&body).unwrap_or(Value::String(body));
    if let Some(tx) = invocations.answers.lock().unwrap().remove(&id) {
        let _ = tx.send(answer);
    }
    (axum::http::StatusCode::ACCEPTED, "{}")
}

/// An API Gateway HTTP API (payload 2.0) event for `method` `path` with an optional JSON body.
pub fn http_api_event(method: &str, path: &str, body: Option<&Value>) -> Value {
    json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {
            "content-type": "application/json",
            "host": "abc123.execute-api.us-east-1.amazonaws.com"
        },
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc123",
            "domainName": "abc123.execute-api.us-east-1.amazonaws.com",
            "domainPrefix": "abc123",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "192.0.2.1",
                "userAgent": "bedrock-lb-e2e"
            },
            "requestId": "api-request",
            "routeKey": "$default",
            "stage": "$default",
            "time": "21/Nov/2026:23:00:00 +0000",
            "timeEpoch": 1_795_302_000_000_u64
        },
        "body": body.map(Value::to_string),
        "isBase64Encoded": false
    })
}
