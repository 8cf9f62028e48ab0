//! The integration-test harness: fixture repositories in temporary folders and a small fluent
#![allow(dead_code)] // Shared by every test module; not each uses every helper.
//! builder around the real `gf` binary (`CARGO_BIN_EXE_gf`).

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The crate's own folder (the real repository root).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `tests/fixtures/<name>`.
pub fn fixture(name: &str) -> PathBuf {
    repo_root().join("tests/fixtures").join(name)
}

/// A repository in a temporary folder, built from a fixture.
pub struct Repo {
    dir: tempfile::TempDir,
}

impl Repo {
    /// A repository whose `stacks/` is a copy of `tests/fixtures/<name>`.
    pub fn from_fixture(name: &str) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        copy_dir(&fixture(name), &dir.path().join("stacks"));
        Self { dir }
    }

    /// An empty folder (no contract).
    pub fn empty() -> Self {
        Self { dir: tempfile::tempdir().expect("tempdir") }
    }

    /// The repository root.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Write `contents` to `rel` (creating folders).
    pub fn write(&self, rel: &str, contents: &str) -> &Self {
        let p = self.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, contents).unwrap();
        self
    }

    /// Read `rel`.
    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path().join(rel)).unwrap_or_else(|e| panic!("read {rel}: {e}"))
    }

    /// Edit the JSON file `rel` in place.
    pub fn edit_json(&self, rel: &str, f: impl FnOnce(&mut serde_json::Value)) -> &Self {
        let mut v: serde_json::Value = serde_json::from_str(&self.read(rel)).unwrap();
        f(&mut v);
        self.write(rel, &serde_json::to_string_pretty(&v).unwrap())
    }

    /// Remove `rel` (file or folder).
    pub fn remove(&self, rel: &str) -> &Self {
        let p = self.path().join(rel);
        if p.is_dir() {
            std::fs::remove_dir_all(p).unwrap();
        } else {
            std::fs::remove_file(p).unwrap();
        }
        self
    }

    /// Rename `from` to `to`.
    pub fn rename(&self, from: &str, to: &str) -> &Self {
        std::fs::rename(self.path().join(from), self.path().join(to)).unwrap();
        self
    }

    /// A `gf` command with `-C <this repo>`.
    pub fn gf(&self) -> Gf {
        gf().root(self.path())
    }
}

/// Copy a folder recursively.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap_or_else(|e| panic!("read {}: {e}", from.display())) {
        let entry = entry.unwrap();
        let dest = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &dest);
        } else {
            std::fs::copy(entry.path(), dest).unwrap();
        }
    }
}

/// A `gf` invocation with a clean environment (only `PATH` and `HOME` are kept).
pub fn gf() -> Gf {
    Gf { args: Vec::new(), env: BTreeMap::new(), cwd: None, stdin: None }
}

/// Fluent builder around one `gf` run.
#[derive(Clone)]
pub struct Gf {
    args: Vec<OsString>,
    env: BTreeMap<String, String>,
    cwd: Option<PathBuf>,
    stdin: Option<String>,
}

impl Gf {
    /// `-C dir`.
    pub fn root(self, dir: &Path) -> Self {
        self.arg("-C").arg(dir)
    }

    /// One argument.
    pub fn arg(mut self, a: impl Into<OsString>) -> Self {
        self.args.push(a.into());
        self
    }

    /// Several arguments.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// An environment variable.
    pub fn env(mut self, k: &str, v: impl Into<String>) -> Self {
        self.env.insert(k.to_string(), v.into());
        self
    }

    /// Several environment variables.
    pub fn envs<'a>(mut self, vars: impl IntoIterator<Item = (&'a str, String)>) -> Self {
        for (k, v) in vars {
            self.env.insert(k.to_string(), v);
        }
        self
    }

    /// The working directory.
    pub fn cwd(mut self, dir: &Path) -> Self {
        self.cwd = Some(dir.to_path_buf());
        self
    }

    /// Text on stdin.
    pub fn stdin(mut self, s: &str) -> Self {
        self.stdin = Some(s.to_string());
        self
    }

    /// The repository `-C` points at, if given.
    pub fn root_dir(&self) -> Option<PathBuf> {
        self.args.iter().position(|a| a == "-C").and_then(|i| self.args.get(i + 1)).map(PathBuf::from)
    }

    /// The `std::process::Command` this builder describes.
    pub fn command(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_gf"));
        cmd.env_clear();
        for k in ["PATH", "HOME"] {
            if let Some(v) = std::env::var_os(k) {
                cmd.env(k, v);
            }
        }
        cmd.envs(&self.env).args(&self.args);
        if let Some(d) = &self.cwd {
            cmd.current_dir(d);
        }
        cmd
    }

    /// Start in the background: stdin closed, stdout and stderr piped.
    pub fn spawn(&self) -> std::process::Child {
        self.command().stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn gf")
    }

    /// Run to completion.
    pub fn run(&self) -> Run {
        let mut cmd = self.command();
        cmd.stdin(if self.stdin.is_some() { Stdio::piped() } else { Stdio::null() });
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn gf");
        if let Some(s) = &self.stdin {
            use std::io::Write as _;
            child.stdin.take().unwrap().write_all(s.as_bytes()).unwrap();
        }
        let out = child.wait_with_output().expect("wait gf");
        Run {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            argv: self.args.iter().map(|a| a.to_string_lossy().into_owned()).collect(),
        }
    }
}

/// The outcome of one `gf` run, with chainable assertions.
#[derive(Debug)]
pub struct Run {
    /// Exit code (None when killed by a signal).
    pub code: Option<i32>,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
    /// The arguments gf was given.
    pub argv: Vec<String>,
}

impl Run {
    /// Assert the exit code.
    #[track_caller]
    pub fn code(&self, expected: i32) -> &Self {
        assert_eq!(
            self.code,
            Some(expected),
            "gf {:?}: exit code\n--- stdout\n{}\n--- stderr\n{}",
            self.argv,
            self.stdout,
            self.stderr
        );
        self
    }

    /// Assert stdout contains `s`.
    #[track_caller]
    pub fn stdout_has(&self, s: &str) -> &Self {
        assert!(
            self.stdout.contains(s),
            "gf {:?}: stdout lacks {s:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.argv,
            self.stdout,
            self.stderr
        );
        self
    }

    /// Assert stderr contains `s`.
    #[track_caller]
    pub fn stderr_has(&self, s: &str) -> &Self {
        assert!(
            self.stderr.contains(s),
            "gf {:?}: stderr lacks {s:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.argv,
            self.stdout,
            self.stderr
        );
        self
    }

    /// Assert stdout or stderr contains `s`.
    #[track_caller]
    pub fn output_has(&self, s: &str) -> &Self {
        assert!(
            self.stdout.contains(s) || self.stderr.contains(s),
            "gf {:?}: output lacks {s:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.argv,
            self.stdout,
            self.stderr
        );
        self
    }

    /// Assert neither stdout nor stderr contains `s`.
    #[track_caller]
    pub fn output_lacks(&self, s: &str) -> &Self {
        assert!(
            !self.stdout.contains(s) && !self.stderr.contains(s),
            "gf {:?}: output contains {s:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.argv,
            self.stdout,
            self.stderr
        );
        self
    }

    /// stdout parsed as one JSON document.
    #[track_caller]
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "gf {:?}: stdout is not one JSON document: {e}\n{}\n--- stderr\n{}",
                self.argv, self.stdout, self.stderr
            )
        })
    }
}

/// Poll `cond` every 20 ms until it holds; fail naming `what` after `secs` seconds.
#[track_caller]
pub fn wait_until(secs: u64, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while !cond() {
        assert!(std::time::Instant::now() < deadline, "timed out after {secs} s waiting for {what}");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Send `sig` to process `pid` (a negative pid: its process group).
#[allow(unsafe_code)] // kill(2) is the way to send one signal to one process; no safe std wrapper.
pub fn signal(pid: i32, sig: i32) {
    // SAFETY: kill(2) takes plain integers and touches no memory of ours.
    let rc = unsafe { libc::kill(pid, sig) };
    assert_eq!(rc, 0, "kill -{sig} {pid}");
}

/// The parent pid of `pid`, from `/proc/<pid>/stat` (None once it is gone).
pub fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // `pid (comm) state ppid …`: comm may hold spaces and parentheses, so split after the last `)`.
    stat.rsplit_once(')')?.1.split_whitespace().nth(1)?.parse().ok()
}

/// Every live process below `root` in the process tree (children, grandchildren, …).
pub fn descendants(root: u32) -> Vec<u32> {
    let all: Vec<u32> = std::fs::read_dir("/proc")
        .map(|rd| rd.flatten().filter_map(|e| e.file_name().to_string_lossy().parse().ok()).collect())
        .unwrap_or_default();
    let mut out = Vec::new();
    for pid in all {
        let mut cur = pid;
        while let Some(p) = parent_of(cur) {
            if p == root {
                out.push(pid);
                break;
            }
            if p <= 1 {
                break;
            }
            cur = p;
        }
    }
    out
}

/// The argv of `pid` (NUL-separated words), empty once it is gone.
pub fn cmdline(pid: u32) -> Vec<Vec<u8>> {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|c| c.split(|b| *b == 0).filter(|a| !a.is_empty()).map(<[u8]>::to_vec).collect())
        .unwrap_or_default()
}

/// The repository a `gf` builder runs in (its `-C`).
pub fn root_of(g: &Gf) -> PathBuf {
    g.root_dir().expect("a builder made by `Repo::gf`")
}
