//! `gf check`: the contract's data findings plus the stacks' OpenTofu sources, parsed with a real
//! HCL parser (hcl-edit), and the compatibility-only assumptions the active stacks must not carry.

use std::path::Path;

use hcl_edit::Span as _;
use hcl_edit::structure::{Block, Body, Structure};

use crate::contract::{Contract, ContractError, Finding, Severity, Stack};
use crate::session::Vars;
use crate::sources::{self, SourceFile};
use crate::{providers, scalesets};

/// Everything `gf check` found.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Report {
    /// True when there is no error finding.
    pub ok: bool,
    /// Number of errors.
    pub errors: usize,
    /// Number of warnings.
    pub warnings: usize,
    /// Every finding, in the order found.
    pub findings: Vec<Finding>,
}

/// Run every check over the repository at `root`, with `env_vars` the process environment.
pub fn run(root: &Path, env_vars: &Vars) -> Result<Report, ContractError> {
    let (contract, mut findings) = Contract::load_with_findings(root)?;
    if let Some(c) = &contract {
        for stack in &c.stacks {
            findings.extend(check_sources(root, stack));
        }
    }
    // One provider set for every stack and local module (what the flake's tofu must carry).
    findings.extend(providers::provider_set(root).1);
    // A file both a stack reaches and the provider reading parse is reported once.
    let mut seen = Vec::new();
    findings.retain(|f| {
        let new = !seen.contains(f);
        if new {
            seen.push(f.clone());
        }
        new
    });
    findings.extend(env_findings(env_vars));
    let errors = findings.iter().filter(|f| f.severity == Severity::Error).count();
    Ok(Report { ok: errors == 0, errors, warnings: findings.len() - errors, findings })
}

/// Warnings about the process environment: `TF_HTTP_*` is compatibility-only GitLab HTTP state.
pub fn env_findings(env_vars: &Vars) -> Vec<Finding> {
    env_vars
        .names_with_prefix("TF_HTTP_")
        .into_iter()
        .map(|k| {
            Finding::warning(
                "tf-http-env",
                None,
                None,
                format!("`{k}` is set: GitLab HTTP state is compatibility-only; gf never passes it to tofu"),
            )
        })
        .collect()
}

/// Findings of one stack's OpenTofu sources and data: parse errors, the backend block of its root
/// module, compatibility-only assumptions in it and in every local module it reaches, its
/// scale-set file against its lane, and its inputs and cluster rules
/// ([`crate::inputs::source_findings`]).
pub fn check_sources(root: &Path, stack: &Stack) -> Vec<Finding> {
    let reach = sources::reach(root, &stack.dir);
    let mut findings = reach.findings.clone();
    let mut s3_backends: Vec<(String, usize)> = Vec::new();
    for (i, dir) in reach.dirs.iter().enumerate() {
        for file in &dir.files {
            let mut ctx = FileCtx { file, stack: &stack.name, findings: &mut findings };
            // The backend belongs to the root module; tofu ignores one in a module.
            if i == 0 {
                ctx.backends(&mut s3_backends);
            }
            ctx.walk(&file.body);
        }
    }
    if reach.complete {
        match s3_backends.len() {
            1 => {}
            0 => findings.push(Finding::error(
                "no-s3-backend",
                Some(&stack.manifest),
                None,
                format!("stack `{}` has no `terraform {{ backend \"s3\" {{}} }}` in its `*.tf` files", stack.name),
            )),
            _ => {
                for (file, line) in &s3_backends {
                    findings.push(Finding::error(
                        "duplicate-s3-backend",
                        Some(file),
                        Some(*line),
                        format!(
                            "stack `{}` declares `backend \"s3\"` {} times; exactly one is allowed",
                            stack.name,
                            s3_backends.len()
                        ),
                    ));
                }
            }
        }
    }
    findings.extend(scalesets::findings(root, stack));
    findings.extend(crate::inputs::source_findings(root, stack));
    findings
}

struct FileCtx<'a> {
    file: &'a SourceFile,
    stack: &'a str,
    findings: &'a mut Vec<Finding>,
}

/// Compatibility-only topics: (needle, code, what it is).
const COMPAT: &[(&str, &str, &str)] = &[
    (
        "attic-cache-dev",
        "compat-namespace",
        "the `attic-cache-dev` namespace is compatibility-only (the cache plane is `nix-cache`)",
    ),
    ("civo", "compat-civo", "Civo deployment assumptions are compatibility-only (the cluster is on-prem RKE2 `honey`)"),
    ("liqo", "compat-liqo", "Liqo multi-cluster references are compatibility-only (one cluster, `honey`)"),
];

/// Attributes whose value is prose for people, never configuration: not inspected.
const PROSE: &[&str] = &["description", "error_message"];

impl FileCtx<'_> {
    fn line(&self, span: Option<std::ops::Range<usize>>) -> Option<usize> {
        self.file.line(span)
    }

    fn error(&mut self, code: &'static str, line: Option<usize>, message: String) {
        self.findings.push(Finding::error(code, Some(&self.file.rel), line, message));
    }

    /// The `backend` blocks of this file's `terraform` blocks; S3 ones are collected.
    fn backends(&mut self, s3: &mut Vec<(String, usize)>) {
        let file = self.file;
        for block in file.body.get_blocks("terraform") {
            for backend in block.body.get_blocks("backend") {
                let kind = backend.labels.first().map(|l| l.as_str().to_string()).unwrap_or_default();
                let line = self.line(backend.span());
                match kind.as_str() {
                    "s3" => {
                        s3.push((file.rel.clone(), line.unwrap_or(0)));
                        if !backend.body.is_empty() {
                            let names: Vec<String> = backend
                                .body
                                .iter()
                                .map(|s| match s {
                                    Structure::Attribute(a) => format!("`{}`", a.key.as_str()),
                                    Structure::Block(b) => format!("`{}` block", b.ident.as_str()),
                                })
                                .collect();
                            self.error(
                                "inline-backend",
                                line,
                                format!(
                                    "`backend \"s3\"` must be an empty partial configuration (gf renders it per environment), found {}",
                                    names.join(", ")
                                ),
                            );
                        }
                    }
                    "http" => self.error(
                        "http-backend",
                        line,
                        format!(
                            "stack `{}` declares `backend \"http\"`: GitLab-managed HTTP state is compatibility-only; active stacks use `backend \"s3\" {{}}`",
                            self.stack
                        ),
                    ),
                    other => self.error(
                        "backend-type",
                        line,
                        format!("`backend \"{other}\"`: active stacks use `backend \"s3\" {{}}` only"),
                    ),
                }
            }
        }
    }

    fn compat(&mut self, haystack: &str, span: Option<&std::ops::Range<usize>>) {
        let lower = haystack.to_ascii_lowercase();
        for (needle, code, what) in COMPAT {
            if lower.contains(needle) {
                let line = self.line(span.cloned());
                self.error(code, line, format!("stack `{}`: {what}: `{}`", self.stack, excerpt(haystack)));
            }
        }
    }

    /// Block headers (types and labels: `provider "civo"`, `resource "civo_volume" …`) and
    /// attribute values (provider sources, defaults, locals), except prose.
    fn walk(&mut self, body: &Body) {
        for s in body {
            match s {
                Structure::Block(b) => self.block(b),
                Structure::Attribute(a) if PROSE.contains(&a.key.as_str()) => {}
                Structure::Attribute(a) => {
                    // The expression's own source text (its span excludes surrounding comments).
                    let src = a.value.span().and_then(|r| self.file.text.get(r)).unwrap_or_default().to_string();
                    self.compat(&src, a.span().as_ref());
                }
            }
        }
    }

    fn block(&mut self, b: &Block) {
        let header = std::iter::once(b.ident.as_str().to_string())
            .chain(b.labels.iter().map(|l| l.as_str().to_string()))
            .collect::<Vec<_>>()
            .join(" ");
        self.compat(&header, b.span().as_ref());
        self.walk(&b.body);
    }
}

fn excerpt(s: &str) -> String {
    let one_line = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() > 80 {
        format!("{}…", one_line.chars().take(80).collect::<String>())
    } else {
        one_line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warns_about_tf_http_only() {
        let vars = Vars::from_pairs([("TF_HTTP_ADDRESS", "x"), ("PATH", "/bin")]);
        let f = env_findings(&vars);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].severity, Severity::Warning);
        assert!(f[0].message.contains("TF_HTTP_ADDRESS"));
        // The value is never echoed.
        assert!(!f[0].message.contains("\"x\""));
    }
}
