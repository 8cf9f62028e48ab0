//! What gf knows about a state object: its serial, lineage and size, and the lock tofu holds.

use serde::{Deserialize, Serialize};

use super::{ObjectStore, S3StateError};

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
