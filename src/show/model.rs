//! What `gf show` reports: actions, attribute and output changes, counts and the plan's metadata.

use serde::Serialize;
use serde_json::Value;

/// What happens to a resource or an output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// `create`.
    Create,
    /// `update` in place.
    Update,
    /// `delete` then `create` (or the other way round): a replacement.
    Replace,
    /// `delete`.
    Delete,
    /// A data source read.
    Read,
    /// Nothing.
    NoOp,
}

impl Action {
    pub(super) fn of(actions: &[Value]) -> Self {
        let a: Vec<&str> = actions.iter().filter_map(Value::as_str).collect();
        match a.as_slice() {
            ["create"] => Self::Create,
            ["update"] => Self::Update,
            ["delete"] => Self::Delete,
            ["read"] => Self::Read,
            ["delete", "create"] | ["create", "delete"] => Self::Replace,
            _ => Self::NoOp,
        }
    }

    pub(super) fn symbol(self) -> &'static str {
        match self {
            Self::Create => "+",
            Self::Update => "~",
            Self::Replace => "-/+",
            Self::Delete => "-",
            Self::Read => "<=",
            Self::NoOp => " ",
        }
    }

    pub(super) fn word(self) -> &'static str {
        match self {
            Self::Create => "create",
            Self::Update => "update",
            Self::Replace => "replace",
            Self::Delete => "delete",
            Self::Read => "read",
            Self::NoOp => "no-op",
        }
    }
}

/// One side of an attribute: its value, or why it is not shown.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", content = "value", rename_all = "kebab-case")]
pub enum Shown {
    /// The value (JSON).
    Value(Value),
    /// Marked sensitive: never shown.
    Sensitive,
    /// Known only after apply.
    Unknown,
    /// Absent on this side.
    Absent,
}

impl Shown {
    pub(super) fn text(&self) -> String {
        match self {
            Self::Value(v) => v.to_string(),
            Self::Sensitive => "(sensitive)".into(),
            Self::Unknown => "(known after apply)".into(),
            Self::Absent => "(none)".into(),
        }
    }
}

/// One attribute that differs.
#[derive(Debug, Clone, Serialize)]
pub struct AttrChange {
    /// `spec.replicas`, `tags["a"]`, `list[0]`.
    pub path: String,
    /// Before.
    pub before: Shown,
    /// After.
    pub after: Shown,
    /// Changing it forces the resource to be replaced.
    pub forces_replacement: bool,
}

/// One resource that changes.
#[derive(Debug, Clone, Serialize)]
pub struct ResourceChange {
    /// `module.x.kubernetes_namespace.this`.
    pub address: String,
    /// What happens.
    pub action: Action,
    /// Why tofu replaces it, when it says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The attributes that differ (all of them for a create or delete).
    pub attributes: Vec<AttrChange>,
}

/// One output that changes.
#[derive(Debug, Clone, Serialize)]
pub struct OutputChange {
    /// Output name.
    pub name: String,
    /// What happens.
    pub action: Action,
    /// Before.
    pub before: Shown,
    /// After.
    pub after: Shown,
}

/// Counts, as tofu's summary line gives them.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Summary {
    /// To add (replacements included).
    pub add: usize,
    /// To change in place.
    pub change: usize,
    /// To destroy (replacements included).
    pub destroy: usize,
    /// Of those, replacements.
    pub replace: usize,
}

/// The plan's metadata, as a reviewer needs it.
#[derive(Debug, Clone, Serialize)]
pub struct Meta {
    /// Stack.
    pub stack: String,
    /// Environment.
    pub env: String,
    /// When the plan was made (RFC 3339).
    pub created: String,
    /// How long ago, human-readable.
    pub age: Option<String>,
    /// The state serial it was made against (null: no state yet).
    pub state_serial: Option<u64>,
    /// `git rev-parse HEAD` at plan time.
    pub git_revision: Option<String>,
    /// tofu version.
    pub tofu_version: String,
    /// A destroy plan.
    pub destroy: bool,
    /// Why `gf apply` would refuse it now, if it would.
    pub stale: Option<String>,
}

/// Everything `gf show` prints.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The plan's metadata.
    pub meta: Meta,
    /// Counts.
    pub summary: Summary,
    /// Resource changes (no-ops left out).
    pub resources: Vec<ResourceChange>,
    /// Output changes (no-ops left out).
    pub outputs: Vec<OutputChange>,
}
