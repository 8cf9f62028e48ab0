//! The binary's version: `version -json`, checked against [`MIN_VERSION`], remembered between
//! runs, and reported for `--dry-run` and `gf doctor`.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use serde::Serialize;

use super::{Located, MIN_VERSION, Source, Tofu, TofuError, locate, render_argv};

impl Tofu {
    /// Run `version -json` and check the version is at least 1.10.
    pub async fn probe(loc: Located) -> Result<Self, TofuError> {
        let version = version_of(&loc.path).await?;
        if !at_least(&version, MIN_VERSION) {
            return Err(TofuError::TooOld { path: loc.path, version });
        }
        Ok(Self { path: loc.path, source: loc.source, version })
    }

    /// Like [`Tofu::probe`], but first looks in `cache` (a JSON file written by
    /// [`Tofu::remember`]) for the version of this binary, keyed by its path, size and
    /// modification time, so a run does not pay for `version -json`.
    pub async fn probe_cached(loc: Located, cache: &Path) -> Result<Self, TofuError> {
        if let Some(stamp) = stamp(&loc.path)
            && let Ok(bytes) = std::fs::read(cache)
            && let Ok(c) = serde_json::from_slice::<VersionCache>(&bytes)
            && c.path == loc.path
            && c.stamp == stamp
            && at_least(&c.version, MIN_VERSION)
        {
            return Ok(Self { path: loc.path, source: loc.source, version: c.version });
        }
        Self::probe(loc).await
    }

    /// Record this binary's version in `cache` for [`Tofu::probe_cached`] (a cache that cannot be
    /// written only costs the next run a `version -json`).
    pub fn remember(&self, cache: &Path) {
        let Some(stamp) = stamp(&self.path) else { return };
        let c = VersionCache { path: self.path.clone(), stamp, version: self.version.clone() };
        if std::fs::read(cache).ok().and_then(|b| serde_json::from_slice::<VersionCache>(&b).ok()).as_ref() == Some(&c)
        {
            return;
        }
        // A `.gf` that is a symbolic link is refused by the stack's local lock; nothing, not even
        // this, is written through it.
        let linked = |d: &Path| std::fs::symlink_metadata(d).is_ok_and(|m| m.file_type().is_symlink());
        if let (Ok(bytes), Some(dir)) = (serde_json::to_vec(&c), cache.parent().filter(|d| !linked(d))) {
            let _ = std::fs::DirBuilder::new().recursive(true).create(dir);
            let _ = std::fs::set_permissions(dir, std::os::unix::fs::PermissionsExt::from_mode(0o700));
            let _ = crate::lifecycle::work::write_private(cache, &bytes);
        }
    }
}

#[derive(Debug, Serialize, serde::Deserialize, PartialEq, Eq)]
struct VersionCache {
    path: PathBuf,
    stamp: (u64, u128),
    version: String,
}

/// Size and modification time (ns) of the binary (the symlink target's).
fn stamp(path: &Path) -> Option<(u64, u128)> {
    let m = std::fs::metadata(path).ok()?;
    let mtime = m.modified().ok()?.duration_since(std::time::UNIX_EPOCH).ok()?.as_nanos();
    Some((m.len(), mtime))
}

/// `<bin> version -json` → `terraform_version` (OpenTofu uses the same field).
pub async fn version_of(path: &Path) -> Result<String, TofuError> {
    let argv = render_argv(path, &["version".into(), "-json".into()]);
    let out = tokio::process::Command::new(path)
        .args(["version", "-json"])
        .stdin(Stdio::null())
        .output()
        .await
        .map_err(|source| TofuError::Spawn { argv: argv.clone(), source })?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(TofuError::Version { argv, reason: format!("{}: {}", out.status, last_lines(&err, 3)) });
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .map_err(|e| TofuError::Version { argv: argv.clone(), reason: format!("not JSON: {e}") })?;
    v.get("terraform_version")
        .and_then(serde_json::Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| TofuError::Version { argv, reason: "no `terraform_version` field".into() })
}

fn last_lines(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..].join(" / ")
}

/// Whether `version` (`1.11.4`, `v1.10.0-beta1`) is at least `min`.
pub fn at_least(version: &str, min: (u64, u64)) -> bool {
    let mut parts = version.trim_start_matches('v').split(['.', '-']).map(|p| p.parse::<u64>().ok());
    match (parts.next().flatten(), parts.next().flatten()) {
        (Some(major), Some(minor)) => (major, minor) >= min,
        _ => false,
    }
}

/// What `--dry-run` and `gf doctor` say about the binary (never fails).
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The binary, if found.
    pub path: Option<String>,
    /// Where it came from.
    pub source: Option<Source>,
    /// Its version, if it answered.
    pub version: Option<String>,
    /// `ok`, or what is wrong.
    pub status: String,
    /// What is usable but not as it should be (Terraform instead of OpenTofu).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
}

impl Report {
    /// Whether the binary is usable.
    pub fn ok(&self) -> bool {
        self.status.starts_with("ok")
    }
}

/// Locate and ask the binary for its version, reporting instead of failing.
pub async fn report(lookup: impl Fn(&str) -> Option<String>) -> Report {
    match locate(lookup) {
        Err(e) => Report { path: None, source: None, version: None, status: format!("not found: {e}"), warning: None },
        Ok(loc) => {
            let path = Some(loc.path.display().to_string());
            let source = Some(loc.source);
            match version_of(&loc.path).await {
                Ok(v) if at_least(&v, MIN_VERSION) => {
                    let warning = (loc.source == Source::PathTerraform).then(|| {
                        "Terraform, not OpenTofu: set `GF_TOFU` or use `nix develop` for the pinned tofu".to_string()
                    });
                    Report { path, source, version: Some(v), status: "ok".into(), warning }
                }
                Ok(v) => {
                    Report { path, source, version: Some(v), status: "too old: gf needs >= 1.10".into(), warning: None }
                }
                Err(e) => Report { path, source, version: None, status: format!("unusable: {e}"), warning: None },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_compare_by_major_and_minor() {
        assert!(at_least("1.10.0", (1, 10)));
        assert!(at_least("1.11.4", (1, 10)));
        assert!(at_least("v1.10.0-beta1", (1, 10)));
        assert!(at_least("2.0.0", (1, 10)));
        assert!(!at_least("1.9.9", (1, 10)));
        assert!(!at_least("garbage", (1, 10)));
    }
}
