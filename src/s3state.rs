//! S3 state authority: the state object and its lock, read with aws-sdk-s3.
//!
//! gf looks the state up itself (before any tofu run) so it can refuse a missing state for a listed
//! key, record the serial and ETag a plan was made against, and report a held lock.

use std::time::Duration;

use crate::backend::BackendError;

mod aws;
mod facts;
#[cfg(test)]
mod mem;
mod settings;
mod store;

pub use aws::S3Store;
pub use facts::{LockInfo, StateFacts, facts, lock_key, parse_lock};
#[cfg(test)]
pub use mem::MemStore;
pub use settings::S3Settings;
pub use store::{Object, ObjectStore, Precondition};

/// How long connecting to the S3 endpoint may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// How long one S3 operation (all attempts) may take.
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(8);

/// Errors of reading state from S3.
#[derive(Debug, thiserror::Error)]
pub enum S3StateError {
    /// Endpoint, bucket or credentials unset.
    #[error("the S3 state backend needs {}: not set", missing_list(.0))]
    Missing(Vec<&'static str>),
    /// Rendering the location.
    #[error(transparent)]
    Backend(#[from] BackendError),
    /// The endpoint did not answer (or answered with an error).
    #[error("cannot read `s3://{bucket}/{key}` from the S3 endpoint `{endpoint}`: {reason}")]
    Request {
        /// Endpoint URL.
        endpoint: String,
        /// Bucket.
        bucket: String,
        /// Object key (or empty for the bucket itself).
        key: String,
        /// What went wrong.
        reason: String,
    },
    /// A conditional write found the object not as required (HTTP 412): it exists for a create,
    /// or its ETag differs for an overwrite.
    #[error("`s3://{bucket}/{key}` at `{endpoint}`: {condition} did not hold (HTTP 412): the object changed")]
    PreconditionFailed {
        /// Endpoint URL.
        endpoint: String,
        /// Bucket.
        bucket: String,
        /// Object key.
        key: String,
        /// The condition, e.g. `If-None-Match: *`.
        condition: String,
    },
    /// The state object is not a state file.
    #[error("`s3://{bucket}/{key}` is not a tofu state file: {reason}")]
    BadState {
        /// Bucket.
        bucket: String,
        /// Object key.
        key: String,
        /// The parse error.
        reason: String,
    },
}

fn missing_list(vars: &[&str]) -> String {
    vars.iter().map(|v| format!("`{v}`")).collect::<Vec<_>>().join(", ")
}
