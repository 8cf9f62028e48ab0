//! Human output helpers: warnings and errors on stderr (coloured only on a terminal), JSON on
//! stdout, and the tracing subscriber (`GF_LOG`, default `warn`, to stderr).
//!
//! Every line gf prints goes through [`out`]/[`err`] (or the [`outln!`](crate::outln) and
//! [`errln!`](crate::errln) macros): a closed stdout or stderr (`gf apply x | head -1`, a closed
//! terminal) never panics and never stops gf; the line is dropped and gf carries on, so tofu's
//! output is still drained to the end and its result decides the exit code.

use std::fmt::Write as _;
use std::io::IsTerminal as _;
use std::sync::atomic::{AtomicBool, Ordering};

/// Colour on stderr (set once by [`init`]).
static COLOR: AtomicBool = AtomicBool::new(false);
/// Colour on stdout (set once by [`init`]).
static STDOUT_COLOR: AtomicBool = AtomicBool::new(false);
static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);
static STDERR_CLOSED: AtomicBool = AtomicBool::new(false);
static JSON_PRINTED: AtomicBool = AtomicBool::new(false);
/// Values no line gf prints may carry (longest first).
static SECRETS: std::sync::RwLock<Vec<String>> = std::sync::RwLock::new(Vec::new());

/// What a redacted value is replaced with.
pub const REDACTED: &str = "[redacted]";

/// Never print `value`: every later line (gf's own, tofu's, the log's) has it replaced by
/// [`REDACTED`]. A multi-line value (a PEM key) is registered line by line as well, since gf
/// prints and redacts tofu's output a line at a time. Values (and lines) shorter than 4
/// characters are not registered (they would mangle ordinary text); no credential is that short.
pub fn add_secret(value: &str) {
    register(value);
    if value.trim().contains('\n') {
        value.lines().for_each(register);
    }
}

fn register(value: &str) {
    let value = value.trim();
    if value.chars().count() < 4 {
        return;
    }
    if let Ok(mut s) = SECRETS.write()
        && !s.iter().any(|x| x == value)
    {
        s.push(value.to_string());
        s.sort_by_key(|x| std::cmp::Reverse(x.len()));
    }
}

/// `text` with every registered secret replaced by [`REDACTED`].
pub fn redact(text: &str) -> std::borrow::Cow<'_, str> {
    let Ok(secrets) = SECRETS.read() else { return text.into() };
    if !secrets.iter().any(|s| text.contains(s.as_str())) {
        return text.into();
    }
    let mut out = text.to_string();
    for s in secrets.iter() {
        out = out.replace(s.as_str(), REDACTED);
    }
    out.into()
}

/// Decide colour once: stderr is a terminal and `NO_COLOR` is unset or empty (no-color.org: only a
/// non-empty value turns colour off).
pub fn init(vars: &crate::session::Vars) {
    let no_color = vars.raw("NO_COLOR").is_some_and(|v| !v.is_empty());
    COLOR.store(stderr_is_tty() && !no_color, Ordering::SeqCst);
    STDOUT_COLOR.store(stdout_is_tty() && !no_color, Ordering::SeqCst);
}

/// Whether what gf prints (tofu's lines included) may carry colour: both streams are terminals
/// and `NO_COLOR` allows it. tofu gets `-no-color` otherwise.
pub fn output_color() -> bool {
    COLOR.load(Ordering::SeqCst) && STDOUT_COLOR.load(Ordering::SeqCst)
}

/// Whether stderr is a terminal (colour and progress bars only then).
pub fn stderr_is_tty() -> bool {
    std::io::stderr().is_terminal()
}

/// Whether stdout is a terminal.
pub fn stdout_is_tty() -> bool {
    std::io::stdout().is_terminal()
}

/// Whether colour is on.
pub fn color() -> bool {
    COLOR.load(Ordering::SeqCst)
}

fn write_to(closed: &AtomicBool, w: &mut dyn std::io::Write, text: &str) {
    if closed.load(Ordering::Relaxed) {
        return;
    }
    if w.write_all(redact(text).as_bytes()).and_then(|()| w.flush()).is_err() {
        // EPIPE (the reader went away) or EIO (the terminal closed): stop printing, keep working.
        closed.store(true, Ordering::Relaxed);
    }
}

/// Write `text` to stdout as it is; a closed stdout is ignored.
pub fn out_raw(text: &str) {
    write_to(&STDOUT_CLOSED, &mut std::io::stdout().lock(), text);
}

/// Write `text` to stderr as it is; a closed stderr is ignored.
pub fn err_raw(text: &str) {
    write_to(&STDERR_CLOSED, &mut std::io::stderr().lock(), text);
}

/// One line on stdout.
pub fn out(line: &str) {
    out_raw(&format!("{line}\n"));
}

/// One line on stderr.
pub fn err(line: &str) {
    err_raw(&format!("{line}\n"));
}

/// `outln!(...)`: `format!` then [`out`].
#[macro_export]
macro_rules! outln {
    ($($t:tt)*) => { $crate::ui::out(&format!($($t)*)) };
}

/// `errln!(...)`: `format!` then [`err`].
#[macro_export]
macro_rules! errln {
    ($($t:tt)*) => { $crate::ui::err(&format!($($t)*)) };
}

fn paint(label: &str, code: &str) -> String {
    if color() { format!("\x1b[{code}m{label}\x1b[0m") } else { label.to_string() }
}

/// An error and its causes on one line, each message once: some errors (kube-rs, hyper, the AWS
/// SDK) repeat their cause in their own message, and none of them is worth a Debug dump.
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut cur = Some(e);
    while let Some(err) = cur {
        let msg = err.to_string();
        if !parts.iter().any(|p| p.contains(&msg)) {
            parts.push(msg);
        }
        cur = err.source();
    }
    parts.join(": ")
}

/// `error: …` on stderr.
pub fn error(msg: &str) {
    err(&format!("{}: {msg}", paint("error", "1;31")));
}

/// `warning: …` on stderr.
pub fn warn(msg: &str) {
    err(&format!("{}: {msg}", paint("warning", "1;33")));
}

/// `note: …` on stderr.
pub fn note(msg: &str) {
    err(&format!("{}: {msg}", paint("note", "1;36")));
}

/// Print one JSON document on stdout.
pub fn print_json(value: &impl serde::Serialize) -> Result<(), serde_json::Error> {
    out(&serde_json::to_string_pretty(value)?);
    JSON_PRINTED.store(true, Ordering::SeqCst);
    Ok(())
}

/// Whether a JSON document was printed already (an error then adds no second one).
pub fn json_printed() -> bool {
    JSON_PRINTED.load(Ordering::SeqCst)
}

/// Install the tracing subscriber: the `GF_LOG` filter of `vars` (default `warn`, kube-rs silent), stderr, no ANSI
/// off a terminal.
pub fn init_tracing(vars: &crate::session::Vars) {
    // kube-rs logs every failed request at ERROR before returning it; gf reports it once itself.
    let wanted = vars.get("GF_LOG").unwrap_or_else(|| "warn,kube_client=off".to_string());
    // Whatever the filter, the SDK's signing and credential code stays silent: it formats the keys.
    let filter = tracing_subscriber::EnvFilter::try_new(format!("{wanted},{QUIET}"))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("warn,kube_client=off,{QUIET}")));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| LogWriter)
        .with_ansi(stderr_is_tty())
        .without_time()
        .try_init();
}

/// Log targets that format credentials, off under any `GF_LOG`.
const QUIET: &str = "aws_sigv4=off,aws_credential_types=off,aws_smithy_runtime::client::http=off";

/// The log's writer: through the redactor, and a closed stderr never panics.
struct LogWriter;

impl std::io::Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        err_raw(&String::from_utf8_lossy(buf));
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Render rows as an aligned text table with a header.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if i < widths.len() {
                widths[i] = widths[i].max(cell.chars().count());
            }
        }
    }
    let mut out = String::new();
    let line = |cells: Vec<&str>, out: &mut String| {
        let mut l = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                l.push_str(c);
            } else {
                let _ = write!(l, "{c:<w$}  ", w = widths[i]);
            }
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    line(header.to_vec(), &mut out);
    for row in rows {
        line(row.iter().map(String::as_str).collect(), &mut out);
    }
    out
}
