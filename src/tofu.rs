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
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::process::render_tail;

mod locate;
mod run;
mod stream;
mod version;

pub use locate::{Located, Source, baked, locate};
pub use run::Invocation;
pub use stream::Stream;
pub use version::{Report, at_least, report, version_of};

/// The oldest tofu/terraform with `use_lockfile` in the S3 backend.
pub const MIN_VERSION: (u64, u64) = (1, 10);

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
    /// The program name for messages (`tofu` or `terraform`).
    pub fn name(&self) -> String {
        self.path.file_name().map_or_else(|| "tofu".into(), |n| n.to_string_lossy().into_owned())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argv_is_quoted_only_where_needed() {
        let args: Vec<OsString> = vec!["plan".into(), "-out=/a b/p".into(), "it's".into()];
        assert_eq!(render_argv(Path::new("/bin/tofu"), &args), "/bin/tofu plan '-out=/a b/p' 'it'\\''s'");
    }
}
