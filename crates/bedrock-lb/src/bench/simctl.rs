//! The simulator's control API as the bench uses it: ground-truth statistics, reset (window 0
//! starts), and a region taken down and brought back. Over HTTP, so the bench drives the
//! simulator exactly as an operator could (see the simulator's README).

use bedrock_sim::{Fault, SimStats};

use super::BenchError;

/// A client of one simulator's `/_sim/` routes.
#[derive(Debug, Clone)]
pub struct SimControl {
    base: String,
    http: reqwest::Client,
}

impl SimControl {
    /// A client of the simulator at `base` (e.g. `http://127.0.0.1:4010`).
    pub fn new(base: &str) -> Self {
        Self {
            base: base.trim_end_matches('/').to_owned(),
            http: reqwest::Client::new(),
        }
    }

    /// `GET /_sim/stats`.
    pub async fn stats(&self) -> Result<SimStats, BenchError> {
        let response = self
            .http
            .get(format!("{}/_sim/stats", self.base))
            .send()
            .await
            .map_err(control)?;
        let response = ok(response).await?;
        response.json().await.map_err(control)
    }

    /// `POST /_sim/reset`: counters and ledgers cleared, window 0 starts now.
    pub async fn reset(&self) -> Result<(), BenchError> {
        let response = self
            .http
            .post(format!("{}/_sim/reset", self.base))
            .send()
            .await
            .map_err(control)?;
        ok(response).await.map(drop)
    }

    /// `PUT /_sim/faults/{region}` with `{"down": true}` (every call 503), or
    /// `DELETE /_sim/faults/{region}` when `down` is false.
    pub async fn set_region_down(&self, region: &str, down: bool) -> Result<(), BenchError> {
        let url = format!("{}/_sim/faults/{region}", self.base);
        let request = if down {
            let fault = Fault {
                down: true,
                ..Fault::default()
            };
            self.http.put(url).json(&fault)
        } else {
            self.http.delete(url)
        };
        let response = request.send().await.map_err(control)?;
        ok(response).await.map(drop)
    }
}

fn control(error: reqwest::Error) -> BenchError {
    BenchError::SimControl(error.to_string())
}

async fn ok(response: reqwest::Response) -> Result<reqwest::Response, BenchError> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let body = response.text().await.unwrap_or_default();
    Err(BenchError::SimControl(format!("{status}: {body}")))
}
