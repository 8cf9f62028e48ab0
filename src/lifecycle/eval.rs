//! Each gate's verdict, computed the same way for the real run and the dry run. The only
//! difference between the two modes is what a gate may *do*: the real run takes the local lock,
//! adopts an `errored.tfstate`, prompts for a destroy and warns; the dry run only looks.

use std::collections::{BTreeMap, BTreeSet};
use std::io::IsTerminal as _;

use super::argv::ExtraArgs;
use super::gates::{Decision, Gate, Scope, Verdict, gates_for};
use super::out::Out;
use super::work::{LocalLock, PlanMeta, Work};
use super::{Op, Options};
use crate::context::ContextStatus;
use crate::contract::Stack;
use crate::inputs::StackInputs;
use crate::s3state::{S3Settings, StateFacts};
use crate::session::{Session, World};
use crate::tofu::Tofu;

mod cluster;
mod local;
mod run;
mod state;
#[cfg(test)]
mod tests;

pub use state::{check_plan, state_at};

/// How the pipeline is walked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Enforce: stop at the first refusal, and act (lock, adopt, prompt).
    Real,
    /// Report every gate, act on nothing.
    Dry,
}

/// What the run gates found, for the stack gates and the tofu steps.
#[derive(Default)]
pub struct RunFacts {
    /// The validated extra arguments.
    pub extra: ExtraArgs,
    /// The tofu binary.
    pub tofu: Option<Tofu>,
    /// The S3 settings.
    pub settings: Option<S3Settings>,
    /// Each selected stack's inputs (plan, destroy), by stack name.
    pub inputs: BTreeMap<String, StackInputs>,
    /// The selected stacks that use the kubernetes or helm provider, with which.
    pub cluster_stacks: Vec<(String, BTreeSet<&'static str>)>,
    /// The `context` gate passed.
    pub context_ok: bool,
}

/// One run: the session, the options, the selection.
pub struct RunCx<'a, W: World> {
    /// The session.
    pub s: &'a Session<W>,
    /// The command's options.
    pub o: &'a Options,
    /// The selected stacks, in run order.
    pub stacks: &'a [&'a Stack],
    /// Real or dry.
    pub mode: Mode,
    /// What the run gates found.
    pub facts: RunFacts,
}

impl<'a, W: World> RunCx<'a, W> {
    /// A context for `stacks`.
    pub fn new(s: &'a Session<W>, o: &'a Options, stacks: &'a [&'a Stack], mode: Mode) -> Self {
        Self { s, o, stacks, mode, facts: RunFacts::default() }
    }

    /// Evaluate the run gates; the real run stops at the first refusal.
    pub async fn run_gates(&mut self) -> Vec<Decision> {
        let gates: Vec<Gate> = gates_for(Scope::Run, self.o, None).collect();
        let mut out = Vec::new();
        for gate in gates {
            let verdict = self.run_gate(gate).await;
            let stop = verdict.refuses() && self.mode == Mode::Real;
            out.push(Decision { gate, verdict });
            if stop {
                break;
            }
        }
        out
    }

    async fn run_gate(&mut self, gate: Gate) -> Verdict {
        match gate {
            Gate::TofuArgs => self.tofu_args(),
            Gate::Sources => self.sources(),
            Gate::Inputs => self.inputs(),
            Gate::Context => self.context(),
            Gate::OperatorInCi => self.operator_in_ci(),
            Gate::Tofu => self.tofu().await,
            Gate::Credentials => self.credentials(),
            Gate::ClusterIdentity => self.cluster_identity().await,
            _ => Verdict::skip("not a run gate"),
        }
    }
}

/// Where the tofu version is remembered between runs.
pub fn version_cache(root: &std::path::Path) -> std::path::PathBuf {
    root.join(".gf").join("tofu-version.json")
}

/// One stack's walk through the stack gates.
pub struct StackCx<'r, 'a, W: World> {
    /// The run.
    pub run: &'r RunCx<'a, W>,
    /// The stack.
    pub stack: &'a Stack,
    /// Its working folder.
    pub work: Work,
    /// Its output.
    pub out: &'r mut Out,
    /// The local lock, once taken (real run).
    pub lock: Option<LocalLock>,
    /// The saved plan (apply).
    pub meta: Option<PlanMeta>,
    /// The state as looked up.
    pub facts: Option<StateFacts>,
}

impl<'r, 'a, W: World> StackCx<'r, 'a, W> {
    /// A walk for `stack`.
    pub fn new(run: &'r RunCx<'a, W>, stack: &'a Stack, out: &'r mut Out) -> Self {
        let work = Work::new(run.s.root(), &run.s.env, &stack.name);
        Self { run, stack, work, out, lock: None, meta: None, facts: None }
    }

    /// Evaluate the stack gates; the real run stops at the first refusal.
    pub async fn stack_gates(&mut self) -> Vec<Decision> {
        let gates: Vec<Gate> = gates_for(Scope::Stack, self.run.o, Some(self.stack)).collect();
        let mut out = Vec::new();
        for gate in gates {
            let verdict = self.stack_gate(gate).await;
            let stop = verdict.refuses() && self.run.mode == Mode::Real;
            out.push(Decision { gate, verdict });
            if stop {
                break;
            }
        }
        out
    }

    fn real(&self) -> bool {
        self.run.mode == Mode::Real
    }

    async fn stack_gate(&mut self, gate: Gate) -> Verdict {
        match gate {
            Gate::LocalLock => self.local_lock(),
            Gate::ErroredState => self.errored_state(),
            Gate::NoPlan => self.no_plan(),
            Gate::Cache => self.cache().await,
            Gate::StateKey => self.state_key().await,
            Gate::StalePlan => self.stale_plan(),
            Gate::DestroyConfirmation => self.destroy_confirmation().await,
            Gate::Lane => self.lane().await,
            _ => Verdict::skip("not a stack gate"),
        }
    }

    async fn cache(&mut self) -> Verdict {
        let (s, o) = (self.run.s, self.run.o);
        if o.skip_cache_gate {
            if self.real() {
                self.out.warn(&format!(
                    "SKIPPING THE ATTIC CACHE GATE for `{}` (`--skip-cache-gate`): its deploy depends on the cache and nothing checked it",
                    self.stack.name
                ));
            }
            return Verdict::skip("`--skip-cache-gate`: the Attic cache is NOT checked");
        }
        match crate::cache::gate(s, self.stack).await {
            Ok(detail) => {
                if self.real() {
                    self.out.note(&format!("cache gate: {detail}"));
                }
                Verdict::pass(detail)
            }
            Err(detail) => Verdict::refuse(Gate::Cache, detail),
        }
    }

    /// The lane's read-only preflight (self-hosting, every listed set exists unless the plan is a
    /// first install); the drain itself is decided while the run goes on.
    async fn lane(&self) -> Verdict {
        let s = self.run.s;
        let Some(lane) = &self.stack.lane else { return Verdict::skip("the stack has no lane") };
        let status = ContextStatus::of(&s.environment, &s.vars);
        let Some(context) = status.actual.as_deref().filter(|_| status.matches) else {
            return Verdict::skip("needs `KUBE_CONTEXT` (`context`)");
        };
        let cluster = match s.world.cluster(&s.kubeconfig, context).await {
            Ok(c) => c,
            Err(e) => return Verdict::error(crate::ui::error_chain(&e)),
        };
        let first_install = self.meta.as_ref().is_some_and(|m| !m.state.exists);
        let opts =
            crate::lane::LaneOptions { allow_missing: first_install, ..crate::lane::LaneOptions::of(&s.vars, false) };
        match crate::lane::drain::preflight(&cluster, lane, &opts).await {
            Ok(()) => Verdict::check(crate::lane::dry_run_steps(self.stack).join("; ")),
            Err(crate::lane::LaneError::Refused(r)) => Verdict::refuse(Gate::Lane, r.message),
            Err(e) => Verdict::error(crate::ui::error_chain(&e)),
        }
    }

    async fn destroy_confirmation(&mut self) -> Verdict {
        let o = self.run.o;
        let destroying = match o.op {
            Op::Destroy => true,
            _ => match &self.meta {
                Some(m) => m.destroy,
                None => return Verdict::skip("needs the saved plan (`no-plan`)"),
            },
        };
        if !destroying {
            return Verdict::skip("not a destroy plan");
        }
        // SPEC is silent on destroying a stack others depend on: said, in the verdict and before
        // the prompt, never guessed away (the dependent may be destroyed later, or rebuilt on it).
        let note = self.dependents_left();
        if let (Some(n), true) = (&note, self.real()) {
            self.out.warn(n);
        }
        let v = self.confirm().await;
        match note {
            Some(n) => v.noting(&n),
            None => v,
        }
    }

    /// `` `gamma` depends on `beta` and stays `` for the contract's stacks that depend on this one
    /// and are not destroyed with it.
    fn dependents_left(&self) -> Option<String> {
        let name = &self.stack.name;
        let left: Vec<String> = self
            .run
            .s
            .contract
            .stacks
            .iter()
            .filter(|s| s.depends_on.iter().any(|d| d == name) && !self.run.stacks.iter().any(|x| x.name == s.name))
            .map(|s| format!("`{}`", s.name))
            .collect();
        (!left.is_empty()).then(|| {
            format!(
                "{} depend{} on `{name}` and {} not part of this destroy: {} may stop working without it",
                left.join(", "),
                if left.len() == 1 { "s" } else { "" },
                if left.len() == 1 { "is" } else { "are" },
                if left.len() == 1 { "it" } else { "they" }
            )
        })
    }

    async fn confirm(&mut self) -> Verdict {
        let o = self.run.o;
        if o.yes {
            return Verdict::pass("`--yes`");
        }
        let name = &self.stack.name;
        if !std::io::stdin().is_terminal() {
            return Verdict::refuse(
                Gate::DestroyConfirmation,
                format!("destroying `{name}` needs `--yes` or an interactive confirmation (stdin is not a terminal)"),
            );
        }
        if !self.real() {
            return Verdict::check(format!("type `{name}` at the prompt (or pass `--yes`)"));
        }
        match super::prompt::confirm_destroy(self.stack, &self.run.s.env, self.facts.as_ref()).await {
            Ok(true) => Verdict::pass("the stack name was typed"),
            Ok(false) => Verdict::refuse(
                Gate::DestroyConfirmation,
                format!("confirmation did not match `{name}`; nothing destroyed"),
            ),
            Err(e) => Verdict::error(e.to_string()),
        }
    }
}
