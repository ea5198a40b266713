//! Quota table files for `quotas import` and `quotas export`: TOML (`[[buckets]]`,
//! `[[routes]]`) or JSON of the same shape, chosen by the file's extension. An import is
//! checked whole before anything is written, so a typo on line 40 leaves the store untouched.

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::Context;
use bedrock_lb_core::{BucketId, QuotaStore, QuotaTable};

/// Why a quota file was refused.
#[derive(Debug, thiserror::Error)]
pub enum QuotaFileError {
    #[error("{0}: use a .toml or .json file")]
    UnknownFormat(String),
    #[error("not a quota table: {0}")]
    Parse(String),
    #[error("{0}")]
    Invalid(String),
}

/// Parses a quota table from `text`, TOML unless `json`.
pub fn parse_table(text: &str, json: bool) -> Result<QuotaTable, QuotaFileError> {
    if json {
        serde_json::from_str(text).map_err(|e| QuotaFileError::Parse(e.to_string()))
    } else {
        toml::from_str(text).map_err(|e| QuotaFileError::Parse(e.to_string()))
    }
}

/// `table` in the format [`parse_table`] reads.
pub fn render_table(table: &QuotaTable, json: bool) -> anyhow::Result<String> {
    Ok(if json {
        format!("{}\n", serde_json::to_string_pretty(table)?)
    } else {
        toml::to_string(table)?
    })
}

/// Checks `table` against the buckets already in `existing`: every bucket valid and named
/// once, every route to a bucket of the file or the store, one route per model and region.
pub fn check(table: &QuotaTable, existing: &QuotaTable) -> Result<(), QuotaFileError> {
    let mut buckets = BTreeSet::new();
    for quota in &table.buckets {
        quota
            .validate()
            .map_err(|e| QuotaFileError::Invalid(e.to_string()))?;
        if !buckets.insert(quota.bucket()) {
            return Err(QuotaFileError::Invalid(format!(
                "bucket {} is listed twice",
                quota.bucket()
            )));
        }
    }
    let mut routes = BTreeSet::new();
    for route in &table.routes {
        let bucket: BucketId = route.bucket();
        if !buckets.contains(&bucket) && existing.bucket(&bucket).is_none() {
            return Err(QuotaFileError::Invalid(format!(
                "the route of {} in {} names bucket {bucket}, which is neither in the file nor in the quota table",
                route.model, route.region
            )));
        }
        if !routes.insert((&route.model, &route.region)) {
            return Err(QuotaFileError::Invalid(format!(
                "model {} has two routes in {}",
                route.model, route.region
            )));
        }
    }
    Ok(())
}

/// Reads, checks and writes `path` into `store`; the numbers of buckets and routes written.
pub async fn import(path: &Path, store: &dyn QuotaStore) -> anyhow::Result<(usize, usize)> {
    let json = match path.extension().and_then(|e| e.to_str()) {
        Some(ext) if ext.eq_ignore_ascii_case("json") => true,
        Some(ext) if ext.eq_ignore_ascii_case("toml") => false,
        _ => return Err(QuotaFileError::UnknownFormat(path.display().to_string()).into()),
    };
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let table = parse_table(&text, json).with_context(|| path.display().to_string())?;
    check(&table, &store.table().await?).with_context(|| path.display().to_string())?;
    for quota in &table.buckets {
        store.put_bucket(quota).await?;
    }
    for route in &table.routes {
        store.put_route(route).await?;
    }
    Ok((table.buckets.len(), table.routes.len()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bedrock_lb_core::{BucketQuota, ModelRoute};

    fn table() -> QuotaTable {
        QuotaTable {
            buckets: vec![BucketQuota {
                region: "us-east-1".into(),
                model_id: "arn:aws:bedrock:us-east-1:1:inference-profile/x".into(),
                tpm: 100,
                rpm: None,
                tpd: Some(9),
                output_burndown: 5,
                weight: 2,
                enabled: false,
            }],
            routes: vec![ModelRoute {
                model: "m".into(),
                region: "us-east-1".into(),
                model_id: "arn:aws:bedrock:us-east-1:1:inference-profile/x".into(),
            }],
        }
    }

    #[test]
    fn both_formats_round_trip() {
        for json in [false, true] {
            let text = render_table(&table(), json).unwrap();
            assert_eq!(parse_table(&text, json).unwrap(), table(), "{text}");
        }
        let toml = render_table(&table(), false).unwrap();
        assert!(
            toml.contains("[[buckets]]") && toml.contains("[[routes]]"),
            "{toml}"
        );
    }

    #[test]
    fn a_bad_bucket_or_a_dangling_route_is_refused() {
        let mut bad = table();
        bad.buckets[0].tpm = 0;
        assert!(check(&bad, &QuotaTable::default()).is_err());
        let mut dangling = table();
        dangling.buckets.clear();
        let err = check(&dangling, &QuotaTable::default()).unwrap_err();
        assert!(err.to_string().contains("neither in the file"), "{err}");
        assert!(check(&dangling, &table()).is_ok());
    }
}
