//! `bedrock-lb quotas` and `bedrock-lb regions` as a user runs them: set, list, export → edit →
//! import on a temporary local database (checked whole before anything is written), routes,
//! and `regions` (and `/metrics`) against a running `serve`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use bedrock_lb::serve::ServeOptions;
use bedrock_lb_e2e::{TestServer, binary, local_config};
use serde_json::Value;
use tokio::process::Command;

const HAIKU: &str = "anthropic.claude-3-haiku-20240307-v1:0";

/// Runs `bedrock-lb ARGS` on the local database in `dir`: success, stdout, stderr.
async fn quotas(dir: &Path, args: &[&str]) -> (bool, String, String) {
    let output = Command::new(binary("bedrock-lb"))
        .arg("quotas")
        .args(args)
        .arg("--data-dir")
        .arg(dir)
        .env_remove("BEDROCK_LB_CONFIG")
        .env_remove("BEDROCK_LB_CONFIG_TOML")
        .env_remove("BEDROCK_LB_BACKEND")
        .env("RUST_LOG", "warn")
        .output()
        .await
        .unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

async fn table(dir: &Path) -> Value {
    let (ok, stdout, stderr) = quotas(dir, &["list", "--json"]).await;
    assert!(ok, "{stderr}");
    serde_json::from_str(&stdout).unwrap()
}

fn bucket<'a>(table: &'a Value, region: &str, model_id: &str) -> &'a Value {
    table["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["region"] == region && b["model_id"] == model_id)
        .unwrap_or_else(|| panic!("no bucket {region}/{model_id} in {table}"))
}

#[tokio::test]
async fn set_list_export_edit_import_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, stdout, stderr) = quotas(dir.path(), &["list"]).await;
    assert!(ok, "{stderr}");
    assert!(stderr.contains("seeded"), "{stderr}");
    assert!(stdout.starts_with("REGION"), "{stdout}");
    assert!(
        stdout.contains(HAIKU) && stdout.contains("400000"),
        "{stdout}"
    );
    assert_eq!(
        stdout.lines().count(),
        10,
        "a header and 9 buckets:\n{stdout}"
    );

    let set = [
        "set",
        "us-east-1",
        HAIKU,
        "--tpm",
        "123456",
        "--rpm",
        "none",
        "--disable",
    ];
    let (ok, stdout, stderr) = quotas(dir.path(), &set).await;
    assert!(ok, "{stderr}");
    assert!(stdout.contains("123456"), "{stdout}");
    let after = table(dir.path()).await;
    let haiku = bucket(&after, "us-east-1", HAIKU);
    assert_eq!(haiku["tpm"], 123_456);
    assert!(haiku.get("rpm").is_none(), "{haiku}");
    assert_eq!(haiku["enabled"], false);

    let (ok, _, stderr) = quotas(dir.path(), &["set", "ap-south-1", "new.model-v1:0"]).await;
    assert!(!ok);
    assert!(stderr.contains("give --tpm"), "{stderr}");
    let (ok, _, stderr) = quotas(dir.path(), &["set", "us-east-1", HAIKU, "--tpm", "0"]).await;
    assert!(!ok);
    assert!(stderr.contains("tpm must be at least 1"), "{stderr}");

    // export → edit → import.
    let (ok, exported, stderr) = quotas(dir.path(), &["export"]).await;
    assert!(ok, "{stderr}");
    assert!(exported.contains("[[buckets]]") && exported.contains("[[routes]]"));
    let edited = format!(
        "{}\n[[buckets]]\nregion = \"ap-south-1\"\nmodel_id = \"apac.{HAIKU}\"\ntpm = 5000\noutput_burndown = 1\nweight = 3\nenabled = true\n\n[[routes]]\nmodel = \"claude-3-haiku\"\nregion = \"ap-south-1\"\nmodel_id = \"apac.{HAIKU}\"\n",
        exported.replace("tpm = 123456", "tpm = 654321")
    );
    let file = dir.path().join("quotas.toml");
    std::fs::write(&file, &edited).unwrap();
    let (ok, stdout, stderr) = quotas(dir.path(), &["import", file.to_str().unwrap()]).await;
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("imported 10 buckets and 10 routes"),
        "{stdout}"
    );
    let imported = table(dir.path()).await;
    assert_eq!(bucket(&imported, "us-east-1", HAIKU)["tpm"], 654_321);
    assert_eq!(
        bucket(&imported, "ap-south-1", &format!("apac.{HAIKU}"))["weight"],
        3
    );

    // A file with one bad bucket writes nothing, not even its good ones.
    let bad = edited
        .replace("tpm = 654321", "tpm = 777")
        .replace("tpm = 5000", "tpm = 0");
    let bad_file = dir.path().join("bad.toml");
    std::fs::write(&bad_file, bad).unwrap();
    let (ok, _, stderr) = quotas(dir.path(), &["import", bad_file.to_str().unwrap()]).await;
    assert!(!ok);
    assert!(stderr.contains("tpm must be at least 1"), "{stderr}");
    assert_eq!(table(dir.path()).await, imported);

    // The JSON export imports too.
    let (ok, json, _) = quotas(dir.path(), &["export", "--json"]).await;
    assert!(ok);
    let json_file = dir.path().join("quotas.json");
    std::fs::write(&json_file, json).unwrap();
    let (ok, _, stderr) = quotas(dir.path(), &["import", json_file.to_str().unwrap()]).await;
    assert!(ok, "{stderr}");
    assert_eq!(table(dir.path()).await, imported);
}

#[tokio::test]
async fn routes_are_added_and_removed() {
    let dir = tempfile::tempdir().unwrap();
    let nova = "amazon.nova-lite-v1:0";
    let (ok, _, stderr) = quotas(dir.path(), &["route", "claude-3-haiku", "us-east-1", nova]).await;
    assert!(ok, "{stderr}");
    let routes = table(dir.path()).await["routes"].clone();
    assert!(
        routes
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["model"] == "claude-3-haiku"
                && r["region"] == "us-east-1"
                && r["model_id"] == nova),
        "{routes}"
    );
    let (ok, _, stderr) =
        quotas(dir.path(), &["route", "claude-3-haiku", "ap-south-1", nova]).await;
    assert!(!ok);
    assert!(stderr.contains("quotas set ap-south-1"), "{stderr}");
    let (ok, _, stderr) = quotas(dir.path(), &["route", "nope", "us-east-1", nova]).await;
    assert!(!ok);
    assert!(stderr.contains("not configured"), "{stderr}");

    let (ok, _, stderr) = quotas(dir.path(), &["unroute", "claude-3-haiku", "eu-west-1"]).await;
    assert!(ok, "{stderr}");
    let (ok, _, stderr) = quotas(dir.path(), &["unroute", "claude-3-haiku", "eu-west-1"]).await;
    assert!(!ok);
    assert!(stderr.contains("no route"), "{stderr}");
}

#[tokio::test]
async fn regions_prints_the_running_servers_buckets_and_metrics_are_served() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(local_config(dir.path()), ServeOptions::default()).await;
    let run = |json: bool| {
        let mut command = Command::new(binary("bedrock-lb"));
        command.args(["regions", "--api", &server.url]);
        if json {
            command.arg("--json");
        }
        command
            .env_remove("BEDROCK_LB_API_KEY")
            .env("RUST_LOG", "warn")
            .output()
    };
    let output = run(false).await.unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.starts_with("BUCKET"), "{stdout}");
    assert!(stdout.contains(&format!("us-east-1/{HAIKU}")), "{stdout}");
    assert!(stdout.contains("400000"), "{stdout}");
    let output = run(true).await.unwrap();
    let view: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(view["buckets"].as_array().unwrap().len(), 9, "{view}");

    let response = reqwest::get(format!("{}/metrics", server.url))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    server.stop().await;
}
