//! Which cluster gf talks to. The `KUBE_CONTEXT` gate, shared by the lifecycle, the lane, the
//! cache check and `doctor`: mutating commands refuse a mismatch (exit 3), read-only ones only
//! report it. The kubeconfig must define that context, and when the environment declares a
//! `cluster_uid`, the cluster behind the context must be that one: a context name is only a
//! local label, the UID of `kube-system` is the cluster's identity (gate `cluster-identity`).

use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

use crate::contract::Environment;
use crate::exit::Refused;
use crate::lane::cluster::{Cluster, ClusterError, read_kubeconfig};
use crate::session::{Vars, World};
use crate::ui;

/// The namespace whose UID identifies a cluster.
pub const IDENTITY_NAMESPACE: &str = "kube-system";

/// The gate name of the identity check.
pub const IDENTITY_GATE: &str = "cluster-identity";

/// How long reading the cluster's identity may take (kube-rs alone would wait 30 s to connect).
const IDENTITY_TIMEOUT: Duration = Duration::from_secs(10);

/// Whether `s` is a Kubernetes UID: a lowercase RFC 4122 UUID (`8-4-4-4-12` hex digits).
pub fn is_uid(s: &str) -> bool {
    s.len() == 36
        && s.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_digit() || ('a'..='f').contains(&c),
        })
}

/// Whether the kubeconfig files (merged as kubectl merges them) define context `name`.
pub fn kubeconfig_has_context(paths: &[PathBuf], name: &str) -> Result<bool, ClusterError> {
    Ok(read_kubeconfig(paths, name)?.contexts.iter().any(|c| c.name == name))
}

/// The kubeconfig files for messages: `` `/a`, `/b` `` (or `none`).
pub fn show_paths(paths: &[PathBuf]) -> String {
    if paths.is_empty() {
        return "none (no `KUBECONFIG`, no `$HOME`)".into();
    }
    paths.iter().map(|p| format!("`{}`", p.display())).collect::<Vec<_>>().join(", ")
}

/// The UID of `kube-system` as `cluster` answers, within a bounded time; the error says why not.
pub async fn uid_of<C: Cluster>(cluster: &C) -> Result<String, String> {
    match tokio::time::timeout(IDENTITY_TIMEOUT, cluster.namespace_uid(IDENTITY_NAMESPACE)).await {
        Ok(Ok(uid)) => Ok(uid),
        Ok(Err(e)) => Err(ui::error_chain(&e)),
        Err(_) => Err(format!("no answer within {}", humantime::format_duration(IDENTITY_TIMEOUT))),
    }
}

/// The UID of `kube-system` behind `context` of the kubeconfig files.
pub async fn observe_uid<W: World>(world: &W, kubeconfig: &[PathBuf], context: &str) -> Result<String, String> {
    let connect = tokio::time::timeout(IDENTITY_TIMEOUT, world.cluster(kubeconfig, context));
    match connect.await {
        Ok(Ok(c)) => uid_of(&c).await,
        Ok(Err(e)) => Err(ui::error_chain(&e)),
        Err(_) => Err(format!("no answer within {}", humantime::format_duration(IDENTITY_TIMEOUT))),
    }
}

/// The identity verdict: `Ok(what matched)` or `Err(why the run is refused)`, naming both UIDs.
pub fn judge(observed: Result<String, String>, expected: &str, env: &str, context: &str) -> Result<String, String> {
    match observed {
        Ok(uid) if uid == expected => Ok(format!(
            "context `{context}` reaches the cluster of environment `{env}` (`{IDENTITY_NAMESPACE}` UID `{uid}`)"
        )),
        Ok(uid) => Err(format!(
            "context `{context}` reaches the cluster whose `{IDENTITY_NAMESPACE}` UID is `{uid}`, but environment `{env}` declares `cluster_uid` `{expected}` in `stacks/contract.json`: this is another cluster that happens to carry the name; fix the kubeconfig (or the contract, if the cluster was rebuilt)"
        )),
        Err(why) => Err(format!(
            "cannot read namespace `{IDENTITY_NAMESPACE}` through context `{context}` ({why}), so gf cannot prove it is the cluster of environment `{env}` (`cluster_uid` `{expected}`)"
        )),
    }
}

/// For the lane's mutating commands, on the client they write with: refuse (exit 3, gate
/// `cluster-identity`) when the environment declares a `cluster_uid` the cluster does not have.
pub async fn verify_identity<C: Cluster>(
    cluster: &C,
    environment: &Environment,
    env: &str,
    context: &str,
) -> Result<(), Refused> {
    let Some(expected) = environment.cluster_uid.as_deref() else { return Ok(()) };
    judge(uid_of(cluster).await, expected, env, context).map(drop).map_err(|why| Refused::new(IDENTITY_GATE, why))
}

/// The variable naming the kubeconfig context.
pub const VAR: &str = "KUBE_CONTEXT";

/// `KUBE_CONTEXT` compared with the environment's `kube_context`.
#[derive(Debug, Clone, Serialize)]
pub struct ContextStatus {
    /// The environment's `kube_context`.
    pub expected: String,
    /// `KUBE_CONTEXT`, if set and not empty.
    pub actual: Option<String>,
    /// Whether they are equal.
    pub matches: bool,
}

impl ContextStatus {
    /// Compare `actual` (the value of `KUBE_CONTEXT`) with the environment's context.
    pub fn new(environment: &Environment, actual: Option<String>) -> Self {
        let actual = actual.filter(|a| !a.is_empty());
        let matches = actual.as_deref() == Some(environment.kube_context.as_str());
        Self { expected: environment.kube_context.clone(), actual, matches }
    }

    /// From the session's environment snapshot.
    pub fn of(environment: &Environment, vars: &Vars) -> Self {
        Self::new(environment, vars.get(VAR))
    }

    /// Why it does not match, and how to fix it.
    pub fn problem(&self, env: &str) -> String {
        match &self.actual {
            Some(a) => format!(
                "`{VAR}` is `{a}`, but environment `{env}` uses kube context `{want}`: set `{VAR}={want}`",
                want = self.expected
            ),
            None => format!(
                "`{VAR}` is not set; environment `{env}` uses kube context `{want}`: set `{VAR}={want}`",
                want = self.expected
            ),
        }
    }

    /// For a mutating command: the context to use, or a refusal (gate `context`) naming both.
    pub fn require(&self, env: &str, command: &str) -> Result<&str, Refused> {
        match (&self.actual, self.matches) {
            (Some(a), true) => Ok(a),
            _ => Err(Refused::new("context", format!("{}; refusing `{command}`", self.problem(env)))),
        }
    }

    /// For a read-only command: warn about a mismatch (an unset variable is not a mismatch).
    pub fn report(&self, env: &str, command: &str) {
        if self.actual.is_some() && !self.matches {
            ui::warn(&format!("{} (reported only: `{command}` changes nothing)", self.problem(env)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mismatch_names_both_contexts_and_the_fix() {
        let e = Environment { kube_context: "honey".into(), cluster_uid: None };
        assert!(ContextStatus::new(&e, Some("honey".into())).matches);
        assert_eq!(ContextStatus::new(&e, Some("honey".into())).require("dev", "gf plan").unwrap(), "honey");
        let s = ContextStatus::new(&e, Some("kind".into()));
        assert!(!s.matches);
        let r = s.require("dev", "gf lane drain").unwrap_err();
        assert_eq!(r.gate, "context");
        for part in ["`kind`", "`honey`", "`KUBE_CONTEXT=honey`", "`gf lane drain`"] {
            assert!(r.message.contains(part), "{}", r.message);
        }
        let unset = ContextStatus::new(&e, Some(String::new()));
        assert!(unset.actual.is_none() && unset.problem("dev").contains("not set"));
        assert!(unset.require("dev", "gf apply").is_err());
    }

    #[test]
    fn uids_are_lowercase_uuids() {
        assert!(is_uid("3f2b9c1e-7a4d-4e8f-9b0a-1c2d3e4f5a6b"));
        for bad in [
            "",
            "honey",
            "3F2B9C1E-7A4D-4E8F-9B0A-1C2D3E4F5A6B",
            "3f2b9c1e7a4d4e8f9b0a1c2d3e4f5a6b0000",
            " 3f2b9c1e-7a4d-4e8f-9b0a-1c2d3e4f5a6",
        ] {
            assert!(!is_uid(bad), "{bad:?}");
        }
    }

    #[tokio::test]
    async fn identity_names_both_uids_and_refuses_what_it_cannot_read() {
        let want = "3f2b9c1e-7a4d-4e8f-9b0a-1c2d3e4f5a6b";
        let other = "00000000-0000-4000-8000-000000000000";
        let e = Environment { kube_context: "honey".into(), cluster_uid: Some(want.into()) };
        let c = crate::lane::cluster::MemCluster::default();
        c.set_uid(want);
        verify_identity(&c, &e, "dev", "honey").await.unwrap();
        c.set_uid(other);
        let r = verify_identity(&c, &e, "dev", "honey").await.unwrap_err();
        assert_eq!((r.gate, r.code), ("cluster-identity", 3));
        assert!(r.message.contains(want) && r.message.contains(other), "{}", r.message);
        c.set_down("connection refused");
        let r = verify_identity(&c, &e, "dev", "honey").await.unwrap_err();
        assert!(r.message.contains("connection refused") && r.message.contains("cannot read"), "{}", r.message);
        // Without a declared UID nothing is read.
        let none = Environment { cluster_uid: None, ..e };
        let reads = c.uid_reads();
        verify_identity(&c, &none, "dev", "honey").await.unwrap();
        assert_eq!(c.uid_reads(), reads);
    }
}
