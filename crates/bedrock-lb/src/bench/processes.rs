//! `bedrock-lb-worker` child processes for the multi-process run: each reads the run's
//! configuration file (local backend: the same SQLite file as the API; Bedrock: the run's
//! simulator), has its own worker id, and logs to a file beside the database. Stopped with
//! SIGTERM, so they hand their jobs back the way a real deployment's workers do.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use bedrock_lb_config::{CONFIG_TOML_ENV, Config, ENV_PREFIX};
use tokio::process::{Child, Command};

use super::BenchError;

/// How long a worker may take to stop after SIGTERM before it is killed.
const STOP_WAIT: Duration = Duration::from_secs(10);

/// Running worker processes.
#[derive(Debug)]
pub struct WorkerProcesses {
    children: Vec<(String, Child)>,
    logs: Vec<PathBuf>,
}

/// The `bedrock-lb-worker` binary beside the running executable.
pub fn worker_binary() -> Result<PathBuf, BenchError> {
    let exe = std::env::current_exe()?;
    let path = exe.with_file_name(format!("bedrock-lb-worker{}", std::env::consts::EXE_SUFFIX));
    if path.exists() {
        Ok(path)
    } else {
        Err(BenchError::Processes(format!(
            "{} is missing: build it (`cargo build --release -p bedrock-lb`)",
            path.display()
        )))
    }
}

impl WorkerProcesses {
    /// Writes `config` to `dir/bench.toml` and starts `count` workers on it.
    pub fn start(config: &Config, dir: &Path, count: usize) -> Result<Self, BenchError> {
        let binary = worker_binary()?;
        let text = toml::to_string(config)
            .map_err(|e| BenchError::Processes(format!("writing the configuration: {e}")))?;
        let path = dir.join("bench.toml");
        std::fs::write(&path, text)?;
        let mut this = Self {
            children: Vec::with_capacity(count),
            logs: Vec::with_capacity(count),
        };
        for i in 0..count {
            let id = format!("bench-worker-{i}");
            let log = dir.join(format!("{id}.log"));
            let mut command = Command::new(&binary);
            command
                .arg("--config")
                .arg(&path)
                .args(["--worker-id", &id])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(&log)?)
                .env("RUST_LOG", "warn")
                .kill_on_drop(true);
            // The run's file is the whole configuration: no override from this environment.
            for (key, _) in std::env::vars_os() {
                if key.to_string_lossy().starts_with(ENV_PREFIX) || key == CONFIG_TOML_ENV {
                    command.env_remove(key);
                }
            }
            let child = command.spawn().map_err(|e| {
                BenchError::Processes(format!("starting {}: {e}", binary.display()))
            })?;
            this.children.push((id, child));
            this.logs.push(log);
        }
        Ok(this)
    }

    /// Fails if a worker has already exited (with the end of its log).
    pub fn check_running(&mut self) -> Result<(), BenchError> {
        for ((id, child), log) in self.children.iter_mut().zip(&self.logs) {
            if let Ok(Some(status)) = child.try_wait() {
                return Err(BenchError::Processes(format!(
                    "{id} exited ({status}): {}",
                    tail(log)
                )));
            }
        }
        Ok(())
    }

    /// Sends SIGTERM to every worker and waits for them; kills those that do not stop.
    pub async fn stop(mut self) {
        for (id, child) in &mut self.children {
            if let Some(pid) = child.id() {
                let sent = Command::new("kill")
                    .args(["-TERM", &pid.to_string()])
                    .status()
                    .await;
                if !matches!(sent, Ok(status) if status.success()) {
                    tracing::warn!(worker = %id, pid, "could not send SIGTERM");
                }
            }
        }
        for (id, child) in &mut self.children {
            match tokio::time::timeout(STOP_WAIT, child.wait()).await {
                Ok(Ok(status)) if status.success() => {}
                Ok(Ok(status)) => tracing::warn!(worker = %id, %status, "worker exited badly"),
                Ok(Err(error)) => tracing::warn!(worker = %id, %error, "waiting for a worker"),
                Err(_) => {
                    tracing::warn!(worker = %id, "worker did not stop after SIGTERM; killing it");
                    let _ = child.kill().await;
                }
            }
        }
    }
}

/// The last lines of a log file.
fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(5)..].join(" | ")
}
