//! The stack lifecycle: `init`, `plan`, `apply`, `destroy`, `output` with their safety gates.
#![allow(clippy::unused_async)] // Until the owning issue replaces this stub.
// Owned by issue 3 (lifecycle).

use crate::app::Globals;
use crate::cli::LifecycleArgs;

/// Which lifecycle command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `tofu init`.
    Init,
    /// `tofu plan -out`.
    Plan,
    /// `tofu apply` of the saved plan.
    Apply,
    /// `tofu destroy`.
    Destroy,
    /// `tofu output`.
    Output,
}

/// Run a lifecycle command over the selected stacks.
pub async fn run(_g: &Globals, op: Op, _args: LifecycleArgs) -> anyhow::Result<u8> {
    anyhow::bail!("`gf {op:?}` is not built yet (issue 3)")
}
