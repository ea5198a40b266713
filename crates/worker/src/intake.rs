//! Reading a received message: which job it is for and what it asks, or why it cannot run.
//! Shared by the job path and the dead-letter drain, so both name a producer's job alike: the
//! body's `job_id`, else the queue's message id.

use bedrock_lb_core::message::{self, MessageBody};
use bedrock_lb_core::{InvokeRequest, Job, JobError, JobId, JobRequest, ModelCatalog, StoreError};
use bedrock_lb_core::{JobStatus, QueueMessage};

use crate::WorkerContext;

/// A message, read.
#[derive(Debug)]
pub(crate) struct Intake {
    /// The job the message is for.
    pub(crate) job_id: JobId,
    /// The request, not yet validated, or why the body cannot be understood.
    pub(crate) request: Result<InvokeRequest, JobError>,
}

/// Reads `msg`: its body, with the model from the `model` attribute when the body names none.
pub(crate) fn read(msg: &QueueMessage) -> Intake {
    let fallback_id = || {
        msg.message_id
            .parse::<JobId>()
            .unwrap_or_else(|_| JobId::generate())
    };
    match message::decode_message(&msg.body, &msg.attributes) {
        Ok(MessageBody { job_id, request }) => Intake {
            job_id: job_id.unwrap_or_else(fallback_id),
            request: Ok(request),
        },
        Err(error) => Intake {
            job_id: fallback_id(),
            request: Err(JobError::new("invalid_message", error.to_string())),
        },
    }
}

/// Validates a producer's request against the catalogue, as the API would.
pub(crate) fn validate(
    request: InvokeRequest,
    catalog: &ModelCatalog,
) -> Result<JobRequest, JobError> {
    request.validate(catalog).map_err(|error| {
        JobError::new(
            "validation_error",
            format!("{}: {}", error.field, error.message),
        )
    })
}

/// Records `job_id` as failed with `error` (a message that cannot be run); a record that
/// exists already is left as it is.
pub(crate) async fn record_rejected(
    ctx: &WorkerContext,
    job_id: JobId,
    error: JobError,
) -> Result<(), StoreError> {
    let job = Job::rejected(job_id, error, ctx.clock.now());
    debug_assert_eq!(job.status, JobStatus::Failed);
    match ctx.store.create(&job).await {
        Ok(()) | Err(StoreError::AlreadyExists(_)) => Ok(()),
        Err(error) => Err(error),
    }
}
