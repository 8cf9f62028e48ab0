//! SPEC "Exit codes" and the refusal error every safety gate returns.

/// Success.
pub const OK: u8 = 0;
/// Error, violations, or a usage error.
pub const ERROR: u8 = 1;
/// `plan --detailed-exitcode` found changes.
pub const CHANGES: u8 = 2;
/// Refused by a safety gate.
pub const REFUSED: u8 = 3;

/// A gate refused the operation. `gate` names it, e.g. `context`, `state-key`, `stale-plan`,
/// `operator-in-ci`, `cache`, `lane`; safety gates exit 3, gates that stop on an error to fix
/// (a missing variable, a bad argument) exit 1.
#[derive(Debug, Clone, thiserror::Error)]
#[error("refused ({gate}): {message}")]
pub struct Refused {
    /// Which gate.
    pub gate: &'static str,
    /// Why, naming the stack, variable or object.
    pub message: String,
    /// The exit code (3, or 1).
    pub code: u8,
}

impl Refused {
    /// A refusal by safety gate `gate` (exit 3).
    pub fn new(gate: &'static str, message: impl Into<String>) -> Self {
        Self::with_code(gate, message, REFUSED)
    }

    /// A refusal with an explicit exit code.
    pub fn with_code(gate: &'static str, message: impl Into<String>, code: u8) -> Self {
        Self { gate, message: message.into(), code }
    }
}

/// An error that is, or wraps, a refusal. Capability enums carry a [`Refused`] in an
/// `#[error(transparent)]` variant, which hides it from the source chain; this finds it there.
pub trait Refusal {
    /// The refusal this error is or wraps, if any.
    fn refusal(&self) -> Option<&Refused>;

    /// The exit code: the refusal's own, else 1.
    fn exit_code(&self) -> u8 {
        self.refusal().map_or(ERROR, |r| r.code)
    }
}

impl Refusal for Refused {
    fn refusal(&self) -> Option<&Refused> {
        Some(self)
    }
}
