//! `gf lane status`: caps, runners and the drain record of each set.

use serde::Serialize;

use crate::contract::Lane;
use crate::lane::arc::DrainedFrom;
use crate::lane::{Cluster, LaneError};

/// One set in `gf lane status`.
#[derive(Debug, Clone, Serialize)]
pub struct SetStatus {
    /// The set.
    pub name: String,
    /// Whether the set exists.
    pub found: bool,
    /// `spec.minRunners`.
    pub min: Option<i64>,
    /// `spec.maxRunners` (null: unlimited).
    pub max: Option<i64>,
    /// Its EphemeralRunners.
    pub runners: usize,
    /// Those with a job.
    pub busy: usize,
    /// The drain annotation (null: not drained).
    pub drained: Option<DrainedFrom>,
    /// The annotation's text when it cannot be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub annotation_error: Option<String>,
}

/// Caps, runners and the drain record of every set of the drain list.
pub async fn status<C: Cluster>(c: &C, lane: &Lane) -> Result<Vec<SetStatus>, LaneError> {
    let ns = &lane.drain.namespace;
    let mut out = Vec::new();
    for name in &lane.drain.scale_sets {
        let Some(set) = c.get_set(ns, name).await? else {
            out.push(SetStatus {
                name: name.clone(),
                found: false,
                min: None,
                max: None,
                runners: 0,
                busy: 0,
                drained: None,
                annotation_error: None,
            });
            continue;
        };
        let runners = c.runners(ns, name).await?;
        let (drained, annotation_error) = match set.recorded() {
            None => (None, None),
            Some(Ok(r)) => (Some(r), None),
            Some(Err(e)) => (None, Some(e)),
        };
        out.push(SetStatus {
            name: name.clone(),
            found: true,
            min: set.min,
            max: set.max,
            runners: runners.len(),
            busy: runners.iter().filter(|r| r.busy()).count(),
            drained,
            annotation_error,
        });
    }
    Ok(out)
}
