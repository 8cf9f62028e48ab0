//! The deployment contract as checked data: `stacks/contract.json` and `stacks/<stack>/stack.json`.
//!
//! Loading is strict: every problem becomes a [`Finding`] naming the file (and line where there is
//! one). `gf check` prints them all; every other command refuses to run on a contract with errors.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

mod checks;
mod finding;
mod json;
mod load;
mod model;
mod order;
mod rules;

pub use finding::{Finding, Severity};
pub use json::{line_of_key, line_of_member};
pub use model::{ApplyMode, AtticSettings, BackendSettings, Cluster, Drain, Environment, Lane, Stack};
pub use order::dependency_order;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names() {
        let known = ["arc-runners", "attic", "gitlab-runners", "runner-dashboard"];
        assert_eq!(suggest("atic", known.iter().copied()).as_deref(), Some("attic"));
        assert_eq!(suggest("zzzzzzzz", known.iter().copied()), None);
    }
}
