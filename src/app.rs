//! Command dispatch: the command line and one snapshot of the environment become a [`Session`]
//! (or, for commands that need less, the root or the contract) and plain option structs; each
//! command goes to its capability module. Errors are reported here, once: as `error: …` on
//! stderr, and with `--json` also as one JSON document on stdout when none was printed yet.

use std::path::PathBuf;

use anyhow::Context as _;

use crate::backend::{self, Backend, S3Location};
use crate::cli::{self, BackendArgs, BackendFormat, CacheCommand, Cli, Command, JsonFlag, LaneCommand, StateAction};
use crate::contract::{self, Contract};
use crate::session::{RealWorld, Session, Vars};
use crate::{cache, check, exit, lane, lifecycle, nix, signals, ui};

/// Where the command line and the environment say the repository and the environment are.
#[derive(Debug, Clone)]
struct Globals {
    /// `-C`/`--root`, else `GF_ROOT`.
    root: Option<PathBuf>,
    /// `--env`, else `GF_ENV`, else `ENV` (unless it is a path).
    env: Option<String>,
    /// The working directory.
    cwd: PathBuf,
}

impl Globals {
    fn new(cli: &Cli, vars: &Vars) -> anyhow::Result<Self> {
        let cwd = std::env::current_dir().context("cannot read the working directory")?;
        let root = cli.root.clone().or_else(|| vars.raw("GF_ROOT").filter(|v| !v.is_empty()).map(PathBuf::from));
        Ok(Self { root, env: env_name(cli.env.as_deref(), vars), cwd })
    }

    fn root(&self) -> Result<PathBuf, contract::ContractError> {
        contract::discover_root(self.root.as_deref(), &self.cwd)
    }

    fn contract(&self) -> Result<Contract, contract::ContractError> {
        let c = Contract::load(&self.root()?)?;
        for w in &c.warnings {
            ui::warn(&w.to_string());
        }
        Ok(c)
    }

    /// The session for the selected environment.
    fn session(&self, vars: Vars) -> anyhow::Result<Session> {
        let c = self.contract()?;
        let env = c.env(self.env.as_deref())?.0.to_string();
        Ok(Session::new(c, &env, vars, RealWorld)?)
    }
}

/// `--env`, else `GF_ENV`, else `ENV`. An `ENV` holding a `/` is sh's startup file (many CI images
/// set `ENV=/root/.shrc`), not an environment name: ignored with a warning.
fn env_name(flag: Option<&str>, vars: &Vars) -> Option<String> {
    if let Some(e) = flag {
        return Some(e.to_string());
    }
    if let Some(e) = vars.get("GF_ENV") {
        return Some(e);
    }
    let e = vars.get("ENV")?;
    if e.contains('/') {
        ui::warn(&format!("ignoring `ENV={e}`: it is a path (sh's startup file), not an environment; set `GF_ENV`"));
        return None;
    }
    Some(e)
}

/// The variables whose values are credentials: never printed, whatever prints them.
const SECRET_VARS: &[&str] = &[
    backend::ENV_ACCESS_KEY,
    backend::ENV_SECRET_KEY,
    "GF_ATTIC_TOKEN",
    "TF_HTTP_PASSWORD",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
];

/// Register the credentials of `vars` with the redactor.
pub fn register_secrets(vars: &Vars) {
    for name in SECRET_VARS {
        if let Some(v) = vars.get(name) {
            ui::add_secret(&v);
        }
    }
}

/// Run one parsed command line; returns the exit code.
pub async fn run(cli: Cli, vars: Vars) -> u8 {
    if let Err(e) = signals::install() {
        ui::error(&format!("cannot handle SIGINT/SIGTERM/SIGHUP: {e}"));
        return exit::ERROR;
    }
    let json = cli.command.json();
    match dispatch(cli, vars).await {
        Ok(code) => code,
        Err(err) => {
            report(&err, json);
            code_for(&err)
        }
    }
}

/// A capability module's error at the top. Its refusal sits in an `#[error(transparent)]` variant,
/// hidden from the source chain, so the top asks the error itself ([`exit::Refusal`]).
#[derive(Debug)]
struct Capability(Box<dyn CapabilityError>);

/// What a capability module returns: an error that knows whether it is a refusal.
trait CapabilityError: std::error::Error + exit::Refusal + Send + Sync + 'static {}

impl<E: std::error::Error + exit::Refusal + Send + Sync + 'static> CapabilityError for E {}

impl std::fmt::Display for Capability {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for Capability {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

/// Into anyhow, keeping the refusal findable by [`refusal`].
fn cap(e: impl CapabilityError) -> anyhow::Error {
    anyhow::Error::new(Capability(Box::new(e)))
}

/// The refusal in `err`'s chain, if any: a bare [`exit::Refused`] or one inside a capability's error.
fn refusal(err: &anyhow::Error) -> Option<&exit::Refused> {
    err.chain().find_map(|c| {
        c.downcast_ref::<exit::Refused>().or_else(|| c.downcast_ref::<Capability>().and_then(|c| c.0.refusal()))
    })
}

/// The exit code for an error that reached the top: a refusal's own code, else 1.
fn code_for(err: &anyhow::Error) -> u8 {
    refusal(err).map_or(exit::ERROR, |r| r.code)
}

/// An `anyhow` error and its context/causes on one line, each message once (a thiserror message
/// that already formats its source would otherwise print it twice).
fn anyhow_chain(e: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in e.chain() {
        let msg = cause.to_string();
        if !parts.iter().any(|p| p.contains(&msg)) {
            parts.push(msg);
        }
    }
    parts.join(": ")
}

/// An error: once on stderr; with `--json` also as a document on stdout unless the command
/// already printed its own (the lifecycle's report carries its errors).
fn report(err: &anyhow::Error, json: bool) {
    let text = anyhow_chain(err);
    ui::error(&text);
    if json && !ui::json_printed() {
        let gate = refusal(err).map(|r| r.gate);
        let _ = ui::print_json(&serde_json::json!({
            "ok": false,
            "gate": gate,
            "error": text,
            "exit": code_for(err),
        }));
    }
}

/// A command line clap refused (or `--help`/`--version`): clap's text, and with `--json` before
/// any `--` also the one error document on stdout (SPEC: `--json` gives a document, also on
/// error). Usage errors exit 1: SPEC reserves 2 for `plan --detailed-exitcode`.
pub fn usage_error(e: &clap::Error, args: impl Iterator<Item = std::ffi::OsString>) -> u8 {
    let _ = e.print();
    if !e.use_stderr() {
        return exit::OK;
    }
    let json = args.skip(1).take_while(|a| a != "--").any(|a| a == "--json");
    if json {
        let text = e.render().to_string();
        // clap's message without its usage and help hints: `error: …` and its indented details.
        let lines: Vec<&str> =
            text.lines().take_while(|l| !l.is_empty() && !l.starts_with("Usage:")).map(str::trim).collect();
        let first = lines.join(" ");
        let first = first.trim_start_matches("error: ");
        let _ = ui::print_json(&serde_json::json!({
            "ok": false,
            "gate": null,
            "error": first,
            "exit": exit::ERROR,
        }));
    }
    exit::ERROR
}

async fn dispatch(cli: Cli, vars: Vars) -> anyhow::Result<u8> {
    let g = Globals::new(&cli, &vars)?;
    match cli.command {
        Command::Completions(a) => {
            let mut buf = Vec::new();
            clap_complete::generate(a.shell, &mut <Cli as clap::CommandFactory>::command(), "gf", &mut buf);
            ui::out_raw(&String::from_utf8_lossy(&buf));
            Ok(exit::OK)
        }
        Command::Man => {
            let mut buf = Vec::new();
            clap_mangen::Man::new(<Cli as clap::CommandFactory>::command()).render(&mut buf)?;
            ui::out_raw(&String::from_utf8_lossy(&buf));
            Ok(exit::OK)
        }
        Command::Stacks(a) => stacks(&g, a),
        Command::Check(a) => check_cmd(&g, &vars, a),
        Command::Backend(a) => backend_cmd(&g.session(vars)?, &a).await,
        Command::Init(a) => lifecycle(&g, vars, init_options(a)).await,
        Command::Plan(a) => lifecycle(&g, vars, plan_options(a)).await,
        Command::Apply(a) => lifecycle(&g, vars, apply_options(a)).await,
        Command::Destroy(a) => lifecycle(&g, vars, destroy_options(a)).await,
        Command::Output(a) => {
            let o = lifecycle::Options {
                op: lifecycle::Op::Output,
                show_sensitive: a.show_sensitive,
                ..run_options(a.run)
            };
            lifecycle(&g, vars, o).await
        }
        Command::Show(a) => show_cmd(&g.session(vars)?, &a).await,
        Command::State(a) => state_cmd(&g.session(vars)?, a).await,
        Command::Status(a) => {
            let o = crate::status::Options { stacks: a.stacks, all: a.all, json: a.json };
            crate::status::run(&g.session(vars)?, &o).await.map_err(cap)
        }
        Command::Drift(a) => lifecycle::drift::run(&g.session(vars)?, &drift_options(a)).await.map_err(cap),
        Command::Doctor(a) => crate::doctor::run(&g.session(vars)?, a.json).await.map_err(cap),
        Command::Cache(CacheCommand::Check(a)) => cache_check(&g, &vars, a).await,
        Command::Lane(cmd) => {
            let (verb, a) = match cmd {
                LaneCommand::Status(a) => (lane::Verb::Status, a),
                LaneCommand::Drain(a) => (lane::Verb::Drain, a),
                LaneCommand::Restore(a) => (lane::Verb::Restore, a),
            };
            let args = lane::LaneArgs { stack: a.stack, timeout: a.timeout, json: a.json };
            lane::run(&g.session(vars)?, verb, &args).await.map_err(cap)
        }
        Command::Affected(a) => affected_cmd(&g, &a),
    }
}

fn affected_cmd(g: &Globals, a: &cli::AffectedArgs) -> anyhow::Result<u8> {
    let c = g.contract()?;
    let opts =
        crate::affected::Options { base: a.base.clone(), head: a.head.clone(), with_dependents: a.with_dependents };
    let r = crate::affected::run(&c.root, &c, &opts)?;
    if a.json {
        ui::print_json(&r.to_json())?;
        return Ok(exit::OK);
    }
    for w in &r.warnings {
        crate::errln!("{w}");
    }
    if a.github_matrix {
        crate::outln!("{}", r.to_matrix());
    } else {
        ui::out_raw(&r.render());
    }
    Ok(exit::OK)
}

async fn lifecycle(g: &Globals, vars: Vars, o: lifecycle::Options) -> anyhow::Result<u8> {
    lifecycle::run(&g.session(vars)?, &o).await.map_err(cap)
}

fn run_options(r: cli::RunArgs) -> lifecycle::Options {
    lifecycle::Options {
        stacks: r.stacks,
        all: r.all,
        dry_run: r.dry_run,
        json: r.json,
        tofu_args: r.tofu_args,
        jobs: 1,
        ..lifecycle::Options::default()
    }
}

fn init_options(a: cli::InitArgs) -> lifecycle::Options {
    lifecycle::Options {
        op: lifecycle::Op::Init,
        allow_empty_state: a.allow_empty_state,
        lock_wait: a.lock.lock_wait,
        ..run_options(a.run)
    }
}

fn plan_options(a: cli::PlanArgs) -> lifecycle::Options {
    lifecycle::Options {
        op: lifecycle::Op::Plan,
        allow_empty_state: a.allow_empty_state,
        detailed_exitcode: a.detailed_exitcode,
        destroy_plan: a.destroy,
        jobs: usize::from(a.jobs),
        skip_cache_gate: a.skip_cache_gate,
        lock_wait: a.lock.lock_wait,
        ..run_options(a.run)
    }
}

fn apply_options(a: cli::ApplyArgs) -> lifecycle::Options {
    lifecycle::Options {
        op: lifecycle::Op::Apply,
        yes: a.yes,
        skip_cache_gate: a.skip_cache_gate,
        timeout: a.timeout,
        lock_wait: a.lock.lock_wait,
        ..run_options(a.run)
    }
}

fn drift_options(a: cli::DriftArgs) -> lifecycle::Options {
    lifecycle::Options {
        op: lifecycle::Op::Drift,
        jobs: usize::from(a.jobs),
        lock_wait: a.lock.lock_wait,
        allow_empty_state: a.allow_empty_state,
        ..run_options(a.run)
    }
}

fn destroy_options(a: cli::DestroyArgs) -> lifecycle::Options {
    lifecycle::Options {
        op: lifecycle::Op::Destroy,
        yes: a.yes,
        allow_empty_state: a.allow_empty_state,
        lock_wait: a.lock.lock_wait,
        ..run_options(a.run)
    }
}

async fn show_cmd(s: &Session, a: &cli::ShowArgs) -> anyhow::Result<u8> {
    let plan = lifecycle::saved_plan(s, &a.stack).await.map_err(cap)?;
    let r = crate::show::report(&plan);
    if a.json {
        ui::print_json(&r)?;
    } else if a.markdown {
        ui::out_raw(&crate::show::markdown(&r, crate::show::COMMENT_LIMIT));
    } else {
        ui::out_raw(&crate::show::human(&r));
    }
    Ok(exit::OK)
}

async fn state_cmd(s: &Session, a: cli::StateArgs) -> anyhow::Result<u8> {
    match a.action {
        None => crate::state::show(s, a.stack.as_deref().unwrap_or_default(), a.json).await.map_err(cap),
        Some(StateAction::Unlock(u)) => crate::state::unlock(s, &u.stack, u.yes, u.json).await.map_err(cap),
        Some(StateAction::PushErrored(p)) => {
            lifecycle::errored::push(s, &p.stack, p.lock.lock_wait, p.json).await.map_err(cap)
        }
        Some(StateAction::Migrate(m)) => Box::pin(migrate_cmd(s, m)).await,
    }
}

async fn migrate_cmd(s: &Session, m: cli::MigrateArgs) -> anyhow::Result<u8> {
    let stack = s.contract.stack(&m.stack)?;
    crate::context::ContextStatus::of(&s.environment, &s.vars).report(&s.env, "gf state migrate");
    // A credential that is not UTF-8 would be sent lossily decoded: a wrong password.
    for k in [crate::httpstate::ENV_USERNAME, crate::httpstate::ENV_PASSWORD] {
        if s.vars.raw(k).is_some_and(|v| v.to_str().is_none()) {
            anyhow::bail!("`{k}` is not valid UTF-8: gf cannot send it as basic auth");
        }
    }
    let opts = crate::migrate::MigrateOptions {
        from_http: m.from_http,
        lock_address: m.lock_address,
        unlock_address: m.unlock_address,
        lock_method: m.lock_method,
        unlock_method: m.unlock_method,
        dry_run: m.dry_run,
        yes: m.yes,
        json: m.json,
    };
    Box::pin(crate::migrate::run(s, stack, &opts)).await.map_err(cap)
}

async fn cache_check(g: &Globals, vars: &Vars, a: cli::CacheCheckArgs) -> anyhow::Result<u8> {
    // The contract is optional here: flags and `GF_ATTIC_*` suffice outside a repository.
    let contract = match g.root() {
        Ok(_) => Some(g.contract()?),
        Err(_) if g.root.is_none() && a.stack.is_none() => None,
        Err(e) => return Err(e.into()),
    };
    let env = contract.as_ref().and_then(|c| c.env(g.env.as_deref()).ok());
    let o = cache::CheckOptions {
        overrides: cache::Overrides { endpoint: a.endpoint, cache: a.cache, trusted_keys: a.trusted_keys },
        paths: a.paths,
        stack: a.stack,
        closure: a.closure,
        jobs: usize::from(a.jobs),
        json: a.json,
    };
    cache::run_check(&RealWorld, vars, contract.as_ref().map(|c| (c, env)), &o).await.map_err(cap)
}

fn stacks(g: &Globals, a: JsonFlag) -> anyhow::Result<u8> {
    let c = g.contract()?;
    // `gf stacks` works without an environment when the contract has several: keys are then null.
    let env = match g.env.as_deref() {
        Some(e) => Some(c.env(Some(e))?.0.to_string()),
        None => c.env(None).ok().map(|(e, _)| e.to_string()),
    };
    if a.json {
        let items: Vec<serde_json::Value> = c
            .stacks
            .iter()
            .map(|s| {
                let mut v = serde_json::to_value(s).unwrap_or_default();
                if let Some(obj) = v.as_object_mut() {
                    let key = env.as_deref().and_then(|e| s.state_keys.get(e)).cloned();
                    obj.insert("state_key".into(), key.into());
                }
                v
            })
            .collect();
        ui::print_json(&items)?;
        return Ok(exit::OK);
    }
    let rows: Vec<Vec<String>> = c
        .stacks
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let mut ns = s.namespaces.join(",");
            if !s.optional_namespaces.is_empty() {
                ns = format!("{ns} (+{})", s.optional_namespaces.join(","));
            }
            vec![
                (i + 1).to_string(),
                s.name.clone(),
                ns,
                env.as_deref().and_then(|e| s.state_keys.get(e)).cloned().unwrap_or_else(|| "-".into()),
                s.apply.to_string(),
                s.lane.as_ref().map_or_else(|| "-".into(), |l| l.name.clone()),
                if s.requires_cache { "required".into() } else { "-".into() },
            ]
        })
        .collect();
    let key_header = env.as_deref().map_or_else(|| "state key".to_string(), |e| format!("state key ({e})"));
    ui::out_raw(&ui::table(&["#", "stack", "namespaces", &key_header, "apply", "lane", "cache"], &rows));
    Ok(exit::OK)
}

fn check_cmd(g: &Globals, vars: &Vars, a: JsonFlag) -> anyhow::Result<u8> {
    let root = g.root()?;
    let report = check::run(&root, vars)?;
    if a.json {
        ui::print_json(&report)?;
    } else {
        for f in &report.findings {
            crate::errln!("{f}");
        }
        if report.ok {
            crate::outln!(
                "ok: `{}` contract and stacks pass ({} warning{})",
                root.display(),
                report.warnings,
                plural(report.warnings)
            );
        } else {
            crate::outln!(
                "{} error{}, {} warning{}",
                report.errors,
                plural(report.errors),
                report.warnings,
                plural(report.warnings)
            );
        }
    }
    Ok(if report.ok { exit::OK } else { exit::ERROR })
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

async fn backend_cmd(s: &Session, a: &BackendArgs) -> anyhow::Result<u8> {
    let c = &s.contract;
    let stack = c.stack(&a.stack)?;
    let location = S3Location::from_lookup(s.vars.lookup(), &c.backend.region)?;
    let b = Backend::new(stack, &s.env, location)?;
    let text = b.to_tfbackend();
    if a.nix {
        let path = nix::text_store_path(&b.file_name(), text.as_bytes());
        if a.realise {
            crate::nix::realise_text(&b.file_name(), &text, &path).await?;
        }
        crate::outln!("{path}");
        return Ok(exit::OK);
    }
    if a.write {
        let dest = stack.dir.join(b.file_name());
        // 0600 whatever the umask: the endpoint is an internal operator detail.
        lifecycle::work::write_private(&dest, text.as_bytes())?;
        ui::note(&format!("wrote `{}`", dest.strip_prefix(&c.root).unwrap_or(&dest).display()));
        return Ok(exit::OK);
    }
    match a.format {
        BackendFormat::Tfbackend => ui::out_raw(&text),
        BackendFormat::Json => ui::print_json(&b.to_json())?,
    }
    Ok(exit::OK)
}
