//! [`LifecycleError`]: everything a lifecycle command can fail with, gate refusals included.

use crate::backend::BackendError;
use crate::contract::ContractError;
use crate::exit::{Refusal, Refused};
use crate::lane::LaneError;
use crate::s3state::S3StateError;
use crate::tofu::TofuError;

use super::drift::DriftError;
use super::work::WorkError;

/// Errors of the lifecycle (`init`, `plan`, `apply`, `destroy`, `output`, `show`, `drift`,
/// `state push-errored`). A refusal sits in [`LifecycleError::Refused`] or inside a wrapped
/// [`LaneError`]; [`Refusal`] finds it there.
#[derive(Debug, thiserror::Error)]
pub enum LifecycleError {
    /// A gate refused.
    #[error(transparent)]
    Refused(#[from] Refused),
    /// Working files.
    #[error(transparent)]
    Work(#[from] WorkError),
    /// tofu.
    #[error(transparent)]
    Tofu(#[from] TofuError),
    /// The lane guard around an apply.
    #[error(transparent)]
    Lane(#[from] LaneError),
    /// The contract: an unknown stack, a state key.
    #[error(transparent)]
    Contract(#[from] ContractError),
    /// The backend settings.
    #[error(transparent)]
    Backend(#[from] BackendError),
    /// Reading a state object.
    #[error(transparent)]
    S3State(#[from] S3StateError),
    /// `gf drift`'s own errors.
    #[error(transparent)]
    Drift(#[from] DriftError),
    /// Writing or printing JSON.
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    /// A signal while gf itself (not tofu) was working on the stack.
    #[error("interrupted ({signal}) before tofu changed anything for `{stack}`")]
    Interrupted {
        /// The stack.
        stack: String,
        /// `SIGINT`, `SIGTERM` or `SIGHUP`.
        signal: &'static str,
    },
    /// A signal during the run gates.
    #[error("interrupted ({signal}) before anything ran")]
    InterruptedBeforeRun {
        /// `SIGINT`, `SIGTERM` or `SIGHUP`.
        signal: &'static str,
    },
    /// A signal stopped the run between stacks.
    #[error("stopped by {signal}; not run: {not_run}")]
    Stopped {
        /// `SIGINT`, `SIGTERM` or `SIGHUP`.
        signal: &'static str,
        /// The stacks not run, comma-separated.
        not_run: String,
    },
    /// The first stack that failed, and why.
    #[error("stack `{stack}`")]
    Stack {
        /// The stack.
        stack: String,
        /// Why it failed.
        #[source]
        source: Box<LifecycleError>,
    },
    /// A failed apply or destroy, with what gf did about tofu's `errored.tfstate` first.
    #[error("{note}")]
    AfterChange {
        /// The adopted errored state, or why adopting it failed.
        note: String,
        /// The apply's or destroy's error.
        #[source]
        source: Box<LifecycleError>,
    },
    /// `gf drift` could not compare some stacks.
    #[error("`gf drift` could not compare {stacks}")]
    DriftFailed {
        /// The stacks, in backticks, comma-separated.
        stacks: String,
    },
    /// `tofu output -json` printed something else.
    #[error("`tofu output -json` for `{stack}` did not print JSON: {reason}")]
    OutputJson {
        /// Stack.
        stack: String,
        /// Parse error.
        reason: String,
    },
    /// A broken invariant of gf itself.
    #[error("internal error: {0}")]
    Internal(String),
}

impl LifecycleError {
    /// Whether a signal stopped it (tofu's forwarded signal, or one while gf itself worked).
    pub fn is_interrupted(&self) -> bool {
        match self {
            Self::Tofu(TofuError::Interrupted { .. }) | Self::Interrupted { .. } => true,
            Self::Stack { source, .. } | Self::AfterChange { source, .. } => source.is_interrupted(),
            _ => false,
        }
    }
}

impl Refusal for LifecycleError {
    fn refusal(&self) -> Option<&Refused> {
        match self {
            Self::Refused(r) => Some(r),
            Self::Lane(e) => e.refusal(),
            Self::Stack { source, .. } | Self::AfterChange { source, .. } => source.refusal(),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_and_signals_stay_findable_behind_the_stack_and_the_errored_state() {
        let refused = LifecycleError::from(Refused::new("lane", "no"));
        let wrapped = LifecycleError::Stack {
            stack: "arc".into(),
            source: Box::new(LifecycleError::AfterChange { note: "adopted".into(), source: Box::new(refused) }),
        };
        assert_eq!(wrapped.refusal().map(|r| r.gate), Some("lane"));
        assert_eq!(wrapped.exit_code(), crate::exit::REFUSED);
        assert!(!wrapped.is_interrupted());
        assert_eq!(crate::ui::error_chain(&wrapped), "stack `arc`: adopted: refused (lane): no");
        let lane = LaneError::DrainFailed {
            lane: "l".into(),
            restored: "nothing drained".into(),
            source: Box::new(LaneError::Refused(Refused::with_code("lane", "busy", crate::exit::ERROR))),
        };
        let lane = LifecycleError::from(lane);
        assert_eq!(lane.exit_code(), crate::exit::ERROR);
        assert_eq!(lane.refusal().map(|r| r.gate), Some("lane"));
        let stopped = LifecycleError::Stack {
            stack: "arc".into(),
            source: Box::new(LifecycleError::Interrupted { stack: "arc".into(), signal: "SIGTERM" }),
        };
        assert!(stopped.is_interrupted());
        assert_eq!(stopped.refusal().map(|r| r.gate), None);
    }
}
