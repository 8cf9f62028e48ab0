//! The heavy Nix lane: drain and restore shared ARC runner sets around the ARC apply.
#![allow(clippy::unused_async)] // Until the owning issue replaces this stub.
// Owned by issue 5 (lane).

use std::future::Future;
use std::time::Duration;

use crate::app::Globals;
use crate::cli::LaneCommand;
use crate::contract::{Contract, Stack};

/// `gf lane status|drain|restore`.
pub async fn run(_g: &Globals, _cmd: LaneCommand) -> anyhow::Result<u8> {
    anyhow::bail!("`gf lane` is not built yet (issue 5)")
}

/// Drain the stack's lane, run `apply`, and restore — also when `apply` fails or on Ctrl-C.
/// Returns `apply`'s result (or the drain/restore error).
pub async fn with_drained<T, Fut>(
    _contract: &Contract,
    _env: &str,
    stack: &Stack,
    _timeout: Duration,
    _apply: Fut,
) -> anyhow::Result<T>
where
    Fut: Future<Output = anyhow::Result<T>>,
{
    anyhow::bail!("the lane for `{}` is not built yet (issue 5)", stack.name)
}

/// The drain and restore steps `apply --dry-run` shows for a lane stack.
pub fn dry_run_steps(stack: &Stack) -> Vec<String> {
    stack.lane.as_ref().map(|l| vec![format!("drain {} (not built yet)", l.name)]).unwrap_or_default()
}
