//! gf's per-stack working folder `.gf/<env>/<stack>/`: the rendered backend file, tofu's data
//! folder, the init record and the saved plan with its metadata. Gitignored; files are 0600.

use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::render::Changes;

/// Errors of gf's working files.
#[derive(Debug, thiserror::Error)]
pub enum WorkError {
    /// Reading or writing a file.
    #[error("cannot {action} `{path}`: {source}")]
    Io {
        /// `read`, `write`, `remove`, `create`.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A metadata file that does not parse.
    #[error("`{path}` is not gf plan metadata: {reason}; run `gf plan` again")]
    BadMeta {
        /// The file.
        path: PathBuf,
        /// The parse error.
        reason: String,
    },
}

/// `.gf/<env>/<stack>/` of one stack.
#[derive(Debug, Clone)]
pub struct Work {
    /// The folder (absolute).
    pub dir: PathBuf,
}

impl Work {
    /// The folder of `stack` in `env` under `root`.
    pub fn new(root: &Path, env: &str, stack: &str) -> Self {
        Self { dir: root.join(".gf").join(env).join(stack) }
    }

    /// The rendered backend file.
    pub fn backend_file(&self, file_name: &str) -> PathBuf {
        self.dir.join(file_name)
    }

    /// tofu's data folder (`TF_DATA_DIR`): one per environment, so switching environments never
    /// re-initializes another one's backend.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.join(".terraform")
    }

    /// The saved plan.
    pub fn plan_file(&self) -> PathBuf {
        self.dir.join("plan.tfplan")
    }

    /// The saved plan's metadata.
    pub fn plan_meta(&self) -> PathBuf {
        self.dir.join("plan.json")
    }

    /// What the last successful init was made against.
    pub fn init_record(&self) -> PathBuf {
        self.dir.join("init.json")
    }

    /// Create the folder (0700).
    pub fn create(&self) -> Result<(), WorkError> {
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(&self.dir).map_err(|source| WorkError::Io {
            action: "create",
            path: self.dir.clone(),
            source,
        })
    }

    /// Remove the saved plan and its metadata (a plan is applied at most once).
    pub fn remove_plan(&self) -> Result<(), WorkError> {
        for p in [self.plan_meta(), self.plan_file()] {
            match std::fs::remove_file(&p) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => return Err(WorkError::Io { action: "remove", path: p, source }),
            }
        }
        Ok(())
    }
}

/// Write `bytes` to `path` with mode 0600 (replacing it).
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<(), WorkError> {
    let io = |source| WorkError::Io { action: "write", path: path.to_path_buf(), source };
    let tmp = path.with_extension("tmp");
    let mut f =
        std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp).map_err(io)?;
    f.write_all(bytes).map_err(io)?;
    f.sync_all().map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}

/// Read a JSON file; `None` when it does not exist.
pub fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<Option<T>, WorkError> {
    match std::fs::read(path) {
        Ok(b) => serde_json::from_slice(&b)
            .map(Some)
            .map_err(|e| WorkError::BadMeta { path: path.to_path_buf(), reason: e.to_string() }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(WorkError::Io { action: "read", path: path.to_path_buf(), source }),
    }
}

/// What an init was made against: a matching record lets gf skip a needless re-init.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct InitRecord {
    /// SHA-256 of the backend file.
    pub backend_digest: String,
    /// The tofu binary.
    pub tofu_path: PathBuf,
    /// Its version.
    pub tofu_version: String,
}

/// The state a plan was made against.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct StateAtPlan {
    /// Whether the state object existed.
    pub exists: bool,
    /// Its serial.
    pub serial: Option<u64>,
    /// Its lineage.
    pub lineage: Option<String>,
    /// Its ETag.
    pub etag: Option<String>,
}

/// `plan.json`: everything `apply` checks before it applies the saved plan.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PlanMeta {
    /// Stack name.
    pub stack: String,
    /// Environment.
    pub env: String,
    /// The state key.
    pub state_key: String,
    /// The tofu binary.
    pub tofu_path: PathBuf,
    /// Its version.
    pub tofu_version: String,
    /// SHA-256 of the backend file.
    pub backend_digest: String,
    /// `git rev-parse HEAD` of the repository, when it is one.
    pub git_revision: Option<String>,
    /// The state when the plan was made.
    pub state: StateAtPlan,
    /// `--allow-empty-state` was given: the apply accepts a still-absent state.
    pub allow_empty_state: bool,
    /// When (RFC 3339, UTC).
    pub created: String,
    /// The plan's resource changes.
    pub changes: Option<Changes>,
}

/// RFC 3339 UTC timestamp of now.
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

/// `git rev-parse HEAD` in `root`, or `None` outside a repository or without git.
pub fn git_revision(root: &Path) -> Option<String> {
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(root)
        .args(["rev-parse", "--verify", "-q", "HEAD"])
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    let rev = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (out.status.success() && !rev.is_empty()).then_some(rev)
}
