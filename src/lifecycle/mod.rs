//! The stack lifecycle: `init`, `plan`, `apply`, `destroy`, `output`, behind one gate pipeline
//! ([`gates`]) that the real run enforces and `--dry-run` prints.
//!
//! A run: the run gates over the whole selection (extra arguments, sources, inputs, context,
//! operator in CI, tofu, credentials, cluster identity), then per stack its gates (local lock, errored state, saved plan, cache,
//! state key, stale plan, destroy confirmation, lane) and its tofu commands. Everything gf writes
//! goes to `.gf/<env>/<stack>/` (see [`work`]).

pub mod argv;
mod child_env;
pub mod drift;
mod dryrun;
mod error;
pub mod errored;
pub mod eval;
pub mod gates;
pub mod out;
mod prompt;
pub mod render;
mod report;
mod saved;
mod stack;
pub mod work;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::StreamExt as _;

use crate::contract::Stack;
use crate::session::{Session, Vars, World};
use crate::{signals, ui};
pub use child_env::{ClusterChoice, child_env};
pub use error::LifecycleError;
use eval::{Mode, RunCx};
use out::Out;
pub use report::{StackReport, Status};
use report::{finish, record};
pub use saved::{SavedPlan, saved_plan};

/// Which lifecycle command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Op {
    /// `tofu init`.
    Init,
    /// `tofu plan -out`.
    #[default]
    Plan,
    /// `tofu apply` of the saved plan.
    Apply,
    /// `tofu destroy`.
    Destroy,
    /// `tofu output`.
    Output,
    /// `tofu show -json` of the saved plan (`gf show`).
    Show,
    /// `gf drift`: a normal and a refresh-only plan, neither saved (see [`drift`]).
    Drift,
    /// `gf state push-errored`: init, then `tofu state push` of the errored state (see
    /// [`errored`]); its gates are init's.
    PushErrored,
}

impl Op {
    /// The command's name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Init => "init",
            Self::Plan => "plan",
            Self::Apply => "apply",
            Self::Destroy => "destroy",
            Self::Output => "output",
            Self::Show => "show",
            Self::Drift => "drift",
            Self::PushErrored => "state push-errored",
        }
    }

    /// The tofu subcommand it runs.
    pub fn tofu_command(self) -> &'static str {
        match self {
            Self::Drift => "plan",
            Self::PushErrored => "state",
            other => other.name(),
        }
    }

    /// Whether `KUBE_CONTEXT` must match (SPEC: init, plan, apply, destroy).
    pub fn needs_context(self) -> bool {
        !matches!(self, Self::Output | Self::Show)
    }

    /// Whether tofu is given the environment's var file (`<env>.tfvars`): every command that
    /// plans. `apply` takes a saved plan, which holds the values; `init` and `output` read none.
    pub fn takes_var_file(self) -> bool {
        matches!(self, Self::Plan | Self::Destroy | Self::Drift)
    }
}

/// A lifecycle command's options, as plain values (converted from the command line by `app`).
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The command.
    pub op: Op,
    /// Stacks asked for by name.
    pub stacks: Vec<String>,
    /// `--all`.
    pub all: bool,
    /// `--dry-run`.
    pub dry_run: bool,
    /// `--json`.
    pub json: bool,
    /// Concurrent plans.
    pub jobs: usize,
    /// `--allow-empty-state`.
    pub allow_empty_state: bool,
    /// `--detailed-exitcode`.
    pub detailed_exitcode: bool,
    /// `plan --destroy`.
    pub destroy_plan: bool,
    /// `--yes`.
    pub yes: bool,
    /// `--skip-cache-gate`.
    pub skip_cache_gate: bool,
    /// The lane's drain timeout.
    pub timeout: Duration,
    /// `--lock-wait`.
    pub lock_wait: Duration,
    /// What followed `--` (checked by the `tofu-args` gate).
    pub tofu_args: Vec<String>,
    /// `output --show-sensitive`: print values tofu marks sensitive.
    pub show_sensitive: bool,
}

/// Run a lifecycle command over the selected stacks.
pub async fn run<W: World>(s: &Session<W>, o: &Options) -> Result<u8, LifecycleError> {
    let mut stacks = s.contract.select(&o.stacks, o.all)?;
    if o.op == Op::Destroy {
        stacks.reverse();
    }
    for st in &stacks {
        st.state_key(&s.env)?;
    }
    // A sensitive input's value is never printed, even when tofu or a provisioner echoes it;
    // `output --show-sensitive` is the one explicit request to see such values.
    if !(o.op == Op::Output && o.show_sensitive) {
        for st in &stacks {
            for name in crate::inputs::sensitive_names(s.root(), st) {
                if let Some(v) = s.vars.get(&crate::inputs::env_var(&name)) {
                    ui::add_secret(&v);
                }
            }
        }
    }
    if o.dry_run {
        return dryrun::run(s, o, &stacks).await;
    }
    warn_tf_http(&s.vars);
    let mut rcx = RunCx::new(s, o, &stacks, Mode::Real);
    let decisions = tokio::select! {
        d = rcx.run_gates() => d,
        sig = signals::any() => {
            return Err(LifecycleError::InterruptedBeforeRun { signal: sig.name() });
        }
    };
    if let Some(r) = decisions.iter().find_map(gates::Decision::refusal) {
        if o.json {
            ui::print_json(&serde_json::json!({
                "command": o.op.name(),
                "env": s.env,
                "ok": false,
                "gate": r.gate,
                "error": r.to_string(),
                "stacks": [],
                "not_run": stacks.iter().map(|st| st.name.as_str()).collect::<Vec<_>>(),
            }))?;
        }
        return Err(r.into());
    }
    // Only a run that passed its run gates writes anything, even the version cache.
    if let Some(t) = &rcx.facts.tofu {
        t.remember(&eval::version_cache(s.root()));
    }
    let (reports, first_error) = run_stacks(&rcx, &stacks).await;
    finish(s, o, &reports, first_error)
}

/// `TF_HTTP_*` is never passed to tofu: say so, naming each variable (never its value).
fn warn_tf_http(vars: &Vars) {
    if vars.get("TF_LOG_PATH").is_some() {
        ui::warn(
            "`TF_LOG_PATH` is set: gf does not pass it to tofu (the log would hold the S3 credentials); `TF_LOG` goes to gf's output, redacted",
        );
    }
    for k in vars.names_with_prefix("TF_HTTP_") {
        ui::warn(&format!(
            "`{k}` is set: GitLab HTTP state is compatibility-only; gf removes it from tofu's environment"
        ));
    }
}

/// Every stack in order (or concurrently for `plan --jobs N`); stops at the first failure.
async fn run_stacks<W: World>(
    rcx: &RunCx<'_, W>,
    stacks: &[&Stack],
) -> (Vec<StackReport>, Option<(String, LifecycleError)>) {
    let o = rcx.o;
    let prefixed = stacks.len() > 1;
    let mut reports: Vec<StackReport> = Vec::new();
    let mut first_error: Option<(String, LifecycleError)> = None;
    if o.op == Op::Plan && o.jobs > 1 && stacks.len() > 1 {
        let failed = Arc::new(AtomicBool::new(false));
        let tasks = stacks.iter().map(|st| {
            let failed = failed.clone();
            async move {
                if failed.load(Ordering::SeqCst) || signals::received().is_some() {
                    return (*st, None, None);
                }
                let mut out = Out::new(&st.name, true, o.json, true);
                let r = stack::run(rcx, st, &mut out).await;
                if r.is_err() {
                    failed.store(true, Ordering::SeqCst);
                }
                (*st, Some(r), Some(out))
            }
        });
        let mut results = futures::stream::iter(tasks).buffered(o.jobs);
        while let Some((st, r, out)) = results.next().await {
            if let Some(mut out) = out {
                out.flush();
            }
            record(&mut reports, &mut first_error, st, r);
        }
    } else {
        for st in stacks {
            if first_error.is_some() || signals::received().is_some() {
                reports.push(StackReport::new(&st.name, Status::NotRun));
                continue;
            }
            let mut out = Out::new(&st.name, prefixed, o.json, false);
            let r = stack::run(rcx, st, &mut out).await;
            record(&mut reports, &mut first_error, st, Some(r));
        }
    }
    (reports, first_error)
}
