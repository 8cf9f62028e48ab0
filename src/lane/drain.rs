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

/// What the lane gate checks before any write, read-only: gf does not run in a pod of a set it
/// would drain, and (unless `opts.allow_missing`) every listed set exists.
pub async fn preflight<C: Cluster>(c: &C, lane: &Lane, opts: &LaneOptions) -> Result<(), LaneError> {
    check_self_hosting(c, lane, opts).await?;
    if !opts.allow_missing {
        let mut missing = Vec::new();
        for name in &lane.drain.scale_sets {
            if c.get_set(&lane.drain.namespace, name).await?.is_none() {
                missing.push(name.as_str());
            }
        }
        if !missing.is_empty() {
            return Err(missing_sets(lane, &missing));
        }
    }
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::Drain;
    use crate::lane::cluster::MemCluster;

    fn lane(sets: &[&str]) -> Lane {
        Lane {
            name: "heavy-nix".into(),
            drain: Drain {
                namespace: "arc-runners".into(),
                scale_sets: sets.iter().map(|s| (*s).to_string()).collect(),
            },
        }
    }

    fn opts() -> LaneOptions {
        LaneOptions {
            poll: Duration::from_millis(5),
            who: "unit@test".into(),
            own_pod: None,
            progress: false,
            quiet: true,
            allow_missing: false,
        }
    }

    fn recorded(c: &MemCluster, set: &str) -> DrainedFrom {
        serde_json::from_str(&c.annotation(set).expect("annotated")).unwrap()
    }

    #[tokio::test]
    async fn a_listed_set_the_cluster_lacks_is_refused_before_any_write() {
        let c = MemCluster::default();
        c.add_set("nix", Some(1), Some(10));
        let wrote = AtomicBool::new(false);
        let err = drain_caps(&c, &lane(&["nix", "docker", "dind"]), &opts(), &wrote).await.unwrap_err();
        let LaneError::Refused(r) = err else { panic!("not a refusal: {err}") };
        assert_eq!(r.gate, "lane");
        assert!(r.message.contains("scale sets `docker`, `dind` of lane `heavy-nix` do not exist"), "{}", r.message);
        assert!(!wrote.load(Ordering::SeqCst));
        assert!(c.patches().is_empty(), "{:?}", c.patches());
    }

    #[tokio::test]
    async fn a_first_install_drains_what_exists_and_skips_the_rest() {
        let c = MemCluster::default();
        c.add_set("nix", Some(1), Some(10));
        let wrote = AtomicBool::new(false);
        let first_install = LaneOptions { allow_missing: true, ..opts() };
        let out = drain_caps(&c, &lane(&["docker", "nix"]), &first_install, &wrote).await.unwrap();
        assert_eq!(out.iter().map(|s| s.action).collect::<Vec<_>>(), ["missing", "drained"]);
        assert_eq!(c.caps("nix"), (Some(0), Some(0)));
    }

    #[tokio::test]
    async fn drain_records_caps_and_zeroes_both_in_one_patch() {
        let c = MemCluster::default();
        c.add_set("nix", Some(1), Some(10));
        c.add_set("dind", None, None);
        let wrote = AtomicBool::new(false);
        let out = drain_caps(&c, &lane(&["nix", "dind"]), &opts(), &wrote).await.unwrap();
        assert!(wrote.load(Ordering::SeqCst));
        assert_eq!(out.iter().map(|s| s.action).collect::<Vec<_>>(), ["drained", "drained"]);
        assert_eq!((c.caps("nix"), c.caps("dind")), ((Some(0), Some(0)), (Some(0), Some(0))));
        assert_eq!((recorded(&c, "nix").min, recorded(&c, "nix").max), (Some(1), Some(10)));
        assert_eq!((recorded(&c, "dind").min, recorded(&c, "dind").max), (None, None), "unset and unlimited");
        // One patch per set, carrying both caps and the annotation (max never below min).
        let patches = c.patches();
        assert_eq!(patches.len(), 2);
        for (_, p) in patches {
            assert_eq!((p["spec"]["minRunners"].as_i64(), p["spec"]["maxRunners"].as_i64()), (Some(0), Some(0)));
            assert!(p["metadata"]["resourceVersion"].is_string(), "the patch carries what was read: {p}");
        }
    }

    #[tokio::test]
    async fn a_second_drain_never_overwrites_the_recorded_caps() {
        let c = MemCluster::default();
        c.add_set("nix", Some(2), Some(8));
        let l = lane(&["nix"]);
        drain_caps(&c, &l, &opts(), &AtomicBool::new(false)).await.unwrap();
        let first = recorded(&c, "nix");
        // Something bumped the caps of the drained set; a second drain zeroes them again, keeps the record.
        c.set_caps("nix", 1, 3);
        let out = drain_caps(&c, &l, &opts(), &AtomicBool::new(false)).await.unwrap();
        assert_eq!(out[0].action, "already-drained");
        assert_eq!(recorded(&c, "nix"), first);
        assert_eq!(c.caps("nix"), (Some(0), Some(0)));
    }

    #[tokio::test]
    async fn conflicts_are_retried_on_a_fresh_read_then_given_up() {
        let c = MemCluster::default();
        c.add_set("nix", Some(1), Some(4));
        c.conflict_next("nix", 3);
        drain_caps(&c, &lane(&["nix"]), &opts(), &AtomicBool::new(false)).await.unwrap();
        assert_eq!(c.patches().len(), 4, "three conflicts, then the write");
        assert_eq!(c.caps("nix"), (Some(0), Some(0)));

        let c = MemCluster::default();
        c.add_set("nix", Some(1), Some(4));
        c.conflict_next("nix", CONFLICT_ATTEMPTS);
        let err = drain_caps(&c, &lane(&["nix"]), &opts(), &AtomicBool::new(false)).await.unwrap_err();
        assert!(matches!(err, LaneError::Cluster(ClusterError::Conflict { .. })), "{err}");
        assert_eq!(c.patches().len(), CONFLICT_ATTEMPTS);
    }

    #[tokio::test]
    async fn restore_puts_back_only_caps_still_zero_and_always_drops_the_annotation() {
        let c = MemCluster::default();
        c.add_set("nix", Some(1), Some(10));
        c.add_set("docker", Some(0), Some(5));
        c.add_set("untouched", Some(3), Some(3));
        let l = lane(&["nix", "docker", "untouched"]);
        drain_caps(&c, &lane(&["nix", "docker"]), &opts(), &AtomicBool::new(false)).await.unwrap();
        // The apply changed `docker`'s caps: they are kept.
        c.set_caps("docker", 1, 3);
        let out = restore(&c, &l).await.unwrap();
        let actions: Vec<(&str, &str)> = out.iter().map(|s| (s.name.as_str(), s.action)).collect();
        assert_eq!(actions, [("nix", "restored"), ("docker", "kept"), ("untouched", "not-drained")]);
        assert_eq!(c.caps("nix"), (Some(1), Some(10)));
        assert_eq!(c.caps("docker"), (Some(1), Some(3)));
        assert!(c.annotation("nix").is_none() && c.annotation("docker").is_none());
        // Idempotent: a second restore writes nothing.
        let before = c.patches().len();
        let again = restore(&c, &l).await.unwrap();
        assert!(again.iter().all(|s| s.action == "not-drained"));
        assert_eq!(c.patches().len(), before);
    }

    #[tokio::test]
    async fn wait_idle_waits_for_busy_runners_and_times_out_naming_them() {
        let c = MemCluster::default();
        c.add_set("nix", Some(0), Some(0));
        c.add_runner("nix", "r-1", Some("42"));
        c.add_runner("nix", "r-2", None);
        let l = lane(&["nix"]);
        let err = wait_idle(&c, &l, &["nix".to_string()], &opts(), Duration::from_millis(30)).await.unwrap_err();
        match err {
            LaneError::Timeout { busy, .. } => assert_eq!(busy, [("nix".to_string(), 1)]),
            other => panic!("{other}"),
        }
        let idle = MemCluster::default();
        idle.add_set("nix", Some(0), Some(0));
        idle.add_runner("nix", "r-2", None);
        wait_idle(&idle, &l, &["nix".to_string()], &opts(), Duration::from_secs(5)).await.unwrap();
    }
}
