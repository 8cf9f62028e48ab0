//! What every command works with: one snapshot of the environment ([`Vars`]), the world gf talks
//! to ([`World`]: the S3 store, the cluster, the binary cache) and, for commands that need a
//! contract and an environment, one [`Session`].
//!
//! `app` builds these once from the command line; capability modules take them as parameters and
//! never read the process environment themselves.

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::future::Future;
use std::path::{Path, PathBuf};

use crate::cache::client::{BinaryCache, HttpCache};
use crate::cache::{CacheError, Settings as CacheSettings};
use crate::contract::{Contract, Environment};
use crate::lane::cluster::{Cluster, ClusterError, KubeCluster};
use crate::s3state::{ObjectStore, S3Settings, S3Store};

/// One snapshot of the process environment, taken with `vars_os()` (a non-UTF-8 name or value
/// never panics; it is shown lossily where shown at all, and passed to children byte for byte).
#[derive(Clone, Default)]
pub struct Vars {
    map: BTreeMap<OsString, OsString>,
}

impl std::fmt::Debug for Vars {
    // Values hold credentials: only names are ever shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.map.keys()).finish()
    }
}

impl Vars {
    /// The environment of this process, now.
    pub fn capture() -> Self {
        Self::from_os(std::env::vars_os())
    }

    /// From name/value pairs (tests, fakes).
    pub fn from_os<K: Into<OsString>, V: Into<OsString>>(pairs: impl IntoIterator<Item = (K, V)>) -> Self {
        Self { map: pairs.into_iter().map(|(k, v)| (k.into(), v.into())).collect() }
    }

    /// From UTF-8 pairs.
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        Self::from_os(pairs)
    }

    /// The value of `name`, lossily decoded; `None` when unset or empty.
    pub fn get(&self, name: &str) -> Option<String> {
        self.raw(name).filter(|v| !v.is_empty()).map(|v| v.to_string_lossy().into_owned())
    }

    /// The raw value of `name` (may be empty).
    pub fn raw(&self, name: &str) -> Option<&OsStr> {
        self.map.get(OsStr::new(name)).map(OsString::as_os_str)
    }

    /// Whether `name` is exactly `true` (as `CI=true`).
    pub fn is_true(&self, name: &str) -> bool {
        self.raw(name).is_some_and(|v| v == "true")
    }

    /// Every name/value pair, raw.
    pub fn iter(&self) -> impl Iterator<Item = (&OsStr, &OsStr)> {
        self.map.iter().map(|(k, v)| (k.as_os_str(), v.as_os_str()))
    }

    /// The names (lossy) that start with `prefix`, sorted.
    pub fn names_with_prefix(&self, prefix: &str) -> Vec<String> {
        self.map.keys().map(|k| k.to_string_lossy().into_owned()).filter(|k| k.starts_with(prefix)).collect()
    }

    /// A lookup closure over [`Vars::get`], for code written against `Fn(&str) -> Option<String>`.
    pub fn lookup(&self) -> impl Fn(&str) -> Option<String> + '_ {
        |k| self.get(k)
    }

    /// A copy with `name` set (tests).
    #[must_use]
    pub fn with(mut self, name: &str, value: &str) -> Self {
        self.map.insert(name.into(), value.into());
        self
    }
}

/// The outside world gf talks to, as seams: the real one in production, in-memory fakes in unit
/// tests. tofu is not part of it: its seam is the binary (tests run the machine's terraform).
pub trait World: Send + Sync {
    /// The S3 state store.
    type Store: ObjectStore;
    /// The Kubernetes cluster.
    type Cluster: Cluster + Send + Sync;
    /// The Attic binary cache.
    type Cache: BinaryCache;

    /// A client for the state store (no request is made).
    fn store(&self, settings: &S3Settings) -> Self::Store;

    /// A client for `context` of the kubeconfig files `kubeconfig` (merged in order).
    fn cluster(
        &self,
        kubeconfig: &[PathBuf],
        context: &str,
    ) -> impl Future<Output = Result<Self::Cluster, ClusterError>> + Send;

    /// A client for the binary cache `settings` names, `jobs` requests in flight.
    fn cache(&self, settings: &CacheSettings, jobs: usize) -> Result<Self::Cache, CacheError>;
}

/// The real world: aws-sdk-s3, kube-rs, the hyper cache client.
#[derive(Debug, Clone, Copy, Default)]
pub struct RealWorld;

impl World for RealWorld {
    type Store = S3Store;
    type Cluster = KubeCluster;
    type Cache = HttpCache;

    fn store(&self, settings: &S3Settings) -> S3Store {
        S3Store::new(settings)
    }

    async fn cluster(&self, kubeconfig: &[PathBuf], context: &str) -> Result<KubeCluster, ClusterError> {
        KubeCluster::connect(kubeconfig, context).await
    }

    fn cache(&self, settings: &CacheSettings, jobs: usize) -> Result<HttpCache, CacheError> {
        settings.client(jobs)
    }
}

/// The kubeconfig files gf reads: `KUBECONFIG` (a `:`-separated list, as kubectl reads it), else
/// `$HOME/.kube/config`.
pub fn kubeconfig_paths(vars: &Vars) -> Vec<PathBuf> {
    if let Some(list) = vars.raw("KUBECONFIG").filter(|v| !v.is_empty()) {
        return std::env::split_paths(list).filter(|p| !p.as_os_str().is_empty()).collect();
    }
    vars.raw("HOME").map(|h| Path::new(h).join(".kube").join("config")).into_iter().collect()
}

/// A command's whole context: the contract, the selected environment, the environment snapshot,
/// the kubeconfig, whether gf runs in CI, and the world.
pub struct Session<W: World = RealWorld> {
    /// The loaded, valid contract (its `root` is the repository root).
    pub contract: Contract,
    /// The selected environment's name.
    pub env: String,
    /// The selected environment.
    pub environment: Environment,
    /// The process environment, captured once.
    pub vars: Vars,
    /// The kubeconfig files (see [`kubeconfig_paths`]).
    pub kubeconfig: Vec<PathBuf>,
    /// `CI=true`.
    pub ci: bool,
    /// The seams.
    pub world: W,
}

impl<W: World> Session<W> {
    /// A session for `env` of `contract` (the environment must exist in it).
    pub fn new(contract: Contract, env: &str, vars: Vars, world: W) -> Result<Self, crate::contract::ContractError> {
        let (name, environment) = contract.env(Some(env))?;
        let (env, environment) = (name.to_string(), environment.clone());
        let kubeconfig = kubeconfig_paths(&vars);
        let ci = vars.is_true("CI");
        Ok(Self { contract, env, environment, vars, kubeconfig, ci, world })
    }

    /// The repository root.
    pub fn root(&self) -> &Path {
        &self.contract.root
    }
}

/// The world of unit tests: one shared in-memory store, cluster and cache.
#[cfg(test)]
#[derive(Debug, Default, Clone)]
pub struct FakeWorld {
    /// The state store (every [`World::store`] call returns this one).
    pub store: std::sync::Arc<crate::s3state::MemStore>,
    /// The cluster.
    pub cluster: std::sync::Arc<crate::lane::cluster::MemCluster>,
    /// The binary cache.
    pub cache: std::sync::Arc<crate::cache::client::MemCache>,
}

#[cfg(test)]
impl World for FakeWorld {
    type Store = std::sync::Arc<crate::s3state::MemStore>;
    type Cluster = std::sync::Arc<crate::lane::cluster::MemCluster>;
    type Cache = std::sync::Arc<crate::cache::client::MemCache>;

    fn store(&self, _settings: &S3Settings) -> Self::Store {
        self.store.clone()
    }

    async fn cluster(&self, _kubeconfig: &[PathBuf], _context: &str) -> Result<Self::Cluster, ClusterError> {
        Ok(self.cluster.clone())
    }

    fn cache(&self, _settings: &CacheSettings, _jobs: usize) -> Result<Self::Cache, CacheError> {
        Ok(self.cache.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::ffi::OsStringExt as _;

    #[test]
    fn non_utf8_values_are_kept_raw_and_shown_lossily() {
        let bad = OsString::from_vec(vec![b'a', 0xff, b'b']);
        let v = Vars::from_os([(OsString::from("X"), bad.clone()), (OsString::from("E"), OsString::new())]);
        assert_eq!(v.raw("X"), Some(bad.as_os_str()));
        assert_eq!(v.get("X").as_deref(), Some("a\u{fffd}b"));
        assert_eq!(v.get("E"), None, "an empty value reads as unset");
        assert!(!format!("{v:?}").contains('a'), "Debug shows names only: {v:?}");
    }

    #[test]
    fn kubeconfig_is_the_kubeconfig_list_else_home() {
        let v = Vars::from_pairs([("KUBECONFIG", "/a:/b"), ("HOME", "/h")]);
        assert_eq!(kubeconfig_paths(&v), [PathBuf::from("/a"), PathBuf::from("/b")]);
        let v = Vars::from_pairs([("HOME", "/h")]);
        assert_eq!(kubeconfig_paths(&v), [PathBuf::from("/h/.kube/config")]);
    }
}
