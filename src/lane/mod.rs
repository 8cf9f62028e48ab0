//! The heavy Nix lane: drain and restore shared ARC runner sets around the ARC apply.
//!
//! Changing an AutoscalingRunnerSet's spec recreates its listener, so the ARC apply runs on the
//! non-shared heavy lane after the shared sets are drained to 0/0 and their jobs have finished.
//! `drain` records each set's caps in the `gf.flywheel.dev/drained-from` annotation; `restore`
//! puts them back where they are still 0/0. [`with_drained`] is the guard `gf apply` uses.

pub mod arc;
pub mod cluster;
mod cmd;
pub mod drain;
mod guard;
mod options;

use std::time::Duration;

use crate::contract::{Contract, ContractError, Lane, Stack};
use crate::exit::Refused;
pub use cluster::Cluster;
use cluster::ClusterError;
pub use cmd::{LaneArgs, Verb, run};
pub use guard::{with_drained, with_drained_on};
pub use options::{LaneOptions, OwnPod};

/// Errors of the lane.
#[derive(Debug, thiserror::Error)]
pub enum LaneError {
    /// A cluster request failed.
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    /// A safety gate refused (exit 3).
    #[error(transparent)]
    Refused(#[from] Refused),
    /// `--stack` names no stack of the contract.
    #[error(transparent)]
    Contract(#[from] ContractError),
    /// The JSON document.
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    /// The drain failed (a refusal that needs no restore is returned as it is).
    #[error("drain of lane `{lane}` failed; {restored}")]
    DrainFailed {
        /// The lane.
        lane: String,
        /// What happened to the sets already drained.
        restored: String,
        /// Why the drain failed.
        #[source]
        source: Box<LaneError>,
    },
    /// The apply succeeded, the restore after it did not.
    #[error("the apply succeeded but lane `{lane}` is still drained")]
    StillDrained {
        /// The lane.
        lane: String,
        /// Why the restore failed.
        #[source]
        source: Box<LaneError>,
    },
    /// A set's drain annotation cannot be read.
    #[error(
        "the `{}` annotation on scale set `{set}` is not gf's JSON ({detail}): fix or remove it by hand",
        arc::DRAINED_FROM
    )]
    BadAnnotation {
        /// The set.
        set: String,
        /// The text and the parse error.
        detail: String,
    },
    /// Jobs still ran on drained sets when the timeout passed.
    #[error("jobs still run after {}: {}", humantime::format_duration(*.after), busy_list(.busy))]
    Timeout {
        /// The timeout.
        after: Duration,
        /// Busy jobs per set.
        busy: Vec<(String, usize)>,
    },
    /// Some sets could not be restored.
    #[error("restore left scale sets drained: {}; run `gf lane restore` again", .failures.join("; "))]
    Restore {
        /// One line per failed set.
        failures: Vec<String>,
    },
    /// `--stack` names a stack without a lane.
    #[error("stack `{stack}` has no `lane`")]
    NoLane {
        /// The stack.
        stack: String,
    },
    /// No stack has a lane.
    #[error("no stack in the contract has a `lane`")]
    NoLaneStack,
    /// Several stacks have a lane and none was chosen.
    #[error("several stacks have a `lane` ({}): pass `--stack`", .names.join(", "))]
    SeveralLaneStacks {
        /// Their names.
        names: Vec<String>,
    },
}

fn busy_list(busy: &[(String, usize)]) -> String {
    busy.iter().map(|(s, n)| format!("`{s}` ({n})")).collect::<Vec<_>>().join(", ")
}

impl crate::exit::Refusal for LaneError {
    fn refusal(&self) -> Option<&Refused> {
        match self {
            Self::Refused(r) => Some(r),
            Self::DrainFailed { source, .. } | Self::StillDrained { source, .. } => source.refusal(),
            _ => None,
        }
    }
}

/// The stack whose lane `gf lane` works on: `--stack`, else the only stack with a lane.
pub fn lane_stack<'c>(c: &'c Contract, name: Option<&str>) -> Result<(&'c Stack, &'c Lane), LaneError> {
    let stack = if let Some(n) = name {
        c.stack(n)?
    } else {
        {
            let stacks: Vec<&Stack> = c.lane_stacks().collect();
            match stacks.as_slice() {
                [one] => *one,
                [] => return Err(LaneError::NoLaneStack),
                many => {
                    return Err(LaneError::SeveralLaneStacks { names: many.iter().map(|s| s.name.clone()).collect() });
                }
            }
        }
    };
    let lane = stack.lane.as_ref().ok_or_else(|| LaneError::NoLane { stack: stack.name.clone() })?;
    Ok((stack, lane))
}

/// The drain and restore steps `apply --dry-run` shows for a lane stack.
pub fn dry_run_steps(stack: &Stack) -> Vec<String> {
    stack.lane.as_ref().map(steps_for).unwrap_or_default()
}

fn steps_for(lane: &Lane) -> Vec<String> {
    let sets = lane.drain.scale_sets.iter().map(|s| format!("`{s}`")).collect::<Vec<_>>().join(", ");
    vec![
        format!(
            "lane `{}`: refuse if gf runs in a pod of a set it drains, or if one of AutoscalingRunnerSets {sets} \
             does not exist in namespace `{}` (unless the plan was made against an absent state); record their \
             minRunners/maxRunners in `{}` and patch them to 0/0",
            lane.name,
            lane.drain.namespace,
            arc::DRAINED_FROM
        ),
        "lane: wait until no EphemeralRunner of those sets has a job (on timeout: restore, exit 3)".to_string(),
        format!(
            "lane `{}`: after the apply (also on failure or Ctrl-C) put recorded caps back where they are \
             still 0/0, keep caps the apply changed, remove the annotation",
            lane.name
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exit;

    #[test]
    fn dry_run_names_the_sets_the_annotation_and_the_restore() {
        let lane = Lane {
            name: "heavy-nix".into(),
            drain: crate::contract::Drain { namespace: "arc-runners".into(), scale_sets: vec!["gf-nix".into()] },
        };
        let steps = steps_for(&lane);
        assert_eq!(steps.len(), 3);
        assert!(steps[0].contains("`gf-nix`") && steps[0].contains(arc::DRAINED_FROM) && steps[0].contains("0/0"));
        assert!(steps[2].contains("put recorded caps back") && steps[2].contains("Ctrl-C"), "{}", steps[2]);
    }

    #[test]
    fn refusals_stay_findable_behind_the_drain_and_restore_errors() {
        use exit::Refusal as _;
        let refused = || Box::new(LaneError::Refused(Refused::new("lane", "x")));
        assert_eq!(LaneError::Refused(Refused::new("lane", "x")).exit_code(), exit::REFUSED);
        let failed = LaneError::DrainFailed { lane: "l".into(), restored: "r".into(), source: refused() };
        assert_eq!(failed.exit_code(), exit::REFUSED);
        let drained = LaneError::StillDrained { lane: "l".into(), source: refused() };
        assert_eq!(drained.exit_code(), exit::REFUSED);
        assert_eq!(LaneError::NoLaneStack.exit_code(), exit::ERROR);
    }
}
