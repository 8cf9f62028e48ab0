//! The cluster seam: the requests the lane and the cluster-identity check make, and their kube-rs
//! implementation.

use std::future::Future;
use std::path::PathBuf;

use kube::api::{Api, ApiResource, DynamicObject, ListParams, Patch, PatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};

use super::arc::{self, Runner, RunnerSet};

/// A failed cluster request, naming the object.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// The object changed since it was read (HTTP 409): read it again and retry.
    #[error("`{object}` changed since it was read (409 conflict)")]
    Conflict {
        /// `kind/namespace/name`.
        object: String,
    },
    /// The API server answered with an error status.
    #[error("request for `{object}` failed: {code} {reason}: {message}")]
    Status {
        /// `kind/namespace/name`.
        object: String,
        /// HTTP status.
        code: u16,
        /// The Status reason (`Forbidden`, `NotFound`, …).
        reason: String,
        /// The Status message.
        message: String,
    },
    /// The request did not get an answer (connection, TLS, auth plugin, …).
    #[error("request for `{object}` failed: {detail}")]
    Transport {
        /// `kind/namespace/name`.
        object: String,
        /// What kube-rs reported, causes included (its errors repeat their causes, so flattened once).
        detail: String,
    },
    /// The object's JSON is not what ARC serves.
    #[error("`{object}` is not a readable {kind}")]
    Decode {
        /// `kind/namespace/name`.
        object: String,
        /// Which kind was expected.
        kind: &'static str,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
    /// An object without `metadata.uid`.
    #[error("`{object}` has no `metadata.uid`")]
    NoUid {
        /// `kind/name`.
        object: String,
    },
    /// No kubeconfig file to read.
    #[error("no kubeconfig: set `KUBECONFIG` or create `~/.kube/config` (looking for context `{context}`)")]
    NoKubeconfig {
        /// The context asked for.
        context: String,
    },
    /// The kubeconfig could not be read or has no such context.
    #[error("cannot load kubeconfig context `{context}`")]
    Kubeconfig {
        /// The context asked for.
        context: String,
        /// Why.
        #[source]
        source: Box<kube::config::KubeconfigError>,
    },
    /// The client could not be built from the kubeconfig.
    #[error("cannot build a Kubernetes client for context `{context}`")]
    Client {
        /// The context asked for.
        context: String,
        /// Why.
        #[source]
        source: Box<kube::Error>,
    },
}

/// The requests the lane makes. Implemented by [`KubeCluster`]; a seam so the lane logic does not
/// depend on how the cluster is reached.
pub trait Cluster: Sync {
    /// An `AutoscalingRunnerSet`, or None when it does not exist.
    fn get_set(&self, ns: &str, name: &str) -> impl Future<Output = Result<Option<RunnerSet>, ClusterError>> + Send;
    /// Apply a JSON merge patch to an `AutoscalingRunnerSet`.
    fn patch_set(
        &self,
        ns: &str,
        name: &str,
        patch: &serde_json::Value,
    ) -> impl Future<Output = Result<RunnerSet, ClusterError>> + Send;
    /// The `EphemeralRunner`s of one set (by label).
    fn runners(&self, ns: &str, set: &str) -> impl Future<Output = Result<Vec<Runner>, ClusterError>> + Send;
    /// The scale-set label of a pod: None when the pod does not exist, Some(None) when unlabelled.
    fn pod_scale_set(
        &self,
        ns: &str,
        pod: &str,
    ) -> impl Future<Output = Result<Option<Option<String>>, ClusterError>> + Send;
    /// `metadata.uid` of a namespace (`GET /api/v1/namespaces/{name}`): `kube-system`'s is the
    /// cluster's identity.
    fn namespace_uid(&self, name: &str) -> impl Future<Output = Result<String, ClusterError>> + Send;
}

/// The cluster reached through kube-rs with a kubeconfig context.
#[derive(Clone)]
pub struct KubeCluster {
    client: kube::Client,
}

fn arc_resource(kind: &str, plural: &str) -> ApiResource {
    ApiResource {
        group: "actions.github.com".into(),
        version: "v1alpha1".into(),
        api_version: arc::API_VERSION.into(),
        kind: kind.into(),
        plural: plural.into(),
    }
}

fn pod_resource() -> ApiResource {
    ApiResource {
        group: String::new(),
        version: "v1".into(),
        api_version: "v1".into(),
        kind: "Pod".into(),
        plural: "pods".into(),
    }
}

const SETS: (&str, &str) = ("AutoscalingRunnerSet", "autoscalingrunnersets");
const RUNNERS: (&str, &str) = ("EphemeralRunner", "ephemeralrunners");

fn name_of(kind: &str, ns: &str, name: &str) -> String {
    format!("{kind}/{ns}/{name}")
}

fn api_error(object: String, e: kube::Error) -> ClusterError {
    match e {
        kube::Error::Api(r) if r.code == 409 => ClusterError::Conflict { object },
        kube::Error::Api(r) => ClusterError::Status { object, code: r.code, reason: r.reason, message: r.message },
        e => ClusterError::Transport { object, detail: crate::ui::error_chain(&e) },
    }
}

fn is_not_found(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(r) if r.code == 404)
}

impl KubeCluster {
    /// A client for `context` of the kubeconfig files `paths`, merged in order as kubectl merges
    /// `KUBECONFIG` (the first file that defines a name wins).
    pub async fn connect(paths: &[PathBuf], context: &str) -> Result<Self, ClusterError> {
        let kubeconfig = read_kubeconfig(paths, context)?;
        let kc_err = |source| ClusterError::Kubeconfig { context: context.to_string(), source: Box::new(source) };
        let options = KubeConfigOptions { context: Some(context.to_string()), cluster: None, user: None };
        let config = kube::Config::from_custom_kubeconfig(kubeconfig, &options).await.map_err(kc_err)?;
        let client = kube::Client::try_from(config)
            .map_err(|source| ClusterError::Client { context: context.to_string(), source: Box::new(source) })?;
        Ok(Self { client })
    }

    fn api(&self, ns: &str, (kind, plural): (&str, &str)) -> Api<DynamicObject> {
        Api::namespaced_with(self.client.clone(), ns, &arc_resource(kind, plural))
    }
}

/// The kubeconfig files `paths` merged in order; files that do not exist are skipped, as kubectl
/// skips them.
pub fn read_kubeconfig(paths: &[PathBuf], context: &str) -> Result<Kubeconfig, ClusterError> {
    let kc_err = |source| ClusterError::Kubeconfig { context: context.to_string(), source: Box::new(source) };
    let mut merged: Option<Kubeconfig> = None;
    for p in paths.iter().filter(|p| p.exists()) {
        let next = Kubeconfig::read_from(p).map_err(kc_err)?;
        merged = Some(match merged {
            Some(m) => m.merge(next).map_err(kc_err)?,
            None => next,
        });
    }
    merged.ok_or_else(|| ClusterError::NoKubeconfig { context: context.to_string() })
}

fn decode_set(object: &str, o: &DynamicObject) -> Result<RunnerSet, ClusterError> {
    let v = serde_json::to_value(o).and_then(RunnerSet::from_json).map_err(|source| ClusterError::Decode {
        object: object.to_string(),
        kind: SETS.0,
        source,
    })?;
    Ok(v)
}

impl Cluster for KubeCluster {
    async fn get_set(&self, ns: &str, name: &str) -> Result<Option<RunnerSet>, ClusterError> {
        let object = name_of(SETS.0, ns, name);
        match self.api(ns, SETS).get(name).await {
            Ok(o) => decode_set(&object, &o).map(Some),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(api_error(object, e)),
        }
    }

    async fn patch_set(&self, ns: &str, name: &str, patch: &serde_json::Value) -> Result<RunnerSet, ClusterError> {
        let object = name_of(SETS.0, ns, name);
        let o = self
            .api(ns, SETS)
            .patch(name, &PatchParams::default(), &Patch::Merge(patch))
            .await
            .map_err(|e| api_error(object.clone(), e))?;
        decode_set(&object, &o)
    }

    async fn runners(&self, ns: &str, set: &str) -> Result<Vec<Runner>, ClusterError> {
        let object = format!("{}/{ns} of `{set}`", RUNNERS.0);
        let list = self
            .api(ns, RUNNERS)
            .list(&ListParams::default().labels(&format!("{}={set}", arc::SCALE_SET_LABEL)))
            .await
            .map_err(|e| api_error(object.clone(), e))?;
        list.items
            .iter()
            .map(|o| {
                serde_json::to_value(o).and_then(Runner::from_json).map_err(|source| ClusterError::Decode {
                    object: object.clone(),
                    kind: RUNNERS.0,
                    source,
                })
            })
            .collect()
    }

    async fn pod_scale_set(&self, ns: &str, pod: &str) -> Result<Option<Option<String>>, ClusterError> {
        let object = name_of("Pod", ns, pod);
        let api: Api<DynamicObject> = Api::namespaced_with(self.client.clone(), ns, &pod_resource());
        match api.get(pod).await {
            Ok(o) => serde_json::to_value(&o)
                .and_then(arc::pod_scale_set)
                .map(Some)
                .map_err(|source| ClusterError::Decode { object, kind: "Pod", source }),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(api_error(object, e)),
        }
    }

    async fn namespace_uid(&self, name: &str) -> Result<String, ClusterError> {
        let object = format!("Namespace/{name}");
        let api: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(self.client.clone());
        let ns = api.get(name).await.map_err(|e| api_error(object.clone(), e))?;
        ns.metadata.uid.filter(|u| !u.is_empty()).ok_or(ClusterError::NoUid { object })
    }
}

/// An in-memory cluster for unit tests: sets, runners and pods by name, every patch recorded,
/// and injectable conflicts (409) per set.
#[cfg(test)]
#[derive(Debug, Default)]
pub struct MemCluster {
    state: std::sync::Mutex<MemState>,
}

#[cfg(test)]
#[derive(Debug, Default)]
struct MemState {
    sets: std::collections::BTreeMap<String, serde_json::Value>,
    runners: Vec<(String, Runner)>,
    pods: std::collections::BTreeMap<String, Option<String>>,
    conflicts: std::collections::BTreeMap<String, usize>,
    patches: Vec<(String, serde_json::Value)>,
    rv: u64,
    /// `kube-system`'s UID (None: the namespace is not readable).
    uid: Option<String>,
    /// Every request fails with this transport error.
    down: Option<String>,
    /// How many times the namespace UID was read.
    uid_reads: usize,
}

#[cfg(test)]
impl MemCluster {
    fn with<R>(&self, f: impl FnOnce(&mut MemState) -> R) -> R {
        f(&mut self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner))
    }

    /// Add a set with caps.
    pub fn add_set(&self, name: &str, min: Option<i64>, max: Option<i64>) {
        self.with(|s| {
            s.rv += 1;
            let mut spec = serde_json::Map::new();
            if let Some(m) = min {
                spec.insert("minRunners".into(), m.into());
            }
            if let Some(m) = max {
                spec.insert("maxRunners".into(), m.into());
            }
            let v =
                serde_json::json!({ "metadata": { "name": name, "resourceVersion": s.rv.to_string() }, "spec": spec });
            s.sets.insert(name.to_string(), v);
        });
    }

    /// Add a runner of `set`, busy when `job` is given.
    pub fn add_runner(&self, set: &str, name: &str, job: Option<&str>) {
        self.with(|s| {
            s.runners.push((set.to_string(), Runner { name: name.into(), job_id: job.map(str::to_string) }));
        });
    }

    /// The next `n` patches of `set` answer 409.
    pub fn conflict_next(&self, set: &str, n: usize) {
        self.with(|s| s.conflicts.insert(set.to_string(), n));
    }

    /// A set's caps now.
    pub fn caps(&self, name: &str) -> (Option<i64>, Option<i64>) {
        self.with(|s| {
            let v = &s.sets[name];
            (v["spec"]["minRunners"].as_i64(), v["spec"]["maxRunners"].as_i64())
        })
    }

    /// Change a set's caps from outside gf (as an apply would).
    pub fn set_caps(&self, name: &str, min: i64, max: i64) {
        self.with(|s| {
            s.rv += 1;
            let rv = s.rv.to_string();
            let v = s.sets.get_mut(name).expect("known set");
            v["spec"] = serde_json::json!({ "minRunners": min, "maxRunners": max });
            v["metadata"]["resourceVersion"] = rv.into();
        });
    }

    /// Every patch sent, in order: (set, patch).
    pub fn patches(&self) -> Vec<(String, serde_json::Value)> {
        self.with(|s| s.patches.clone())
    }

    /// `kube-system` has this UID.
    pub fn set_uid(&self, uid: &str) {
        self.with(|s| s.uid = Some(uid.to_string()));
    }

    /// Every namespace read fails as if the API server were unreachable.
    pub fn set_down(&self, why: &str) {
        self.with(|s| s.down = Some(why.to_string()));
    }

    /// How many times a namespace UID was read.
    pub fn uid_reads(&self) -> usize {
        self.with(|s| s.uid_reads)
    }

    /// The set's drain annotation, if any.
    pub fn annotation(&self, name: &str) -> Option<String> {
        self.with(|s| s.sets[name]["metadata"]["annotations"][arc::DRAINED_FROM].as_str().map(str::to_string))
    }
}

/// RFC 7386 JSON merge patch.
#[cfg(test)]
fn merge_json(target: &mut serde_json::Value, patch: &serde_json::Value) {
    let serde_json::Value::Object(p) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = serde_json::Value::Object(serde_json::Map::new());
    }
    if let Some(t) = target.as_object_mut() {
        for (k, v) in p {
            if v.is_null() {
                t.remove(k);
            } else {
                merge_json(t.entry(k.clone()).or_insert(serde_json::Value::Null), v);
            }
        }
    }
}

#[cfg(test)]
impl Cluster for MemCluster {
    async fn get_set(&self, _ns: &str, name: &str) -> Result<Option<RunnerSet>, ClusterError> {
        let v = self.with(|s| s.sets.get(name).cloned());
        v.map(|v| {
            RunnerSet::from_json(v).map_err(|source| ClusterError::Decode { object: name.into(), kind: SETS.0, source })
        })
        .transpose()
    }

    async fn patch_set(&self, _ns: &str, name: &str, patch: &serde_json::Value) -> Result<RunnerSet, ClusterError> {
        let object = format!("AutoscalingRunnerSet/{name}");
        let after = self.with(|s| {
            s.patches.push((name.to_string(), patch.clone()));
            if let Some(n) = s.conflicts.get_mut(name).filter(|n| **n > 0) {
                *n -= 1;
                return Err(ClusterError::Conflict { object: object.clone() });
            }
            let current = s.sets.get(name).cloned().ok_or_else(|| ClusterError::Status {
                object: object.clone(),
                code: 404,
                reason: "NotFound".into(),
                message: "not found".into(),
            })?;
            let sent = patch["metadata"]["resourceVersion"].as_str();
            if sent.is_some() && sent != current["metadata"]["resourceVersion"].as_str() {
                return Err(ClusterError::Conflict { object: object.clone() });
            }
            let mut v = current;
            merge_json(&mut v, patch);
            s.rv += 1;
            v["metadata"]["resourceVersion"] = s.rv.to_string().into();
            s.sets.insert(name.to_string(), v.clone());
            Ok(v)
        })?;
        RunnerSet::from_json(after).map_err(|source| ClusterError::Decode { object, kind: SETS.0, source })
    }

    async fn runners(&self, _ns: &str, set: &str) -> Result<Vec<Runner>, ClusterError> {
        Ok(self.with(|s| s.runners.iter().filter(|(owner, _)| owner == set).map(|(_, r)| r.clone()).collect()))
    }

    async fn pod_scale_set(&self, _ns: &str, pod: &str) -> Result<Option<Option<String>>, ClusterError> {
        Ok(self.with(|s| s.pods.get(pod).cloned()))
    }

    async fn namespace_uid(&self, name: &str) -> Result<String, ClusterError> {
        let object = format!("Namespace/{name}");
        self.with(|s| {
            s.uid_reads += 1;
            if let Some(why) = &s.down {
                return Err(ClusterError::Transport { object: object.clone(), detail: why.clone() });
            }
            s.uid.clone().ok_or(ClusterError::Status {
                object,
                code: 403,
                reason: "Forbidden".into(),
                message: "namespaces is forbidden".into(),
            })
        })
    }
}

#[cfg(test)]
impl<T: Cluster + Send + Sync> Cluster for std::sync::Arc<T> {
    async fn get_set(&self, ns: &str, name: &str) -> Result<Option<RunnerSet>, ClusterError> {
        (**self).get_set(ns, name).await
    }

    async fn patch_set(&self, ns: &str, name: &str, patch: &serde_json::Value) -> Result<RunnerSet, ClusterError> {
        (**self).patch_set(ns, name, patch).await
    }

    async fn runners(&self, ns: &str, set: &str) -> Result<Vec<Runner>, ClusterError> {
        (**self).runners(ns, set).await
    }

    async fn pod_scale_set(&self, ns: &str, pod: &str) -> Result<Option<Option<String>>, ClusterError> {
        (**self).pod_scale_set(ns, pod).await
    }

    async fn namespace_uid(&self, name: &str) -> Result<String, ClusterError> {
        (**self).namespace_uid(name).await
    }
}
