//! SIGINT, SIGTERM and SIGHUP, handled alike for the whole run (SPEC "Signals, pipes and local
//! concurrency").
//!
//! [`install`] replaces the default "terminate" action of all three for the life of the process: a
//! Ctrl-C, a CI cancel (SIGTERM) or a closed terminal (SIGHUP) never kills gf outright. Instead the
//! signal is counted and broadcast; whoever is waiting decides: the tofu runner forwards the first
//! one to tofu's process group and waits for tofu, the lane restores what it drained, gf's own work
//! stops before the next tofu starts. When the run is over, `main` exits 128 + the signal number.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicI32, Ordering};

use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;

/// A signal gf handles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// SIGINT (Ctrl-C).
    Interrupt,
    /// SIGTERM (a CI cancel, `kill`).
    Terminate,
    /// SIGHUP (the terminal closed).
    Hangup,
}

impl Signal {
    /// The signal number.
    pub fn number(self) -> i32 {
        match self {
            Self::Interrupt => libc::SIGINT,
            Self::Terminate => libc::SIGTERM,
            Self::Hangup => libc::SIGHUP,
        }
    }

    /// The exit code after it: 128 + its number (130, 143, 129).
    pub fn exit_code(self) -> u8 {
        u8::try_from(128 + self.number()).unwrap_or(u8::MAX)
    }

    /// `SIGINT`, `SIGTERM`, `SIGHUP`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Interrupt => "SIGINT",
            Self::Terminate => "SIGTERM",
            Self::Hangup => "SIGHUP",
        }
    }

    fn from_number(n: i32) -> Option<Self> {
        [Self::Interrupt, Self::Terminate, Self::Hangup].into_iter().find(|s| s.number() == n)
    }
}

/// How many signals arrived so far (the channel's value).
static COUNT: OnceLock<watch::Sender<usize>> = OnceLock::new();
/// The first signal's number (0: none yet).
static FIRST: AtomicI32 = AtomicI32::new(0);

fn sender() -> &'static watch::Sender<usize> {
    COUNT.get_or_init(|| watch::channel(0).0)
}

/// Start handling the three signals (call once, inside the runtime, before any work).
pub fn install() -> std::io::Result<()> {
    for kind in [SignalKind::interrupt(), SignalKind::terminate(), SignalKind::hangup()] {
        let mut stream = signal(kind)?;
        let number = kind.as_raw_value();
        tokio::spawn(async move {
            while stream.recv().await.is_some() {
                record(number);
            }
        });
    }
    Ok(())
}

/// Count a signal as if it had arrived (the handler's body; tests use it directly).
pub fn record(number: i32) {
    let _ = FIRST.compare_exchange(0, number, Ordering::SeqCst, Ordering::SeqCst);
    sender().send_modify(|c| *c += 1);
}

/// The first signal that arrived, if any.
pub fn received() -> Option<Signal> {
    Signal::from_number(FIRST.load(Ordering::SeqCst))
}

/// How many signals arrived so far.
pub fn count() -> usize {
    *sender().borrow()
}

/// Resolves once more than `seen` signals have arrived; returns the first signal.
pub async fn after(seen: usize) -> Signal {
    let mut rx = sender().subscribe();
    // The sender lives in a static: the channel never closes, so this only returns on a signal.
    let _ = rx.wait_for(|c| *c > seen).await;
    received().unwrap_or(Signal::Interrupt)
}

/// Resolves on the first signal (at once if one already arrived).
pub async fn any() -> Signal {
    after(0).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_are_128_plus_the_number() {
        assert_eq!(Signal::Interrupt.exit_code(), 130);
        assert_eq!(Signal::Terminate.exit_code(), 143);
        assert_eq!(Signal::Hangup.exit_code(), 129);
    }
}
