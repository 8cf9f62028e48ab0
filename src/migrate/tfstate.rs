//! What makes bytes a tofu state gf will migrate, and the rule for an object already at the key.
//!
//! Messages name fields and types, never values other than version, serial and lineage: a state
//! holds secrets.

use serde::Serialize;
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use super::shape::{self, Resources};

/// The state format gf migrates (tofu and terraform have written version 4 since 0.12).
pub const VERSION: u64 = 4;

/// Why bytes are not a tofu state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotAState {
    /// Not JSON (line and column from the parser).
    #[error("not JSON ({0})")]
    NotJson(String),
    /// JSON, but not an object.
    #[error("not a JSON object")]
    NotObject,
    /// A required field is missing or has the wrong type.
    #[error("`{field}` {problem}")]
    Field {
        /// The field.
        field: &'static str,
        /// What is wrong, e.g. `is missing`, `is not a string`.
        problem: &'static str,
    },
    /// Another state format version.
    #[error(
        "`version` is {0}; gf migrates version {VERSION} states only (run `tofu state pull` with a current tofu first)"
    )]
    Version(u64),
}

/// The facts of a valid state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StateSummary {
    /// Format version (4).
    pub version: u64,
    /// Serial.
    pub serial: u64,
    /// Lineage.
    pub lineage: String,
    /// tofu/terraform version that wrote it.
    pub terraform_version: String,
    /// Resource blocks.
    pub resources: usize,
    /// Resource instances.
    pub instances: usize,
    /// Size in bytes.
    pub size: usize,
    /// SHA-256 of the bytes, hex.
    pub sha256: String,
}

/// Check `bytes` is a version 4 tofu state with lineage, serial, terraform_version and resources,
/// in one pass that keeps nothing of the state but these facts.
pub fn inspect(bytes: &[u8]) -> Result<StateSummary, NotAState> {
    let head = shape::head(bytes).map_err(|e| NotAState::NotJson(e.to_string()))?.ok_or(NotAState::NotObject)?;
    let field = |name: &'static str, v: Option<Value>| v.ok_or(NotAState::Field { field: name, problem: "is missing" });
    let version = field("version", head.version)?
        .as_u64()
        .ok_or(NotAState::Field { field: "version", problem: "is not a non-negative integer" })?;
    if version != VERSION {
        return Err(NotAState::Version(version));
    }
    let serial = field("serial", head.serial)?
        .as_u64()
        .ok_or(NotAState::Field { field: "serial", problem: "is not a non-negative integer" })?;
    let string = |name: &'static str, v: Option<Value>| match field(name, v)? {
        Value::String(s) if s.trim().is_empty() => Err(NotAState::Field { field: name, problem: "is empty" }),
        Value::String(s) => Ok(s),
        _ => Err(NotAState::Field { field: name, problem: "is not a string" }),
    };
    let lineage = string("lineage", head.lineage)?;
    let terraform_version = string("terraform_version", head.terraform_version)?;
    let (resources, instances) = match head.resources {
        None => return Err(NotAState::Field { field: "resources", problem: "is missing" }),
        Some(Resources::NotArray) => return Err(NotAState::Field { field: "resources", problem: "is not an array" }),
        Some(Resources::Array { not_object: true, .. }) => {
            return Err(NotAState::Field { field: "resources", problem: "holds an element that is not an object" });
        }
        Some(Resources::Array { bad_instances: true, .. }) => {
            return Err(NotAState::Field { field: "resources[].instances", problem: "is not an array" });
        }
        Some(Resources::Array { blocks, instances, .. }) => (blocks, instances),
    };
    Ok(StateSummary {
        version,
        serial,
        lineage,
        terraform_version,
        resources,
        instances,
        size: bytes.len(),
        sha256: crate::backend::hex(&Sha256::digest(bytes)),
    })
}

/// What to do about the object at the contract's key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing there: create it (`If-None-Match: *`).
    Create,
    /// The same lineage at a lower serial, and `--yes`: overwrite exactly that object (`If-Match`).
    Replace {
        /// Its ETag.
        etag: String,
        /// Its serial.
        serial: u64,
    },
    /// Leave it; why.
    Refuse(String),
}

/// The SPEC rule: an existing object is refused unless it is a state of the same lineage with a
/// lower serial and `--yes` is given.
pub fn verdict(
    existing: Option<(&[u8], Option<&str>)>,
    incoming_bytes: &[u8],
    incoming: &StateSummary,
    yes: bool,
) -> Verdict {
    let Some((bytes, etag)) = existing else { return Verdict::Create };
    let there = match inspect(bytes) {
        Ok(s) => s,
        Err(e) => {
            return Verdict::Refuse(format!(
                "the key holds an object that is not a tofu state ({e}); gf never overwrites it"
            ));
        }
    };
    if bytes == incoming_bytes {
        return Verdict::Refuse(format!(
            "the key already holds this exact state (serial {}, lineage `{}`): the migration is done; next: `gf plan` of the stack must show no changes",
            there.serial, there.lineage
        ));
    }
    if there.lineage != incoming.lineage {
        return Verdict::Refuse(format!(
            "the key holds another state (lineage `{}`, serial {}; the HTTP state's lineage is `{}`): gf never replaces a different lineage, not even with `--yes`",
            there.lineage, there.serial, incoming.lineage
        ));
    }
    if there.serial >= incoming.serial {
        return Verdict::Refuse(format!(
            "the key holds serial {} of the same lineage, not older than the HTTP state's serial {}: S3 is as new or newer; gf never moves a state backwards",
            there.serial, incoming.serial
        ));
    }
    if !yes {
        return Verdict::Refuse(format!(
            "the key holds an older serial ({}) of the same lineage than the HTTP state ({}): `--yes` replaces it",
            there.serial, incoming.serial
        ));
    }
    match etag {
        Some(e) if !e.is_empty() => Verdict::Replace { etag: e.to_string(), serial: there.serial },
        _ => Verdict::Refuse(
            "the store sent no ETag for the object at the key: gf cannot overwrite it conditionally".into(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub fn state(serial: u64, lineage: &str) -> Vec<u8> {
        serde_json::to_vec_pretty(&serde_json::json!({
            "version": 4, "terraform_version": "1.11.4", "serial": serial, "lineage": lineage, "outputs": {},
            "resources": [{"mode": "managed", "type": "terraform_data", "name": "a", "instances": [{}, {}]}],
            "check_results": null
        }))
        .unwrap()
    }

    #[test]
    fn a_state_is_version_4_with_serial_lineage_version_and_resources() {
        let s = inspect(&state(7, "lin-1")).unwrap();
        assert_eq!((s.serial, s.lineage.as_str(), s.resources, s.instances), (7, "lin-1", 1, 2));
        assert_eq!(s.sha256.len(), 64);
        let cases: [(&[u8], &str); 13] = [
            (
                br#"{"version":4,"serial":1,"lineage":null,"terraform_version":"1","resources":[]}"#,
                "`lineage` is not a string",
            ),
            (
                br#"{"version":4,"serial":1,"lineage":"l","terraform_version":"1","resources":[1]}"#,
                "holds an element that is not an object",
            ),
            (
                br#"{"version":4,"serial":1,"lineage":"l","terraform_version":"1","resources":[{"instances":3}]}"#,
                "`resources[].instances` is not an array",
            ),
            (
                br#"{"version":4,"serial":-1,"lineage":"l","terraform_version":"1","resources":[]}"#,
                "`serial` is not a non-negative integer",
            ),
            (b"<html>login</html>", "not JSON"),
            (b"[1]", "not a JSON object"),
            (br#"{"serial":1,"lineage":"l","terraform_version":"1","resources":[]}"#, "`version` is missing"),
            (br#"{"version":3,"serial":1,"lineage":"l","terraform_version":"1","resources":[]}"#, "`version` is 3"),
            (
                br#"{"version":4,"serial":"1","lineage":"l","terraform_version":"1","resources":[]}"#,
                "`serial` is not a non-negative integer",
            ),
            (br#"{"version":4,"serial":1,"terraform_version":"1","resources":[]}"#, "`lineage` is missing"),
            (br#"{"version":4,"serial":1,"lineage":" ","terraform_version":"1","resources":[]}"#, "`lineage` is empty"),
            (br#"{"version":4,"serial":1,"lineage":"l","resources":[]}"#, "`terraform_version` is missing"),
            (
                br#"{"version":4,"serial":1,"lineage":"l","terraform_version":"1","resources":{}}"#,
                "`resources` is not an array",
            ),
        ];
        for (bytes, want) in cases {
            let e = inspect(bytes).unwrap_err().to_string();
            assert!(e.contains(want), "{}: {e}", String::from_utf8_lossy(bytes));
        }
    }

    #[test]
    fn messages_never_show_values_from_the_state() {
        let e = inspect(br#"{"version":4,"serial":1,"lineage":"l","terraform_version":"1","resources":"s3cr3t"}"#);
        assert!(!e.unwrap_err().to_string().contains("s3cr3t"));
    }

    #[test]
    fn an_existing_object_is_replaced_only_for_the_same_lineage_a_lower_serial_and_yes() {
        let new = state(5, "L");
        let incoming = inspect(&new).unwrap();
        assert_eq!(verdict(None, &new, &incoming, false), Verdict::Create);
        let refuse =
            |bytes: &[u8], yes: bool, want: &str| match verdict(Some((bytes, Some("e1"))), &new, &incoming, yes) {
                Verdict::Refuse(why) => assert!(why.contains(want), "{why}"),
                other => panic!("{other:?}"),
            };
        refuse(&state(5, "L"), true, "already holds this exact state");
        refuse(&state(3, "other"), true, "never replaces a different lineage");
        refuse(&state(5, "L").iter().chain(b" ").copied().collect::<Vec<_>>(), true, "not older");
        refuse(&state(9, "L"), true, "S3 is as new or newer");
        refuse(&state(3, "L"), false, "`--yes` replaces it");
        refuse(b"garbage", true, "not a tofu state");
        assert_eq!(
            verdict(Some((&state(3, "L"), Some("e1"))), &new, &incoming, true),
            Verdict::Replace { etag: "e1".into(), serial: 3 }
        );
        assert!(matches!(verdict(Some((&state(3, "L"), None)), &new, &incoming, true), Verdict::Refuse(_)));
    }
}
