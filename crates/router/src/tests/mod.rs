//! Router tests on paused tokio time, through the public API (plus the evaluation counter).

mod acquire;
mod outcomes;

use std::time::Duration;

use bedrock_lb_core::{BucketId, BucketQuota, BucketReport, ModelRoute, QuotaTable, Strategy};

use crate::{Router, RouterSettings};

pub(crate) const MODEL: &str = "m";
pub(crate) const WINDOW: Duration = Duration::from_secs(60);

pub(crate) fn quota(region: &str, tpm: u64, weight: u32) -> BucketQuota {
    BucketQuota {
        region: region.into(),
        model_id: "model-v1".into(),
        tpm,
        rpm: None,
        tpd: None,
        output_burndown: 1,
        weight,
        enabled: true,
    }
}

/// A table where model `m` is served by every bucket given.
pub(crate) fn table(buckets: Vec<BucketQuota>) -> QuotaTable {
    let routes = buckets
        .iter()
        .map(|b| ModelRoute {
            model: MODEL.into(),
            region: b.region.clone(),
            model_id: b.model_id.clone(),
        })
        .collect();
    QuotaTable { buckets, routes }
}

pub(crate) fn router(strategy: Strategy, buckets: Vec<BucketQuota>) -> Router {
    let router = Router::new(RouterSettings {
        strategy,
        ..RouterSettings::default()
    });
    router.configure(&table(buckets), 1);
    router
}

pub(crate) fn bucket(region: &str) -> BucketId {
    BucketId::new(region, "model-v1")
}

pub(crate) fn report(router: &Router, region: &str) -> BucketReport {
    router
        .reports()
        .into_iter()
        .find(|r| r.region == region)
        .expect("a report for the bucket")
}
