//! The Attic cache gate.
#![allow(clippy::unused_async)] // Until the owning issue replaces this stub.
// Owned by issue 4 (cache).

use crate::app::Globals;
use crate::cli::CacheCheckArgs;
use crate::contract::{Contract, Stack};

/// `gf cache check`.
pub async fn run_check(_g: &Globals, _args: CacheCheckArgs) -> anyhow::Result<u8> {
    anyhow::bail!("`gf cache check` is not built yet (issue 4)")
}

/// The gate run before plan/apply of a `requires_cache` stack: `Ok` when the cache answers and
/// holds the stack's `cache_paths`, else an error carrying [`crate::exit::Refused`] (gate `cache`).
pub async fn gate(_contract: &Contract, stack: &Stack) -> anyhow::Result<()> {
    anyhow::bail!("the cache gate for `{}` is not built yet (issue 4)", stack.name)
}

/// For `gf doctor`: `Ok(summary)` when the cache answers `nix-cache-info`, `Err(reason)` otherwise.
pub async fn reachability(_contract: &Contract) -> Result<String, String> {
    Err("the cache check is not built yet (issue 4)".into())
}
