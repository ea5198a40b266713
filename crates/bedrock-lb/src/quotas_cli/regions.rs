//! `bedrock-lb regions`: `GET /regions` of a running API, printed as a table (or the JSON).

use std::process::ExitCode;

use clap::Args;
use reqwest::Method;
use serde_json::Value;

use crate::remote::ApiArgs;

use super::table::{opt, render};

/// `bedrock-lb regions`.
#[derive(Debug, Args)]
pub struct RegionsArgs {
    /// Print the API's JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub api: ApiArgs,
}

/// Runs `regions`.
pub async fn run_regions(args: RegionsArgs) -> anyhow::Result<ExitCode> {
    let client = args.api.client().await?;
    let view = client.call(Method::GET, "/regions", None, None).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&view)?);
    } else {
        print!("{}", regions_table(&view));
    }
    Ok(ExitCode::SUCCESS)
}

/// The table of a `GET /regions` answer: one row per bucket, sums over its workers.
pub fn regions_table(view: &Value) -> String {
    let empty = Vec::new();
    let buckets = view["buckets"].as_array().unwrap_or(&empty);
    let rows: Vec<Vec<String>> = buckets
        .iter()
        .map(|b| {
            let num = |v: &Value| opt(v.as_u64());
            let text = |v: &Value| v.as_str().unwrap_or("-").to_owned();
            let totals = &b["totals"];
            let mut breakers: Vec<&str> = b["workers"]
                .as_array()
                .unwrap_or(&empty)
                .iter()
                .filter_map(|w| w["breaker"].as_str())
                .collect();
            breakers.sort_unstable();
            breakers.dedup();
            let enabled = b["enabled"].as_bool().unwrap_or(true);
            vec![
                format!(
                    "{}/{}{}",
                    text(&b["region"]),
                    text(&b["model_id"]),
                    if enabled { "" } else { " (disabled)" }
                ),
                num(&b["tpm"]),
                num(&b["live_workers"]),
                num(&totals["share_tpm"]),
                num(&totals["used_tokens"]),
                num(&totals["in_flight"]),
                if breakers.is_empty() {
                    "-".to_owned()
                } else {
                    breakers.join(",")
                },
                num(&totals["throttles"]),
                num(&totals["errors"]),
                totals["latency_ms"]
                    .as_u64()
                    .map_or_else(|| "-".to_owned(), |ms| format!("{ms} ms")),
            ]
        })
        .collect();
    render(
        &[
            "BUCKET",
            "TPM",
            "WORKERS",
            "SHARE",
            "USED",
            "IN FLIGHT",
            "BREAKER",
            "THROTTLES",
            "ERRORS",
            "LATENCY",
        ],
        &rows,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_bucket_row_sums_its_workers() {
        let view = json!({"buckets": [{
            "region": "us-east-1", "model_id": "m", "tpm": 1000, "enabled": false,
            "live_workers": 2, "workers": [{"breaker": "closed"}, {"breaker": "open"}],
            "totals": {"share_tpm": 1000, "used_tokens": 40, "in_flight": 3,
                       "throttles": 1, "errors": 0, "latency_ms": 95}
        }]});
        let text = regions_table(&view);
        let row = text.lines().nth(1).unwrap();
        for cell in [
            "us-east-1/m (disabled)",
            "1000",
            "40",
            "closed,open",
            "95 ms",
        ] {
            assert!(row.contains(cell), "{cell} in {row}");
        }
    }
}
