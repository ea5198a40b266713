//! The IAM policies of infra/template.yaml, read as data: no statement grants a wildcard
//! resource except where AWS requires one, each role gets exactly the actions issue 6 lists on
//! the resources it names, and infra/bedrock_arns.py turns the model configuration into the
//! model and inference-profile ARNs the workers may invoke.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use bedrock_lb_config::{Config, DEFAULT_TOML};
use serde_yaml::Value;

/// Actions AWS only authorizes on `"*"`, with the reason.
const WILDCARD_ALLOWED: &[(&str, &str)] = &[(
    "ecr:GetAuthorizationToken",
    "the registry token is account-wide; the action has no resource type",
)];

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn template() -> Value {
    let text = std::fs::read_to_string(repo_root().join("infra/template.yaml")).unwrap();
    serde_yaml::from_str(&text).unwrap()
}

/// One policy statement with the role it belongs to.
#[derive(Debug)]
struct Statement {
    role: String,
    sid: String,
    actions: Vec<String>,
    resources: Vec<Value>,
}

fn strings(value: &Value) -> Vec<String> {
    match value {
        Value::String(s) => vec![s.clone()],
        Value::Sequence(items) => items
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect(),
        other => panic!("expected a string or a list of strings, got {other:?}"),
    }
}

fn statements(template: &Value) -> Vec<Statement> {
    let mut found = Vec::new();
    for (logical_id, resource) in template["Resources"].as_mapping().unwrap() {
        let kind = resource["Type"].as_str().unwrap();
        let documents: Vec<&Value> = match kind {
            "AWS::IAM::Role" => resource["Properties"]["Policies"]
                .as_sequence()
                .map(|p| p.iter().map(|p| &p["PolicyDocument"]).collect())
                .unwrap_or_default(),
            "AWS::IAM::Policy" | "AWS::IAM::ManagedPolicy" => {
                vec![&resource["Properties"]["PolicyDocument"]]
            }
            _ => continue,
        };
        assert!(
            resource["Properties"].get("ManagedPolicyArns").is_none(),
            "{logical_id:?} attaches managed policies, which the test cannot see into"
        );
        for document in documents {
            for statement in document["Statement"].as_sequence().unwrap() {
                assert_eq!(statement["Effect"], "Allow");
                assert!(
                    statement.get("NotResource").is_none() && statement.get("NotAction").is_none(),
                    "no NotResource/NotAction in {logical_id:?}"
                );
                let resources = match &statement["Resource"] {
                    Value::Sequence(items) => items.clone(),
                    single => vec![single.clone()],
                };
                found.push(Statement {
                    role: logical_id.as_str().unwrap().to_owned(),
                    sid: statement["Sid"].as_str().unwrap_or_default().to_owned(),
                    actions: strings(&statement["Action"]),
                    resources,
                });
            }
        }
    }
    found
}

/// How a resource is written: `"*"`, a literal, or `!Tag value` flattened to "Tag value".
fn describe(resource: &Value) -> String {
    match resource {
        Value::String(s) => s.clone(),
        Value::Tagged(tagged) => {
            let tag = tagged.tag.to_string();
            format!(
                "{} {}",
                tag.trim_start_matches('!'),
                describe(&tagged.value)
            )
        }
        Value::Sequence(items) => items.iter().map(describe).collect::<Vec<_>>().join(" "),
        other => format!("{other:?}"),
    }
}

fn role_grants(statements: &[Statement], role: &str) -> BTreeSet<(String, String)> {
    statements
        .iter()
        .filter(|s| s.role == role)
        .flat_map(|s| {
            s.actions
                .iter()
                .flat_map(move |a| s.resources.iter().map(move |r| (a.clone(), describe(r))))
        })
        .collect()
}

#[test]
fn no_statement_grants_a_wildcard_resource_unless_aws_requires_it() {
    let statements = statements(&template());
    assert!(statements.len() >= 8, "the template's policies were found");
    for statement in &statements {
        for action in &statement.actions {
            assert!(
                !action.contains('*'),
                "{}/{}: wildcard action {action}",
                statement.role,
                statement.sid
            );
        }
        for resource in &statement.resources {
            let text = describe(resource);
            if text == "*" {
                for action in &statement.actions {
                    assert!(
                        WILDCARD_ALLOWED
                            .iter()
                            .any(|(allowed, _)| allowed == action),
                        "{}/{}: {action} on \"*\" where a real ARN can be named",
                        statement.role,
                        statement.sid
                    );
                }
            } else {
                assert!(
                    !text.ends_with(":*") && !text.ends_with("/*"),
                    "{}/{}: resource {text} ends in a wildcard",
                    statement.role,
                    statement.sid
                );
            }
        }
    }
}

#[test]
fn the_api_role_may_only_enqueue_use_its_jobs_table_and_edit_quotas() {
    let grants = role_grants(&statements(&template()), "ApiRole");
    let mut expected: BTreeSet<(String, String)> = [
        ("logs:CreateLogStream", "GetAtt ApiLogGroup.Arn"),
        ("logs:PutLogEvents", "GetAtt ApiLogGroup.Arn"),
        ("sqs:SendMessage", "GetAtt JobQueue.Arn"),
    ]
    .into_iter()
    .map(|(a, r)| (a.to_owned(), r.to_owned()))
    .collect();
    for action in [
        "GetItem",
        "PutItem",
        "UpdateItem",
        "Query",
        "BatchWriteItem",
    ] {
        for resource in [
            "GetAtt JobsTable.Arn",
            "Sub ${JobsTable.Arn}/index/batch_id-index",
        ] {
            expected.insert((format!("dynamodb:{action}"), resource.to_owned()));
        }
    }
    for action in ["Query", "PutItem", "DeleteItem"] {
        expected.insert((
            format!("dynamodb:{action}"),
            "GetAtt QuotasTable.Arn".to_owned(),
        ));
    }
    assert_eq!(grants, expected);
}

#[test]
fn the_worker_role_may_only_drain_its_queues_use_its_tables_and_invoke_its_models() {
    let grants = role_grants(&statements(&template()), "WorkerTaskRole");
    let mut expected = BTreeSet::new();
    for action in [
        "ReceiveMessage",
        "DeleteMessage",
        "ChangeMessageVisibility",
        "GetQueueAttributes",
    ] {
        for queue in ["GetAtt JobQueue.Arn", "GetAtt DeadLetterQueue.Arn"] {
            expected.insert((format!("sqs:{action}"), queue.to_owned()));
        }
    }
    expected.insert((
        "sqs:SendMessage".to_owned(),
        "GetAtt DeadLetterQueue.Arn".to_owned(),
    ));
    for action in [
        "GetItem",
        "PutItem",
        "UpdateItem",
        "DeleteItem",
        "Query",
        "BatchWriteItem",
    ] {
        for table in [
            "GetAtt JobsTable.Arn",
            "Sub ${JobsTable.Arn}/index/batch_id-index",
            "GetAtt QuotasTable.Arn",
        ] {
            expected.insert((format!("dynamodb:{action}"), table.to_owned()));
        }
    }
    expected.insert((
        "bedrock:InvokeModel".to_owned(),
        "Ref BedrockInvokeArns".to_owned(),
    ));
    assert_eq!(grants, expected);
}

#[test]
fn the_execution_role_may_only_pull_the_worker_image_and_write_its_logs() {
    let grants = role_grants(&statements(&template()), "WorkerExecutionRole");
    let repository = "Sub arn:${AWS::Partition}:ecr:${AWS::Region}:${AWS::AccountId}:repository/${WorkerRepositoryName}";
    let expected: BTreeSet<(String, String)> = [
        ("ecr:GetAuthorizationToken", "*"),
        ("ecr:BatchCheckLayerAvailability", repository),
        ("ecr:GetDownloadUrlForLayer", repository),
        ("ecr:BatchGetImage", repository),
        ("logs:CreateLogStream", "GetAtt WorkerLogGroup.Arn"),
        ("logs:PutLogEvents", "GetAtt WorkerLogGroup.Arn"),
    ]
    .into_iter()
    .map(|(a, r)| (a.to_owned(), r.to_owned()))
    .collect();
    assert_eq!(grants, expected);
}

/// The ARNs infra/bedrock_arns.py derives from `toml_path`.
fn bedrock_arns(toml_path: &Path) -> BTreeSet<String> {
    let output = Command::new("python3")
        .arg(repo_root().join("infra/bedrock_arns.py"))
        .arg(toml_path)
        .args(["--account", "123456789012", "--partition", "aws"])
        .output()
        .expect("python3 runs");
    assert!(
        output.status.success(),
        "bedrock_arns.py failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .unwrap()
        .trim()
        .split(',')
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_bedrock_arns_name_every_configured_bucket_and_nothing_broader() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("models.toml");
    std::fs::write(&path, DEFAULT_TOML).unwrap();
    let arns = bedrock_arns(&path);
    let config = Config::from_toml_str(DEFAULT_TOML).unwrap();
    let mut expected = BTreeSet::new();
    for model in config.models.values() {
        for (region, bucket) in &model.regions {
            let id = bucket.model_id();
            match id.split_once('.') {
                Some((geo @ ("us" | "eu"), base)) => {
                    expected.insert(format!(
                        "arn:aws:bedrock:{region}:123456789012:inference-profile/{id}"
                    ));
                    expected.insert(format!("arn:aws:bedrock:{geo}-*::foundation-model/{base}"));
                }
                _ => {
                    expected.insert(format!("arn:aws:bedrock:{region}::foundation-model/{id}"));
                }
            }
        }
    }
    assert_eq!(arns, expected);
    assert!(
        arns.iter().all(|arn| arn != "*" && !arn.ends_with('*')),
        "every ARN names its model: {arns:?}"
    );
}

#[test]
fn the_bedrock_arns_keep_full_arns_and_cover_global_profiles() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("models.toml");
    let profile = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc123";
    std::fs::write(
        &path,
        format!(
            "default_model = \"a\"\n[models.a]\nmax_output_tokens = 100\n\
             regions = {{ us-east-1 = \"global.anthropic.claude-sonnet-4-5-20250929-v1:0\", \
             us-west-2 = {{ model_id = \"{profile}\" }} }}\n"
        ),
    )
    .unwrap();
    let arns = bedrock_arns(&path);
    let expected: BTreeSet<String> = [
        "arn:aws:bedrock:us-east-1:123456789012:inference-profile/global.anthropic.claude-sonnet-4-5-20250929-v1:0",
        "arn:aws:bedrock:*::foundation-model/anthropic.claude-sonnet-4-5-20250929-v1:0",
        "arn:aws:bedrock:::foundation-model/anthropic.claude-sonnet-4-5-20250929-v1:0",
        profile,
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    assert_eq!(arns, expected);
}
