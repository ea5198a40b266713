//! What `batch` shows while jobs finish: a progress bar on a terminal, else (a log file, CI) a
//! plain line every few seconds when something changed, so logs stay readable.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::time::Instant;

/// How often the plain form prints at most.
const PLAIN_EVERY: Duration = Duration::from_secs(2);

/// Progress of one `batch` run.
#[derive(Debug)]
pub struct Progress {
    bar: Option<ProgressBar>,
    total: u64,
    last_printed: Option<(Instant, String)>,
}

/// One snapshot of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Snapshot {
    /// Requests whose job has finished (any terminal status).
    pub finished: u64,
    /// Requests whose line is in the output file.
    pub written: u64,
    pub chunks_submitted: usize,
    pub chunks: usize,
}

impl Progress {
    /// Progress over `total` requests: a bar when stderr is a terminal.
    pub fn new(total: u64) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
            let style = ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} finished ({per_sec}, eta {eta}) {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar());
            bar.set_style(style);
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        Self {
            bar,
            total,
            last_printed: None,
        }
    }

    /// Shows `snapshot`.
    pub fn update(&mut self, snapshot: Snapshot) {
        let message = format!(
            "{}/{} chunks submitted, {} written",
            snapshot.chunks_submitted, snapshot.chunks, snapshot.written
        );
        if let Some(bar) = &self.bar {
            bar.set_position(snapshot.finished);
            bar.set_message(message);
            return;
        }
        let line = format!(
            "batch: {}/{} finished, {message}",
            snapshot.finished, self.total
        );
        let now = Instant::now();
        let due = self
            .last_printed
            .as_ref()
            .is_none_or(|(at, last)| *last != line && now.duration_since(*at) >= PLAIN_EVERY);
        if due {
            eprintln!("{line}");
            self.last_printed = Some((now, line));
        }
    }

    /// Ends the display with `message`.
    pub fn finish(&self, message: &str) {
        match &self.bar {
            Some(bar) => bar.finish_with_message(message.to_owned()),
            None => eprintln!("batch: {message}"),
        }
    }

    /// Removes the bar (before an error message is printed).
    pub fn abandon(&self) {
        if let Some(bar) = &self.bar {
            bar.abandon();
        }
    }
}
