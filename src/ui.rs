//! Human output helpers: warnings and errors on stderr (coloured only on a terminal), JSON on
//! stdout, and the tracing subscriber (`GF_LOG`, default `warn`, to stderr).

use std::fmt::Write as _;
use std::io::IsTerminal as _;

/// Whether stderr is a terminal (colour and progress bars only then).
pub fn stderr_is_tty() -> bool {
    std::io::stderr().is_terminal()
}

/// Whether stdout is a terminal.
pub fn stdout_is_tty() -> bool {
    std::io::stdout().is_terminal()
}

fn paint(label: &str, code: &str) -> String {
    if stderr_is_tty() && std::env::var_os("NO_COLOR").is_none() {
        format!("\x1b[{code}m{label}\x1b[0m")
    } else {
        label.to_string()
    }
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
    eprintln!("{}: {msg}", paint("error", "1;31"));
}

/// `warning: …` on stderr.
pub fn warn(msg: &str) {
    eprintln!("{}: {msg}", paint("warning", "1;33"));
}

/// `note: …` on stderr.
pub fn note(msg: &str) {
    eprintln!("{}: {msg}", paint("note", "1;36"));
}

/// Print one JSON document on stdout.
pub fn print_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// Install the tracing subscriber: `GF_LOG` filter (default `warn`, kube-rs silent), stderr, no ANSI
/// off a terminal.
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("GF_LOG")
        // kube-rs logs every failed request at ERROR before returning it; gf reports it once itself.
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,kube_client=off"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(stderr_is_tty())
        .without_time()
        .try_init();
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
