//! Locating and running tofu (or terraform).
//!
//! tofu runs in its own process group, so a Ctrl-C at the terminal, a CI cancel or a hang-up
//! reaches gf only. On the first SIGINT, SIGTERM or SIGHUP gf sends one SIGINT to that group (as a
//! terminal's Ctrl-C would: tofu stops gracefully, saves state and releases its lock; a running
//! `local-exec` is interrupted too) and waits for tofu to exit. A second signal kills the group.
//! Output is read as bytes, line by line, and always drained to the end (a line that is not UTF-8
//! is passed on as it is, never ends the read), so tofu never dies of a broken pipe. tofu runs with
//! umask 077: every file it writes (plans, `errored.tfstate`, its data folder) is private.

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use serde::Serialize;
use tokio::io::{AsyncBufReadExt as _, AsyncRead, BufReader};
use tokio::sync::mpsc;

use crate::process::{StderrTail, render_tail};

/// The oldest tofu/terraform with `use_lockfile` in the S3 backend.
pub const MIN_VERSION: (u64, u64) = (1, 10);
/// Lines of stderr kept for an error message.
const TAIL_LINES: usize = 12;

/// Errors of locating or running tofu.
#[derive(Debug, thiserror::Error)]
pub enum TofuError {
    /// No binary anywhere.
    #[error(
        "no tofu binary: set `GF_TOFU`, or put `tofu` (OpenTofu >= 1.10) or `terraform` (>= 1.10) on `PATH` (`nix develop` provides one)"
    )]
    NotFound,
    /// `GF_TOFU` (or the baked-in path) names nothing runnable.
    #[error("`{path}` (from {source_name}) is not an executable file")]
    NotExecutable {
        /// The path.
        path: PathBuf,
        /// Where it came from.
        source_name: &'static str,
    },
    /// The binary could not be started.
    #[error("cannot run `{argv}`: {source}")]
    Spawn {
        /// The command line.
        argv: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// `version -json` did not answer as expected.
    #[error("`{argv}` did not report a version: {reason}")]
    Version {
        /// The command line.
        argv: String,
        /// What was wrong.
        reason: String,
    },
    /// Older than 1.10.
    #[error(
        "`{path}` is version {version}; gf needs OpenTofu or Terraform >= 1.10 (for the S3 backend's `use_lockfile`)"
    )]
    TooOld {
        /// The binary.
        path: PathBuf,
        /// Its version.
        version: String,
    },
    /// Non-zero exit.
    #[error("`{argv}` failed ({status}){}", render_tail(.tail))]
    Failed {
        /// The command line.
        argv: String,
        /// Exit status description.
        status: String,
        /// The last error lines.
        tail: Vec<String>,
    },
    /// Stopped by a signal gf forwarded.
    #[error("`{argv}` was interrupted ({signal}); tofu stopped and released its lock")]
    Interrupted {
        /// The command line.
        argv: String,
        /// `SIGINT`, `SIGTERM` or `SIGHUP`.
        signal: &'static str,
    },
}

/// Where the binary came from (SPEC order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Source {
    /// `GF_TOFU`.
    GfTofu,
    /// The path baked in at build time (`GF_BAKED_TOFU`, set by the Nix package).
    Baked,
    /// `tofu` on `PATH`.
    PathTofu,
    /// `terraform` on `PATH` (warned about).
    PathTerraform,
}

impl Source {
    /// A phrase for messages.
    pub fn describe(self) -> &'static str {
        match self {
            Self::GfTofu => "`GF_TOFU`",
            Self::Baked => "the path baked in by Nix",
            Self::PathTofu => "`tofu` on `PATH`",
            Self::PathTerraform => "`terraform` on `PATH`",
        }
    }
}

/// A located binary (not yet run).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    /// Absolute (or as given) path.
    pub path: PathBuf,
    /// Where it came from.
    pub source: Source,
}

/// The baked-in path, if the build set one.
pub fn baked() -> Option<&'static str> {
    option_env!("GF_BAKED_TOFU").filter(|p| !p.is_empty())
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    p.metadata().is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

fn on_path(name: &str, path_var: Option<&str>) -> Option<PathBuf> {
    std::env::split_paths(path_var?).map(|d| d.join(name)).find(|p| is_executable(p))
}

/// Find the binary: `GF_TOFU`, the baked-in path, `tofu` on `PATH`, then `terraform` on `PATH`.
pub fn locate(lookup: impl Fn(&str) -> Option<String>) -> Result<Located, TofuError> {
    if let Some(p) = lookup("GF_TOFU").filter(|v| !v.is_empty()) {
        let path = PathBuf::from(p);
        // A bare name in GF_TOFU is looked up on PATH like a shell would.
        let path = if path.components().count() == 1 {
            on_path(&path.to_string_lossy(), lookup("PATH").as_deref()).unwrap_or(path)
        } else {
            path
        };
        return if is_executable(&path) {
            Ok(Located { path, source: Source::GfTofu })
        } else {
            Err(TofuError::NotExecutable { path, source_name: "`GF_TOFU`" })
        };
    }
    if let Some(p) = baked() {
        let path = PathBuf::from(p);
        return if is_executable(&path) {
            Ok(Located { path, source: Source::Baked })
        } else {
            Err(TofuError::NotExecutable { path, source_name: "the path baked in by Nix" })
        };
    }
    let path_var = lookup("PATH");
    if let Some(path) = on_path("tofu", path_var.as_deref()) {
        return Ok(Located { path, source: Source::PathTofu });
    }
    if let Some(path) = on_path("terraform", path_var.as_deref()) {
        return Ok(Located { path, source: Source::PathTerraform });
    }
    Err(TofuError::NotFound)
}

/// A located binary with its version checked.
#[derive(Debug, Clone, Serialize)]
pub struct Tofu {
    /// The binary.
    pub path: PathBuf,
    /// Where it came from.
    pub source: Source,
    /// `1.11.4`.
    pub version: String,
}

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
        if let (Ok(bytes), Some(dir)) = (serde_json::to_vec(&c), cache.parent()) {
            let _ = std::fs::DirBuilder::new().recursive(true).create(dir);
            let _ = std::fs::set_permissions(dir, std::os::unix::fs::PermissionsExt::from_mode(0o700));
            let _ = crate::lifecycle::work::write_private(cache, &bytes);
        }
    }

    /// The program name for messages (`tofu` or `terraform`).
    pub fn name(&self) -> String {
        self.path.file_name().map_or_else(|| "tofu".into(), |n| n.to_string_lossy().into_owned())
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

/// A command line for messages: the program, then each argument, quoted when it needs it.
pub fn render_argv(program: &Path, args: &[OsString]) -> String {
    std::iter::once(program.as_os_str())
        .chain(args.iter().map(OsString::as_os_str))
        .map(|a| {
            let s = a.to_string_lossy();
            if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_./=:,@+%".contains(c)) {
                s.into_owned()
            } else {
                format!("'{}'", s.replace('\'', "'\\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Which stream a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

/// One tofu run: arguments after the program, working directory and the complete environment.
pub struct Invocation {
    /// Arguments.
    pub args: Vec<OsString>,
    /// Working directory (the stack folder).
    pub cwd: PathBuf,
    /// The child's whole environment (gf clears the inherited one).
    pub env: Vec<(OsString, OsString)>,
}

impl fmt::Debug for Invocation {
    // The environment holds the S3 credentials: never print it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Invocation").field("args", &self.args).field("cwd", &self.cwd).finish_non_exhaustive()
    }
}

/// Send `sig` to the process group our child `pid` leads (tofu and its provisioners/plugins),
/// as a terminal would send Ctrl-C to its foreground group.
#[allow(unsafe_code)] // kill(2) has no safe std wrapper for a process group; the group is our own, still-unreaped child's.
fn signal_group(pid: u32, sig: libc::c_int) {
    if let Ok(pid) = libc::pid_t::try_from(pid) {
        // SAFETY: kill(2) takes plain integers and touches no memory of ours.
        unsafe {
            libc::kill(-pid, sig);
        }
    }
}

/// Give the child umask 077 before it starts, so whatever tofu writes is private.
#[allow(unsafe_code)] // pre_exec is unsafe by contract; umask(2) is async-signal-safe and allocates nothing.
fn private_umask(cmd: &mut tokio::process::Command) {
    // SAFETY: the closure only calls umask(2), which is async-signal-safe, between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            libc::umask(0o077);
            Ok(())
        });
    }
}

/// Read `r` line by line as bytes (without the newline) into `tx` until EOF; a read error ends
/// the stream, but bytes never do.
fn pump(r: impl AsyncRead + Unpin + Send + 'static, stream: Stream, tx: mpsc::UnboundedSender<(Stream, Vec<u8>)>) {
    tokio::spawn(async move {
        let mut r = BufReader::new(r);
        loop {
            let mut line = Vec::new();
            match r.read_until(b'\n', &mut line).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    if line.last() == Some(&b'\n') {
                        line.pop();
                        if line.last() == Some(&b'\r') {
                            line.pop();
                        }
                    }
                    let _ = tx.send((stream, line));
                }
            }
        }
    });
}

impl Tofu {
    /// Run tofu, handing each output line (bytes) to `on_line` as it arrives; a signal to gf is
    /// forwarded (see the module docs). The whole output is read whatever `on_line` does.
    pub async fn run(&self, inv: Invocation, on_line: impl FnMut(Stream, &[u8])) -> Result<(), TofuError> {
        self.run_codes(inv, &[0], on_line).await.map(|_| ())
    }

    /// [`Tofu::run`], where every exit code in `ok` is a success (`plan -detailed-exitcode` exits 2
    /// when it found changes); returns the exit code.
    pub async fn run_codes(
        &self,
        inv: Invocation,
        ok: &[i32],
        mut on_line: impl FnMut(Stream, &[u8]),
    ) -> Result<i32, TofuError> {
        let argv = render_argv(&self.path, &inv.args);
        let mut cmd = tokio::process::Command::new(&self.path);
        cmd.args(&inv.args)
            .current_dir(&inv.cwd)
            .env_clear()
            .envs(inv.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        private_umask(&mut cmd);
        let mut child = cmd.spawn().map_err(|source| TofuError::Spawn { argv: argv.clone(), source })?;
        let pid = child.id();
        let (tx, mut rx) = mpsc::unbounded_channel::<(Stream, Vec<u8>)>();
        if let Some(out) = child.stdout.take() {
            pump(out, Stream::Stdout, tx.clone());
        }
        if let Some(err) = child.stderr.take() {
            pump(err, Stream::Stderr, tx.clone());
        }
        drop(tx);
        let mut tail = StderrTail::new(TAIL_LINES);
        let mut status = None;
        let mut open = true;
        // Signals seen so far (a signal that arrived just before the spawn counts too: the run
        // was already told to stop), and how many were forwarded.
        let mut handled = 0usize;
        let mut forwarded = 0u8;
        while open || status.is_none() {
            tokio::select! {
                msg = rx.recv(), if open => match msg {
                    Some((stream, line)) => {
                        if stream == Stream::Stderr {
                            tail.push(&String::from_utf8_lossy(&line));
                        }
                        on_line(stream, &line);
                    }
                    None => open = false,
                },
                st = child.wait(), if status.is_none() => {
                    status = Some(st.map_err(|source| TofuError::Spawn { argv: argv.clone(), source })?);
                }
                sig = crate::signals::after(handled), if forwarded < 2 => {
                    handled = crate::signals::count();
                    forwarded += 1;
                    if let Some(pid) = pid.filter(|_| status.is_none()) {
                        if forwarded == 1 {
                            crate::ui::warn(&format!("{}: asking tofu to stop; waiting for it to save state and release the state lock (a second signal kills it)", sig.name()));
                            signal_group(pid, libc::SIGINT);
                        } else {
                            crate::ui::warn("second signal: killing tofu; the state lock may stay held (see `gf state`, `gf state unlock`)");
                            signal_group(pid, libc::SIGKILL);
                        }
                    }
                }
            }
        }
        let status = status.unwrap_or_default();
        if let Some(sig) = crate::signals::received() {
            return Err(TofuError::Interrupted { argv, signal: sig.name() });
        }
        match status.code() {
            Some(c) if ok.contains(&c) => Ok(c),
            code => {
                let status = code.map_or_else(|| format!("{status}"), |c| format!("exit {c}"));
                Err(TofuError::Failed { argv, status, tail: tail.into_lines() })
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

    #[test]
    fn argv_is_quoted_only_where_needed() {
        let args: Vec<OsString> = vec!["plan".into(), "-out=/a b/p".into(), "it's".into()];
        assert_eq!(render_argv(Path::new("/bin/tofu"), &args), "/bin/tofu plan '-out=/a b/p' 'it'\\''s'");
    }

    #[test]
    fn gf_tofu_wins_and_must_be_executable() {
        let err = locate(|k| (k == "GF_TOFU").then(|| "/nonexistent/tofu".into())).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/tofu"), "{err}");
        let ok = locate(|k| match k {
            "GF_TOFU" => Some("/bin/sh".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(ok.source, Source::GfTofu);
    }

    #[test]
    fn falls_back_to_terraform_on_path() {
        let dir = tempfile::tempdir().unwrap();
        let tf = dir.path().join("terraform");
        std::fs::write(&tf, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&tf, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        let path = dir.path().to_string_lossy().into_owned();
        if baked().is_none() {
            let l = locate(|k| (k == "PATH").then(|| path.clone())).unwrap();
            assert_eq!(l.source, Source::PathTerraform);
            std::fs::copy(&tf, dir.path().join("tofu")).unwrap();
            assert_eq!(locate(|k| (k == "PATH").then(|| path.clone())).unwrap().source, Source::PathTofu);
        }
        assert!(matches!(locate(|_| None), Err(TofuError::NotFound)) || baked().is_some());
    }
}
