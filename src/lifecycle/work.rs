//! gf's per-stack working folder `.gf/<env>/<stack>/`: the rendered backend file, tofu's data
//! folder, the init record, the saved plan with its metadata, an adopted `errored.tfstate`, and the
//! local lock that keeps two gf runs in one checkout off the same stack. Gitignored; folders are
//! 0700 and files 0600 whatever the umask (existing folders are tightened too).

use std::io::{Read as _, Write as _};
use std::os::unix::fs::{DirBuilderExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

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
    /// `.gf`, `.gf/<env>` or `.gf/<env>/<stack>` is a symbolic link: saved plans (which hold
    /// variable values) and tofu's data would land wherever it points.
    #[error(
        "`{path}` is a symbolic link: gf keeps plans and tofu's data only inside the repository; remove the link (gf creates the folder itself, 0700)"
    )]
    Symlink {
        /// The link.
        path: PathBuf,
    },
    /// Another gf run holds the stack's local lock.
    #[error(
        "another gf run in this checkout holds `{stack}` in `{env}` ({holder}); wait for it, or pass `--lock-wait DURATION`"
    )]
    Busy {
        /// The stack.
        stack: String,
        /// The environment.
        env: String,
        /// Who holds it (pid, command, since), as it recorded itself.
        holder: String,
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

    /// `errored.tfstate` adopted from the stack folder.
    pub fn errored_state(&self) -> PathBuf {
        self.dir.join(ERRORED_STATE)
    }

    /// The local lock file.
    pub fn lock_file(&self) -> PathBuf {
        self.dir.join(".lock")
    }

    /// Create the folder and its parents up to `.gf` with mode 0700, tightening existing ones.
    pub fn create(&self) -> Result<(), WorkError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| WorkError::Io { action: "create", path, source }
        };
        // Checked before anything is created, so nothing is written through a link.
        self.refuse_links()?;
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(&self.dir).map_err(io(&self.dir))?;
        // `.gf`, `.gf/<env>` and `.gf/<env>/<stack>`: a umask or an earlier tool may have left them wider.
        for d in self.dir.ancestors().take(3) {
            std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o700)).map_err(io(d))?;
        }
        Ok(())
    }

    /// [`WorkError::Symlink`] when `.gf`, `.gf/<env>` or `.gf/<env>/<stack>` is a symbolic link
    /// (the dry run asks too, so it refuses where the run does).
    pub fn refuse_links(&self) -> Result<(), WorkError> {
        match self
            .dir
            .ancestors()
            .take(3)
            .find(|d| std::fs::symlink_metadata(d).is_ok_and(|m| m.file_type().is_symlink()))
        {
            Some(d) => Err(WorkError::Symlink { path: d.to_path_buf() }),
            None => Ok(()),
        }
    }

    /// Take the stack's local lock, waiting up to `wait` for another gf run to let go.
    pub fn lock(&self, stack: &str, env: &str, command: &str, wait: Duration) -> Result<LocalLock, WorkError> {
        self.create()?;
        let path = self.lock_file();
        let io = |source| WorkError::Io { action: "lock", path: path.clone(), source };
        let mut file =
            std::fs::OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&path).map_err(io)?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).map_err(io)?;
        let deadline = Instant::now() + wait;
        loop {
            match file.try_lock() {
                Ok(()) => break,
                Err(std::fs::TryLockError::WouldBlock) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(std::fs::TryLockError::WouldBlock) => {
                    return Err(WorkError::Busy {
                        stack: stack.to_string(),
                        env: env.to_string(),
                        holder: holder_of(&mut file),
                    });
                }
                Err(std::fs::TryLockError::Error(e)) => return Err(io(e)),
            }
        }
        let me = format!(
            "pid {}, `{command}`, since {}",
            std::process::id(),
            humantime::format_rfc3339_seconds(std::time::SystemTime::now())
        );
        file.set_len(0).and_then(|()| file.write_all(me.as_bytes())).map_err(io)?;
        Ok(LocalLock { _file: file })
    }

    /// Who holds the local lock right now, if anyone (the dry run's probe: takes and drops it).
    pub fn lock_holder(&self) -> Option<String> {
        let mut file = std::fs::OpenOptions::new().read(true).write(true).open(self.lock_file()).ok()?;
        match file.try_lock() {
            Ok(()) => None,
            Err(_) => Some(holder_of(&mut file)),
        }
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

/// The file tofu leaves in its working folder (the stack folder) when it cannot save state after
/// an apply: then the only copy of the real state.
pub const ERRORED_STATE: &str = "errored.tfstate";

/// The stack's local lock, held until dropped (the OS releases it if gf dies).
#[derive(Debug)]
pub struct LocalLock {
    _file: std::fs::File,
}

fn holder_of(file: &mut std::fs::File) -> String {
    let mut text = String::new();
    let _ = file.read_to_string(&mut text);
    let text = text.trim();
    if text.is_empty() { "holder unknown".to_string() } else { text.chars().take(200).collect() }
}

/// Write `bytes` to `path` with mode 0600, atomically: a uniquely named temporary file in the same
/// folder, synced, then renamed over `path` (two runs never share a temporary name, and a crash
/// leaves either the old file or the new one).
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<(), WorkError> {
    let io = |source| WorkError::Io { action: "write", path: path.to_path_buf(), source };
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new().prefix(".tmp-").tempfile_in(dir).map_err(io)?;
    tmp.as_file().set_permissions(std::fs::Permissions::from_mode(0o600)).map_err(io)?;
    tmp.write_all(bytes).map_err(io)?;
    tmp.as_file().sync_all().map_err(io)?;
    tmp.persist(path).map_err(|e| io(e.error))?;
    Ok(())
}

/// Move a file tofu wrote (under a unique name) to its final name, 0600.
pub fn adopt_file(from: &Path, to: &Path) -> Result<(), WorkError> {
    let io = |source| WorkError::Io { action: "save", path: to.to_path_buf(), source };
    std::fs::set_permissions(from, std::fs::Permissions::from_mode(0o600)).map_err(io)?;
    std::fs::rename(from, to).map_err(io)
}

/// SHA-256 (hex) of a file's bytes.
pub fn file_digest(path: &Path) -> Result<String, WorkError> {
    let bytes =
        std::fs::read(path).map_err(|source| WorkError::Io { action: "read", path: path.to_path_buf(), source })?;
    Ok(crate::backend::hex(&Sha256::digest(&bytes)))
}

/// The digest a var file that does not exist is recorded with.
pub const ABSENT: &str = "absent";

/// SHA-256 (hex) of a var file, or [`ABSENT`] when there is none.
pub fn var_file_digest(path: &Path) -> Result<String, WorkError> {
    match file_digest(path) {
        Err(WorkError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => Ok(ABSENT.into()),
        other => other,
    }
}

/// A unique name beside `path` for a file tofu writes before gf adopts it (`plan -out`).
pub fn unique_sibling(path: &Path) -> PathBuf {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let name = path.file_name().map_or_else(|| "file".into(), |f| f.to_string_lossy().into_owned());
    path.with_file_name(format!(".{name}.{}-{n}", std::process::id()))
}

/// Move `errored.tfstate` from `stack_dir` into `work` (0600); `Ok(None)` when there is none. An
/// adopted one already there is never overwritten: the new one then stays where tofu wrote it,
/// made 0600, and the error says so.
pub fn adopt_errored_state(stack_dir: &Path, work: &Work) -> Result<Option<PathBuf>, WorkError> {
    let stray = stack_dir.join(ERRORED_STATE);
    if !stray.is_file() {
        return Ok(None);
    }
    let io = |action, path: &Path| {
        let path = path.to_path_buf();
        move |source| WorkError::Io { action, path, source }
    };
    std::fs::set_permissions(&stray, std::fs::Permissions::from_mode(0o600)).map_err(io("protect", &stray))?;
    let dest = work.errored_state();
    if dest.exists() {
        return Err(WorkError::Io {
            action: "adopt",
            path: stray,
            source: std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                format!("`{}` already holds an earlier errored state; push or remove that one first", dest.display()),
            ),
        });
    }
    work.create()?;
    let bytes = std::fs::read(&stray).map_err(io("read", &stray))?;
    write_private(&dest, &bytes)?;
    std::fs::remove_file(&stray).map_err(io("remove", &stray))?;
    Ok(Some(dest))
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
    /// A destroy plan (`gf plan --destroy`): its apply passes `destroy-confirmation`.
    #[serde(default)]
    pub destroy: bool,
    /// SHA-256 of `plan.tfplan` as tofu wrote it: a swapped plan file is stale.
    #[serde(default)]
    pub plan_digest: String,
    /// The var files the plan read — the environment's `<env>.tfvars` (recorded as [`ABSENT`] when
    /// there was none) and every `-- -var-file` — with their SHA-256 taken before tofu ran.
    #[serde(default)]
    pub var_files: Vec<VarFile>,
    /// The `TF_VAR_*` names (never values) set in gf's environment for the stack's variables.
    #[serde(default)]
    pub env_vars: Vec<String>,
}

/// A var file a plan read, and its digest then.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct VarFile {
    /// The path as passed to tofu (relative to the stack folder when relative).
    pub path: PathBuf,
    /// SHA-256 of its bytes at plan time ([`ABSENT`]: it did not exist).
    pub sha256: String,
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
