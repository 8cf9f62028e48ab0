//! The contract's data checks: every problem of `contract.json` and the manifests as a [`Finding`]
//! naming the file (and line where there is one).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use super::rules::key_problem;
use super::{CONTRACT_FILE, ContractFile, Finding, Stack, line_of_key, read_lossy, suggest};

pub(super) fn check_contract(root: &Path, c: &ContractFile, findings: &mut Vec<Finding>) {
    let text = read_lossy(root, CONTRACT_FILE);
    let text_hint = Some(CONTRACT_FILE);
    if c.backend.kind != "s3" {
        findings.push(Finding::error(
            "backend-type",
            text_hint,
            None,
            format!(
                "`backend.type` is `{}`: the active stacks use the S3-compatible backend (`s3`) only",
                c.backend.kind
            ),
        ));
    }
    if c.environments.is_empty() {
        findings.push(Finding::error("no-environments", text_hint, None, "`environments` is empty"));
    }
    for (name, env) in &c.environments {
        if env.kube_context.trim().is_empty() {
            findings.push(Finding::error(
                "kube-context",
                text_hint,
                None,
                format!("environment `{name}` has an empty `kube_context`"),
            ));
        }
    }
    if let Some(endpoint) = c.attic.as_ref().and_then(|a| a.endpoint.as_deref())
        && let Err(e) = crate::endpoint::refuse_user_info(
            endpoint,
            "Attic endpoint",
            "the contract's `attic.endpoint`",
            "give the token in `GF_ATTIC_TOKEN`",
        )
    {
        findings.push(Finding::error("endpoint-user-info", text_hint, line_of_key(&text, "endpoint"), e.to_string()));
    }
}

pub(super) fn check_stacks(
    root: &Path,
    contract: Option<&ContractFile>,
    stacks: &[Stack],
    folders: &[String],
    findings: &mut Vec<Finding>,
) {
    let names: BTreeSet<&str> =
        stacks.iter().map(|s| s.name.as_str()).chain(folders.iter().map(String::as_str)).collect();
    let mut keys: BTreeMap<(&str, &str), &str> = BTreeMap::new();
    for s in stacks {
        let text = read_lossy(root, &s.manifest);
        let file = Some(s.manifest.as_str());
        for dep in &s.depends_on {
            if !names.contains(dep.as_str()) {
                let hint =
                    suggest(dep, names.iter().copied()).map(|h| format!("; did you mean `{h}`?")).unwrap_or_default();
                findings.push(Finding::error(
                    "unknown-dependency",
                    file,
                    line_of_key(&text, "depends_on"),
                    format!("`depends_on` names unknown stack `{dep}`{hint}"),
                ));
            }
        }
        if let Some(c) = contract {
            for env in c.environments.keys() {
                if !s.state_keys.contains_key(env) {
                    findings.push(Finding::error(
                        "missing-state-key",
                        file,
                        line_of_key(&text, "state_keys"),
                        format!("stack `{}` has no state key for environment `{env}`", s.name),
                    ));
                }
            }
        }
        for (env, key) in &s.state_keys {
            if let Some(c) = contract
                && !c.environments.contains_key(env)
            {
                findings.push(Finding::error(
                    "unknown-environment",
                    file,
                    line_of_key(&text, env),
                    format!("`state_keys` names environment `{env}`, which `{CONTRACT_FILE}` does not define"),
                ));
            }
            if let Some(problem) = key_problem(key) {
                findings.push(Finding::error(
                    "bad-state-key",
                    file,
                    line_of_key(&text, env),
                    format!("state key `{key}` for `{env}` is not a relative object key: {problem}"),
                ));
            }
            if let Some(other) = keys.insert((env.as_str(), key.as_str()), s.name.as_str()) {
                findings.push(Finding::error(
                    "shared-state-key",
                    file,
                    line_of_key(&text, env),
                    format!("stacks `{other}` and `{}` share state key `{key}` in environment `{env}`", s.name),
                ));
            }
        }
        if s.namespaces.is_empty() {
            findings.push(Finding::error(
                "no-namespaces",
                file,
                line_of_key(&text, "namespaces"),
                "`namespaces` is empty",
            ));
        }
        for ns in s.namespaces.iter().chain(&s.optional_namespaces) {
            if ns == "attic-cache-dev" {
                findings.push(Finding::error(
                    "compat-namespace",
                    file,
                    line_of_key(&text, "namespaces").or_else(|| line_of_key(&text, "optional_namespaces")),
                    "namespace `attic-cache-dev` is compatibility-only: the cache plane lives in `nix-cache`",
                ));
            }
        }
        if let Some(lane) = &s.lane {
            if lane.drain.scale_sets.is_empty() {
                findings.push(Finding::error(
                    "lane",
                    file,
                    line_of_key(&text, "scale_sets"),
                    "`lane.drain.scale_sets` is empty",
                ));
            }
            if lane.drain.namespace == "attic-cache-dev" {
                findings.push(Finding::error(
                    "compat-namespace",
                    file,
                    line_of_key(&text, "namespace"),
                    "lane drain namespace `attic-cache-dev` is compatibility-only",
                ));
            }
        }
        for p in &s.cache_paths {
            if !p.starts_with("/nix/store/") {
                findings.push(Finding::error(
                    "bad-cache-path",
                    file,
                    line_of_key(&text, "cache_paths"),
                    format!("`cache_paths` entry `{p}` is not a `/nix/store/…` path"),
                ));
            }
        }
    }
}

/// `depends_on` without repeats, in the order written; each repeated name is one warning, on the
/// line of its first repeat.
pub(super) fn dedup_dependencies(
    stack: &str,
    deps: Vec<String>,
    file: &str,
    text: &str,
    findings: &mut Vec<Finding>,
) -> Vec<String> {
    let mut seen = BTreeSet::new();
    let mut reported = BTreeSet::new();
    let mut kept = Vec::with_capacity(deps.len());
    for dep in deps {
        if seen.contains(&dep) {
            if reported.insert(dep.clone()) {
                let line = repeat_line(text, &dep).or_else(|| line_of_key(text, "depends_on"));
                findings.push(Finding::warning(
                    "duplicate-dependency",
                    Some(file),
                    line,
                    format!("stack `{stack}` lists `{dep}` more than once in `depends_on`; the repeat is ignored"),
                ));
            }
        } else {
            seen.insert(dep.clone());
            kept.push(dep);
        }
    }
    kept
}

/// 1-based line of the second `"dep"` from the `depends_on` line on (`None` when the JSON
/// spells it with escapes).
fn repeat_line(text: &str, dep: &str) -> Option<usize> {
    let start = line_of_key(text, "depends_on")?;
    let needle = serde_json::to_string(dep).ok()?;
    let mut count = 0;
    for (i, line) in text.lines().enumerate().skip(start - 1) {
        // The key's own line holds `"depends_on":` before any entry.
        let entries = if i + 1 == start { line.split_once(':').map_or("", |(_, v)| v) } else { line };
        count += entries.matches(&needle).count();
        if count >= 2 {
            return Some(i + 1);
        }
    }
    None
}
