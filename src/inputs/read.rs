//! What a stack's OpenTofu sources (its root module and the local modules it reaches, as
//! [`crate::sources::reach`] reads them) say about its cluster: which cluster providers it uses,
//! and provider blocks that would choose a cluster themselves. Variables and var files are read by
//! [`crate::variables`].

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use hcl_edit::Span as _;
use hcl_edit::expr::{Expression, ObjectKey};
use hcl_edit::structure::{Block, Body, Structure};

use crate::contract::Finding;
use crate::sources::{SourceFile, reach};

/// Every parsed `*.tf` file of the stack at `stack_dir` and of the local modules it reaches (files
/// that do not parse are `gf check`'s findings).
pub fn stack_sources(root: &Path, stack_dir: &Path) -> Vec<SourceFile> {
    reach(root, stack_dir).dirs.into_iter().flat_map(|d| d.files).collect()
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
