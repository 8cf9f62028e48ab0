//! JSON as the contract reads it: strictly, with every problem a [`Finding`] at its line, and
//! the mapping from a key back to the line it is written on.

use std::path::Path;

use super::{ContractError, Finding, suggest};

pub(super) fn read_lossy(root: &Path, rel: &str) -> String {
    std::fs::read_to_string(root.join(rel)).unwrap_or_default()
}

/// 1-based line of the first `"key":` in `text`.
pub fn line_of_key(text: &str, key: &str) -> Option<usize> {
    let needle = format!("\"{key}\"");
    text.lines().position(|l| l.trim_start().starts_with(&needle)).map(|i| i + 1)
}

/// 1-based line of the member `"name":` of the object under `"parent"`: on the parent's line or
/// after it (falls back to [`line_of_key`] of `name`).
pub fn line_of_member(text: &str, parent: &str, name: &str) -> Option<usize> {
    let needle = serde_json::to_string(name).ok()?;
    let start = line_of_key(text, parent)?;
    text.lines()
        .enumerate()
        .skip(start - 1)
        .find(|(i, l)| {
            // On the parent's own line, only after its key.
            let l = if *i + 1 == start { l.split_once(':').map_or("", |(_, v)| v) } else { l };
            l.match_indices(&needle).any(|(at, _)| l[at + needle.len()..].trim_start().starts_with(':'))
        })
        .map(|(i, _)| i + 1)
        .or_else(|| line_of_key(text, name))
}

pub(super) fn read_json<T: serde::de::DeserializeOwned>(
    root: &Path,
    rel: &str,
    fields: &[&str],
    required: &[&str],
    findings: &mut Vec<Finding>,
) -> Result<Option<T>, ContractError> {
    let path = root.join(rel);
    let text = std::fs::read_to_string(&path).map_err(|source| ContractError::Read { path, source })?;
    let value: serde_json::Value = match serde_json::from_str(&text) {
        Ok(v) => v,
        Err(e) => {
            findings.push(Finding {
                column: Some(e.column()),
                ..Finding::error(
                    "malformed-json",
                    Some(rel),
                    Some(e.line()),
                    format!("malformed JSON: {}", strip_position(&e)),
                )
            });
            return Ok(None);
        }
    };
    let Some(obj) = value.as_object() else {
        findings.push(Finding::error("malformed-json", Some(rel), Some(1), "expected a JSON object at the top level"));
        return Ok(None);
    };
    let before = findings.len();
    for key in obj.keys() {
        if !fields.contains(&key.as_str()) {
            let hint =
                suggest(key, fields.iter().copied()).map(|s| format!("; did you mean `{s}`?")).unwrap_or_default();
            findings.push(Finding::error(
                "unknown-field",
                Some(rel),
                line_of_key(&text, key),
                format!("unknown field `{key}`{hint}"),
            ));
        }
    }
    for key in required {
        if !obj.contains_key(*key) {
            findings.push(Finding::error("missing-field", Some(rel), None, format!("missing required field `{key}`")));
        }
    }
    if findings.len() > before {
        return Ok(None);
    }
    match serde_json::from_str::<T>(&text) {
        Ok(v) => Ok(Some(v)),
        Err(e) => {
            findings.push(Finding {
                column: Some(e.column()),
                ..Finding::error("invalid-field", Some(rel), Some(e.line()), strip_position(&e))
            });
            Ok(None)
        }
    }
}

fn strip_position(e: &serde_json::Error) -> String {
    let s = e.to_string();
    match s.rfind(" at line ") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_are_found_on_their_parents_line_or_after_it() {
        let text = "{\n  \"dev\": 1,\n  \"environments\": { \"dev\": { \"kube_context\": \"dev\" },\n    \"prod\" : {}\n  }\n}\n";
        assert_eq!(line_of_member(text, "environments", "dev"), Some(3));
        assert_eq!(line_of_member(text, "environments", "prod"), Some(4));
        assert_eq!(line_of_member(text, "environments", "none"), None);
    }
}
