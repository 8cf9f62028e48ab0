//! How the lane runs: poll interval, who drains, the pod gf runs in, from the environment.

use std::time::Duration;

use crate::session::Vars;

/// The pod gf runs in, for the self-hosting refusal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnPod {
    /// Pod name (`ACTIONS_RUNNER_POD_NAME`, else `HOSTNAME` inside a cluster).
    pub name: String,
    /// `POD_NAMESPACE`, else the drain namespace.
    pub namespace: Option<String>,
}

/// How the lane runs: poll interval, who drains, where gf runs, output.
#[derive(Debug, Clone)]
pub struct LaneOptions {
    /// Poll interval of the drain wait (`GF_LANE_POLL_MS`, default 2 s).
    pub poll: Duration,
    /// Recorded as `who` in the annotation.
    pub who: String,
    /// The pod gf runs in, if any.
    pub own_pod: Option<OwnPod>,
    /// Progress bars (stderr is a terminal).
    pub progress: bool,
    /// No notes on stderr.
    pub quiet: bool,
    /// A set of the drain list that does not exist is skipped instead of refused: true only for
    /// the apply of a plan made against an absent state (a first install creates the sets).
    pub allow_missing: bool,
}

impl LaneOptions {
    /// Options from the session's environment snapshot.
    pub fn of(vars: &Vars, progress: bool) -> Self {
        Self::from_vars(|k| vars.get(k).filter(|v| !v.trim().is_empty()), progress)
    }

    /// Options from an environment lookup.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>, progress: bool) -> Self {
        let poll = var("GF_LANE_POLL_MS")
            .and_then(|v| v.parse::<u64>().ok())
            .map_or(Duration::from_secs(2), |ms| Duration::from_millis(ms.max(10)));
        let in_cluster = var("KUBERNETES_SERVICE_HOST").is_some();
        let pod_name = var("ACTIONS_RUNNER_POD_NAME").or_else(|| if in_cluster { var("HOSTNAME") } else { None });
        let own_pod = pod_name.map(|name| OwnPod { name, namespace: var("POD_NAMESPACE") });
        let user = var("USER").or_else(|| var("LOGNAME")).unwrap_or_else(|| "unknown".into());
        let host = var("ACTIONS_RUNNER_POD_NAME")
            .or_else(|| var("HOSTNAME"))
            .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok().map(|h| h.trim().to_string()))
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "unknown".into());
        let who = match (var("GITHUB_REPOSITORY"), var("GITHUB_RUN_ID")) {
            (Some(repo), Some(run)) => format!("{user}@{host} ({repo} run {run})"),
            _ => format!("{user}@{host}"),
        };
        Self { poll, who, own_pod, progress, quiet: false, allow_missing: false }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: std::collections::BTreeMap<String, String> =
            pairs.iter().map(|(k, v)| ((*k).to_string(), (*v).to_string())).collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn own_pod_comes_from_the_runner_variable_else_hostname_inside_a_cluster() {
        let o = LaneOptions::from_vars(vars(&[("ACTIONS_RUNNER_POD_NAME", "r-1"), ("HOSTNAME", "h")]), false);
        assert_eq!(o.own_pod, Some(OwnPod { name: "r-1".into(), namespace: None }));
        let o = LaneOptions::from_vars(vars(&[("HOSTNAME", "laptop")]), false);
        assert_eq!(o.own_pod, None, "HOSTNAME outside a cluster is not a pod");
        let o = LaneOptions::from_vars(
            vars(&[("HOSTNAME", "p"), ("KUBERNETES_SERVICE_HOST", "10.0.0.1"), ("POD_NAMESPACE", "ci")]),
            false,
        );
        assert_eq!(o.own_pod, Some(OwnPod { name: "p".into(), namespace: Some("ci".into()) }));
    }

    #[test]
    fn who_and_poll() {
        let o = LaneOptions::from_vars(
            vars(&[
                ("USER", "ops"),
                ("HOSTNAME", "bumble"),
                ("GF_LANE_POLL_MS", "150"),
                ("GITHUB_REPOSITORY", "o/r"),
                ("GITHUB_RUN_ID", "9"),
            ]),
            true,
        );
        assert_eq!(o.who, "ops@bumble (o/r run 9)");
        assert_eq!(o.poll, Duration::from_millis(150));
        assert_eq!(LaneOptions::from_vars(vars(&[]), false).poll, Duration::from_secs(2));
    }
}
