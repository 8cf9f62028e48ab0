//! `gf show <STACK>`: the saved plan as a reviewer reads it — every resource change with its
//! attribute diffs (old → new; sensitive values masked, unknown ones marked, attributes that force
//! a replacement marked), output changes, and the plan's metadata — for a terminal, as JSON, or as
//! Markdown for a pull-request comment or `$GITHUB_STEP_SUMMARY` (under GitHub's 65,536-character
//! comment limit, with a note when cut).
//!
//! The plan comes from `tofu show -json` of `.gf/<env>/<stack>/plan.tfplan` (run by the lifecycle
//! with gf's data folder and credentials). That JSON carries sensitive values in clear: only the
//! views built here, never the raw document, leave this module.

use serde::Serialize;
use serde_json::Value;

use crate::lifecycle::SavedPlan;
use diff::{Sides, is_marked, path_of};

mod diff;
mod render;

pub use render::{COMMENT_LIMIT, human, markdown};

/// What happens to a resource or an output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// `create`.
    Create,
    /// `update` in place.
    Update,
    /// `delete` then `create` (or the other way round): a replacement.
    Replace,
    /// `delete`.
    Delete,
    /// A data source read.
    Read,
    /// Nothing.
    NoOp,
}

impl Action {
    fn of(actions: &[Value]) -> Self {
        let a: Vec<&str> = actions.iter().filter_map(Value::as_str).collect();
        match a.as_slice() {
            ["create"] => Self::Create,
            ["update"] => Self::Update,
            ["delete"] => Self::Delete,
            ["read"] => Self::Read,
            ["delete", "create"] | ["create", "delete"] => Self::Replace,
            _ => Self::NoOp,
        }
    }

    fn symbol(self) -> &'static str {
        match self {
            Self::Create => "+",
            Self::Update => "~",
            Self::Replace => "-/+",
            Self::Delete => "-",
            Self::Read => "<=",
            Self::NoOp => " ",
        }
    }

    fn word(self) -> &'static str {
        match self {
            Self::Create => "create",
            Self::Update => "update",
            Self::Replace => "replace",
            Self::Delete => "delete",
            Self::Read => "read",
            Self::NoOp => "no-op",
        }
    }
}

/// One side of an attribute: its value, or why it is not shown.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", content = "value", rename_all = "kebab-case")]
pub enum Shown {
    /// The value (JSON).
    Value(Value),
    /// Marked sensitive: never shown.
    Sensitive,
    /// Known only after apply.
    Unknown,
    /// Absent on this side.
    Absent,
}

impl Shown {
    fn text(&self) -> String {
        match self {
            Self::Value(v) => v.to_string(),
            Self::Sensitive => "(sensitive)".into(),
            Self::Unknown => "(known after apply)".into(),
            Self::Absent => "(none)".into(),
        }
    }
}

/// One attribute that differs.
#[derive(Debug, Clone, Serialize)]
pub struct AttrChange {
    /// `spec.replicas`, `tags["a"]`, `list[0]`.
    pub path: String,
    /// Before.
    pub before: Shown,
    /// After.
    pub after: Shown,
    /// Changing it forces the resource to be replaced.
    pub forces_replacement: bool,
}

/// One resource that changes.
#[derive(Debug, Clone, Serialize)]
pub struct ResourceChange {
    /// `module.x.kubernetes_namespace.this`.
    pub address: String,
    /// What happens.
    pub action: Action,
    /// Why tofu replaces it, when it says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The attributes that differ (all of them for a create or delete).
    pub attributes: Vec<AttrChange>,
}

/// One output that changes.
#[derive(Debug, Clone, Serialize)]
pub struct OutputChange {
    /// Output name.
    pub name: String,
    /// What happens.
    pub action: Action,
    /// Before.
    pub before: Shown,
    /// After.
    pub after: Shown,
}

/// Counts, as tofu's summary line gives them.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Summary {
    /// To add (replacements included).
    pub add: usize,
    /// To change in place.
    pub change: usize,
    /// To destroy (replacements included).
    pub destroy: usize,
    /// Of those, replacements.
    pub replace: usize,
}

/// The plan's metadata, as a reviewer needs it.
#[derive(Debug, Clone, Serialize)]
pub struct Meta {
    /// Stack.
    pub stack: String,
    /// Environment.
    pub env: String,
    /// When the plan was made (RFC 3339).
    pub created: String,
    /// How long ago, human-readable.
    pub age: Option<String>,
    /// The state serial it was made against (null: no state yet).
    pub state_serial: Option<u64>,
    /// `git rev-parse HEAD` at plan time.
    pub git_revision: Option<String>,
    /// tofu version.
    pub tofu_version: String,
    /// A destroy plan.
    pub destroy: bool,
    /// Why `gf apply` would refuse it now, if it would.
    pub stale: Option<String>,
}

/// Everything `gf show` prints.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The plan's metadata.
    pub meta: Meta,
    /// Counts.
    pub summary: Summary,
    /// Resource changes (no-ops left out).
    pub resources: Vec<ResourceChange>,
    /// Output changes (no-ops left out).
    pub outputs: Vec<OutputChange>,
}

/// Build the report from a saved plan.
pub fn report(plan: &SavedPlan) -> Report {
    let m = &plan.meta;
    let age = humantime::parse_rfc3339(&m.created)
        .ok()
        .and_then(|t| std::time::SystemTime::now().duration_since(t).ok())
        .map(|d| humantime::format_duration(std::time::Duration::from_secs(d.as_secs())).to_string());
    let meta = Meta {
        stack: m.stack.clone(),
        env: m.env.clone(),
        created: m.created.clone(),
        age,
        state_serial: m.state.serial,
        git_revision: m.git_revision.clone(),
        tofu_version: m.tofu_version.clone(),
        destroy: m.destroy,
        stale: plan.stale.clone(),
    };
    let secrets = Secrets::of(&plan.json);
    let mut resources: Vec<ResourceChange> = plan
        .json
        .get("resource_changes")
        .and_then(Value::as_array)
        .map(|rc| rc.iter().filter_map(resource_change).collect())
        .unwrap_or_default();
    let mut outputs: Vec<OutputChange> = plan
        .json
        .get("output_changes")
        .and_then(Value::as_object)
        .map(|o| o.iter().filter_map(|(name, c)| output_change(name, c)).collect())
        .unwrap_or_default();
    for a in resources.iter_mut().flat_map(|r| r.attributes.iter_mut()) {
        secrets.mask(&mut a.before);
        secrets.mask(&mut a.after);
    }
    for o in &mut outputs {
        secrets.mask(&mut o.before);
        secrets.mask(&mut o.after);
    }
    let mut summary = Summary::default();
    for r in &resources {
        match r.action {
            Action::Create => summary.add += 1,
            Action::Update => summary.change += 1,
            Action::Delete => summary.destroy += 1,
            Action::Replace => {
                summary.add += 1;
                summary.destroy += 1;
                summary.replace += 1;
            }
            Action::Read | Action::NoOp => {}
        }
    }
    Report { meta, summary, resources, outputs }
}

/// Values known to be sensitive anywhere in the plan: the values of `sensitive` variables and every
/// value under a sensitive marker. tofu does not always carry a marker to attributes derived from a
/// sensitive value (`terraform_data.output` from a sensitive `input` is one case), so any shown
/// value holding one of these is masked too.
struct Secrets(Vec<String>);

impl Secrets {
    /// Shorter values are not worth masking by value (they would mask `true`, `1`, `ok`…).
    const MIN_LEN: usize = 4;

    fn of(plan: &Value) -> Self {
        let mut found = Vec::new();
        if let (Some(vars), Some(config)) = (
            plan.get("variables").and_then(Value::as_object),
            plan.pointer("/configuration/root_module/variables").and_then(Value::as_object),
        ) {
            for (name, v) in vars {
                if config.get(name).and_then(|c| c.get("sensitive")).and_then(Value::as_bool) == Some(true) {
                    collect_all(v.get("value").unwrap_or(&Value::Null), &mut found);
                }
            }
        }
        let changes = plan.get("resource_changes").and_then(Value::as_array).into_iter().flatten();
        let outputs = plan.get("output_changes").and_then(Value::as_object).into_iter().flat_map(|m| m.values());
        for c in changes.filter_map(|rc| rc.get("change")).chain(outputs) {
            for (value, marker) in [("before", "before_sensitive"), ("after", "after_sensitive")] {
                if let (Some(v), Some(m)) = (c.get(value), c.get(marker)) {
                    collect_marked(v, m, &mut found);
                }
            }
        }
        found.retain(|s| s.chars().count() >= Self::MIN_LEN);
        found.sort();
        found.dedup();
        Self(found)
    }

    fn mask(&self, shown: &mut Shown) {
        if let Shown::Value(v) = shown {
            let text = v.to_string();
            if self.0.iter().any(|secret| text.contains(secret.as_str())) {
                *shown = Shown::Sensitive;
            }
        }
    }
}

/// Every scalar inside `v`, as text.
fn collect_all(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => m.values().for_each(|x| collect_all(x, out)),
        Value::Array(a) => a.iter().for_each(|x| collect_all(x, out)),
        Value::String(s) => out.push(s.clone()),
        Value::Null => {}
        other => out.push(other.to_string()),
    }
}

/// Every scalar of `v` under a `true` of `marker` (same shape).
fn collect_marked(v: &Value, marker: &Value, out: &mut Vec<String>) {
    match (v, marker) {
        (_, Value::Bool(true)) => collect_all(v, out),
        (Value::Object(m), Value::Object(mk)) => {
            for (k, x) in m {
                if let Some(mm) = mk.get(k) {
                    collect_marked(x, mm, out);
                }
            }
        }
        (Value::Array(a), Value::Array(mk)) => {
            for (x, mm) in a.iter().zip(mk) {
                collect_marked(x, mm, out);
            }
        }
        _ => {}
    }
}

fn resource_change(rc: &Value) -> Option<ResourceChange> {
    let change = rc.get("change")?;
    let action = Action::of(change.get("actions")?.as_array()?);
    if action == Action::NoOp {
        return None;
    }
    let replace_paths: Vec<String> = change
        .get("replace_paths")
        .and_then(Value::as_array)
        .map(|ps| ps.iter().filter_map(|p| p.as_array()).map(|p| path_of(p)).collect())
        .unwrap_or_default();
    let sides = Sides {
        before: change.get("before").unwrap_or(&Value::Null),
        after: change.get("after").unwrap_or(&Value::Null),
        before_sensitive: change.get("before_sensitive").unwrap_or(&Value::Bool(false)),
        after_sensitive: change.get("after_sensitive").unwrap_or(&Value::Bool(false)),
        after_unknown: change.get("after_unknown").unwrap_or(&Value::Bool(false)),
    };
    let attributes = sides
        .diff()
        .into_iter()
        .map(|(path, before, after)| {
            let forces_replacement = replace_paths
                .iter()
                .any(|r| path == *r || path.starts_with(&format!("{r}.")) || path.starts_with(&format!("{r}[")));
            AttrChange { path, before, after, forces_replacement }
        })
        .collect();
    Some(ResourceChange {
        address: rc.get("address")?.as_str()?.to_string(),
        action,
        reason: rc.get("action_reason").and_then(Value::as_str).map(str::to_string),
        attributes,
    })
}

fn output_change(name: &str, c: &Value) -> Option<OutputChange> {
    let action = Action::of(c.get("actions")?.as_array()?);
    if action == Action::NoOp {
        return None;
    }
    let side = |v: &str, sens: &str, unknown: Option<&str>| {
        if c.get(sens).is_some_and(is_marked) {
            Shown::Sensitive
        } else if unknown.and_then(|u| c.get(u)).is_some_and(is_marked) {
            Shown::Unknown
        } else {
            match c.get(v) {
                None | Some(Value::Null) => Shown::Absent,
                Some(x) => Shown::Value(x.clone()),
            }
        }
    };
    Some(OutputChange {
        name: name.to_string(),
        action,
        before: side("before", "before_sensitive", None),
        after: side("after", "after_sensitive", Some("after_unknown")),
    })
}

#[cfg(test)]
mod tests {
    use super::render::attr_line;
    use super::*;
    use serde_json::json;

    #[expect(clippy::needless_pass_by_value, reason = "the tests read better with json! literals")]
    fn rc(actions: &[&str], before: Value, after: Value, extra: Value) -> Value {
        let mut change = json!({ "actions": actions, "before": before, "after": after,
            "before_sensitive": false, "after_sensitive": {}, "after_unknown": {} });
        if let (Some(c), Some(e)) = (change.as_object_mut(), extra.as_object()) {
            for (k, v) in e {
                c.insert(k.clone(), v.clone());
            }
        }
        json!({ "address": "terraform_data.x", "change": change })
    }

    #[test]
    fn updates_list_only_changed_attributes_and_mask_sensitive_ones() {
        let c = resource_change(&rc(
            &["update"],
            json!({ "input": "a", "same": 1, "secret": "old-s3cr3t", "tags": { "k": "v" } }),
            json!({ "input": "b", "same": 1, "secret": "new-s3cr3t", "tags": { "k": "w", "n": "x" } }),
            json!({ "before_sensitive": { "secret": true }, "after_sensitive": { "secret": true } }),
        ))
        .unwrap();
        assert_eq!(c.action, Action::Update);
        let lines: Vec<String> = c.attributes.iter().map(attr_line).collect();
        assert_eq!(
            lines,
            ["input: \"a\" → \"b\"", "secret: (sensitive) → (sensitive)", "tags.k: \"v\" → \"w\"", "tags.n = \"x\""]
        );
        let all = format!("{c:?}");
        assert!(!all.contains("s3cr3t"), "a sensitive value leaked: {all}");
    }

    #[test]
    fn replacements_mark_the_attribute_that_forces_them_and_unknowns_are_named() {
        let c = resource_change(&rc(
            &["delete", "create"],
            json!({ "triggers_replace": [1], "id": "i-1", "input": "r" }),
            json!({ "triggers_replace": [2], "id": null, "input": "r" }),
            json!({ "replace_paths": [["triggers_replace"]], "after_unknown": { "id": true } }),
        ))
        .unwrap();
        assert_eq!(c.action, Action::Replace);
        let lines: Vec<String> = c.attributes.iter().map(attr_line).collect();
        assert_eq!(lines, ["id: \"i-1\" → (known after apply)", "triggers_replace[0]: 1 → 2  # forces replacement"]);
    }

    #[test]
    fn values_derived_from_a_secret_are_masked_even_without_a_marker() {
        let plan = json!({
            "variables": { "secret": { "value": "derived-s3cr3t" }, "open": { "value": "hello" } },
            "configuration": { "root_module": { "variables": { "secret": { "sensitive": true }, "open": {} } } },
            "resource_changes": [ rc(&["update"], json!({ "input": "derived-s3cr3t", "output": "derived-s3cr3t", "other": "hello" }),
                json!({ "input": "x", "output": null, "other": "hello2" }),
                json!({ "before_sensitive": { "input": true }, "after_sensitive": { "input": true }, "after_unknown": { "output": true } })) ],
        });
        let saved = SavedPlan {
            meta: serde_json::from_value(json!({
                "stack": "s", "env": "dev", "state_key": "k", "tofu_path": "/t", "tofu_version": "1.10.5",
                "backend_digest": "d", "git_revision": null,
                "state": { "exists": true, "serial": 1, "lineage": "l", "etag": "e" },
                "allow_empty_state": false, "created": "2026-12-01T00:00:00Z", "changes": null
            }))
            .unwrap(),
            stale: None,
            json: plan,
        };
        let r = report(&saved);
        let text = human(&r) + &serde_json::to_string(&r).unwrap() + &markdown(&r, COMMENT_LIMIT);
        assert!(!text.contains("derived-s3cr3t"), "{text}");
        assert!(text.contains("output: (sensitive) → (known after apply)"), "{text}");
        assert!(text.contains("\"hello\" → \"hello2\""), "non-secret values stay: {text}");
    }

    #[test]
    fn no_ops_are_left_out_and_paths_quote_odd_keys() {
        assert!(resource_change(&rc(&["no-op"], json!({}), json!({}), json!({}))).is_none());
        assert_eq!(path_of(&[json!("tags"), json!("a.b"), json!(0)]), "tags[\"a.b\"][0]");
    }

    #[test]
    fn markdown_stays_under_the_limit_and_says_what_it_cut() {
        let resources: Vec<ResourceChange> = (0..400)
            .map(|i| ResourceChange {
                address: format!("terraform_data.item[{i}]"),
                action: Action::Create,
                reason: None,
                attributes: (0..20)
                    .map(|a| AttrChange {
                        path: format!("attr_{a}"),
                        before: Shown::Absent,
                        after: Shown::Value(json!("x".repeat(20))),
                        forces_replacement: false,
                    })
                    .collect(),
            })
            .collect();
        let r = Report {
            meta: Meta {
                stack: "s".into(),
                env: "dev".into(),
                created: "t".into(),
                age: None,
                state_serial: Some(3),
                git_revision: None,
                tofu_version: "1.10.5".into(),
                destroy: false,
                stale: None,
            },
            summary: Summary { add: 400, ..Summary::default() },
            resources,
            outputs: vec![],
        };
        let md = markdown(&r, COMMENT_LIMIT);
        assert!(md.chars().count() <= COMMENT_LIMIT, "{}", md.chars().count());
        assert!(md.contains("more change blocks not shown") && md.contains("`gf show s`"), "{}", &md[md.len() - 300..]);
        assert!(md.contains("<details>"), "long diffs are collapsed");
        let small = markdown(&Report { resources: r.resources[..2].to_vec(), ..r.clone() }, COMMENT_LIMIT);
        assert!(!small.contains("not shown"));
    }
}
