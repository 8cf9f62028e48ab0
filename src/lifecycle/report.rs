//! What happened to each stack of a run: the per-stack reports, the summary lines, the `--json`
//! document and the exit code.

use serde::Serialize;

use super::render::Changes;
use super::work::StateAtPlan;
use super::{LifecycleError, Op, Options};
use crate::contract::Stack;
use crate::exit::{self, Refusal as _};
use crate::session::{Session, World};
use crate::{signals, ui};

/// What happened to one stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// Done, nothing to report.
    Ok,
    /// A plan with changes.
    Changes,
    /// tofu or gf failed.
    Failed,
    /// A gate refused.
    Refused,
    /// A signal stopped it.
    Interrupted,
    /// Not started (an earlier stack failed, or a signal).
    NotRun,
}

/// What happened to one stack.
#[derive(Debug, Clone, Serialize)]
pub struct StackReport {
    /// Stack name.
    pub stack: String,
    /// What happened.
    pub status: Status,
    /// The refusing gate (`refused`).
    pub gate: Option<&'static str>,
    /// Resource changes (plan: planned; apply/destroy: made).
    pub changes: Option<Changes>,
    /// Whether init ran (false: skipped, already initialized against the same backend).
    pub initialized: Option<bool>,
    /// The saved plan (plan).
    pub plan: Option<String>,
    /// A destroy plan (plan).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub destroy_plan: bool,
    /// The state as gf found it before tofu ran.
    pub state: Option<StateAtPlan>,
    /// `output --json`: the outputs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outputs: Option<serde_json::Value>,
    /// The error, for `failed`/`refused`/`interrupted`.
    pub error: Option<String>,
}

impl StackReport {
    pub(super) fn new(stack: &str, status: Status) -> Self {
        Self {
            stack: stack.to_string(),
            status,
            gate: None,
            changes: None,
            initialized: None,
            plan: None,
            destroy_plan: false,
            state: None,
            outputs: None,
            error: None,
        }
    }
}

pub(super) fn finish<W: World>(
    s: &Session<W>,
    o: &Options,
    reports: &[StackReport],
    first_error: Option<(String, LifecycleError)>,
) -> Result<u8, LifecycleError> {
    let changes = o.op == Op::Plan && reports.iter().any(|r| r.status == Status::Changes);
    let not_run: Vec<&str> = reports.iter().filter(|r| r.status == Status::NotRun).map(|r| r.stack.as_str()).collect();
    if o.json {
        ui::print_json(&serde_json::json!({
            "command": o.op.name(),
            "env": s.env,
            "ok": first_error.is_none() && signals::received().is_none(),
            "stacks": reports,
            "not_run": not_run,
        }))?;
    } else {
        print_summary(o.op, reports);
    }
    if let Some((stack, e)) = first_error {
        if !not_run.is_empty() {
            ui::note(&format!(
                "stopped at the first failure (`{stack}`); not run: {}",
                not_run.iter().map(|s| format!("`{s}`")).collect::<Vec<_>>().join(", ")
            ));
        }
        return Err(LifecycleError::Stack { stack, source: Box::new(e) });
    }
    if let Some(sig) = signals::received() {
        return Err(LifecycleError::Stopped { signal: sig.name(), not_run: not_run.join(", ") });
    }
    Ok(if o.detailed_exitcode && changes { exit::CHANGES } else { exit::OK })
}

pub(super) fn record(
    reports: &mut Vec<StackReport>,
    first_error: &mut Option<(String, LifecycleError)>,
    s: &Stack,
    r: Option<Result<StackReport, LifecycleError>>,
) {
    let e = match r {
        None => return reports.push(StackReport::new(&s.name, Status::NotRun)),
        Some(Ok(rep)) => return reports.push(rep),
        Some(Err(e)) => e,
    };
    let refusal = e.refusal();
    let interrupted = e.is_interrupted();
    let status = if interrupted {
        Status::Interrupted
    } else if refusal.is_some() {
        Status::Refused
    } else {
        Status::Failed
    };
    let mut rep = StackReport::new(&s.name, status);
    rep.gate = refusal.map(|r| r.gate);
    rep.error = Some(ui::error_chain(&e));
    reports.push(rep);
    if first_error.is_none() {
        *first_error = Some((s.name.clone(), e));
    }
}

fn print_summary(op: Op, reports: &[StackReport]) {
    if matches!(op, Op::Output | Op::Show) {
        return;
    }
    for r in reports {
        let text = match (r.status, op) {
            (Status::NotRun, _) => "not run".to_string(),
            (Status::Refused, _) => format!("refused ({})", r.gate.unwrap_or("?")),
            (Status::Failed, _) => "failed".to_string(),
            (Status::Interrupted, _) => {
                format!("interrupted ({})", signals::received().map_or("signal", signals::Signal::name))
            }
            (_, Op::Init | Op::PushErrored) => {
                if r.initialized == Some(false) {
                    "already initialized against this backend (init skipped)".into()
                } else {
                    "initialized".into()
                }
            }
            (_, Op::Plan) => {
                let c = r.changes.unwrap_or_default();
                let kind = if r.destroy_plan { "destroy plan" } else { "plan" };
                if c.any() {
                    format!("{} ({kind} saved: {})", c.describe(false), r.plan.as_deref().unwrap_or("-"))
                } else {
                    format!("no changes ({kind} saved: {})", r.plan.as_deref().unwrap_or("-"))
                }
            }
            (_, Op::Apply | Op::Destroy) => r.changes.unwrap_or_default().describe(true),
            // `gf drift` prints its own report (`drift::run`).
            (_, Op::Output | Op::Show | Op::Drift) => continue,
        };
        crate::outln!("{}: {text}", r.stack);
    }
}
