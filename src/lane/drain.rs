//! The lane operations on a [`Cluster`]: self-hosting check, drain, wait, restore, status.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use serde::Serialize;

use super::arc::{self, DrainedFrom, RunnerSet};
use super::cluster::{Cluster, ClusterError};
use super::{LaneError, LaneOptions};
use crate::contract::Lane;
use crate::exit::Refused;
use crate::ui;

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

/// One set in `gf lane status`.
#[derive(Debug, Clone, Serialize)]
pub struct SetStatus {
    /// The set.
    pub name: String,
    /// Whether the set exists.
    pub found: bool,
    /// `spec.minRunners`.
    pub min: Option<i64>,
    /// `spec.maxRunners` (null: unlimited).
    pub max: Option<i64>,
    /// Its EphemeralRunners.
    pub runners: usize,
    /// Those with a job.
    pub busy: usize,
    /// The drain annotation (null: not drained).
    pub drained: Option<DrainedFrom>,
    /// The annotation's text when it cannot be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub annotation_error: Option<String>,
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

/// Record and zero the caps of every set of the drain list; sets carrying the annotation keep it.
/// `wrote` turns true before the first write is sent (from then on a failure needs a restore).
pub async fn drain_caps<C: Cluster>(
    c: &C,
    lane: &Lane,
    opts: &LaneOptions,
    wrote: &AtomicBool,
) -> Result<Vec<SetDrain>, LaneError> {
    let quiet = opts.quiet;
    let ns = &lane.drain.namespace;
    if !opts.allow_missing {
        // Before any write: draining a list that names no real set protects nothing.
        let mut missing = Vec::new();
        for name in &lane.drain.scale_sets {
            if c.get_set(ns, name).await?.is_none() {
                missing.push(name.as_str());
            }
        }
        if !missing.is_empty() {
            return Err(missing_sets(lane, &missing));
        }
    }
    let mut out = Vec::new();
    for name in &lane.drain.scale_sets {
        let mut attempt = 0;
        let done = loop {
            attempt += 1;
            let Some(set) = c.get_set(ns, name).await? else {
                if !opts.allow_missing {
                    // Deleted since the check above.
                    return Err(missing_sets(lane, &[name.as_str()]));
                }
                if !quiet {
                    ui::warn(&format!(
                        "scale set `{name}` does not exist in `{ns}` yet: skipped (the plan was made against an absent state; this apply creates it)"
                    ));
                }
                break SetDrain { name: name.clone(), action: "missing", recorded: None };
            };
            let (patch, action, recorded) = match set.recorded() {
                Some(Err(detail)) => return Err(LaneError::BadAnnotation { set: name.clone(), detail }),
                Some(Ok(rec)) if set.is_zero() => {
                    break SetDrain { name: name.clone(), action: "already-drained", recorded: Some(rec) };
                }
                Some(Ok(rec)) => (set.zero_patch(), "already-drained", rec),
                None => {
                    let rec = DrainedFrom { min: set.min, max: set.max, time: now(), who: opts.who.clone() };
                    (set.drain_patch(&rec), "drained", rec)
                }
            };
            wrote.store(true, Ordering::SeqCst);
            match c.patch_set(ns, name, &patch).await {
                Ok(_) => break SetDrain { name: name.clone(), action, recorded: Some(recorded) },
                Err(ClusterError::Conflict { object }) if attempt < CONFLICT_ATTEMPTS => {
                    tracing::info!("{object}: conflict, reading it again");
                }
                Err(e) => return Err(e.into()),
            }
        };
        if !quiet {
            report_drain(&done);
        }
        out.push(done);
    }
    Ok(out)
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

/// Busy EphemeralRunners per set.
async fn busy_counts<C: Cluster>(c: &C, ns: &str, sets: &[String]) -> Result<Vec<(String, usize)>, LaneError> {
    let mut out = Vec::new();
    for s in sets {
        let busy = c.runners(ns, s).await?.iter().filter(|r| r.busy()).count();
        out.push((s.clone(), busy));
    }
    Ok(out)
}

fn jobs(n: usize) -> String {
    format!("{n} busy job{} left", if n == 1 { "" } else { "s" })
}

/// Wait until no EphemeralRunner of `sets` has a job; Err(Timeout) after `timeout`.
pub async fn wait_idle<C: Cluster>(
    c: &C,
    lane: &Lane,
    sets: &[String],
    opts: &LaneOptions,
    timeout: Duration,
) -> Result<Duration, LaneError> {
    let ns = &lane.drain.namespace;
    let start = Instant::now();
    let bars: Option<(indicatif::MultiProgress, BTreeMap<String, indicatif::ProgressBar>)> = opts.progress.then(|| {
        let multi = indicatif::MultiProgress::new();
        let style = indicatif::ProgressStyle::with_template("{spinner} {prefix:.bold} {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner());
        let bars = sets
            .iter()
            .map(|s| {
                let bar = multi.add(indicatif::ProgressBar::new_spinner().with_style(style.clone()));
                bar.set_prefix(s.clone());
                bar.set_message("checking for jobs");
                bar.enable_steady_tick(Duration::from_millis(120));
                (s.clone(), bar)
            })
            .collect();
        (multi, bars)
    });
    let mut last: Option<Vec<(String, usize)>> = None;
    loop {
        let counts = busy_counts(c, ns, sets).await?;
        let total: usize = counts.iter().map(|(_, n)| n).sum();
        if let Some((_, bars)) = &bars {
            for (s, n) in &counts {
                if let Some(bar) = bars.get(s) {
                    if *n == 0 {
                        bar.finish_with_message("no job left");
                    } else {
                        bar.set_message(jobs(*n));
                    }
                }
            }
        } else if last.as_ref() != Some(&counts) && total > 0 && !opts.quiet {
            let busy: Vec<String> =
                counts.iter().filter(|(_, n)| *n > 0).map(|(s, n)| format!("`{s}`: {}", jobs(*n))).collect();
            ui::note(&format!("waiting for jobs on drained sets: {}", busy.join(", ")));
        }
        if total == 0 {
            if let Some((_, bars)) = &bars {
                bars.values().for_each(indicatif::ProgressBar::finish);
            }
            return Ok(start.elapsed());
        }
        let elapsed = start.elapsed();
        if elapsed >= timeout {
            if let Some((_, bars)) = &bars {
                bars.values().for_each(indicatif::ProgressBar::abandon);
            }
            return Err(LaneError::Timeout {
                after: timeout,
                busy: counts.into_iter().filter(|(_, n)| *n > 0).collect(),
            });
        }
        last = Some(counts);
        tokio::time::sleep(opts.poll.min(timeout.saturating_sub(elapsed))).await;
    }
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

/// Caps, runners and the drain record of every set of the drain list.
pub async fn status<C: Cluster>(c: &C, lane: &Lane) -> Result<Vec<SetStatus>, LaneError> {
    let ns = &lane.drain.namespace;
    let mut out = Vec::new();
    for name in &lane.drain.scale_sets {
        let Some(set) = c.get_set(ns, name).await? else {
            out.push(SetStatus {
                name: name.clone(),
                found: false,
                min: None,
                max: None,
                runners: 0,
                busy: 0,
                drained: None,
                annotation_error: None,
            });
            continue;
        };
        let runners = c.runners(ns, name).await?;
        let (drained, annotation_error) = match set.recorded() {
            None => (None, None),
            Some(Ok(r)) => (Some(r), None),
            Some(Err(e)) => (None, Some(e)),
        };
        out.push(SetStatus {
            name: name.clone(),
            found: true,
            min: set.min,
            max: set.max,
            runners: runners.len(),
            busy: runners.iter().filter(|r| r.busy()).count(),
            drained,
            annotation_error,
        });
    }
    Ok(out)
}
