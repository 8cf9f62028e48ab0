//! Loading: `contract.json` and every `stacks/<stack>/stack.json`, read strictly, checked, and
//! the stacks put in dependency order.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::json::{line_of_key, read_json, read_lossy};
use super::{
    ApplyMode, AtticSettings, BackendSettings, CONTRACT_FILE, Cluster, Contract, ContractError, Environment, Finding,
    Lane, MANIFEST_FILE, Severity, Stack, checks, dependency_order,
};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ContractFile {
    #[serde(rename = "$schema", default)]
    _schema: Option<String>,
    pub(super) cluster: Cluster,
    pub(super) environments: BTreeMap<String, Environment>,
    pub(super) backend: BackendSettings,
    #[serde(default)]
    pub(super) attic: Option<AtticSettings>,
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

        let (dirs, refused) = stack_dirs(root, &mut findings)?;
        let mut stacks = Vec::new();
        // Folders whose manifest failed to load still count as stacks for `depends_on`.
        let folders: Vec<String> = dirs.iter().map(|(f, _)| f.clone()).chain(refused).collect();
        for (folder, dir) in dirs {
            if let Some(stack) = read_stack(root, &folder, dir, &mut findings)? {
                push_unique(&mut stacks, stack, &mut findings);
            }
        }

        checks::check_stacks(root, contract_file.as_ref(), &stacks, &folders, &mut findings);
        let ordered = ordered(root, &stacks, &mut findings);

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
}

/// A folder of `stacks/` and its path.
type StackDir = (String, PathBuf);

/// The folders of `stacks/` holding a manifest, sorted, and those refused for resolving outside
/// the repository.
fn stack_dirs(root: &Path, findings: &mut Vec<Finding>) -> Result<(Vec<StackDir>, Vec<String>), ContractError> {
    let stacks_dir = root.join("stacks");
    let mut dirs: Vec<StackDir> = Vec::new();
    let entries =
        std::fs::read_dir(&stacks_dir).map_err(|source| ContractError::Read { path: stacks_dir.clone(), source })?;
    let mut refused = Vec::new();
    let resolved = checks::Resolved::new(root);
    for entry in entries {
        let entry = entry.map_err(|source| ContractError::Read { path: stacks_dir.clone(), source })?;
        let path = entry.path();
        if path.join(MANIFEST_FILE).is_file() {
            let folder = entry.file_name().to_string_lossy().into_owned();
            if let Some(f) = checks::outside_root(&resolved, &folder, &path) {
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
    Ok((dirs, refused))
}

/// The stack of `stacks/<folder>/stack.json`, `None` when the manifest does not load.
fn read_stack(
    root: &Path,
    folder: &str,
    dir: PathBuf,
    findings: &mut Vec<Finding>,
) -> Result<Option<Stack>, ContractError> {
    let rel = format!("stacks/{folder}/{MANIFEST_FILE}");
    let Some(m) = read_json::<ManifestFile>(root, &rel, MANIFEST_FIELDS, MANIFEST_REQUIRED, findings)? else {
        return Ok(None);
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
    Ok(Some(Stack {
        name: m.name,
        purpose: m.purpose,
        namespaces: m.namespaces,
        optional_namespaces: m.optional_namespaces,
        depends_on: checks::dedup_dependencies(folder, m.depends_on, &rel, &text, findings),
        state_keys: m.state_keys,
        apply: m.apply,
        requires_cache: m.requires_cache,
        cache_paths: m.cache_paths,
        lane: m.lane,
        dir,
        manifest: rel,
    }))
}

/// Adds `stack` unless an earlier manifest has its name (a copied folder whose `name` was not
/// changed): that is an error naming both manifests, and only the first counts.
fn push_unique(stacks: &mut Vec<Stack>, stack: Stack, findings: &mut Vec<Finding>) {
    if let Some(first) = stacks.iter().find(|s| s.name == stack.name) {
        findings.push(Finding::error(
            "duplicate-name",
            Some(&stack.manifest),
            None,
            format!("stack `{}` is already defined by `{}`: each stack needs its own name", stack.name, first.manifest),
        ));
        return;
    }
    stacks.push(stack);
}

/// The stacks in dependency order; on a cycle, a `cycle` finding and the stacks as they are.
fn ordered(root: &Path, stacks: &[Stack], findings: &mut Vec<Finding>) -> Vec<Stack> {
    match dependency_order(stacks) {
        Ok(o) => o,
        Err(cycle) => {
            let first = stacks.iter().find(|s| cycle.first() == Some(&s.name));
            findings.push(Finding::error(
                "cycle",
                first.map(|s| s.manifest.as_str()),
                first.and_then(|s| line_of_key(&read_lossy(root, &s.manifest), "depends_on")),
                format!("dependency cycle: {}", cycle.iter().map(|c| format!("`{c}`")).collect::<Vec<_>>().join(" → ")),
            ));
            stacks.to_vec()
        }
    }
}
