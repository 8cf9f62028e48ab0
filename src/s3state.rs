//! S3 state authority: the state object and its lock, read with aws-sdk-s3.
#![allow(clippy::unused_async)] // Until the owning issue replaces this stub.
// Owned by issue 3 (lifecycle).

use crate::app::Globals;
use crate::cli::StateArgs;

/// `gf state`.
pub async fn run(_g: &Globals, _args: StateArgs) -> anyhow::Result<u8> {
    anyhow::bail!("`gf state` is not built yet (issue 3)")
}
