//! The gate pipeline as data: one ordered list of gates that the real run enforces and
//! `--dry-run` prints (SPEC "The dry run tells the truth"). Each gate has a name, a scope (the
//! whole run, or one stack), the commands it applies to, and one function computing its verdict
//! (in [`super::eval`]) from the session, the stack and what earlier gates found.

use std::fmt;

use serde::Serialize;

use super::{Op, Options};
use crate::contract::Stack;
use crate::exit;

/// Which gate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Gate {
    /// The extra tofu arguments are on the allowlist.
    TofuArgs,
    /// The selected stacks' sources pass `gf check`'s source rules.
    Sources,
    /// Every required variable has a source (`<env>.tfvars`, or `TF_VAR_<name>` if sensitive).
    Inputs,
    /// `KUBE_CONTEXT` is the environment's context, and the kubeconfig defines it for stacks
    /// that use the kubernetes or helm provider.
    Context,
    /// No `apply: operator` stack is applied or destroyed from CI.
    OperatorInCi,
    /// A usable tofu binary.
    Tofu,
    /// The S3 endpoint, bucket and credentials are set.
    Credentials,
    /// The cluster behind the context is the environment's `cluster_uid`.
    ClusterIdentity,
    /// No other gf run in this checkout holds the stack.
    LocalLock,
    /// No `errored.tfstate` is waiting to be pushed.
    ErroredState,
    /// A saved plan exists (apply).
    NoPlan,
    /// The Attic cache answers and holds the stack's `cache_paths`.
    Cache,
    /// The state object exists at the contract's key (or an empty state is accepted).
    StateKey,
    /// The saved plan still matches the state, backend, tofu and its own bytes.
    StalePlan,
    /// A destroy is confirmed (`--yes` or the typed stack name).
    DestroyConfirmation,
    /// The heavy Nix lane is drained around the apply.
    Lane,
}

/// Whether a gate is decided once for the whole selection or per stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Before anything runs, over every selected stack.
    Run,
    /// For each stack, just before its tofu runs.
    Stack,
}

/// The pipeline, in the order both runs evaluate it.
pub const PIPELINE: [Gate; 16] = [
    Gate::TofuArgs,
    Gate::Sources,
    Gate::Inputs,
    Gate::Context,
    Gate::OperatorInCi,
    Gate::Tofu,
    Gate::Credentials,
    Gate::ClusterIdentity,
    Gate::LocalLock,
    Gate::ErroredState,
    Gate::NoPlan,
    Gate::Cache,
    Gate::StateKey,
    Gate::StalePlan,
    Gate::DestroyConfirmation,
    Gate::Lane,
];

impl Gate {
    /// The gate's name in messages and JSON (`refused (stale-plan): …`).
    pub fn name(self) -> &'static str {
        match self {
            Self::TofuArgs => "tofu-args",
            Self::Sources => "sources",
            Self::Inputs => "inputs",
            Self::Context => "context",
            Self::OperatorInCi => "operator-in-ci",
            Self::Tofu => "tofu",
            Self::Credentials => "credentials",
            Self::ClusterIdentity => crate::context::IDENTITY_GATE,
            Self::LocalLock => "local-lock",
            Self::ErroredState => "errored-state",
            Self::NoPlan => "no-plan",
            Self::Cache => "cache",
            Self::StateKey => "state-key",
            Self::StalePlan => "stale-plan",
            Self::DestroyConfirmation => "destroy-confirmation",
            Self::Lane => "lane",
        }
    }

    /// Whole run or per stack.
    pub fn scope(self) -> Scope {
        match self {
            Self::TofuArgs
            | Self::Sources
            | Self::Inputs
            | Self::Context
            | Self::OperatorInCi
            | Self::Tofu
            | Self::Credentials
            | Self::ClusterIdentity => Scope::Run,
            _ => Scope::Stack,
        }
    }

    /// The exit code of a refusal: 3 for safety gates, 1 for what is an error to fix (bad
    /// arguments, sources, a missing binary or variable, another local run).
    pub fn exit_code(self) -> u8 {
        match self {
            Self::TofuArgs | Self::Sources | Self::Inputs | Self::Tofu | Self::Credentials | Self::LocalLock => {
                exit::ERROR
            }
            _ => exit::REFUSED,
        }
    }

    /// Whether the gate applies to this command (and stack, for stack gates).
    pub fn applies(self, o: &Options, stack: Option<&Stack>) -> bool {
        let op = o.op;
        // `gf drift` changes no state, but initializes and plans in `.gf/<env>/<stack>/` like
        // `plan`, and must not compare against a state an `errored.tfstate` says is not the truth.
        let mutating = matches!(op, Op::Init | Op::Plan | Op::Apply | Op::Destroy | Op::Drift | Op::PushErrored);
        match self {
            Self::TofuArgs | Self::Sources | Self::Context | Self::Tofu | Self::Credentials | Self::StateKey => true,
            Self::OperatorInCi => matches!(op, Op::Apply | Op::Destroy),
            // A saved plan already holds its inputs (tofu takes none with it).
            Self::Inputs => matches!(op, Op::Plan | Op::Destroy | Op::Drift),
            // Which stacks reach the cluster is decided by the verdict (it reads their sources).
            Self::ClusterIdentity => op.needs_context(),
            Self::LocalLock => mutating,
            Self::ErroredState => matches!(op, Op::Plan | Op::Apply | Op::Destroy | Op::Drift),
            Self::NoPlan => matches!(op, Op::Apply | Op::Show),
            Self::StalePlan => op == Op::Apply,
            Self::Cache => matches!(op, Op::Plan | Op::Apply) && stack.is_none_or(|s| s.requires_cache),
            // For apply it depends on the saved plan (a destroy plan): decided by the verdict.
            Self::DestroyConfirmation => matches!(op, Op::Destroy | Op::Apply),
            Self::Lane => op == Op::Apply && stack.is_none_or(|s| s.lane.is_some()),
        }
    }
}

impl fmt::Display for Gate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What a gate decided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "verdict", rename_all = "kebab-case")]
pub enum Verdict {
    /// The gate holds.
    Pass {
        /// What was checked.
        detail: String,
    },
    /// The gate refuses: the real run stops here.
    Refuse {
        /// Why, and what to do.
        detail: String,
        /// The exit code.
        exit: u8,
    },
    /// Decided while the run goes on (a prompt, the lane's drain wait).
    Check {
        /// What will be decided.
        detail: String,
    },
    /// Not evaluated: overridden, not relevant for this stack, or an earlier gate refused what
    /// it needs.
    Skip {
        /// Why.
        detail: String,
    },
}

impl Verdict {
    /// A pass.
    pub fn pass(detail: impl Into<String>) -> Self {
        Self::Pass { detail: detail.into() }
    }

    /// A refusal with `gate`'s exit code.
    pub fn refuse(gate: Gate, detail: impl Into<String>) -> Self {
        Self::Refuse { detail: detail.into(), exit: gate.exit_code() }
    }

    /// A refusal with an explicit exit code (an error met while checking, e.g. S3 unreachable).
    pub fn error(detail: impl Into<String>) -> Self {
        Self::Refuse { detail: detail.into(), exit: exit::ERROR }
    }

    /// The same verdict with `note` added to its detail.
    #[must_use]
    pub fn noting(mut self, note: &str) -> Self {
        let (Self::Pass { detail } | Self::Refuse { detail, .. } | Self::Check { detail } | Self::Skip { detail }) =
            &mut self;
        detail.push_str("; ");
        detail.push_str(note);
        self
    }

    /// Decided later.
    pub fn check(detail: impl Into<String>) -> Self {
        Self::Check { detail: detail.into() }
    }

    /// Not evaluated.
    pub fn skip(detail: impl Into<String>) -> Self {
        Self::Skip { detail: detail.into() }
    }

    /// `pass`, `refuse`, `check` or `skip`.
    pub fn word(&self) -> &'static str {
        match self {
            Self::Pass { .. } => "pass",
            Self::Refuse { .. } => "refuse",
            Self::Check { .. } => "check",
            Self::Skip { .. } => "skip",
        }
    }

    /// The detail text.
    pub fn detail(&self) -> &str {
        match self {
            Self::Pass { detail } | Self::Refuse { detail, .. } | Self::Check { detail } | Self::Skip { detail } => {
                detail
            }
        }
    }

    /// Whether it refuses.
    pub fn refuses(&self) -> bool {
        matches!(self, Self::Refuse { .. })
    }
}

/// One gate's verdict, as both runs report it.
#[derive(Debug, Clone, Serialize)]
pub struct Decision {
    /// The gate.
    pub gate: Gate,
    /// Its verdict.
    #[serde(flatten)]
    pub verdict: Verdict,
}

impl Decision {
    /// The refusal a real run stops with, if this decision refuses.
    pub fn refusal(&self) -> Option<exit::Refused> {
        match &self.verdict {
            Verdict::Refuse { detail, exit } => Some(exit::Refused::with_code(self.gate.name(), detail.clone(), *exit)),
            _ => None,
        }
    }
}

/// The gates of `scope` that apply to `o` (and `stack`), in pipeline order.
pub fn gates_for<'a>(scope: Scope, o: &'a Options, stack: Option<&'a Stack>) -> impl Iterator<Item = Gate> + 'a {
    PIPELINE.into_iter().filter(move |g| g.scope() == scope && g.applies(o, stack))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_gates_come_before_stack_gates_and_the_lane_is_last() {
        let first_stack = PIPELINE.iter().position(|g| g.scope() == Scope::Stack).unwrap();
        assert!(PIPELINE[..first_stack].iter().all(|g| g.scope() == Scope::Run));
        assert!(PIPELINE[first_stack..].iter().all(|g| g.scope() == Scope::Stack));
        assert_eq!(PIPELINE.last(), Some(&Gate::Lane));
        let pos = |g| PIPELINE.iter().position(|x| *x == g).unwrap();
        assert!(pos(Gate::Credentials) < pos(Gate::StateKey) && pos(Gate::StateKey) < pos(Gate::StalePlan));
        assert!(pos(Gate::LocalLock) < pos(Gate::ErroredState), "errored state is adopted under the lock");
        assert!(pos(Gate::Sources) < pos(Gate::Inputs), "inputs are read from sources that parse");
        assert!(pos(Gate::Context) < pos(Gate::ClusterIdentity), "the identity is read through the checked context");
    }

    #[test]
    fn names_are_unique_and_kebab_case() {
        let names: std::collections::BTreeSet<&str> = PIPELINE.iter().map(|g| g.name()).collect();
        assert_eq!(names.len(), PIPELINE.len());
        for g in PIPELINE {
            assert_eq!(serde_json::to_value(g).unwrap(), g.name());
        }
    }

    #[test]
    fn safety_gates_exit_3_and_errors_exit_1() {
        assert_eq!(Gate::StalePlan.exit_code(), 3);
        assert_eq!(Gate::OperatorInCi.exit_code(), 3);
        assert_eq!(Gate::Credentials.exit_code(), 1);
        assert_eq!(Gate::TofuArgs.exit_code(), 1);
        assert_eq!(Gate::Inputs.exit_code(), 1);
        assert_eq!(Gate::ClusterIdentity.exit_code(), 3);
        assert_eq!(Gate::ClusterIdentity.name(), "cluster-identity");
    }
}
