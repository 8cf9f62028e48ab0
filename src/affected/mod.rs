//! `gf affected`: which stacks a change touches, and why.
//!
//! The change is `git diff` from the merge base of `base` and `head` to `head` (what `head` adds,
//! as a pull request shows it; for a push, `base` is the commit before it and is the merge base).
//! Each changed file is judged by where it lies: `stacks/contract.json` and `stacks/schema/`
//! select every stack (`contract`), `flake.lock` and `nix/` too (`pins`), a file under
//! `stacks/<s>/` selects `s` (`stack`), a file inside a local module folder a stack's sources
//! reach selects that stack (`module <folder>`), and with `--with-dependents` every stack whose
//! `depends_on` names a selected one follows (`dependency <s>`). Anything else selects nothing.
//! The module graph is read from `head`'s own objects, not the working tree.

mod git;
mod modules;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;

use crate::contract::{ApplyMode, Contract, Finding};
use crate::process::render_tail;
use crate::ui;

pub use git::Git;

/// Errors of `gf affected`.
#[derive(Debug, thiserror::Error)]
pub enum AffectedError {
    /// A revision gf will not hand to git.
    #[error(
        "`--{which}` `{rev}` is not one revision (empty, a control character, `..`, or a leading `-` git would read as an option)"
    )]
    BadRef {
        /// `base` or `head`.
        which: &'static str,
        /// What was given.
        rev: String,
    },
    /// git does not know the revision.
    #[error("unknown revision `{rev}` (`--{which}`): no such commit in this repository{}", shallow_hint(*.shallow))]
    UnknownRef {
        /// `base` or `head`.
        which: &'static str,
        /// What was given.
        rev: String,
        /// Whether the clone is shallow.
        shallow: bool,
    },
    /// The two revisions share no commit.
    #[error("`{base}` and `{head}` have no common ancestor: there is no merge base to diff from{}", shallow_hint(*.shallow))]
    NoMergeBase {
        /// Base commit.
        base: String,
        /// Head commit.
        head: String,
        /// Whether the clone is shallow.
        shallow: bool,
    },
    /// git could not be started.
    #[error("cannot run `{argv}`: {source} (`gf affected` needs the `git` binary on `PATH`)")]
    Spawn {
        /// The command line.
        argv: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// git failed.
    #[error("`{argv}` failed ({status}){}", render_tail(.tail))]
    Exit {
        /// The command line.
        argv: String,
        /// Its exit status.
        status: String,
        /// The last lines of its stderr.
        tail: Vec<String>,
    },
    /// git answered something gf does not understand.
    #[error("unexpected output from `{argv}`: {detail}")]
    Protocol {
        /// The command line.
        argv: String,
        /// What was wrong.
        detail: String,
    },
}

fn shallow_hint(shallow: bool) -> &'static str {
    if shallow {
        "; this clone is shallow: fetch the history (`git fetch --unshallow`, or `fetch-depth: 0` in actions/checkout)"
    } else {
        ""
    }
}

/// What `gf affected` is asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// The base revision (a pull request's target, the commit before a push).
    pub base: String,
    /// The head revision.
    pub head: String,
    /// Also select every stack that depends on a selected one.
    pub with_dependents: bool,
}

/// Why a stack is affected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Reason {
    /// Files under `stacks/<stack>/`.
    Stack {
        /// The changed files.
        files: Vec<String>,
    },
    /// Files inside a local module folder the stack's sources reach.
    Module {
        /// The module folder, relative to the root.
        path: String,
        /// The module folders between the stack and `path`.
        via: Vec<String>,
        /// The changed files.
        files: Vec<String>,
    },
    /// `stacks/contract.json` or `stacks/schema/` changed: every stack.
    Contract {
        /// The changed files.
        files: Vec<String>,
    },
    /// `flake.lock` or `nix/` changed (the pinned tofu and providers): every stack.
    Pins {
        /// The changed files.
        files: Vec<String>,
    },
    /// A stack this one depends on is affected (`--with-dependents`).
    Dependency {
        /// The stack depended on.
        stack: String,
    },
}

impl Reason {
    /// The reason as the table shows it.
    pub fn label(&self) -> String {
        let n = |files: &[String]| if files.len() == 1 { String::new() } else { format!(" ({} files)", files.len()) };
        match self {
            Self::Stack { files } => format!("stack{}", n(files)),
            Self::Module { path, via, files } => {
                let via = if via.is_empty() {
                    String::new()
                } else {
                    format!(" via {}", via.iter().map(|v| format!("`{v}`")).collect::<Vec<_>>().join(" → "))
                };
                format!("module `{path}`{via}{}", n(files))
            }
            Self::Contract { .. } => "contract".to_string(),
            Self::Pins { .. } => "pins".to_string(),
            Self::Dependency { stack } => format!("dependency `{stack}`"),
        }
    }
}

/// One affected stack.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AffectedStack {
    /// Stack name.
    pub name: String,
    /// Who may apply it.
    pub apply: ApplyMode,
    /// Its lane, if any.
    pub lane: Option<String>,
    /// Why, in the order stack, modules, contract, pins, dependencies.
    pub reasons: Vec<Reason>,
}

/// A revision as asked for and the commit it names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rev {
    /// As given (`origin/main`, `HEAD`, a commit id).
    pub rev: String,
    /// The commit id.
    pub commit: String,
}

/// The answer of `gf affected`.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The base revision.
    pub base: Rev,
    /// The head revision.
    pub head: Rev,
    /// The commit the diff starts from.
    pub merge_base: String,
    /// Every changed file, relative to the root (bytes that are not UTF-8 shown as U+FFFD).
    pub changed_files: Vec<String>,
    /// The affected stacks, in dependency order.
    pub stacks: Vec<AffectedStack>,
    /// Module sources that could not be followed.
    pub warnings: Vec<Finding>,
}

/// Where a changed file lies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    Contract,
    Pins,
    /// Under the folder of the stack with this index.
    Stack(usize),
    Elsewhere,
}

fn place(path: &[u8], stack_dirs: &[String]) -> Place {
    if path == b"stacks/contract.json" || path.starts_with(b"stacks/schema/") {
        return Place::Contract;
    }
    if path == b"flake.lock" || path.starts_with(b"nix/") {
        return Place::Pins;
    }
    match stack_dirs.iter().position(|d| under(path, d)) {
        Some(i) => Place::Stack(i),
        None => Place::Elsewhere,
    }
}

/// Whether `path` lies inside folder `dir` (`""` is the root, which holds everything).
fn under(path: &[u8], dir: &str) -> bool {
    dir.is_empty() || (path.starts_with(dir.as_bytes()) && path.get(dir.len()) == Some(&b'/'))
}

fn lossy(path: &[u8]) -> String {
    String::from_utf8_lossy(path).into_owned()
}

/// Work out which stacks of `contract` the change `opts` describes touches, in the git
/// repository holding `root`.
pub fn run(root: &Path, contract: &Contract, opts: &Options) -> Result<Report, AffectedError> {
    let git = Git::new(root);
    let git::Range { base, head, merge_base } = git.range(&opts.base, &opts.head)?;
    let files = git.changed_files(&merge_base, &head)?;

    let stack_dirs: Vec<String> = contract
        .stacks
        .iter()
        .map(|s| {
            s.dir.strip_prefix(root).map_or_else(|_| format!("stacks/{}", s.name), |d| d.to_string_lossy().into_owned())
        })
        .collect();
    let n = contract.stacks.len();
    let mut own: Vec<Vec<String>> = vec![Vec::new(); n];
    let (mut contract_files, mut pin_files, mut loose) = (Vec::new(), Vec::new(), Vec::new());
    for f in &files {
        match place(f, &stack_dirs) {
            Place::Contract => contract_files.push(lossy(f)),
            Place::Pins => pin_files.push(lossy(f)),
            Place::Stack(i) => {
                own[i].push(lossy(f));
                loose.push(f.as_slice());
            }
            Place::Elsewhere => loose.push(f.as_slice()),
        }
    }

    // Files under a stack's folder or outside every folder may lie in a module someone reaches.
    let mut module_reasons: Vec<Vec<Reason>> = vec![Vec::new(); n];
    let mut warnings = Vec::new();
    if !loose.is_empty() {
        let tree = git.tree_files(&head)?;
        let graph = modules::Graph::build(&git, &tree, &stack_dirs)?;
        for (i, dir) in stack_dirs.iter().enumerate() {
            module_reasons[i] = module_reasons_for(dir, &graph.reached_from(dir), &loose);
        }
        warnings = graph.warnings;
    }

    let mut stacks: Vec<AffectedStack> = Vec::new();
    let mut selected: BTreeSet<&str> = BTreeSet::new();
    for (i, s) in contract.stacks.iter().enumerate() {
        let mut reasons = Vec::new();
        if !own[i].is_empty() {
            reasons.push(Reason::Stack { files: std::mem::take(&mut own[i]) });
        }
        reasons.append(&mut module_reasons[i]);
        if !contract_files.is_empty() {
            reasons.push(Reason::Contract { files: contract_files.clone() });
        }
        if !pin_files.is_empty() {
            reasons.push(Reason::Pins { files: pin_files.clone() });
        }
        if opts.with_dependents {
            // Dependency order: every stack this one depends on has been decided already.
            for d in &s.depends_on {
                if selected.contains(d.as_str()) {
                    reasons.push(Reason::Dependency { stack: d.clone() });
                }
            }
        }
        if !reasons.is_empty() {
            selected.insert(&s.name);
            stacks.push(AffectedStack {
                name: s.name.clone(),
                apply: s.apply,
                lane: s.lane.as_ref().map(|l| l.name.clone()),
                reasons,
            });
        }
    }
    Ok(Report {
        base: Rev { rev: opts.base.clone(), commit: base },
        head: Rev { rev: opts.head.clone(), commit: head },
        merge_base,
        changed_files: files.iter().map(|f| lossy(f)).collect(),
        stacks,
        warnings,
    })
}

/// The module reasons of the stack in `dir`: for each file outside its own folder, the deepest
/// module folder it reaches that holds the file.
fn module_reasons_for(dir: &str, reached: &[modules::Reached], files: &[&[u8]]) -> Vec<Reason> {
    let mut by_module: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    for f in files {
        if under(f, dir) {
            continue; // the stack's own file: reason `stack`
        }
        let deepest = reached.iter().enumerate().filter(|(_, r)| under(f, &r.dir)).max_by_key(|(_, r)| r.dir.len());
        if let Some((i, _)) = deepest {
            by_module.entry(i).or_default().push(lossy(f));
        }
    }
    let mut reasons: Vec<Reason> = by_module
        .into_iter()
        .map(|(i, files)| Reason::Module { path: reached[i].dir.clone(), via: reached[i].via.clone(), files })
        .collect();
    reasons.sort_by(|a, b| match (a, b) {
        (Reason::Module { path: x, .. }, Reason::Module { path: y, .. }) => x.cmp(y),
        _ => std::cmp::Ordering::Equal,
    });
    reasons
}

impl Report {
    /// The one JSON document of `--json`.
    pub fn to_json(&self) -> serde_json::Value {
        let mut v = serde_json::json!({ "ok": true });
        if let (Some(obj), Ok(serde_json::Value::Object(rest))) = (v.as_object_mut(), serde_json::to_value(self)) {
            obj.extend(rest);
        }
        v
    }

    /// `--github-matrix`: `{"include":[{"stack","apply","lane"}]}`, for `strategy.matrix`.
    pub fn to_matrix(&self) -> serde_json::Value {
        let include: Vec<serde_json::Value> = self
            .stacks
            .iter()
            .map(|s| serde_json::json!({ "stack": s.name, "apply": s.apply, "lane": s.lane }))
            .collect();
        serde_json::json!({ "include": include })
    }

    /// The human form: one summary line, then a table of the affected stacks with their reasons.
    pub fn render(&self) -> String {
        let files = self.changed_files.len();
        let range = format!("{}...{} (merge base {})", self.base.rev, self.head.rev, short(&self.merge_base));
        let mut out = String::new();
        if self.stacks.is_empty() {
            let _ = writeln!(out, "no stack affected by {files} changed file{} in {range}", plural(files));
            return out;
        }
        let _ = writeln!(
            out,
            "{} stack{} affected by {files} changed file{} in {range}",
            self.stacks.len(),
            plural(self.stacks.len()),
            plural(files)
        );
        let rows: Vec<Vec<String>> = self
            .stacks
            .iter()
            .map(|s| {
                vec![
                    s.name.clone(),
                    s.apply.to_string(),
                    s.lane.clone().unwrap_or_else(|| "-".into()),
                    s.reasons.iter().map(Reason::label).collect::<Vec<_>>().join(", "),
                ]
            })
            .collect();
        out.push_str(&ui::table(&["stack", "apply", "lane", "reasons"], &rows));
        out
    }
}

fn short(commit: &str) -> &str {
    commit.get(..12).unwrap_or(commit)
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places() {
        let dirs = vec!["stacks/a".to_string(), "stacks/ab".to_string()];
        assert_eq!(place(b"stacks/contract.json", &dirs), Place::Contract);
        assert_eq!(place(b"stacks/schema/stack.schema.json", &dirs), Place::Contract);
        assert_eq!(place(b"flake.lock", &dirs), Place::Pins);
        assert_eq!(place(b"nix/tofu.nix", &dirs), Place::Pins);
        assert_eq!(place(b"flake.nix", &dirs), Place::Elsewhere);
        assert_eq!(place(b"stacks/ab/main.tf", &dirs), Place::Stack(1));
        assert_eq!(place(b"stacks/a/\xff.txt", &dirs), Place::Stack(0));
        assert_eq!(place(b"stacks/abc/main.tf", &dirs), Place::Elsewhere);
        assert_eq!(place(b"nixos/x", &dirs), Place::Elsewhere);
        assert_eq!(place(b"README.md", &dirs), Place::Elsewhere);
    }

    #[test]
    fn deepest_module_wins_and_own_files_are_not_modules() {
        let reached = vec![
            modules::Reached { dir: "modules/app".into(), via: vec![] },
            modules::Reached { dir: "modules/app/labels".into(), via: vec!["modules/app".into()] },
        ];
        let files: Vec<&[u8]> =
            vec![b"modules/app/labels/main.tf", b"modules/app/x.tf", b"stacks/a/main.tf", b"modules/other/y.tf"];
        let got = module_reasons_for("stacks/a", &reached, &files);
        assert_eq!(
            got,
            [
                Reason::Module { path: "modules/app".into(), via: vec![], files: vec!["modules/app/x.tf".into()] },
                Reason::Module {
                    path: "modules/app/labels".into(),
                    via: vec!["modules/app".into()],
                    files: vec!["modules/app/labels/main.tf".into()]
                },
            ]
        );
        assert_eq!(got[1].label(), "module `modules/app/labels` via `modules/app`");
    }
}
