//! S3 state authority: the state object and its lock, read with aws-sdk-s3.
//!
//! gf looks the state up itself (before any tofu run) so it can refuse a missing state for a listed
//! key, record the serial and ETag a plan was made against, and report a held lock.

use std::fmt;
use std::future::Future;
use std::time::Duration;

use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_s3::primitives::DateTimeFormat;
use hyper::body::Bytes;
use serde::{Deserialize, Serialize};

use crate::backend::{self, BackendError, S3Location};

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

/// Endpoint, bucket, region and credentials. `Debug` never shows the credentials.
#[derive(Clone)]
pub struct S3Settings {
    /// Where.
    pub location: S3Location,
    /// `TOFU_BACKEND_S3_ACCESS_KEY`.
    pub access_key: String,
    /// `TOFU_BACKEND_S3_SECRET_KEY`.
    pub secret_key: String,
}

impl fmt::Debug for S3Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Settings").field("location", &self.location).finish_non_exhaustive()
    }
}

impl S3Settings {
    /// Read everything from `lookup`, naming every missing variable at once.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>, default_region: &str) -> Result<Self, S3StateError> {
        let get = |k: &str| lookup(k).filter(|v| !v.is_empty());
        let mut missing = Vec::new();
        let location = match S3Location::from_lookup(&lookup, default_region) {
            Ok(l) => Some(l),
            Err(BackendError::Missing(vars)) => {
                missing.extend(vars);
                None
            }
            Err(e) => return Err(e.into()),
        };
        let access_key = get(backend::ENV_ACCESS_KEY);
        let secret_key = get(backend::ENV_SECRET_KEY);
        if access_key.is_none() {
            missing.push(backend::ENV_ACCESS_KEY);
        }
        if secret_key.is_none() {
            missing.push(backend::ENV_SECRET_KEY);
        }
        match (location, access_key, secret_key) {
            (Some(location), Some(access_key), Some(secret_key)) => Ok(Self { location, access_key, secret_key }),
            _ => Err(S3StateError::Missing(missing)),
        }
    }
}

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

/// The real store: aws-sdk-s3 with a custom endpoint, path-style addressing and short timeouts.
#[derive(Debug, Clone)]
pub struct S3Store {
    client: aws_sdk_s3::Client,
    location: S3Location,
}

impl S3Store {
    /// A client for `settings` (no request is made).
    pub fn new(settings: &S3Settings) -> Self {
        let creds = Credentials::new(&settings.access_key, &settings.secret_key, None, None, "gf-environment");
        let https = aws_smithy_http_client::Builder::new()
            .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
                aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
            ))
            .build_https();
        let config = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .http_client(https)
            .endpoint_url(&settings.location.endpoint)
            .region(Region::new(settings.location.region.clone()))
            .force_path_style(true)
            .credentials_provider(creds)
            .retry_config(RetryConfig::standard().with_max_attempts(2))
            // As tofu's `skip_s3_checksum = true`: no aws-chunked trailing checksums on writes,
            // which S3-compatible stores (RustFS, older MinIO) may not speak.
            .request_checksum_calculation(aws_sdk_s3::config::RequestChecksumCalculation::WhenRequired)
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(CONNECT_TIMEOUT)
                    .operation_attempt_timeout(OPERATION_TIMEOUT / 2)
                    .operation_timeout(OPERATION_TIMEOUT)
                    .build(),
            )
            .build();
        Self { client: aws_sdk_s3::Client::from_conf(config), location: settings.location.clone() }
    }

    fn precondition_failed(&self, key: &str, condition: String) -> S3StateError {
        S3StateError::PreconditionFailed {
            endpoint: self.location.endpoint.clone(),
            bucket: self.location.bucket.clone(),
            key: key.to_string(),
            condition,
        }
    }

    fn request_error(&self, key: &str, reason: String) -> S3StateError {
        S3StateError::Request {
            endpoint: self.location.endpoint.clone(),
            bucket: self.location.bucket.clone(),
            key: key.to_string(),
            reason,
        }
    }
}

fn reason_of<E: std::error::Error + aws_sdk_s3::error::ProvideErrorMetadata + 'static>(
    e: &aws_sdk_s3::error::SdkError<E>,
) -> String {
    use aws_sdk_s3::error::SdkError;
    match e {
        SdkError::TimeoutError(_) => {
            format!("no answer within {}s", OPERATION_TIMEOUT.as_secs())
        }
        SdkError::DispatchFailure(d) => {
            let what = if d.is_timeout() { "timed out" } else { "cannot connect" };
            format!("{what}: {}", crate::ui::error_chain(e))
        }
        SdkError::ServiceError(s) => {
            let err = s.err();
            match (err.code(), err.message()) {
                (Some(c), Some(m)) => format!("{c}: {m} (HTTP {})", s.raw().status().as_u16()),
                (Some(c), None) => format!("{c} (HTTP {})", s.raw().status().as_u16()),
                _ => format!("HTTP {}", s.raw().status().as_u16()),
            }
        }
        _ => crate::ui::error_chain(e),
    }
}

impl ObjectStore for S3Store {
    fn location(&self) -> &S3Location {
        &self.location
    }

    async fn get(&self, key: &str) -> Result<Option<Object>, S3StateError> {
        let out = match self.client.get_object().bucket(&self.location.bucket).key(key).send().await {
            Ok(o) => o,
            Err(e) => {
                if e.as_service_error().is_some_and(aws_sdk_s3::operation::get_object::GetObjectError::is_no_such_key) {
                    return Ok(None);
                }
                return Err(self.request_error(key, reason_of(&e)));
            }
        };
        let etag = out.e_tag().map(|t| t.trim_matches('"').to_string());
        let last_modified = out.last_modified().and_then(|d| d.fmt(DateTimeFormat::DateTime).ok());
        let body = out.body.collect().await.map_err(|e| self.request_error(key, e.to_string()))?;
        // One contiguous copy of the segments, moved (not copied again) into the `Vec`.
        let bytes = Vec::from(body.into_bytes());
        Ok(Some(Object { bytes, etag, last_modified }))
    }

    async fn head_bucket(&self) -> Result<(), S3StateError> {
        self.client
            .head_bucket()
            .bucket(&self.location.bucket)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| self.request_error("", reason_of(&e)))
    }

    async fn delete(&self, key: &str) -> Result<(), S3StateError> {
        self.client
            .delete_object()
            .bucket(&self.location.bucket)
            .key(key)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| self.request_error(key, reason_of(&e)))
    }

    async fn put(&self, key: &str, bytes: Bytes, condition: &Precondition) -> Result<Option<String>, S3StateError> {
        let req = self
            .client
            .put_object()
            .bucket(&self.location.bucket)
            .key(key)
            .content_type("application/json")
            .body(aws_sdk_s3::primitives::ByteStream::from(bytes));
        let req = match condition {
            Precondition::Absent => req.if_none_match("*"),
            Precondition::Etag(etag) => req.if_match(format!("\"{etag}\"")),
        };
        match req.send().await {
            Ok(out) => Ok(out.e_tag().map(|t| t.trim_matches('"').to_string())),
            Err(e) if status_of(&e) == Some(412) => Err(self.precondition_failed(key, condition.header())),
            Err(e) => Err(self.request_error(key, reason_of(&e))),
        }
    }
}

/// The HTTP status of a service error (412 for a failed condition), `None` without an answer.
fn status_of<E>(e: &aws_sdk_s3::error::SdkError<E>) -> Option<u16> {
    e.raw_response().map(|r| r.status().as_u16())
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

/// An in-memory object store for unit tests: keys to bytes, with ETags from a counter,
/// conditional writes as S3 does them, every call recorded in order, failures injectable.
#[cfg(test)]
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

#[cfg(test)]
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

#[cfg(test)]
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

/// The lock tofu holds while it writes state (`<key>.tflock`, written with `If-None-Match: *`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct LockInfo {
    /// Lock id.
    pub id: String,
    /// `OperationTypeApply`, `OperationTypePlan`, …
    pub operation: String,
    /// `user@host`.
    pub who: String,
    /// tofu version holding it.
    pub version: String,
    /// When it was taken (RFC 3339).
    pub since: String,
    /// The state path it protects.
    pub path: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct LockFile {
    #[serde(rename = "ID", default)]
    id: String,
    #[serde(default)]
    operation: String,
    #[serde(default)]
    who: String,
    #[serde(default)]
    version: String,
    #[serde(default)]
    created: String,
    #[serde(default)]
    path: String,
}

/// What gf knows about one state object.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct StateFacts {
    /// Endpoint URL.
    pub endpoint: String,
    /// Bucket.
    pub bucket: String,
    /// Object key, exactly as the manifest writes it.
    pub key: String,
    /// Whether the object exists.
    pub exists: bool,
    /// State serial.
    pub serial: Option<u64>,
    /// State lineage.
    pub lineage: Option<String>,
    /// tofu version that wrote it.
    pub terraform_version: Option<String>,
    /// Number of resources (blocks) in the state.
    pub resources: Option<usize>,
    /// Number of resource instances in the state.
    pub instances: Option<usize>,
    /// Object size in bytes.
    pub size: Option<u64>,
    /// Last modified (RFC 3339).
    pub last_modified: Option<String>,
    /// ETag.
    pub etag: Option<String>,
    /// The held lock, if any.
    pub lock: Option<LockInfo>,
}

#[derive(Deserialize)]
struct StateFile {
    serial: u64,
    lineage: String,
    #[serde(default)]
    terraform_version: Option<String>,
    #[serde(default)]
    resources: Vec<StateResource>,
}

#[derive(Deserialize)]
struct StateResource {
    #[serde(default)]
    instances: Vec<serde_json::Value>,
}

/// The lock object's key for a state key.
pub fn lock_key(key: &str) -> String {
    format!("{key}.tflock")
}

/// Read the state object and its lock.
pub async fn facts(store: &impl ObjectStore, key: &str) -> Result<StateFacts, S3StateError> {
    let lock_key = lock_key(key);
    let (state, lock) = futures::join!(store.get(key), store.get(&lock_key));
    let state = state?;
    let lock = lock?;
    let loc = store.location();
    let mut f = StateFacts {
        endpoint: loc.endpoint.clone(),
        bucket: loc.bucket.clone(),
        key: key.to_string(),
        exists: state.is_some(),
        serial: None,
        lineage: None,
        terraform_version: None,
        resources: None,
        instances: None,
        size: None,
        last_modified: None,
        etag: None,
        lock: lock.map(|l| parse_lock(&l.bytes, l.last_modified)),
    };
    if let Some(obj) = state {
        let parsed: StateFile = serde_json::from_slice(&obj.bytes).map_err(|e| S3StateError::BadState {
            bucket: loc.bucket.clone(),
            key: key.to_string(),
            reason: e.to_string(),
        })?;
        f.serial = Some(parsed.serial);
        f.lineage = Some(parsed.lineage);
        f.terraform_version = parsed.terraform_version;
        f.resources = Some(parsed.resources.len());
        f.instances = Some(parsed.resources.iter().map(|r| r.instances.len()).sum());
        f.size = Some(obj.bytes.len() as u64);
        f.last_modified = obj.last_modified;
        f.etag = obj.etag;
    }
    Ok(f)
}

/// A lock object's facts (a lock that is not tofu's JSON is still a held lock).
pub fn parse_lock(bytes: &[u8], last_modified: Option<String>) -> LockInfo {
    // A lock that is not tofu's JSON is still a held lock: report it with what is known.
    match serde_json::from_slice::<LockFile>(bytes) {
        Ok(l) => LockInfo {
            id: l.id,
            operation: l.operation,
            who: l.who,
            version: l.version,
            since: if l.created.is_empty() { last_modified.unwrap_or_default() } else { l.created },
            path: l.path,
        },
        Err(_) => LockInfo {
            id: String::new(),
            operation: "unknown".into(),
            who: "unknown".into(),
            version: String::new(),
            since: last_modified.unwrap_or_default(),
            path: String::new(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_every_missing_variable_and_never_shows_secrets() {
        let err = S3Settings::from_lookup(|_| None, "r").unwrap_err().to_string();
        for v in ["TOFU_BACKEND_S3_ENDPOINT", "TOFU_BACKEND_S3_BUCKET", "TOFU_BACKEND_S3_ACCESS_KEY"] {
            assert!(err.contains(v), "{err}");
        }
        let s = S3Settings::from_lookup(
            |k| Some(if k == "TOFU_BACKEND_S3_BUCKET" { "gf-state".into() } else { format!("SENTINEL-{k}") }),
            "r",
        )
        .unwrap();
        assert!(!format!("{s:?}").contains("SENTINEL-TOFU_BACKEND_S3_SECRET_KEY"));
        let err = S3Settings::from_lookup(|k| (k != "TOFU_BACKEND_S3_SECRET_KEY").then(|| "vvv".into()), "r");
        assert_eq!(err.unwrap_err().to_string(), "the S3 state backend needs `TOFU_BACKEND_S3_SECRET_KEY`: not set");
    }

    #[test]
    fn parses_terraforms_lock_file() {
        let l = parse_lock(
            br#"{"ID":"abc","Operation":"OperationTypeApply","Info":"","Who":"root@box","Version":"1.11.4","Created":"2026-11-27T10:00:00Z","Path":"b/k"}"#,
            None,
        );
        assert_eq!((l.id.as_str(), l.operation.as_str(), l.who.as_str()), ("abc", "OperationTypeApply", "root@box"));
        assert_eq!(l.since, "2026-11-27T10:00:00Z");
        let junk = parse_lock(b"not json", Some("t".into()));
        assert_eq!((junk.who.as_str(), junk.since.as_str()), ("unknown", "t"));
    }
}
