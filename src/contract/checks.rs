//! The contract's data checks: every problem of `contract.json` and the manifests as a [`Finding`]
//! naming the file (and line where there is one).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use super::json::read_lossy;
use super::load::ContractFile;
use super::rules::{ENV_NAME_PATTERN, LOCK_SUFFIX, env_name_problem, hidden_char, key_problem, shown};
use super::{CONTRACT_FILE, Finding, Stack, line_of_key, line_of_member, suggest};

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
        let line = line_of_member(&text, "environments", name);
        if let Some(problem) = env_name_problem(name) {
            findings.push(Finding::error(
                "bad-environment-name",
                text_hint,
                line,
                format!(
                    "environment name `{}` does not match `{ENV_NAME_PATTERN}` (it names a folder under `.gf/`): {problem}",
                    shown(name)
                ),
            ));
        }
        let name = shown(name);
        if env.kube_context.trim().is_empty() {
            findings.push(Finding::error(
                "kube-context",
                text_hint,
                line,
                format!("environment `{name}` has an empty `kube_context`"),
            ));
        } else if let Some((ch, kind)) = hidden_char(&env.kube_context) {
            findings.push(Finding::error(
                "kube-context",
                text_hint,
                line,
                format!(
                    "the `kube_context` of environment `{name}` (`{}`) contains {kind} (U+{:04X})",
                    shown(&env.kube_context),
                    u32::from(ch)
                ),
            ));
        }
        if let Some(uid) = env.cluster_uid.as_deref().filter(|u| !crate::context::is_uid(u)) {
            findings.push(Finding::error(
                "cluster-uid",
                text_hint,
                line,
                format!(
                    "environment `{name}` has `cluster_uid` `{}`: a Kubernetes UID is a lowercase UUID (`gf doctor` prints the cluster's)",
                    shown(uid)
                ),
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
    // Every key of every stack and environment: a lock object `<key>.tflock` is in the bucket
    // whichever environment wrote it.
    let all_keys: BTreeMap<&str, (&str, &str)> = stacks
        .iter()
        .flat_map(|s| s.state_keys.iter().map(move |(env, key)| (key.as_str(), (s.name.as_str(), env.as_str()))))
        .collect();
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
        check_state_keys(contract, s, &text, &all_keys, &mut keys, findings);
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

/// The state keys of stack `s`: environments the contract defines, keys gf can use, no key shared
/// with another stack in one environment, no key that is another state's lock object.
fn check_state_keys<'a>(
    contract: Option<&ContractFile>,
    s: &'a Stack,
    text: &str,
    all_keys: &BTreeMap<&str, (&str, &str)>,
    keys: &mut BTreeMap<(&'a str, &'a str), &'a str>,
    findings: &mut Vec<Finding>,
) {
    let file = Some(s.manifest.as_str());
    for (env, key) in &s.state_keys {
        let line = line_of_member(text, "state_keys", env);
        let (env_shown, key_shown) = (shown(env), shown(key));
        if let Some(c) = contract
            && !c.environments.contains_key(env)
        {
            findings.push(Finding::error(
                "unknown-environment",
                file,
                line,
                format!("`state_keys` names environment `{env_shown}`, which `{CONTRACT_FILE}` does not define"),
            ));
        }
        let lock_of = key.strip_suffix(LOCK_SUFFIX).and_then(|stem| all_keys.get(stem));
        if let Some((other, other_env)) = lock_of {
            findings.push(Finding::error(
                "lock-state-key",
                file,
                line,
                format!(
                    "state key `{key_shown}` for `{env_shown}` is the lock object of stack `{other}`'s state `{}` (`{other_env}`): tofu would lock one state by writing over the other",
                    shown(key.strip_suffix(LOCK_SUFFIX).unwrap_or(key))
                ),
            ));
        } else if let Some(problem) = key_problem(key) {
            findings.push(Finding::error(
                "bad-state-key",
                file,
                line,
                format!("state key `{key_shown}` for `{env_shown}` is not a relative object key: {problem}"),
            ));
        }
        if let Some(other) = keys.insert((env.as_str(), key.as_str()), s.name.as_str()) {
            findings.push(Finding::error(
                "shared-state-key",
                file,
                line,
                format!("stacks `{other}` and `{}` share state key `{key_shown}` in environment `{env_shown}`", s.name),
            ));
        }
    }
}

/// The repository root and its `stacks/` folder with every symlink resolved, once per load (a
/// thousand stack folders would otherwise resolve the same root a thousand times).
pub(super) struct Resolved {
    root: Result<PathBuf, String>,
    stacks: Option<PathBuf>,
}

impl Resolved {
    /// Resolve `root` and `root/stacks`.
    pub(super) fn new(root: &Path) -> Self {
        Self { root: root.canonicalize().map_err(|e| e.to_string()), stacks: root.join("stacks").canonicalize().ok() }
    }
}

fn is_symlink(p: &Path) -> bool {
    p.symlink_metadata().is_ok_and(|m| m.file_type().is_symlink())
}

/// A finding when the stack folder `stacks/<folder>` (at `path`) or its manifest resolves outside
/// the repository (a symlink): such a folder is refused, never read.
pub(super) fn outside_root(resolved: &Resolved, folder: &str, path: &Path) -> Option<Finding> {
    let rel = format!("stacks/{folder}");
    let root = match &resolved.root {
        Ok(r) => r,
        Err(e) => {
            return Some(Finding::error(
                "unreadable",
                Some(&rel),
                None,
                format!("cannot resolve the repository root: {e}"),
            ));
        }
    };
    let manifest = path.join(super::MANIFEST_FILE);
    // Neither the folder nor its manifest a symlink: they resolve to the resolved `stacks/` plus
    // their names, without walking the path again.
    if let Some(stacks) = &resolved.stacks
        && !is_symlink(path)
        && !is_symlink(&manifest)
    {
        return if stacks.starts_with(root) { None } else { Some(outside(&rel, &rel, stacks, root)) };
    }
    for p in [path.to_path_buf(), manifest] {
        let resolved = match p.canonicalize() {
            Ok(r) => r,
            Err(e) => {
                return Some(Finding::error(
                    "unreadable",
                    Some(&rel),
                    None,
                    format!("cannot resolve `{}`: {e}", p.display()),
                ));
            }
        };
        if !resolved.starts_with(root) {
            let what = if p == path { rel.clone() } else { format!("{rel}/{}", super::MANIFEST_FILE) };
            return Some(outside(&rel, &what, &resolved, root));
        }
    }
    None
}

fn outside(rel: &str, what: &str, resolved: &Path, root: &Path) -> Finding {
    Finding::error(
        "stack-outside-repository",
        Some(rel),
        None,
        format!(
            "`{what}` resolves to `{}`, outside the repository `{}`: refused, not followed",
            resolved.display(),
            root.display()
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::Severity;

    #[test]
    fn duplicates_are_dropped_with_a_warning_on_the_line_of_the_repeat() {
        let text = "{\n  \"depends_on\": [\n    \"a\",\n    \"b\",\n    \"a\", \"a\"\n  ]\n}\n";
        let mut findings = Vec::new();
        let deps = ["a", "b", "a", "a"].map(String::from).to_vec();
        let kept = dedup_dependencies("x", deps, "stacks/x/stack.json", text, &mut findings);
        assert_eq!(kept, ["a", "b"]);
        assert_eq!(findings.len(), 1, "{findings:?}");
        let f = &findings[0];
        assert_eq!((f.severity, f.code, f.line), (Severity::Warning, "duplicate-dependency", Some(5)));
        assert_eq!(f.file.as_deref(), Some("stacks/x/stack.json"));
        assert!(f.message.contains("stack `x`") && f.message.contains("`a`"), "{}", f.message);
    }
}
