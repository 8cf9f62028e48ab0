//! The git revision gf is built from, for `gf --version`: shared by `build.rs` and its tests.
//!
//! `git rev-parse --short HEAD` of the crate's own repository; else `GF_GIT_REV` (the Nix build,
//! whose source has no `.git`); else `unknown`. Never panics: a missing `git`, a missing `.git`
//! or a crate folder inside someone else's repository all fall back.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// What the build script prints: the revision and the files whose change means a new one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revision {
    /// Short hash, `GF_GIT_REV`'s value, or `unknown`.
    pub rev: String,
    /// Existing files to watch (`cargo:rerun-if-changed`): `HEAD`, the ref it points to, `packed-refs`.
    pub watch: Vec<PathBuf>,
}

/// The revision of the repository whose top level is `dir`, using the `git` program, else
/// `env_rev` (`GF_GIT_REV`), else `unknown`.
pub fn revision(dir: &Path, git: &OsStr, env_rev: Option<&str>) -> Revision {
    if let Some((rev, watch)) = from_git(dir, git) {
        return Revision { rev, watch };
    }
    let rev = env_rev.map(str::trim).filter(|r| plain(r)).unwrap_or("unknown").to_string();
    Revision { rev, watch: Vec::new() }
}

/// A revision that can go into `cargo:rustc-env` and a version line as it is.
fn plain(rev: &str) -> bool {
    !rev.is_empty() && rev.len() <= 64 && rev.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-+".contains(&b))
}

fn from_git(dir: &Path, git: &OsStr) -> Option<(String, Vec<PathBuf>)> {
    let run = |args: &[&str]| -> Option<String> {
        let out = Command::new(git)
            .arg("-C")
            .arg(dir)
            .args(args)
            // The crate folder decides which repository, not the environment of whoever builds.
            .env_remove("GIT_DIR")
            .env_remove("GIT_WORK_TREE")
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .ok()?;
        let text = String::from_utf8(out.stdout).ok()?;
        out.status.success().then(|| text.trim().to_string())
    };
    // Only the crate's own repository: a crate vendored into another one has no revision of its own.
    let top = PathBuf::from(run(&["rev-parse", "--show-toplevel"])?);
    if top.canonicalize().ok()? != dir.canonicalize().ok()? {
        return None;
    }
    let rev = run(&["rev-parse", "--short", "HEAD"]).filter(|r| plain(r))?;
    let mut watch = Vec::new();
    let mut git_path = |name: &str| {
        if let Some(p) = run(&["rev-parse", "--git-path", name]) {
            let p = dir.join(p);
            if p.is_file() && !watch.contains(&p) {
                watch.push(p);
            }
        }
    };
    git_path("HEAD");
    if let Some(reference) = run(&["symbolic-ref", "-q", "HEAD"]) {
        git_path(&reference);
    }
    git_path("packed-refs");
    Some((rev, watch))
}
