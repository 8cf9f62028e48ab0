//! The stack lifecycle: `init`, `plan`, `apply`, `destroy`, `output`, behind one gate pipeline
//! ([`gates`]) that the real run enforces and `--dry-run` prints.
//!
//! A run: the run gates over the whole selection (extra arguments, sources, inputs, context,
//! operator in CI, tofu, credentials, cluster identity), then per stack its gates (local lock, errored state, saved plan, cache,
//! state key, stale plan, destroy confirmation, lane) and its tofu commands. Everything gf writes
//! goes to `.gf/<env>/<stack>/` (see [`work`]).

pub mod argv;
pub mod drift;
mod dryrun;
pub mod errored;
pub mod eval;
pub mod gates;
pub mod out;
mod prompt;
pub mod render;
mod stack;
pub mod work;

use std::ffi::OsString;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::StreamExt as _;
use serde::Serialize;

use crate::backend;
use crate::contract::Stack;
use crate::exit;
use crate::s3state::S3Settings;
use crate::session::{Session, Vars, World};
use crate::tofu::TofuError;
use crate::{signals, ui};
use eval::{Mode, RunCx};
use out::Out;
use render::Changes;
use work::StateAtPlan;

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
        }
    }

    /// The tofu subcommand it runs.
    pub fn tofu_command(self) -> &'static str {
        match self {
            Self::Drift => "plan",
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

/// Errors of the lifecycle that are not gate refusals.
#[derive(Debug, thiserror::Error)]
pub enum LifecycleError {
    /// Working files.
    #[error(transparent)]
    Work(#[from] work::WorkError),
    /// tofu.
    #[error(transparent)]
    Tofu(#[from] TofuError),
    /// A signal while gf itself (not tofu) was working on the stack.
    #[error("interrupted ({signal}) before tofu changed anything for `{stack}`")]
    Interrupted {
        /// The stack.
        stack: String,
        /// `SIGINT`, `SIGTERM` or `SIGHUP`.
        signal: &'static str,
    },
    /// `tofu output -json` printed something else.
    #[error("`tofu output -json` for `{stack}` did not print JSON: {reason}")]
    OutputJson {
        /// Stack.
        stack: String,
        /// Parse error.
        reason: String,
    },
    /// A broken invariant of gf itself.
    #[error("internal error: {0}")]
    Internal(String),
}

/// The cluster tofu's kubernetes and helm providers reach: the kubeconfig gf resolved and the
/// environment's context.
#[derive(Debug, Clone)]
pub struct ClusterChoice<'a> {
    /// The kubeconfig files (the session's: `KUBECONFIG`, else `~/.kube/config`).
    pub kubeconfig: &'a [std::path::PathBuf],
    /// The environment's `kube_context`.
    pub context: &'a str,
}

impl ClusterChoice<'_> {
    /// `KUBE_CONFIG_PATH` (one file) or `KUBE_CONFIG_PATHS` (several, `:`-separated), absolute
    /// (tofu runs in the stack folder), the files that exist (as kubectl skips the others), and
    /// `KUBE_CTX`.
    pub fn vars(&self) -> Vec<(OsString, OsString)> {
        let existing: Vec<&std::path::PathBuf> = self.kubeconfig.iter().filter(|p| p.is_file()).collect();
        let files: Vec<std::path::PathBuf> =
            if existing.is_empty() { self.kubeconfig.iter().collect() } else { existing }
                .into_iter()
                .map(|p| std::path::absolute(p).unwrap_or_else(|_| p.clone()))
                .collect();
        let mut out: Vec<(OsString, OsString)> = Vec::new();
        match files.as_slice() {
            [] => {}
            [one] => out.push(("KUBE_CONFIG_PATH".into(), one.clone().into_os_string())),
            many => {
                let joined = std::env::join_paths(many).unwrap_or_else(|_| many[0].clone().into_os_string());
                out.push(("KUBE_CONFIG_PATHS".into(), joined));
            }
        }
        out.push(("KUBE_CTX".into(), self.context.into()));
        out
    }
}

/// The child's environment: gf's own, without `TF_HTTP_*`, gf's S3 variables, other AWS
/// credentials, the Attic token (tofu needs none of it) and every `KUBE_*` variable (the
/// providers would read `KUBE_HOST`, `KUBE_TOKEN`, `KUBE_CTX`, … as cluster settings); plus the
/// S3 credentials as `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY` and the cluster gf chose.
pub fn child_env(
    vars: &Vars,
    settings: &S3Settings,
    data_dir: &Path,
    cluster: &ClusterChoice<'_>,
) -> Vec<(OsString, OsString)> {
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
        // tofu's log file would hold the request headers, credentials included.
        "TF_LOG_PATH",
    ];
    let mut env: Vec<(OsString, OsString)> = vars
        .iter()
        .filter(|(k, _)| {
            let k = k.to_string_lossy();
            !k.starts_with("TF_HTTP_")
                && !k.starts_with("TF_CLI_ARGS_")
                && !k.starts_with("KUBE_")
                && !DROP.contains(&k.as_ref())
        })
        .map(|(k, v)| (k.to_os_string(), v.to_os_string()))
        .collect();
    let mut add = |k: &str, v: &str| env.push((k.into(), v.into()));
    add("AWS_ACCESS_KEY_ID", &settings.access_key);
    add("AWS_SECRET_ACCESS_KEY", &settings.secret_key);
    add("TF_IN_AUTOMATION", "1");
    add("TF_INPUT", "0");
    // No upgrade check calling out to checkpoint-api.hashicorp.com from a deploy.
    add("CHECKPOINT_DISABLE", "1");
    env.push(("TF_DATA_DIR".into(), data_dir.as_os_str().to_os_string()));
    env.extend(cluster.vars());
    env
}

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
    fn new(stack: &str, status: Status) -> Self {
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

/// Run a lifecycle command over the selected stacks.
pub async fn run<W: World>(s: &Session<W>, o: &Options) -> anyhow::Result<u8> {
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
            return Err(anyhow::anyhow!("interrupted ({}) before anything ran", sig.name()));
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
) -> (Vec<StackReport>, Option<(String, anyhow::Error)>) {
    let o = rcx.o;
    let prefixed = stacks.len() > 1;
    let mut reports: Vec<StackReport> = Vec::new();
    let mut first_error: Option<(String, anyhow::Error)> = None;
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

fn finish<W: World>(
    s: &Session<W>,
    o: &Options,
    reports: &[StackReport],
    first_error: Option<(String, anyhow::Error)>,
) -> anyhow::Result<u8> {
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
        return Err(e.context(format!("stack `{stack}`")));
    }
    if let Some(sig) = signals::received() {
        return Err(anyhow::anyhow!("stopped by {}; not run: {}", sig.name(), not_run.join(", ")));
    }
    Ok(if o.detailed_exitcode && changes { exit::CHANGES } else { exit::OK })
}

fn record(
    reports: &mut Vec<StackReport>,
    first_error: &mut Option<(String, anyhow::Error)>,
    s: &Stack,
    r: Option<anyhow::Result<StackReport>>,
) {
    let e = match r {
        None => return reports.push(StackReport::new(&s.name, Status::NotRun)),
        Some(Ok(rep)) => return reports.push(rep),
        Some(Err(e)) => e,
    };
    let refusal = exit::refusal(&e);
    let interrupted = e.chain().any(|c| {
        matches!(c.downcast_ref(), Some(TofuError::Interrupted { .. }))
            || matches!(
                c.downcast_ref(),
                Some(LifecycleError::Tofu(TofuError::Interrupted { .. }) | LifecycleError::Interrupted { .. })
            )
    });
    let status = if interrupted {
        Status::Interrupted
    } else if refusal.is_some() {
        Status::Refused
    } else {
        Status::Failed
    };
    let mut rep = StackReport::new(&s.name, status);
    rep.gate = refusal.map(|r| r.gate);
    rep.error = Some(format!("{e:#}"));
    reports.push(rep);
    if first_error.is_none() {
        *first_error = Some((s.name.clone(), e));
    }
}

/// The saved plan of `stack` as tofu's JSON (`tofu show -json`), with its metadata and, when it
/// would no longer apply, why (the `stale-plan` rules): what `gf show` renders. Runs the run
/// gates, `no-plan` and `state-key`; initializes the data folder when needed.
pub async fn saved_plan<W: World>(s: &Session<W>, stack: &str) -> anyhow::Result<SavedPlan> {
    let st = s.contract.stack(stack)?;
    let o = Options { op: Op::Show, stacks: vec![st.name.clone()], jobs: 1, ..Options::default() };
    let selection = [st];
    let mut rcx = RunCx::new(s, &o, &selection, Mode::Real);
    if let Some(r) = rcx.run_gates().await.iter().find_map(gates::Decision::refusal) {
        return Err(r.into());
    }
    let mut out = Out::new(&st.name, false, true, false);
    let (meta, facts, work) = {
        let mut cx = eval::StackCx::new(&rcx, st, &mut out);
        if let Some(r) = cx.stack_gates().await.iter().find_map(gates::Decision::refusal) {
            return Err(r.into());
        }
        (cx.meta.take(), cx.facts.take(), cx.work.clone())
    };
    let Some(meta) = meta else {
        return Err(LifecycleError::Internal("no plan metadata after `no-plan`".into()).into());
    };
    let stale = match (&facts, &rcx.facts.settings, &rcx.facts.tofu) {
        (Some(f), Some(settings), Some(tofu)) => {
            let backend = crate::backend::Backend::new(st, &s.env, settings.location.clone())?;
            eval::check_plan(&meta, f, &backend, &s.env, tofu, &work, &st.dir).err()
        }
        _ => None,
    };
    let json = stack::show_plan(&rcx, st, work, &mut out).await?;
    Ok(SavedPlan { meta, stale, json })
}

/// A saved plan as `gf show` needs it.
#[derive(Debug)]
pub struct SavedPlan {
    /// Its metadata.
    pub meta: work::PlanMeta,
    /// Why `apply` would refuse it now (`stale-plan`), if it would.
    pub stale: Option<String>,
    /// `tofu show -json` of it.
    pub json: serde_json::Value,
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
            (_, Op::Init) => {
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
        let vars = Vars::from_pairs([
            ("PATH", "/bin"),
            ("TF_HTTP_PASSWORD", "x"),
            ("TOFU_BACKEND_S3_SECRET_KEY", "SK"),
            ("TOFU_BACKEND_S3_ACCESS_KEY", "AK"),
            ("AWS_SECRET_ACCESS_KEY", "other"),
            ("GF_ATTIC_TOKEN", "jwt"),
            ("TF_CLI_ARGS_plan", "-lock=false"),
            ("KUBE_HOST", "https://elsewhere:6443"),
            ("KUBE_CTX", "elsewhere"),
            ("KUBE_CONFIG_PATH", "/other/kubeconfig"),
            ("KUBE_CONTEXT", "honey"),
        ]);
        let one = [std::path::PathBuf::from("/k/config")];
        let env = child_env(&vars, &settings(), Path::new("/d"), &ClusterChoice { kubeconfig: &one, context: "honey" });
        let get = |k: &str| {
            env.iter().filter(|(n, _)| n == k).map(|(_, v)| v.to_string_lossy().into_owned()).collect::<Vec<_>>()
        };
        assert_eq!(get("AWS_SECRET_ACCESS_KEY"), ["SK"]);
        assert_eq!(get("AWS_ACCESS_KEY_ID"), ["AK"]);
        assert!(get("TF_HTTP_PASSWORD").is_empty());
        assert!(get("TOFU_BACKEND_S3_SECRET_KEY").is_empty());
        assert!(get("GF_ATTIC_TOKEN").is_empty());
        assert!(get("TF_CLI_ARGS_plan").is_empty(), "TF_CLI_ARGS_* would get around the allowlist");
        assert_eq!(get("PATH"), ["/bin"]);
        assert_eq!(get("TF_DATA_DIR"), ["/d"]);
        assert!(get("KUBE_HOST").is_empty() && get("KUBE_CONTEXT").is_empty(), "gf alone chooses the cluster");
        assert_eq!(get("KUBE_CTX"), ["honey"]);
        assert_eq!(get("KUBE_CONFIG_PATH"), ["/k/config"]);
        assert!(get("KUBE_CONFIG_PATHS").is_empty());
    }

    #[test]
    fn several_kubeconfig_files_become_kube_config_paths_of_those_that_exist() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        std::fs::write(&a, "").unwrap();
        std::fs::write(&b, "").unwrap();
        let files = [a.clone(), dir.path().join("missing"), b.clone()];
        let v = ClusterChoice { kubeconfig: &files, context: "honey" }.vars();
        let want = format!("{}:{}", a.display(), b.display());
        assert_eq!(v[0], (OsString::from("KUBE_CONFIG_PATHS"), OsString::from(want)));
        let rel = [std::path::PathBuf::from("relative/kubeconfig")];
        let v = ClusterChoice { kubeconfig: &rel, context: "honey" }.vars();
        assert!(std::path::Path::new(&v[0].1).is_absolute(), "{v:?}");
    }
}
