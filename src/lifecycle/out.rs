//! One stack's output: streamed as it comes, or kept and printed as one block (concurrent plans),
//! every line prefixed `[stack]` when several stacks run. Lines go through `ui`, so a closed
//! stdout or stderr never stops a run.

use crate::ui;

/// Where one stack's lines go.
pub struct Out {
    /// `[stack] ` or empty.
    pub prefix: String,
    /// tofu's rendered lines go to stderr (`--json`: stdout is the document).
    to_stderr: bool,
    buffer: Option<Vec<(bool, String)>>,
}

impl Out {
    /// Output for `stack`.
    pub fn new(stack: &str, prefixed: bool, to_stderr: bool, buffered: bool) -> Self {
        Self {
            prefix: if prefixed { format!("[{stack}] ") } else { String::new() },
            to_stderr,
            buffer: buffered.then(Vec::new),
        }
    }

    fn emit(&mut self, stderr: bool, line: &str) {
        let line = format!("{}{line}", self.prefix);
        match &mut self.buffer {
            Some(b) => b.push((stderr, line)),
            None if stderr => ui::err(&line),
            None => ui::out(&line),
        }
    }

    /// A line of tofu's (rendered) output.
    pub fn line(&mut self, s: &str) {
        let to_stderr = self.to_stderr;
        self.emit(to_stderr, s);
    }

    /// A line that belongs on stdout whatever `--json` says (`gf output`'s text).
    pub fn stdout(&mut self, s: &str) {
        self.emit(false, s);
    }

    /// A line that belongs on stderr.
    pub fn stderr(&mut self, s: &str) {
        self.emit(true, s);
    }

    /// A warning from gf.
    pub fn warn(&mut self, s: &str) {
        if self.buffer.is_some() {
            self.emit(true, &format!("warning: {s}"));
        } else {
            ui::err_raw(&self.prefix);
            ui::warn(s);
        }
    }

    /// A note from gf.
    pub fn note(&mut self, s: &str) {
        if self.buffer.is_some() {
            self.emit(true, &format!("note: {s}"));
        } else {
            ui::err_raw(&self.prefix);
            ui::note(s);
        }
    }

    /// A spinner on a terminal (direct output only) while gf waits on something.
    pub fn spinner(&self, msg: &str) -> Option<indicatif::ProgressBar> {
        if self.buffer.is_some() || !ui::stderr_is_tty() {
            return None;
        }
        let p = indicatif::ProgressBar::new_spinner().with_message(format!("{}{msg}", self.prefix));
        p.enable_steady_tick(std::time::Duration::from_millis(100));
        Some(p)
    }

    /// Whether lines are kept for later.
    pub fn buffered(&self) -> bool {
        self.buffer.is_some()
    }

    /// Print everything kept, together.
    pub fn flush(&mut self) {
        if let Some(b) = self.buffer.take() {
            for (stderr, line) in b {
                if stderr {
                    ui::err(&line);
                } else {
                    ui::out(&line);
                }
            }
        }
    }
}
