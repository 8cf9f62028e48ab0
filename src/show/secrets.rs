//! Masking: the values known to be sensitive anywhere in the plan, masked wherever they show.

use serde_json::Value;

use super::Shown;

/// Values known to be sensitive anywhere in the plan: the values of `sensitive` variables and every
/// value under a sensitive marker. tofu does not always carry a marker to attributes derived from a
/// sensitive value (`terraform_data.output` from a sensitive `input` is one case), so any shown
/// value holding one of these is masked too.
pub(super) struct Secrets(Vec<String>);

impl Secrets {
    /// Shorter values are not worth masking by value (they would mask `true`, `1`, `ok`…).
    const MIN_LEN: usize = 4;

    pub(super) fn of(plan: &Value) -> Self {
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

    pub(super) fn mask(&self, shown: &mut Shown) {
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
