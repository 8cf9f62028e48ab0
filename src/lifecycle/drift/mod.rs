//! `gf drift`: per stack, the two comparisons of the contract's order of truth —
//! `pending` (desired vs managed: a normal plan) and `drift` (managed vs observed: a refresh-only
//! plan) — plus, for a lane stack, the scale sets' caps in the cluster against `scale-sets.json`.
//!
//! It walks the same gate pipeline as `plan` (run gates: extra arguments, sources, context, tofu,
//! credentials; stack gates: local lock, errored state, state key) and runs tofu through the same
//! steps (backend file, init, child environment). Both plans are written to unique temporary files in `.gf/<env>/<stack>/`, read back with `show -json` in memory and
//! removed; the saved `plan.tfplan` is never touched. tofu takes and releases the S3 lock for each
//! plan, as for any plan. The state is read before and after: a state that moved meanwhile (or,
//! which must never happen, was moved by gf) fails the stack rather than mixing two states.

mod classify;
mod plans;
mod report;
mod scalesets;

use std::path::PathBuf;
use std::time::Duration;

use futures::StreamExt as _;
use serde::Serialize;

pub use classify::{Comparison, Diff, PlanJson};
pub use scalesets::{Caps, DesiredSet, SetComparison, Verdict as SetVerdict, desired_sets};

use super::argv::DriftPlan;
use super::eval::{Mode, RunCx, StackCx, state_at};
use super::gates::Decision;
use super::out::Out;
use super::stack::Steps;
use super::work::StateAtPlan;
use super::{LifecycleError, Options};
use crate::contract::{Lane, Stack};
use crate::exit::{self, Refusal as _, Refused};
use crate::s3state::{self, StateFacts};
use crate::session::{Session, World};
use crate::{signals, ui};

/// How long reading a lane's scale sets may take before the cluster counts as unreachable.
pub const CLUSTER_TIMEOUT: Duration = Duration::from_secs(15);

/// The name (made unique per run) of the temporary plans, in `.gf/<env>/<stack>/`.
pub const TEMP_PLAN: &str = "drift.tfplan";

/// Errors of `gf drift` beyond the lifecycle's.
#[derive(Debug, thiserror::Error)]
pub enum DriftError {
    /// The scale-set file of a lane stack.
    #[error("`{}`: {reason}", path.display())]
    ScaleSets {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// `show -json` printed something that is not a plan.
    #[error("`tofu show -json` of the {which} plan of `{stack}` did not print a plan: {reason}")]
    PlanJson {
        /// The stack.
        stack: String,
        /// `normal` or `refresh-only`.
        which: &'static str,
        /// The parse error.
        reason: String,
    },
    /// The state changed between the look-up before the plans and the one after.
    #[error(
        "the state of `{stack}` changed while `gf drift` ran ({before} before, {after} after): another run wrote it; run `gf drift {stack}` again"
    )]
    StateMoved {
        /// The stack.
        stack: String,
        /// Serial and ETag before.
        before: String,
        /// Serial and ETag after.
        after: String,
    },
    /// The lane's scale sets could not be read.
    #[error("cannot read the scale sets of lane `{lane}` through context `{context}`: {detail}")]
    Cluster {
        /// The lane.
        lane: String,
        /// The kube context.
        context: String,
        /// Why.
        detail: String,
    },
}

/// What `gf drift` found for one stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DriftStatus {
    /// Desired, managed and observed agree.
    InSync,
    /// Something is pending or drifted.
    Differs,
    /// Nothing pending or drifted, but scale sets drained by gf: bounded, expected to reconcile
    /// (exit 0, as SPEC counts only pending changes and drift; `operator_actions` says since when).
    OperatorAction,
    /// The comparison could not be made.
    Failed,
    /// A gate refused.
    Refused,
    /// A signal stopped it.
    Interrupted,
    /// Not started (a signal).
    NotRun,
}

/// A scale set drained by gf: a bounded operator action, expected to be restored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OperatorAction {
    /// The AutoscalingRunnerSet.
    pub set: String,
    /// Its namespace.
    pub namespace: String,
    /// Its caps now.
    pub observed: Caps,
    /// The caps `scale-sets.json` wants.
    pub desired: Caps,
    /// The caps the drain recorded (what `gf lane restore` puts back).
    pub recorded: Caps,
    /// When it was drained.
    pub since: String,
    /// Who drained it.
    pub who: String,
}

/// One stack's drift report.
#[derive(Debug, Clone, Serialize)]
pub struct StackDrift {
    /// The stack.
    pub name: String,
    /// The outcome.
    pub status: DriftStatus,
    /// Desired vs managed (null: not compared).
    pub pending: Option<Diff>,
    /// Managed vs observed (null: not compared).
    pub drift: Option<Diff>,
    /// Drained scale sets.
    pub operator_actions: Vec<OperatorAction>,
    /// A lane stack's scale sets, desired against observed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scale_sets: Option<Vec<SetComparison>>,
    /// The state compared against (unchanged by the run).
    pub state: Option<StateAtPlan>,
    /// The refusing gate.
    pub gate: Option<&'static str>,
    /// Why it failed or was refused.
    pub error: Option<String>,
    #[serde(skip)]
    code: u8,
}

impl StackDrift {
    fn new(name: &str) -> Self {
        Self {
            name: name.to_string(),
            status: DriftStatus::NotRun,
            pending: None,
            drift: None,
            operator_actions: Vec::new(),
            scale_sets: None,
            state: None,
            gate: None,
            error: None,
            code: exit::OK,
        }
    }

    fn differs(&self) -> bool {
        self.pending.as_ref().is_some_and(|d| d.changed) || self.drift.as_ref().is_some_and(|d| d.changed)
    }

    fn compared(&self) -> DriftStatus {
        if self.differs() {
            DriftStatus::Differs
        } else if self.operator_actions.is_empty() {
            DriftStatus::InSync
        } else {
            DriftStatus::OperatorAction
        }
    }
}

/// `gf drift [STACK…|--all] [--jobs N] [--json]`: exit 2 when anything is pending or drifted, 0
/// when nothing is (drained scale sets alone included), 1 when a comparison could not be made (3
/// when a safety gate refused).
pub async fn run<W: World>(s: &Session<W>, o: &Options) -> Result<u8, LifecycleError> {
    let stacks = s.contract.select(&o.stacks, o.all)?;
    for st in &stacks {
        st.state_key(&s.env)?;
    }
    if o.dry_run {
        return super::dryrun::run(s, o, &stacks).await;
    }
    super::warn_tf_http(&s.vars);
    let mut rcx = RunCx::new(s, o, &stacks, Mode::Real);
    let decisions = tokio::select! {
        d = rcx.run_gates() => d,
        sig = signals::any() => {
            return Err(LifecycleError::InterruptedBeforeRun { signal: sig.name() });
        }
    };
    if let Some(r) = decisions.iter().find_map(Decision::refusal) {
        if o.json {
            ui::print_json(&serde_json::json!({
                "command": "drift", "env": s.env, "ok": false, "gate": r.gate, "error": r.to_string(),
                "stacks": [], "not_run": stacks.iter().map(|st| st.name.as_str()).collect::<Vec<_>>(),
            }))?;
        }
        return Err(r.into());
    }
    if let Some(t) = &rcx.facts.tofu {
        t.remember(&super::eval::version_cache(s.root()));
    }
    let reports = run_all(&rcx, &stacks).await;
    finish(s, o, &reports)
}

/// Every stack, up to `--jobs` at a time; each stack's output is kept together and its report
/// printed right after it. A failing stack does not stop the others: drift is a report.
async fn run_all<W: World>(rcx: &RunCx<'_, W>, stacks: &[&Stack]) -> Vec<StackDrift> {
    let o = rcx.o;
    let jobs = o.jobs.max(1);
    let several = stacks.len() > 1;
    let tasks = stacks.iter().map(|st| async move {
        if signals::received().is_some() {
            return (StackDrift::new(&st.name), None);
        }
        let mut out = Out::new(&st.name, several, true, several && jobs > 1);
        let report = one(rcx, st, &mut out).await;
        (report, Some(out))
    });
    let mut results = futures::stream::iter(tasks).buffered(jobs);
    let mut reports = Vec::new();
    while let Some((report, out)) = results.next().await {
        if let Some(mut out) = out {
            out.flush();
        }
        if !o.json {
            report::print_stack(&report);
        }
        reports.push(report);
    }
    reports
}

async fn one<W: World>(rcx: &RunCx<'_, W>, stack: &Stack, out: &mut Out) -> StackDrift {
    let mut report = StackDrift::new(&stack.name);
    match compare_stack(rcx, stack, out, &mut report).await {
        Ok(()) => report.status = report.compared(),
        Err(e) => {
            let refusal = e.refusal();
            let interrupted = e.is_interrupted();
            report.status = match (interrupted, refusal) {
                (true, _) => DriftStatus::Interrupted,
                (false, Some(_)) => DriftStatus::Refused,
                (false, None) => DriftStatus::Failed,
            };
            report.gate = refusal.map(|r| r.gate);
            report.code = e.exit_code();
            report.error = Some(ui::error_chain(&e));
        }
    }
    report
}

/// The gates, both plans, the state check and the lane comparison (concurrently with the plans).
async fn compare_stack<W: World>(
    rcx: &RunCx<'_, W>,
    stack: &Stack,
    out: &mut Out,
    report: &mut StackDrift,
) -> Result<(), LifecycleError> {
    let mut cx = StackCx::new(rcx, stack, out);
    let decisions = tokio::select! {
        d = cx.stack_gates() => d,
        sig = signals::any() => {
            return Err(LifecycleError::Interrupted { stack: stack.name.clone(), signal: sig.name() });
        }
    };
    if let Some(r) = decisions.iter().find_map(Decision::refusal) {
        return Err(r.into());
    }
    let before = cx.facts.take();
    let _lock = cx.lock.take();
    let work = cx.work.clone();
    drop(cx);
    report.state = before.as_ref().map(state_at);
    if let Some(sig) = signals::received() {
        return Err(LifecycleError::Interrupted { stack: stack.name.clone(), signal: sig.name() });
    }
    let plans = async {
        let mut steps = Steps::new(rcx, stack, work, out)?;
        steps.init().await?;
        let (pending, pending_code) = steps.drift_plan(DriftPlan::Pending).await?;
        let (refresh, _) = steps.drift_plan(DriftPlan::Refresh).await?;
        Ok::<_, LifecycleError>(classify::compare(&pending, pending_code, &refresh))
    };
    let lane = async {
        match &stack.lane {
            Some(lane) => lane_part(rcx.s, stack, lane).await.map(Some),
            None => Ok(None),
        }
    };
    let (compared, lane) = futures::join!(plans, lane);
    let lane_error = match lane {
        Ok(sets) => {
            report.scale_sets = sets;
            None
        }
        Err(e) => Some(e),
    };
    let mut compared = compared?;
    if let Some(sets) = &report.scale_sets {
        merge_lane(stack, sets, &mut compared.drift, &mut report.operator_actions);
    }
    report.pending = Some(compared.pending);
    report.drift = Some(compared.drift);
    state_unmoved(rcx, stack, before.as_ref()).await?;
    match lane_error {
        Some(e) => Err(e.into()),
        None => Ok(()),
    }
}

/// The state as looked up after the plans must be the one looked up before.
async fn state_unmoved<W: World>(
    rcx: &RunCx<'_, W>,
    stack: &Stack,
    before: Option<&StateFacts>,
) -> Result<(), LifecycleError> {
    let (Some(before), Some(settings)) = (before, &rcx.facts.settings) else {
        return Err(LifecycleError::Internal("the `state-key` gate did not record the state".into()));
    };
    let store = rcx.s.world.store(settings);
    let after = Box::pin(s3state::facts(&store, stack.state_key(&rcx.s.env)?)).await?;
    let show = |f: &StateFacts| match (&f.serial, &f.etag) {
        (Some(s), Some(e)) if f.exists => format!("serial {s}, ETag {e}"),
        _ if f.exists => "a state".to_string(),
        _ => "no state".to_string(),
    };
    if (before.exists, before.serial, &before.etag) != (after.exists, after.serial, &after.etag) {
        return Err(
            DriftError::StateMoved { stack: stack.name.clone(), before: show(before), after: show(&after) }.into()
        );
    }
    Ok(())
}

async fn lane_part<W: World>(s: &Session<W>, stack: &Stack, lane: &Lane) -> Result<Vec<SetComparison>, DriftError> {
    let desired = desired_sets(s.root(), &stack.dir)?;
    let context = s.environment.kube_context.clone();
    let failed = |detail: String| DriftError::Cluster { lane: lane.name.clone(), context: context.clone(), detail };
    let read = async {
        let cluster = s.world.cluster(&s.kubeconfig, &context).await?;
        scalesets::compare(&cluster, &lane.drain.namespace, &desired).await
    };
    match tokio::time::timeout(CLUSTER_TIMEOUT, read).await {
        Ok(Ok(sets)) => Ok(sets),
        Ok(Err(e)) => Err(failed(ui::error_chain(&e))),
        Err(_) => Err(failed(format!("no answer within {}s", CLUSTER_TIMEOUT.as_secs()))),
    }
}

/// A scale set that differs without gf's drain is drift (`AutoscalingRunnerSet/<ns>/<name>`); a
/// drained one is an operator action.
fn merge_lane(stack: &Stack, sets: &[SetComparison], drift: &mut Diff, actions: &mut Vec<OperatorAction>) {
    let Some(lane) = &stack.lane else { return };
    let ns = &lane.drain.namespace;
    for set in sets {
        if set.is_drift() {
            drift.changed = true;
            drift.addresses.push(format!("AutoscalingRunnerSet/{ns}/{}", set.name));
        }
        if let (SetVerdict::OperatorAction, Some(rec), Some(observed)) = (set.verdict, &set.drained, set.observed) {
            actions.push(OperatorAction {
                set: set.name.clone(),
                namespace: ns.clone(),
                observed,
                desired: set.desired,
                recorded: Caps { min: rec.min, max: rec.max },
                since: rec.time.clone(),
                who: rec.who.clone(),
            });
        }
    }
}

fn finish<W: World>(s: &Session<W>, o: &Options, reports: &[StackDrift]) -> Result<u8, LifecycleError> {
    let changed = reports.iter().any(|r| r.status == DriftStatus::Differs);
    let bad: Vec<&StackDrift> = reports
        .iter()
        .filter(|r| matches!(r.status, DriftStatus::Failed | DriftStatus::Refused | DriftStatus::Interrupted))
        .collect();
    let not_run: Vec<&str> =
        reports.iter().filter(|r| r.status == DriftStatus::NotRun).map(|r| r.name.as_str()).collect();
    if o.json {
        ui::print_json(&serde_json::json!({
            "command": "drift",
            "env": s.env,
            "ok": bad.is_empty() && signals::received().is_none(),
            "changed": changed,
            "stacks": reports,
            "not_run": not_run,
        }))?;
    } else if reports.len() > 1 {
        let n = |st: DriftStatus| reports.iter().filter(|r| r.status == st).count();
        let drained = n(DriftStatus::OperatorAction);
        crate::outln!(
            "{} stacks: {} in sync, {} differ, {}{} could not be compared",
            reports.len(),
            n(DriftStatus::InSync),
            n(DriftStatus::Differs),
            if drained > 0 { format!("{drained} with drained scale sets only, ") } else { String::new() },
            bad.len() + not_run.len()
        );
    }
    if let Some(sig) = signals::received() {
        return Err(LifecycleError::Stopped { signal: sig.name(), not_run: not_run.join(", ") });
    }
    let names = |rs: &[&StackDrift]| rs.iter().map(|r| format!("`{}`", r.name)).collect::<Vec<_>>().join(", ");
    let failed: Vec<&StackDrift> = bad.iter().copied().filter(|r| r.code != exit::REFUSED).collect();
    if !failed.is_empty() {
        return Err(LifecycleError::DriftFailed { stacks: names(&failed) });
    }
    if let Some(first) = bad.first() {
        return Err(
            Refused::new(first.gate.unwrap_or("drift"), format!("`gf drift` was refused for {}", names(&bad))).into()
        );
    }
    Ok(if changed { exit::CHANGES } else { exit::OK })
}
