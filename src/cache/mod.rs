//! The Attic cache gate: `gf cache check`, the gate run before plan/apply of a `requires_cache`
//! stack, and the reachability line of `gf doctor`.
//!
//! Nix formats are a small module of gf's own (store paths, narinfo, signatures), tested against
//! output of Debian's Nix 2.8; HTTP is one keep-alive hyper client behind the [`client::BinaryCache`] seam.

pub mod client;
pub mod engine;
pub mod narinfo;
pub mod net;
pub mod signature;
pub mod storepath;

use std::collections::HashSet;
use std::fmt;
use std::path::Path;
use std::time::Duration;

use serde::Serialize;

use self::client::{BinaryCache, FetchError, HttpCache, Timeouts};
use self::engine::{PathResult, Status, Summary};
use self::signature::{KeyError, TrustedKeys};
use self::storepath::StorePath;
use crate::contract::{AtticSettings, Contract, Environment, Stack};
use crate::exit;
use crate::nix::STORE_DIR;
use crate::session::{Session, Vars, World};
use crate::ui;

/// Default request timeout (a narinfo from a LAN cache takes milliseconds); `GF_ATTIC_TIMEOUT`
/// overrides it.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(4);
/// TCP connect timeout.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Default concurrent requests (the CLI's `--jobs` default).
pub const DEFAULT_JOBS: usize = 32;
/// Hashes per `get-missing-paths` request.
const MISSING_CHUNK: usize = 1000;

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
}

/// The Attic base URL, without a trailing `/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint(String);

impl Endpoint {
    fn parse(value: &str, source_name: &'static str) -> Result<Self, CacheError> {
        // First, before any parse or message can show it.
        crate::endpoint::refuse_user_info(value, "Attic endpoint", source_name, "give the token in `GF_ATTIC_TOKEN`")?;
        let bad =
            |reason: &str| CacheError::Endpoint { value: value.to_string(), source_name, reason: reason.to_string() };
        let url = url::Url::parse(value.trim()).map_err(|e| bad(&format!("not a URL ({e})")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(bad("only `http://` and `https://` endpoints are supported"));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(bad("no host"));
        }
        if url.query().is_some() || url.fragment().is_some() {
            // Shown without them: a query is where a token would hide.
            let mut shown = url.clone();
            shown.set_query(None);
            shown.set_fragment(None);
            return Err(CacheError::Endpoint {
                value: format!("{shown}?…"),
                source_name,
                reason: "no query or fragment allowed".into(),
            });
        }
        Ok(Self(url.as_str().trim_end_matches('/').to_string()))
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The Attic token (`GF_ATTIC_TOKEN`): only ever sent as `Authorization: Bearer`.
#[derive(Clone)]
pub struct Token(String);

impl Token {
    /// The secret, for the header only.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token([redacted])")
    }
}

/// Settings given on the command line (they win over the environment and the contract).
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--endpoint`.
    pub endpoint: Option<String>,
    /// `--cache`.
    pub cache: Option<String>,
    /// `--trusted-key`.
    pub trusted_keys: Vec<String>,
}

/// Where to check and whom to trust.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Base URL.
    pub endpoint: Endpoint,
    /// Cache name.
    pub cache: String,
    /// Trusted keys (may be empty: only an availability check is then possible).
    pub trusted: TrustedKeys,
    /// `GF_ATTIC_TOKEN`.
    pub token: Option<Token>,
    /// Timeouts.
    pub timeouts: Timeouts,
}

fn var(vars: &Vars, name: &str) -> Option<String> {
    vars.get(name).filter(|v| !v.trim().is_empty())
}

/// Whether `name` is a valid Attic cache name (`^[A-Za-z0-9][A-Za-z0-9-_+]{0,49}$`).
pub fn valid_cache_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && name.len() <= 50
        && chars.all(|c| c.is_ascii_alphanumeric() || "-_+".contains(c))
}

impl Settings {
    /// Resolve: flags, else `GF_ATTIC_*` from `vars`, else the contract's `attic` block.
    pub fn resolve(o: &Overrides, vars: &Vars, attic: Option<&AtticSettings>) -> Result<Self, CacheError> {
        let env_endpoint = var(vars, "GF_ATTIC_ENDPOINT");
        let (endpoint, source_name) = if let Some(e) = o.endpoint.as_deref() {
            (e, "`--endpoint`")
        } else if let Some(e) = env_endpoint.as_deref() {
            (e, "`GF_ATTIC_ENDPOINT`")
        } else if let Some(e) = attic.and_then(|a| a.endpoint.as_deref()) {
            (e, "the contract's `attic.endpoint`")
        } else {
            return Err(CacheError::NoEndpoint);
        };
        let endpoint = Endpoint::parse(endpoint, source_name)?;
        let cache = o
            .cache
            .clone()
            .or_else(|| var(vars, "GF_ATTIC_CACHE"))
            .or_else(|| attic.and_then(|a| a.cache.clone()))
            .ok_or(CacheError::NoCache)?;
        if !valid_cache_name(&cache) {
            return Err(CacheError::CacheName(cache));
        }
        let env_keys = var(vars, "GF_ATTIC_TRUSTED_KEYS");
        let keys: Vec<&str> = if !o.trusted_keys.is_empty() {
            o.trusted_keys.iter().map(String::as_str).collect()
        } else if let Some(k) = env_keys.as_deref() {
            k.split_whitespace().collect()
        } else {
            attic.map(|a| a.trusted_keys.iter().map(String::as_str).collect()).unwrap_or_default()
        };
        let trusted = TrustedKeys::parse(keys).map_err(CacheError::Keys)?;
        let request = match var(vars, "GF_ATTIC_TIMEOUT") {
            Some(t) => humantime::parse_duration(t.trim()).map_err(|_| CacheError::Timeout(t.clone()))?,
            None => DEFAULT_TIMEOUT,
        };
        let token = var(vars, "GF_ATTIC_TOKEN").map(|t| Token(t.trim().to_string()));
        Ok(Self { endpoint, cache, trusted, token, timeouts: Timeouts { connect: CONNECT_TIMEOUT, request } })
    }

    /// The HTTP client for this cache (the real world's [`World::cache`]).
    pub fn client(&self, jobs: usize) -> Result<HttpCache, CacheError> {
        HttpCache::new(self.endpoint.clone(), &self.cache, self.token.clone(), jobs, self.timeouts)
            .map_err(|cause| self.unreachable(cause))
    }

    fn unreachable(&self, cause: FetchError) -> CacheError {
        CacheError::Unreachable { cache: self.cache.clone(), endpoint: self.endpoint.to_string(), cause }
    }

    /// `nix-cache-info` must answer with `StoreDir: /nix/store`; returns its priority.
    async fn availability(&self, cache: &impl BinaryCache) -> Result<Option<i64>, CacheError> {
        let info = cache.cache_info().await.map_err(|e| self.unreachable(e))?;
        if info.store_dir != STORE_DIR {
            return Err(CacheError::StoreDir {
                cache: self.cache.clone(),
                endpoint: self.endpoint.to_string(),
                found: info.store_dir,
            });
        }
        Ok(info.priority)
    }

    /// With a token: warn when the cache's public key (Attic `cache-config`) is not trusted.
    async fn compare_public_key(&self, cache: &impl BinaryCache) {
        if self.token.is_none() {
            return;
        }
        match cache.cache_config().await {
            Ok(cfg) => match cfg.public_key {
                Some(pk) if !self.trusted.contains(&pk) => ui::warn(&format!(
                    "cache `{}` signs with `{pk}`, which is not among the trusted keys ({})",
                    self.cache,
                    if self.trusted.is_empty() { "none".to_string() } else { self.trusted.names() }
                )),
                _ => {}
            },
            Err(e) => ui::warn(&format!("cannot read Attic's cache-config: {e}")),
        }
    }

    /// With a token: hash parts Attic's `get-missing-paths` reports missing (empty when unusable).
    async fn known_missing(&self, cache: &impl BinaryCache, paths: &[StorePath]) -> HashSet<String> {
        let mut missing = HashSet::new();
        if self.token.is_none() || paths.is_empty() {
            return missing;
        }
        let hashes: Vec<String> = paths.iter().map(|p| p.hash().to_string()).collect();
        for chunk in hashes.chunks(MISSING_CHUNK) {
            match cache.missing_paths(chunk).await {
                Ok(m) => missing.extend(m),
                Err(e) => {
                    ui::note(&format!("`get-missing-paths` is not usable ({e}); fetching every narinfo"));
                    return HashSet::new();
                }
            }
        }
        missing
    }
}

/// Parse store paths, collecting every malformed one with where it came from.
fn parse_paths<'a>(items: impl IntoIterator<Item = (String, &'a str)>) -> Result<Vec<StorePath>, CacheError> {
    let mut good = Vec::new();
    let mut bad = Vec::new();
    for (origin, s) in items {
        match StorePath::parse(s) {
            Ok(p) => good.push(p),
            Err(e) => bad.push(format!("{origin}: {e}")),
        }
    }
    if bad.is_empty() { Ok(good) } else { Err(CacheError::Paths(bad)) }
}

/// Lines of a paths file: trimmed, blank lines and `#` comments skipped, with `file:line`.
fn path_lines(name: &str, text: &str) -> Vec<(String, String)> {
    text.lines()
        .enumerate()
        .map(|(i, l)| (format!("`{name}` line {}", i + 1), l.trim().to_string()))
        .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'))
        .collect()
}

fn stack_paths(stack: &Stack) -> Vec<(String, String)> {
    stack.cache_paths.iter().map(|p| (format!("`{}` `cache_paths`", stack.manifest), p.clone())).collect()
}

/// A progress bar on a terminal; nothing otherwise.
fn progress_bar(what: &str, len: usize) -> indicatif::ProgressBar {
    if !ui::stderr_is_tty() || len == 0 {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(len as u64);
    if let Ok(style) = indicatif::ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} ({elapsed})") {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(what.to_string());
    bar
}

/// The `--json` document (SPEC "Attic cache gate").
#[derive(Debug, Serialize)]
pub struct Report {
    /// The endpoint checked.
    pub endpoint: String,
    /// The cache name.
    pub cache: String,
    /// `StoreDir` from `nix-cache-info`.
    pub store_dir: String,
    /// Every path checked.
    pub paths: Vec<PathResult>,
    /// Counts per status.
    pub summary: Summary,
}

/// Check `paths` in the cache `settings` names, through `world`'s client: availability first,
/// then each path.
pub async fn check_paths<W: World>(
    world: &W,
    settings: &Settings,
    paths: &[StorePath],
    closure: bool,
    jobs: usize,
) -> Result<Report, CacheError> {
    if jobs == 0 {
        return Err(CacheError::Jobs);
    }
    if !paths.is_empty() && settings.trusted.is_empty() {
        return Err(CacheError::NoTrustedKeys);
    }
    let cache = world.cache(settings, jobs)?;
    settings.availability(&cache).await?;
    settings.compare_public_key(&cache).await;
    let known_missing = settings.known_missing(&cache, paths).await;
    let bar = progress_bar(&format!("checking `{}`", settings.cache), paths.len());
    let progress = |done: usize, total: usize| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
    };
    let opts = engine::Options {
        trusted: &settings.trusted,
        closure,
        jobs,
        known_missing: &known_missing,
        progress: &progress,
    };
    let results = engine::check(&cache, paths, &opts).await;
    bar.finish_and_clear();
    let summary = Summary::of(&results);
    Ok(Report {
        endpoint: settings.endpoint.to_string(),
        cache: settings.cache.clone(),
        store_dir: STORE_DIR.to_string(),
        paths: results,
        summary,
    })
}

/// Options of `gf cache check`.
#[derive(Debug, Clone, Default)]
pub struct CheckOptions {
    /// Flags that override `GF_ATTIC_*` and the contract.
    pub overrides: Overrides,
    /// `--paths FILE|-`.
    pub paths: Option<std::path::PathBuf>,
    /// `--stack S`: also that stack's `cache_paths`.
    pub stack: Option<String>,
    /// `--closure`.
    pub closure: bool,
    /// `--jobs`.
    pub jobs: usize,
    /// `--json`.
    pub json: bool,
}

/// `gf cache check`: `contract` (with the selected environment, if one resolves) when gf runs in a
/// repository; flags and `GF_ATTIC_*` suffice outside one.
pub async fn run_check<W: World>(
    world: &W,
    vars: &Vars,
    contract: Option<(&Contract, Option<(&str, &Environment)>)>,
    o: &CheckOptions,
) -> anyhow::Result<u8> {
    if let Some((_, Some((env, environment)))) = contract {
        crate::context::ContextStatus::of(environment, vars).report(env, "gf cache check");
    }
    let contract = contract.map(|(c, _)| c);
    let settings = Settings::resolve(&o.overrides, vars, contract.and_then(|c| c.attic.as_ref()))?;

    let mut items: Vec<(String, String)> = Vec::new();
    if let Some(file) = &o.paths {
        let (name, text) = if file == Path::new("-") {
            ("stdin".to_string(), std::io::read_to_string(std::io::stdin()))
        } else {
            (file.display().to_string(), std::fs::read_to_string(file))
        };
        let text = text.map_err(|cause| CacheError::ReadPaths { path: name.clone(), cause })?;
        items.extend(path_lines(&name, &text));
    }
    if let Some(name) = &o.stack {
        let c = contract.ok_or(CacheError::StackWithoutContract)?;
        items.extend(stack_paths(c.stack(name)?));
    }
    let paths = parse_paths(items.iter().map(|(o, p)| (o.clone(), p.as_str())))?;

    let report = check_paths(world, &settings, &paths, o.closure, o.jobs).await?;
    let ok = report.summary.total() == report.summary.present;
    if o.json {
        ui::print_json(&report)?;
    } else {
        print_human(&report);
    }
    Ok(if ok { exit::OK } else { exit::ERROR })
}

fn print_human(report: &Report) {
    let problems: Vec<Vec<String>> = report
        .paths
        .iter()
        .filter(|r| r.status != Status::Present)
        .map(|r| vec![r.status.as_str().to_string(), r.path.clone(), r.reason.clone().unwrap_or_default()])
        .collect();
    if !problems.is_empty() {
        ui::out_raw(&ui::table(&["status", "path", "reason"], &problems));
    }
    let s = &report.summary;
    let place = format!("cache `{}` at `{}`", report.cache, report.endpoint);
    if s.total() == 0 {
        crate::outln!("ok: {place} answers (StoreDir `{}`); no paths asked for", report.store_dir);
    } else if s.total() == s.present {
        crate::outln!("ok: {place}: all {} path{} present", s.total(), if s.total() == 1 { "" } else { "s" });
    } else {
        crate::outln!("{place}: {} path{}: {}", s.total(), if s.total() == 1 { "" } else { "s" }, s.describe());
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

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(v: &[(&str, &str)]) -> Vars {
        Vars::from_pairs(v.iter().copied())
    }

    #[test]
    fn cache_names() {
        for ok in ["main", "a", "A-b_c+d", &"x".repeat(50)] {
            assert!(valid_cache_name(ok), "{ok}");
        }
        for bad in ["", "-main", "_x", "ma in", "a/b", "a.b", &"x".repeat(51)] {
            assert!(!valid_cache_name(bad), "{bad}");
        }
    }

    #[test]
    fn settings_precedence() {
        let attic = AtticSettings {
            endpoint: Some("http://contract:8080/".into()),
            cache: Some("main".into()),
            trusted_keys: vec![],
        };
        let s = Settings::resolve(&Overrides::default(), &Vars::default(), Some(&attic)).unwrap();
        assert_eq!(s.endpoint.to_string(), "http://contract:8080");
        assert_eq!(s.cache, "main");
        assert!(s.trusted.is_empty());
        let env = vars(&[
            ("GF_ATTIC_ENDPOINT", "http://env:1"),
            ("GF_ATTIC_CACHE", "envcache"),
            (
                "GF_ATTIC_TRUSTED_KEYS",
                "a:E18RLVRKZQgH8laWIWwqjeJI93PwXo9szDZy3Rqwmdk= b:E18RLVRKZQgH8laWIWwqjeJI93PwXo9szDZy3Rqwmdk=",
            ),
        ]);
        let s = Settings::resolve(&Overrides::default(), &env, Some(&attic)).unwrap();
        assert_eq!((s.endpoint.to_string().as_str(), s.cache.as_str()), ("http://env:1", "envcache"));
        assert_eq!(s.trusted.names(), "`a`, `b`");
        let o =
            Overrides { endpoint: Some("https://flag/x/".into()), cache: Some("flag".into()), trusted_keys: vec![] };
        let s = Settings::resolve(&o, &env, Some(&attic)).unwrap();
        assert_eq!((s.endpoint.to_string().as_str(), s.cache.as_str()), ("https://flag/x", "flag"));
    }

    #[test]
    fn bad_settings_say_why() {
        let o = |e: &str| Overrides { endpoint: Some(e.into()), cache: Some("main".into()), trusted_keys: vec![] };
        assert!(matches!(
            Settings::resolve(&Overrides::default(), &Vars::default(), None),
            Err(CacheError::NoEndpoint)
        ));
        let e = Settings::resolve(&o("http://user:hunter2@host"), &Vars::default(), None).unwrap_err().to_string();
        assert!(e.contains("credentials") && !e.contains("hunter2"), "{e}");
        assert!(matches!(
            Settings::resolve(&o("ftp://host"), &Vars::default(), None),
            Err(CacheError::Endpoint { .. })
        ));
        assert!(matches!(Settings::resolve(&o("not a url"), &Vars::default(), None), Err(CacheError::Endpoint { .. })));
        let bad_cache = Overrides { cache: Some("bad name".into()), ..o("http://h") };
        assert!(matches!(Settings::resolve(&bad_cache, &Vars::default(), None), Err(CacheError::CacheName(_))));
        let t = vars(&[("GF_ATTIC_TIMEOUT", "soon")]);
        assert!(matches!(Settings::resolve(&o("http://h"), &t, None), Err(CacheError::Timeout(_))));
    }

    #[test]
    fn token_is_redacted_in_debug() {
        let s = Settings::resolve(
            &Overrides { endpoint: Some("http://h".into()), cache: Some("m".into()), trusted_keys: vec![] },
            &vars(&[("GF_ATTIC_TOKEN", "sentinel-secret")]),
            None,
        )
        .unwrap();
        assert!(!format!("{s:?}").contains("sentinel-secret"));
    }

    #[test]
    fn paths_files_skip_comments_and_name_lines() {
        let lines = path_lines("f", "# c\n\n  /nix/store/7rkjmg0sywydcv4mmg91scsax6fg2awj-gfx-b  \n/tmp/x\n");
        let err = parse_paths(lines.iter().map(|(o, p)| (o.clone(), p.as_str()))).unwrap_err().to_string();
        assert!(err.contains("`f` line 4: `/tmp/x` is not in the Nix store"), "{err}");
        assert!(!err.contains("line 3"), "{err}");
    }
}
