//! Stack inputs per environment (SPEC "Stack inputs and the cluster"): `stacks/<stack>/<env>.tfvars`
//! is the committed, secret-free var file gf passes to plan and destroy; every variable without a
//! default must be set there or, for a `sensitive` one, by `TF_VAR_<name>` in gf's environment.
//! [`resolve`] says where each required variable comes from (never its value); the `inputs` gate
//! refuses a run in which one has no source, and [`source_findings`] are `gf check`'s rules.

pub mod read;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::contract::{Finding, Stack};
use crate::session::Vars;
use crate::variables::{self, Variable};

/// The var file of `stack` in `env`: `stacks/<stack>/<env>.tfvars`.
pub fn var_file(stack: &Stack, env: &str) -> PathBuf {
    stack.dir.join(var_file_name(env))
}

/// `<env>.tfvars`, as passed to tofu (which runs in the stack folder).
pub fn var_file_name(env: &str) -> String {
    format!("{env}.tfvars")
}

/// The environment variable tofu reads for variable `name`.
pub fn env_var(name: &str) -> String {
    format!("TF_VAR_{name}")
}

/// Where a required variable's value comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Origin {
    /// The environment's committed var file.
    Tfvars,
    /// `TF_VAR_<name>` in gf's environment (sensitive variables).
    Env,
    /// `-- -var name=…`.
    Var,
    /// A `-- -var-file` file.
    VarFile,
    /// Nowhere: the run is refused.
    Missing,
}

/// One required variable and its source (never its value).
#[derive(Debug, Clone, Serialize)]
pub struct Input {
    /// The variable.
    pub name: String,
    /// Declared `sensitive = true`.
    pub sensitive: bool,
    /// Where its value comes from.
    pub from: Origin,
    /// The same for people: `tfvars`, `env TF_VAR_x (set)`, `-var`, `var file x`, `MISSING`.
    pub source: String,
    /// For a missing one: where to set it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

/// A stack's inputs in one environment.
#[derive(Debug, Clone, Serialize)]
pub struct StackInputs {
    /// The environment's var file, relative to the repository root.
    pub var_file: String,
    /// Whether it exists (then plan and destroy get `-var-file=<env>.tfvars`).
    pub var_file_present: bool,
    /// Every required variable, in source order.
    pub required: Vec<Input>,
    /// The `TF_VAR_*` names set in gf's environment for declared variables (recorded in the plan).
    pub env_vars: Vec<String>,
    /// What else stops the run: an unreadable var file, a secret on the command line.
    pub problems: Vec<String>,
}

impl StackInputs {
    /// The required variables without a source.
    pub fn missing(&self) -> impl Iterator<Item = &Input> {
        self.required.iter().filter(|i| i.from == Origin::Missing)
    }

    /// Whether the run may go on.
    pub fn ok(&self) -> bool {
        self.problems.is_empty() && self.missing().next().is_none()
    }

    /// One line per reason to refuse, naming the stack, the env, the variable and the fix.
    pub fn refusals(&self, stack: &str, env: &str) -> Vec<String> {
        let missing = self.missing().map(|i| {
            format!(
                "`{stack}` in `{env}`: required variable `{}`{} has no value: {}",
                i.name,
                if i.sensitive { " (sensitive)" } else { "" },
                i.fix.as_deref().unwrap_or("")
            )
        });
        self.problems.iter().map(|p| format!("`{stack}` in `{env}`: {p}")).chain(missing).collect()
    }

    /// `3 required: a from tfvars, b from env TF_VAR_b (set)` for a pass.
    pub fn summary(&self) -> String {
        if self.required.is_empty() {
            return "no required variables".into();
        }
        let each: Vec<String> = self.required.iter().map(|i| format!("`{}` from {}", i.name, i.source)).collect();
        format!("{} required: {}", self.required.len(), each.join(", "))
    }
}

/// What the extra tofu arguments set: `-var` names and `-var-file` paths (relative to the stack).
#[derive(Debug, Clone, Default)]
pub struct CliInputs {
    /// Names given with `-var name=…`.
    pub vars: Vec<String>,
    /// `-var-file` paths as given.
    pub var_files: Vec<PathBuf>,
}

/// Where every required variable of `stack` in `env` comes from, from the stack's sources, its var
/// file, gf's environment and the extra arguments.
pub fn resolve(root: &Path, stack: &Stack, env: &str, vars: &Vars, cli: &CliInputs) -> StackInputs {
    let path = var_file(stack, env);
    let shown = rel(root, &path);
    let mut problems = Vec::new();
    // Sources that do not parse are the `sources` gate's refusal; the inputs name it too.
    let declared = variables::root_variables(root, &stack.dir).unwrap_or_else(|findings| {
        problems.extend(findings.iter().map(ToString::to_string));
        Vec::new()
    });
    let tfvars = variables::var_file_keys(root, &path).unwrap_or_else(|f| {
        problems.push(f.to_string());
        None
    });
    let mut from_files: BTreeMap<String, String> = BTreeMap::new();
    for p in &cli.var_files {
        match variables::var_file_keys(root, &stack.dir.join(p)) {
            Ok(Some(keys)) => from_files.extend(keys.into_keys().map(|k| (k, p.display().to_string()))),
            Ok(None) => problems.push(format!("var file `{}` (from `-- -var-file`) does not exist", p.display())),
            Err(f) => problems.push(f.to_string()),
        }
    }
    let cli_vars: BTreeSet<&str> = cli.vars.iter().map(String::as_str).collect();
    for v in declared.iter().filter(|v| v.sensitive && cli_vars.contains(v.name.as_str())) {
        problems.push(format!(
            "sensitive variable `{}` is set with `-var` on the command line, where every process can read it: set `{}` in gf's environment instead",
            v.name,
            env_var(&v.name)
        ));
    }
    let required: Vec<Input> = declared
        .iter()
        .filter(|v| v.required())
        .map(|v| {
            let (from, source) = if cli_vars.contains(v.name.as_str()) {
                (Origin::Var, "-var".to_string())
            } else if let Some(f) = from_files.get(&v.name) {
                (Origin::VarFile, format!("var file `{f}`"))
            } else if tfvars.as_ref().is_some_and(|k| k.contains_key(&v.name)) {
                (Origin::Tfvars, "tfvars".to_string())
            } else if v.sensitive && vars.get(&env_var(&v.name)).is_some() {
                (Origin::Env, format!("env {} (set)", env_var(&v.name)))
            } else {
                (Origin::Missing, "MISSING".to_string())
            };
            let fix = (from == Origin::Missing).then(|| fix_for(v, &shown, path.is_file(), vars));
            Input { name: v.name.clone(), sensitive: v.sensitive, from, source, fix }
        })
        .collect();
    problems.extend(stray_env_vars(&declared, &required, &shown, vars));
    let env_vars = declared.iter().map(|v| env_var(&v.name)).filter(|n| vars.raw(n).is_some()).collect();
    // Present is about the file: one that does not parse is present, and refused in `problems`.
    StackInputs { var_file: shown, var_file_present: path.is_file(), required, env_vars, problems }
}

/// `TF_VAR_<name>` set for a declared variable that is not `sensitive`: tofu would take it and
/// change the desired state from an operator's shell, behind the repository's back (the dry run
/// would not show it, the plan's metadata only names it). Refused, naming the variable and where
/// its value belongs. A required one without any other source is named by its fix already.
fn stray_env_vars(declared: &[Variable], required: &[Input], var_file: &str, vars: &Vars) -> Vec<String> {
    let missing: BTreeSet<&str> =
        required.iter().filter(|i| i.from == Origin::Missing).map(|i| i.name.as_str()).collect();
    declared
        .iter()
        .filter(|v| !v.sensitive && !missing.contains(v.name.as_str()) && vars.raw(&env_var(&v.name)).is_some())
        .map(|v| {
            format!(
                "`{}` is set in gf's environment for the non-sensitive variable `{}`: desired state is the repository; set `{} = …` in `{var_file}` (or `-- -var {}=…` for one run) and unset `{}`",
                env_var(&v.name),
                v.name,
                v.name,
                v.name,
                env_var(&v.name)
            )
        })
        .collect()
}

fn fix_for(v: &Variable, var_file: &str, present: bool, vars: &Vars) -> String {
    let name = &v.name;
    if v.sensitive {
        return format!(
            "set `{}` in gf's environment (a sensitive variable never goes in a committed var file)",
            env_var(name)
        );
    }
    let mut fix = format!("set `{name} = …` in `{var_file}`{}", if present { "" } else { " (it does not exist yet)" });
    if vars.raw(&env_var(name)).is_some() {
        fix = format!(
            "{fix}; `{}` is set, but only `sensitive` variables come from the environment (desired state is the repository)",
            env_var(name)
        );
    }
    fix
}

fn rel(root: &Path, p: &Path) -> String {
    p.strip_prefix(root).unwrap_or(p).to_string_lossy().into_owned()
}

/// Var files tofu loads by itself, for every environment: gf refuses them.
fn auto_loaded(name: &str) -> bool {
    matches!(name, "terraform.tfvars" | "terraform.tfvars.json")
        || name.ends_with(".auto.tfvars")
        || name.ends_with(".auto.tfvars.json")
}

/// `gf check`'s input and cluster rules for one stack: provider blocks with cluster settings, var
/// files tofu loads by itself, and each environment's var file (parses, holds no sensitive
/// variable, sets only declared ones). No finding quotes a value.
pub fn source_findings(root: &Path, stack: &Stack) -> Vec<Finding> {
    let mut out = read::provider_findings(&read::stack_sources(root, &stack.dir));
    let mut entries: Vec<String> = std::fs::read_dir(&stack.dir)
        .map(|rd| rd.filter_map(Result::ok).map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    entries.sort();
    for name in entries.iter().filter(|n| auto_loaded(n)) {
        out.push(Finding::error(
            "auto-var-file",
            Some(&rel(root, &stack.dir.join(name))),
            None,
            format!(
                "tofu loads `{name}` by itself into every environment of `{}`: put its inputs in `<env>.tfvars` (which gf passes per environment)",
                stack.name
            ),
        ));
    }
    // Unparsable sources are `hcl-parse` findings of `gf check` already.
    let declared = variables::root_variables(root, &stack.dir).unwrap_or_default();
    for env in stack.state_keys.keys() {
        let path = var_file(stack, env);
        let file = rel(root, &path);
        let keys = match variables::var_file_keys(root, &path) {
            Ok(Some(k)) => k,
            Ok(None) => continue,
            Err(f) => {
                out.push(f);
                continue;
            }
        };
        for (key, line) in keys {
            match declared.iter().find(|v| v.name == key) {
                Some(v) if v.sensitive => out.push(Finding::error(
                    "sensitive-in-var-file",
                    Some(&file),
                    Some(line),
                    format!(
                        "sets sensitive variable `{key}` (declared in `{}{}`): a committed var file holds no secret; remove it and set `{}` in gf's environment",
                        v.file,
                        v.line.map(|l| format!(":{l}")).unwrap_or_default(),
                        env_var(&key)
                    ),
                )),
                Some(_) => {}
                None => out.push(Finding::warning(
                    "undeclared-variable",
                    Some(&file),
                    Some(line),
                    format!("sets `{key}`, which no `variable` block of stack `{}` declares", stack.name),
                )),
            }
        }
    }
    out
}

/// The names of `stack`'s `sensitive` variables.
pub fn sensitive_names(root: &Path, stack: &Stack) -> BTreeSet<String> {
    variables::root_variables(root, &stack.dir)
        .unwrap_or_default()
        .into_iter()
        .filter(|v| v.sensitive)
        .map(|v| v.name)
        .collect()
}

/// `args` for display: the value of a `-var=name=…` whose `name` is in `sensitive` becomes
/// `(sensitive)` (such a run is refused, but the dry run still shows its command line).
pub fn mask_var_args(args: &[String], sensitive: &BTreeSet<String>) -> Vec<String> {
    args.iter()
        .map(|a| match a.strip_prefix("-var=").and_then(|kv| kv.split_once('=')) {
            Some((name, _)) if sensitive.contains(name.trim()) => format!("-var={name}=(sensitive)"),
            _ => a.clone(),
        })
        .collect()
}

/// Which cluster providers (`hashicorp/kubernetes`, `hashicorp/helm`) `stack`'s sources use.
pub fn cluster_providers(root: &Path, stack: &Stack) -> BTreeSet<&'static str> {
    read::cluster_providers(&read::stack_sources(root, &stack.dir))
}

#[cfg(test)]
mod tests;
