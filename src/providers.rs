//! The provider set: every `required_providers` entry of every `*.tf` file under `stacks/`
//! (stacks and local modules alike; folders starting with `.`, like `.terraform/`, skipped),
//! read with hcl-edit. `nix/providers.nix` reads the same files the same way with builtins, and
//! the flake's tofu must carry a build of each provider that satisfies its constraint.
//!
//! Rules (`gf check`): each entry names a `source` and a `version` constraint; a constraint is a
//! comma-separated list of `op version` clauses (`~>`, `>=`, `>`, `<=`, `<`, `=`, `!=`); an exact
//! pin is refused (the flake's provider build comes from nixpkgs and moves with `flake.lock`);
//! one source has one constraint everywhere.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use hcl_edit::Span as _;
use hcl_edit::expr::{Expression, ObjectKey};

use crate::contract::Finding;
use crate::sources::{self, SourceFile};

/// One `required_providers` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Declaration {
    /// The local name (`helm = { … }`).
    pub local_name: String,
    /// `source`, when given as a string.
    pub source: Option<String>,
    /// `version`, when given as a string.
    pub version: Option<String>,
    /// The file, relative to the repository root.
    pub file: String,
    /// 1-based line of the entry.
    pub line: Option<usize>,
}

/// A comparison operator of a version constraint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `~>`: this version up to the next increment of its second-to-last given component.
    Pessimistic,
    /// `>=`.
    AtLeast,
    /// `>`.
    Above,
    /// `<=`.
    AtMost,
    /// `<`.
    Below,
    /// `=` or no operator.
    Exactly,
    /// `!=`.
    Not,
}

/// One clause of a constraint: an operator and a version of one to three numeric components.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clause {
    /// The operator.
    pub op: Op,
    /// The version's numeric components.
    pub version: Vec<u64>,
}

/// Parse a version constraint (`~> 3.0`, `>= 2.38, < 3.0`).
pub fn parse_constraint(text: &str) -> Result<Vec<Clause>, String> {
    let mut out = Vec::new();
    for raw in text.split(',') {
        let c = raw.trim();
        let (op, rest) = [
            ("~>", Op::Pessimistic),
            (">=", Op::AtLeast),
            ("<=", Op::AtMost),
            ("!=", Op::Not),
            (">", Op::Above),
            ("<", Op::Below),
            ("=", Op::Exactly),
        ]
        .iter()
        .find_map(|(s, op)| c.strip_prefix(s).map(|r| (*op, r.trim_start())))
        .unwrap_or((Op::Exactly, c));
        let version: Result<Vec<u64>, _> = rest.split('.').map(str::parse::<u64>).collect();
        match version {
            Ok(v) if (1..=3).contains(&v.len()) && !(op == Op::Pessimistic && v.len() < 2) => {
                out.push(Clause { op, version: v });
            }
            _ => return Err(format!("`{c}` is not `<op> <major>[.<minor>[.<patch>]]`")),
        }
    }
    Ok(out)
}

/// Whether a constraint pins one exact version.
pub fn is_exact_pin(clauses: &[Clause]) -> bool {
    clauses.iter().any(|c| c.op == Op::Exactly)
}

/// Every `*.tf` file under `stacks/`, sorted, skipping folders whose name starts with `.`.
pub fn tf_files(root: &Path) -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(rd) = std::fs::read_dir(dir) else { return };
        for entry in rd.filter_map(Result::ok) {
            let path = entry.path();
            let hidden = entry.file_name().to_string_lossy().starts_with('.');
            match entry.file_type() {
                Ok(t) if t.is_dir() && !hidden => walk(&path, out),
                Ok(t) if t.is_file() && path.extension().is_some_and(|e| e == "tf") => out.push(path),
                _ => {}
            }
        }
    }
    let mut out = Vec::new();
    walk(&root.join("stacks"), &mut out);
    out.sort();
    out
}

fn string_field(obj: &hcl_edit::expr::Object, name: &str) -> Option<String> {
    obj.iter()
        .find(|(k, _)| match k {
            ObjectKey::Ident(i) => i.as_str() == name,
            ObjectKey::Expression(Expression::String(s)) => s.value() == name,
            ObjectKey::Expression(_) => false,
        })
        .and_then(|(_, v)| match v.expr() {
            Expression::String(s) => Some(s.value().clone()),
            _ => None,
        })
}

/// The `required_providers` entries of one parsed file.
pub fn declarations_in(file: &SourceFile) -> Vec<Declaration> {
    let mut out = Vec::new();
    for tf in file.body.get_blocks("terraform") {
        for rp in tf.body.get_blocks("required_providers") {
            for attr in rp.body.attributes() {
                let (source, version) = match &attr.value {
                    Expression::Object(obj) => (string_field(obj, "source"), string_field(obj, "version")),
                    // The legacy form `helm = "~> 3.0"`: a version, no source.
                    Expression::String(s) => (None, Some(s.value().clone())),
                    _ => (None, None),
                };
                out.push(Declaration {
                    local_name: attr.key.as_str().to_string(),
                    source,
                    version,
                    file: file.rel.clone(),
                    line: file.line(attr.span()),
                });
            }
        }
    }
    out
}

/// Every declaration under `stacks/`, plus the files that could not be parsed.
pub fn declarations(root: &Path) -> (Vec<Declaration>, Vec<Finding>) {
    let mut decls = Vec::new();
    let mut findings = Vec::new();
    let mut dirs: Vec<PathBuf> = tf_files(root).iter().filter_map(|p| p.parent().map(Path::to_path_buf)).collect();
    dirs.dedup();
    for dir in dirs {
        let (files, errs) = sources::read_dir(root, &dir);
        findings.extend(errs);
        for f in &files {
            decls.extend(declarations_in(f));
        }
    }
    (decls, findings)
}

/// The provider set (source → constraint) and the findings of the rules above.
pub fn provider_set(root: &Path) -> (BTreeMap<String, String>, Vec<Finding>) {
    let (decls, mut findings) = declarations(root);
    let mut set: BTreeMap<String, (String, String)> = BTreeMap::new();
    for d in &decls {
        let file = Some(d.file.as_str());
        let Some(source) = &d.source else {
            findings.push(Finding::error(
                "provider-source",
                file,
                d.line,
                format!(
                    "`required_providers` entry `{}` has no `source`: write `source = \"<namespace>/<type>\"`",
                    d.local_name
                ),
            ));
            continue;
        };
        let Some(version) = &d.version else {
            findings.push(Finding::error(
                "provider-version",
                file,
                d.line,
                format!("provider `{source}` has no `version` constraint: write one such as `~> X.Y`"),
            ));
            continue;
        };
        match parse_constraint(version) {
            Err(why) => {
                findings.push(Finding::error(
                    "provider-constraint",
                    file,
                    d.line,
                    format!("provider `{source}` has version constraint `{version}`: {why}"),
                ));
                continue;
            }
            Ok(clauses) if is_exact_pin(&clauses) => findings.push(Finding::error(
                "provider-pin",
                file,
                d.line,
                format!(
                    "provider `{source}` is pinned at `{version}`: write a constraint such as `~> X.Y`; the flake's tofu carries nixpkgs' build, which moves with flake.lock"
                ),
            )),
            Ok(_) => {}
        }
        match set.get(source) {
            Some((other, where_)) if other != version => findings.push(Finding::error(
                "provider-conflict",
                file,
                d.line,
                format!(
                    "provider `{source}` is constrained to `{version}` here but to `{other}` in `{where_}`: the stacks and their modules share one provider set"
                ),
            )),
            Some(_) => {}
            None => {
                set.insert(source.clone(), (version.clone(), d.file.clone()));
            }
        }
    }
    (set.into_iter().map(|(k, (v, _))| (k, v)).collect(), findings)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constraints_parse_and_pins_are_recognized() {
        let c = parse_constraint("~> 3.0").unwrap();
        assert_eq!(c, [Clause { op: Op::Pessimistic, version: vec![3, 0] }]);
        assert!(!is_exact_pin(&c));
        let c = parse_constraint(">= 2.38, < 3.0").unwrap();
        assert_eq!(c.len(), 2);
        assert!(is_exact_pin(&parse_constraint("3.0.2").unwrap()));
        assert!(is_exact_pin(&parse_constraint("= 3.0.2").unwrap()));
        assert!(parse_constraint("~> 3").is_err(), "`~> 3` allows every major version");
        assert!(parse_constraint("latest").is_err());
        assert!(parse_constraint("~> 3.x").is_err());
        assert!(parse_constraint("").is_err());
    }

    fn write(root: &Path, rel: &str, text: &str) {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    #[test]
    fn one_set_across_stacks_and_modules_without_comments_or_hidden_folders() {
        let tmp = tempfile::tempdir().unwrap();
        let r = tmp.path();
        write(
            r,
            "stacks/a/versions.tf",
            "terraform {\n  required_providers {\n    # old = { source = \"x/old\", version = \"~> 1.0\" }\n    helm = {\n      version = \"~> 3.0\"\n      source  = \"hashicorp/helm\"\n    }\n  }\n}\n",
        );
        write(
            r,
            "stacks/modules/m/main.tf",
            "terraform {\n  required_providers {\n    random = { source = \"hashicorp/random\", version = \"~> 3.7\" }\n  }\n}\n",
        );
        write(
            r,
            "stacks/a/.terraform/modules/x/main.tf",
            "terraform {\n  required_providers {\n    aws = { source = \"hashicorp/aws\", version = \"~> 6.0\" }\n  }\n}\n",
        );
        let (set, findings) = provider_set(r);
        assert!(findings.is_empty(), "{findings:?}");
        assert_eq!(
            set,
            BTreeMap::from([
                ("hashicorp/helm".to_string(), "~> 3.0".to_string()),
                ("hashicorp/random".to_string(), "~> 3.7".to_string()),
            ])
        );
    }

    #[test]
    fn pins_conflicts_and_missing_fields_are_findings() {
        let tmp = tempfile::tempdir().unwrap();
        let r = tmp.path();
        write(
            r,
            "stacks/a/versions.tf",
            "terraform {\n  required_providers {\n    helm = { source = \"hashicorp/helm\", version = \"3.0.2\" }\n    k = { source = \"hashicorp/kubernetes\" }\n    r = { version = \"~> 3.7\" }\n  }\n}\n",
        );
        write(
            r,
            "stacks/b/versions.tf",
            "terraform {\n  required_providers {\n    helm = { source = \"hashicorp/helm\", version = \"~> 3.0\" }\n  }\n}\n",
        );
        let (_, findings) = provider_set(r);
        let codes: Vec<&str> = findings.iter().map(|f| f.code).collect();
        assert_eq!(codes, ["provider-pin", "provider-version", "provider-source", "provider-conflict"], "{findings:?}");
        assert_eq!(findings[0].line, Some(3));
        assert!(findings[3].message.contains("`~> 3.0` here but to `3.0.2` in `stacks/a/versions.tf`"));
    }
}
