//! The lane part of `gf drift`: each scale set's observed `minRunners`/`maxRunners` against the
//! desired values in the stack's `scale-sets.json`. A set carrying gf's drain annotation is a
//! bounded operator action (the drain, expected to be restored); any other difference is drift.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::DriftError;
use crate::lane::arc::{self, DrainedFrom};
use crate::lane::cluster::{Cluster, ClusterError};

/// The scale-set file of a lane stack, beside its OpenTofu files.
pub const FILE: &str = "scale-sets.json";

/// One entry of `scale-sets.json`, as far as the comparison needs it (`gf check` judges the rest).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct DesiredSet {
    /// The AutoscalingRunnerSet's name.
    pub name: String,
    /// `minRunners`.
    pub min_runners: i64,
    /// `maxRunners`.
    pub max_runners: i64,
}

/// The desired sets of the stack in `stack_dir`: its `scale-sets.json` (read by
/// [`crate::scalesets::load`], the one reader `gf check` and tofu's data agree on), which a lane
/// stack must have.
pub fn desired_sets(root: &Path, stack_dir: &Path) -> Result<Vec<DesiredSet>, DriftError> {
    let path = stack_dir.join(FILE);
    let bad = |reason: String| DriftError::ScaleSets { path: path.clone(), reason };
    match crate::scalesets::load(root, stack_dir) {
        Ok(Some(sets)) => Ok(sets
            .into_iter()
            .map(|s| DesiredSet {
                name: s.name,
                min_runners: i64::from(s.min_runners),
                max_runners: i64::from(s.max_runners),
            })
            .collect()),
        Ok(None) => Err(bad("a lane stack needs it: the desired `min_runners`/`max_runners` of its scale sets".into())),
        Err(f) => Err(bad(f.message)),
    }
}

/// Runner caps (`min: null`: unset, i.e. 0; `max: null`: unlimited).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Caps {
    /// `minRunners`.
    pub min: Option<i64>,
    /// `maxRunners`.
    pub max: Option<i64>,
}

impl Caps {
    /// Whether these caps mean the same as the desired ones (an unset min is 0).
    fn is(&self, d: &DesiredSet) -> bool {
        self.min.unwrap_or(0) == d.min_runners && self.max == Some(d.max_runners)
    }
}

/// What one set's comparison found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// Observed equals desired.
    Match,
    /// Observed differs, and not by a gf drain (or the set is missing).
    Drift,
    /// Drained by gf: a bounded operator action, expected to be restored.
    OperatorAction,
}

/// One scale set, desired against observed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SetComparison {
    /// The set.
    pub name: String,
    /// What was found.
    pub verdict: Verdict,
    /// From `scale-sets.json`.
    pub desired: Caps,
    /// From the cluster (null: the set does not exist).
    pub observed: Option<Caps>,
    /// gf's drain annotation, when the set carries a readable one.
    pub drained: Option<DrainedFrom>,
    /// Why, when it is not a match (and when a drained set's record is not the desired caps).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl SetComparison {
    /// Whether this set counts as drift: a difference that is no drain, or a drain whose record
    /// is not the desired caps (restoring it will not reconcile the set).
    pub fn is_drift(&self) -> bool {
        match self.verdict {
            Verdict::Drift => true,
            Verdict::OperatorAction => self.reason.is_some(),
            Verdict::Match => false,
        }
    }
}

fn show(c: Caps) -> String {
    arc::caps(c.min, c.max)
}

/// Compare every desired set with the cluster's, in namespace `ns`.
pub async fn compare<C: Cluster>(
    cluster: &C,
    ns: &str,
    desired: &[DesiredSet],
) -> Result<Vec<SetComparison>, ClusterError> {
    let reads = desired.iter().map(|d| cluster.get_set(ns, &d.name));
    let observed = futures::future::try_join_all(reads).await?;
    Ok(desired.iter().zip(observed).map(|(d, o)| judge(ns, d, o.as_ref())).collect())
}

fn judge(ns: &str, d: &DesiredSet, observed: Option<&arc::RunnerSet>) -> SetComparison {
    let desired = Caps { min: Some(d.min_runners), max: Some(d.max_runners) };
    let mut c = SetComparison {
        name: d.name.clone(),
        verdict: Verdict::Match,
        desired,
        observed: None,
        drained: None,
        reason: None,
    };
    let Some(set) = observed else {
        c.verdict = Verdict::Drift;
        c.reason = Some(format!("no AutoscalingRunnerSet `{}` in `{ns}`", d.name));
        return c;
    };
    let now = Caps { min: set.min, max: set.max };
    c.observed = Some(now);
    match set.recorded() {
        Some(Ok(rec)) => {
            let recorded = Caps { min: rec.min, max: rec.max };
            if !now.is(d) {
                c.verdict = Verdict::OperatorAction;
                if !recorded.is(d) {
                    c.reason = Some(format!(
                        "drained from {}, but `{FILE}` wants {}: restoring will not reconcile it",
                        show(recorded),
                        show(desired)
                    ));
                }
            }
            c.drained = Some(rec);
        }
        Some(Err(text)) if !now.is(d) => {
            c.verdict = Verdict::Drift;
            c.reason = Some(format!("{} but an unreadable `{}` annotation: {text}", show(now), arc::DRAINED_FROM));
        }
        _ if now.is(d) => {}
        _ => {
            c.verdict = Verdict::Drift;
            c.reason = Some(format!("{} in the cluster, {} in `{FILE}`", show(now), show(desired)));
        }
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lane::cluster::MemCluster;
    use serde_json::json;

    fn desired(name: &str, min: i64, max: i64) -> DesiredSet {
        DesiredSet { name: name.into(), min_runners: min, max_runners: max }
    }

    async fn annotate(c: &MemCluster, set: &str, record: &DrainedFrom) {
        let text = serde_json::to_string(record).unwrap();
        c.patch_set("ns", set, &json!({ "metadata": { "annotations": { arc::DRAINED_FROM: text } } })).await.unwrap();
    }

    #[tokio::test]
    async fn a_drained_set_is_an_operator_action_and_any_other_difference_drift() {
        let c = MemCluster::default();
        c.add_set("same", None, Some(4));
        c.add_set("drained", Some(0), Some(0));
        c.add_set("edited", Some(1), Some(9));
        c.add_set("drained-off", Some(0), Some(0));
        c.add_set("unset-max", Some(1), None);
        let rec =
            DrainedFrom { min: Some(1), max: Some(8), time: "2026-11-27T16:04:02Z".into(), who: "ops@bumble".into() };
        annotate(&c, "drained", &rec).await;
        annotate(&c, "drained-off", &DrainedFrom { max: Some(10), ..rec.clone() }).await;
        let want = [
            desired("same", 0, 4),
            desired("drained", 1, 8),
            desired("edited", 1, 8),
            desired("drained-off", 1, 8),
            desired("unset-max", 1, 8),
            desired("gone", 0, 2),
        ];
        let got = compare(&c, "ns", &want).await.unwrap();
        let v: Vec<(&str, Verdict, bool)> = got.iter().map(|s| (s.name.as_str(), s.verdict, s.is_drift())).collect();
        assert_eq!(
            v,
            [
                ("same", Verdict::Match, false),
                ("drained", Verdict::OperatorAction, false),
                ("edited", Verdict::Drift, true),
                ("drained-off", Verdict::OperatorAction, true),
                ("unset-max", Verdict::Drift, true),
                ("gone", Verdict::Drift, true),
            ]
        );
        assert_eq!(got[1].drained.as_ref().unwrap().who, "ops@bumble");
        assert!(got[2].reason.as_deref().unwrap().contains("1/9 in the cluster, 1/8"), "{:?}", got[2].reason);
        assert!(got[3].reason.as_deref().unwrap().contains("drained from 1/10"), "{:?}", got[3].reason);
        assert!(got[4].reason.as_deref().unwrap().contains("1/unlimited"));
        assert_eq!(got[5].observed, None);
        assert!(c.patches().len() == 2, "the comparison only reads");
    }

    #[tokio::test]
    async fn an_unreadable_annotation_is_no_operator_action() {
        let c = MemCluster::default();
        c.add_set("odd", Some(0), Some(0));
        c.patch_set("ns", "odd", &json!({ "metadata": { "annotations": { arc::DRAINED_FROM: "nope" } } }))
            .await
            .unwrap();
        let got = compare(&c, "ns", &[desired("odd", 1, 2)]).await.unwrap();
        assert_eq!(got[0].verdict, Verdict::Drift);
        assert!(got[0].reason.as_deref().unwrap().contains("unreadable"));
    }

    #[test]
    fn the_desired_caps_come_from_scale_sets_json() {
        let dir = tempfile::tempdir().unwrap();
        let err = desired_sets(dir.path(), dir.path()).unwrap_err().to_string();
        assert!(err.contains("scale-sets.json") && err.contains("lane stack needs it"), "{err}");
        std::fs::write(
            dir.path().join(FILE),
            r#"[{"name":"a","role":"shared","purpose":"p","container_mode":"none","min_runners":1,"max_runners":3,"cpu":"2","memory":"1Gi"}]"#,
        )
        .unwrap();
        assert_eq!(desired_sets(dir.path(), dir.path()).unwrap(), [desired("a", 1, 3)]);
        std::fs::write(dir.path().join(FILE), r#"[{"name":"a","role":"shared"}]"#).unwrap();
        let err = desired_sets(dir.path(), dir.path()).unwrap_err().to_string();
        assert!(err.contains("not a list of scale sets"), "{err}");
    }
}
