//! The object store seam: what gf asks of an S3-compatible store.

use std::future::Future;

use hyper::body::Bytes;

use super::S3StateError;
use crate::backend::S3Location;

/// One object read from the store.
#[derive(Debug, Clone, Default)]
pub struct Object {
    /// The body.
    pub bytes: Vec<u8>,
    /// ETag as the store sends it (quotes removed).
    pub etag: Option<String>,
    /// Last modified, RFC 3339.
    pub last_modified: Option<String>,
}

/// When a write may land (S3 conditional writes; a failed condition is
/// [`S3StateError::PreconditionFailed`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Precondition {
    /// Only if no object exists at the key (`If-None-Match: *`): how tofu takes `<key>.tflock`.
    Absent,
    /// Only if the object's ETag is this one (`If-Match`): an overwrite of exactly what was read.
    Etag(String),
}

impl Precondition {
    /// The header as sent, for messages.
    pub fn header(&self) -> String {
        match self {
            Self::Absent => "`If-None-Match: *`".into(),
            Self::Etag(e) => format!("`If-Match: \"{e}\"`"),
        }
    }
}

/// The seam between gf and an S3-compatible store.
pub trait ObjectStore: Send + Sync {
    /// `endpoint` and bucket, for messages.
    fn location(&self) -> &S3Location;
    /// The object at `key`, `None` when it does not exist.
    fn get(&self, key: &str) -> impl Future<Output = Result<Option<Object>, S3StateError>> + Send;
    /// Whether the bucket answers.
    fn head_bucket(&self) -> impl Future<Output = Result<(), S3StateError>> + Send;
    /// Delete the object at `key` (no error when it does not exist).
    fn delete(&self, key: &str) -> impl Future<Output = Result<(), S3StateError>> + Send;
    /// Write `bytes` (`application/json`) at `key` if `condition` holds; the new ETag when the
    /// store sends one. `Bytes`, so a caller keeping the body (to compare it) shares, not copies, it.
    fn put(
        &self,
        key: &str,
        bytes: Bytes,
        condition: &Precondition,
    ) -> impl Future<Output = Result<Option<String>, S3StateError>> + Send;
}

impl<T: ObjectStore> ObjectStore for std::sync::Arc<T> {
    fn location(&self) -> &S3Location {
        (**self).location()
    }

    async fn get(&self, key: &str) -> Result<Option<Object>, S3StateError> {
        (**self).get(key).await
    }

    async fn head_bucket(&self) -> Result<(), S3StateError> {
        (**self).head_bucket().await
    }

    async fn delete(&self, key: &str) -> Result<(), S3StateError> {
        (**self).delete(key).await
    }

    async fn put(&self, key: &str, bytes: Bytes, condition: &Precondition) -> Result<Option<String>, S3StateError> {
        (**self).put(key, bytes, condition).await
    }
}
