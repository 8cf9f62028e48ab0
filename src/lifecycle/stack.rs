//! One stack's real run: its gates, then its tofu commands.

use std::ffi::OsString;

use super::argv::{self, Paths};
use super::eval::{RunCx, StackCx, state_at};
use super::out::Out;
use super::render::{self, Render};
use super::work::{self, InitRecord, PlanMeta, VarFile, Work};
use super::{ClusterChoice, LifecycleError, Op, StackReport, Status, child_env};
use crate::backend::Backend;
use crate::contract::Stack;
use crate::session::World;
use crate::signals;
use crate::tofu::{Invocation, Stream, Tofu, TofuError};

/// The gates of `stack`, then its tofu commands. A signal while gf itself works (a lookup, the
/// prompt) stops the stack before tofu starts; one while tofu runs is forwarded by the runner.
pub async fn run<W: World>(rcx: &RunCx<'_, W>, stack: &Stack, out: &mut Out) -> Result<StackReport, LifecycleError> {
    let mut cx = StackCx::new(rcx, stack, out);
    let decisions = tokio::select! {
        d = cx.stack_gates() => d,
        sig = signals::any() => {
            return Err(LifecycleError::Interrupted { stack: stack.name.clone(), signal: sig.name() });
        }
    };
    if let Some(r) = decisions.iter().find_map(super::gates::Decision::refusal) {
        return Err(r.into());
    }
    let mut report = StackReport::new(&stack.name, Status::Ok);
    report.state = cx.facts.as_ref().map(state_at);
    let meta = cx.meta.take();
    let lock = cx.lock.take();
    let work = cx.work.clone();
    drop(cx);
    if let Some(sig) = signals::received() {
        return Err(LifecycleError::Interrupted { stack: stack.name.clone(), signal: sig.name() });
    }
    let steps = Steps::new(rcx, stack, work, out)?;
    let _lock = match lock {
        Some(l) => Some(l),
        // `gf output` takes the lock only when it has to initialize.
        None if !steps.initialized() => Some(steps.lock()?),
        None => None,
    };
    steps.run(meta.as_ref(), &mut report).await?;
    Ok(report)
}

/// `tofu state push <file>` after initializing: the core of `gf state push-errored` (its caller
/// holds the local lock and checked the lineage).
pub(super) async fn push_state<W: World>(
    rcx: &RunCx<'_, W>,
    stack: &Stack,
    work: Work,
    out: &mut Out,
    file: &std::path::Path,
) -> Result<(), LifecycleError> {
    let mut steps = Steps::new(rcx, stack, work, out)?;
    steps.init().await?;
    let a: Vec<OsString> = vec!["state".into(), "push".into(), file.as_os_str().to_os_string()];
    steps.tofu_run(a, &mut Render::default()).await?;
    Ok(())
}

/// `tofu show -json` of the saved plan, after initializing (the local lock is taken when init is
/// needed): the plan as tofu's JSON, for `gf show`.
pub(super) async fn show_plan<W: World>(
    rcx: &RunCx<'_, W>,
    stack: &Stack,
    work: Work,
    out: &mut Out,
) -> Result<serde_json::Value, LifecycleError> {
    let mut steps = Steps::new(rcx, stack, work, out)?;
    let _lock = if steps.initialized() { None } else { Some(steps.lock()?) };
    steps.init().await?;
    let a = argv::main(Op::Show, &steps.paths, &rcx.facts.extra, false).unwrap_or_default();
    let bytes = steps.capture(a).await?;
    serde_json::from_slice(&bytes)
        .map_err(|e| LifecycleError::OutputJson { stack: stack.name.clone(), reason: e.to_string() })
}

/// What the tofu commands of one stack need (also `gf drift`'s plans, in [`super::drift`]).
pub(super) struct Steps<'r, 'a, W: World> {
    pub(super) rcx: &'r RunCx<'a, W>,
    pub(super) stack: &'a Stack,
    pub(super) work: Work,
    pub(super) out: &'r mut Out,
    pub(super) tofu: &'r Tofu,
    backend: Backend,
    pub(super) env: Vec<(OsString, OsString)>,
    pub(super) paths: Paths,
    /// Plan and destroy: the var files tofu reads, hashed before it reads them.
    pub(super) var_files: Vec<VarFile>,
}

impl<'r, 'a, W: World> Steps<'r, 'a, W> {
    pub(super) fn new(
        rcx: &'r RunCx<'a, W>,
        stack: &'a Stack,
        work: Work,
        out: &'r mut Out,
    ) -> Result<Self, LifecycleError> {
        let s = rcx.s;
        // The `tofu` and `credentials` gates passed, so both are known.
        let (Some(tofu), Some(settings)) = (rcx.facts.tofu.as_ref(), rcx.facts.settings.as_ref()) else {
            return Err(LifecycleError::Internal("the run gates did not record tofu and the S3 settings".into()));
        };
        let backend = Backend::new(stack, &s.env, settings.location.clone())
            .map_err(|e| LifecycleError::Internal(e.to_string()))?;
        // Hashed before tofu reads them: an edit during the plan makes the plan stale, never the
        // other way round.
        let var_files = if rcx.o.op.takes_var_file() {
            std::iter::once(std::path::PathBuf::from(crate::inputs::var_file_name(&s.env)))
                .chain(rcx.facts.extra.var_files.iter().cloned())
                .map(|path| Ok(VarFile { sha256: work::var_file_digest(&stack.dir.join(&path))?, path }))
                .collect::<Result<Vec<_>, work::WorkError>>()?
        } else {
            Vec::new()
        };
        let paths = Paths {
            no_color: !crate::ui::output_color(),
            backend_file: work.backend_file(&backend.file_name()),
            plan_file: work.plan_file(),
            plan_out: work::unique_sibling(&work.plan_file()),
            var_file: var_files.first().filter(|v| v.sha256 != work::ABSENT).map(|v| v.path.clone()),
        };
        let cluster = ClusterChoice { kubeconfig: &s.kubeconfig, context: &s.environment.kube_context };
        let env = child_env(&s.vars, settings, &work.data_dir(), &cluster);
        Ok(Self { rcx, stack, work, out, tofu, backend, env, paths, var_files })
    }

    fn record(&self) -> InitRecord {
        InitRecord {
            backend_digest: self.backend.digest(),
            tofu_path: self.tofu.path.clone(),
            tofu_version: self.tofu.version.clone(),
        }
    }

    /// Whether init can be skipped: the data folder was initialized against this backend and tofu.
    fn initialized(&self) -> bool {
        !matches!(self.rcx.o.op, Op::Init | Op::PushErrored)
            && self.work.data_dir().join("terraform.tfstate").is_file()
            && work::read_json::<InitRecord>(&self.work.init_record()).ok().flatten().as_ref() == Some(&self.record())
    }

    fn lock(&self) -> Result<work::LocalLock, LifecycleError> {
        let o = self.rcx.o;
        Ok(self.work.lock(&self.stack.name, &self.rcx.s.env, &format!("gf {}", o.op.name()), o.lock_wait)?)
    }

    /// Write the backend file and initialize unless already initialized; whether init ran.
    pub(super) async fn init(&mut self) -> Result<bool, LifecycleError> {
        self.work.create()?;
        work::write_private(&self.paths.backend_file, self.backend.to_tfbackend().as_bytes())?;
        if self.initialized() {
            return Ok(false);
        }
        let _ = std::fs::remove_file(self.work.init_record());
        let a = argv::init(&self.paths, self.rcx.o.op, &self.rcx.facts.extra);
        self.tofu_run(a, &mut Render::default()).await?;
        work::write_private(&self.work.init_record(), &serde_json::to_vec_pretty(&self.record())?)?;
        Ok(true)
    }

    async fn run(mut self, meta: Option<&PlanMeta>, report: &mut StackReport) -> Result<(), LifecycleError> {
        let o = self.rcx.o;
        report.initialized = Some(self.init().await?);
        let destroy_plan = meta.is_some_and(|m| m.destroy) || (o.op == Op::Plan && o.destroy_plan);
        let Some(a) = argv::main(o.op, &self.paths, &self.rcx.facts.extra, destroy_plan) else {
            return Ok(());
        };
        match o.op {
            // `gf drift` runs its own plans (`super::drift`).
            Op::Init | Op::Show | Op::Drift | Op::PushErrored => Ok(()),
            Op::Plan => self.plan(a, report).await,
            Op::Apply => self.apply(a, meta, report).await,
            Op::Destroy => self.destroy(a, report).await,
            Op::Output => self.output(a, report).await,
        }
    }

    async fn plan(&mut self, a: Vec<OsString>, report: &mut StackReport) -> Result<(), LifecycleError> {
        let (s, o) = (self.rcx.s, self.rcx.o);
        self.work.remove_plan()?;
        let mut r = Render::default();
        if let Err(e) = self.tofu_run(a, &mut r).await {
            let _ = std::fs::remove_file(&self.paths.plan_out);
            return Err(e);
        }
        let plan_digest = work::file_digest(&self.paths.plan_out)?;
        work::adopt_file(&self.paths.plan_out, &self.paths.plan_file)?;
        let env_vars = if let Some(i) = self.rcx.facts.inputs.get(&self.stack.name) {
            i.env_vars.clone()
        } else {
            let cli = self.rcx.facts.extra.cli_inputs();
            crate::inputs::resolve(s.root(), self.stack, &s.env, &s.vars, &cli).env_vars
        };
        let facts_state = report.state.clone().unwrap_or(work::StateAtPlan {
            exists: false,
            serial: None,
            lineage: None,
            etag: None,
        });
        let meta = PlanMeta {
            stack: self.stack.name.clone(),
            env: s.env.clone(),
            state_key: self.backend.key.clone(),
            tofu_path: self.tofu.path.clone(),
            tofu_version: self.tofu.version.clone(),
            backend_digest: self.backend.digest(),
            git_revision: work::git_revision(s.root()),
            allow_empty_state: o.allow_empty_state && !facts_state.exists,
            state: facts_state,
            created: work::now_rfc3339(),
            changes: r.changes,
            destroy: o.destroy_plan,
            plan_digest,
            var_files: self.var_files.clone(),
            env_vars,
        };
        work::write_private(&self.work.plan_meta(), &serde_json::to_vec_pretty(&meta)?)?;
        let changes = r.changes.unwrap_or_default();
        report.changes = Some(changes);
        if r.output_changes > 0 && !changes.any() {
            self.out.note(&format!("{} output value(s) change", r.output_changes));
        }
        report.plan = Some(argv::rel(s.root(), &self.work.plan_file()));
        report.destroy_plan = o.destroy_plan;
        if changes.any() || r.output_changes > 0 {
            report.status = Status::Changes;
        }
        Ok(())
    }

    async fn apply(
        &mut self,
        a: Vec<OsString>,
        meta: Option<&PlanMeta>,
        report: &mut StackReport,
    ) -> Result<(), LifecycleError> {
        let (s, o) = (self.rcx.s, self.rcx.o);
        let mut r = Render::default();
        let result = if self.stack.lane.is_some() {
            // A first install creates the sets in this very apply: only then may some be missing.
            let first_install = meta.is_some_and(|m| !m.state.exists);
            let stack = self.stack;
            let apply = self.tofu_run(a, &mut r);
            crate::lane::with_drained(s, stack, o.timeout, first_install, apply).await
        } else {
            self.tofu_run(a, &mut r).await
        };
        self.after_change(result)?;
        self.work.remove_plan()?;
        report.changes = Some(r.changes.unwrap_or_default());
        Ok(())
    }

    async fn destroy(&mut self, a: Vec<OsString>, report: &mut StackReport) -> Result<(), LifecycleError> {
        let mut r = Render::default();
        let result = self.tofu_run(a, &mut r).await;
        self.after_change(result)?;
        self.work.remove_plan()?;
        report.changes = Some(r.changes.unwrap_or_default());
        Ok(())
    }

    /// After an apply or destroy: adopt an `errored.tfstate` tofu left (it is then the only copy of
    /// the real state) before reporting anything.
    fn after_change(&mut self, result: Result<(), LifecycleError>) -> Result<(), LifecycleError> {
        let root = self.rcx.s.root();
        match work::adopt_errored_state(&self.stack.dir, &self.work) {
            Ok(Some(dest)) => {
                let msg = format!(
                    "tofu could not save the state of `{}`: it wrote `errored.tfstate`, now at `{}` (0600); every plan and apply of `{}` is refused until `gf state push-errored {}`",
                    self.stack.name,
                    argv::rel(root, &dest),
                    self.stack.name,
                    self.stack.name
                );
                self.out.warn(&msg);
                result.map_err(|e| LifecycleError::AfterChange { note: msg, source: Box::new(e) })
            }
            Ok(None) => result,
            Err(adopt) => {
                self.out.warn(&format!("{adopt}"));
                result.map_err(|e| LifecycleError::AfterChange { note: adopt.to_string(), source: Box::new(e) })
            }
        }
    }

    /// `tofu output -json`, with sensitive values masked unless `--show-sensitive`: as JSON
    /// (`"value": null, "sensitive": true`) or as `name = value` lines (`(sensitive)`).
    async fn output(&mut self, a: Vec<OsString>, report: &mut StackReport) -> Result<(), LifecycleError> {
        let text = self.capture(a).await?;
        let v: serde_json::Value = serde_json::from_slice(&text)
            .map_err(|e| LifecycleError::OutputJson { stack: self.stack.name.clone(), reason: e.to_string() })?;
        let shown = render::mask_outputs(v, self.rcx.o.show_sensitive);
        if self.rcx.o.json {
            report.outputs = Some(shown);
        } else {
            for line in render::output_lines(&shown) {
                self.out.stdout(&line);
            }
        }
        Ok(())
    }

    /// Run tofu and keep its stdout (bytes); its stderr goes to `out`.
    async fn capture(&mut self, args: Vec<OsString>) -> Result<Vec<u8>, LifecycleError> {
        let inv = Invocation { args, cwd: self.stack.dir.clone(), env: self.env.clone() };
        let mut text = Vec::new();
        let out = &mut *self.out;
        self.tofu
            .run(inv, |st, l| match st {
                Stream::Stdout => {
                    text.extend_from_slice(l);
                    text.push(b'\n');
                }
                Stream::Stderr => out.stderr(&String::from_utf8_lossy(l)),
            })
            .await?;
        Ok(text)
    }

    /// Run tofu with its output rendered into `out`; a failure carries tofu's error diagnostics.
    async fn tofu_run(&mut self, args: Vec<OsString>, r: &mut Render) -> Result<(), LifecycleError> {
        let inv = Invocation { args, cwd: self.stack.dir.clone(), env: self.env.clone() };
        let out = &mut *self.out;
        let res = self
            .tofu
            .run(inv, |s, l| {
                let l = String::from_utf8_lossy(l);
                match s {
                    Stream::Stdout => {
                        for line in r.feed(&l) {
                            out.line(&line);
                        }
                    }
                    Stream::Stderr => out.line(&render::strip_ansi(&l)),
                }
            })
            .await;
        match res {
            Err(TofuError::Failed { argv, status, mut tail }) => {
                if !r.errors.is_empty() {
                    tail.clone_from(&r.errors);
                }
                Err(TofuError::Failed { argv, status, tail }.into())
            }
            other => other.map_err(Into::into),
        }
    }
}
