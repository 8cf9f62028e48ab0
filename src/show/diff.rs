//! Attribute diffs: both sides of a change walked together with tofu's sensitive and unknown
//! markers, down to the leaves that differ.

use std::fmt::Write as _;

use serde_json::Value;

use super::Shown;

/// A marker structure (`*_sensitive`, `after_unknown`) says "all of it" with `true`.
pub(super) fn is_marked(v: &Value) -> bool {
    v == &Value::Bool(true)
}

/// `a.b[0]["k.x"]` from tofu's path steps (strings and numbers).
pub(super) fn path_of(steps: &[Value]) -> String {
    let mut s = String::new();
    for step in steps {
        match step {
            Value::Number(n) => {
                let _ = write!(s, "[{n}]");
            }
            Value::String(k)
                if !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') =>
            {
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(k);
            }
            other => {
                let _ = write!(s, "[{other}]");
            }
        }
    }
    s
}

/// Both sides of a change and their markers.
pub(super) struct Sides<'a> {
    pub(super) before: &'a Value,
    pub(super) after: &'a Value,
    pub(super) before_sensitive: &'a Value,
    pub(super) after_sensitive: &'a Value,
    pub(super) after_unknown: &'a Value,
}

/// One step of the walk: the values and markers at one path.
#[derive(Clone, Copy)]
struct At<'a> {
    before: Option<&'a Value>,
    after: Option<&'a Value>,
    before_sensitive: bool,
    after_sensitive: bool,
    after_unknown: bool,
    bs: Option<&'a Value>,
    as_: Option<&'a Value>,
    au: Option<&'a Value>,
}

impl Sides<'_> {
    /// Every leaf attribute whose shown before and after differ.
    pub(super) fn diff(&self) -> Vec<(String, Shown, Shown)> {
        let root = At {
            before: Some(self.before).filter(|v| !v.is_null()),
            after: Some(self.after).filter(|v| !v.is_null()),
            before_sensitive: is_marked(self.before_sensitive),
            after_sensitive: is_marked(self.after_sensitive),
            after_unknown: is_marked(self.after_unknown),
            bs: Some(self.before_sensitive),
            as_: Some(self.after_sensitive),
            au: Some(self.after_unknown),
        };
        let mut out = Vec::new();
        walk(&mut Vec::new(), root, &mut out);
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }
}

fn child<'a>(v: Option<&'a Value>, key: &Step) -> Option<&'a Value> {
    match (v?, key) {
        (Value::Object(m), Step::Key(k)) => m.get(k),
        (Value::Array(a), Step::Index(i)) => a.get(*i),
        _ => None,
    }
}

enum Step {
    Key(String),
    Index(usize),
}

fn container(v: Option<&Value>) -> bool {
    matches!(v, Some(Value::Object(m)) if !m.is_empty()) || matches!(v, Some(Value::Array(a)) if !a.is_empty())
}

fn walk(path: &mut Vec<Value>, at: At<'_>, out: &mut Vec<(String, Shown, Shown)>) {
    // A marked subtree is one leaf: its inside is not shown.
    let leaf =
        at.before_sensitive || at.after_sensitive || at.after_unknown || !(container(at.before) || container(at.after));
    if leaf {
        let before = if at.before.is_none() {
            Shown::Absent
        } else if at.before_sensitive {
            Shown::Sensitive
        } else {
            at.before.map_or(Shown::Absent, |v| Shown::Value(v.clone()))
        };
        let after = if at.after_sensitive {
            Shown::Sensitive
        } else if at.after_unknown {
            Shown::Unknown
        } else {
            at.after.map_or(Shown::Absent, |v| Shown::Value(v.clone()))
        };
        // Equal known values are no change; two masked values may hide one (shown once, masked).
        let same = before == after && !matches!(after, Shown::Sensitive | Shown::Unknown);
        let nothing = before == Shown::Absent && after == Shown::Absent;
        if !same && !nothing {
            out.push((path_of(path), before, after));
        }
        return;
    }
    let mut steps: Vec<Step> = Vec::new();
    // Unknown attributes are left out of `after`; `after_unknown` still names them.
    for v in [at.before, at.after, at.au].into_iter().flatten() {
        match v {
            Value::Object(m) => {
                for k in m.keys() {
                    if !steps.iter().any(|s| matches!(s, Step::Key(x) if x == k)) {
                        steps.push(Step::Key(k.clone()));
                    }
                }
            }
            Value::Array(a) => {
                for i in 0..a.len() {
                    if !steps.iter().any(|s| matches!(s, Step::Index(x) if *x == i)) {
                        steps.push(Step::Index(i));
                    }
                }
            }
            _ => {}
        }
    }
    for step in steps {
        let next = At {
            before: child(at.before, &step).filter(|v| !v.is_null()),
            after: child(at.after, &step).filter(|v| !v.is_null()),
            before_sensitive: child(at.bs, &step).is_some_and(is_marked),
            after_sensitive: child(at.as_, &step).is_some_and(is_marked),
            after_unknown: child(at.au, &step).is_some_and(is_marked),
            bs: child(at.bs, &step),
            as_: child(at.as_, &step),
            au: child(at.au, &step),
        };
        path.push(match &step {
            Step::Key(k) => Value::String(k.clone()),
            Step::Index(i) => Value::from(*i),
        });
        walk(path, next, out);
        path.pop();
    }
}
