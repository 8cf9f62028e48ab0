//! Typed views of the few ARC fields gf reads, and the merge patches it writes.
//!
//! gf never serializes a whole object back: every write is a JSON merge patch naming only
//! `spec.minRunners`, `spec.maxRunners`, the drain annotation and the `resourceVersion` it read.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// API group/version of ARC's resources.
pub const API_VERSION: &str = "actions.github.com/v1alpha1";
/// The label ARC puts on sets, EphemeralRunners and runner pods.
pub const SCALE_SET_LABEL: &str = "actions.github.com/scale-set-name";
/// The annotation recording a drained set's original caps.
pub const DRAINED_FROM: &str = "gf.flywheel.dev/drained-from";

/// What `gf.flywheel.dev/drained-from` records: the caps before the drain, when and by whom.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DrainedFrom {
    /// `spec.minRunners` before the drain (null: unset).
    pub min: Option<i64>,
    /// `spec.maxRunners` before the drain (null: unset, i.e. unlimited).
    pub max: Option<i64>,
    /// When (RFC 3339, UTC).
    pub time: String,
    /// Who drained it (`user@host`).
    pub who: String,
}

/// The fields gf uses of an `AutoscalingRunnerSet`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunnerSet {
    /// `metadata.name`.
    pub name: String,
    /// `metadata.resourceVersion`, sent back in every patch.
    pub resource_version: Option<String>,
    /// `spec.minRunners`.
    pub min: Option<i64>,
    /// `spec.maxRunners` (None: unlimited).
    pub max: Option<i64>,
    /// The raw drain annotation, when present.
    pub drained_from: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct Meta {
    #[serde(default)]
    name: String,
    #[serde(default, rename = "resourceVersion")]
    resource_version: Option<String>,
    #[serde(default)]
    annotations: Option<BTreeMap<String, String>>,
    #[serde(default)]
    labels: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Default, Deserialize)]
struct SetSpec {
    #[serde(default, rename = "minRunners")]
    min_runners: Option<i64>,
    #[serde(default, rename = "maxRunners")]
    max_runners: Option<i64>,
}

#[derive(Debug, Deserialize)]
struct SetView {
    #[serde(default)]
    metadata: Meta,
    #[serde(default)]
    spec: SetSpec,
}

#[derive(Debug, Default, Deserialize)]
struct RunnerStatus {
    #[serde(default, rename = "jobId")]
    job_id: Option<String>,
}

#[derive(Debug, Deserialize)]
struct RunnerView {
    #[serde(default)]
    metadata: Meta,
    #[serde(default)]
    status: Option<RunnerStatus>,
}

#[derive(Debug, Deserialize)]
struct PodView {
    #[serde(default)]
    metadata: Meta,
}

impl RunnerSet {
    /// Read the view from an object's JSON.
    pub fn from_json(v: Value) -> Result<Self, serde_json::Error> {
        let s: SetView = serde_json::from_value(v)?;
        Ok(Self {
            name: s.metadata.name,
            resource_version: s.metadata.resource_version,
            min: s.spec.min_runners,
            max: s.spec.max_runners,
            drained_from: s.metadata.annotations.and_then(|mut a| a.remove(DRAINED_FROM)),
        })
    }

    /// Whether both caps are exactly 0.
    pub fn is_zero(&self) -> bool {
        self.min == Some(0) && self.max == Some(0)
    }

    /// The parsed drain annotation: None when absent, Err with the raw text when unreadable.
    pub fn recorded(&self) -> Option<Result<DrainedFrom, String>> {
        self.drained_from.as_ref().map(|raw| serde_json::from_str(raw).map_err(|e| format!("{raw:?}: {e}")))
    }

    /// The merge patch of a first drain: annotation and caps 0/0 in one write (max never < min).
    pub fn drain_patch(&self, record: &DrainedFrom) -> Value {
        let annotation = serde_json::to_string(record).unwrap_or_default();
        json!({
            "metadata": { "resourceVersion": self.resource_version, "annotations": { DRAINED_FROM: annotation } },
            "spec": { "minRunners": 0, "maxRunners": 0 }
        })
    }

    /// The merge patch that (re)sets caps 0/0 on an already annotated set.
    pub fn zero_patch(&self) -> Value {
        json!({
            "metadata": { "resourceVersion": self.resource_version },
            "spec": { "minRunners": 0, "maxRunners": 0 }
        })
    }

    /// The merge patch of a restore: recorded caps back when `caps` is given (null removes the
    /// field, back to unset), and the annotation removed, in one write.
    pub fn restore_patch(&self, caps: Option<(Option<i64>, Option<i64>)>) -> Value {
        let mut patch = json!({
            "metadata": { "resourceVersion": self.resource_version, "annotations": { DRAINED_FROM: null } }
        });
        if let Some((min, max)) = caps {
            patch["spec"] = json!({ "minRunners": min, "maxRunners": max });
        }
        patch
    }
}

/// The fields gf uses of an `EphemeralRunner`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Runner {
    /// `metadata.name` (equal to its pod's name).
    pub name: String,
    /// `status.jobId`.
    pub job_id: Option<String>,
}

impl Runner {
    /// Read the view from an object's JSON.
    pub fn from_json(v: Value) -> Result<Self, serde_json::Error> {
        let r: RunnerView = serde_json::from_value(v)?;
        Ok(Self { name: r.metadata.name, job_id: r.status.and_then(|s| s.job_id) })
    }

    /// Whether a job runs on it (non-empty `status.jobId`).
    pub fn busy(&self) -> bool {
        self.job_id.as_deref().is_some_and(|j| !j.is_empty())
    }
}

/// The scale set a pod belongs to (its `actions.github.com/scale-set-name` label).
pub fn pod_scale_set(v: Value) -> Result<Option<String>, serde_json::Error> {
    let p: PodView = serde_json::from_value(v)?;
    Ok(p.metadata.labels.and_then(|mut l| l.remove(SCALE_SET_LABEL)))
}

/// `1/10`, `0/unlimited`, `unset/unlimited`.
pub fn caps(min: Option<i64>, max: Option<i64>) -> String {
    format!(
        "{}/{}",
        min.map_or_else(|| "unset".to_string(), |m| m.to_string()),
        max.map_or_else(|| "unlimited".to_string(), |m| m.to_string())
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(v: Value) -> RunnerSet {
        RunnerSet::from_json(v).unwrap()
    }

    #[test]
    fn reads_only_the_fields_gf_uses() {
        let s = set(json!({
            "apiVersion": API_VERSION, "kind": "AutoscalingRunnerSet",
            "metadata": { "name": "gf-nix", "resourceVersion": "7",
                          "annotations": { DRAINED_FROM: "{\"min\":1,\"max\":null,\"time\":\"t\",\"who\":\"w\"}" } },
            "spec": { "minRunners": 0, "maxRunners": 0, "template": { "spec": {} } },
            "status": { "currentRunners": 3 }
        }));
        assert!(s.is_zero());
        assert_eq!(s.resource_version.as_deref(), Some("7"));
        let rec = s.recorded().unwrap().unwrap();
        assert_eq!((rec.min, rec.max), (Some(1), None));
    }

    #[test]
    fn drain_patch_sets_both_caps_and_the_annotation_at_once() {
        let s = set(json!({ "metadata": { "name": "a", "resourceVersion": "3" }, "spec": { "minRunners": 2 } }));
        let rec = DrainedFrom { min: s.min, max: s.max, time: "t".into(), who: "w".into() };
        let p = s.drain_patch(&rec);
        assert_eq!(p["spec"], json!({ "minRunners": 0, "maxRunners": 0 }));
        assert_eq!(p["metadata"]["resourceVersion"], "3");
        let back: DrainedFrom =
            serde_json::from_str(p["metadata"]["annotations"][DRAINED_FROM].as_str().unwrap()).unwrap();
        assert_eq!(back, rec);
        assert!(p["metadata"]["annotations"][DRAINED_FROM].as_str().unwrap().contains("\"max\":null"));
    }

    #[test]
    fn restore_patch_removes_the_annotation_and_keeps_or_restores_caps() {
        let s = set(
            json!({ "metadata": { "name": "a", "resourceVersion": "3" }, "spec": { "minRunners": 0, "maxRunners": 0 } }),
        );
        let kept = s.restore_patch(None);
        assert!(kept.get("spec").is_none());
        assert!(kept["metadata"]["annotations"][DRAINED_FROM].is_null());
        let back = s.restore_patch(Some((Some(1), None)));
        assert_eq!(back["spec"], json!({ "minRunners": 1, "maxRunners": null }));
    }

    #[test]
    fn busy_means_a_non_empty_job_id() {
        let r = |s: Value| Runner::from_json(json!({ "metadata": { "name": "r" }, "status": s })).unwrap();
        assert!(r(json!({ "jobId": "42" })).busy());
        assert!(!r(json!({ "jobId": "" })).busy());
        assert!(!r(json!({})).busy());
        assert!(!Runner::from_json(json!({ "metadata": { "name": "r" } })).unwrap().busy());
    }

    #[test]
    fn unreadable_annotation_is_reported_with_its_text() {
        let s = set(json!({ "metadata": { "name": "a", "annotations": { DRAINED_FROM: "nope" } } }));
        assert!(s.recorded().unwrap().unwrap_err().contains("nope"));
        assert_eq!(caps(None, None), "unset/unlimited");
    }
}
