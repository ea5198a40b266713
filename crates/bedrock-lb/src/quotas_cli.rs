//! `bedrock-lb quotas ...`: read and edit the quota table directly in the quota store the
//! configuration names (the local SQLite database, which a running `serve` may have open at
//! the same time, or the DynamoDB quota table), and `bedrock-lb regions`, which asks a running
//! API for its live view. Workers re-read the table every few seconds, so edits take effect
//! without a restart.
//!
//! Every `quotas` command first seeds an empty store from the configuration, exactly as a
//! starting worker would, so that the table it shows or edits is the one workers will use.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use bedrock_lb_config::Config;
use bedrock_lb_core::{BucketId, BucketPatch, BucketQuota, ModelRoute, QuotaStore};
use clap::{Args, Subcommand};

use crate::cli::ConfigArgs;

mod file;
mod regions;
mod table;

pub use file::{QuotaFileError, parse_table, render_table};
pub use regions::{RegionsArgs, run_regions};

/// `bedrock-lb quotas`.
#[derive(Debug, Subcommand)]
pub enum QuotasCommand {
    /// Print every bucket (limits, weight, enabled, models routed to it).
    List {
        /// Print the quota table as JSON instead.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Change a bucket's settings; creates the bucket when absent if --tpm is given.
    Set(SetArgs),
    /// Route a logical model's traffic in REGION to the bucket of MODEL_ID there.
    Route {
        model: String,
        region: String,
        model_id: String,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Remove a logical model's route in REGION.
    Unroute {
        model: String,
        region: String,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Write a quota table file (`.toml` or `.json`: `[[buckets]]` and `[[routes]]`), checked
    /// whole before anything is written.
    Import {
        file: PathBuf,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Print the quota table in the format `import` reads (TOML, or JSON with --json).
    Export {
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        store: StoreArgs,
    },
}

/// Which quota store: the configuration's, with the quota table's name overridable.
#[derive(Debug, Clone, Args)]
pub struct StoreArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// DynamoDB quota table (aws backend; default `bedrock-lb-quotas`).
    #[arg(long, env = "BEDROCK_LB_QUOTAS_TABLE")]
    pub quotas_table: Option<String>,
}

/// `bedrock-lb quotas set`.
#[derive(Debug, Args)]
pub struct SetArgs {
    pub region: String,
    /// Bedrock model id, inference profile id or ARN.
    pub model_id: String,
    /// Tokens per minute.
    #[arg(long)]
    pub tpm: Option<u64>,
    /// Requests per minute, or `none` to remove the limit.
    #[arg(long, value_parser = parse_limit)]
    pub rpm: Option<Limit>,
    /// Tokens per day, or `none` to remove the limit.
    #[arg(long, value_parser = parse_limit)]
    pub tpd: Option<Limit>,
    /// Quota tokens one output token costs.
    #[arg(long)]
    pub burndown: Option<u32>,
    /// Routing weight.
    #[arg(long)]
    pub weight: Option<u32>,
    /// Put the bucket back into rotation.
    #[arg(long, conflicts_with = "disable")]
    pub enable: bool,
    /// Take the bucket out of rotation.
    #[arg(long)]
    pub disable: bool,
    #[command(flatten)]
    pub store: StoreArgs,
}

/// An `--rpm`/`--tpd` value: a number, or `none` (no such limit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit(pub Option<u64>);

fn parse_limit(value: &str) -> Result<Limit, String> {
    if value.eq_ignore_ascii_case("none") {
        return Ok(Limit(None));
    }
    value
        .parse::<u64>()
        .map(|n| Limit(Some(n)))
        .map_err(|_| format!("`{value}` is not a number or `none`"))
}

impl SetArgs {
    /// The patch these flags describe.
    pub fn patch(&self) -> BucketPatch {
        BucketPatch {
            tpm: self.tpm,
            rpm: self.rpm.map(|l| l.0),
            tpd: self.tpd.map(|l| l.0),
            output_burndown: self.burndown,
            weight: self.weight,
            enabled: match (self.enable, self.disable) {
                (true, _) => Some(true),
                (_, true) => Some(false),
                _ => None,
            },
        }
    }
}

/// Runs a `quotas` command.
pub async fn run(command: QuotasCommand) -> anyhow::Result<ExitCode> {
    match command {
        QuotasCommand::List { json, store } => {
            let (_, quotas) = open(&store).await?;
            let table = quotas.table().await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&table)?);
            } else {
                print!("{}", table::quota_table(&table));
            }
        }
        QuotasCommand::Set(args) => set(&args).await?,
        QuotasCommand::Route {
            model,
            region,
            model_id,
            store,
        } => {
            let (config, quotas) = open(&store).await?;
            anyhow::ensure!(
                config.catalog()?.get(&model).is_some(),
                "model `{model}` is not configured; routes are for the configured models"
            );
            let route = ModelRoute {
                model,
                region,
                model_id,
            };
            let bucket = route.bucket();
            anyhow::ensure!(
                quotas.table().await?.bucket(&bucket).is_some(),
                "bucket {bucket} is not in the quota table; create it first with `bedrock-lb quotas set {} {} --tpm N`",
                bucket.region,
                bucket.model_id
            );
            quotas.put_route(&route).await?;
            println!("{} in {} -> {}", route.model, route.region, route.model_id);
        }
        QuotasCommand::Unroute {
            model,
            region,
            store,
        } => {
            let (_, quotas) = open(&store).await?;
            if !quotas.delete_route(&model, &region).await? {
                eprintln!("model `{model}` has no route in {region}");
                return Ok(ExitCode::FAILURE);
            }
            println!("removed the route of {model} in {region}");
        }
        QuotasCommand::Import { file, store } => {
            let (_, quotas) = open(&store).await?;
            let (buckets, routes) = file::import(&file, quotas.as_ref()).await?;
            println!(
                "imported {buckets} buckets and {routes} routes from {}",
                file.display()
            );
        }
        QuotasCommand::Export { json, store } => {
            let (_, quotas) = open(&store).await?;
            print!("{}", render_table(&quotas.table().await?, json)?);
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn set(args: &SetArgs) -> anyhow::Result<()> {
    let (_, quotas) = open(&args.store).await?;
    let bucket = BucketId::new(&args.region, &args.model_id);
    let patch = args.patch();
    let quota = match quotas.table().await?.bucket(&bucket).cloned() {
        Some(mut quota) => {
            quota.apply(&patch)?;
            quota
        }
        None => {
            let Some(tpm) = args.tpm else {
                anyhow::bail!("bucket {bucket} is not in the quota table; give --tpm to create it");
            };
            let mut quota = BucketQuota::new(&args.region, &args.model_id, tpm);
            quota.apply(&patch)?;
            quota
        }
    };
    quotas.put_bucket(&quota).await?;
    print!(
        "{}",
        table::quota_table(&bedrock_lb_core::QuotaTable {
            buckets: vec![quota],
            routes: Vec::new(),
        })
    );
    Ok(())
}

/// The configuration and its quota store, seeded from the configuration if empty.
pub async fn open(args: &StoreArgs) -> anyhow::Result<(Config, Arc<dyn QuotaStore>)> {
    let config = load_config(args)?;
    let quotas = crate::wiring::quota_store(&config).await?;
    let seeded = quotas
        .seed(&config.quota_seed())
        .await
        .context("seeding the quota table from the configuration")?;
    if seeded {
        eprintln!("the quota table was empty: seeded it from the configuration");
    }
    Ok((config, quotas))
}

/// The configuration as [`ConfigArgs::load`] reads it, except that the aws backend needs no
/// queue URL or jobs table here: `scripts/deploy.sh` runs `quotas import` with only
/// `BEDROCK_LB_BACKEND=aws` and `BEDROCK_LB_QUOTAS_TABLE`.
fn load_config(args: &StoreArgs) -> anyhow::Result<Config> {
    let mut config = Config::load_unvalidated(args.config.config.as_deref())?;
    args.config.apply(&mut config);
    if let Some(table) = &args.quotas_table {
        config.quotas_table = Some(table.clone());
    }
    config.validate_settings()?;
    Ok(config)
}
