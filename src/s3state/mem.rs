//! An in-memory object store for unit tests.

use hyper::body::Bytes;

use super::{Object, ObjectStore, Precondition, S3StateError};
use crate::backend::S3Location;

/// An in-memory object store for unit tests: keys to bytes, with ETags from a counter,
/// conditional writes as S3 does them, every call recorded in order, failures injectable.
#[derive(Debug, Default)]
pub struct MemStore {
    location: S3Location,
    objects: std::sync::Mutex<std::collections::BTreeMap<String, Object>>,
    counter: std::sync::atomic::AtomicU64,
    /// When set, every request fails with this reason (an unreachable endpoint).
    pub down: Option<String>,
    /// `get k`, `put k`, `delete k`, in order.
    pub calls: std::sync::Mutex<Vec<String>>,
    /// Keys whose reads fail with a request error.
    pub failing_gets: std::sync::Mutex<Vec<String>>,
    /// Keys whose conditional writes fail with a request error.
    pub failing_puts: std::sync::Mutex<Vec<String>>,
    /// After a conditional write to this key, its bytes are these instead (a store that corrupts).
    pub tamper: std::sync::Mutex<Option<(String, Vec<u8>)>>,
}

impl MemStore {
    /// An empty store at `http://mem` bucket `b`.
    pub fn new() -> Self {
        Self {
            location: S3Location { endpoint: "http://mem".into(), bucket: "b".into(), region: "r".into() },
            ..Self::default()
        }
    }

    /// A store whose every request fails with `reason` (an unreachable endpoint).
    pub fn down(reason: &str) -> Self {
        Self { down: Some(reason.to_string()), ..Self::new() }
    }

    /// Put `bytes` at `key`.
    pub fn put(&self, key: &str, bytes: &[u8]) {
        let n = self.counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let obj = Object { bytes: bytes.to_vec(), etag: Some(format!("etag-{n}")), last_modified: None };
        if let Ok(mut m) = self.objects.lock() {
            m.insert(key.to_string(), obj);
        }
    }

    /// The object at `key` (not recorded as a call).
    pub fn object(&self, key: &str) -> Option<Object> {
        self.objects.lock().ok().and_then(|m| m.get(key).cloned())
    }

    /// The calls so far.
    pub fn calls(&self) -> Vec<String> {
        self.calls.lock().map(|c| c.clone()).unwrap_or_default()
    }

    fn record(&self, call: &str, key: &str, failing: &std::sync::Mutex<Vec<String>>) -> Result<(), S3StateError> {
        if let Ok(mut c) = self.calls.lock() {
            c.push(format!("{call} {key}"));
        }
        if failing.lock().is_ok_and(|f| f.iter().any(|k| k == key)) {
            return Err(S3StateError::Request {
                endpoint: self.location.endpoint.clone(),
                bucket: self.location.bucket.clone(),
                key: key.to_string(),
                reason: "injected failure".into(),
            });
        }
        self.fail(key)
    }

    fn fail(&self, key: &str) -> Result<(), S3StateError> {
        match &self.down {
            Some(reason) => Err(S3StateError::Request {
                endpoint: self.location.endpoint.clone(),
                bucket: self.location.bucket.clone(),
                key: key.to_string(),
                reason: reason.clone(),
            }),
            None => Ok(()),
        }
    }
}

impl ObjectStore for MemStore {
    fn location(&self) -> &S3Location {
        &self.location
    }

    async fn get(&self, key: &str) -> Result<Option<Object>, S3StateError> {
        self.record("get", key, &self.failing_gets)?;
        Ok(self.objects.lock().ok().and_then(|m| m.get(key).cloned()))
    }

    async fn head_bucket(&self) -> Result<(), S3StateError> {
        self.fail("")
    }

    async fn delete(&self, key: &str) -> Result<(), S3StateError> {
        self.record("delete", key, &std::sync::Mutex::default())?;
        if let Ok(mut m) = self.objects.lock() {
            m.remove(key);
        }
        Ok(())
    }

    async fn put(&self, key: &str, bytes: Bytes, condition: &Precondition) -> Result<Option<String>, S3StateError> {
        self.record("put", key, &self.failing_puts)?;
        let Ok(mut objects) = self.objects.lock() else { return Ok(None) };
        let holds = match (condition, objects.get(key)) {
            (Precondition::Absent, existing) => existing.is_none(),
            (Precondition::Etag(e), Some(o)) => o.etag.as_deref() == Some(e.as_str()),
            (Precondition::Etag(_), None) => false,
        };
        if !holds {
            return Err(S3StateError::PreconditionFailed {
                endpoint: self.location.endpoint.clone(),
                bucket: self.location.bucket.clone(),
                key: key.to_string(),
                condition: condition.header(),
            });
        }
        let n = self.counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let etag = format!("etag-{n}");
        let bytes = match self.tamper.lock().ok().and_then(|t| t.clone()) {
            Some((k, b)) if k == key => b,
            _ => bytes.to_vec(),
        };
        objects.insert(key.to_string(), Object { bytes, etag: Some(etag.clone()), last_modified: None });
        Ok(Some(etag))
    }
}
