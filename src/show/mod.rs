//! `gf show <STACK>`: the saved plan as a reviewer reads it — every resource change with its
//! attribute diffs (old → new; sensitive values masked, unknown ones marked, attributes that force
//! a replacement marked), output changes, and the plan's metadata — for a terminal, as JSON, or as
//! Markdown for a pull-request comment or `$GITHUB_STEP_SUMMARY` (under GitHub's 65,536-character
//! comment limit, with a note when cut).
//!
//! The plan comes from `tofu show -json` of `.gf/<env>/<stack>/plan.tfplan` (run by the lifecycle
//! with gf's data folder and credentials). That JSON carries sensitive values in clear: only the
//! views built here, never the raw document, leave this module.

use serde_json::Value;

use crate::lifecycle::SavedPlan;
use changes::{output_change, resource_change};
use secrets::Secrets;

mod changes;
mod diff;
mod model;
mod render;
mod secrets;

pub use model::{Action, AttrChange, Meta, OutputChange, Report, ResourceChange, Shown, Summary};
pub use render::{COMMENT_LIMIT, human, markdown};

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

#[cfg(test)]
mod tests {
    use super::diff::path_of;
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
