//! From the JSON of `gf drift`'s two plans (`tofu show -json`) to its two answers: `pending`
//! (desired vs managed) and `drift` (managed vs observed), each with the addresses that differ.
//!
//! - `pending`: every resource the normal plan would change (`resource_changes`: create, update,
//!   delete, replace, forget, an import or a move), and every output it changes that the refresh
//!   does not explain.
//! - `drift`: every resource the refresh-only plan found changed outside tofu (`resource_drift`),
//!   and every output of the state the refresh updates *only* because observed objects changed:
//!   its expression reads nothing but objects that changed when refreshed (a drifted resource or a
//!   data source whose result changed, from `resource_drift` and `relevant_attributes`). An output
//!   the state does not have yet (or no longer has) is the configuration's doing: `pending`.
//!
//! A refresh-only plan re-evaluates outputs with the *current* configuration, so an output whose
//! variable was edited changes there too: that is why its references decide, not the plan it
//! shows up in. An output reading anything else (a variable, a local, a module output, a
//! constant) is not explained by drift and stays `pending` when the normal plan changes it.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One comparison's answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Diff {
    /// Whether anything differs.
    pub changed: bool,
    /// What differs: resource addresses, then `output.<name>`, each sorted.
    pub addresses: Vec<String>,
    /// Set when tofu reported changes (`-detailed-exitcode` 2) its plan JSON names no address for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Both answers for one stack.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Comparison {
    /// Desired vs managed.
    pub pending: Diff,
    /// Managed vs observed.
    pub drift: Diff,
}

/// The parts of `tofu show -json <plan>` the comparison reads.
#[derive(Debug, Default, Deserialize)]
pub struct PlanJson {
    #[serde(default)]
    resource_changes: Vec<ResourceChange>,
    #[serde(default)]
    resource_drift: Vec<ResourceChange>,
    #[serde(default)]
    output_changes: BTreeMap<String, OutputChange>,
    #[serde(default)]
    relevant_attributes: Vec<RelevantAttribute>,
    #[serde(default)]
    configuration: Configuration,
}

#[derive(Debug, Deserialize)]
struct ResourceChange {
    address: String,
    #[serde(default)]
    mode: Option<String>,
    #[serde(default)]
    previous_address: Option<String>,
    change: Change,
}

#[derive(Debug, Deserialize)]
struct Change {
    #[serde(default)]
    actions: Vec<String>,
    #[serde(default)]
    importing: Option<Value>,
}

#[derive(Debug, Deserialize)]
struct OutputChange {
    #[serde(default)]
    actions: Vec<String>,
    #[serde(default)]
    after: Value,
    #[serde(default)]
    after_unknown: Value,
}

#[derive(Debug, Deserialize)]
struct RelevantAttribute {
    resource: String,
}

#[derive(Debug, Default, Deserialize)]
struct Configuration {
    #[serde(default)]
    root_module: RootModule,
}

#[derive(Debug, Default, Deserialize)]
struct RootModule {
    #[serde(default)]
    outputs: BTreeMap<String, OutputConfig>,
}

#[derive(Debug, Default, Deserialize)]
struct OutputConfig {
    #[serde(default)]
    expression: Expression,
}

#[derive(Debug, Default, Deserialize)]
struct Expression {
    #[serde(default)]
    references: Vec<String>,
}

impl PlanJson {
    /// Parse `tofu show -json` output.
    pub fn parse(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(bytes)
    }

    /// Whether the plan JSON names any change at all (resources or outputs).
    fn names_any_change(&self) -> bool {
        self.resource_changes.iter().any(|r| resource_changes(r, true))
            || self.resource_drift.iter().any(|r| resource_changes(r, false))
            || self.output_changes.values().any(OutputChange::changes)
    }
}

fn is_noop(actions: &[String]) -> bool {
    actions.iter().all(|a| a == "no-op" || a == "read")
}

/// Whether a resource entry is a change: an action other than `no-op`/`read` on a managed
/// resource, or (`planned`) an import or a move, which change the state without an action.
fn resource_changes(r: &ResourceChange, planned: bool) -> bool {
    if r.mode.as_deref() == Some("data") {
        return false;
    }
    if !is_noop(&r.change.actions) {
        return true;
    }
    planned && (r.change.importing.is_some() || r.previous_address.as_deref().is_some_and(|p| p != r.address))
}

impl OutputChange {
    fn changes(&self) -> bool {
        !is_noop(&self.actions)
    }

    /// An update of an output the state has: only such a change can come from observed data (a
    /// created or deleted output is the configuration's doing).
    fn updates(&self) -> bool {
        self.actions.iter().all(|a| a == "update") && !self.actions.is_empty()
    }

    fn after_known(&self) -> bool {
        matches!(self.after_unknown, Value::Null | Value::Bool(false))
    }
}

/// Whether reference `r` (e.g. `data.terraform_remote_state.up.outputs.value`) reads object `d`
/// (e.g. `data.terraform_remote_state.up`, or `terraform_data.x[0]` for a reference to the whole
/// counted resource `terraform_data.x`).
fn reads(r: &str, d: &str) -> bool {
    let within = |long: &str, short: &str| {
        long.strip_prefix(short).is_some_and(|rest| rest.is_empty() || rest.starts_with('.') || rest.starts_with('['))
    };
    within(r, d) || within(d, r)
}

/// References that name nothing the state or the world could change.
fn neutral(r: &str) -> bool {
    r.starts_with("path.") || r.starts_with("terraform.")
}

/// Compare the two plans: `pending_plan` (normal, exit code `pending_code`) and `refresh_plan`
/// (`-refresh-only`), each `-detailed-exitcode`.
pub fn compare(pending_plan: &PlanJson, pending_code: i32, refresh_plan: &PlanJson) -> Comparison {
    let drifted: BTreeSet<String> =
        refresh_plan.resource_drift.iter().filter(|r| resource_changes(r, false)).map(|r| r.address.clone()).collect();
    // Objects whose refreshed value differs: drifted resources and data sources that read anew.
    let observed: BTreeSet<&str> = drifted
        .iter()
        .map(String::as_str)
        .chain(refresh_plan.relevant_attributes.iter().map(|a| a.resource.as_str()))
        .collect();
    let explained = |name: &str| {
        let refs = pending_plan
            .configuration
            .root_module
            .outputs
            .get(name)
            .or_else(|| refresh_plan.configuration.root_module.outputs.get(name))
            .map(|o| o.expression.references.as_slice())
            .unwrap_or_default();
        let real: Vec<&String> = refs.iter().filter(|r| !neutral(r)).collect();
        !real.is_empty() && real.iter().all(|r| observed.iter().any(|d| reads(r, d)))
    };
    let mut pending: BTreeSet<String> =
        pending_plan.resource_changes.iter().filter(|r| resource_changes(r, true)).map(|r| r.address.clone()).collect();
    let mut drift = drifted.clone();
    let names: BTreeSet<&String> =
        pending_plan.output_changes.keys().chain(refresh_plan.output_changes.keys()).collect();
    let (mut pending_out, mut drift_out) = (Vec::new(), Vec::new());
    for name in names {
        let normal = pending_plan.output_changes.get(name.as_str());
        let refreshed = refresh_plan.output_changes.get(name.as_str());
        let n_changed = normal.is_some_and(OutputChange::changes);
        let r_changed = refreshed.is_some_and(OutputChange::changes);
        let by_refresh = r_changed && refreshed.is_some_and(OutputChange::updates) && explained(name);
        // The normal plan ends where the refresh ends: nothing beyond the refresh changes it.
        let same_end = matches!((normal, refreshed), (Some(n), Some(r)) if n.after_known() && n.after == r.after);
        if by_refresh || (r_changed && !n_changed) {
            drift_out.push(format!("output.{name}"));
        }
        if n_changed && !(by_refresh && same_end) {
            pending_out.push(format!("output.{name}"));
        }
    }
    // The normal plan's exit code is the authority on "something changed"; the JSON says what.
    // The refresh-only plan has none (see `argv::drift_plan`): its JSON decides alone.
    let finish = |resources: &mut BTreeSet<String>, outputs: Vec<String>, code: Option<i32>, plan: &PlanJson| {
        let mut addresses: Vec<String> = std::mem::take(resources).into_iter().collect();
        addresses.extend(outputs);
        let unattributed = code == Some(2) && !plan.names_any_change();
        Diff {
            changed: !addresses.is_empty() || unattributed,
            note: unattributed.then(|| {
                "tofu reports changes (`-detailed-exitcode` 2) that its plan JSON names no resource or output for"
                    .into()
            }),
            addresses,
        }
    };
    Comparison {
        pending: finish(&mut pending, pending_out, Some(pending_code), pending_plan),
        drift: finish(&mut drift, drift_out, None, refresh_plan),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn plan(v: &Value) -> PlanJson {
        serde_json::from_value(v.clone()).unwrap()
    }

    fn out(actions: &str, before: &Value, after: &Value) -> Value {
        json!({ "actions": [actions], "before": before, "after": after, "after_unknown": false })
    }

    /// The downstream stack of the integration test: `seen` reads another stack's state, `label`
    /// a variable, `label2` a resource the variable changes.
    fn config() -> Value {
        json!({ "root_module": { "outputs": {
            "seen": { "expression": { "references": [
                "data.terraform_remote_state.up.outputs.value", "data.terraform_remote_state.up.outputs",
                "data.terraform_remote_state.up"] } },
            "label": { "expression": { "references": ["var.label"] } },
            "label2": { "expression": { "references": ["terraform_data.label.output", "terraform_data.label"] } },
            "mixed": { "expression": { "references": ["var.label", "data.terraform_remote_state.up.outputs.value"] } },
            "constant": { "expression": {} }
        } } })
    }

    fn rc(address: &str, actions: &[&str]) -> Value {
        json!({ "address": address, "mode": "managed", "change": { "actions": actions } })
    }

    #[test]
    fn nothing_differs_when_both_plans_are_no_ops() {
        let p = plan(&json!({
            "resource_changes": [rc("terraform_data.label", &["no-op"])],
            "output_changes": { "seen": out("no-op", &json!("one"), &json!("one")) },
            "configuration": config()
        }));
        let c = compare(&p, 0, &plan(&json!({ "configuration": config() })));
        assert_eq!(c, Comparison::default());
    }

    #[test]
    fn an_output_that_changes_only_because_a_data_source_changed_is_drift() {
        let seen = out("update", &json!("one"), &json!("two"));
        let normal = plan(&json!({
            "resource_changes": [rc("terraform_data.label", &["no-op"])],
            "output_changes": { "seen": seen, "label": out("no-op", &json!("a"), &json!("a")) },
            "relevant_attributes": [{ "resource": "data.terraform_remote_state.up", "attribute": ["outputs", "value"] }],
            "configuration": config()
        }));
        let refresh = plan(&json!({
            "output_changes": { "seen": seen, "label": out("no-op", &json!("a"), &json!("a")) },
            "relevant_attributes": [{ "resource": "data.terraform_remote_state.up", "attribute": ["outputs", "value"] }],
            "configuration": config()
        }));
        let c = compare(&normal, 2, &refresh);
        assert_eq!(c.drift, Diff { changed: true, addresses: vec!["output.seen".into()], note: None });
        assert_eq!(c.pending, Diff::default(), "the normal plan's exit 2 is explained by the refresh");
    }

    #[test]
    fn an_edited_variable_is_pending_even_though_the_refresh_only_plan_shows_its_output() {
        // What terraform 1.11 prints: refresh-only plans evaluate outputs with the new config.
        let normal = plan(&json!({
            "resource_changes": [rc("terraform_data.label", &["update"])],
            "output_changes": {
                "label": out("update", &json!("a"), &json!("b")),
                "label2": { "actions": ["update"], "before": "a", "after": null, "after_unknown": true },
                "seen": out("no-op", &json!("one"), &json!("one"))
            },
            "configuration": config()
        }));
        let refresh = plan(&json!({
            "output_changes": {
                "label": out("update", &json!("a"), &json!("b")),
                "label2": out("no-op", &json!("a"), &json!("a"))
            },
            "configuration": config()
        }));
        let c = compare(&normal, 2, &refresh);
        assert_eq!(c.pending.addresses, ["terraform_data.label", "output.label", "output.label2"]);
        assert!(c.pending.changed);
        assert_eq!(c.drift, Diff::default(), "no observed object changed: the refresh's exit 2 is the new config");
    }

    #[test]
    fn both_at_once_keep_their_own_sides_and_a_mixed_output_is_pending() {
        let relevant = json!([{ "resource": "data.terraform_remote_state.up", "attribute": ["outputs", "value"] }]);
        let normal = plan(&json!({
            "resource_changes": [rc("terraform_data.label", &["update"])],
            "output_changes": {
                "label": out("update", &json!("a"), &json!("b")),
                "seen": out("update", &json!("one"), &json!("two")),
                "mixed": out("update", &json!("a-one"), &json!("b-two")),
                "constant": out("update", &json!(1), &json!(2))
            },
            "relevant_attributes": relevant,
            "configuration": config()
        }));
        let refresh = plan(&json!({
            "output_changes": {
                "label": out("update", &json!("a"), &json!("b")),
                "seen": out("update", &json!("one"), &json!("two")),
                "mixed": out("update", &json!("a-one"), &json!("b-two")),
                "constant": out("update", &json!(1), &json!(2))
            },
            "relevant_attributes": relevant,
            "configuration": config()
        }));
        let c = compare(&normal, 2, &refresh);
        assert_eq!(
            c.pending.addresses,
            ["terraform_data.label", "output.constant", "output.label", "output.mixed"],
            "a constant or a variable is never explained by drift"
        );
        assert_eq!(c.drift.addresses, ["output.seen"]);
    }

    #[test]
    fn a_resource_changed_outside_tofu_is_drift_and_its_revert_is_pending() {
        let config = json!({ "root_module": { "outputs": {
            "id": { "expression": { "references": ["terraform_data.x[0].id", "terraform_data.x[0]", "terraform_data.x"] } }
        } } });
        let drift = json!([{ "address": "terraform_data.x[0]", "mode": "managed", "change": { "actions": ["update"] } },
                           { "address": "data.d.y", "mode": "data", "change": { "actions": ["read"] } }]);
        let normal = plan(&json!({
            "resource_drift": drift,
            "resource_changes": [rc("terraform_data.x[0]", &["update"]), rc("terraform_data.gone", &["delete"]),
                                 rc("terraform_data.new", &["create"]), rc("terraform_data.swap", &["delete", "create"]),
                                 { "address": "data.d.y", "mode": "data", "change": { "actions": ["read"] } }],
            "output_changes": { "id": out("update", &json!("old"), &json!("drifted")) },
            "configuration": config
        }));
        let refresh = plan(&json!({
            "resource_drift": drift,
            "output_changes": { "id": out("update", &json!("old"), &json!("drifted")) },
            "configuration": config
        }));
        let c = compare(&normal, 2, &refresh);
        assert_eq!(c.drift.addresses, ["terraform_data.x[0]", "output.id"]);
        assert_eq!(
            c.pending.addresses,
            ["terraform_data.gone", "terraform_data.new", "terraform_data.swap", "terraform_data.x[0]"],
            "a data source read is no change; the normal plan reverting the drift is pending"
        );
    }

    #[test]
    fn an_output_the_plan_changes_beyond_the_refresh_is_both() {
        let config = json!({ "root_module": { "outputs": {
            "id": { "expression": { "references": ["terraform_data.x"] } } } } });
        let drift = json!([{ "address": "terraform_data.x", "mode": "managed", "change": { "actions": ["update"] } }]);
        let normal = plan(&json!({
            "resource_drift": drift,
            "resource_changes": [rc("terraform_data.x", &["update"])],
            "output_changes": { "id": out("update", &json!("old"), &json!("old")) },
            "configuration": config
        }));
        let refresh = plan(&json!({
            "resource_drift": drift,
            "output_changes": { "id": out("update", &json!("old"), &json!("drifted")) },
            "configuration": config
        }));
        let c = compare(&normal, 2, &refresh);
        assert_eq!(c.drift.addresses, ["terraform_data.x", "output.id"]);
        assert_eq!(c.pending.addresses, ["terraform_data.x", "output.id"]);
    }

    #[test]
    fn an_output_the_state_does_not_have_yet_is_pending_even_when_it_reads_data() {
        // A first plan (or a new output): the state has no value the refresh could have changed.
        let relevant = json!([{ "resource": "data.terraform_remote_state.up", "attribute": ["outputs", "value"] }]);
        let created = json!({ "actions": ["create"], "before": null, "after": "two", "after_unknown": false });
        let normal = plan(
            &json!({ "output_changes": { "seen": created }, "relevant_attributes": relevant, "configuration": config() }),
        );
        let refresh = plan(
            &json!({ "output_changes": { "seen": created }, "relevant_attributes": relevant, "configuration": config() }),
        );
        let c = compare(&normal, 2, &refresh);
        assert_eq!(c.pending.addresses, ["output.seen"]);
        assert_eq!(c.drift, Diff::default());
    }

    #[test]
    fn imports_moves_and_forgets_are_pending_changes() {
        let normal = plan(&json!({ "resource_changes": [
            { "address": "a.b", "mode": "managed", "change": { "actions": ["no-op"], "importing": { "id": "x" } } },
            { "address": "a.c", "previous_address": "a.old", "mode": "managed", "change": { "actions": ["no-op"] } },
            { "address": "a.d", "mode": "managed", "change": { "actions": ["forget"] } },
            { "address": "a.e", "mode": "managed", "change": { "actions": ["no-op"] } }
        ] }));
        let c = compare(&normal, 2, &PlanJson::default());
        assert_eq!(c.pending.addresses, ["a.b", "a.c", "a.d"]);
    }

    #[test]
    fn a_normal_plan_exiting_2_without_a_named_change_still_counts() {
        let c = compare(&PlanJson::default(), 2, &PlanJson::default());
        assert!(c.pending.changed, "the normal plan's exit code is believed");
        assert_eq!(c.drift, Diff::default(), "the refresh-only plan's JSON decides alone");
        assert!(c.pending.addresses.is_empty());
        assert!(c.pending.note.as_deref().unwrap().contains("-detailed-exitcode"));
        // An exit 2 explained by a named change carries no note.
        let normal = plan(&json!({ "resource_changes": [rc("a.b", &["create"])] }));
        assert_eq!(compare(&normal, 2, &PlanJson::default()).pending.note, None);
    }

    #[test]
    fn references_match_on_object_boundaries_only() {
        assert!(reads("data.x.y.outputs.value", "data.x.y"));
        assert!(reads("terraform_data.x", "terraform_data.x[0]"));
        assert!(!reads("terraform_data.xy", "terraform_data.x"));
        assert!(!reads("data.x.yz", "data.x.y"));
        assert!(neutral("path.module") && !neutral("var.path"));
    }

    #[test]
    fn reads_real_plan_json() {
        let text = br#"{"format_version":"1.2","terraform_version":"1.11.4","variables":{"label":{"value":"b"}},
            "output_changes":{"label":{"actions":["update"],"before":"a","after":"b","after_unknown":false,
            "before_sensitive":false,"after_sensitive":false}},"applyable":true,"complete":true,"errored":false,
            "configuration":{"root_module":{"outputs":{"label":{"expression":{"references":["var.label"]}}}}}}"#;
        let p = PlanJson::parse(text).unwrap();
        assert!(p.names_any_change());
        assert!(PlanJson::parse(b"not json").is_err());
    }
}
