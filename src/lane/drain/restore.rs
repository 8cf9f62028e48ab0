//! Restoring the drained sets: recorded caps back where they are still 0/0.

use serde::Serialize;

use super::CONFLICT_ATTEMPTS;
use crate::contract::Lane;
use crate::lane::LaneError;
use crate::lane::arc::RunnerSet;
use crate::lane::cluster::{Cluster, ClusterError};

/// What a restore did to one set.
#[derive(Debug, Clone, Serialize)]
pub struct SetRestore {
    /// The set.
    pub name: String,
    /// `restored` (recorded caps back), `kept` (caps changed meanwhile), `not-drained` or `missing`.
    pub action: &'static str,
    /// `spec.minRunners` afterwards.
    pub min: Option<i64>,
    /// `spec.maxRunners` afterwards (null: unlimited).
    pub max: Option<i64>,
}

/// Put recorded caps back where they are still 0/0, keep changed caps, remove the annotation.
/// Every set is tried; failures are collected.
pub async fn restore<C: Cluster>(c: &C, lane: &Lane) -> Result<Vec<SetRestore>, LaneError> {
    let ns = &lane.drain.namespace;
    let mut out = Vec::new();
    let mut failures = Vec::new();
    for name in &lane.drain.scale_sets {
        match restore_one(c, ns, name).await {
            Ok(r) => out.push(r),
            Err(e) => failures.push(format!("`{name}`: {}", crate::ui::error_chain(&e))),
        }
    }
    if failures.is_empty() { Ok(out) } else { Err(LaneError::Restore { failures }) }
}

async fn restore_one<C: Cluster>(c: &C, ns: &str, name: &str) -> Result<SetRestore, LaneError> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let Some(set) = c.get_set(ns, name).await? else {
            return Ok(SetRestore { name: name.to_string(), action: "missing", min: None, max: None });
        };
        let (patch, action) = match set.recorded() {
            None => {
                return Ok(SetRestore { name: name.to_string(), action: "not-drained", min: set.min, max: set.max });
            }
            Some(Err(detail)) => return Err(LaneError::BadAnnotation { set: name.to_string(), detail }),
            Some(Ok(rec)) if set.is_zero() => (set.restore_patch(Some((rec.min, rec.max))), "restored"),
            Some(Ok(_)) => (set.restore_patch(None), "kept"),
        };
        match c.patch_set(ns, name, &patch).await {
            Ok(after) => return Ok(restored(name, action, &after)),
            Err(ClusterError::Conflict { object }) if attempt < CONFLICT_ATTEMPTS => {
                tracing::info!("{object}: conflict, reading it again");
            }
            Err(e) => return Err(e.into()),
        }
    }
}

fn restored(name: &str, action: &'static str, after: &RunnerSet) -> SetRestore {
    SetRestore { name: name.to_string(), action, min: after.min, max: after.max }
}
