//! `gf doctor`: preflight of the environment.
#![allow(clippy::unused_async)] // Until the owning issue replaces this stub.
// Owned by issue 3 (lifecycle).

use crate::app::Globals;
use crate::cli::JsonFlag;

/// `gf doctor`.
pub async fn run(_g: &Globals, _args: JsonFlag) -> anyhow::Result<u8> {
    anyhow::bail!("`gf doctor` is not built yet (issue 3)")
}
