//! infra/template.yaml deploys, and the binaries run on what it creates: the stack is created in
//! moto's CloudFormation, the queue and tables it made are checked against the binaries' contract,
//! and `bedrock-lb-lambda` (behind a fake Lambda Runtime API, with API Gateway events of an
//! IAM-authorized route) and `bedrock-lb-worker` then run as processes with exactly the
//! environment the stack gave the Lambda function and the worker task definition, reading every
//! name from the stack, until a submitted job succeeds.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use aws_sdk_cloudformation::types::{Parameter, StackStatus};
use aws_sdk_dynamodb::types::{AttributeValue, KeyType, ProjectionType};
use aws_sdk_sqs::types::QueueAttributeName;
use bedrock_lb_config::DEFAULT_TOML;
use bedrock_lb_e2e::lambda_runtime::{FakeLambdaRuntime, http_api_event};
use bedrock_lb_e2e::{binary, moto_endpoint, moto_sdk_config, require_aws_environment_on_moto};
use serde_json::{Value, json};
use tokio::process::{Child, Command};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// A request to moto outside the SDK: moto picks the service from the SigV4 credential scope and
/// does not check signatures, so a well-formed unsigned scope is enough.
fn moto_request(method: reqwest::Method, path: &str, service: &str) -> reqwest::RequestBuilder {
    reqwest::Client::new()
        .request(method, format!("{}{path}", moto_endpoint()))
        .header(
            "authorization",
            format!(
                "AWS4-HMAC-SHA256 Credential=test/20261122/us-east-1/{service}/aws4_request, \
                 SignedHeaders=host, Signature=0"
            ),
        )
}

/// Puts a stand-in Lambda zip into moto's S3, where the template's Code property points.
async fn upload_lambda_code(bucket: &str, key: &str) {
    let created = moto_request(reqwest::Method::PUT, &format!("/{bucket}"), "s3")
        .send()
        .await
        .unwrap();
    assert!(created.status().is_success(), "{created:?}");
    let put = moto_request(reqwest::Method::PUT, &format!("/{bucket}/{key}"), "s3")
        .body(b"PK\x05\x06\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0".to_vec())
        .send()
        .await
        .unwrap();
    assert!(put.status().is_success(), "{put:?}");
}

/// The environment moto's Lambda holds for the function.
async fn lambda_environment(function: &str) -> BTreeMap<String, String> {
    let response = moto_request(
        reqwest::Method::GET,
        &format!("/2015-03-31/functions/{function}/configuration"),
        "lambda",
    )
    .send()
    .await
    .unwrap();
    assert!(response.status().is_success(), "{response:?}");
    let config: Value = response.json().await.unwrap();
    assert_eq!(config["Runtime"], "provided.al2023");
    assert_eq!(config["Handler"], "bootstrap");
    string_map(
        config["Environment"]["Variables"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone())),
    )
}

/// The environment of the worker container in moto's ECS task definition.
async fn task_environment(task_definition: &str) -> BTreeMap<String, String> {
    let response = moto_request(reqwest::Method::POST, "/", "ecs")
        .header(
            "x-amz-target",
            "AmazonEC2ContainerServiceV20141113.DescribeTaskDefinition",
        )
        .header("content-type", "application/x-amz-json-1.1")
        .body(json!({ "taskDefinition": task_definition }).to_string())
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{response:?}");
    let answer: Value = response.json().await.unwrap();
    let container = &answer["taskDefinition"]["containerDefinitions"][0];
    assert_eq!(container["name"], "worker");
    string_map(
        container["environment"]
            .as_array()
            .unwrap()
            .iter()
            .map(|pair| {
                (
                    pair["name"].as_str().unwrap().to_owned(),
                    pair["value"].clone(),
                )
            }),
    )
}

/// Variables with a value (moto keeps `AWS::NoValue` entries as nulls).
fn string_map(pairs: impl Iterator<Item = (String, Value)>) -> BTreeMap<String, String> {
    pairs
        .filter_map(|(k, v)| match v {
            Value::String(s) => Some((k, s)),
            Value::Null => None,
            other => Some((k, other.to_string())),
        })
        .collect()
}

/// The ARNs scripts/deploy.sh passes as BedrockInvokeArns.
fn bedrock_arns() -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("models.toml");
    std::fs::write(&path, DEFAULT_TOML).unwrap();
    let output = std::process::Command::new("python3")
        .arg(repo_root().join("infra/bedrock_arns.py"))
        .arg(&path)
        .args(["--account", "123456789012"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

fn parameter(key: &str, value: &str) -> Parameter {
    Parameter::builder()
        .parameter_key(key)
        .parameter_value(value)
        .build()
}

/// Creates the stack and returns its outputs.
async fn create_stack(
    cfn: &aws_sdk_cloudformation::Client,
    name: &str,
) -> BTreeMap<String, String> {
    let bucket = format!("{name}-artifacts");
    let key = "lambda/bedrock-lb-lambda-arm64.zip";
    upload_lambda_code(&bucket, key).await;
    let template = std::fs::read_to_string(repo_root().join("infra/template.yaml")).unwrap();
    cfn.create_stack()
        .stack_name(name)
        .template_body(template)
        .parameters(parameter("LambdaCodeBucket", &bucket))
        .parameters(parameter("LambdaCodeKey", key))
        .parameters(parameter("ModelConfigToml", DEFAULT_TOML))
        .parameters(parameter("BedrockInvokeArns", &bedrock_arns()))
        .parameters(parameter("WorkerVpcId", "vpc-12345678"))
        .parameters(parameter(
            "WorkerSubnetIds",
            "subnet-12345678,subnet-87654321",
        ))
        .capabilities(aws_sdk_cloudformation::types::Capability::CapabilityIam)
        .send()
        .await
        .unwrap();
    let mut status = None;
    for _ in 0..100 {
        let stack = cfn
            .describe_stacks()
            .stack_name(name)
            .send()
            .await
            .unwrap()
            .stacks
            .unwrap()
            .remove(0);
        status = stack.stack_status.clone();
        if status != Some(StackStatus::CreateInProgress) {
            assert_eq!(
                status,
                Some(StackStatus::CreateComplete),
                "{:?}",
                stack.stack_status_reason
            );
            return stack
                .outputs
                .unwrap_or_default()
                .into_iter()
                .map(|o| (o.output_key.unwrap(), o.output_value.unwrap_or_default()))
                .collect();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("stack {name} still {status:?}");
}

/// Checks the queue and the tables the stack created against what the binaries expect.
async fn check_resources(outputs: &BTreeMap<String, String>) {
    let sdk = moto_sdk_config();
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let attributes = sqs
        .get_queue_attributes()
        .queue_url(&outputs["QueueUrl"])
        .attribute_names(QueueAttributeName::All)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap();
    assert_eq!(attributes[&QueueAttributeName::VisibilityTimeout], "180");
    assert_eq!(
        attributes[&QueueAttributeName::ReceiveMessageWaitTimeSeconds],
        "20"
    );
    let redrive: Value =
        serde_json::from_str(&attributes[&QueueAttributeName::RedrivePolicy]).unwrap();
    assert_eq!(
        redrive["maxReceiveCount"].to_string().trim_matches('"'),
        "5"
    );
    let dlq_arn = sqs
        .get_queue_attributes()
        .queue_url(&outputs["DeadLetterQueueUrl"])
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap()[&QueueAttributeName::QueueArn]
        .clone();
    assert_eq!(redrive["deadLetterTargetArn"], dlq_arn.as_str());

    let dynamo = aws_sdk_dynamodb::Client::new(&sdk);
    let jobs = dynamo
        .describe_table()
        .table_name(&outputs["JobsTableName"])
        .send()
        .await
        .unwrap()
        .table
        .unwrap();
    let keys = |schema: &[aws_sdk_dynamodb::types::KeySchemaElement]| {
        schema
            .iter()
            .map(|k| (k.attribute_name.clone(), k.key_type.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(keys(jobs.key_schema()), [("job_id".into(), KeyType::Hash)]);
    let index = &jobs.global_secondary_indexes()[0];
    assert_eq!(index.index_name(), Some("batch_id-index"));
    assert_eq!(
        keys(index.key_schema()),
        [
            ("batch_id".into(), KeyType::Hash),
            ("job_id".into(), KeyType::Range)
        ]
    );
    assert_eq!(
        index.projection().and_then(|p| p.projection_type()),
        Some(&ProjectionType::All)
    );
    let quotas = dynamo
        .describe_table()
        .table_name(&outputs["QuotasTableName"])
        .send()
        .await
        .unwrap()
        .table
        .unwrap();
    assert_eq!(
        keys(quotas.key_schema()),
        [("pk".into(), KeyType::Hash), ("sk".into(), KeyType::Range)]
    );
}

/// What moto's CloudFormation drops (it creates tables without TTL, PITR or SSE settings),
/// checked in the template itself.
fn check_table_settings_in_the_template() {
    let text = std::fs::read_to_string(repo_root().join("infra/template.yaml")).unwrap();
    let template: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    for table in ["JobsTable", "QuotasTable"] {
        let properties = &template["Resources"][table]["Properties"];
        assert_eq!(properties["BillingMode"], "PAY_PER_REQUEST", "{table}");
        assert_eq!(
            properties["TimeToLiveSpecification"]["AttributeName"], "ttl",
            "{table}"
        );
        assert_eq!(properties["TimeToLiveSpecification"]["Enabled"], true);
        assert_eq!(
            properties["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"],
            true
        );
        assert_eq!(properties["SSESpecification"]["SSEEnabled"], true);
    }
}

/// An HTTP API event for an `AWS_IAM` route, as API Gateway sends it after checking the
/// signature: the caller's IAM identity is in `requestContext.authorizer.iam`.
fn signed_event(method: &str, path: &str, body: Option<&Value>) -> Value {
    let mut event = http_api_event(method, path, body);
    event["requestContext"]["authorizer"] = json!({
        "iam": {
            "accessKey": "AKIAIOSFODNN7EXAMPLE",
            "accountId": "123456789012",
            "callerId": "AIDAJQABLZS4A3QDU576Q",
            "principalOrgId": null,
            "userArn": "arn:aws:iam::123456789012:user/infra-test",
            "userId": "AIDAJQABLZS4A3QDU576Q",
            "cognitoIdentity": null
        }
    });
    event
}

/// Starts `name` with exactly `env` from the stack, then `extra` (what Lambda or the test adds).
fn spawn_binary(name: &str, env: &BTreeMap<String, String>, extra: &[(&str, String)]) -> Child {
    let mut command = Command::new(binary(name));
    command.envs(env);
    for (key, value) in extra {
        command.env(key, value);
    }
    command
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap()
}

#[tokio::test]
async fn the_stack_creates_what_the_binaries_need_and_a_job_runs_on_it() {
    require_aws_environment_on_moto();
    let cfn = aws_sdk_cloudformation::Client::new(&moto_sdk_config());
    let name = format!("infra-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let outputs = create_stack(&cfn, &name).await;
    for key in [
        "ApiUrl",
        "QueueUrl",
        "DeadLetterQueueUrl",
        "JobsTableName",
        "QuotasTableName",
        "WorkerClusterName",
    ] {
        assert!(
            outputs.get(key).is_some_and(|v| !v.is_empty()),
            "output {key}: {outputs:?}"
        );
    }
    check_resources(&outputs).await;
    check_table_settings_in_the_template();

    // What the stack gave the function and the task, as moto stored it.
    let api_env = lambda_environment(&outputs["ApiFunctionName"]).await;
    let worker_env = task_environment(&outputs["WorkerTaskDefinitionArn"]).await;
    for env in [&api_env, &worker_env] {
        assert_eq!(env["BEDROCK_LB_BACKEND"], "aws");
        assert_eq!(env["BEDROCK_LB_QUEUE_URL"], outputs["QueueUrl"]);
        assert_eq!(env["BEDROCK_LB_JOBS_TABLE"], outputs["JobsTableName"]);
        assert_eq!(env["BEDROCK_LB_QUOTAS_TABLE"], outputs["QuotasTableName"]);
        assert_eq!(env["BEDROCK_LB_JOB_TTL_SECS"], "604800");
        assert_eq!(env["BEDROCK_LB_CONFIG_TOML"], DEFAULT_TOML);
        assert_eq!(env["RUST_LOG"], "info");
    }
    assert_eq!(api_env["BEDROCK_LB_API__AUTH"], "iam");
    assert!(
        !api_env.contains_key("BEDROCK_LB_API__API_KEYS"),
        "iam mode sets no keys"
    );
    assert_eq!(worker_env["BEDROCK_LB_BEDROCK__TARGET"], "aws");

    // The binaries on exactly that environment; the worker's Bedrock calls go to the simulator.
    let simulator = bedrock_sim::spawn(bedrock_sim::SimConfig::sample())
        .await
        .unwrap();
    let runtime = FakeLambdaRuntime::start().await;
    let quiet = ("RUST_LOG", "warn".to_owned());
    let _api = spawn_binary(
        "bedrock-lb-lambda",
        &api_env,
        &[
            ("AWS_LAMBDA_RUNTIME_API", runtime.address()),
            (
                "AWS_LAMBDA_FUNCTION_NAME",
                outputs["ApiFunctionName"].clone(),
            ),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256".to_owned()),
            ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".to_owned()),
            quiet.clone(),
        ],
    );
    let _worker = spawn_binary(
        "bedrock-lb-worker",
        &worker_env,
        &[
            ("BEDROCK_LB_BEDROCK__TARGET", "sim".to_owned()),
            ("BEDROCK_LB_BEDROCK__ENDPOINT_URL", simulator.url()),
            ("BEDROCK_LB_WORKER__WAIT_TIME_SECS", "1".to_owned()),
            quiet,
        ],
    );

    // Through API Gateway's IAM-authorized route: the event carries the caller's identity.
    let body = json!({"prompt": "on the stack's queue and tables", "max_tokens": 40});
    let answer = runtime
        .invoke(signed_event("POST", "/invoke", Some(&body)))
        .await;
    assert_eq!(answer["statusCode"], 202, "{answer:#}");
    let submitted: Value = serde_json::from_str(answer["body"].as_str().unwrap()).unwrap();
    let job_id = submitted["job_id"].as_str().unwrap().to_owned();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let job = loop {
        let answer = runtime
            .invoke(signed_event("GET", &format!("/jobs/{job_id}"), None))
            .await;
        assert_eq!(answer["statusCode"], 200, "{answer:#}");
        let job: Value = serde_json::from_str(answer["body"].as_str().unwrap()).unwrap();
        if !matches!(job["status"].as_str(), Some("queued" | "running")) {
            break job;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not finished: {job}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(job["status"], "succeeded", "{job:#}");

    let item = aws_sdk_dynamodb::Client::new(&moto_sdk_config())
        .get_item()
        .table_name(&outputs["JobsTableName"])
        .key("job_id", AttributeValue::S(job_id))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
        .expect("the job is in the stack's jobs table");
    assert_eq!(item["status"], AttributeValue::S("succeeded".into()));

    simulator.shutdown().await;
    let _ = cfn.delete_stack().stack_name(&name).send().await;
}
