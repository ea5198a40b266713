//! The binaries' command lines: usage, and clear errors for bad flags and configuration.
//! (Being integration tests of this package, these also make `cargo test` build the binaries
//! that the end-to-end tests under `tests/` run.)
#![allow(clippy::expect_used)]

use std::process::Command;

fn run(binary: &str, args: &[&str]) -> (bool, String, String) {
    let output = Command::new(binary)
        .args(args)
        .env_remove("BEDROCK_LB_CONFIG")
        .output()
        .expect("the binary runs");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn help_lists_the_commands() {
    let (ok, stdout, _) = run(env!("CARGO_BIN_EXE_bedrock-lb"), &["--help"]);
    assert!(ok);
    for command in ["serve", "submit", "batch", "jobs", "batches", "init-aws"] {
        assert!(stdout.contains(command), "`{command}` in\n{stdout}");
    }
    let (ok, stdout, _) = run(env!("CARGO_BIN_EXE_bedrock-lb-worker"), &["--help"]);
    assert!(ok);
    assert!(stdout.contains("--queue-url"), "{stdout}");
}

#[test]
fn a_bad_backend_is_refused_by_name() {
    let (ok, _, stderr) = run(
        env!("CARGO_BIN_EXE_bedrock-lb"),
        &["serve", "--backend", "s3"],
    );
    assert!(!ok);
    assert!(stderr.contains("`s3` is not a backend"), "{stderr}");
}

#[test]
fn a_missing_config_file_is_a_clear_error() {
    let (ok, _, stderr) = run(
        env!("CARGO_BIN_EXE_bedrock-lb"),
        &["serve", "--config", "/nonexistent/bedrock-lb.toml"],
    );
    assert!(!ok);
    assert!(stderr.contains("/nonexistent/bedrock-lb.toml"), "{stderr}");
}

#[test]
fn the_aws_backend_without_a_queue_says_what_is_missing() {
    let (ok, _, stderr) = run(
        env!("CARGO_BIN_EXE_bedrock-lb-worker"),
        &["--backend", "aws", "--jobs-table", "t"],
    );
    assert!(!ok);
    assert!(stderr.contains("needs a queue URL"), "{stderr}");
}
