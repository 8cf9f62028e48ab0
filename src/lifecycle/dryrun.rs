//! `--dry-run`: the run plan — stacks, order, env, backend file and its store path, tofu binary and
//! version, every gate of the pipeline with the verdict the real run would reach with the inputs
//! there are now, the exact tofu commands — on any machine, changing nothing, saying what is
//! missing. It walks the same pipeline ([`super::gates::PIPELINE`]) with the same verdict
//! functions as the real run ([`super::eval`]), so the two cannot disagree.

use std::path::Path;

use serde::Serialize;

use super::argv::{self, Paths};
use super::eval::{Mode, RunCx, StackCx};
use super::gates::Decision;
use super::out::Out;
use super::work::{self, Work};
use super::{Op, Options};
use crate::backend::{self, Backend, S3Location};
use crate::context::ContextStatus;
use crate::contract::{ApplyMode, Stack};
use crate::inputs::{self, StackInputs};
use crate::session::{Session, World};
use crate::{exit, tofu, ui};

#[derive(Debug, Serialize)]
struct Cmd {
    argv: Vec<String>,
    cwd: String,
    when: Option<String>,
}

#[derive(Debug, Serialize)]
struct DryStack {
    name: String,
    order: usize,
    state_key: String,
    apply: ApplyMode,
    backend_file: String,
    backend_store_path: Option<String>,
    /// The var file and each required variable's source (never a value).
    inputs: StackInputs,
    gates: Vec<Decision>,
    commands: Vec<Cmd>,
}

/// Where the real run would stop.
#[derive(Debug, Serialize)]
struct FirstRefusal {
    gate: &'static str,
    /// The stack, for a stack gate (null: the whole run).
    stack: Option<String>,
    detail: String,
    exit: u8,
}

#[derive(Debug, Serialize)]
#[allow(clippy::struct_field_names)] // `dry_run: true` marks the JSON document.
struct DryRun {
    command: &'static str,
    dry_run: bool,
    env: String,
    root: String,
    order: Vec<String>,
    kube_context: ContextStatus,
    ci: bool,
    tofu: Option<tofu::Tofu>,
    s3: S3Info,
    child_env: Vec<&'static str>,
    /// The run gates (the whole selection).
    gates: Vec<Decision>,
    stacks: Vec<DryStack>,
    /// The first gate that refuses: where the real run would stop (null: it would run).
    first_refusal: Option<FirstRefusal>,
    missing: Vec<String>,
}

#[derive(Debug, Serialize)]
struct S3Info {
    endpoint: Option<String>,
    bucket: Option<String>,
    region: String,
    /// Why a set endpoint or bucket is refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    problem: Option<String>,
}

/// Print the run plan; exit 0.
pub(super) async fn run<W: World>(s: &Session<W>, o: &Options, stacks: &[&Stack]) -> Result<u8, super::LifecycleError> {
    let mut rcx = RunCx::new(s, o, stacks, Mode::Dry);
    let run_gates = rcx.run_gates().await;
    let mut first_refusal = run_gates.iter().find(|d| d.verdict.refuses()).map(|d| first(d, None));
    let located = S3Location::from_lookup(s.vars.lookup(), &s.contract.backend.region);
    // A set but refused endpoint or bucket is not "not set": say why (never the value).
    let s3_problem = match &located {
        Err(crate::backend::BackendError::Missing(_)) | Ok(_) => None,
        Err(e) => Some(e.to_string()),
    };
    let location = located.ok();
    let bin = rcx.facts.tofu.as_ref().map_or_else(|| "tofu".to_string(), |t| t.path.display().to_string());
    let mut out_stacks = Vec::new();
    for (i, stack) in stacks.iter().enumerate() {
        let mut sink = Out::new(&stack.name, false, true, true);
        let gates = StackCx::new(&rcx, stack, &mut sink).stack_gates().await;
        if first_refusal.is_none() {
            first_refusal = gates.iter().find(|d| d.verdict.refuses()).map(|d| first(d, Some(&stack.name)));
        }
        out_stacks.push(dry_stack(&rcx, stack, i + 1, location.as_ref(), &bin, gates));
    }
    let report = DryRun {
        command: o.op.name(),
        dry_run: true,
        env: s.env.clone(),
        root: s.root().display().to_string(),
        order: stacks.iter().map(|st| st.name.clone()).collect(),
        kube_context: ContextStatus::of(&s.environment, &s.vars),
        ci: s.ci,
        tofu: rcx.facts.tofu.clone(),
        s3: S3Info {
            endpoint: location.as_ref().map(|l| l.endpoint.clone()),
            bucket: location.as_ref().map(|l| l.bucket.clone()),
            problem: s3_problem,
            region: s.vars.get(backend::ENV_REGION).unwrap_or_else(|| s.contract.backend.region.clone()),
        },
        child_env: vec![
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "TF_DATA_DIR",
            "TF_IN_AUTOMATION",
            "TF_INPUT",
            if s.kubeconfig.len() > 1 { "KUBE_CONFIG_PATHS" } else { "KUBE_CONFIG_PATH" },
            "KUBE_CTX",
        ],
        missing: missing(&run_gates),
        gates: run_gates,
        stacks: out_stacks,
        first_refusal,
    };
    if o.json {
        ui::print_json(&report)?;
    } else {
        ui::out_raw(&human(&report));
    }
    Ok(exit::OK)
}

fn first(d: &Decision, stack: Option<&str>) -> FirstRefusal {
    let exit = match d.verdict {
        super::gates::Verdict::Refuse { exit, .. } => exit,
        _ => exit::ERROR,
    };
    FirstRefusal { gate: d.gate.name(), stack: stack.map(str::to_string), detail: d.verdict.detail().to_string(), exit }
}

/// What a real run would need that this machine does not have now.
fn missing(run_gates: &[Decision]) -> Vec<String> {
    run_gates
        .iter()
        .filter(|d| d.verdict.refuses())
        .map(|d| {
            // A several-line verdict's first line introduces its list (`…:`); the list is in the
            // verdict itself, shown with the gates.
            let first = d.verdict.detail().lines().next().unwrap_or("");
            format!("`{}`: {}", d.gate, first.trim_end_matches(':'))
        })
        .collect()
}

fn dry_stack<W: World>(
    rcx: &RunCx<'_, W>,
    stack: &Stack,
    order: usize,
    location: Option<&S3Location>,
    bin: &str,
    gates: Vec<Decision>,
) -> DryStack {
    let (s, o) = (rcx.s, rcx.o);
    let root = s.root();
    let key = stack.state_key(&s.env).unwrap_or_default().to_string();
    let work = Work::new(root, &s.env, &stack.name);
    let file_name = backend::file_name(&stack.name, &s.env);
    let store_path = location.map(|loc| {
        let b = Backend { stack: stack.name.clone(), env: s.env.clone(), location: loc.clone(), key: key.clone() };
        crate::nix::text_store_path(&file_name, b.to_tfbackend().as_bytes())
    });
    let inputs = rcx
        .facts
        .inputs
        .get(&stack.name)
        .cloned()
        .unwrap_or_else(|| inputs::resolve(root, stack, &s.env, &s.vars, &rcx.facts.extra.cli_inputs()));
    let paths = Paths {
        no_color: !crate::ui::output_color(),
        backend_file: work.backend_file(&file_name),
        plan_file: work.plan_file(),
        plan_out: work::unique_sibling(&work.plan_file()),
        var_file: (o.op.takes_var_file() && inputs.var_file_present).then(|| inputs::var_file_name(&s.env).into()),
    };
    let destroy_plan = o.destroy_plan
        || (o.op == Op::Apply
            && work::read_json::<work::PlanMeta>(&work.plan_meta()).ok().flatten().is_some_and(|m| m.destroy));
    let extra = &rcx.facts.extra;
    let sensitive = inputs::sensitive_names(root, stack);
    let render = |a: Vec<std::ffi::OsString>| {
        let args: Vec<String> = a.iter().map(|x| x.to_string_lossy().into_owned()).collect();
        std::iter::once(bin.to_string()).chain(inputs::mask_var_args(&args, &sensitive)).collect()
    };
    let cwd = argv::rel(root, &stack.dir);
    let mut commands = vec![Cmd {
        argv: render(argv::init(&paths, o.op, extra)),
        cwd: cwd.clone(),
        when: (o.op != Op::Init)
            .then(|| "only when not yet initialized against this backend and tofu (recorded digest)".into()),
    }];
    if let Some(a) = argv::main(o.op, &paths, extra, destroy_plan) {
        commands.push(Cmd {
            argv: render(a),
            cwd: cwd.clone(),
            when: (o.op == Op::Plan).then(|| "written to a unique name, then saved as `plan.tfplan`".into()),
        });
    }
    if o.op == Op::Drift {
        for which in [argv::DriftPlan::Pending, argv::DriftPlan::Refresh] {
            let tmp = work::unique_sibling(&work.dir.join(super::drift::TEMP_PLAN));
            let drift_paths = Paths { plan_out: tmp.clone(), ..paths.clone() };
            commands.push(Cmd {
                argv: render(argv::drift_plan(which, &drift_paths, extra)),
                cwd: cwd.clone(),
                when: Some("a temporary plan, never `plan.tfplan`".into()),
            });
            commands.push(Cmd {
                argv: render(argv::show_json(&tmp)),
                cwd: cwd.clone(),
                when: Some("read in memory, then the temporary plan is removed".into()),
            });
        }
    }
    DryStack {
        name: stack.name.clone(),
        order,
        state_key: key,
        apply: stack.apply,
        backend_file: argv::rel(root, &paths.backend_file),
        backend_store_path: store_path,
        inputs,
        gates,
        commands,
    }
}

fn human(r: &DryRun) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "gf {} --dry-run: environment `{}`, {} stack{} in {} order: {}",
        r.command,
        r.env,
        r.stacks.len(),
        if r.stacks.len() == 1 { "" } else { "s" },
        if r.command == "destroy" { "reverse dependency" } else { "dependency" },
        r.order.join(" -> ")
    );
    match &r.s3.problem {
        Some(p) => {
            let _ = writeln!(s, "s3: refused: {p}");
        }
        None => {
            let _ = writeln!(
                s,
                "s3: endpoint {}, bucket {}, region `{}`",
                r.s3.endpoint.as_deref().map_or_else(|| "not set".into(), |e| format!("`{e}`")),
                r.s3.bucket.as_deref().map_or_else(|| "not set".into(), |b| format!("`{b}`")),
                r.s3.region
            );
        }
    }
    let _ = writeln!(s, "CI: {}", if r.ci { "`CI=true` (operator stacks cannot be applied)" } else { "no" });
    let _ = writeln!(s, "run gates (the whole selection):");
    gate_lines(&mut s, &r.gates);
    for st in &r.stacks {
        let _ = writeln!(s);
        let _ = writeln!(s, "{}. {} (state key `{}`, apply: {})", st.order, st.name, st.state_key, st.apply);
        let _ = writeln!(s, "   backend file: {}", st.backend_file);
        let _ = writeln!(
            s,
            "   store path:   {}",
            st.backend_store_path
                .as_deref()
                .unwrap_or("not computable: `TOFU_BACKEND_S3_ENDPOINT` and `TOFU_BACKEND_S3_BUCKET` are needed")
        );
        input_lines(&mut s, &st.inputs);
        let _ = writeln!(s, "   gates:");
        gate_lines(&mut s, &st.gates);
        let _ = writeln!(s, "   commands (in `{}`):", st.commands.first().map_or("", |c| c.cwd.as_str()));
        for c in &st.commands {
            let argv: Vec<std::ffi::OsString> = c.argv[1..].iter().map(Into::into).collect();
            let line = tofu::render_argv(Path::new(&c.argv[0]), &argv);
            let _ = writeln!(s, "     {line}");
            if let Some(w) = &c.when {
                let _ = writeln!(s, "       ({w})");
            }
        }
    }
    let _ = writeln!(s);
    match &r.first_refusal {
        None => {
            let _ = writeln!(s, "nothing refuses: `gf {}` without `--dry-run` would run these commands", r.command);
        }
        Some(f) => {
            let _ = writeln!(
                s,
                "the real run would stop at `{}`{} (exit {}): {}",
                f.gate,
                f.stack.as_deref().map(|st| format!(" for `{st}`")).unwrap_or_default(),
                f.exit,
                f.detail.lines().next().unwrap_or("")
            );
            // A refusal of several lines (every stack's finding) is shown whole in its gate's
            // verdict above; the summary names the first and says where the rest is.
            let more = f.detail.lines().skip(1).filter(|l| !l.trim().is_empty()).count();
            if more > 0 {
                let _ = writeln!(
                    s,
                    "  (and {more} more line{} in the `{}` verdict above)",
                    if more == 1 { "" } else { "s" },
                    f.gate
                );
            }
        }
    }
    if !r.missing.is_empty() {
        let _ = writeln!(s, "missing to run for real: {}", r.missing.join("; "));
    }
    s
}

fn input_lines(s: &mut String, i: &StackInputs) {
    use std::fmt::Write as _;
    let _ = writeln!(s, "   var file:     {} ({})", i.var_file, if i.var_file_present { "present" } else { "absent" });
    if i.required.is_empty() {
        let _ = writeln!(s, "   inputs:       no required variables");
        return;
    }
    let _ = writeln!(s, "   inputs (required variables, never their values):");
    let w = i.required.iter().map(|v| v.name.len()).max().unwrap_or(0);
    for v in &i.required {
        let fix = v.fix.as_deref().map(|f| format!(": {f}")).unwrap_or_default();
        let _ = writeln!(s, "     {:<w$}  {}{fix}", v.name, v.source);
    }
    for p in &i.problems {
        let _ = writeln!(s, "     problem: {p}");
    }
}

fn gate_lines(s: &mut String, gates: &[Decision]) {
    use std::fmt::Write as _;
    let w = gates.iter().map(|g| g.gate.name().len()).max().unwrap_or(0);
    for g in gates {
        let mut lines = g.verdict.detail().lines();
        let _ = writeln!(s, "     {:<w$}  {:<6}  {}", g.gate.name(), g.verdict.word(), lines.next().unwrap_or(""));
        for more in lines {
            let _ = writeln!(s, "     {:<w$}          {more}", "");
        }
    }
}
