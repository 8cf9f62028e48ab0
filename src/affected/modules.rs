//! The local-module graph of the stacks at one commit: `module` blocks whose `source` is a local
//! path (`./…`, `../…`, OpenTofu's rule), read from git's objects with hcl-edit and followed
//! recursively. Each folder is parsed once, so shared modules and cycles cost nothing extra.

use std::collections::{HashMap, HashSet, VecDeque};

use hcl_edit::Span as _;
use hcl_edit::expr::Expression;

use crate::contract::Finding;
use crate::sources;

use super::AffectedError;
use super::git::{Git, TreeFile};

/// Module folders reached from each folder, relative to the root (`""` is the root itself).
#[derive(Debug, Default)]
pub struct Graph {
    edges: HashMap<String, Vec<String>>,
    /// What could not be followed (non-literal sources, paths leaving the root, folders without
    /// sources, files that do not parse).
    pub warnings: Vec<Finding>,
}

/// A folder reached from a stack, and the module folders in between.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reached {
    /// The module folder.
    pub dir: String,
    /// The module folders from the stack to `dir`, both excluded.
    pub via: Vec<String>,
}

/// Whether `name` is an OpenTofu/Terraform source file of a module folder.
fn is_source(name: &[u8]) -> bool {
    [&b".tf"[..], b".tofu", b".tf.json", b".tofu.json"].iter().any(|ext| name.ends_with(ext))
}

fn split_dir(path: &[u8]) -> (&[u8], &[u8]) {
    match path.iter().rposition(|b| *b == b'/') {
        Some(i) => (&path[..i], &path[i + 1..]),
        None => (&b""[..], path),
    }
}

impl Graph {
    /// Follow every local module source from the `roots` (the stacks' folders) through the
    /// source files of `tree`, reading them with `git`.
    pub fn build(git: &Git, tree: &[TreeFile], roots: &[String]) -> Result<Self, AffectedError> {
        let mut by_dir: HashMap<&[u8], Vec<&TreeFile>> = HashMap::new();
        for f in tree {
            let (dir, name) = split_dir(&f.path);
            if is_source(name) {
                by_dir.entry(dir).or_default().push(f);
            }
        }
        let mut graph = Graph::default();
        let mut seen: HashSet<String> = roots.iter().cloned().collect();
        let mut frontier: Vec<String> = roots.to_vec();
        // One `git cat-file --batch` for the run, one batch of blobs per depth level.
        let mut cat = git.cat_file()?;
        while !frontier.is_empty() {
            let files: Vec<&TreeFile> =
                frontier.iter().flat_map(|d| by_dir.get(d.as_bytes()).into_iter().flatten().copied()).collect();
            // Identical files (a shared `versions.tf`) are one object: read each once.
            let mut index: HashMap<&str, usize> = HashMap::new();
            let mut oids: Vec<&str> = Vec::new();
            for f in &files {
                index.entry(f.oid.as_str()).or_insert_with(|| {
                    oids.push(f.oid.as_str());
                    oids.len() - 1
                });
            }
            let unique = cat.read(&oids)?;
            let blobs: Vec<&[u8]> = files.iter().map(|f| unique[index[f.oid.as_str()]].as_slice()).collect();
            let mut calls_by_dir: HashMap<String, Vec<Call>> = HashMap::new();
            for (f, (calls, warnings)) in files.iter().zip(parse_all(&files, &blobs)) {
                let (dir, _) = split_dir(&f.path);
                calls_by_dir.entry(String::from_utf8_lossy(dir).into_owned()).or_default().extend(calls);
                graph.warnings.extend(warnings);
            }
            let mut next = Vec::new();
            for dir in &frontier {
                let mut targets = Vec::new();
                for call in calls_by_dir.remove(dir).unwrap_or_default() {
                    let Some(target) = join(dir, &call.source) else {
                        graph.warnings.push(Finding::warning(
                            "module-outside-root",
                            Some(&call.file),
                            Some(call.line),
                            format!("module source `{}` leaves the repository root: not followed", call.source),
                        ));
                        continue;
                    };
                    if !by_dir.contains_key(target.as_bytes()) {
                        graph.warnings.push(Finding::warning(
                            "module-without-sources",
                            Some(&call.file),
                            Some(call.line),
                            format!("module source `{}`: `{target}` holds no `.tf` files at this commit", call.source),
                        ));
                    }
                    if !targets.contains(&target) {
                        targets.push(target.clone());
                    }
                    if seen.insert(target.clone()) {
                        next.push(target);
                    }
                }
                graph.edges.insert(dir.clone(), targets);
            }
            frontier = next;
        }
        cat.finish()?;
        Ok(graph)
    }

    /// Every module folder reached from `root` (not `root` itself), breadth first, each with the
    /// module folders on the way; a cycle ends where it meets a folder already reached.
    pub fn reached_from(&self, root: &str) -> Vec<Reached> {
        let mut out: Vec<Reached> = Vec::new();
        // Each queued folder with its own place in `out` (`None`: the stack itself).
        let mut queue: VecDeque<(&str, Option<usize>)> = VecDeque::from([(root, None)]);
        let mut seen: HashSet<&str> = HashSet::from([root]);
        while let Some((dir, me)) = queue.pop_front() {
            for target in self.edges.get(dir).into_iter().flatten() {
                if !seen.insert(target.as_str()) {
                    continue;
                }
                let via = me.map_or_else(Vec::new, |i| {
                    let mut v = out[i].via.clone();
                    v.push(out[i].dir.clone());
                    v
                });
                out.push(Reached { dir: target.clone(), via });
                queue.push_back((target.as_str(), Some(out.len() - 1)));
            }
        }
        out
    }
}

/// One local `module` call found in a file.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Call {
    source: String,
    file: String,
    line: usize,
}

/// The module calls (and warnings) of each file, in order; split over the cores when there are
/// many (a thousand stacks' files parse in a few tens of milliseconds on one).
fn parse_all(files: &[&TreeFile], blobs: &[&[u8]]) -> Vec<(Vec<Call>, Vec<Finding>)> {
    let parse = |(f, blob): (&&TreeFile, &&[u8])| {
        let mut warnings = Vec::new();
        let calls = module_calls(&f.path, blob, &mut warnings);
        (calls, warnings)
    };
    let threads = std::thread::available_parallelism().map_or(1, std::num::NonZero::get).min(4);
    if threads < 2 || files.len() < 256 {
        return files.iter().zip(blobs).map(parse).collect();
    }
    let chunk = files.len().div_ceil(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = files
            .chunks(chunk)
            .zip(blobs.chunks(chunk))
            .map(|(fs, bs)| s.spawn(move || fs.iter().zip(bs).map(parse).collect::<Vec<_>>()))
            .collect();
        handles.into_iter().flat_map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p))).collect()
    })
}

/// Whether a source string names a local path (OpenTofu's rule: it starts with `./` or `../`).
fn is_local(source: &str) -> bool {
    source.starts_with("./") || source.starts_with("../")
}

/// The local module calls of one file; what cannot be read or followed becomes a warning.
fn module_calls(path: &[u8], blob: &[u8], warnings: &mut Vec<Finding>) -> Vec<Call> {
    let file = String::from_utf8_lossy(path).into_owned();
    // Most files call no module: skip the parse when the block name cannot occur.
    if !blob.windows(6).any(|w| w == b"module") {
        return Vec::new();
    }
    let Ok(text) = std::str::from_utf8(blob) else {
        warnings.push(Finding::warning(
            "module-unreadable",
            Some(&file),
            None,
            "not UTF-8: its modules are not followed",
        ));
        return Vec::new();
    };
    if path.ends_with(b".json") { json_calls(&file, text, warnings) } else { hcl_calls(&file, text, warnings) }
}

fn hcl_calls(file: &str, text: &str, warnings: &mut Vec<Finding>) -> Vec<Call> {
    let body = match hcl_edit::parser::parse_body(text) {
        Ok(b) => b,
        Err(e) => {
            warnings.push(Finding::warning(
                "module-unreadable",
                Some(file),
                Some(e.location().line()),
                format!("does not parse as HCL ({}): its modules are not followed", e.message()),
            ));
            return Vec::new();
        }
    };
    // The sources that are not plain strings: OpenTofu allows static variables there, gf cannot
    // evaluate them.
    for block in body.get_blocks("module") {
        let Some(attr) = block.body.get_attribute("source") else { continue };
        if matches!(attr.value, Expression::String(_)) {
            continue;
        }
        let src = attr.value.span().and_then(|r| text.get(r)).unwrap_or("?").trim().to_string();
        if is_local(src.trim_start_matches('"')) || !src.starts_with('"') {
            warnings.push(Finding::warning(
                "module-source-expression",
                Some(file),
                Some(sources::line_at(text, attr.span().map_or(0, |r| r.start))),
                format!("module source `{src}` is not a plain string: not followed"),
            ));
        }
    }
    // The literal local sources, read as `gf check` reads them.
    let parsed = sources::SourceFile { path: file.into(), rel: file.to_string(), text: text.to_string(), body };
    sources::local_sources(&parsed)
        .into_iter()
        .map(|(source, line)| Call { source, file: file.to_string(), line: line.unwrap_or(1) })
        .collect()
}

/// `module` in OpenTofu's JSON syntax: `{"module": {"name": {"source": …}}}`, where each level
/// may also be an array of such objects.
fn json_calls(file: &str, text: &str, warnings: &mut Vec<Finding>) -> Vec<Call> {
    let doc: serde_json::Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => {
            warnings.push(Finding::warning(
                "module-unreadable",
                Some(file),
                Some(e.line()),
                format!("does not parse as JSON ({e}): its modules are not followed"),
            ));
            return Vec::new();
        }
    };
    let mut calls = Vec::new();
    for top in objects(&doc) {
        for modules in top.get("module").map(objects).unwrap_or_default() {
            for call in modules.values().flat_map(objects) {
                if let Some(source) = call.get("source").and_then(serde_json::Value::as_str)
                    && is_local(source)
                {
                    calls.push(Call { source: source.to_string(), file: file.to_string(), line: 1 });
                }
            }
        }
    }
    calls
}

/// An object, or the objects of an array (the JSON syntax allows both at every level).
fn objects(v: &serde_json::Value) -> Vec<&serde_json::Map<String, serde_json::Value>> {
    match v {
        serde_json::Value::Object(o) => vec![o],
        serde_json::Value::Array(a) => a.iter().filter_map(serde_json::Value::as_object).collect(),
        _ => Vec::new(),
    }
}

/// `dir` joined with a local `source`, normalized lexically (the folder need not exist); `None`
/// when it climbs above the root.
fn join(dir: &str, source: &str) -> Option<String> {
    let mut parts: Vec<&str> = dir.split('/').filter(|p| !p.is_empty()).collect();
    for part in source.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            p => parts.push(p),
        }
    }
    Some(parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_lexically_and_refuses_to_leave_the_root() {
        assert_eq!(join("stacks/a", "../../modules/x").as_deref(), Some("modules/x"));
        assert_eq!(join("stacks/a", "./m/").as_deref(), Some("stacks/a/m"));
        assert_eq!(join("modules/x", "../y/./z").as_deref(), Some("modules/y/z"));
        assert_eq!(join("stacks/a", "../..").as_deref(), Some(""));
        assert_eq!(join("stacks/a", "../../../elsewhere"), None);
    }

    #[test]
    fn finds_local_sources_only_and_warns_about_expressions() {
        let text = r#"
# module "commented" { source = "./nope" }
module "net" {
  source = "../../modules/net"
}
module "registry" {
  source  = "hashicorp/consul/aws"
  version = "1.0.0"
}
module "git" { source = "git::https://example.com/x.git" }
module "dynamic" { source = "./m/${var.flavour}" }
module "var" { source = var.path }
locals { source = "./not-a-module" }
"#;
        let mut warnings = Vec::new();
        let calls = module_calls(b"stacks/a/main.tf", text.as_bytes(), &mut warnings);
        assert_eq!(calls, [Call { source: "../../modules/net".into(), file: "stacks/a/main.tf".into(), line: 4 }]);
        let lines: Vec<_> = warnings.iter().map(|w| (w.code, w.line)).collect();
        assert_eq!(lines, [("module-source-expression", Some(11)), ("module-source-expression", Some(12))]);
    }

    #[test]
    fn reads_the_json_syntax() {
        let text = r#"{"module": {"a": {"source": "./a"}, "b": [{"source": "../b"}], "r": {"source": "x/y/z"}}}"#;
        let mut warnings = Vec::new();
        let calls = module_calls(b"m/main.tf.json", text.as_bytes(), &mut warnings);
        let sources: Vec<_> = calls.iter().map(|c| c.source.as_str()).collect();
        assert_eq!(sources, ["./a", "../b"]);
        assert!(warnings.is_empty());
    }

    #[test]
    fn unparseable_and_non_utf8_files_are_warnings() {
        let mut warnings = Vec::new();
        assert!(module_calls(b"m/x.tf", b"module \"a\" { source = ", &mut warnings).is_empty());
        assert!(module_calls(b"m/y.tf", b"module \"a\" { source = \"./\xff\" }", &mut warnings).is_empty());
        let codes: Vec<_> = warnings.iter().map(|w| (w.code, w.file.as_deref())).collect();
        assert_eq!(codes, [("module-unreadable", Some("m/x.tf")), ("module-unreadable", Some("m/y.tf"))]);
    }

    #[test]
    fn reach_follows_chains_and_survives_cycles() {
        let mut g = Graph::default();
        g.edges.insert("stacks/a".into(), vec!["modules/app".into()]);
        g.edges.insert("modules/app".into(), vec!["modules/app/labels".into(), "modules/net".into()]);
        g.edges.insert("modules/app/labels".into(), vec!["modules/app".into()]);
        g.edges.insert("modules/net".into(), vec!["stacks/a".into()]);
        let r = g.reached_from("stacks/a");
        let got: Vec<_> = r.iter().map(|r| (r.dir.as_str(), r.via.join(">"))).collect();
        assert_eq!(
            got,
            [
                ("modules/app", String::new()),
                ("modules/app/labels", "modules/app".into()),
                ("modules/net", "modules/app".into())
            ]
        );
    }
}
