//! The deployment contract as checked data: `stacks/contract.json` and `stacks/<stack>/stack.json`.
//!
//! Loading is strict: every problem becomes a [`Finding`] naming the file (and line where there is
//! one). `gf check` prints them all; every other command refuses to run on a contract with errors.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

mod checks;
mod rules;

pub use rules::{hidden_char, key_problem, shown};

/// File name of the cluster/environment contract, relative to the repository root.
pub const CONTRACT_FILE: &str = "stacks/contract.json";
/// File name of a stack manifest, inside `stacks/<stack>/`.
pub const MANIFEST_FILE: &str = "stack.json";

/// Errors of loading the contract or selecting from it.
#[derive(Debug, thiserror::Error)]
pub enum ContractError {
    /// No `stacks/contract.json` above the working directory.
    #[error(
        "no `stacks/contract.json` in `{0}` or any parent folder; run gf inside the repository or pass `-C DIR` / `GF_ROOT`"
    )]
    RootNotFound(PathBuf),
    /// `-C`/`GF_ROOT` points at a folder without the contract.
    #[error("`{0}` has no `stacks/contract.json` (from `-C`/`--root`/`GF_ROOT`)")]
    NotARoot(PathBuf),
    /// The contract or a manifest has errors.
    #[error("{}", render_invalid(.0))]
    Invalid(Vec<Finding>),
    /// Stack name not in the contract.
    #[error("unknown stack `{name}`{}; the contract defines {}", did_you_mean(.suggestion.as_deref()), list(.known))]
    UnknownStack {
        /// The name asked for.
        name: String,
        /// The closest known name, if any is close.
        suggestion: Option<String>,
        /// The stacks of the contract.
        known: Vec<String>,
    },
    /// Environment not in the contract.
    #[error("unknown environment `{name}`; the contract defines {}", list(.known))]
    UnknownEnv {
        /// The name asked for.
        name: String,
        /// The environments of the contract.
        known: Vec<String>,
    },
    /// A requested environment name that no contract may define.
    #[error("environment name `{name}` does not match `{}`: {problem}", rules::ENV_NAME_PATTERN)]
    BadEnvName {
        /// The name asked for, as it may be shown.
        name: String,
        /// What is wrong with it.
        problem: String,
    },
    /// No environment given and the contract has several.
    #[error("no environment selected: pass `--env` or set `ENV` to one of {}", list(.known))]
    NoEnv {
        /// The environments of the contract.
        known: Vec<String>,
    },
    /// The stack has no state key for the environment.
    #[error("stack `{stack}` has no state key for environment `{env}` in `{file}`; refusing to guess one")]
    NoStateKey {
        /// Stack name.
        stack: String,
        /// Environment name.
        env: String,
        /// The manifest.
        file: String,
    },
    /// A file could not be read.
    #[error("cannot read `{path}`: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

fn did_you_mean(s: Option<&str>) -> String {
    s.map(|s| format!("; did you mean `{s}`?")).unwrap_or_default()
}

fn list(items: &[String]) -> String {
    if items.is_empty() {
        return "none".to_string();
    }
    items.iter().map(|i| format!("`{i}`")).collect::<Vec<_>>().join(", ")
}

fn render_invalid(findings: &[Finding]) -> String {
    let errors: Vec<_> = findings.iter().filter(|f| f.severity == Severity::Error).collect();
    let mut out = format!(
        "the deployment contract has {} error{} (run `gf check`)",
        errors.len(),
        if errors.len() == 1 { "" } else { "s" }
    );
    for f in errors {
        out.push_str("\n  ");
        out.push_str(&f.to_string());
    }
    out
}

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Fails `gf check` (exit 1) and blocks every other command.
    Error,
    /// Reported, never fails.
    Warning,
}

/// One problem found in the contract, a manifest, a stack source or the environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Error or warning.
    pub severity: Severity,
    /// Short machine-readable kind, e.g. `unknown-field`, `cycle`, `http-backend`.
    pub code: &'static str,
    /// File relative to the repository root (`None` for environment findings).
    pub file: Option<String>,
    /// 1-based line, where there is one.
    pub line: Option<usize>,
    /// 1-based column, where there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<usize>,
    /// What is wrong, naming the culprit.
    pub message: String,
}

impl Finding {
    /// An error finding.
    pub fn error(code: &'static str, file: Option<&str>, line: Option<usize>, message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Error,
            code,
            file: file.map(str::to_string),
            line,
            column: None,
            message: message.into(),
        }
    }

    /// A warning finding.
    pub fn warning(code: &'static str, file: Option<&str>, line: Option<usize>, message: impl Into<String>) -> Self {
        Self { severity: Severity::Warning, ..Self::error(code, file, line, message) }
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sev = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        match (&self.file, self.line, self.column) {
            (Some(file), Some(line), Some(col)) => write!(f, "{sev}: {file}:{line}:{col}: {}", self.message),
            (Some(file), Some(line), None) => write!(f, "{sev}: {file}:{line}: {}", self.message),
            (Some(file), None, _) => write!(f, "{sev}: {file}: {}", self.message),
            (None, _, _) => write!(f, "{sev}: {}", self.message),
        }
    }
}

/// `cluster` of `contract.json`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Cluster {
    /// Cluster name (`honey`).
    pub name: String,
    /// `on-prem`.
    pub provider_shape: String,
    /// `RKE2`.
    pub distribution: String,
    /// Node roles by node name.
    pub nodes: BTreeMap<String, String>,
    /// Operator access rule.
    pub access: String,
}

/// One environment of `contract.json`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Environment {
    /// The kubeconfig context `KUBE_CONTEXT` must equal for mutating commands.
    pub kube_context: String,
    /// The UID of the cluster's `kube-system` namespace: when set, gf refuses to deploy through a
    /// context that reaches another cluster (gate `cluster-identity`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_uid: Option<String>,
}

/// `backend` of `contract.json`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BackendSettings {
    /// Only `s3`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Default region (overridden by `TOFU_BACKEND_S3_REGION`).
    pub region: String,
}

/// Optional `attic` block of `contract.json`.
#[derive(Debug, Clone, Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields)]
pub struct AtticSettings {
    /// Base URL of the Attic server.
    pub endpoint: Option<String>,
    /// Cache name.
    pub cache: Option<String>,
    /// Trusted public keys, `name:base64`.
    #[serde(default)]
    pub trusted_keys: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct ContractFile {
    #[serde(rename = "$schema", default)]
    _schema: Option<String>,
    cluster: Cluster,
    environments: BTreeMap<String, Environment>,
    backend: BackendSettings,
    #[serde(default)]
    attic: Option<AtticSettings>,
}

/// Who may apply a stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ApplyMode {
    /// May be applied by CI on main.
    Automated,
    /// Bounded operator-driven apply: refused in CI.
    Operator,
}

impl fmt::Display for ApplyMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Automated => "automated",
            Self::Operator => "operator",
        })
    }
}

/// The drain part of a lane.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Drain {
    /// Namespace of the AutoscalingRunnerSets to drain.
    pub namespace: String,
    /// Names of the shared AutoscalingRunnerSets drained before the apply.
    pub scale_sets: Vec<String>,
}

/// A stack's lane (`heavy-nix`).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Lane {
    /// Lane name.
    pub name: String,
    /// What gets drained before the apply.
    pub drain: Drain,
}

/// A stack manifest as written in `stack.json`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct ManifestFile {
    #[serde(rename = "$schema", default)]
    _schema: Option<String>,
    name: String,
    purpose: String,
    namespaces: Vec<String>,
    optional_namespaces: Vec<String>,
    depends_on: Vec<String>,
    state_keys: BTreeMap<String, String>,
    apply: ApplyMode,
    requires_cache: bool,
    #[serde(default)]
    cache_paths: Vec<String>,
    #[serde(default)]
    lane: Option<Lane>,
}

const CONTRACT_FIELDS: &[&str] = &["$schema", "cluster", "environments", "backend", "attic"];
const CONTRACT_REQUIRED: &[&str] = &["cluster", "environments", "backend"];
const MANIFEST_FIELDS: &[&str] = &[
    "$schema",
    "name",
    "purpose",
    "namespaces",
    "optional_namespaces",
    "depends_on",
    "state_keys",
    "apply",
    "requires_cache",
    "cache_paths",
    "lane",
];
const MANIFEST_REQUIRED: &[&str] =
    &["name", "purpose", "namespaces", "optional_namespaces", "depends_on", "state_keys", "apply", "requires_cache"];

/// One active stack.
#[derive(Debug, Clone, Serialize)]
pub struct Stack {
    /// Stack name, equal to its folder name.
    pub name: String,
    /// What the stack deploys.
    pub purpose: String,
    /// Namespaces the stack owns.
    pub namespaces: Vec<String>,
    /// Namespaces used where present.
    pub optional_namespaces: Vec<String>,
    /// Stacks that must be deployed first.
    pub depends_on: Vec<String>,
    /// Explicit state key per environment, used exactly as written.
    pub state_keys: BTreeMap<String, String>,
    /// Who may apply it.
    pub apply: ApplyMode,
    /// Whether the Attic cache gate runs before its plan/apply.
    pub requires_cache: bool,
    /// Store paths that must be present in Attic before it deploys.
    pub cache_paths: Vec<String>,
    /// The lane it is applied on.
    pub lane: Option<Lane>,
    /// `stacks/<name>` (absolute).
    #[serde(skip)]
    pub dir: PathBuf,
    /// `stacks/<name>/stack.json` relative to the root.
    #[serde(skip)]
    pub manifest: String,
}

impl Stack {
    /// The state key for `env`, refused when the manifest lists none.
    pub fn state_key(&self, env: &str) -> Result<&str, ContractError> {
        self.state_keys.get(env).map(String::as_str).ok_or_else(|| ContractError::NoStateKey {
            stack: self.name.clone(),
            env: env.to_string(),
            file: self.manifest.clone(),
        })
    }
}

/// The loaded, validated contract.
#[derive(Debug, Clone)]
pub struct Contract {
    /// Repository root.
    pub root: PathBuf,
    /// Cluster facts.
    pub cluster: Cluster,
    /// Environments by name.
    pub environments: BTreeMap<String, Environment>,
    /// Backend defaults.
    pub backend: BackendSettings,
    /// Attic defaults.
    pub attic: Option<AtticSettings>,
    /// Stacks in dependency order.
    pub stacks: Vec<Stack>,
    /// Warnings found while loading.
    pub warnings: Vec<Finding>,
}

/// Find the repository root: `explicit` (from `-C`/`GF_ROOT`) or the first ancestor of `cwd`
/// holding `stacks/contract.json`.
pub fn discover_root(explicit: Option<&Path>, cwd: &Path) -> Result<PathBuf, ContractError> {
    if let Some(dir) = explicit {
        let dir = if dir.is_absolute() { dir.to_path_buf() } else { cwd.join(dir) };
        return if dir.join(CONTRACT_FILE).is_file() { Ok(dir) } else { Err(ContractError::NotARoot(dir)) };
    }
    cwd.ancestors()
        .find(|d| d.join(CONTRACT_FILE).is_file())
        .map(Path::to_path_buf)
        .ok_or_else(|| ContractError::RootNotFound(cwd.to_path_buf()))
}

impl Contract {
    /// Load and validate; any error finding makes this fail with [`ContractError::Invalid`].
    pub fn load(root: &Path) -> Result<Self, ContractError> {
        let (contract, findings) = Self::load_with_findings(root)?;
        match contract {
            Some(mut c) if !findings.iter().any(|f| f.severity == Severity::Error) => {
                c.warnings = findings;
                Ok(c)
            }
            _ => Err(ContractError::Invalid(findings)),
        }
    }

    /// Load as far as possible, returning every finding of the data (not of the HCL sources).
    pub fn load_with_findings(root: &Path) -> Result<(Option<Self>, Vec<Finding>), ContractError> {
        let mut findings = Vec::new();
        let contract_file =
            read_json::<ContractFile>(root, CONTRACT_FILE, CONTRACT_FIELDS, CONTRACT_REQUIRED, &mut findings)?;
        if let Some(c) = &contract_file {
            checks::check_contract(root, c, &mut findings);
        }

        let stacks_dir = root.join("stacks");
        let mut dirs: Vec<(String, PathBuf)> = Vec::new();
        let entries = std::fs::read_dir(&stacks_dir)
            .map_err(|source| ContractError::Read { path: stacks_dir.clone(), source })?;
        let mut refused = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|source| ContractError::Read { path: stacks_dir.clone(), source })?;
            let path = entry.path();
            if path.join(MANIFEST_FILE).is_file() {
                let folder = entry.file_name().to_string_lossy().into_owned();
                if let Some(f) = checks::outside_root(root, &folder, &path) {
                    findings.push(f);
                    refused.push(folder);
                    continue;
                }
                dirs.push((folder, path));
            }
        }
        dirs.sort();
        if dirs.is_empty() && findings.iter().all(|f| f.code != "stack-outside-repository") {
            findings.push(Finding::error(
                "no-stacks",
                Some("stacks"),
                None,
                "no `stacks/<stack>/stack.json` manifest found",
            ));
        }

        let mut stacks = Vec::new();
        // Folders whose manifest failed to load still count as stacks for `depends_on`.
        let folders: Vec<String> = dirs.iter().map(|(f, _)| f.clone()).chain(refused).collect();
        for (folder, dir) in dirs {
            let rel = format!("stacks/{folder}/{MANIFEST_FILE}");
            let Some(m) = read_json::<ManifestFile>(root, &rel, MANIFEST_FIELDS, MANIFEST_REQUIRED, &mut findings)?
            else {
                continue;
            };
            let text = std::fs::read_to_string(root.join(&rel)).unwrap_or_default();
            if m.name != folder {
                findings.push(Finding::error(
                    "name-mismatch",
                    Some(&rel),
                    line_of_key(&text, "name"),
                    format!("`name` is `{}` but the folder is `{folder}`: they must be equal", m.name),
                ));
            }
            stacks.push(Stack {
                name: m.name,
                purpose: m.purpose,
                namespaces: m.namespaces,
                optional_namespaces: m.optional_namespaces,
                depends_on: checks::dedup_dependencies(&folder, m.depends_on, &rel, &text, &mut findings),
                state_keys: m.state_keys,
                apply: m.apply,
                requires_cache: m.requires_cache,
                cache_paths: m.cache_paths,
                lane: m.lane,
                dir,
                manifest: rel,
            });
        }

        checks::check_stacks(root, contract_file.as_ref(), &stacks, &folders, &mut findings);
        let ordered = match dependency_order(&stacks) {
            Ok(o) => o,
            Err(cycle) => {
                let first = stacks.iter().find(|s| cycle.first() == Some(&s.name));
                findings.push(Finding::error(
                    "cycle",
                    first.map(|s| s.manifest.as_str()),
                    first.and_then(|s| line_of_key(&read_lossy(root, &s.manifest), "depends_on")),
                    format!(
                        "dependency cycle: {}",
                        cycle.iter().map(|c| format!("`{c}`")).collect::<Vec<_>>().join(" → ")
                    ),
                ));
                stacks.clone()
            }
        };

        let contract = contract_file.map(|c| Contract {
            root: root.to_path_buf(),
            cluster: c.cluster,
            environments: c.environments,
            backend: c.backend,
            attic: c.attic,
            stacks: ordered,
            warnings: Vec::new(),
        });
        Ok((contract, findings))
    }

    /// The stack called `name`, or an unknown-stack error with a did-you-mean.
    pub fn stack(&self, name: &str) -> Result<&Stack, ContractError> {
        self.stacks.iter().find(|s| s.name == name).ok_or_else(|| ContractError::UnknownStack {
            name: name.to_string(),
            suggestion: suggest(name, self.stacks.iter().map(|s| s.name.as_str())),
            known: self.stacks.iter().map(|s| s.name.clone()).collect(),
        })
    }

    /// Resolve the environment: `requested` (from `--env`/`ENV`), else the only one.
    pub fn env(&self, requested: Option<&str>) -> Result<(&str, &Environment), ContractError> {
        let known = || self.environments.keys().cloned().collect::<Vec<_>>();
        if let Some(problem) = requested.and_then(rules::env_name_problem) {
            return Err(ContractError::BadEnvName { name: rules::shown(requested.unwrap_or_default()), problem });
        }
        match requested {
            Some(name) => self
                .environments
                .get_key_value(name)
                .map(|(k, v)| (k.as_str(), v))
                .ok_or_else(|| ContractError::UnknownEnv { name: name.to_string(), known: known() }),
            None if self.environments.len() == 1 => {
                let (k, v) = self.environments.iter().next().expect("len checked");
                Ok((k.as_str(), v))
            }
            None => Err(ContractError::NoEnv { known: known() }),
        }
    }

    /// Select stacks by name (or all), returned in dependency order without duplicates.
    pub fn select(&self, names: &[String], all: bool) -> Result<Vec<&Stack>, ContractError> {
        if all {
            return Ok(self.stacks.iter().collect());
        }
        let mut wanted = BTreeSet::new();
        for n in names {
            wanted.insert(self.stack(n)?.name.clone());
        }
        Ok(self.stacks.iter().filter(|s| wanted.contains(&s.name)).collect())
    }

    /// The stacks that carry a lane.
    pub fn lane_stacks(&self) -> impl Iterator<Item = &Stack> {
        self.stacks.iter().filter(|s| s.lane.is_some())
    }
}

/// The closest of `known` to `name`, if close enough to be a typo.
pub fn suggest<'a>(name: &str, known: impl Iterator<Item = &'a str>) -> Option<String> {
    known
        .map(|k| (strsim::jaro_winkler(name, k), k))
        .filter(|(score, _)| *score > 0.7)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, k)| k.to_string())
}

fn read_lossy(root: &Path, rel: &str) -> String {
    std::fs::read_to_string(root.join(rel)).unwrap_or_default()
}

/// 1-based line of the first `"key":` in `text`.
pub fn line_of_key(text: &str, key: &str) -> Option<usize> {
    let needle = format!("\"{key}\"");
    text.lines().position(|l| l.trim_start().starts_with(&needle)).map(|i| i + 1)
}

/// 1-based line of the member `"name":` of the object under `"parent"`: on the parent's line or
/// after it (falls back to [`line_of_key`] of `name`).
pub fn line_of_member(text: &str, parent: &str, name: &str) -> Option<usize> {
    let needle = serde_json::to_string(name).ok()?;
    let start = line_of_key(text, parent)?;
    text.lines()
        .enumerate()
        .skip(start - 1)
        .find(|(i, l)| {
            // On the parent's own line, only after its key.
            let l = if *i + 1 == start { l.split_once(':').map_or("", |(_, v)| v) } else { l };
            l.match_indices(&needle).any(|(at, _)| l[at + needle.len()..].trim_start().starts_with(':'))
        })
        .map(|(i, _)| i + 1)
        .or_else(|| line_of_key(text, name))
}

fn read_json<T: serde::de::DeserializeOwned>(
    root: &Path,
    rel: &str,
    fields: &[&str],
    required: &[&str],
    findings: &mut Vec<Finding>,
) -> Result<Option<T>, ContractError> {
    let path = root.join(rel);
    let text = std::fs::read_to_string(&path).map_err(|source| ContractError::Read { path, source })?;
    let value: serde_json::Value = match serde_json::from_str(&text) {
        Ok(v) => v,
        Err(e) => {
            findings.push(Finding {
                column: Some(e.column()),
                ..Finding::error(
                    "malformed-json",
                    Some(rel),
                    Some(e.line()),
                    format!("malformed JSON: {}", strip_position(&e)),
                )
            });
            return Ok(None);
        }
    };
    let Some(obj) = value.as_object() else {
        findings.push(Finding::error("malformed-json", Some(rel), Some(1), "expected a JSON object at the top level"));
        return Ok(None);
    };
    let before = findings.len();
    for key in obj.keys() {
        if !fields.contains(&key.as_str()) {
            let hint =
                suggest(key, fields.iter().copied()).map(|s| format!("; did you mean `{s}`?")).unwrap_or_default();
            findings.push(Finding::error(
                "unknown-field",
                Some(rel),
                line_of_key(&text, key),
                format!("unknown field `{key}`{hint}"),
            ));
        }
    }
    for key in required {
        if !obj.contains_key(*key) {
            findings.push(Finding::error("missing-field", Some(rel), None, format!("missing required field `{key}`")));
        }
    }
    if findings.len() > before {
        return Ok(None);
    }
    match serde_json::from_str::<T>(&text) {
        Ok(v) => Ok(Some(v)),
        Err(e) => {
            findings.push(Finding {
                column: Some(e.column()),
                ..Finding::error("invalid-field", Some(rel), Some(e.line()), strip_position(&e))
            });
            Ok(None)
        }
    }
}

fn strip_position(e: &serde_json::Error) -> String {
    let s = e.to_string();
    match s.rfind(" at line ") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

/// Topological order (ties broken by name); on a cycle, the cycle as a closed list of names.
pub fn dependency_order(stacks: &[Stack]) -> Result<Vec<Stack>, Vec<String>> {
    let by_name: BTreeMap<&str, &Stack> = stacks.iter().map(|s| (s.name.as_str(), s)).collect();
    let mut indegree: BTreeMap<&str, usize> = by_name.keys().map(|k| (*k, 0)).collect();
    for s in stacks {
        // Distinct names: each dependency is released once, however often it is listed.
        let known: BTreeSet<&str> =
            s.depends_on.iter().map(String::as_str).filter(|d| by_name.contains_key(d)).collect();
        *indegree.entry(s.name.as_str()).or_default() = known.len();
    }
    let mut ready: BTreeSet<&str> = indegree.iter().filter(|(_, d)| **d == 0).map(|(k, _)| *k).collect();
    let mut out = Vec::new();
    while let Some(next) = ready.pop_first() {
        out.push(by_name[next].clone());
        for s in stacks {
            if s.depends_on.iter().any(|d| d == next) {
                let d = indegree.get_mut(s.name.as_str()).expect("every stack has an indegree");
                *d -= 1;
                if *d == 0 {
                    ready.insert(s.name.as_str());
                }
            }
        }
    }
    if out.len() == by_name.len() {
        return Ok(out);
    }
    Err(find_cycle(&by_name))
}

fn find_cycle(by_name: &BTreeMap<&str, &Stack>) -> Vec<String> {
    // Depth-first search from each stack; the first back edge closes a cycle.
    fn visit<'a>(
        n: &'a str,
        by_name: &BTreeMap<&'a str, &'a Stack>,
        path: &mut Vec<&'a str>,
        done: &mut BTreeSet<&'a str>,
    ) -> Option<Vec<String>> {
        if let Some(i) = path.iter().position(|p| *p == n) {
            let mut cycle: Vec<String> = path[i..].iter().map(|s| (*s).to_string()).collect();
            cycle.push(n.to_string());
            return Some(cycle);
        }
        if done.contains(n) {
            return None;
        }
        path.push(n);
        for d in &by_name[n].depends_on {
            if let Some((k, _)) = by_name.get_key_value(d.as_str())
                && let Some(c) = visit(k, by_name, path, done)
            {
                return Some(c);
            }
        }
        path.pop();
        done.insert(n);
        None
    }
    let mut done = BTreeSet::new();
    for n in by_name.keys() {
        if let Some(c) = visit(n, by_name, &mut Vec::new(), &mut done) {
            return c;
        }
    }
    Vec::new()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stack(name: &str, deps: &[&str]) -> Stack {
        Stack {
            name: name.into(),
            purpose: String::new(),
            namespaces: vec![name.into()],
            optional_namespaces: vec![],
            depends_on: deps.iter().map(|d| (*d).to_string()).collect(),
            state_keys: BTreeMap::new(),
            apply: ApplyMode::Operator,
            requires_cache: false,
            cache_paths: vec![],
            lane: None,
            dir: PathBuf::new(),
            manifest: String::new(),
        }
    }

    #[test]
    fn orders_by_dependency_not_by_name() {
        let s = vec![
            stack("runner-dashboard", &["gitlab-runners"]),
            stack("attic", &["arc-runners"]),
            stack("gitlab-runners", &["attic"]),
            stack("arc-runners", &[]),
        ];
        let order: Vec<_> = dependency_order(&s).unwrap().into_iter().map(|s| s.name).collect();
        assert_eq!(order, ["arc-runners", "attic", "gitlab-runners", "runner-dashboard"]);
    }

    #[test]
    fn independent_stacks_order_by_name() {
        let s = vec![stack("b", &[]), stack("a", &[]), stack("c", &["a"])];
        let order: Vec<_> = dependency_order(&s).unwrap().into_iter().map(|s| s.name).collect();
        assert_eq!(order, ["a", "b", "c"]);
    }

    #[test]
    fn names_the_cycle() {
        let s = vec![stack("a", &["c"]), stack("b", &["a"]), stack("c", &["b"]), stack("d", &[])];
        let cycle = dependency_order(&s).unwrap_err();
        assert_eq!(cycle, ["a", "c", "b", "a"]);
    }

    #[test]
    fn a_dependency_listed_twice_is_released_once() {
        let s = vec![stack("b", &["a", "a"]), stack("a", &[]), stack("c", &["b", "a", "b"])];
        let order: Vec<_> = dependency_order(&s).unwrap().into_iter().map(|s| s.name).collect();
        assert_eq!(order, ["a", "b", "c"]);
    }

    #[test]
    fn duplicates_are_dropped_with_a_warning_on_the_line_of_the_repeat() {
        let text = "{\n  \"depends_on\": [\n    \"a\",\n    \"b\",\n    \"a\", \"a\"\n  ]\n}\n";
        let mut findings = Vec::new();
        let deps = ["a", "b", "a", "a"].map(String::from).to_vec();
        let kept = checks::dedup_dependencies("x", deps, "stacks/x/stack.json", text, &mut findings);
        assert_eq!(kept, ["a", "b"]);
        assert_eq!(findings.len(), 1, "{findings:?}");
        let f = &findings[0];
        assert_eq!((f.severity, f.code, f.line), (Severity::Warning, "duplicate-dependency", Some(5)));
        assert_eq!(f.file.as_deref(), Some("stacks/x/stack.json"));
        assert!(f.message.contains("stack `x`") && f.message.contains("`a`"), "{}", f.message);
    }

    #[test]
    fn members_are_found_on_their_parents_line_or_after_it() {
        let text = "{\n  \"dev\": 1,\n  \"environments\": { \"dev\": { \"kube_context\": \"dev\" },\n    \"prod\" : {}\n  }\n}\n";
        assert_eq!(line_of_member(text, "environments", "dev"), Some(3));
        assert_eq!(line_of_member(text, "environments", "prod"), Some(4));
        assert_eq!(line_of_member(text, "environments", "none"), None);
    }

    #[test]
    fn suggests_close_names() {
        let known = ["arc-runners", "attic", "gitlab-runners", "runner-dashboard"];
        assert_eq!(suggest("atic", known.iter().copied()).as_deref(), Some("attic"));
        assert_eq!(suggest("zzzzzzzz", known.iter().copied()), None);
    }
}
