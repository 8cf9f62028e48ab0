//! The heavy Nix lane: drain and restore shared ARC runner sets around the ARC apply.
//!
//! Changing an AutoscalingRunnerSet's spec recreates its listener, so the ARC apply runs on the
//! non-shared heavy lane after the shared sets are drained to 0/0 and their jobs have finished.
//! `drain` records each set's caps in the `gf.flywheel.dev/drained-from` annotation; `restore`
//! puts them back where they are still 0/0. [`with_drained`] is the guard `gf apply` uses.

pub mod arc;
pub mod cluster;
pub mod drain;

use std::future::Future;
use std::time::Duration;

use serde_json::json;

use crate::context::ContextStatus;
use crate::contract::{Contract, Lane, Stack};
use crate::exit::{self, Refused};
use crate::session::{Session, Vars, World};
use crate::{signals, ui};
pub use cluster::Cluster;
use cluster::ClusterError;

/// Errors of the lane.
#[derive(Debug, thiserror::Error)]
pub enum LaneError {
    /// A cluster request failed.
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    /// A safety gate refused (exit 3).
    #[error(transparent)]
    Refused(Refused),
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

/// Into anyhow, keeping a refusal findable by `exit::code_for`.
fn lift(e: LaneError) -> anyhow::Error {
    match e {
        LaneError::Refused(r) => anyhow::Error::new(r),
        other => anyhow::Error::new(other),
    }
}

/// The pod gf runs in, for the self-hosting refusal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnPod {
    /// Pod name (`ACTIONS_RUNNER_POD_NAME`, else `HOSTNAME` inside a cluster).
    pub name: String,
    /// `POD_NAMESPACE`, else the drain namespace.
    pub namespace: Option<String>,
}

/// How the lane runs: poll interval, who drains, where gf runs, output.
#[derive(Debug, Clone)]
pub struct LaneOptions {
    /// Poll interval of the drain wait (`GF_LANE_POLL_MS`, default 2 s).
    pub poll: Duration,
    /// Recorded as `who` in the annotation.
    pub who: String,
    /// The pod gf runs in, if any.
    pub own_pod: Option<OwnPod>,
    /// Progress bars (stderr is a terminal).
    pub progress: bool,
    /// No notes on stderr.
    pub quiet: bool,
    /// A set of the drain list that does not exist is skipped instead of refused: true only for
    /// the apply of a plan made against an absent state (a first install creates the sets).
    pub allow_missing: bool,
}

impl LaneOptions {
    /// Options from the session's environment snapshot.
    pub fn of(vars: &Vars, progress: bool) -> Self {
        Self::from_vars(|k| vars.get(k).filter(|v| !v.trim().is_empty()), progress)
    }

    /// Options from an environment lookup.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>, progress: bool) -> Self {
        let poll = var("GF_LANE_POLL_MS")
            .and_then(|v| v.parse::<u64>().ok())
            .map_or(Duration::from_secs(2), |ms| Duration::from_millis(ms.max(10)));
        let in_cluster = var("KUBERNETES_SERVICE_HOST").is_some();
        let pod_name = var("ACTIONS_RUNNER_POD_NAME").or_else(|| if in_cluster { var("HOSTNAME") } else { None });
        let own_pod = pod_name.map(|name| OwnPod { name, namespace: var("POD_NAMESPACE") });
        let user = var("USER").or_else(|| var("LOGNAME")).unwrap_or_else(|| "unknown".into());
        let host = var("ACTIONS_RUNNER_POD_NAME")
            .or_else(|| var("HOSTNAME"))
            .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok().map(|h| h.trim().to_string()))
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "unknown".into());
        let who = match (var("GITHUB_REPOSITORY"), var("GITHUB_RUN_ID")) {
            (Some(repo), Some(run)) => format!("{user}@{host} ({repo} run {run})"),
            _ => format!("{user}@{host}"),
        };
        Self { poll, who, own_pod, progress, quiet: false, allow_missing: false }
    }
}

/// The stack whose lane `gf lane` works on: `--stack`, else the only stack with a lane.
pub fn lane_stack<'c>(c: &'c Contract, name: Option<&str>) -> anyhow::Result<(&'c Stack, &'c Lane)> {
    let stack = if let Some(n) = name {
        c.stack(n)?
    } else {
        {
            let stacks: Vec<&Stack> = c.lane_stacks().collect();
            match stacks.as_slice() {
                [one] => *one,
                [] => return Err(LaneError::NoLaneStack.into()),
                many => {
                    return Err(
                        LaneError::SeveralLaneStacks { names: many.iter().map(|s| s.name.clone()).collect() }.into()
                    );
                }
            }
        }
    };
    let lane = stack.lane.as_ref().ok_or_else(|| LaneError::NoLane { stack: stack.name.clone() })?;
    Ok((stack, lane))
}

/// Which lane command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    /// `gf lane status`.
    Status,
    /// `gf lane drain`.
    Drain,
    /// `gf lane restore`.
    Restore,
}

impl Verb {
    fn name(self) -> &'static str {
        match self {
            Self::Status => "status",
            Self::Drain => "drain",
            Self::Restore => "restore",
        }
    }
}

/// Options of `gf lane …`.
#[derive(Debug, Clone)]
pub struct LaneArgs {
    /// The lane stack (default: the only stack with a lane).
    pub stack: Option<String>,
    /// How long `drain` waits for busy jobs.
    pub timeout: Duration,
    /// One JSON document.
    pub json: bool,
}

/// `gf lane status|drain|restore`.
pub async fn run<W: World>(s: &Session<W>, verb: Verb, args: &LaneArgs) -> anyhow::Result<u8> {
    let env = &s.env;
    let (stack, lane) = lane_stack(&s.contract, args.stack.as_deref())?;
    let status = ContextStatus::of(&s.environment, &s.vars);
    let context = if verb == Verb::Status {
        // Read-only: report a mismatch, then read whichever context was asked for.
        status.report(env, "gf lane status");
        status.actual.clone().unwrap_or_else(|| {
            ui::note(&format!(
                "`KUBE_CONTEXT` is not set; reading context `{}` of environment `{env}`",
                status.expected
            ));
            status.expected.clone()
        })
    } else {
        status.require(env, &format!("gf lane {}", verb.name()))?.to_string()
    };
    let cluster = s.world.cluster(&s.kubeconfig, &context).await?;
    if verb != Verb::Status {
        // Nothing is written to a cluster that is not the environment's.
        crate::context::verify_identity(&cluster, &s.environment, env, &context).await?;
    }
    let opts = LaneOptions::of(&s.vars, ui::stderr_is_tty() && !args.json);
    let head = json!({
        "stack": stack.name, "lane": lane.name, "env": env, "context": context,
        "context_matches": context == status.expected, "namespace": lane.drain.namespace,
    });
    match verb {
        Verb::Status => status_cmd(&cluster, lane, args, head).await,
        Verb::Drain => drain_cmd(&cluster, lane, &opts, args, head).await,
        Verb::Restore => restore_cmd(&cluster, lane, args, head).await,
    }
}

fn with_sets(mut head: serde_json::Value, key: &str, v: serde_json::Value) -> serde_json::Value {
    if let Some(o) = head.as_object_mut() {
        o.insert(key.to_string(), v);
    }
    head
}

async fn status_cmd<C: Cluster>(c: &C, lane: &Lane, args: &LaneArgs, head: serde_json::Value) -> anyhow::Result<u8> {
    let sets = drain::status(c, lane).await.map_err(lift)?;
    if args.json {
        ui::print_json(&with_sets(head, "sets", serde_json::to_value(&sets)?))?;
        return Ok(exit::OK);
    }
    let rows: Vec<Vec<String>> = sets
        .iter()
        .map(|s| {
            if !s.found {
                return vec![s.name.clone(), "-".into(), "-".into(), "-".into(), "-".into(), "not found".into()];
            }
            let drained = match (&s.drained, &s.annotation_error) {
                (Some(d), _) => format!("since {} by {} (from {})", d.time, d.who, arc::caps(d.min, d.max)),
                (None, Some(_)) => "unreadable annotation".into(),
                (None, None) => "no".into(),
            };
            vec![
                s.name.clone(),
                s.min.map_or_else(|| "unset".into(), |m| m.to_string()),
                s.max.map_or_else(|| "unlimited".into(), |m| m.to_string()),
                s.runners.to_string(),
                s.busy.to_string(),
                drained,
            ]
        })
        .collect();
    crate::outln!("lane `{}`: shared scale sets in `{}`", lane.name, lane.drain.namespace);
    ui::out_raw(&ui::table(&["set", "min", "max", "runners", "busy", "drained"], &rows));
    Ok(exit::OK)
}

async fn drain_cmd<C: Cluster>(
    c: &C,
    lane: &Lane,
    opts: &LaneOptions,
    args: &LaneArgs,
    head: serde_json::Value,
) -> anyhow::Result<u8> {
    let (sets, waited) = guarded_drain(c, lane, opts, args.timeout).await?;
    if args.json {
        let doc = with_sets(head, "sets", serde_json::to_value(&sets)?);
        ui::print_json(&with_sets(doc, "waited_seconds", json!(waited.as_secs_f64())))?;
    } else {
        let drained = sets.iter().filter(|s| s.action != "missing").count();
        crate::outln!(
            "lane `{}` drained: no job runs on its {drained} shared set{} (waited {}); `gf lane restore` puts the caps back",
            lane.name,
            if drained == 1 { "" } else { "s" },
            humantime::format_duration(Duration::from_secs(waited.as_secs()))
        );
    }
    Ok(exit::OK)
}

async fn restore_cmd<C: Cluster>(c: &C, lane: &Lane, args: &LaneArgs, head: serde_json::Value) -> anyhow::Result<u8> {
    let sets = drain::restore(c, lane).await.map_err(lift)?;
    if args.json {
        ui::print_json(&with_sets(head, "sets", serde_json::to_value(&sets)?))?;
        return Ok(exit::OK);
    }
    for s in &sets {
        let caps = arc::caps(s.min, s.max);
        match s.action {
            "restored" => crate::outln!("restored `{}` to {caps}", s.name),
            "kept" => crate::outln!("kept `{}` at {caps} (changed since the drain)", s.name),
            "missing" => crate::outln!("`{}` does not exist", s.name),
            _ => crate::outln!("`{}` was not drained ({caps})", s.name),
        }
    }
    Ok(exit::OK)
}

/// Self-hosting check, drain and wait; on a failure, timeout or Ctrl-C after the first write,
/// restore before returning the error.
async fn guarded_drain<C: Cluster>(
    c: &C,
    lane: &Lane,
    opts: &LaneOptions,
    timeout: Duration,
) -> anyhow::Result<(Vec<drain::SetDrain>, Duration)> {
    // Nothing is written before this check passes: a refusal needs no restore.
    tokio::select! {
        r = drain::check_self_hosting(c, lane, opts) => r.map_err(lift)?,
        _ = signals::any() => {
            return Err(anyhow::Error::new(Refused::new("lane", "interrupted before the drain; nothing was changed")));
        }
    }
    let wrote = std::sync::atomic::AtomicBool::new(false);
    let drained = tokio::select! {
        r = async {
            let sets = drain::drain_caps(c, lane, opts, &wrote).await?;
            let present: Vec<String> =
                sets.iter().filter(|s| s.action != "missing").map(|s| s.name.clone()).collect();
            let waited = drain::wait_idle(c, lane, &present, opts, timeout).await?;
            Ok::<_, Option<LaneError>>((sets, waited))
        } => r,
        _ = signals::any() => Err(None),
    };
    let err = match drained {
        Ok(ok) => return Ok(ok),
        Err(e) => e,
    };
    let wrote_any = wrote.load(std::sync::atomic::Ordering::SeqCst);
    if let (Some(LaneError::Refused(r)), false) = (&err, wrote_any) {
        // Refused before the first write (a set that does not exist): nothing to put back.
        return Err(anyhow::Error::new(r.clone()));
    }
    let restored = if wrote_any {
        match drain::restore(c, lane).await {
            Ok(_) => "the recorded caps were put back".to_string(),
            Err(r) => format!("restoring failed too ({}): run `gf lane restore`", ui::error_chain(&r)),
        }
    } else {
        // Nothing was sent: the sets are as they were (an earlier drain's annotation included).
        "nothing was changed".to_string()
    };
    Err(match err {
        None => anyhow::Error::new(Refused::new(
            "lane",
            format!("interrupted while draining lane `{}`; {restored}", lane.name),
        )),
        Some(e @ LaneError::Timeout { .. }) => anyhow::Error::new(Refused::new(
            "lane",
            format!("drain of lane `{}` timed out: {e}; {restored}", lane.name),
        )),
        Some(e) => lift(e).context(format!("drain of lane `{}` failed; {restored}", lane.name)),
    })
}

/// Drain the stack's lane, run `apply`, and restore — also when `apply` fails or on a signal.
/// Nothing is drained when the cluster is not the environment's `cluster_uid`.
/// Returns `apply`'s result (or the drain/restore error). A stack without a lane just runs `apply`.
/// `first_install`: the plan being applied was made against an absent state (its metadata's
/// `state.exists` is false), so drain sets that do not exist yet are skipped, not refused.
pub async fn with_drained<W: World, T, Fut>(
    s: &Session<W>,
    stack: &Stack,
    timeout: Duration,
    first_install: bool,
    apply: Fut,
) -> anyhow::Result<T>
where
    Fut: Future<Output = anyhow::Result<T>>,
{
    let Some(lane) = &stack.lane else { return apply.await };
    let status = ContextStatus::of(&s.environment, &s.vars);
    let context = status.require(&s.env, &format!("gf apply {}", stack.name))?;
    let cluster = s.world.cluster(&s.kubeconfig, context).await?;
    crate::context::verify_identity(&cluster, &s.environment, &s.env, context).await?;
    let opts = LaneOptions { allow_missing: first_install, ..LaneOptions::of(&s.vars, ui::stderr_is_tty()) };
    with_drained_on(&cluster, lane, &opts, timeout, apply).await
}

/// [`with_drained`] on a given cluster (the tests' entry point). The returned future must be
/// awaited to the end: dropping it half-way skips the restore (`gf lane restore` recovers).
pub async fn with_drained_on<C, T, Fut>(
    cluster: &C,
    lane: &Lane,
    opts: &LaneOptions,
    timeout: Duration,
    apply: Fut,
) -> anyhow::Result<T>
where
    C: Cluster,
    Fut: Future<Output = anyhow::Result<T>>,
{
    let (_, waited) = guarded_drain(cluster, lane, opts, timeout).await?;
    if !opts.quiet {
        ui::note(&format!(
            "lane `{}` drained (waited {}); applying",
            lane.name,
            humantime::format_duration(Duration::from_secs(waited.as_secs()))
        ));
    }
    // A panicking apply still gets its restore; the panic continues afterwards.
    let result = match futures::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(apply)).await {
        Ok(r) => r,
        Err(panic) => {
            if let Err(r) = restore_with_retries(cluster, lane).await {
                ui::error(&format!("lane `{}` is still drained: {}", lane.name, ui::error_chain(&r)));
            }
            std::panic::resume_unwind(panic);
        }
    };
    let restored = restore_with_retries(cluster, lane).await;
    if let (Ok(sets), false) = (&restored, opts.quiet) {
        ui::note(&format!("lane `{}` restored: {}", lane.name, restore_summary(sets)));
    }
    match (result, restored) {
        (Ok(v), Ok(_)) => Ok(v),
        (Ok(_), Err(r)) => {
            Err(lift(r).context(format!("the apply succeeded but lane `{}` is still drained", lane.name)))
        }
        (Err(e), Ok(_)) => {
            ui::note(&format!("lane `{}` restored after the failed apply", lane.name));
            Err(e)
        }
        (Err(e), Err(r)) => {
            ui::error(&format!("lane `{}` is still drained: {}", lane.name, ui::error_chain(&r)));
            Err(e)
        }
    }
}

fn restore_summary(sets: &[drain::SetRestore]) -> String {
    sets.iter()
        .map(|s| match s.action {
            "kept" => format!("`{}` kept at {}", s.name, arc::caps(s.min, s.max)),
            "restored" => format!("`{}` back to {}", s.name, arc::caps(s.min, s.max)),
            other => format!("`{}` {other}", s.name),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Restore, retrying transient failures a few times (the guard's last line of defence).
async fn restore_with_retries<C: Cluster>(c: &C, lane: &Lane) -> Result<Vec<drain::SetRestore>, LaneError> {
    let mut delay = Duration::from_secs(1);
    let mut attempt = 0;
    loop {
        attempt += 1;
        match drain::restore(c, lane).await {
            Ok(sets) => return Ok(sets),
            Err(e) if attempt < 3 => {
                ui::warn(&format!("restoring lane `{}` failed ({}); retrying", lane.name, ui::error_chain(&e)));
                tokio::time::sleep(delay).await;
                delay *= 2;
            }
            Err(e) => return Err(e),
        }
    }
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

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: std::collections::BTreeMap<String, String> =
            pairs.iter().map(|(k, v)| ((*k).to_string(), (*v).to_string())).collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn own_pod_comes_from_the_runner_variable_else_hostname_inside_a_cluster() {
        let o = LaneOptions::from_vars(vars(&[("ACTIONS_RUNNER_POD_NAME", "r-1"), ("HOSTNAME", "h")]), false);
        assert_eq!(o.own_pod, Some(OwnPod { name: "r-1".into(), namespace: None }));
        let o = LaneOptions::from_vars(vars(&[("HOSTNAME", "laptop")]), false);
        assert_eq!(o.own_pod, None, "HOSTNAME outside a cluster is not a pod");
        let o = LaneOptions::from_vars(
            vars(&[("HOSTNAME", "p"), ("KUBERNETES_SERVICE_HOST", "10.0.0.1"), ("POD_NAMESPACE", "ci")]),
            false,
        );
        assert_eq!(o.own_pod, Some(OwnPod { name: "p".into(), namespace: Some("ci".into()) }));
    }

    #[test]
    fn who_and_poll() {
        let o = LaneOptions::from_vars(
            vars(&[
                ("USER", "ops"),
                ("HOSTNAME", "bumble"),
                ("GF_LANE_POLL_MS", "150"),
                ("GITHUB_REPOSITORY", "o/r"),
                ("GITHUB_RUN_ID", "9"),
            ]),
            true,
        );
        assert_eq!(o.who, "ops@bumble (o/r run 9)");
        assert_eq!(o.poll, Duration::from_millis(150));
        assert_eq!(LaneOptions::from_vars(vars(&[]), false).poll, Duration::from_secs(2));
    }

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
    fn refusals_stay_findable_after_lifting() {
        let e = lift(LaneError::Refused(Refused::new("lane", "x")));
        assert_eq!(exit::code_for(&e), exit::REFUSED);
        assert_eq!(exit::code_for(&lift(LaneError::NoLaneStack)), exit::ERROR);
    }
}
