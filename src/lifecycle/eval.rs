//! Each gate's verdict, computed the same way for the real run and the dry run. The only
//! difference between the two modes is what a gate may *do*: the real run takes the local lock,
//! adopts an `errored.tfstate`, prompts for a destroy and warns; the dry run only looks.

use std::collections::{BTreeMap, BTreeSet};
use std::io::IsTerminal as _;

use super::argv::ExtraArgs;
use super::gates::{Decision, Gate, Scope, Verdict, gates_for};
use super::out::Out;
use super::work::{self, LocalLock, PlanMeta, StateAtPlan, Work, WorkError};
use super::{Op, Options};
use crate::backend::Backend;
use crate::context::ContextStatus;
use crate::contract::{ApplyMode, Severity, Stack};
use crate::inputs::{self, StackInputs};
use crate::s3state::{self, S3Settings, StateFacts};
use crate::session::{Session, World};
use crate::tofu::{self, Tofu};

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
        let (s, o) = (self.s, self.o);
        match gate {
            Gate::TofuArgs => match ExtraArgs::parse(o.op, &o.tofu_args) {
                Ok(extra) => {
                    let v = if extra.args.is_empty() {
                        Verdict::pass("no extra tofu arguments")
                    } else {
                        let sensitive =
                            self.stacks.iter().flat_map(|st| inputs::sensitive_names(s.root(), st)).collect();
                        Verdict::pass(format!("allowed: {}", inputs::mask_var_args(&extra.args, &sensitive).join(" ")))
                    };
                    self.facts.extra = extra;
                    v
                }
                Err(e) => Verdict::refuse(gate, e.to_string()),
            },
            Gate::Sources => {
                let errors: Vec<String> = self
                    .stacks
                    .iter()
                    .flat_map(|st| crate::check::check_sources(s.root(), st))
                    .filter(|f| f.severity == Severity::Error)
                    .map(|f| f.to_string())
                    .collect();
                if errors.is_empty() {
                    Verdict::pass("the stacks' sources pass `gf check`'s source rules")
                } else {
                    Verdict::refuse(gate, format!("the stacks' sources fail `gf check`:\n  {}", errors.join("\n  ")))
                }
            }
            Gate::Inputs => self.inputs(),
            Gate::Context => self.context(),
            Gate::OperatorInCi => self.operator_in_ci(),
            Gate::Tofu => self.tofu().await,
            Gate::Credentials => match S3Settings::from_lookup(s.vars.lookup(), &s.contract.backend.region) {
                Ok(settings) => {
                    let v = Verdict::pass(format!(
                        "endpoint `{}`, bucket `{}`; the credentials reach tofu only as `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`",
                        settings.location.endpoint, settings.location.bucket
                    ));
                    self.facts.settings = Some(settings);
                    v
                }
                Err(e) => Verdict::refuse(gate, e.to_string()),
            },
            Gate::ClusterIdentity => self.cluster_identity().await,
            _ => Verdict::skip("not a run gate"),
        }
    }

    fn operator_in_ci(&self) -> Verdict {
        let operator: Vec<String> = self
            .stacks
            .iter()
            .filter(|st| st.apply == ApplyMode::Operator)
            .map(|st| format!("`{}`", st.name))
            .collect();
        if !self.s.ci {
            return Verdict::pass("`CI` is not `true`");
        }
        if operator.is_empty() {
            return Verdict::pass("`CI=true`, and no selected stack is `apply: operator`");
        }
        Verdict::refuse(
            Gate::OperatorInCi,
            format!(
                "`CI=true` and {} {} `apply: operator`: operator stacks are applied by an operator, not by CI (the whole run is refused)",
                operator.join(", "),
                if operator.len() == 1 { "is" } else { "are" }
            ),
        )
    }

    async fn tofu(&mut self) -> Verdict {
        let s = self.s;
        let loc = match tofu::locate(s.vars.lookup()) {
            Ok(l) => l,
            Err(e) => return Verdict::refuse(Gate::Tofu, e.to_string()),
        };
        let terraform = loc.source == tofu::Source::PathTerraform;
        match Tofu::probe_cached(loc, &version_cache(s.root())).await {
            Ok(t) => {
                if terraform && self.mode == Mode::Real {
                    crate::ui::warn(&format!(
                        "no `tofu` found: using `{}` (Terraform); set `GF_TOFU` or use `nix develop` for the pinned OpenTofu",
                        t.path.display()
                    ));
                }
                let v =
                    Verdict::pass(format!("`{}` ({}), version {}", t.path.display(), t.source.describe(), t.version));
                self.facts.tofu = Some(t);
                v
            }
            Err(e) => Verdict::refuse(Gate::Tofu, e.to_string()),
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

    fn local_lock(&mut self) -> Verdict {
        let (s, o) = (self.run.s, self.run.o);
        let at = super::argv::rel(s.root(), &self.work.dir);
        if !self.real() {
            return match self.work.lock_holder() {
                Some(holder) => Verdict::refuse(
                    Gate::LocalLock,
                    format!("another gf run in this checkout holds `{}` in `{}` ({holder})", self.stack.name, s.env),
                ),
                None => Verdict::pass(format!("`{at}` is free; the run holds it until it ends")),
            };
        }
        match self.work.lock(&self.stack.name, &s.env, &format!("gf {}", o.op.name()), o.lock_wait) {
            Ok(lock) => {
                self.lock = Some(lock);
                Verdict::pass(format!("`{at}` held by this run (pid {})", std::process::id()))
            }
            Err(e @ WorkError::Busy { .. }) => Verdict::refuse(Gate::LocalLock, e.to_string()),
            Err(e) => Verdict::error(e.to_string()),
        }
    }

    fn errored_state(&mut self) -> Verdict {
        let s = self.run.s;
        let stray = self.stack.dir.join(work::ERRORED_STATE);
        if self.real() {
            match work::adopt_errored_state(&self.stack.dir, &self.work) {
                Ok(Some(dest)) => self.out.warn(&format!(
                    "found `{}` (tofu could not save state after an apply): moved it to `{}` (0600)",
                    super::argv::rel(s.root(), &stray),
                    super::argv::rel(s.root(), &dest)
                )),
                Ok(None) => {}
                Err(e) => return Verdict::error(e.to_string()),
            }
        }
        let held = if self.work.errored_state().is_file() {
            Some(self.work.errored_state())
        } else if stray.is_file() {
            Some(stray)
        } else {
            None
        };
        match held {
            Some(p) => Verdict::refuse(
                Gate::ErroredState,
                format!(
                    "`{}` holds state tofu could not save after a failed apply of `{}` (the only copy of what was applied): push it with `gf state push-errored {}`, or remove it if you know it is obsolete",
                    super::argv::rel(s.root(), &p),
                    self.stack.name,
                    self.stack.name
                ),
            ),
            None => Verdict::pass("no `errored.tfstate` waiting"),
        }
    }

    fn no_plan(&mut self) -> Verdict {
        let s = self.run.s;
        let plan = super::argv::rel(s.root(), &self.work.plan_file());
        let none = || {
            Verdict::refuse(
                Gate::NoPlan,
                format!(
                    "no saved plan for `{}` in `{}` (`{plan}`): `gf apply` applies only a plan saved by `gf plan {}`",
                    self.stack.name, s.env, self.stack.name
                ),
            )
        };
        match work::read_json::<PlanMeta>(&self.work.plan_meta()) {
            Ok(Some(m)) if self.work.plan_file().is_file() => {
                let v = Verdict::pass(format!(
                    "`{plan}` from {}{}",
                    m.created,
                    if m.destroy { " (a destroy plan)" } else { "" }
                ));
                self.meta = Some(m);
                v
            }
            Ok(_) => none(),
            Err(e) => Verdict::refuse(Gate::NoPlan, e.to_string()),
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

    async fn state_key(&mut self) -> Verdict {
        let (s, o) = (self.run.s, self.run.o);
        let Some(settings) = &self.run.facts.settings else {
            return Verdict::skip("needs the S3 settings (`credentials`)");
        };
        let key = match self.stack.state_key(&s.env) {
            Ok(k) => k.to_string(),
            Err(e) => return Verdict::error(e.to_string()),
        };
        let store = s.world.store(settings);
        let spinner = if self.real() {
            self.out.spinner(&format!("looking up `s3://{}/{key}`", settings.location.bucket))
        } else {
            None
        };
        let facts = Box::pin(s3state::facts(&store, &key)).await;
        if let Some(p) = spinner {
            p.finish_and_clear();
        }
        let facts = match facts {
            Ok(f) => f,
            Err(e) => return Verdict::error(e.to_string()),
        };
        let object = format!("`s3://{}/{key}`", facts.bucket);
        let allow = o.allow_empty_state || self.meta.as_ref().is_some_and(|m| m.allow_empty_state);
        if let (Some(lock), true) = (&facts.lock, self.real()) {
            self.out.warn(&format!(
                "the state is locked by {} ({}) since {} (lock id {}); tofu will wait for or fail on it (a lock left by a crash: `gf state unlock {}`)",
                lock.who, lock.operation, lock.since, lock.id, self.stack.name
            ));
        }
        let v = if facts.exists {
            Verdict::pass(format!(
                "{object}: serial {}, lineage {}",
                facts.serial.unwrap_or(0),
                facts.lineage.as_deref().unwrap_or("-")
            ))
        } else if allow {
            if self.real() {
                self.out.warn(&format!("no state at {object}: accepted (`--allow-empty-state`)"));
            }
            Verdict::pass(format!("no state at {object}: accepted (`--allow-empty-state`)"))
        } else {
            Verdict::refuse(
                Gate::StateKey,
                format!(
                    "no state at {object} for stack `{}` in `{}`: tofu would start an empty state and plan to recreate everything; check the key and the bucket, or pass `--allow-empty-state` if this stack has never been applied",
                    self.stack.name, s.env
                ),
            )
        };
        self.facts = Some(facts);
        v
    }

    fn stale_plan(&self) -> Verdict {
        let run = self.run;
        let (Some(meta), Some(facts), Some(settings), Some(tofu)) =
            (&self.meta, &self.facts, &run.facts.settings, &run.facts.tofu)
        else {
            return Verdict::skip("needs the saved plan (`no-plan`) and the state (`state-key`)");
        };
        let backend = match Backend::new(self.stack, &run.s.env, settings.location.clone()) {
            Ok(b) => b,
            Err(e) => return Verdict::error(e.to_string()),
        };
        match check_plan(meta, facts, &backend, &run.s.env, tofu, &self.work, &self.stack.dir) {
            Ok(()) => Verdict::pass(format!(
                "the plan matches: state serial {}, backend, tofu {}, plan digest",
                facts.serial.unwrap_or(0),
                tofu.version
            )),
            Err(why) => Verdict::refuse(Gate::StalePlan, format!("{why}; run `gf plan {}` again", self.stack.name)),
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

/// The state a plan was made against, as recorded.
pub fn state_at(f: &StateFacts) -> StateAtPlan {
    StateAtPlan { exists: f.exists, serial: f.serial, lineage: f.lineage.clone(), etag: f.etag.clone() }
}

/// Why a saved plan no longer applies, if it does not: another stack/env or backend, another state,
/// another tofu, other plan bytes, changed var files.
pub fn check_plan(
    meta: &PlanMeta,
    facts: &StateFacts,
    backend: &Backend,
    env: &str,
    tofu: &Tofu,
    work: &Work,
    stack_dir: &std::path::Path,
) -> Result<(), String> {
    let stack = &backend.stack;
    if meta.env != env || meta.stack != *stack {
        return Err(format!("the saved plan is for `{}` in `{}`, not `{stack}` in `{env}`", meta.stack, meta.env));
    }
    if meta.backend_digest != backend.digest() {
        return Err(format!(
            "the backend of `{stack}` changed since the plan (endpoint, bucket, region or key differ)"
        ));
    }
    let now = state_at(facts);
    if now.exists != meta.state.exists || now.serial != meta.state.serial || now.etag != meta.state.etag {
        let show = |s: &StateAtPlan| {
            if s.exists {
                format!("serial {} (ETag {})", s.serial.unwrap_or(0), s.etag.as_deref().unwrap_or("-"))
            } else {
                "no state".to_string()
            }
        };
        return Err(format!(
            "the state of `{stack}` changed since the plan was made ({}): plan was against {}, state is now {}",
            meta.created,
            show(&meta.state),
            show(&now)
        ));
    }
    if meta.tofu_version != tofu.version {
        return Err(format!(
            "the saved plan of `{stack}` was made with tofu {} but this is {}",
            meta.tofu_version, tofu.version
        ));
    }
    let digest = work::file_digest(&work.plan_file()).map_err(|e| e.to_string())?;
    if meta.plan_digest != digest {
        return Err(format!(
            "`plan.tfplan` of `{stack}` is not the file `gf plan` saved (its SHA-256 differs from `plan.json`)"
        ));
    }
    for vf in &meta.var_files {
        let now = work::var_file_digest(&stack_dir.join(&vf.path)).map_err(|e| e.to_string())?;
        if now == vf.sha256 {
            continue;
        }
        let shown = vf.path.display();
        return Err(match (vf.sha256.as_str(), now.as_str()) {
            (work::ABSENT, _) => {
                format!("var file `{shown}` of `{stack}` exists now but did not when the plan was made")
            }
            (_, work::ABSENT) => format!("var file `{shown}` of `{stack}` was removed since the plan"),
            _ => format!("var file `{shown}` of `{stack}` changed since the plan"),
        });
    }
    Ok(())
}

mod cluster;
#[cfg(test)]
mod tests;
