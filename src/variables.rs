//! A stack's input variables and its committed var files, read with hcl-edit: `variable` blocks
//! (name, whether they have a `default`, whether `sensitive = true`) of the stack's root module,
//! and the top-level attributes of `<env>.tfvars`. Which required variables a var file leaves
//! without a source is [`unset_required`]; the lifecycle's input resolution builds on these.

use std::collections::BTreeMap;
use std::path::Path;

use hcl_edit::Span as _;
use hcl_edit::expr::Expression;

use crate::contract::Finding;
use crate::sources;

/// One `variable` block.
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

/// The `variable` blocks of the root module in `dir` (its `*.tf` files, not its modules'), in
/// file and source order; parse errors as findings.
pub fn root_variables(root: &Path, dir: &Path) -> Result<Vec<Variable>, Vec<Finding>> {
    let (files, findings) = sources::read_dir(root, dir);
    if !findings.is_empty() {
        return Err(findings);
    }
    let mut out = Vec::new();
    for f in &files {
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
    Ok(out)
}

/// The names a var file sets (its top-level attributes) with their lines; `Ok(None)` when the
/// file does not exist.
pub fn var_file_keys(root: &Path, path: &Path) -> Result<Option<BTreeMap<String, usize>>, Finding> {
    let rel = sources::rel(root, path);
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Finding::error("unreadable", Some(&rel), None, format!("cannot read: {e}"))),
    };
    let body = hcl_edit::parser::parse_body(&text).map_err(|e| {
        Finding::error(
            "hcl-parse",
            Some(&rel),
            Some(e.location().line()),
            format!("does not parse as HCL: {}", e.message()),
        )
    })?;
    if let Some(b) = body.blocks().next() {
        let line = b.span().map(|r| sources::line_at(&text, r.start));
        return Err(Finding::error(
            "var-file",
            Some(&rel),
            line,
            format!("a var file holds only `name = value` attributes, found a `{}` block", b.ident.as_str()),
        ));
    }
    Ok(Some(
        body.attributes()
            .map(|a| (a.key.as_str().to_string(), a.span().map_or(0, |r| sources::line_at(&text, r.start))))
            .collect(),
    ))
}

/// The required, non-sensitive variables a var file does not set (a sensitive one comes from the
/// environment instead).
pub fn unset_required<'v>(vars: &'v [Variable], set: &BTreeMap<String, usize>) -> Vec<&'v Variable> {
    vars.iter().filter(|v| v.required() && !v.sensitive && !set.contains_key(&v.name)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_variables_and_var_files() {
        let tmp = tempfile::tempdir().unwrap();
        let r = tmp.path();
        let dir = r.join("stacks/s");
        std::fs::create_dir_all(dir.join("values")).unwrap();
        std::fs::write(
            dir.join("variables.tf"),
            "variable \"url\" {\n  type = string\n}\n\nvariable \"token\" {\n  type      = string\n  sensitive = true\n}\n\nvariable \"n\" {\n  default = 1\n}\n# variable \"commented\" {}\n",
        )
        .unwrap();
        // A module's variables are not the stack's inputs.
        std::fs::write(dir.join("values/main.tf"), "variable \"inner\" {}\n").unwrap();
        std::fs::write(dir.join("dev.tfvars"), "# a comment\nn = 2\n").unwrap();

        let vars = root_variables(r, &dir).unwrap();
        let names: Vec<(&str, bool, bool)> =
            vars.iter().map(|v| (v.name.as_str(), v.required(), v.sensitive)).collect();
        assert_eq!(names, [("url", true, false), ("token", true, true), ("n", false, false)]);
        assert_eq!(vars[1].line, Some(5));

        let keys = var_file_keys(r, &dir.join("dev.tfvars")).unwrap().unwrap();
        assert_eq!(keys, BTreeMap::from([("n".to_string(), 2)]));
        let unset: Vec<&str> = unset_required(&vars, &keys).iter().map(|v| v.name.as_str()).collect();
        assert_eq!(unset, ["url"], "the sensitive `token` comes from TF_VAR_token, not the var file");

        assert_eq!(var_file_keys(r, &dir.join("prod.tfvars")).unwrap(), None);
        std::fs::write(dir.join("bad.tfvars"), "x = 1\nlocals {\n}\n").unwrap();
        let err = var_file_keys(r, &dir.join("bad.tfvars")).unwrap_err();
        assert_eq!((err.code, err.line), ("var-file", Some(2)));
    }
}
