//! Reading tofu's output: stdout and stderr as bytes, line by line, into one channel, always to
//! the end.

use tokio::io::{AsyncBufReadExt as _, AsyncRead, BufReader};
use tokio::sync::mpsc;

/// Which stream a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

/// Output lines as they arrive, with the stream each came from.
pub(super) type Lines = mpsc::UnboundedReceiver<(Stream, Vec<u8>)>;

/// Pump the child's stdout and stderr into one channel; it closes when both reach EOF.
pub(super) fn pump_output(child: &mut tokio::process::Child) -> Lines {
    let (tx, rx) = mpsc::unbounded_channel::<(Stream, Vec<u8>)>();
    if let Some(out) = child.stdout.take() {
        pump(out, Stream::Stdout, tx.clone());
    }
    if let Some(err) = child.stderr.take() {
        pump(err, Stream::Stderr, tx.clone());
    }
    drop(tx);
    rx
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
