//! Where to check and whom to trust: the Attic endpoint, cache name, trusted keys, token and
//! timeouts, from the command line, `GF_ATTIC_*` or the contract.

use std::collections::HashSet;
use std::fmt;

use super::client::{BinaryCache, FetchError, HttpCache, Timeouts};
use super::signature::TrustedKeys;
use super::storepath::StorePath;
use super::{CONNECT_TIMEOUT, CacheError, DEFAULT_TIMEOUT};
use crate::contract::AtticSettings;
use crate::nix::STORE_DIR;
use crate::session::Vars;
use crate::ui;

/// Hashes per `get-missing-paths` request.
const MISSING_CHUNK: usize = 1000;

/// The Attic base URL, without a trailing `/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint(String);

impl Endpoint {
    pub(super) fn parse(value: &str, source_name: &'static str) -> Result<Self, CacheError> {
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

    pub(super) fn unreachable(&self, cause: FetchError) -> CacheError {
        CacheError::Unreachable { cache: self.cache.clone(), endpoint: self.endpoint.to_string(), cause }
    }

    /// `nix-cache-info` must answer with `StoreDir: /nix/store`; returns its priority.
    pub(super) async fn availability(&self, cache: &impl BinaryCache) -> Result<Option<i64>, CacheError> {
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
    pub(super) async fn compare_public_key(&self, cache: &impl BinaryCache) {
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
    pub(super) async fn known_missing(&self, cache: &impl BinaryCache, paths: &[StorePath]) -> HashSet<String> {
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
}
