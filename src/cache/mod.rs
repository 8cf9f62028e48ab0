//! The Attic cache gate: `gf cache check`, the gate run before plan/apply of a `requires_cache`
//! stack, and the reachability line of `gf doctor`.
//!
//! Nix formats are a small module of gf's own (store paths, narinfo, signatures), tested against
//! output of Debian's Nix 2.8; HTTP is one keep-alive hyper client behind the [`client::BinaryCache`] seam.

mod check;
pub mod client;
pub mod engine;
pub mod narinfo;
pub mod net;
mod settings;
pub mod signature;
pub mod storepath;

use std::time::Duration;

use self::check::{parse_paths, stack_paths};
use self::client::FetchError;
use self::engine::Status;
use self::signature::KeyError;
use crate::contract::{Contract, Stack};
use crate::nix::STORE_DIR;
use crate::session::{Session, Vars, World};
pub use check::{CheckOptions, Report, check_paths, run_check};
pub use settings::{Endpoint, Overrides, Settings, Token, valid_cache_name};

/// Default request timeout (a narinfo from a LAN cache takes milliseconds); `GF_ATTIC_TIMEOUT`
/// overrides it.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(4);
/// TCP connect timeout.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Default concurrent requests (the CLI's `--jobs` default).
pub const DEFAULT_JOBS: usize = 32;

/// Errors of the cache gate's set-up (reaching the cache is [`FetchError`]).
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// No endpoint from any source.
    #[error("no Attic endpoint: pass `--endpoint`, set `GF_ATTIC_ENDPOINT` or the contract's `attic.endpoint`")]
    NoEndpoint,
    /// No cache name from any source.
    #[error("no Attic cache name: pass `--cache`, set `GF_ATTIC_CACHE` or the contract's `attic.cache`")]
    NoCache,
    /// A bad endpoint URL.
    #[error("Attic endpoint `{value}` (from {source_name}): {reason}")]
    Endpoint {
        /// The value (never carries credentials: those are refused unprinted).
        value: String,
        /// Where it came from.
        source_name: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// An endpoint with user info (never shown).
    #[error(transparent)]
    UserInfo(#[from] crate::endpoint::UserInfo),
    /// A bad cache name.
    #[error(
        "cache name `{0}` is not valid: 1 to 50 characters, letters, digits, `-`, `_` and `+`, starting with a letter or digit"
    )]
    CacheName(String),
    /// Unusable trusted keys.
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Keys(Vec<KeyError>),
    /// Paths to check but no key to check them against.
    #[error(
        "no trusted keys: pass `--trusted-key name:base64`, set `GF_ATTIC_TRUSTED_KEYS` or the contract's `attic.trusted_keys`"
    )]
    NoTrustedKeys,
    /// Malformed store paths (every one listed).
    #[error("malformed store path{}:\n  {}", if .0.len() == 1 { "" } else { "s" }, .0.join("\n  "))]
    Paths(Vec<String>),
    /// `--paths` could not be read.
    #[error("cannot read `{path}`: {cause}")]
    ReadPaths {
        /// The file.
        path: String,
        /// Why.
        cause: std::io::Error,
    },
    /// `--stack` outside a repository.
    #[error("`--stack` needs the contract: run gf inside the repository or pass `-C DIR`")]
    StackWithoutContract,
    /// `--jobs 0`.
    #[error("`--jobs` must be at least 1")]
    Jobs,
    /// `GF_ATTIC_TIMEOUT` is not a duration.
    #[error("`GF_ATTIC_TIMEOUT` `{0}` is not a duration like `4s`")]
    Timeout(String),
    /// The cache does not answer `nix-cache-info`.
    #[error("cache `{cache}` at `{endpoint}` is unreachable: {cause}")]
    Unreachable {
        /// Cache name.
        cache: String,
        /// Endpoint.
        endpoint: String,
        /// Why (in the message, not the error chain, so it is printed once).
        cause: FetchError,
    },
    /// `StoreDir` is not `/nix/store`.
    #[error("cache `{cache}` at `{endpoint}` serves store dir `{found}`, not `{STORE_DIR}`")]
    StoreDir {
        /// Cache name.
        cache: String,
        /// Endpoint.
        endpoint: String,
        /// What it said.
        found: String,
    },
    /// `--stack` names no stack of the contract.
    #[error(transparent)]
    Contract(#[from] crate::contract::ContractError),
    /// The JSON document.
    #[error(transparent)]
    Json(#[from] serde_json::Error),
}

impl crate::exit::Refusal for CacheError {
    fn refusal(&self) -> Option<&crate::exit::Refused> {
        None
    }
}

/// The gate run before plan/apply of a `requires_cache` stack: `Ok(what was checked)` when the
/// cache answers and holds the stack's `cache_paths`, else `Err(why)` (gate `cache`, exit 3).
pub async fn gate<W: World>(s: &Session<W>, stack: &Stack) -> Result<String, String> {
    let settings = Settings::resolve(&Overrides::default(), &s.vars, s.contract.attic.as_ref())
        .map_err(|e| format!("`{}` requires the Attic cache, but {e}", stack.name))?;
    let paths = parse_paths(stack_paths(stack).iter().map(|(o, p)| (o.clone(), p.as_str())))
        .map_err(|e| format!("`{}`: {e}", stack.name))?;
    let report = check_paths(&s.world, &settings, &paths, false, DEFAULT_JOBS)
        .await
        .map_err(|e| format!("`{}` requires the Attic cache: {e}", stack.name))?;
    let sum = report.summary;
    if sum.present != sum.total() {
        let listed: Vec<String> = report
            .paths
            .iter()
            .filter(|r| r.status != Status::Present)
            .map(|r| format!("`{}` ({}: {})", r.path, r.status.as_str(), r.reason.as_deref().unwrap_or("")))
            .collect();
        return Err(format!(
            "{} of {} `cache_paths` of `{}` not present in cache `{}` at `{}`: {}; push them or pass `--skip-cache-gate`",
            sum.total() - sum.present,
            sum.total(),
            stack.name,
            settings.cache,
            settings.endpoint,
            listed.join(", ")
        ));
    }
    let held = if sum.present == 0 {
        format!("`{}` lists no `cache_paths`", stack.name)
    } else {
        format!("the {} `cache_paths` of `{}` are present and signed", sum.present, stack.name)
    };
    Ok(format!("`{}` at `{}` answers; {held}", settings.cache, settings.endpoint))
}

/// For `gf doctor`: `Ok(summary)` when the cache answers `nix-cache-info`, `Err(reason)` otherwise.
pub async fn reachability<W: World>(world: &W, contract: &Contract, vars: &Vars) -> Result<String, String> {
    let settings =
        Settings::resolve(&Overrides::default(), vars, contract.attic.as_ref()).map_err(|e| e.to_string())?;
    let cache = world.cache(&settings, 1).map_err(|e| e.to_string())?;
    let priority = settings.availability(&cache).await.map_err(|e| e.to_string())?;
    let keys = if settings.trusted.is_empty() { "no trusted keys".to_string() } else { settings.trusted.names() };
    Ok(format!(
        "cache `{}` at `{}` answers (StoreDir `{STORE_DIR}`{}); trusted: {keys}",
        settings.cache,
        settings.endpoint,
        priority.map(|p| format!(", priority {p}")).unwrap_or_default()
    ))
}
