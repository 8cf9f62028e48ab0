//! The lane operations on a [`Cluster`]: self-hosting check, drain, wait, restore, status.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::SystemTime;

use serde::Serialize;

use super::arc::{self, DrainedFrom};
use super::cluster::{Cluster, ClusterError};
use super::{LaneError, LaneOptions};
use crate::contract::Lane;
use crate::exit::Refused;
use crate::ui;

mod restore;
mod status;
#[cfg(test)]
mod tests;
mod wait;

pub use restore::{SetRestore, restore};
pub use status::{SetStatus, status};
pub use wait::wait_idle;

/// How often a write is retried on a 409 (each time after a fresh read).
const CONFLICT_ATTEMPTS: usize = 8;

/// What a drain did to one set.
#[derive(Debug, Clone, Serialize)]
pub struct SetDrain {
    /// The set.
    pub name: String,
    /// `drained`, `already-drained` or `missing`.
    pub action: &'static str,
    /// The caps recorded in its annotation.
    pub recorded: Option<DrainedFrom>,
}

/// Refuse when gf itself runs in a pod of a set it would drain (before any write).
pub async fn check_self_hosting<C: Cluster>(c: &C, lane: &Lane, opts: &LaneOptions) -> Result<(), LaneError> {
    let Some(pod) = &opts.own_pod else { return Ok(()) };
    let ns = pod.namespace.as_deref().unwrap_or(&lane.drain.namespace);
    match c.pod_scale_set(ns, &pod.name).await? {
        Some(Some(set)) if lane.drain.scale_sets.contains(&set) => Err(LaneError::Refused(Refused::new(
            "lane",
            format!(
                "gf runs in pod `{}` of scale set `{set}`, which lane `{}` would drain: draining it would \
                 kill this job; run on the `{}` lane instead",
                pod.name, lane.name, lane.name
            ),
        ))),
        _ => Ok(()),
    }
}

/// Now, RFC 3339 UTC, for the annotation.
fn now() -> String {
    humantime::format_rfc3339_seconds(SystemTime::now()).to_string()
}

/// What the lane gate checks before any write, read-only: gf does not run in a pod of a set it
/// would drain, and (unless `opts.allow_missing`) every listed set exists.
pub async fn preflight<C: Cluster>(c: &C, lane: &Lane, opts: &LaneOptions) -> Result<(), LaneError> {
    check_self_hosting(c, lane, opts).await?;
    if !opts.allow_missing {
        require_sets(c, lane).await?;
    }
    Ok(())
}

/// Refuse when a set of the drain list does not exist (read-only).
async fn require_sets<C: Cluster>(c: &C, lane: &Lane) -> Result<(), LaneError> {
    let mut missing = Vec::new();
    for name in &lane.drain.scale_sets {
        if c.get_set(&lane.drain.namespace, name).await?.is_none() {
            missing.push(name.as_str());
        }
    }
    if missing.is_empty() { Ok(()) } else { Err(missing_sets(lane, &missing)) }
}

/// Record and zero the caps of every set of the drain list; sets carrying the annotation keep it.
/// `wrote` turns true before the first write is sent (from then on a failure needs a restore).
pub async fn drain_caps<C: Cluster>(
    c: &C,
    lane: &Lane,
    opts: &LaneOptions,
    wrote: &AtomicBool,
) -> Result<Vec<SetDrain>, LaneError> {
    if !opts.allow_missing {
        // Before any write: draining a list that names no real set protects nothing.
        require_sets(c, lane).await?;
    }
    let mut out = Vec::new();
    for name in &lane.drain.scale_sets {
        let done = drain_one(c, lane, name, opts, wrote).await?;
        if !opts.quiet {
            report_drain(&done);
        }
        out.push(done);
    }
    Ok(out)
}

/// Record and zero the caps of one set, on a fresh read after each conflict.
async fn drain_one<C: Cluster>(
    c: &C,
    lane: &Lane,
    name: &str,
    opts: &LaneOptions,
    wrote: &AtomicBool,
) -> Result<SetDrain, LaneError> {
    let ns = &lane.drain.namespace;
    let mut attempt = 0;
    loop {
        attempt += 1;
        let Some(set) = c.get_set(ns, name).await? else {
            if !opts.allow_missing {
                // Deleted since the check above.
                return Err(missing_sets(lane, &[name]));
            }
            if !opts.quiet {
                ui::warn(&format!(
                    "scale set `{name}` does not exist in `{ns}` yet: skipped (the plan was made against an absent state; this apply creates it)"
                ));
            }
            return Ok(SetDrain { name: name.to_string(), action: "missing", recorded: None });
        };
        let (patch, action, recorded) = match set.recorded() {
            Some(Err(detail)) => return Err(LaneError::BadAnnotation { set: name.to_string(), detail }),
            Some(Ok(rec)) if set.is_zero() => {
                return Ok(SetDrain { name: name.to_string(), action: "already-drained", recorded: Some(rec) });
            }
            Some(Ok(rec)) => (set.zero_patch(), "already-drained", rec),
            None => {
                let rec = DrainedFrom { min: set.min, max: set.max, time: now(), who: opts.who.clone() };
                (set.drain_patch(&rec), "drained", rec)
            }
        };
        wrote.store(true, Ordering::SeqCst);
        match c.patch_set(ns, name, &patch).await {
            Ok(_) => return Ok(SetDrain { name: name.to_string(), action, recorded: Some(recorded) }),
            Err(ClusterError::Conflict { object }) if attempt < CONFLICT_ATTEMPTS => {
                tracing::info!("{object}: conflict, reading it again");
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// The refusal for drain-list sets the cluster does not have.
fn missing_sets(lane: &Lane, missing: &[&str]) -> LaneError {
    let names = missing.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ");
    let (s, do_) = if missing.len() == 1 { ("", "does") } else { ("s", "do") };
    LaneError::Refused(Refused::new(
        "lane",
        format!(
            "scale set{s} {names} of lane `{}` {do_} not exist in namespace `{}`: draining would leave the real shared sets \
             running and their listeners exposed to the apply; check `lane.drain.scale_sets` against the cluster \
             (`gf lane status`) — only the apply of a plan made against an absent state (a first install) skips missing sets",
            lane.name, lane.drain.namespace
        ),
    ))
}

fn report_drain(d: &SetDrain) {
    let Some(rec) = &d.recorded else { return };
    let was = arc::caps(rec.min, rec.max);
    if d.action == "drained" {
        ui::note(&format!("drained `{}` to 0/0 (was {was})", d.name));
    } else {
        ui::note(&format!("`{}` was already drained by {} at {} (recorded {was}, kept)", d.name, rec.who, rec.time));
    }
}
