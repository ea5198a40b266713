//! The quota-aware routing engine of bedrock-lb: pure in-memory logic on tokio time, no I/O.
//!
//! A worker holds one [`Router`]. It installs the quota table and the number of live workers
//! with [`Router::configure`] (each bucket's share is its quota divided among them), then for
//! each Bedrock call asks [`Router::acquire`] for a [`Permit`] on the best bucket with room and
//! settles it with the outcome. Per bucket the router keeps a Bedrock-style token ledger
//! ([`ledger`]: reserve at admission, settle at completion), an rpm limiter (governor on
//! [`TokioClock`]), adaptive backoff on throttles, and a circuit breaker ([`breaker`]); a
//! strategy chooses among the buckets that have room (see ARCHITECTURE.md, Quotas and Routing).

mod aimd;
pub mod breaker;
mod bucket;
mod clock;
pub mod ledger;
mod permit;
mod router;
mod rpm;
mod settings;
mod state;
mod strategy;
#[cfg(test)]
mod tests;

pub use clock::{TokioClock, TokioInstant};
pub use permit::Permit;
pub use router::Router;
pub use settings::{BreakerSettings, RouterSettings, Unroutable};
