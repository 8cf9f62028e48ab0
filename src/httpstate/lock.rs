//! tofu's lock JSON, and the id and holder name of the locks gf takes.

use std::io::Read as _;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

/// tofu's lock information (`statemgr.LockInfo`): the body of a lock request, what a server
/// answers about the holder, and the content of an S3 `<key>.tflock`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct LockRecord {
    /// Lock id (a UUID).
    #[serde(rename = "ID", default)]
    pub id: String,
    /// What holds it.
    #[serde(default)]
    pub operation: String,
    /// Free text.
    #[serde(default)]
    pub info: String,
    /// `user@host`.
    #[serde(default)]
    pub who: String,
    /// Version of the holder.
    #[serde(default)]
    pub version: String,
    /// When (RFC 3339).
    #[serde(default)]
    pub created: String,
    /// The state it protects.
    #[serde(default)]
    pub path: String,
}

impl LockRecord {
    /// A new lock by gf, `who` as `user@host`, now, with a fresh random id.
    pub fn new(operation: &str, info: String, who: String, path: String) -> std::io::Result<Self> {
        Ok(Self {
            id: random_uuid()?,
            operation: operation.into(),
            info,
            who,
            version: concat!("gf ", env!("CARGO_PKG_VERSION")).into(),
            created: humantime::format_rfc3339_nanos(SystemTime::now()).to_string(),
            path,
        })
    }

    /// `who (operation) since created, id ID` with what is known.
    pub fn describe(&self) -> String {
        use std::fmt::Write as _;
        let mut s = if self.who.is_empty() { "an unknown holder".to_string() } else { format!("`{}`", self.who) };
        if !self.operation.is_empty() {
            let _ = write!(s, " ({})", self.operation);
        }
        if !self.created.is_empty() {
            let _ = write!(s, " since {}", self.created);
        }
        if !self.id.is_empty() {
            let _ = write!(s, ", lock id `{}`", self.id);
        }
        s
    }

    /// The JSON body.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// A random (version 4) UUID from the system's random source.
fn random_uuid() -> std::io::Result<String> {
    let mut b = [0u8; 16];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut b)?;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = crate::backend::hex(&b);
    Ok(format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..]))
}

/// The `user@host` a lock names: `USER` (else `LOGNAME`) and the kernel's host name.
pub fn who(lookup: impl Fn(&str) -> Option<String>) -> String {
    let user = lookup("USER").or_else(|| lookup("LOGNAME")).filter(|u| !u.is_empty()).unwrap_or_else(|| "gf".into());
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| lookup("HOSTNAME"))
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown".into());
    format!("{user}@{host}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_records_are_tofus_json() {
        let r = LockRecord::new("migrate", "to s3".into(), "me@box".into(), "b/k".into()).unwrap();
        let v: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap();
        for k in ["ID", "Operation", "Info", "Who", "Version", "Created", "Path"] {
            assert!(v.get(k).is_some(), "{k} missing: {v}");
        }
        assert_eq!(r.id.len(), 36);
        assert_eq!(&r.id[14..15], "4");
        assert_ne!(r.id, LockRecord::new("m", String::new(), String::new(), String::new()).unwrap().id);
        assert!(humantime::parse_rfc3339(&r.created).is_ok(), "{}", r.created);
        assert_eq!(r.describe(), format!("`me@box` (migrate) since {}, lock id `{}`", r.created, r.id));
    }
}
