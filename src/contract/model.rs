//! The contract's data types: the cluster, environments, backend and Attic settings of
//! `contract.json`, and the stacks of the manifests.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::ContractError;

/// `cluster` of `contract.json`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Cluster {
    /// Cluster name (`honey`).
    pub name: String,
    /// `on-prem`.
    pub provider_shape: String,
    /// `RKE2`.
    pub distribution: String,
    /// Node roles by node name.
    pub nodes: BTreeMap<String, String>,
    /// Operator access rule.
    pub access: String,
}

/// One environment of `contract.json`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Environment {
    /// The kubeconfig context `KUBE_CONTEXT` must equal for mutating commands.
    pub kube_context: String,
    /// The UID of the cluster's `kube-system` namespace: when set, gf refuses to deploy through a
    /// context that reaches another cluster (gate `cluster-identity`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_uid: Option<String>,
}

/// `backend` of `contract.json`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BackendSettings {
    /// Only `s3`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Default region (overridden by `TOFU_BACKEND_S3_REGION`).
    pub region: String,
}

/// Optional `attic` block of `contract.json`.
#[derive(Debug, Clone, Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields)]
pub struct AtticSettings {
    /// Base URL of the Attic server.
    pub endpoint: Option<String>,
    /// Cache name.
    pub cache: Option<String>,
    /// Trusted public keys, `name:base64`.
    #[serde(default)]
    pub trusted_keys: Vec<String>,
}

/// Who may apply a stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ApplyMode {
    /// May be applied by CI on main.
    Automated,
    /// Bounded operator-driven apply: refused in CI.
    Operator,
}

impl fmt::Display for ApplyMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Automated => "automated",
            Self::Operator => "operator",
        })
    }
}

/// The drain part of a lane.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Drain {
    /// Namespace of the AutoscalingRunnerSets to drain.
    pub namespace: String,
    /// Names of the shared AutoscalingRunnerSets drained before the apply.
    pub scale_sets: Vec<String>,
}

/// A stack's lane (`heavy-nix`).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Lane {
    /// Lane name.
    pub name: String,
    /// What gets drained before the apply.
    pub drain: Drain,
}

/// One active stack.
#[derive(Debug, Clone, Serialize)]
pub struct Stack {
    /// Stack name, equal to its folder name.
    pub name: String,
    /// What the stack deploys.
    pub purpose: String,
    /// Namespaces the stack owns.
    pub namespaces: Vec<String>,
    /// Namespaces used where present.
    pub optional_namespaces: Vec<String>,
    /// Stacks that must be deployed first.
    pub depends_on: Vec<String>,
    /// Explicit state key per environment, used exactly as written.
    pub state_keys: BTreeMap<String, String>,
    /// Who may apply it.
    pub apply: ApplyMode,
    /// Whether the Attic cache gate runs before its plan/apply.
    pub requires_cache: bool,
    /// Store paths that must be present in Attic before it deploys.
    pub cache_paths: Vec<String>,
    /// The lane it is applied on.
    pub lane: Option<Lane>,
    /// `stacks/<name>` (absolute).
    #[serde(skip)]
    pub dir: PathBuf,
    /// `stacks/<name>/stack.json` relative to the root.
    #[serde(skip)]
    pub manifest: String,
}

impl Stack {
    /// The state key for `env`, refused when the manifest lists none.
    pub fn state_key(&self, env: &str) -> Result<&str, ContractError> {
        self.state_keys.get(env).map(String::as_str).ok_or_else(|| ContractError::NoStateKey {
            stack: self.name.clone(),
            env: env.to_string(),
            file: self.manifest.clone(),
        })
    }
}
