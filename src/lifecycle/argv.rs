//! tofu's command lines, built in one place for the real run and the dry run, and the allowlist of
//! extra arguments after `--` (SPEC "Extra tofu arguments").
//!
//! gf owns the backend, the state, the lock, the plan file and the destroy decision, so only
//! arguments that change none of those pass; everything else is refused naming the gf way.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use super::Op;

/// An extra argument that is not on the allowlist (exit 1).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{arg}` is not passed to tofu: {why}")]
pub struct ArgError {
    /// The argument as given.
    pub arg: String,
    /// Why, and the gf way to do it.
    pub why: String,
}

/// One allowed flag: its name (without dashes), whether it takes a value, and where it may go.
struct Allowed {
    name: &'static str,
    value: Value,
    ops: &'static [Op],
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Value {
    /// `-x=v` or `-x v`.
    Required,
    /// A bare flag (`-compact-warnings`).
    None,
    /// `-refresh=false` (also `=true`): the value is part of the flag.
    Bool,
}

const PLANNING: &[Op] = &[Op::Plan, Op::Destroy];
/// Where the desired state's inputs (variables, targets) may be given: `gf drift` plans too.
const DESIRED: &[Op] = &[Op::Plan, Op::Destroy, Op::Drift];
const RUNNING: &[Op] = &[Op::Plan, Op::Apply, Op::Destroy, Op::Drift];

/// SPEC's allowlist, with the commands tofu accepts each one in. `apply` applies a saved plan,
/// which fixes variables and targets, so only the run-time flags reach it. `gf drift` takes
/// neither `-refresh` (refreshing is its comparison) nor `-replace` (a made-up pending change).
const ALLOWED: &[Allowed] = &[
    Allowed { name: "var", value: Value::Required, ops: DESIRED },
    Allowed { name: "var-file", value: Value::Required, ops: DESIRED },
    Allowed { name: "target", value: Value::Required, ops: DESIRED },
    Allowed { name: "replace", value: Value::Required, ops: &[Op::Plan] },
    Allowed { name: "parallelism", value: Value::Required, ops: RUNNING },
    Allowed { name: "refresh", value: Value::Bool, ops: PLANNING },
    Allowed {
        name: "lock-timeout",
        value: Value::Required,
        ops: &[Op::Init, Op::Plan, Op::Apply, Op::Destroy, Op::Drift],
    },
    Allowed { name: "compact-warnings", value: Value::None, ops: RUNNING },
    Allowed { name: "upgrade", value: Value::None, ops: &[Op::Init] },
];

/// Why a flag gf owns is refused, and what to do instead.
fn owned(name: &str) -> Option<&'static str> {
    Some(match name {
        "backend-config" | "backend" | "reconfigure" | "migrate-state" | "force-copy" => {
            "gf renders the backend from the contract (see `gf backend`) and initializes it itself"
        }
        "lock" => {
            "gf never runs tofu without the state lock; for a lock left behind by a crash use `gf state unlock <STACK>`"
        }
        "destroy" => "use `gf plan --destroy` (its apply asks for confirmation) or `gf destroy`",
        "refresh-only" => "a refresh-only plan is how `gf drift` compares managed and observed state",
        "out" => "gf saves the plan itself in `.gf/<env>/<stack>/plan.tfplan`",
        "state" | "state-out" | "backup" => "state lives at the contract's S3 key, nowhere else",
        "chdir" => "gf runs tofu in the stack's own folder",
        "auto-approve" => "`gf apply` applies only the saved plan; `gf destroy` asks, or takes `--yes`",
        "input" => "gf runs tofu non-interactively",
        "json" | "no-color" | "detailed-exitcode" => "gf sets tofu's output options itself",
        _ => return None,
    })
}

/// Validated extra arguments for one command.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExtraArgs {
    /// The arguments, normalized to `-name=value` / `-name`.
    pub args: Vec<String>,
    /// The `-var-file` paths, in order (hashed into the plan metadata).
    pub var_files: Vec<PathBuf>,
}

impl ExtraArgs {
    /// What these arguments set for the inputs check: `-var` names and `-var-file` paths.
    pub fn cli_inputs(&self) -> crate::inputs::CliInputs {
        let vars = self
            .args
            .iter()
            .filter_map(|a| a.strip_prefix("-var="))
            .map(|kv| kv.split_once('=').map_or(kv, |(k, _)| k).trim().to_string())
            .collect();
        crate::inputs::CliInputs { vars, var_files: self.var_files.clone() }
    }

    /// Check `given` (what followed `--`) against the allowlist for `op`.
    pub fn parse(op: Op, given: &[String]) -> Result<Self, ArgError> {
        let mut out = Self::default();
        let mut it = given.iter().peekable();
        while let Some(arg) = it.next() {
            let refuse = |why: String| ArgError { arg: arg.clone(), why };
            // Go's flag package (tofu's) reads `--x` like `-x`: so does this check.
            let Some(body) = arg.strip_prefix("--").or_else(|| arg.strip_prefix('-')).filter(|b| !b.is_empty()) else {
                return Err(refuse(
                    "a bare argument would name a plan file or a folder; gf passes tofu the stack folder and its own plan"
                        .into(),
                ));
            };
            let (name, inline) = match body.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (body, None),
            };
            if let Some(why) = owned(name) {
                return Err(refuse(why.into()));
            }
            let Some(allowed) = ALLOWED.iter().find(|a| a.name == name) else {
                return Err(refuse(format!(
                    "not on gf's allowlist ({})",
                    ALLOWED.iter().map(|a| format!("`-{}`", a.name)).collect::<Vec<_>>().join(", ")
                )));
            };
            if !allowed.ops.contains(&op) {
                return Err(refuse(match (op, name) {
                    (Op::Drift, "refresh") => {
                        "`gf drift` compares the state with what a refresh observes: it always refreshes".into()
                    }
                    _ => format!(
                        "`tofu {}` does not take `-{name}` here{}",
                        op.tofu_command(),
                        if op == Op::Apply { " (the saved plan already fixed it: pass it to `gf plan`)" } else { "" }
                    ),
                }));
            }
            let value = match (allowed.value, inline) {
                (Value::None, None) => None,
                (Value::None, Some(_)) => return Err(refuse(format!("`-{name}` takes no value"))),
                (Value::Bool, Some(v @ ("true" | "false"))) | (Value::Required, Some(v)) => Some(v.to_string()),
                (Value::Bool, _) => return Err(refuse(format!("write `-{name}=false` (or `=true`)"))),
                (Value::Required, None) => match it.next() {
                    Some(v) => Some(v.clone()),
                    None => return Err(refuse(format!("`-{name}` needs a value"))),
                },
            };
            if name == "var-file"
                && let Some(v) = &value
            {
                out.var_files.push(PathBuf::from(v));
            }
            out.args.push(match value {
                Some(v) => format!("-{name}={v}"),
                None => format!("-{name}"),
            });
        }
        Ok(out)
    }
}

/// Everything a tofu command line is made of besides the command and the extra arguments.
#[derive(Debug, Clone)]
pub struct Paths {
    /// gf's output is not a terminal (or `NO_COLOR`): tofu gets `-no-color`.
    pub no_color: bool,
    /// The rendered backend file.
    pub backend_file: PathBuf,
    /// The saved plan (final name).
    pub plan_file: PathBuf,
    /// Where `plan -out` writes before gf records it (unique per run).
    pub plan_out: PathBuf,
    /// The environment's var file (`<env>.tfvars`, relative to the stack folder) when it exists:
    /// passed to plan and destroy (a saved plan already holds its values).
    pub var_file: Option<PathBuf>,
}

/// `init -reconfigure -input=false -backend-config=<file>` (+ extra args for `gf init`).
pub fn init(paths: &Paths, op: Op, extra: &ExtraArgs) -> Vec<OsString> {
    let mut a: Vec<OsString> = vec![
        "init".into(),
        "-reconfigure".into(),
        "-input=false".into(),
        os(format!("-backend-config={}", paths.backend_file.display())),
    ];
    if paths.no_color {
        a.push("-no-color".into());
    }
    if op == Op::Init {
        a.extend(extra.args.iter().map(Into::into));
    }
    a
}

/// The command itself (none for `init`). The environment's var file comes before the extra
/// arguments, so a `-- -var`/`-var-file` given by hand overrides it, as tofu orders them.
/// `output` always asks for JSON: gf masks sensitive outputs itself.
pub fn main(op: Op, paths: &Paths, extra: &ExtraArgs, destroy_plan: bool) -> Option<Vec<OsString>> {
    let given: Vec<OsString> = extra.args.iter().map(OsString::from).collect();
    let var_file = paths.var_file.iter().map(|p| os(format!("-var-file={}", p.display())));
    let extra = var_file.chain(given.iter().cloned());
    Some(match op {
        // `init` is its own command line; `gf drift` runs two plans and two `show -json` ([`drift_plan`]).
        Op::Init | Op::Drift | Op::PushErrored => return None,
        Op::Plan => {
            let mut a: Vec<OsString> = vec!["plan".into(), "-input=false".into(), "-json".into()];
            if destroy_plan {
                a.push("-destroy".into());
            }
            a.push(os(format!("-out={}", paths.plan_out.display())));
            a.extend(extra);
            a
        }
        Op::Apply => {
            // tofu refuses `-var-file` with a saved plan: the plan holds the values.
            let mut a: Vec<OsString> = vec!["apply".into(), "-input=false".into(), "-json".into()];
            a.extend(given);
            a.push(paths.plan_file.clone().into_os_string());
            a
        }
        Op::Destroy => {
            let mut a: Vec<OsString> =
                vec!["destroy".into(), "-input=false".into(), "-auto-approve".into(), "-json".into()];
            a.extend(extra);
            a
        }
        Op::Output => vec!["output".into(), "-json".into()],
        Op::Show => vec!["show".into(), "-json".into(), paths.plan_file.clone().into_os_string()],
    })
}

/// Which of `gf drift`'s two plans.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DriftPlan {
    /// Desired vs managed: a normal plan.
    Pending,
    /// Managed vs observed: `-refresh-only`.
    Refresh,
}

/// One of `gf drift`'s plans: `gf plan`'s own command line (so whatever a plan is given, the
/// drift plans are given too) written to `paths.plan_out` (a unique temporary name, removed after
/// `show -json`; the saved `plan.tfplan` is never touched), plus `-detailed-exitcode` for the
/// desired-vs-managed plan (2 means changes) or `-refresh-only` for the managed-vs-observed one.
/// The refresh-only plan goes without `-detailed-exitcode`: terraform 1.11 exits 2 for one that
/// prints "No changes." (an output over a counted resource is enough), so only its JSON is read.
pub fn drift_plan(which: DriftPlan, paths: &Paths, extra: &ExtraArgs) -> Vec<OsString> {
    let mut a = main(Op::Plan, paths, extra, false).unwrap_or_default();
    let at = a.iter().position(|x| x == "-json").map_or(a.len(), |i| i + 1);
    let flag = match which {
        DriftPlan::Pending => "-detailed-exitcode",
        DriftPlan::Refresh => "-refresh-only",
    };
    a.insert(at, flag.into());
    a
}

/// `show -json <plan>`: the plan as JSON (read in memory, never written anywhere).
pub fn show_json(plan: &Path) -> Vec<OsString> {
    vec!["show".into(), "-json".into(), plan.as_os_str().to_os_string()]
}

fn os(s: String) -> OsString {
    s.into()
}

/// A path for messages, relative to `root` when under it.
pub fn rel(root: &Path, p: &Path) -> String {
    p.strip_prefix(root).unwrap_or(p).display().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| (*s).to_string()).collect()
    }

    #[test]
    fn allowed_arguments_pass_in_both_spellings() {
        let e = ExtraArgs::parse(
            Op::Plan,
            &args(&["-var=a=1", "-var", "b=2", "--var-file", "x.tfvars", "-target=t.x", "-refresh=false"]),
        )
        .unwrap();
        assert_eq!(e.args, ["-var=a=1", "-var=b=2", "-var-file=x.tfvars", "-target=t.x", "-refresh=false"]);
        assert_eq!(e.var_files, [PathBuf::from("x.tfvars")]);
        let cli = e.cli_inputs();
        assert_eq!(
            (cli.vars, cli.var_files),
            (vec!["a".to_string(), "b".to_string()], vec![PathBuf::from("x.tfvars")])
        );
        assert_eq!(ExtraArgs::parse(Op::Init, &args(&["-upgrade"])).unwrap().args, ["-upgrade"]);
    }

    #[test]
    fn what_gf_owns_is_refused_naming_the_gf_way() {
        for (op, a, hint) in [
            (Op::Init, "-backend-config=key=evil/terraform.tfstate", "gf backend"),
            (Op::Plan, "-lock=false", "gf state unlock"),
            (Op::Plan, "--lock=false", "gf state unlock"),
            (Op::Plan, "-destroy", "gf plan --destroy"),
            (Op::Plan, "-refresh-only", "gf drift"),
            (Op::Plan, "-out=/tmp/p", "plan.tfplan"),
            (Op::Apply, "-state=x", "S3 key"),
            (Op::Plan, "-chdir=..", "stack's own folder"),
            (Op::Apply, "-auto-approve", "saved plan"),
            (Op::Init, "-migrate-state", "gf backend"),
            (Op::Init, "-backend=false", "gf backend"),
            (Op::Apply, "other.tfplan", "bare argument"),
            (Op::Plan, "-", "bare argument"),
        ] {
            let err = ExtraArgs::parse(op, &args(&[a])).unwrap_err();
            assert_eq!(err.arg, a);
            assert!(err.to_string().contains(hint), "{a}: {err}");
        }
    }

    #[test]
    fn flags_only_where_tofu_takes_them() {
        assert!(ExtraArgs::parse(Op::Apply, &args(&["-var=a=1"])).unwrap_err().why.contains("gf plan"));
        assert!(ExtraArgs::parse(Op::Init, &args(&["-target=x"])).is_err());
        assert!(ExtraArgs::parse(Op::Plan, &args(&["-upgrade"])).is_err());
        assert!(ExtraArgs::parse(Op::Plan, &args(&["-var"])).unwrap_err().why.contains("needs a value"));
        assert!(ExtraArgs::parse(Op::Plan, &args(&["-refresh"])).is_err());
        assert!(ExtraArgs::parse(Op::Plan, &args(&["-compact-warnings=1"])).is_err());
        assert!(ExtraArgs::parse(Op::Plan, &args(&["-made-up"])).unwrap_err().why.contains("allowlist"));
        assert_eq!(ExtraArgs::parse(Op::Apply, &args(&["-parallelism", "4"])).unwrap().args, ["-parallelism=4"]);
    }

    #[test]
    fn drift_takes_the_desired_inputs_but_never_skips_the_refresh() {
        let e =
            ExtraArgs::parse(Op::Drift, &args(&["-var-file=dev.tfvars", "-target=a.b", "-lock-timeout=5s"])).unwrap();
        assert_eq!(e.var_files, [PathBuf::from("dev.tfvars")]);
        for (a, hint) in [
            ("-refresh=false", "always refreshes"),
            ("-refresh-only", "gf drift"),
            ("-replace=a.b", "does not take"),
            ("-out=x", "plan.tfplan"),
            ("-lock=false", "gf state unlock"),
            ("-detailed-exitcode", "output options"),
        ] {
            let err = ExtraArgs::parse(Op::Drift, &args(&[a])).unwrap_err();
            assert!(err.to_string().contains(hint), "{a}: {err}");
        }
        let out = Path::new("/r/.gf/dev/a/.drift.tfplan.1-0");
        let paths = Paths {
            no_color: false,
            var_file: None,
            backend_file: "b".into(),
            plan_file: "/r/.gf/dev/a/plan.tfplan".into(),
            plan_out: out.into(),
        };
        let p = drift_plan(DriftPlan::Pending, &paths, &e);
        assert_eq!(
            p[..5],
            ["plan", "-input=false", "-json", "-detailed-exitcode", "-out=/r/.gf/dev/a/.drift.tfplan.1-0"]
        );
        assert_eq!(p.last().unwrap(), "-lock-timeout=5s");
        let r = drift_plan(DriftPlan::Refresh, &paths, &e);
        assert!(!r.iter().any(|a| a == "-detailed-exitcode"), "terraform's refresh-only exit code is not believed");
        let plan = main(Op::Plan, &paths, &e, false).unwrap();
        assert_eq!(p.len(), plan.len() + 1, "a plan's command line plus `-detailed-exitcode`: {p:?} {plan:?}");
        assert!(plan.iter().all(|a| p.contains(a)));
        assert_eq!(r[3], "-refresh-only");
        assert!(!p.iter().any(|a| a == "-lock=false") && !r.iter().any(|a| a == "-lock=false"));
        assert_eq!(show_json(out), ["show", "-json", "/r/.gf/dev/a/.drift.tfplan.1-0"]);
        assert!(main(Op::Drift, &paths, &e, false).is_none());
    }

    #[test]
    fn argv_is_built_once_for_every_command() {
        let p = Paths {
            no_color: false,
            backend_file: "/r/.gf/dev/a/a.dev.s3.tfbackend".into(),
            plan_file: "/r/.gf/dev/a/plan.tfplan".into(),
            plan_out: "/r/.gf/dev/a/plan.tfplan.new-1".into(),
            var_file: Some("dev.tfvars".into()),
        };
        let e = ExtraArgs::parse(Op::Plan, &args(&["-var=x=1"])).unwrap();
        let plan = main(Op::Plan, &p, &e, true).unwrap();
        assert_eq!(
            plan,
            [
                "plan",
                "-input=false",
                "-json",
                "-destroy",
                "-out=/r/.gf/dev/a/plan.tfplan.new-1",
                "-var-file=dev.tfvars",
                "-var=x=1"
            ]
        );
        let destroy = main(Op::Destroy, &p, &e, false).unwrap();
        assert_eq!(destroy[4..], ["-var-file=dev.tfvars", "-var=x=1"]);
        let apply = main(Op::Apply, &p, &ExtraArgs::default(), false).unwrap();
        assert_eq!(
            apply,
            ["apply", "-input=false", "-json", "/r/.gf/dev/a/plan.tfplan"],
            "no var file with a saved plan"
        );
        assert_eq!(main(Op::Output, &p, &e, false).unwrap(), ["output", "-json"]);
        assert_eq!(init(&p, Op::Plan, &e)[3], "-backend-config=/r/.gf/dev/a/a.dev.s3.tfbackend");
        assert_eq!(init(&p, Op::Plan, &e).len(), 4, "extra args go to init only for `gf init`");
        let piped = Paths { no_color: true, ..p };
        assert_eq!(init(&piped, Op::Plan, &e)[4], "-no-color");
        assert_eq!(main(Op::Output, &piped, &e, false).unwrap(), ["output", "-json"], "gf renders outputs itself");
    }
}
