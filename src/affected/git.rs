//! The `git` binary as `gf affected` uses it: argv lists (never a shell), output read as bytes to
//! the end, every failure carrying the argv and the tail of git's stderr.

use std::fmt::Write as _;
use std::io::{BufReader, Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::process::StderrTail;

use super::AffectedError;

/// Lines of git's stderr kept for an error.
const TAIL: usize = 6;

/// One file of a commit's tree (`git ls-tree -r -z`), path relative to the repository root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeFile {
    /// Path bytes, `/`-separated (may be any bytes but NUL).
    pub path: Vec<u8>,
    /// Blob id.
    pub oid: String,
}

/// Two revisions resolved to commits, and where the diff between them starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Range {
    /// The base commit.
    pub base: String,
    /// The head commit.
    pub head: String,
    /// Their merge base (the first, if there are several).
    pub merge_base: String,
}

/// Refuse what git would read as something else than one revision: a leading `-` (an option:
/// `--output=…` writes a file), `..` (a range), control characters, nothing.
fn check_rev(which: &'static str, rev: &str) -> Result<(), AffectedError> {
    if rev.is_empty() || rev.starts_with('-') || rev.contains("..") || rev.chars().any(char::is_control) {
        return Err(AffectedError::BadRef { which, rev: rev.to_string() });
    }
    Ok(())
}

/// git run in the repository root, so every path it prints is relative to that root.
#[derive(Debug, Clone)]
pub struct Git {
    root: PathBuf,
}

impl Git {
    /// git for the repository holding `root`.
    pub fn new(root: &Path) -> Self {
        Self { root: root.to_path_buf() }
    }

    fn command(&self, args: &[&str]) -> (Command, String) {
        let mut cmd = Command::new("git");
        // No pager, no terminal prompt: gf reads git's output, nobody else does.
        cmd.arg("--no-pager").args(args).current_dir(&self.root).env("GIT_TERMINAL_PROMPT", "0");
        (cmd, render_argv(args))
    }

    /// Run git to completion; its stdout as bytes.
    fn run(&self, args: &[&str]) -> Result<Vec<u8>, AffectedError> {
        let (mut cmd, line) = self.command(args);
        let out =
            cmd.stdin(Stdio::null()).output().map_err(|source| AffectedError::Spawn { argv: line.clone(), source })?;
        if out.status.success() {
            return Ok(out.stdout);
        }
        Err(AffectedError::Exit { argv: line, status: out.status.to_string(), tail: tail(&out.stderr) })
    }

    /// The commits `base` and `head` name and their merge base, in one `git rev-parse` of the
    /// symmetric range `base...head`; when that fails, each side alone says which is unknown.
    pub fn range(&self, base: &str, head: &str) -> Result<Range, AffectedError> {
        check_rev("base", base)?;
        check_rev("head", head)?;
        let spec = format!("{base}^{{commit}}...{head}^{{commit}}");
        let args = ["rev-parse", "--revs-only", spec.as_str(), "--"];
        let out = match self.run(&args) {
            Ok(out) => out,
            Err(e) => {
                self.resolve("base", base)?;
                self.resolve("head", head)?;
                return Err(e);
            }
        };
        // `head`, `base`, then `^<merge base>` for each merge base (none: unrelated histories).
        let text = String::from_utf8_lossy(&out);
        let lines: Vec<&str> = text.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
        let bad = || AffectedError::Protocol {
            argv: render_argv(&args),
            detail: format!("unexpected answer `{}`", text.trim()),
        };
        let (Some(h), Some(b)) =
            (lines.first().and_then(|l| parse_oid(l.as_bytes())), lines.get(1).and_then(|l| parse_oid(l.as_bytes())))
        else {
            return Err(bad());
        };
        let merge_base = match lines.get(2) {
            Some(l) => l.strip_prefix('^').and_then(|m| parse_oid(m.as_bytes())).ok_or_else(bad)?,
            None => {
                return Err(AffectedError::NoMergeBase {
                    base: base.to_string(),
                    head: head.to_string(),
                    shallow: self.is_shallow(),
                });
            }
        };
        Ok(Range { base: b, head: h, merge_base })
    }

    /// The commit `rev` names (`which` is `base` or `head`, for the error).
    fn resolve(&self, which: &'static str, rev: &str) -> Result<String, AffectedError> {
        let spec = format!("{rev}^{{commit}}");
        let args = ["rev-parse", "--verify", "--quiet", "--end-of-options", spec.as_str()];
        match self.run(&args) {
            Ok(out) => parse_oid(&out).ok_or_else(|| AffectedError::Protocol {
                argv: render_argv(&args),
                detail: format!("expected one commit id, got `{}`", String::from_utf8_lossy(&out).trim()),
            }),
            // `--quiet` exits 1 without a message for an unknown revision; anything else is git's
            // own trouble (not a repository, dubious ownership) and keeps its stderr.
            Err(AffectedError::Exit { tail, .. }) if tail.is_empty() => {
                Err(AffectedError::UnknownRef { which, rev: rev.to_string(), shallow: self.is_shallow() })
            }
            Err(e) => Err(e),
        }
    }

    /// Files that differ between two commits, relative to the root. `--no-renames`: a moved file
    /// counts at its old and its new path (rename detection would print only the new one, and the
    /// stack it left would be missed). `--relative`: paths under the root only, relative to it,
    /// whatever `diff.relative` says.
    pub fn changed_files(&self, from: &str, to: &str) -> Result<Vec<Vec<u8>>, AffectedError> {
        let out = self.run(&[
            "diff",
            "--name-only",
            "-z",
            "--no-color",
            "--no-renames",
            "--no-ext-diff",
            "--no-textconv",
            "--relative",
            from,
            to,
            "--",
        ])?;
        Ok(split_nul(&out).map(<[u8]>::to_vec).collect())
    }

    /// Every file of `commit`'s tree under the root (`ls-tree` lists relative to its working
    /// directory), with its blob id. Submodules and symlinks are skipped: neither holds sources.
    pub fn tree_files(&self, commit: &str) -> Result<Vec<TreeFile>, AffectedError> {
        let args = ["ls-tree", "-r", "-z", "--end-of-options", commit];
        let out = self.run(&args)?;
        let mut files = Vec::new();
        for entry in split_nul(&out) {
            // `<mode> SP <type> SP <object> TAB <file>`
            let bad = || AffectedError::Protocol {
                argv: render_argv(&args),
                detail: format!("unexpected entry `{}`", String::from_utf8_lossy(entry)),
            };
            let tab = entry.iter().position(|b| *b == b'\t').ok_or_else(bad)?;
            let meta = std::str::from_utf8(&entry[..tab]).map_err(|_| bad())?;
            let mut parts = meta.split(' ');
            let (Some(mode), Some(kind), Some(oid)) = (parts.next(), parts.next(), parts.next()) else {
                return Err(bad());
            };
            if kind == "blob" && mode != "120000" {
                files.push(TreeFile { path: entry[tab + 1..].to_vec(), oid: oid.to_string() });
            }
        }
        Ok(files)
    }

    /// One `git cat-file --batch` for every blob read of a run.
    pub fn cat_file(&self) -> Result<CatFile, AffectedError> {
        let (mut cmd, argv) = self.command(&["cat-file", "--batch"]);
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|source| AffectedError::Spawn { argv: argv.clone(), source })?;
        let (Some(stdin), Some(stdout), Some(mut stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(AffectedError::Protocol { argv, detail: "no pipes to the child".into() });
        };
        // Drained beside the work, so git never blocks on a full stderr pipe.
        let stderr = std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = stderr.read_to_end(&mut bytes);
            bytes
        });
        Ok(CatFile {
            child,
            stdin: Some(stdin),
            stdout: BufReader::with_capacity(1 << 16, stdout),
            stderr: Some(stderr),
            argv,
        })
    }

    /// Whether the clone is shallow (then an unknown base is most likely just not fetched).
    fn is_shallow(&self) -> bool {
        self.run(&["rev-parse", "--is-shallow-repository"]).is_ok_and(|out| out.trim_ascii() == b"true")
    }
}

/// A running `git cat-file --batch`: blobs asked for in batches, answered in order.
pub struct CatFile {
    child: std::process::Child,
    stdin: Option<std::process::ChildStdin>,
    stdout: BufReader<std::process::ChildStdout>,
    stderr: Option<std::thread::JoinHandle<Vec<u8>>>,
    argv: String,
}

impl CatFile {
    /// The contents of `oids`, in order.
    pub fn read(&mut self, oids: &[&str]) -> Result<Vec<Vec<u8>>, AffectedError> {
        if oids.is_empty() {
            return Ok(Vec::new());
        }
        let Some(stdin) = self.stdin.as_mut() else {
            return Err(AffectedError::Protocol { argv: self.argv.clone(), detail: "already finished".into() });
        };
        let stdout = &mut self.stdout;
        let read = std::thread::scope(|s| {
            // The writer runs beside the reader: git stops reading requests while its answers
            // fill the pipe, so writing them all first could block both sides.
            s.spawn(move || {
                let mut buf = Vec::with_capacity(oids.len() * 41);
                for oid in oids {
                    buf.extend_from_slice(oid.as_bytes());
                    buf.push(b'\n');
                }
                // A write error means git went away; its exit status and stderr say why.
                let _ = stdin.write_all(&buf).and_then(|()| stdin.flush());
            });
            read_batch(stdout, oids)
        });
        match read {
            Ok(blobs) => Ok(blobs),
            Err(detail) => {
                // Git's own words (a corrupt object, a missing pack) beat "unexpected end".
                let err = self.end();
                Err(err.err().unwrap_or(AffectedError::Protocol { argv: self.argv.clone(), detail }))
            }
        }
    }

    /// Close git's input, drain its output to the end, and check how it exited.
    pub fn finish(mut self) -> Result<(), AffectedError> {
        self.end()
    }

    fn end(&mut self) -> Result<(), AffectedError> {
        self.stdin = None;
        let _ = std::io::copy(&mut self.stdout, &mut std::io::sink());
        let status = self.child.wait().map_err(|source| AffectedError::Spawn { argv: self.argv.clone(), source })?;
        let err = self.stderr.take().map(|h| h.join().unwrap_or_default()).unwrap_or_default();
        if status.success() {
            Ok(())
        } else {
            Err(AffectedError::Exit { argv: self.argv.clone(), status: status.to_string(), tail: tail(&err) })
        }
    }
}

impl Drop for CatFile {
    fn drop(&mut self) {
        if self.stderr.is_some() {
            // Not finished (an error elsewhere): close its input and reap it.
            let _ = self.end();
        }
    }
}

/// Read `oids.len()` answers of `git cat-file --batch`.
fn read_batch(mut r: impl std::io::BufRead, oids: &[&str]) -> Result<Vec<Vec<u8>>, String> {
    let mut blobs = Vec::with_capacity(oids.len());
    let mut header = Vec::new();
    for oid in oids {
        header.clear();
        r.read_until(b'\n', &mut header).map_err(|e| format!("reading the answer for `{oid}`: {e}"))?;
        let line = String::from_utf8_lossy(&header);
        let line = line.trim_end();
        // `<oid> <type> <size>` or `<object> missing`
        let mut parts = line.split(' ');
        let (Some(_), Some(kind), Some(size)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(format!("unexpected answer `{line}` for `{oid}`"));
        };
        let size: usize = size.parse().map_err(|_| format!("unexpected answer `{line}` for `{oid}`"))?;
        if kind != "blob" {
            return Err(format!("`{oid}` is a {kind}, not a blob"));
        }
        let mut blob = vec![0; size + 1];
        r.read_exact(&mut blob).map_err(|e| format!("reading `{oid}` ({size} bytes): {e}"))?;
        blob.pop(); // the LF after every object
        blobs.push(blob);
    }
    Ok(blobs)
}

fn parse_oid(out: &[u8]) -> Option<String> {
    let s = std::str::from_utf8(out).ok()?.trim();
    (matches!(s.len(), 40 | 64) && s.bytes().all(|b| b.is_ascii_hexdigit())).then(|| s.to_string())
}

fn split_nul(out: &[u8]) -> impl Iterator<Item = &[u8]> {
    out.split(|b| *b == 0).filter(|p| !p.is_empty())
}

fn tail(stderr: &[u8]) -> Vec<String> {
    let mut t = StderrTail::new(TAIL);
    for line in String::from_utf8_lossy(stderr).lines() {
        t.push(line);
    }
    t.into_lines()
}

/// `git --no-pager a b c`: the argv gf runs, as an error shows it.
pub fn render_argv(args: &[&str]) -> String {
    let mut s = String::from("git --no-pager");
    for a in args {
        s.push(' ');
        if a.is_empty() || a.contains(|c: char| c.is_whitespace() || c == '\'' || c == '"') {
            let _ = write!(s, "'{}'", a.replace('\'', "'\\''"));
        } else {
            s.push_str(a);
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_answers_are_read_by_size_not_by_line() {
        let stream = b"aaaa blob 3\na\nb\nbbbb blob 0\n\n".to_vec();
        let blobs = read_batch(&stream[..], &["aaaa", "bbbb"]).unwrap();
        assert_eq!(blobs, [b"a\nb".to_vec(), Vec::new()]);
        let missing = read_batch(&b"cccc missing\n"[..], &["cccc"]).unwrap_err();
        assert!(missing.contains("cccc"), "{missing}");
        let short = read_batch(&b"dddd blob 10\nab"[..], &["dddd"]).unwrap_err();
        assert!(short.contains("10 bytes"), "{short}");
    }

    #[test]
    fn oids_and_argv() {
        assert_eq!(parse_oid(b"0123456789abcdef0123456789abcdef01234567\n").as_deref().map(str::len), Some(40));
        assert_eq!(parse_oid(b"HEAD\n"), None);
        assert_eq!(render_argv(&["diff", "a b", "it's"]), "git --no-pager diff 'a b' 'it'\\''s'");
    }
}
