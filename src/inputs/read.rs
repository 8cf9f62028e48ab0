//! What a stack's OpenTofu sources say about its inputs and its cluster, read with hcl-edit: the
//! root module's `variable` blocks, the top-level attributes of a var file, which cluster
//! providers the stack (and the local modules it reaches) uses, and provider blocks that would
//! choose a cluster themselves.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use hcl_edit::Span as _;
use hcl_edit::expr::{Expression, ObjectKey};
use hcl_edit::structure::{Block, Body, Structure};

use crate::contract::Finding;

/// One `variable` block of a stack's root module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variable {
    /// Its name (the block's label).
    pub name: String,
    /// Whether it has a `default` (then it is optional).
    pub has_default: bool,
    /// Whether it is `sensitive = true` (then it comes from `TF_VAR_<name>`, never a var file).
    pub sensitive: bool,
    /// The file, relative to the repository root.
    pub file: String,
    /// 1-based line of the block.
    pub line: Option<usize>,
}

impl Variable {
    /// Whether tofu needs a value for it.
    pub fn required(&self) -> bool {
        !self.has_default
    }
}

/// One parsed `*.tf` file.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// Relative to the repository root.
    pub rel: String,
    /// The text.
    pub text: String,
    /// The HCL body.
    pub body: Body,
    /// Whether it belongs to the stack's root module (not a local module it calls).
    pub root_module: bool,
}

impl SourceFile {
    /// 1-based line of a span's start.
    pub fn line(&self, span: Option<std::ops::Range<usize>>) -> Option<usize> {
        span.map(|r| line_at(&self.text, r.start))
    }
}

/// 1-based line of byte `offset` in `text`.
pub fn line_at(text: &str, offset: usize) -> usize {
    text.get(..offset.min(text.len())).unwrap_or(text).matches('\n').count() + 1
}

fn rel(root: &Path, p: &Path) -> String {
    p.strip_prefix(root).unwrap_or(p).to_string_lossy().into_owned()
}

/// The `*.tf` files of `dir` that parse, sorted (files that do not parse are `gf check`'s
/// `hcl-parse` findings; tofu refuses them too).
fn read_dir(root: &Path, dir: &Path, root_module: bool) -> Vec<SourceFile> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "tf") && p.is_file())
                .collect()
        })
        .unwrap_or_default();
    paths.sort();
    paths
        .into_iter()
        .filter_map(|p| {
            let text = std::fs::read_to_string(&p).ok()?;
            let body = hcl_edit::parser::parse_body(&text).ok()?;
            Some(SourceFile { rel: rel(root, &p), text, body, root_module })
        })
        .collect()
}

/// The stack's root module, then every local module it reaches (`source = "./…"` or `"../…"`,
/// recursively, each folder once).
pub fn stack_sources(root: &Path, stack_dir: &Path) -> Vec<SourceFile> {
    let mut seen: BTreeSet<PathBuf> = BTreeSet::new();
    let mut queue = vec![(stack_dir.to_path_buf(), true)];
    let mut out = Vec::new();
    while let Some((dir, is_root)) = queue.pop() {
        let key = dir.canonicalize().unwrap_or_else(|_| dir.clone());
        if !seen.insert(key) {
            continue;
        }
        let files = read_dir(root, &dir, is_root);
        for f in &files {
            for m in f.body.get_blocks("module") {
                if let Some(Expression::String(s)) = m.body.get_attribute("source").map(|a| &a.value) {
                    let src = s.value().as_str();
                    if src.starts_with("./") || src.starts_with("../") {
                        queue.push((normalize(&dir.join(src)), false));
                    }
                }
            }
        }
        out.extend(files);
    }
    out
}

/// `p` with `.` and `..` components folded away (lexically: messages name `stacks/s/values`).
fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other),
        }
    }
    out
}

/// The root module's `variable` blocks, in file and source order.
pub fn variables(files: &[SourceFile]) -> Vec<Variable> {
    let mut out = Vec::new();
    for f in files.iter().filter(|f| f.root_module) {
        for b in f.body.get_blocks("variable") {
            let Some(name) = b.labels.first() else { continue };
            let sensitive = b
                .body
                .get_attribute("sensitive")
                .is_some_and(|a| matches!(&a.value, Expression::Bool(v) if *v.value()));
            out.push(Variable {
                name: name.as_str().to_string(),
                has_default: b.body.get_attribute("default").is_some(),
                sensitive,
                file: f.rel.clone(),
                line: f.line(b.span()),
            });
        }
    }
    out
}

/// The names a var file sets (its top-level attributes) with their lines; `Ok(None)` when the
/// file does not exist. Errors never quote the file's text (it may hold a value).
pub fn var_file_keys(root: &Path, path: &Path) -> Result<Option<BTreeMap<String, usize>>, Finding> {
    let file = rel(root, path);
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Finding::error("unreadable", Some(&file), None, format!("cannot read: {e}"))),
    };
    let body = hcl_edit::parser::parse_body(&text).map_err(|e| {
        let loc = e.location();
        Finding {
            column: Some(loc.column()),
            ..Finding::error("hcl-parse", Some(&file), Some(loc.line()), "does not parse as a var file (HCL)")
        }
    })?;
    if let Some(b) = body.blocks().next() {
        return Err(Finding::error(
            "var-file",
            Some(&file),
            b.span().map(|r| line_at(&text, r.start)),
            format!("a var file holds only `name = value` attributes, found a `{}` block", b.ident.as_str()),
        ));
    }
    Ok(Some(
        body.attributes()
            .map(|a| (a.key.as_str().to_string(), a.span().map_or(0, |r| line_at(&text, r.start))))
            .collect(),
    ))
}

/// The provider sources gf chooses the cluster for.
pub const CLUSTER_PROVIDERS: [&str; 2] = ["hashicorp/helm", "hashicorp/kubernetes"];

fn normalize_source(s: &str) -> String {
    let s = s.trim().to_ascii_lowercase();
    for host in ["registry.terraform.io/", "registry.opentofu.org/"] {
        if let Some(rest) = s.strip_prefix(host) {
            return rest.to_string();
        }
    }
    s
}

/// Which of [`CLUSTER_PROVIDERS`] the sources use: declared in `required_providers`, or implied
/// by a `provider "kubernetes"`/`"helm"` block or a `kubernetes_*`/`helm_*` resource or data
/// source whose local name no `required_providers` entry maps elsewhere.
pub fn cluster_providers(files: &[SourceFile]) -> BTreeSet<&'static str> {
    let mut declared: BTreeMap<String, String> = BTreeMap::new();
    for f in files {
        for t in f.body.get_blocks("terraform") {
            for rp in t.body.get_blocks("required_providers") {
                for a in rp.body.attributes() {
                    let local = a.key.as_str().to_string();
                    let source = match &a.value {
                        Expression::Object(o) => o
                            .iter()
                            .find(|(k, _)| key_name(k).as_deref() == Some("source"))
                            .and_then(|(_, v)| match v.expr() {
                                Expression::String(s) => Some(normalize_source(s.value())),
                                _ => None,
                            })
                            .unwrap_or_else(|| format!("hashicorp/{local}")),
                        _ => format!("hashicorp/{local}"),
                    };
                    declared.insert(local, source);
                }
            }
        }
    }
    let mut used: BTreeSet<&'static str> = BTreeSet::new();
    for source in declared.values() {
        if let Some(p) = CLUSTER_PROVIDERS.iter().find(|p| **p == source) {
            used.insert(p);
        }
    }
    for f in files {
        for b in f.body.blocks() {
            let local = match (b.ident.as_str(), b.labels.first().map(hcl_edit::structure::BlockLabel::as_str)) {
                ("provider", Some(name)) => name.to_string(),
                ("resource" | "data", Some(kind)) => kind.split('_').next().unwrap_or_default().to_string(),
                _ => continue,
            };
            if !declared.contains_key(&local)
                && let Some(p) = CLUSTER_PROVIDERS.iter().find(|p| p.strip_prefix("hashicorp/") == Some(&*local))
            {
                used.insert(p);
            }
        }
    }
    used
}

fn key_name(k: &ObjectKey) -> Option<String> {
    match k {
        ObjectKey::Ident(i) => Some(i.as_str().to_string()),
        ObjectKey::Expression(Expression::String(s)) => Some(s.value().clone()),
        ObjectKey::Expression(_) => None,
    }
}

/// Provider settings that choose a cluster or carry credentials: gf passes `KUBE_CONFIG_PATH`
/// and `KUBE_CTX` instead, so a provider block must leave them unset.
pub const CLUSTER_SETTINGS: &[&str] = &[
    "config_path",
    "config_paths",
    "config_context",
    "config_context_auth_info",
    "config_context_cluster",
    "host",
    "token",
    "username",
    "password",
    "client_certificate",
    "client_key",
    "cluster_ca_certificate",
    "exec",
];

/// `gf check` errors for `provider "kubernetes"` / `provider "helm"` blocks (and helm's nested
/// `kubernetes` block or attribute) that set a [`CLUSTER_SETTINGS`] entry.
pub fn provider_findings(files: &[SourceFile]) -> Vec<Finding> {
    let mut out = Vec::new();
    for f in files {
        for b in f.body.get_blocks("provider") {
            let Some(name) = b.labels.first().map(|l| l.as_str().to_string()) else { continue };
            if name != "kubernetes" && name != "helm" {
                continue;
            }
            let mut hits: Vec<(String, Option<usize>)> = Vec::new();
            body_settings(f, &b.body, "", &mut hits);
            if name == "helm" {
                for nested in nested_blocks(&b.body, "kubernetes") {
                    body_settings(f, &nested.body, "kubernetes.", &mut hits);
                }
                if let Some(a) = b.body.get_attribute("kubernetes")
                    && let Expression::Object(o) = &a.value
                {
                    for (k, v) in o {
                        if let Some(k) = key_name(k).filter(|k| CLUSTER_SETTINGS.contains(&k.as_str())) {
                            hits.push((format!("kubernetes.{k}"), f.line(v.expr().span()).or(f.line(a.span()))));
                        }
                    }
                }
            }
            for (setting, line) in hits {
                out.push(Finding::error(
                    "provider-cluster-settings",
                    Some(&f.rel),
                    line,
                    format!(
                        "`provider \"{name}\"` sets `{setting}`: gf chooses the cluster (it passes `KUBE_CONFIG_PATH` and `KUBE_CTX` from the contract's `kube_context` to tofu); remove it"
                    ),
                ));
            }
        }
    }
    out
}

/// The blocks called `ident` in `body`, also as the `content` of a `dynamic "<ident>"` block.
fn nested_blocks<'b>(body: &'b Body, ident: &'b str) -> Vec<&'b Block> {
    let mut out: Vec<&Block> = body.get_blocks(ident).collect();
    for d in body.get_blocks("dynamic") {
        if d.labels.first().is_some_and(|l| l.as_str() == ident) {
            out.extend(d.body.get_blocks("content"));
        }
    }
    out
}

fn body_settings(f: &SourceFile, body: &Body, prefix: &str, hits: &mut Vec<(String, Option<usize>)>) {
    for s in body {
        let (key, span) = match s {
            Structure::Attribute(a) => (a.key.as_str(), a.span()),
            Structure::Block(b) if b.ident.as_str() == "dynamic" => match b.labels.first() {
                Some(l) => (l.as_str(), b.span()),
                None => continue,
            },
            Structure::Block(b) => (b.ident.as_str(), b.span()),
        };
        if CLUSTER_SETTINGS.contains(&key) {
            hits.push((format!("{prefix}{key}"), f.line(span)));
        }
    }
}
