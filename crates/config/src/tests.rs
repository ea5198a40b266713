use super::*;

#[test]
fn the_built_in_default_is_valid_and_serves_three_regions() {
    let config = Config::from_toml_str(DEFAULT_TOML).unwrap();
    let catalog = config.catalog().unwrap();
    assert_eq!(catalog.regions(), ["eu-west-1", "us-east-1", "us-west-2"]);
    assert_eq!(catalog.default_model(), "claude-3-haiku");
    assert_eq!(config.backend, Backend::Local);
    assert_eq!(config.bedrock_target(), BedrockTarget::Simulator);
    assert_eq!(config.models["claude-sonnet-4"].output_burndown, 5);
}

#[test]
fn unknown_keys_are_errors() {
    let toml = format!("{DEFAULT_TOML}\nlisten_addr = \"x\"\n");
    let err = Config::from_toml_str(&toml).unwrap_err().to_string();
    assert!(err.contains("listen_addr"), "{err}");
}

#[test]
fn buckets_may_be_strings_or_tables() {
    let config = Config::from_toml_str(
        r#"
        default_model = "m"
        [models.m]
        max_output_tokens = 100
        regions = { us-east-1 = "a", eu-west-1 = { model_id = "b" } }
        "#,
    )
    .unwrap();
    let catalog = config.catalog().unwrap();
    let buckets = &catalog.get("m").unwrap().buckets;
    assert_eq!(buckets.len(), 2);
    assert!(
        buckets
            .iter()
            .any(|b| b.region == "eu-west-1" && b.model_id == "b")
    );
}

#[test]
fn the_aws_backend_needs_a_queue_and_a_table() {
    let toml = format!("backend = \"aws\"\n{DEFAULT_TOML}");
    let err = Config::from_toml_str(&toml).unwrap_err().to_string();
    assert!(err.contains("queue URL"), "{err}");
    let toml = format!("backend = \"aws\"\nqueue_url = \"q\"\njobs_table = \"t\"\n{DEFAULT_TOML}");
    let config = Config::from_toml_str(&toml).unwrap();
    assert_eq!(config.bedrock_target(), BedrockTarget::Aws);
}

#[test]
fn bad_values_are_named() {
    let toml = DEFAULT_TOML.replace(
        "default_model = \"claude-3-haiku\"",
        "default_model = \"gpt\"",
    );
    let err = Config::from_toml_str(&toml).unwrap_err().to_string();
    assert!(err.contains("gpt"), "{err}");
    let toml = format!("{DEFAULT_TOML}\n[worker]\nreceive_batch = 50\n");
    let err = Config::from_toml_str(&toml).unwrap_err().to_string();
    assert!(err.contains("receive_batch"), "{err}");
}

#[test]
#[allow(clippy::result_large_err)] // figment's Jail closure returns figment::Error
fn environment_overrides_the_file() {
    figment::Jail::expect_with(|jail| {
        jail.create_file("lb.toml", DEFAULT_TOML)?;
        jail.set_env("BEDROCK_LB_WORKER__CONCURRENCY", "7");
        jail.set_env("BEDROCK_LB_LISTEN", "127.0.0.1:9999");
        jail.set_env("BEDROCK_LB_CONFIG", "lb.toml");
        let config = Config::load(Some(Path::new("lb.toml"))).map_err(|e| e.to_string())?;
        assert_eq!(config.worker.concurrency, 7);
        assert_eq!(config.listen, "127.0.0.1:9999");
        Ok(())
    });
}

#[test]
fn a_missing_file_is_an_error() {
    assert!(Config::load(Some(Path::new("/nonexistent/bedrock-lb.toml"))).is_err());
}

#[test]
#[allow(clippy::result_large_err)] // figment's Jail closure returns figment::Error
fn the_whole_file_may_come_from_the_environment_with_api_keys_as_an_inline_table() {
    figment::Jail::expect_with(|jail| {
        let toml = DEFAULT_TOML.replace("claude-3-haiku\"\n", "nova-lite\"\n");
        jail.set_env(CONFIG_TOML_ENV, &toml);
        jail.set_env("BEDROCK_LB_API__AUTH", "api_key");
        let hash = "a".repeat(64);
        jail.set_env("BEDROCK_LB_API__API_KEYS", format!("{{team-a=\"{hash}\"}}"));
        jail.set_env("BEDROCK_LB_JOB_TTL_SECS", "3600");
        let config = Config::load(None).unwrap();
        assert_eq!(config.default_model, "nova-lite");
        assert_eq!(config.api.auth, AuthMode::ApiKey);
        assert_eq!(config.api.api_keys["team-a"], hash);
        assert_eq!(config.job_ttl().as_secs(), 3600);
        Ok(())
    });
}

#[test]
fn api_key_mode_needs_hashed_keys() {
    let no_keys = format!("{DEFAULT_TOML}\n[api]\nauth = \"api_key\"\n");
    let err = Config::from_toml_str(&no_keys).unwrap_err().to_string();
    assert!(err.contains("api.api_keys"), "{err}");
    let plain_key =
        format!("{DEFAULT_TOML}\n[api]\nauth = \"api_key\"\napi_keys = {{ a = \"secret\" }}\n");
    let err = Config::from_toml_str(&plain_key).unwrap_err().to_string();
    assert!(err.contains("SHA-256"), "{err}");
}

#[test]
fn the_default_seeds_one_route_per_model_and_region_and_one_bucket_per_pair() {
    let config = Config::from_toml_str(DEFAULT_TOML).unwrap();
    let seed = config.quota_seed();
    assert_eq!(seed.routes.len(), 9);
    // Claude 3 Haiku and Nova Lite share no ids; Sonnet's US profile serves two regions.
    assert_eq!(seed.buckets.len(), 9);
    let haiku =
        bedrock_lb_core::BucketId::new("us-east-1", "anthropic.claude-3-haiku-20240307-v1:0");
    let quota = seed.bucket(&haiku).unwrap();
    assert_eq!(
        (quota.tpm, quota.rpm, quota.weight, quota.enabled),
        (400_000, Some(1000), 1, true)
    );
    assert_eq!(
        config.routing.strategy,
        bedrock_lb_core::Strategy::QuotaAware
    );
}

#[test]
fn a_plain_bucket_seeds_the_default_quota_and_a_zero_quota_is_refused() {
    let plain = r#"
        default_model = "m"
        [models.m]
        max_output_tokens = 100
        regions = { us-east-1 = "id" }
    "#;
    let seed = Config::from_toml_str(plain).unwrap().quota_seed();
    assert_eq!(seed.buckets[0].tpm, bedrock_lb_core::quota::DEFAULT_TPM);
    let zero = plain.replace(r#""id""#, r#"{ model_id = "id", tpm = 0 }"#);
    let err = Config::from_toml_str(&zero).unwrap_err().to_string();
    assert!(err.contains("tpm must be at least 1"), "{err}");
    let fast = format!("{plain}\n[routing]\nrefresh_secs = 30\nworker_ttl_secs = 60\n");
    let err = Config::from_toml_str(&fast).unwrap_err().to_string();
    assert!(err.contains("within 10 s"), "{err}");
}
