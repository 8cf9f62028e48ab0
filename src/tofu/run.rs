//! Running tofu: its own process group, umask 077, the whole environment given, signals
//! forwarded once then escalated, the exit mapped to an error with the stderr tail.

use std::ffi::OsString;
use std::fmt;
use std::path::PathBuf;
use std::process::Stdio;

use super::stream::{Lines, pump_output};
use super::{Stream, Tofu, TofuError, render_argv};
use crate::process::StderrTail;

/// Lines of stderr kept for an error message.
const TAIL_LINES: usize = 12;

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

/// Forward the `nth` signal gf got to tofu's group: SIGINT first (tofu stops gracefully), SIGKILL
/// on the second.
fn forward(pid: u32, nth: u8, signal: &str) {
    if nth == 1 {
        crate::ui::warn(&format!(
            "{signal}: asking tofu to stop; waiting for it to save state and release the state lock (a second signal kills it)"
        ));
        signal_group(pid, libc::SIGINT);
    } else {
        crate::ui::warn(
            "second signal: killing tofu; the state lock may stay held (see `gf state`, `gf state unlock`)",
        );
        signal_group(pid, libc::SIGKILL);
    }
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
        let (mut child, mut rx) = self.spawn(&inv, &argv)?;
        let pid = child.id();
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
                        forward(pid, forwarded, sig.name());
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

    /// Start tofu in its own process group with umask 077 and only `inv.env`, its output pumped
    /// into one channel.
    fn spawn(&self, inv: &Invocation, argv: &str) -> Result<(tokio::process::Child, Lines), TofuError> {
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
        let mut child = cmd.spawn().map_err(|source| TofuError::Spawn { argv: argv.to_string(), source })?;
        let rx = pump_output(&mut child);
        Ok((child, rx))
    }
}
