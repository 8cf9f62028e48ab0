//! tofu's `resource_changes` and `output_changes` read into the report's changes.

use serde_json::Value;

use super::diff::{Sides, is_marked, path_of};
use super::{Action, AttrChange, OutputChange, ResourceChange, Shown};

pub(super) fn resource_change(rc: &Value) -> Option<ResourceChange> {
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

pub(super) fn output_change(name: &str, c: &Value) -> Option<OutputChange> {
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
