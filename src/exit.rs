//! SPEC "Exit codes" and the refusal error every safety gate returns.

/// Success.
pub const OK: u8 = 0;
/// Error, violations, or a usage error.
pub const ERROR: u8 = 1;
/// `plan --detailed-exitcode` found changes.
pub const CHANGES: u8 = 2;
/// Refused by a safety gate.
pub const REFUSED: u8 = 3;

/// A safety gate refused the operation (exit 3). `gate` names the gate, e.g. `context`,
/// `state-key`, `stale-plan`, `operator-in-ci`, `cache`, `lane`.
#[derive(Debug, Clone, thiserror::Error)]
#[error("refused ({gate}): {message}")]
pub struct Refused {
    /// Which gate.
    pub gate: &'static str,
    /// Why, naming the stack, variable or object.
    pub message: String,
}

impl Refused {
    /// A refusal by `gate`.
    pub fn new(gate: &'static str, message: impl Into<String>) -> Self {
        Self { gate, message: message.into() }
    }
}

/// The exit code for an error that reached the top: 3 when any cause is a refusal, else 1.
pub fn code_for(err: &anyhow::Error) -> u8 {
    if err.chain().any(|c| c.downcast_ref::<Refused>().is_some()) { REFUSED } else { ERROR }
}
