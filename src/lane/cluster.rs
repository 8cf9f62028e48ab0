//! The cluster seam: the four requests the lane makes, and their kube-rs implementation.

use std::future::Future;
use std::path::Path;

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
    /// A client for `context` of the kubeconfig at `path`, or of the standard lookup
    /// (`KUBECONFIG`, else `~/.kube/config`) when `path` is None.
    pub async fn connect(path: Option<&Path>, context: &str) -> Result<Self, ClusterError> {
        let kc_err = |source| ClusterError::Kubeconfig { context: context.to_string(), source: Box::new(source) };
        let kubeconfig = match path {
            Some(p) => Kubeconfig::read_from(p),
            None => Kubeconfig::read(),
        }
        .map_err(kc_err)?;
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
}
