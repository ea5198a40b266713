//! Harness of the quota route tests: the real router over HTTP with the embedded (SQLite,
//! in-memory) job store, queue and quota store, the quota table seeded to match the test
//! catalogue, in a chosen auth mode with a chosen admin list.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::sync::Arc;

use bedrock_lb_api::auth::{sha256, to_hex};
use bedrock_lb_api::{ApiState, router};
use bedrock_lb_config::{ApiConfig, AuthMode};
use bedrock_lb_core::{BucketQuota, ModelRoute, QuotaStore, QuotaTable, SystemClock};
use bedrock_lb_embedded::{EmbeddedDb, QueueSettings};
use reqwest::Method;
use serde_json::Value;

use crate::common::{catalog, json_of};

/// The seeded table: one bucket per bucket of the test catalogue, one route each.
pub fn seed() -> QuotaTable {
    let mut table = QuotaTable::default();
    for model in catalog().models() {
        for bucket in &model.buckets {
            table.routes.push(ModelRoute {
                model: model.name.clone(),
                region: bucket.region.clone(),
                model_id: bucket.model_id.clone(),
            });
            table.buckets.push(BucketQuota {
                region: bucket.region.clone(),
                model_id: bucket.model_id.clone(),
                tpm: 1000,
                rpm: Some(10),
                tpd: None,
                output_burndown: 1,
                weight: 1,
                enabled: true,
            });
        }
    }
    table
}

/// A running API with a quota store.
#[derive(Debug)]
pub struct QuotaApi {
    pub base: String,
    pub client: reqwest::Client,
    /// The quota store behind the API, `None` when started without one.
    pub quotas: Option<Arc<dyn QuotaStore>>,
    _db: EmbeddedDb,
}

impl QuotaApi {
    /// No authentication, with a seeded quota store.
    pub async fn open() -> Self {
        Self::start(ApiConfig::default(), true).await
    }

    /// API-key mode with keys `admin` (key `admin-secret`, in the admin list) and `user`
    /// (key `user-secret`).
    pub async fn with_keys() -> Self {
        let config = ApiConfig {
            auth: AuthMode::ApiKey,
            api_keys: BTreeMap::from([
                ("admin".to_owned(), to_hex(&sha256(b"admin-secret"))),
                ("user".to_owned(), to_hex(&sha256(b"user-secret"))),
            ]),
            admin_callers: vec!["admin".into()],
            ..ApiConfig::default()
        };
        Self::start(config, true).await
    }

    /// Serves the API with `config`'s settings, with a seeded quota store when `quotas`.
    pub async fn start(config: ApiConfig, quotas: bool) -> Self {
        let db = EmbeddedDb::open_in_memory(Arc::new(SystemClock)).unwrap();
        let mut state = ApiState::new(
            Arc::new(db.job_store()),
            Arc::new(db.queue(QueueSettings::default())),
            Arc::new(catalog()),
            Arc::new(SystemClock),
            &config,
        )
        .unwrap();
        let store: Option<Arc<dyn QuotaStore>> = quotas.then(|| {
            let store: Arc<dyn QuotaStore> = Arc::new(db.quota_store());
            store
        });
        if let Some(store) = &store {
            assert!(store.seed(&seed()).await.unwrap());
            state = state.with_quotas(Arc::clone(store));
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, router(state)).await.unwrap() });
        Self {
            base: format!("http://{addr}"),
            client: reqwest::Client::new(),
            quotas: store,
            _db: db,
        }
    }

    /// The quota store; panics when started without one.
    pub fn store(&self) -> &Arc<dyn QuotaStore> {
        self.quotas.as_ref().unwrap()
    }

    /// Sends `method` to `path` with an optional JSON body and `x-api-key`; the status and the
    /// JSON body (`null` for an empty one).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        key: Option<&str>,
    ) -> (u16, Value) {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(body) = body {
            request = request.json(body);
        }
        if let Some(key) = key {
            request = request.header("x-api-key", key);
        }
        let response = request.send().await.unwrap();
        if response.content_length() == Some(0) {
            return (response.status().as_u16(), Value::Null);
        }
        json_of(response).await
    }

    /// `GET /admin/quotas` without a key.
    pub async fn quotas(&self) -> Value {
        let (status, body) = self.call(Method::GET, "/admin/quotas", None, None).await;
        assert_eq!(status, 200, "{body}");
        body
    }
}

/// The bucket `region`/`model_id` of a quota table's JSON.
pub fn bucket<'a>(table: &'a Value, region: &str, model_id: &str) -> Option<&'a Value> {
    table["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["region"] == region && b["model_id"] == model_id)
}
