//! A [`Permit`]: one admitted call's claim on a bucket. It must end in `succeeded` or `failed`,
//! which settle the bucket's accounting; dropped without either (the job was cancelled), it
//! gives everything back.

use std::fmt;
use std::sync::Arc;

use bedrock_lb_core::{BucketId, InvokeErrorKind};
use tokio::time::Instant;

use crate::bucket::Outcome;
use crate::router::Inner;
use crate::state::Admission;

/// An admitted call on one bucket: tokens reserved, an rpm cell taken, maybe a half-open probe
/// slot, counted in flight.
#[must_use = "a permit must be settled with succeeded() or failed()"]
pub struct Permit {
    inner: Arc<Inner>,
    admission: Admission,
    reservation: u64,
    admitted: Instant,
    input_tokens: Option<u64>,
    settled: bool,
}

impl fmt::Debug for Permit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit")
            .field("bucket", &self.admission.bucket)
            .field("reservation", &self.reservation)
            .field("probe", &self.admission.probe.is_some())
            .finish_non_exhaustive()
    }
}

impl Permit {
    pub(crate) fn new(
        inner: Arc<Inner>,
        admission: Admission,
        reservation: u64,
        admitted: Instant,
    ) -> Self {
        Self {
            inner,
            admission,
            reservation,
            admitted,
            input_tokens: None,
            settled: false,
        }
    }

    /// The bucket to call.
    pub fn bucket(&self) -> &BucketId {
        &self.admission.bucket
    }

    /// Tokens reserved for the call.
    pub fn reservation(&self) -> u64 {
        self.reservation
    }

    /// The call's input tokens, when the caller knows them: a timeout or transport failure then
    /// charges just these (Bedrock counted them) instead of the whole reservation.
    pub fn set_input_tokens(&mut self, input_tokens: u64) {
        self.input_tokens = Some(input_tokens);
    }

    /// The call succeeded: settles to input + output × burndown (may exceed the reservation),
    /// counts a breaker success, regrows the rate, updates the latency average.
    pub fn succeeded(mut self, input_tokens: u64, output_tokens: u64) {
        self.finish(Outcome::Succeeded {
            input: input_tokens,
            output: output_tokens,
        });
    }

    /// The call failed with `kind`; applies the error table (ARCHITECTURE.md, Errors):
    /// throttles release and shrink the rate, breaker failures count against the breaker (a
    /// timeout or transport failure charges the input), misconfigurations take the bucket out of
    /// rotation, the job's own faults release and say nothing about the bucket.
    pub fn failed(mut self, kind: InvokeErrorKind) {
        let input = self.input_tokens;
        self.finish(Outcome::Failed { kind, input });
    }

    fn finish(&mut self, outcome: Outcome) {
        if !self.settled {
            self.settled = true;
            self.inner
                .finish(&self.admission, self.admitted, self.reservation, outcome);
        }
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.finish(Outcome::Cancelled);
    }
}
