//! The ARC scale sets as data: `stacks/<stack>/scale-sets.json`, read by tofu
//! (`jsondecode(file(…))`, one gha-runner-scale-set release per entry) and by gf. A stack with a
//! `lane` drains exactly the `shared` sets of its file and never a `lane` set.

use std::collections::BTreeSet;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::contract::{Finding, Stack, line_of_key};

/// File name of the scale-set data, inside `stacks/<stack>/`.
pub const FILE: &str = "scale-sets.json";

/// The longest runner scale set name gha-runner-scale-set accepts (`runnerScaleSetName`).
pub const MAX_NAME: usize = 45;

/// Whether the heavy Nix lane drains a set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// A shared runner set: drained before the ARC apply.
    Shared,
    /// The heavy Nix lane's own set: the ARC apply runs on it; never drained.
    Lane,
}

/// How jobs run on a set's runners (the chart's `containerMode.type`, or none).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ContainerMode {
    /// Jobs run in the runner container.
    None,
    /// A Docker daemon sidecar (Docker-in-Docker).
    Dind,
    /// Job containers as their own pods (the Kubernetes container hooks).
    Kubernetes,
}

/// One entry of `scale-sets.json`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ScaleSet {
    /// The runner label, release name and AutoscalingRunnerSet name.
    pub name: String,
    /// Shared (drained) or lane.
    pub role: Role,
    /// What the set is for.
    pub purpose: String,
    /// How jobs run.
    pub container_mode: ContainerMode,
    /// `minRunners`.
    pub min_runners: u32,
    /// `maxRunners`.
    pub max_runners: u32,
    /// CPU request of a runner.
    pub cpu: String,
    /// Memory request (and limit) of a runner.
    pub memory: String,
    /// Runner image, when not the stack's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
}

fn valid_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= MAX_NAME
        && b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

/// Read `scale-sets.json` of a stack folder; `Ok(None)` when there is none.
pub fn load(root: &Path, dir: &Path) -> Result<Option<Vec<ScaleSet>>, Finding> {
    let path = dir.join(FILE);
    let rel = crate::sources::rel(root, &path);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Finding::error("scale-sets", Some(&rel), None, format!("cannot read: {e}"))),
    };
    serde_json::from_str(&text).map(Some).map_err(|e| Finding {
        column: Some(e.column()),
        ..Finding::error("scale-sets", Some(&rel), Some(e.line()), format!("not a list of scale sets: {e}"))
    })
}

/// Every finding of a stack's scale-set file against itself and against the stack's `lane`.
pub fn findings(root: &Path, stack: &Stack) -> Vec<Finding> {
    let file = format!("stacks/{}/{FILE}", stack.name);
    let sets = match load(root, &stack.dir) {
        Err(f) => return vec![f],
        Ok(None) if stack.lane.is_some() => {
            return vec![Finding::error(
                "scale-sets",
                Some(&stack.manifest),
                line_of_key(&read(root, &stack.manifest), "lane"),
                format!(
                    "stack `{}` has a `lane` but no `{file}`: the drain list must be the file's `shared` sets",
                    stack.name
                ),
            )];
        }
        Ok(None) => return Vec::new(),
        Ok(Some(s)) => s,
    };
    let text = read(root, &file);
    let at = |name: &str| line_of_value(&text, name);
    let mut out = Vec::new();
    let mut seen = BTreeSet::new();
    for s in &sets {
        if !valid_name(&s.name) {
            out.push(Finding::error(
                "scale-sets",
                Some(&file),
                at(&s.name),
                format!(
                    "scale set name `{}` must be a lowercase DNS label of at most {MAX_NAME} characters (gha-runner-scale-set's `runnerScaleSetName`)",
                    s.name
                ),
            ));
        }
        if !seen.insert(s.name.as_str()) {
            out.push(Finding::error(
                "scale-sets",
                Some(&file),
                at(&s.name),
                format!("scale set `{}` is listed twice", s.name),
            ));
        }
        if s.max_runners < s.min_runners {
            out.push(Finding::error(
                "scale-sets",
                Some(&file),
                at(&s.name),
                format!(
                    "scale set `{}` has max_runners {} < min_runners {}: ARC refuses such a listener config",
                    s.name, s.max_runners, s.min_runners
                ),
            ));
        }
    }
    let Some(lane) = &stack.lane else { return out };
    let manifest = read(root, &stack.manifest);
    let drain_line = line_of_key(&manifest, "scale_sets");
    let drained: BTreeSet<&str> = lane.drain.scale_sets.iter().map(String::as_str).collect();
    let shared: BTreeSet<&str> = sets.iter().filter(|s| s.role == Role::Shared).map(|s| s.name.as_str()).collect();
    let lanes: BTreeSet<&str> = sets.iter().filter(|s| s.role == Role::Lane).map(|s| s.name.as_str()).collect();
    if lanes.is_empty() {
        out.push(Finding::error(
            "lane-sets",
            Some(&file),
            None,
            format!(
                "`{file}` has no `lane` set: the heavy Nix lane `{}` needs a set of its own to run the apply on",
                lane.name
            ),
        ));
    }
    for name in drained.intersection(&lanes) {
        out.push(Finding::error(
            "lane-sets",
            Some(&stack.manifest),
            drain_line,
            format!("`lane.drain.scale_sets` drains `{name}`, a `lane` set: the apply runs there and would cut its own listener"),
        ));
    }
    let unknown: Vec<&&str> = drained.difference(&shared).filter(|n| !lanes.contains(**n)).collect();
    if !unknown.is_empty() {
        out.push(Finding::error(
            "lane-sets",
            Some(&stack.manifest),
            drain_line,
            format!("`lane.drain.scale_sets` names {} but `{file}` has no such `shared` set", names(&unknown)),
        ));
    }
    let undrained: Vec<&&str> = shared.difference(&drained).collect();
    if !undrained.is_empty() {
        out.push(Finding::error(
            "lane-sets",
            Some(&stack.manifest),
            drain_line,
            format!(
                "`lane.drain.scale_sets` leaves out the shared set{} {} of `{file}`: an ARC apply would recreate {} listener{} while {} run jobs",
                plural(undrained.len()),
                names(&undrained),
                if undrained.len() == 1 { "its" } else { "their" },
                plural(undrained.len()),
                if undrained.len() == 1 { "it may" } else { "they may" },
            ),
        ));
    }
    if !stack.namespaces.contains(&lane.drain.namespace) {
        out.push(Finding::error(
            "lane-sets",
            Some(&stack.manifest),
            line_of_key(&manifest, "namespace"),
            format!(
                "`lane.drain.namespace` `{}` is not a namespace of stack `{}` ({}): the sets it creates are not there",
                lane.drain.namespace,
                stack.name,
                stack.namespaces.join(", ")
            ),
        ));
    }
    out
}

fn names(list: &[&&str]) -> String {
    list.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn read(root: &Path, rel: &str) -> String {
    std::fs::read_to_string(root.join(rel)).unwrap_or_default()
}

/// 1-based line of the first `"name": "<value>"` in `text`.
fn line_of_value(text: &str, value: &str) -> Option<usize> {
    let needle = format!("\"{value}\"");
    text.lines().position(|l| l.contains("\"name\"") && l.contains(&needle)).map(|i| i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_chart_limits() {
        assert!(valid_name("tinyland-nix"));
        assert!(valid_name(&"a".repeat(45)));
        assert!(!valid_name(&"a".repeat(46)));
        assert!(!valid_name("Tinyland"));
        assert!(!valid_name("-x"));
        assert!(!valid_name("x-"));
        assert!(!valid_name("a_b"));
        assert!(!valid_name(""));
    }

    #[test]
    fn entries_are_strict() {
        let e = serde_json::from_str::<Vec<ScaleSet>>(
            r#"[{"name":"a","role":"shared","purpose":"","container_mode":"none","min_runners":0,"max_runners":1,"cpu":"1","memory":"1Gi","maxRunners":2}]"#,
        )
        .unwrap_err();
        assert!(e.to_string().contains("unknown field `maxRunners`"), "{e}");
        let e = serde_json::from_str::<Vec<ScaleSet>>(
            r#"[{"name":"a","role":"drained","purpose":"","container_mode":"none","min_runners":0,"max_runners":1,"cpu":"1","memory":"1Gi"}]"#,
        )
        .unwrap_err();
        assert!(e.to_string().contains("unknown variant `drained`"), "{e}");
    }
}
