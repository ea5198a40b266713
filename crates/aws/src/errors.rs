//! Small helpers shared by the adapters for turning SDK errors into text.

use std::error::Error;

use aws_sdk_sqs::error::DisplayErrorContext;

/// The whole chain of `err` (the SDK's top-level `Display` says little more than "service
/// error"), for the `Unavailable(..)` variants and logs.
pub(crate) fn chain(err: &(dyn Error + 'static)) -> String {
    DisplayErrorContext(err).to_string()
}
