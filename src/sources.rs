//! The OpenTofu sources of the stacks, read with hcl-edit: the `*.tf` files of a folder, and the
//! local modules a stack reaches through `module { source = "./…" | "../…" }`, recursively.
//!
//! `gf check` runs its source rules over everything a stack reaches; `gf affected` can follow the
//! same edges. A local module must stay inside `stacks/`: the Nix side reads the provider set from
//! every `*.tf` file there, so a module outside would make the two readings differ.

use std::collections::BTreeSet;
use std::path::{Component, Path, PathBuf};

use hcl_edit::Span as _;
use hcl_edit::expr::Expression;
use hcl_edit::structure::Body;

use crate::contract::Finding;

/// One parsed `*.tf` file.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// Absolute path.
    pub path: PathBuf,
    /// Path relative to the repository root, for findings.
    pub rel: String,
    /// The file's text.
    pub text: String,
    /// Its HCL body.
    pub body: Body,
}

impl SourceFile {
    /// 1-based line of a byte offset range's start.
    pub fn line(&self, span: Option<std::ops::Range<usize>>) -> Option<usize> {
        span.map(|r| line_at(&self.text, r.start))
    }
}

/// 1-based line of byte `offset` in `text`.
pub fn line_at(text: &str, offset: usize) -> usize {
    text.get(..offset.min(text.len())).unwrap_or(text).matches('\n').count() + 1
}

/// A folder of OpenTofu files: a stack's root module or a local module it reaches.
#[derive(Debug, Clone)]
pub struct ModuleDir {
    /// Absolute path.
    pub dir: PathBuf,
    /// Path relative to the repository root.
    pub rel: String,
    /// Its `*.tf` files that parsed, by name.
    pub files: Vec<SourceFile>,
}

/// Everything a stack's sources reach: its root module first, then local modules in the order
/// found (breadth first), each once; plus the problems met on the way.
#[derive(Debug, Clone, Default)]
pub struct Reach {
    /// The stack's root module and the local modules it reaches.
    pub dirs: Vec<ModuleDir>,
    /// Unreadable or unparsable files, local sources that do not exist or leave `stacks/`.
    pub findings: Vec<Finding>,
    /// False when a file could not be read or parsed (rules needing every file then stay quiet).
    pub complete: bool,
}

/// `path` relative to `root`, for messages.
pub fn rel(root: &Path, path: &Path) -> String {
    path.strip_prefix(root).unwrap_or(path).to_string_lossy().into_owned()
}

/// Read and parse every `*.tf` file directly in `dir` (sorted by name).
pub fn read_dir(root: &Path, dir: &Path) -> (Vec<SourceFile>, Vec<Finding>) {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "tf") && p.is_file())
                .collect()
        })
        .unwrap_or_default();
    paths.sort();
    let mut files = Vec::new();
    let mut findings = Vec::new();
    for path in paths {
        let rel = rel(root, &path);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) => {
                findings.push(Finding::error("unreadable", Some(&rel), None, format!("cannot read: {e}")));
                continue;
            }
        };
        match hcl_edit::parser::parse_body(&text) {
            Ok(body) => files.push(SourceFile { path, rel, text, body }),
            Err(e) => {
                let loc = e.location();
                findings.push(Finding {
                    column: Some(loc.column()),
                    ..Finding::error(
                        "hcl-parse",
                        Some(&rel),
                        Some(loc.line()),
                        format!("does not parse as HCL: {}", e.message()),
                    )
                });
            }
        }
    }
    (files, findings)
}

/// A `module` block's `source` when it is a local path (`./…` or `../…`), with its line.
pub fn local_sources(file: &SourceFile) -> Vec<(String, Option<usize>)> {
    file.body
        .get_blocks("module")
        .filter_map(|b| {
            let attr = b.body.get_attribute("source")?;
            let Expression::String(s) = &attr.value else { return None };
            let src = s.value().as_str();
            (src.starts_with("./") || src.starts_with("../")).then(|| (src.to_string(), file.line(attr.span())))
        })
        .collect()
}

/// Lexically normalized `path` (`.` and `..` resolved without touching the file system).
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// The stack at `stack_dir` and every local module it reaches, recursively.
pub fn reach(root: &Path, stack_dir: &Path) -> Reach {
    let stacks = normalize(&root.join("stacks"));
    let mut out = Reach { complete: true, ..Reach::default() };
    let mut seen = BTreeSet::new();
    let mut queue = vec![normalize(stack_dir)];
    while !queue.is_empty() {
        let dir = queue.remove(0);
        if !seen.insert(dir.clone()) {
            continue;
        }
        let (files, findings) = read_dir(root, &dir);
        out.complete &= findings.is_empty();
        out.findings.extend(findings);
        for file in &files {
            for (src, line) in local_sources(file) {
                let target = normalize(&dir.join(&src));
                if !target.starts_with(&stacks) {
                    out.findings.push(Finding::error(
                        "module-source",
                        Some(&file.rel),
                        line,
                        format!(
                            "local module source `{src}` leaves `stacks/`: keep local modules under `stacks/` (gf and Nix read the provider set there)"
                        ),
                    ));
                } else if !target.is_dir() {
                    out.findings.push(Finding::error(
                        "module-source",
                        Some(&file.rel),
                        line,
                        format!("local module source `{src}` is not a folder (`{}`)", rel(root, &target)),
                    ));
                    out.complete = false;
                } else {
                    queue.push(target);
                }
            }
        }
        out.dirs.push(ModuleDir { rel: rel(root, &dir), dir, files });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Path, rel: &str, text: &str) {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    #[test]
    fn follows_local_modules_recursively_once_each() {
        let tmp = tempfile::tempdir().unwrap();
        let r = tmp.path();
        write(
            r,
            "stacks/s/main.tf",
            "module \"a\" {\n  source = \"./values\"\n}\nmodule \"reg\" {\n  source = \"hashicorp/x/y\"\n}\n",
        );
        write(r, "stacks/s/values/main.tf", "module \"p\" {\n  source = \"../../modules/p\"\n}\n");
        write(r, "stacks/modules/p/main.tf", "module \"again\" {\n  source = \"../../s/values\"\n}\n");
        let got = reach(r, &r.join("stacks/s"));
        let dirs: Vec<&str> = got.dirs.iter().map(|d| d.rel.as_str()).collect();
        assert_eq!(dirs, ["stacks/s", "stacks/s/values", "stacks/modules/p"]);
        assert!(got.findings.is_empty(), "{:?}", got.findings);
        assert!(got.complete);
    }

    #[test]
    fn a_missing_or_escaping_source_is_a_finding_with_its_line() {
        let tmp = tempfile::tempdir().unwrap();
        let r = tmp.path();
        write(
            r,
            "stacks/s/main.tf",
            "module \"a\" {\n  source = \"./nope\"\n}\n\nmodule \"b\" {\n  source = \"../../outside\"\n}\n",
        );
        std::fs::create_dir_all(r.join("outside")).unwrap();
        let got = reach(r, &r.join("stacks/s"));
        assert_eq!(got.findings.len(), 2, "{:?}", got.findings);
        assert_eq!(got.findings[0].line, Some(2));
        assert!(got.findings[0].message.contains("`./nope` is not a folder"));
        assert_eq!(got.findings[1].line, Some(6));
        assert!(got.findings[1].message.contains("leaves `stacks/`"));
        assert!(!got.complete);
    }

    #[test]
    fn an_unparsable_module_file_is_reported_and_the_reach_incomplete() {
        let tmp = tempfile::tempdir().unwrap();
        let r = tmp.path();
        write(r, "stacks/s/main.tf", "module \"a\" {\n  source = \"./m\"\n}\n");
        write(r, "stacks/s/m/bad.tf", "locals {\n  x = \n}\n");
        let got = reach(r, &r.join("stacks/s"));
        assert_eq!(got.findings[0].code, "hcl-parse");
        assert_eq!(got.findings[0].file.as_deref(), Some("stacks/s/m/bad.tf"));
        assert!(!got.complete);
    }
}
