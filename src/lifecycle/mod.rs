//! The stack lifecycle: `init`, `plan`, `apply`, `destroy`, `output` with their safety gates.
//!
//! Gate order for a mutating command: contract valid → `KUBE_CONTEXT` → operator stack in CI →
//! (per stack) Attic cache gate → S3 credentials → S3 state lookup (missing state, stale plan) →
//! tofu. Everything gf writes goes to `.gf/<env>/<stack>/` (see [`work`]).

mod dryrun;
pub mod render;
pub mod work;

use std::io::{BufRead as _, IsTerminal as _, Write as _};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use futures::StreamExt as _;
use serde::Serialize;

use crate::app::Globals;
use crate::backend::{self, Backend};
use crate::cli::LifecycleArgs;
use crate::context::ContextStatus;
use crate::contract::{ApplyMode, Contract, ContractError, Finding, Severity, Stack};
use crate::exit::{self, Refused};
use crate::s3state::{self, S3Settings, S3Store, StateFacts};
use crate::tofu::{self, Invocation, Stream, Tofu, TofuError};
use crate::ui;
use render::{Changes, Render};
use work::{InitRecord, PlanMeta, StateAtPlan, Work};

/// Which lifecycle command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `tofu init`.
    Init,
    /// `tofu plan -out`.
    Plan,
    /// `tofu apply` of the saved plan.
    Apply,
    /// `tofu destroy`.
    Destroy,
    /// `tofu output`.
    Output,
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
        }
    }

    /// Whether `KUBE_CONTEXT` must match (SPEC: init, plan, apply, destroy).
    pub fn needs_context(self) -> bool {
        !matches!(self, Self::Output)
    }
}

/// Errors of the lifecycle that are not refusals.
#[derive(Debug, thiserror::Error)]
pub enum LifecycleError {
    /// Working files.
    #[error(transparent)]
    Work(#[from] work::WorkError),
    /// tofu.
    #[error(transparent)]
    Tofu(#[from] TofuError),
    /// Reading the confirmation.
    #[error("cannot read the confirmation from the terminal: {0}")]
    Confirm(std::io::Error),
    /// Ctrl-C while gf itself (not tofu) was working on the stack.
    #[error("interrupted (Ctrl-C) before tofu changed anything for `{0}`")]
    Interrupted(String),
    /// `tofu output -json` printed something else.
    #[error("`tofu output -json` for `{stack}` did not print JSON: {reason}")]
    OutputJson {
        /// Stack.
        stack: String,
        /// Parse error.
        reason: String,
    },
}

/// The child's environment: gf's own, without `TF_HTTP_*`, gf's S3 variables, other AWS
/// credentials and the Attic token (tofu needs none of it), plus the S3 credentials as
/// `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`.
pub fn child_env(vars: &[(String, String)], settings: &S3Settings, data_dir: &Path) -> Vec<(String, String)> {
    const DROP: &[&str] = &[
        backend::ENV_ACCESS_KEY,
        backend::ENV_SECRET_KEY,
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "GF_ATTIC_TOKEN",
        "TF_DATA_DIR",
        "TF_WORKSPACE",
        "TF_CLI_ARGS",
    ];
    let mut env: Vec<(String, String)> = vars
        .iter()
        .filter(|(k, _)| !k.starts_with("TF_HTTP_") && !k.starts_with("TF_CLI_ARGS_") && !DROP.contains(&k.as_str()))
        .cloned()
        .collect();
    env.push(("AWS_ACCESS_KEY_ID".into(), settings.access_key.clone()));
    env.push(("AWS_SECRET_ACCESS_KEY".into(), settings.secret_key.clone()));
    env.push(("TF_DATA_DIR".into(), data_dir.to_string_lossy().into_owned()));
    env.push(("TF_IN_AUTOMATION".into(), "1".into()));
    env.push(("TF_INPUT".into(), "0".into()));
    // No upgrade check calling out to checkpoint-api.hashicorp.com from a deploy.
    env.push(("CHECKPOINT_DISABLE".into(), "1".into()));
    env
}

/// One stack's output: streamed now, or kept until the stack is done (concurrent plans).
struct Out {
    prefix: String,
    to_stderr: bool,
    buffer: Option<Vec<(bool, String)>>,
}

impl Out {
    fn new(stack: &str, prefixed: bool, to_stderr: bool, buffered: bool) -> Self {
        Self {
            prefix: if prefixed { format!("[{stack}] ") } else { String::new() },
            to_stderr,
            buffer: buffered.then(Vec::new),
        }
    }

    fn emit(&mut self, stderr: bool, line: &str) {
        let line = format!("{}{line}", self.prefix);
        match &mut self.buffer {
            Some(b) => b.push((stderr, line)),
            None if stderr => eprintln!("{line}"),
            None => println!("{line}"),
        }
    }

    /// A line of tofu's (rendered) output.
    fn line(&mut self, s: &str) {
        let to_stderr = self.to_stderr;
        self.emit(to_stderr, s);
    }

    /// A warning from gf.
    fn warn(&mut self, s: &str) {
        if self.buffer.is_some() {
            self.emit(true, &format!("warning: {s}"));
        } else {
            // Direct output: keep ui's colouring.
            eprint!("{}", self.prefix);
            ui::warn(s);
        }
    }

    fn note(&mut self, s: &str) {
        if self.buffer.is_some() {
            self.emit(true, &format!("note: {s}"));
        } else {
            eprint!("{}", self.prefix);
            ui::note(s);
        }
    }

    /// A spinner on a terminal (direct output only) while gf waits on something.
    fn spinner(&self, msg: &str) -> Option<indicatif::ProgressBar> {
        if self.buffer.is_some() || !ui::stderr_is_tty() {
            return None;
        }
        let p = indicatif::ProgressBar::new_spinner().with_message(format!("{}{msg}", self.prefix));
        p.enable_steady_tick(std::time::Duration::from_millis(100));
        Some(p)
    }

    /// Print everything kept, together.
    fn flush(&mut self) {
        if let Some(b) = self.buffer.take() {
            let mut out = std::io::stdout().lock();
            let mut err = std::io::stderr().lock();
            for (stderr, line) in b {
                let _ = if stderr { writeln!(err, "{line}") } else { writeln!(out, "{line}") };
            }
        }
    }
}

/// What happened to one stack.
#[derive(Debug, Clone, Serialize)]
pub struct StackReport {
    /// Stack name.
    pub stack: String,
    /// `ok`, `changes`, `failed`, `refused`, `interrupted` or `not-run`.
    pub status: &'static str,
    /// Resource changes (plan: planned; apply/destroy: made).
    pub changes: Option<Changes>,
    /// Whether init ran (false: skipped, already initialized against the same backend).
    pub initialized: Option<bool>,
    /// The saved plan (plan).
    pub plan: Option<String>,
    /// The state as gf found it before tofu ran.
    pub state: Option<StateAtPlan>,
    /// `output --json`: the outputs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outputs: Option<serde_json::Value>,
    /// The error, for `failed`/`refused`.
    pub error: Option<String>,
}

impl StackReport {
    fn new(stack: &str, status: &'static str) -> Self {
        Self {
            stack: stack.to_string(),
            status,
            changes: None,
            initialized: None,
            plan: None,
            state: None,
            outputs: None,
            error: None,
        }
    }
}

/// Shared by every stack of one run.
struct Ctx<'a> {
    contract: &'a Contract,
    env: String,
    op: Op,
    args: &'a LifecycleArgs,
    vars: Vec<(String, String)>,
    tofu: tokio::sync::OnceCell<Tofu>,
    prefixed: bool,
}

impl Ctx<'_> {
    fn var(&self, k: &str) -> Option<String> {
        self.vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
    }

    async fn tofu(&self) -> Result<&Tofu, TofuError> {
        self.tofu
            .get_or_try_init(|| async {
                let loc = tofu::locate(|k| self.var(k))?;
                if loc.source == tofu::Source::PathTerraform {
                    ui::warn(&format!(
                        "no `tofu` found: using `{}` (Terraform); set `GF_TOFU` or use `nix develop` for the pinned OpenTofu",
                        loc.path.display()
                    ));
                }
                Tofu::probe_cached(loc, &self.contract.root.join(".gf").join("tofu-version.json")).await
            })
            .await
    }
}

fn refused(gate: &'static str, msg: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(Refused::new(gate, msg))
}

/// Run a lifecycle command over the selected stacks.
pub async fn run(g: &Globals, op: Op, args: LifecycleArgs) -> anyhow::Result<u8> {
    let contract = g.contract()?;
    let (env, environment) = contract.env(g.env.as_deref())?;
    let env = env.to_string();
    let environment = environment.clone();
    let mut stacks = contract.select(&args.stacks, args.all)?;
    if op == Op::Destroy {
        stacks.reverse();
    }
    for s in &stacks {
        s.state_key(&env)?;
    }
    // The stacks' own sources must pass `gf check` too: a `backend "http"` or a second backend
    // block would point tofu at state other than the contract's key.
    let source_errors: Vec<Finding> = stacks
        .iter()
        .flat_map(|s| crate::check::check_sources(&contract.root, s))
        .filter(|f| f.severity == Severity::Error)
        .collect();
    let vars: Vec<(String, String)> = std::env::vars().collect();
    if args.dry_run {
        for f in &source_errors {
            ui::warn(&format!("{f} (a real run refuses this)"));
        }
        return dryrun::run(&contract, &env, &environment, op, &args, &stacks, &vars).await;
    }
    if !source_errors.is_empty() {
        return Err(ContractError::Invalid(source_errors).into());
    }
    for (k, _) in vars.iter().filter(|(k, _)| k.starts_with("TF_HTTP_")) {
        ui::warn(&format!(
            "`{k}` is set: GitLab HTTP state is compatibility-only; gf removes it from tofu's environment"
        ));
    }

    // Gates that need nothing but the command line and the environment: before anything runs.
    let context = ContextStatus::from_vars(&environment, &vars);
    if op.needs_context() {
        context.require(&env, &format!("gf {}", op.name()))?;
    } else {
        context.report(&env, &format!("gf {}", op.name()));
    }
    let ci = vars.iter().any(|(k, v)| k == "CI" && v == "true");
    if ci && matches!(op, Op::Apply | Op::Destroy) {
        let operator: Vec<String> =
            stacks.iter().filter(|s| s.apply == ApplyMode::Operator).map(|s| format!("`{}`", s.name)).collect();
        if !operator.is_empty() {
            return Err(refused(
                "operator-in-ci",
                format!(
                    "`CI=true` and {} {} `apply: operator`: operator stacks are applied by an operator, not by CI",
                    operator.join(", "),
                    if operator.len() == 1 { "is" } else { "are" }
                ),
            ));
        }
    }
    if op == Op::Destroy && !args.yes && !std::io::stdin().is_terminal() {
        return Err(refused(
            "destroy-confirmation",
            "`gf destroy` needs `--yes` or an interactive confirmation (stdin is not a terminal)",
        ));
    }

    let ctx = Ctx {
        contract: &contract,
        env: env.clone(),
        op,
        args: &args,
        vars,
        tofu: tokio::sync::OnceCell::new(),
        prefixed: stacks.len() > 1,
    };
    let concurrent = op == Op::Plan && args.jobs > 1 && stacks.len() > 1;
    let mut reports: Vec<StackReport> = Vec::new();
    let mut first_error: Option<(String, anyhow::Error)> = None;
    if concurrent {
        let failed = Arc::new(AtomicBool::new(false));
        let ctx = &ctx;
        let tasks = stacks.iter().map(|s| {
            let failed = failed.clone();
            async move {
                if failed.load(Ordering::SeqCst) || tofu::interrupted() {
                    return (*s, None, None);
                }
                let mut out = Out::new(&s.name, true, args.json, true);
                let r = guarded(ctx, s, &mut out).await;
                if r.is_err() {
                    failed.store(true, Ordering::SeqCst);
                }
                (*s, Some(r), Some(out))
            }
        });
        let mut results = futures::stream::iter(tasks).buffered(args.jobs.max(1));
        while let Some((s, r, out)) = results.next().await {
            if let Some(mut out) = out {
                out.flush();
            }
            record(&mut reports, &mut first_error, s, r);
        }
    } else {
        for s in &stacks {
            if first_error.is_some() || tofu::interrupted() {
                reports.push(StackReport::new(&s.name, "not-run"));
                continue;
            }
            let mut out = Out::new(&s.name, ctx.prefixed, args.json, false);
            let r = guarded(&ctx, s, &mut out).await;
            record(&mut reports, &mut first_error, s, Some(r));
        }
    }

    let changes = op == Op::Plan && reports.iter().any(|r| r.status == "changes");
    let not_run: Vec<&str> = reports.iter().filter(|r| r.status == "not-run").map(|r| r.stack.as_str()).collect();
    if args.json {
        ui::print_json(&serde_json::json!({
            "command": op.name(),
            "env": env,
            "ok": first_error.is_none(),
            "stacks": reports,
            "not_run": not_run,
        }))?;
    } else {
        print_summary(op, &reports);
    }
    if let Some((stack, e)) = first_error {
        if !not_run.is_empty() {
            ui::note(&format!(
                "stopped at the first failure (`{stack}`); not run: {}",
                not_run.iter().map(|s| format!("`{s}`")).collect::<Vec<_>>().join(", ")
            ));
        }
        return Err(e.context(format!("stack `{stack}`")));
    }
    Ok(if args.detailed_exitcode && changes { exit::CHANGES } else { exit::OK })
}

fn record(
    reports: &mut Vec<StackReport>,
    first_error: &mut Option<(String, anyhow::Error)>,
    s: &Stack,
    r: Option<anyhow::Result<StackReport>>,
) {
    match r {
        None => reports.push(StackReport::new(&s.name, "not-run")),
        Some(Ok(rep)) => reports.push(rep),
        Some(Err(e)) => {
            let status = if exit::code_for(&e) == exit::REFUSED {
                "refused"
            } else if e.chain().any(|c| {
                matches!(c.downcast_ref(), Some(TofuError::Interrupted { .. }))
                    || matches!(
                        c.downcast_ref(),
                        Some(LifecycleError::Tofu(TofuError::Interrupted { .. }) | LifecycleError::Interrupted(_))
                    )
            }) {
                "interrupted"
            } else {
                "failed"
            };
            let mut rep = StackReport::new(&s.name, status);
            rep.error = Some(format!("{e:#}"));
            reports.push(rep);
            if first_error.is_none() {
                *first_error = Some((s.name.clone(), e));
            }
        }
    }
}

fn print_summary(op: Op, reports: &[StackReport]) {
    if op == Op::Output {
        return;
    }
    for r in reports {
        let text = match (r.status, op) {
            ("not-run", _) => "not run".to_string(),
            ("refused", _) => "refused".to_string(),
            ("failed", _) => "failed".to_string(),
            ("interrupted", _) => "interrupted (Ctrl-C)".to_string(),
            (_, Op::Init) => {
                if r.initialized == Some(false) {
                    "already initialized against this backend (init skipped)".into()
                } else {
                    "initialized".into()
                }
            }
            (_, Op::Plan) => {
                let c = r.changes.unwrap_or_default();
                if c.any() {
                    format!("{} (plan saved: {})", c.describe(false), r.plan.as_deref().unwrap_or("-"))
                } else {
                    format!("no changes (plan saved: {})", r.plan.as_deref().unwrap_or("-"))
                }
            }
            (_, Op::Apply | Op::Destroy) => r.changes.unwrap_or_default().describe(true),
            (_, Op::Output) => continue,
        };
        println!("{}: {text}", r.stack);
    }
}

fn rel(root: &Path, p: &Path) -> String {
    p.strip_prefix(root).unwrap_or(p).display().to_string()
}

/// [`run_stack`], stopped by a Ctrl-C that arrives while no tofu runs (tofu's own Ctrl-C is
/// forwarded by the runner instead).
async fn guarded(ctx: &Ctx<'_>, stack: &Stack, out: &mut Out) -> anyhow::Result<StackReport> {
    tokio::select! {
        r = Box::pin(run_stack(ctx, stack, out)) => r,
        () = tofu::sigint_outside_owners() => Err(LifecycleError::Interrupted(stack.name.clone()).into()),
    }
}

/// Every gate and the tofu run of one stack.
async fn run_stack(ctx: &Ctx<'_>, stack: &Stack, out: &mut Out) -> anyhow::Result<StackReport> {
    let (op, args, env) = (ctx.op, ctx.args, ctx.env.as_str());
    let key = stack.state_key(env)?.to_string();
    let mut report = StackReport::new(&stack.name, "ok");

    // Attic cache gate.
    if matches!(op, Op::Plan | Op::Apply) && stack.requires_cache {
        if args.skip_cache_gate {
            out.warn(&format!(
                "SKIPPING THE ATTIC CACHE GATE for `{}` (`--skip-cache-gate`): its deploy depends on the cache and nothing checked it",
                stack.name
            ));
        } else {
            crate::cache::gate(ctx.contract, stack).await?;
        }
    }

    // S3 credentials, then the state lookup.
    let settings = S3Settings::from_lookup(|k| ctx.var(k), &ctx.contract.backend.region)?;
    let store = S3Store::new(&settings);
    let spinner = out.spinner(&format!("looking up `s3://{}/{key}`", settings.location.bucket));
    let facts = Box::pin(s3state::facts(&store, &key)).await;
    if let Some(p) = spinner {
        p.finish_and_clear();
    }
    let facts = facts?;
    report.state = Some(state_at(&facts));
    let work = Work::new(&ctx.contract.root, env, &stack.name);
    let meta = if op == Op::Apply { Some(load_plan(&work, stack, env)?) } else { None };
    let allow_empty = args.allow_empty_state || meta.as_ref().is_some_and(|m| m.allow_empty_state);
    if !facts.exists && !allow_empty {
        return Err(refused(
            "state-key",
            format!(
                "no state at `s3://{}/{key}` for stack `{}` in `{env}`: tofu would start an empty state and plan to recreate everything; check the key and the bucket, or pass `--allow-empty-state` if this stack has never been applied",
                facts.bucket, stack.name
            ),
        ));
    }
    if !facts.exists {
        out.warn(&format!("no state at `s3://{}/{key}`: accepted (`--allow-empty-state`)", facts.bucket));
    }
    if let Some(lock) = &facts.lock {
        out.warn(&format!(
            "the state is locked by {} ({}) since {} (lock id {}); tofu will wait for or fail on it",
            lock.who, lock.operation, lock.since, lock.id
        ));
    }

    if op == Op::Destroy {
        confirm_destroy(stack, env, &facts, args.yes)?;
    }

    // The backend and tofu.
    let backend = Backend::new(stack, env, settings.location.clone())?;
    if let Some(meta) = &meta {
        check_plan(meta, &facts, &backend, env)?;
    }
    let tofu = ctx.tofu().await?;
    if let Some(meta) = &meta
        && meta.tofu_version != tofu.version
    {
        return Err(refused(
            "stale-plan",
            format!(
                "the saved plan of `{}` was made with tofu {} but this is {}; run `gf plan {}` again",
                stack.name, meta.tofu_version, tofu.version, stack.name
            ),
        ));
    }
    if tofu::interrupted() {
        // A Ctrl-C stopped another stack's tofu while this one was being looked up.
        return Err(LifecycleError::Interrupted(stack.name.clone()).into());
    }
    work.create()?;
    let backend_file = work.backend_file(&backend.file_name());
    work::write_private(&backend_file, backend.to_tfbackend().as_bytes())?;
    let env_vars = child_env(&ctx.vars, &settings, &work.data_dir());
    let extra: Vec<std::ffi::OsString> = args.tofu_args.iter().map(Into::into).collect();

    let record = InitRecord {
        backend_digest: backend.digest(),
        tofu_path: tofu.path.clone(),
        tofu_version: tofu.version.clone(),
    };
    let initialized = op != Op::Init
        && work.data_dir().join("terraform.tfstate").is_file()
        && work::read_json::<InitRecord>(&work.init_record()).ok().flatten().as_ref() == Some(&record);
    if initialized {
        report.initialized = Some(false);
    } else {
        let _ = std::fs::remove_file(work.init_record());
        let mut a: Vec<std::ffi::OsString> = vec![
            "init".into(),
            "-reconfigure".into(),
            "-input=false".into(),
            format!("-backend-config={}", backend_file.display()).into(),
        ];
        if op == Op::Init {
            a.extend(extra.iter().cloned());
        }
        run_tofu(tofu, stack, a, env_vars.clone(), out, &mut Render::default()).await?;
        work::write_private(&work.init_record(), &serde_json::to_vec_pretty(&record)?)?;
        report.initialized = Some(true);
    }

    match op {
        Op::Init => {}
        Op::Plan => {
            work.remove_plan()?;
            let mut a: Vec<std::ffi::OsString> = vec![
                "plan".into(),
                "-input=false".into(),
                "-json".into(),
                format!("-out={}", work.plan_file().display()).into(),
            ];
            a.extend(extra);
            let mut r = Render::default();
            run_tofu(tofu, stack, a, env_vars, out, &mut r).await?;
            let meta = PlanMeta {
                stack: stack.name.clone(),
                env: env.to_string(),
                state_key: key.clone(),
                tofu_path: tofu.path.clone(),
                tofu_version: tofu.version.clone(),
                backend_digest: backend.digest(),
                git_revision: work::git_revision(&ctx.contract.root),
                state: state_at(&facts),
                allow_empty_state: args.allow_empty_state && !facts.exists,
                created: work::now_rfc3339(),
                changes: r.changes,
            };
            work::write_private(&work.plan_meta(), &serde_json::to_vec_pretty(&meta)?)?;
            report.changes = Some(r.changes.unwrap_or_default());
            if r.output_changes > 0 && !r.changes.unwrap_or_default().any() {
                out.note(&format!("{} output value(s) change", r.output_changes));
            }
            report.plan = Some(rel(&ctx.contract.root, &work.plan_file()));
            if report.changes.is_some_and(|c| c.any()) || r.output_changes > 0 {
                report.status = "changes";
            }
        }
        Op::Apply => {
            let mut a: Vec<std::ffi::OsString> = vec!["apply".into(), "-input=false".into(), "-json".into()];
            a.extend(extra);
            a.push(work.plan_file().into_os_string());
            let mut r = Render::default();
            let apply = run_tofu(tofu, stack, a, env_vars, out, &mut r);
            if stack.lane.is_some() {
                // The lane restores itself on Ctrl-C: gf must not drop it half-way.
                let _owner = tofu::SigintOwner::take();
                // A plan made against an absent state is a first install: the sets may not exist yet.
                let first_install = meta.as_ref().is_some_and(|m| !m.state.exists);
                crate::lane::with_drained(ctx.contract, env, stack, args.timeout, first_install, async {
                    apply.await.map_err(anyhow::Error::from)
                })
                .await?;
            } else {
                apply.await?;
            }
            work.remove_plan()?;
            report.changes = Some(r.changes.unwrap_or_default());
        }
        Op::Destroy => {
            let mut a: Vec<std::ffi::OsString> =
                vec!["destroy".into(), "-input=false".into(), "-auto-approve".into(), "-json".into()];
            a.extend(extra);
            let mut r = Render::default();
            run_tofu(tofu, stack, a, env_vars, out, &mut r).await?;
            work.remove_plan()?;
            report.changes = Some(r.changes.unwrap_or_default());
        }
        Op::Output => {
            let mut a: Vec<std::ffi::OsString> = vec!["output".into()];
            if args.json {
                a.push("-json".into());
            }
            a.extend(extra);
            let inv = Invocation { args: a, cwd: stack.dir.clone(), env: env_vars };
            if args.json {
                let mut text = String::new();
                tofu.run(inv, |s, l| match s {
                    Stream::Stdout => {
                        text.push_str(l);
                        text.push('\n');
                    }
                    Stream::Stderr => out.line(l),
                })
                .await?;
                let v: serde_json::Value = serde_json::from_str(&text)
                    .map_err(|e| LifecycleError::OutputJson { stack: stack.name.clone(), reason: e.to_string() })?;
                report.outputs = Some(v);
            } else {
                let prefix = out.prefix.clone();
                tofu.run(inv, |s, l| match s {
                    Stream::Stdout => println!("{prefix}{l}"),
                    Stream::Stderr => eprintln!("{prefix}{l}"),
                })
                .await?;
            }
        }
    }
    Ok(report)
}

/// Run tofu with its output rendered into `out`; a failure carries tofu's error diagnostics.
async fn run_tofu(
    tofu: &Tofu,
    stack: &Stack,
    args: Vec<std::ffi::OsString>,
    env: Vec<(String, String)>,
    out: &mut Out,
    r: &mut Render,
) -> Result<(), LifecycleError> {
    let inv = Invocation { args, cwd: stack.dir.clone(), env };
    let res = tofu
        .run(inv, |s, l| match s {
            Stream::Stdout => {
                for line in r.feed(l) {
                    out.line(&line);
                }
            }
            Stream::Stderr => out.line(&render::strip_ansi(l)),
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

fn state_at(f: &StateFacts) -> StateAtPlan {
    StateAtPlan { exists: f.exists, serial: f.serial, lineage: f.lineage.clone(), etag: f.etag.clone() }
}

fn load_plan(work: &Work, stack: &Stack, env: &str) -> anyhow::Result<PlanMeta> {
    let meta: Option<PlanMeta> = work::read_json(&work.plan_meta())?;
    match meta {
        Some(m) if work.plan_file().is_file() => Ok(m),
        _ => Err(refused(
            "no-plan",
            format!(
                "no saved plan for `{}` in `{env}` (`{}`): `gf apply` applies only a plan saved by `gf plan {}`",
                stack.name,
                work.plan_file().display(),
                stack.name
            ),
        )),
    }
}

/// Refuse a plan made for another environment or backend, or against another state.
fn check_plan(meta: &PlanMeta, facts: &StateFacts, backend: &Backend, env: &str) -> anyhow::Result<()> {
    let stack = &backend.stack;
    let again = format!("run `gf plan {stack}` again");
    if meta.env != env || meta.stack != *stack {
        return Err(refused(
            "stale-plan",
            format!("the saved plan is for `{}` in `{}`, not `{stack}` in `{env}`; {again}", meta.stack, meta.env),
        ));
    }
    if meta.backend_digest != backend.digest() {
        return Err(refused(
            "stale-plan",
            format!(
                "the backend of `{stack}` changed since the plan (endpoint, bucket, region or key differ); {again}"
            ),
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
        return Err(refused(
            "stale-plan",
            format!(
                "the state of `{stack}` changed since the plan was made ({}): plan was against {}, state is now {}; {again}",
                meta.created,
                show(&meta.state),
                show(&now)
            ),
        ));
    }
    Ok(())
}

fn confirm_destroy(stack: &Stack, env: &str, facts: &StateFacts, yes: bool) -> anyhow::Result<()> {
    if yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        return Err(refused(
            "destroy-confirmation",
            format!("destroying `{}` needs `--yes` or an interactive confirmation", stack.name),
        ));
    }
    let what = if facts.exists {
        format!("{} resource instance(s), state serial {}", facts.instances.unwrap_or(0), facts.serial.unwrap_or(0))
    } else {
        "no state yet".to_string()
    };
    eprint!(
        "destroy every resource of `{}` in `{env}` (`s3://{}/{}`: {what})? type the stack name to confirm: ",
        stack.name, facts.bucket, facts.key
    );
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer).map_err(LifecycleError::Confirm)?;
    if answer.trim() == stack.name {
        Ok(())
    } else {
        Err(refused("destroy-confirmation", format!("confirmation did not match `{}`; nothing destroyed", stack.name)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::S3Location;

    fn settings() -> S3Settings {
        S3Settings {
            location: S3Location { endpoint: "http://e".into(), bucket: "b".into(), region: "r".into() },
            access_key: "AK".into(),
            secret_key: "SK".into(),
        }
    }

    #[test]
    fn child_env_carries_credentials_only_as_aws_variables() {
        let vars: Vec<(String, String)> = [
            ("PATH", "/bin"),
            ("TF_HTTP_PASSWORD", "x"),
            ("TOFU_BACKEND_S3_SECRET_KEY", "SK"),
            ("TOFU_BACKEND_S3_ACCESS_KEY", "AK"),
            ("AWS_SECRET_ACCESS_KEY", "other"),
            ("GF_ATTIC_TOKEN", "jwt"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
        .collect();
        let env = child_env(&vars, &settings(), Path::new("/d"));
        let get = |k: &str| env.iter().filter(|(n, _)| n == k).map(|(_, v)| v.as_str()).collect::<Vec<_>>();
        assert_eq!(get("AWS_SECRET_ACCESS_KEY"), ["SK"]);
        assert_eq!(get("AWS_ACCESS_KEY_ID"), ["AK"]);
        assert!(get("TF_HTTP_PASSWORD").is_empty());
        assert!(get("TOFU_BACKEND_S3_SECRET_KEY").is_empty());
        assert!(get("GF_ATTIC_TOKEN").is_empty());
        assert_eq!(get("PATH"), ["/bin"]);
        assert_eq!(get("TF_DATA_DIR"), ["/d"]);
    }

    fn facts(exists: bool, serial: u64, etag: &str) -> StateFacts {
        StateFacts {
            endpoint: "http://e".into(),
            bucket: "b".into(),
            key: "k".into(),
            exists,
            serial: exists.then_some(serial),
            lineage: exists.then(|| "l".into()),
            terraform_version: None,
            resources: None,
            instances: None,
            size: None,
            last_modified: None,
            etag: exists.then(|| etag.into()),
            lock: None,
        }
    }

    #[test]
    fn a_plan_is_stale_when_state_backend_or_env_moved() {
        let backend = Backend { stack: "s".into(), env: "dev".into(), location: settings().location, key: "k".into() };
        let at = facts(true, 4, "e1");
        let meta = PlanMeta {
            stack: "s".into(),
            env: "dev".into(),
            state_key: "k".into(),
            tofu_path: "/t".into(),
            tofu_version: "1.11.4".into(),
            backend_digest: backend.digest(),
            git_revision: None,
            state: state_at(&at),
            allow_empty_state: false,
            created: "t".into(),
            changes: None,
        };
        let gate = |r: anyhow::Result<()>| r.err().and_then(|e| e.downcast_ref::<Refused>().map(|r| r.gate));
        assert_eq!(gate(check_plan(&meta, &at, &backend, "dev")), None);
        assert_eq!(gate(check_plan(&meta, &facts(true, 5, "e2"), &backend, "dev")), Some("stale-plan"));
        assert_eq!(gate(check_plan(&meta, &facts(true, 4, "e2"), &backend, "dev")), Some("stale-plan"));
        assert_eq!(gate(check_plan(&meta, &facts(false, 0, ""), &backend, "dev")), Some("stale-plan"));
        assert_eq!(gate(check_plan(&meta, &at, &backend, "prod")), Some("stale-plan"));
        let moved = Backend { key: "other".into(), ..backend.clone() };
        assert_eq!(gate(check_plan(&meta, &at, &moved, "dev")), Some("stale-plan"));
    }
}
