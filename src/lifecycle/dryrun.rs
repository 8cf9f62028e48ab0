//! `--dry-run`: the run plan — stacks, order, env, backend file and its store path, tofu binary and
//! version, the gates that will fire, the exact tofu commands — on any machine, running nothing
//! that changes anything and saying what is missing.

use std::io::IsTerminal as _;
use std::path::Path;

use serde::Serialize;

use super::Op;
use super::work::Work;
use crate::backend::{self, Backend, BackendError, S3Location};
use crate::cli::LifecycleArgs;
use crate::context::ContextStatus;
use crate::contract::{ApplyMode, Contract, Environment, Stack};
use crate::{exit, tofu, ui};

/// One gate as it will fire.
#[derive(Debug, Serialize)]
#[allow(clippy::struct_field_names)] // `gate` is the JSON field name operators read.
struct Gate {
    gate: &'static str,
    /// `pass`, `refuse` (would refuse now), `check` (decided while running), `skip`, `missing`, `report`.
    outcome: &'static str,
    detail: String,
}

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
    gates: Vec<Gate>,
    commands: Vec<Cmd>,
}

#[derive(Debug, Serialize)]
struct S3Info {
    endpoint: Option<String>,
    bucket: Option<String>,
    region: String,
    missing: Vec<&'static str>,
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
    tofu: tofu::Report,
    s3: S3Info,
    child_env: Vec<&'static str>,
    stacks: Vec<DryStack>,
    missing: Vec<String>,
}

/// Print the run plan; exit 0.
pub(super) async fn run(
    contract: &Contract,
    env: &str,
    environment: &Environment,
    op: Op,
    args: &LifecycleArgs,
    stacks: &[&Stack],
    vars: &[(String, String)],
) -> anyhow::Result<u8> {
    let lookup = |k: &str| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()).filter(|v| !v.is_empty());
    let context = ContextStatus::new(environment, lookup("KUBE_CONTEXT"));
    let ci = lookup("CI").as_deref() == Some("true");
    let tofu = tofu::report(lookup).await;
    let bin = tofu.path.clone().unwrap_or_else(|| "tofu".into());
    let region = lookup(backend::ENV_REGION).unwrap_or_else(|| contract.backend.region.clone());
    let location = backend::unless_missing(S3Location::from_lookup(lookup, &contract.backend.region))?;
    let mut s3_missing: Vec<&'static str> = match &location {
        Err(BackendError::Missing(m)) => m.clone(),
        _ => Vec::new(),
    };
    for k in [backend::ENV_ACCESS_KEY, backend::ENV_SECRET_KEY] {
        if lookup(k).is_none() {
            s3_missing.push(k);
        }
    }
    let root = &contract.root;
    let rel = |p: &Path| p.strip_prefix(root).unwrap_or(p).display().to_string();
    let stdin_tty = std::io::stdin().is_terminal();

    let mut out_stacks = Vec::new();
    for (i, stack) in stacks.iter().enumerate() {
        let key = stack.state_key(env)?.to_string();
        let work = Work::new(root, env, &stack.name);
        let file_name = backend::file_name(&stack.name, env);
        let backend_file = work.backend_file(&file_name);
        let store_path = location.as_ref().ok().map(|loc| {
            let text =
                Backend { stack: stack.name.clone(), env: env.to_string(), location: loc.clone(), key: key.clone() }
                    .to_tfbackend();
            crate::nix::text_store_path(&file_name, text.as_bytes())
        });
        let mut gates = Vec::new();
        if op.needs_context() {
            gates.push(if context.matches {
                Gate { gate: "context", outcome: "pass", detail: format!("`KUBE_CONTEXT` is `{}`", context.expected) }
            } else {
                Gate { gate: "context", outcome: "refuse", detail: format!("{} (exit 3)", context.problem(env)) }
            });
        } else if !context.matches {
            gates.push(Gate { gate: "context", outcome: "report", detail: context.problem(env) });
        }
        if matches!(op, Op::Apply | Op::Destroy) && stack.apply == ApplyMode::Operator {
            gates.push(if ci {
                Gate {
                    gate: "operator-in-ci",
                    outcome: "refuse",
                    detail: "`CI=true` and the stack is `apply: operator` (exit 3)".into(),
                }
            } else {
                Gate {
                    gate: "operator-in-ci",
                    outcome: "pass",
                    detail: "`apply: operator`: refused when `CI=true`; `CI` is not `true`".into(),
                }
            });
        }
        if matches!(op, Op::Plan | Op::Apply) && stack.requires_cache {
            gates.push(if args.skip_cache_gate {
                Gate {
                    gate: "cache",
                    outcome: "skip",
                    detail: "`--skip-cache-gate`: the Attic cache is NOT checked".into(),
                }
            } else {
                Gate {
                    gate: "cache",
                    outcome: "check",
                    detail: format!(
                        "Attic cache gate: `nix-cache-info` answers{} (exit 3 otherwise)",
                        if stack.cache_paths.is_empty() {
                            String::new()
                        } else {
                            format!(" and {} `cache_paths` are present and signed", stack.cache_paths.len())
                        }
                    ),
                }
            });
        }
        if op == Op::Apply && stack.lane.is_some() {
            for step in crate::lane::dry_run_steps(stack) {
                gates.push(Gate { gate: "lane", outcome: "check", detail: step });
            }
        }
        gates.push(if s3_missing.is_empty() {
            Gate { gate: "credentials", outcome: "pass", detail: "S3 endpoint, bucket and credentials are set".into() }
        } else {
            Gate {
                gate: "credentials",
                outcome: "missing",
                detail: format!(
                    "not set: {}",
                    s3_missing.iter().map(|v| format!("`{v}`")).collect::<Vec<_>>().join(", ")
                ),
            }
        });
        let object = location.as_ref().map_or_else(|_| format!("`{key}`"), |l| format!("`s3://{}/{key}`", l.bucket));
        gates.push(Gate {
            gate: "state-key",
            outcome: "check",
            detail: if args.allow_empty_state {
                format!("look up {object}; an absent state is accepted (`--allow-empty-state`)")
            } else {
                format!("look up {object}; absent state refused (exit 3) unless `--allow-empty-state`")
            },
        });
        if op == Op::Apply {
            let have = work.plan_meta().is_file() && work.plan_file().is_file();
            gates.push(Gate {
                gate: "stale-plan",
                outcome: if have { "check" } else { "refuse" },
                detail: if have {
                    format!(
                        "`{}`: state serial/ETag, backend digest, env and tofu version must match the plan",
                        rel(&work.plan_file())
                    )
                } else {
                    format!("no saved plan `{}`: run `gf plan {}` first (exit 3)", rel(&work.plan_file()), stack.name)
                },
            });
        }
        if op == Op::Destroy {
            gates.push(Gate {
                gate: "destroy-confirmation",
                outcome: if args.yes {
                    "pass"
                } else if stdin_tty {
                    "check"
                } else {
                    "refuse"
                },
                detail: if args.yes {
                    "`--yes`".into()
                } else {
                    format!("type `{}` at the prompt (needs a terminal, or `--yes`)", stack.name)
                },
            });
        }

        let cwd = rel(&stack.dir);
        let extra = args.tofu_args.clone();
        let mut commands = vec![Cmd {
            argv: vec![
                bin.clone(),
                "init".into(),
                "-reconfigure".into(),
                "-input=false".into(),
                format!("-backend-config={}", backend_file.display()),
            ]
            .into_iter()
            .chain(if op == Op::Init { extra.clone() } else { Vec::new() })
            .collect(),
            cwd: cwd.clone(),
            when: (op != Op::Init)
                .then(|| "only when not yet initialized against this backend and tofu (recorded digest)".into()),
        }];
        let main: Option<Vec<String>> = match op {
            Op::Init => None,
            Op::Plan => Some(
                [bin.clone(), "plan".into(), "-input=false".into(), "-json".into()]
                    .into_iter()
                    .chain([format!("-out={}", work.plan_file().display())])
                    .chain(extra)
                    .collect(),
            ),
            Op::Apply => Some(
                [bin.clone(), "apply".into(), "-input=false".into(), "-json".into()]
                    .into_iter()
                    .chain(extra)
                    .chain([work.plan_file().display().to_string()])
                    .collect(),
            ),
            Op::Destroy => Some(
                [bin.clone(), "destroy".into(), "-input=false".into(), "-auto-approve".into(), "-json".into()]
                    .into_iter()
                    .chain(extra)
                    .collect(),
            ),
            Op::Output => Some(
                [bin.clone(), "output".into()]
                    .into_iter()
                    .chain(args.json.then(|| "-json".to_string()))
                    .chain(extra)
                    .collect(),
            ),
        };
        if let Some(argv) = main {
            commands.push(Cmd { argv, cwd, when: None });
        }
        out_stacks.push(DryStack {
            name: stack.name.clone(),
            order: i + 1,
            state_key: key,
            apply: stack.apply,
            backend_file: rel(&backend_file),
            backend_store_path: store_path,
            gates,
            commands,
        });
    }

    let mut missing: Vec<String> = Vec::new();
    if op.needs_context() && !context.matches {
        missing.push(format!("`KUBE_CONTEXT={}`", context.expected));
    }
    missing.extend(s3_missing.iter().map(|v| format!("`{v}`")));
    if tofu.version.is_none() || !tofu.status.starts_with("ok") {
        missing.push("a tofu binary >= 1.10 (`GF_TOFU`, `tofu` or `terraform` on `PATH`)".into());
    }
    let loc = location.as_ref().ok();
    let report = DryRun {
        command: op.name(),
        dry_run: true,
        env: env.to_string(),
        root: root.display().to_string(),
        order: stacks.iter().map(|s| s.name.clone()).collect(),
        kube_context: context,
        ci,
        tofu,
        s3: S3Info {
            endpoint: loc.map(|l| l.endpoint.clone()),
            bucket: loc.map(|l| l.bucket.clone()),
            region,
            missing: s3_missing,
        },
        child_env: vec!["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "TF_DATA_DIR", "TF_IN_AUTOMATION", "TF_INPUT"],
        stacks: out_stacks,
        missing,
    };
    if args.json {
        ui::print_json(&report)?;
    } else {
        print!("{}", human(&report));
    }
    Ok(exit::OK)
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
    let _ = writeln!(
        s,
        "kube context: {}",
        if r.kube_context.matches {
            format!("`{}` (matches)", r.kube_context.expected)
        } else {
            format!(
                "needs `{}`, `KUBE_CONTEXT` is {}",
                r.kube_context.expected,
                r.kube_context.actual.as_deref().map_or_else(|| "not set".into(), |a| format!("`{a}`"))
            )
        }
    );
    let _ = writeln!(
        s,
        "tofu: {}",
        match (&r.tofu.path, &r.tofu.version) {
            (Some(p), Some(v)) => format!("{p} (from {}), version {v}: {}", source_name(r.tofu.source), r.tofu.status),
            (Some(p), None) => format!("{p}: {}", r.tofu.status),
            _ => r.tofu.status.clone(),
        }
    );
    let _ = writeln!(
        s,
        "s3: endpoint {}, bucket {}, region `{}`; credentials reach tofu only as `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`",
        r.s3.endpoint.as_deref().map_or_else(|| "not set".into(), |e| format!("`{e}`")),
        r.s3.bucket.as_deref().map_or_else(|| "not set".into(), |b| format!("`{b}`")),
        r.s3.region
    );
    let _ = writeln!(s, "CI: {}", if r.ci { "`CI=true` (operator stacks cannot be applied)" } else { "no" });
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
        let _ = writeln!(s, "   gates:");
        let w = st.gates.iter().map(|g| g.gate.len()).max().unwrap_or(0);
        for g in &st.gates {
            let _ = writeln!(s, "     {:<w$}  {:<7}  {}", g.gate, g.outcome, g.detail);
        }
        let _ = writeln!(s, "   commands (in `{}`):", st.commands.first().map_or("", |c| c.cwd.as_str()));
        for c in &st.commands {
            let argv: Vec<std::ffi::OsString> = c.argv[1..].iter().map(Into::into).collect();
            let line = tofu::render_argv(Path::new(&c.argv[0]), &argv);
            match &c.when {
                Some(w) => {
                    let _ = writeln!(s, "     {line}\n       ({w})");
                }
                None => {
                    let _ = writeln!(s, "     {line}");
                }
            }
        }
    }
    let _ = writeln!(s);
    if r.missing.is_empty() {
        let _ = writeln!(s, "nothing missing: `gf {}` without `--dry-run` would run these commands", r.command);
    } else {
        let _ = writeln!(s, "missing to run for real: {}", r.missing.join(", "));
    }
    s
}

fn source_name(s: Option<tofu::Source>) -> &'static str {
    s.map_or("?", tofu::Source::describe)
}
