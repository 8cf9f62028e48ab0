//! Human rendering of tofu's `-json` stream, and the per-stack change summary taken from it
//! (`change_summary`): no second tofu run is needed for either.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Resource changes of a plan or apply, from `change_summary`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Changes {
    /// To add / added.
    pub add: u64,
    /// To change / changed.
    pub change: u64,
    /// To destroy / destroyed.
    pub destroy: u64,
    /// To import / imported.
    pub import: u64,
}

impl Changes {
    /// Whether anything changes.
    pub fn any(&self) -> bool {
        self.add + self.change + self.destroy + self.import > 0
    }

    /// `3 to add, 1 to change, 0 to destroy` (plan) or `3 added, 1 changed, 0 destroyed` (apply).
    pub fn describe(&self, applied: bool) -> String {
        let mut s = if applied {
            format!("{} added, {} changed, {} destroyed", self.add, self.change, self.destroy)
        } else {
            format!("{} to add, {} to change, {} to destroy", self.add, self.change, self.destroy)
        };
        if self.import > 0 {
            let _ = write!(s, ", {} {}", self.import, if applied { "imported" } else { "to import" });
        }
        s
    }
}

/// Reads tofu's `-json` lines: turns each into human lines and keeps the summary and errors.
#[derive(Debug, Default)]
pub struct Render {
    /// The last `change_summary`.
    pub changes: Option<Changes>,
    /// Output values that change (plan).
    pub output_changes: u64,
    /// Summaries of error diagnostics, for the error message.
    pub errors: Vec<String>,
}

/// Remove ANSI escape sequences (init prints some even with `-json`).
pub fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            if chars.peek() == Some(&'[') {
                chars.next();
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn symbol(action: &str) -> &'static str {
    match action {
        "create" => "+",
        "update" => "~",
        "delete" | "remove" => "-",
        "replace" => "-/+",
        "read" => "<=",
        "move" => "->",
        "import" => "<-",
        _ => " ",
    }
}

fn str_of<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    path.iter().try_fold(v, |v, k| v.get(k)).and_then(Value::as_str).unwrap_or("")
}

impl Render {
    /// Human lines for one line of tofu's standard output (nothing for lines that only feed the
    /// summary).
    pub fn feed(&mut self, line: &str) -> Vec<String> {
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            let clean = strip_ansi(line);
            return if clean.trim().is_empty() { Vec::new() } else { vec![clean] };
        };
        let msg = str_of(&v, &["@message"]);
        match str_of(&v, &["type"]) {
            "version" | "refresh_start" | "refresh_complete" => Vec::new(),
            "change_summary" => {
                let c = v.get("changes").cloned().unwrap_or(Value::Null);
                let n = |k: &str| c.get(k).and_then(Value::as_u64).unwrap_or(0);
                self.changes =
                    Some(Changes { add: n("add"), change: n("change"), destroy: n("remove"), import: n("import") });
                Vec::new()
            }
            "outputs" => {
                let mut lines = Vec::new();
                if let Some(outputs) = v.get("outputs").and_then(Value::as_object) {
                    for (name, o) in outputs {
                        let action = str_of(o, &["action"]);
                        if !action.is_empty() && action != "noop" {
                            self.output_changes += 1;
                            lines.push(format!("  {} output.{name}: {action}", symbol(action)));
                        }
                    }
                }
                lines
            }
            "planned_change" => {
                let addr = str_of(&v, &["change", "resource", "addr"]);
                let action = str_of(&v, &["change", "action"]);
                vec![format!("  {} {addr}: {action}", symbol(action))]
            }
            "resource_drift" => {
                let addr = str_of(&v, &["change", "resource", "addr"]);
                let action = str_of(&v, &["change", "action"]);
                vec![format!("  ! {addr}: changed outside tofu ({action})")]
            }
            "diagnostic" => {
                let sev = str_of(&v, &["diagnostic", "severity"]);
                let summary = str_of(&v, &["diagnostic", "summary"]);
                let detail = str_of(&v, &["diagnostic", "detail"]);
                let addr = str_of(&v, &["diagnostic", "address"]);
                let file = str_of(&v, &["diagnostic", "range", "filename"]);
                let at_line = v.pointer("/diagnostic/range/start/line").and_then(Value::as_u64);
                let mut head = format!("{}: {summary}", if sev.is_empty() { "note" } else { sev });
                if !addr.is_empty() {
                    let _ = write!(head, " ({addr})");
                }
                if !file.is_empty() {
                    let _ = write!(head, " at {file}{}", at_line.map(|l| format!(":{l}")).unwrap_or_default());
                }
                if sev == "error" {
                    let first = summary.lines().next().unwrap_or(summary);
                    self.errors.push(if addr.is_empty() { first.to_string() } else { format!("{addr}: {first}") });
                }
                let mut lines = vec![head];
                lines.extend(detail.lines().filter(|l| !l.trim().is_empty()).map(|l| format!("  {l}")));
                lines
            }
            _ if msg.is_empty() => Vec::new(),
            _ => msg.lines().map(str::to_string).collect(),
        }
    }
}

/// `tofu output -json` with every output tofu marks sensitive reduced to `"value": null` (its
/// `sensitive` and `type` stay), unless `show` (`--show-sensitive`).
pub fn mask_outputs(mut outputs: Value, show: bool) -> Value {
    if show {
        return outputs;
    }
    if let Some(all) = outputs.as_object_mut() {
        for o in all.values_mut() {
            if o["sensitive"] == Value::Bool(true)
                && let Some(fields) = o.as_object_mut()
            {
                fields.insert("value".into(), Value::Null);
            }
        }
    }
    outputs
}

/// `name = value` lines (names sorted as tofu prints them): strings quoted, other values as JSON,
/// `(sensitive)` for a masked one.
pub fn output_lines(outputs: &Value) -> Vec<String> {
    let Some(all) = outputs.as_object() else { return Vec::new() };
    let mut names: Vec<&String> = all.keys().collect();
    names.sort();
    names
        .into_iter()
        .map(|name| {
            let o = &all[name];
            let value = if o["sensitive"] == Value::Bool(true) && o["value"].is_null() {
                "(sensitive)".to_string()
            } else {
                o["value"].to_string()
            };
            format!("{name} = {value}")
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sensitive_outputs_are_masked_unless_asked_for() {
        let v: Value = serde_json::from_str(
            r#"{"token":{"sensitive":true,"type":"string","value":"s3cr3t"},"items":{"sensitive":false,"type":"number","value":3},"name":{"sensitive":false,"type":"string","value":"a"}}"#,
        )
        .unwrap();
        let masked = mask_outputs(v.clone(), false);
        assert_eq!(masked["token"], serde_json::json!({"sensitive": true, "type": "string", "value": null}));
        assert_eq!(masked["items"]["value"], 3);
        assert!(!masked.to_string().contains("s3cr3t"));
        assert_eq!(output_lines(&masked), ["items = 3", "name = \"a\"", "token = (sensitive)"]);
        let shown = mask_outputs(v, true);
        assert_eq!(output_lines(&shown)[2], "token = \"s3cr3t\"");
    }

    #[test]
    fn summary_comes_from_change_summary() {
        let mut r = Render::default();
        let out = r.feed(r#"{"@message":"Plan: 3 to add, 1 to change, 0 to destroy.","type":"change_summary","changes":{"add":3,"change":1,"import":0,"remove":0,"operation":"plan"}}"#);
        assert!(out.is_empty());
        let c = r.changes.unwrap();
        assert_eq!(c.describe(false), "3 to add, 1 to change, 0 to destroy");
        assert_eq!(c.describe(true), "3 added, 1 changed, 0 destroyed");
        assert!(c.any());
    }

    #[test]
    fn renders_changes_and_diagnostics() {
        let mut r = Render::default();
        let l = r.feed(r#"{"@message":"x","type":"planned_change","change":{"resource":{"addr":"terraform_data.a[1]"},"action":"create"}}"#);
        assert_eq!(l, ["  + terraform_data.a[1]: create"]);
        let l = r.feed(r#"{"@message":"Error: boom","type":"diagnostic","diagnostic":{"severity":"error","summary":"Error acquiring the state lock","detail":"Lock Info:\n  ID: 1"}}"#);
        assert_eq!(l[0], "error: Error acquiring the state lock");
        assert_eq!(l[1], "  Lock Info:");
        assert_eq!(r.errors, ["Error acquiring the state lock"]);
        assert_eq!(r.feed("\x1b[0m\x1b[32mSuccessfully configured\x1b[0m"), ["Successfully configured"]);
        assert!(r.feed(r#"{"@message":"Terraform 1.11.4","type":"version"}"#).is_empty());
    }
}
