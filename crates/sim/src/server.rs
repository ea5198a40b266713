//! Running the simulator: as a [`Router`], on a listener until a shutdown signal, or in a
//! background task for tests ([`spawn`]).

use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::config::SimConfig;
use crate::routes::routes;
use crate::simulator::Simulator;

/// The whole simulator as a Router, for serving or mounting in another app.
pub fn router(config: SimConfig) -> Router {
    routes(Arc::new(Simulator::new(config)))
}

/// The Router of an existing simulator, whose state the caller keeps a handle on.
pub fn router_for(sim: Arc<Simulator>) -> Router {
    routes(sim)
}

/// Serves the simulator on `listener` until `shutdown` completes, then finishes the calls in
/// flight.
pub async fn serve(
    listener: TcpListener,
    config: SimConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_simulator(listener, Arc::new(Simulator::new(config)), shutdown).await
}

/// Like [`serve`], for a simulator the caller keeps a handle on.
pub async fn serve_simulator(
    listener: TcpListener,
    sim: Arc<Simulator>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, routes(sim))
        .with_graceful_shutdown(shutdown)
        .await
}

/// Binds 127.0.0.1 on a free port and serves `config` in a background task until the returned
/// handle is shut down or dropped. Tests start one simulator each, so they never share state.
pub async fn spawn(config: SimConfig) -> std::io::Result<SimHandle> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
    let addr = listener.local_addr()?;
    let (shutdown, signal) = oneshot::channel::<()>();
    let sim = Arc::new(Simulator::new(config));
    // Dropping the sender also completes the signal, so dropping the handle stops the server.
    let task = tokio::spawn(serve_simulator(listener, Arc::clone(&sim), async move {
        let _ = signal.await;
    }));
    Ok(SimHandle {
        addr,
        sim,
        shutdown,
        task,
    })
}

/// A simulator running in the background (see [`spawn`]).
#[derive(Debug)]
pub struct SimHandle {
    /// Where it listens.
    addr: SocketAddr,
    /// The simulator's state, for in-process statistics and control.
    sim: Arc<Simulator>,
    /// Stops the server when sent to or dropped.
    shutdown: oneshot::Sender<()>,
    /// The server task, awaited on shutdown.
    task: JoinHandle<std::io::Result<()>>,
}

impl SimHandle {
    /// The address the simulator listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The running simulator: [`Simulator::stats`], faults and quotas, without HTTP.
    pub fn simulator(&self) -> &Arc<Simulator> {
        &self.sim
    }

    /// The ground-truth statistics (the same as `GET /_sim/stats`).
    pub fn stats(&self) -> crate::stats::SimStats {
        self.sim.stats()
    }

    /// The base URL, `http://127.0.0.1:PORT`, to give a client as its endpoint.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops the server and waits for the calls in flight to finish.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(());
        match self.task.await {
            Ok(Ok(())) => {}
            Ok(Err(err)) => tracing::warn!(error = %err, "bedrock-sim stopped with an error"),
            Err(err) => tracing::warn!(error = %err, "bedrock-sim task failed"),
        }
    }
}
