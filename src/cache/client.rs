//! The binary cache as gf sees it (a trait seam) and its HTTP implementation: one keep-alive
//! client, connect and request timeouts, retries with backoff on timeouts and 5xx only.

use std::future::Future;
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue};

use super::narinfo::CacheInfo;
use super::{Endpoint, Token};

/// Attempts for a request answered 5xx.
const ATTEMPTS_5XX: u32 = 3;
/// Attempts for a request that timed out (each may take the whole request timeout).
const ATTEMPTS_TIMEOUT: u32 = 2;
/// First backoff; doubled per retry.
const BACKOFF: Duration = Duration::from_millis(200);
/// Largest body gf reads from the cache (narinfos are a few hundred bytes).
const BODY_MAX: usize = 4 << 20;

/// Why a request to the cache failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum FetchError {
    /// 401/403.
    #[error("`{url}` answered {status}: {}", if *.token { "the token in `GF_ATTIC_TOKEN` was not accepted (a bad token counts as anonymous)" } else { "the cache is private: set `GF_ATTIC_TOKEN` to a token with pull permission" })]
    Unauthorized {
        /// The URL.
        url: String,
        /// The status.
        status: StatusCode,
        /// Whether a token was sent.
        token: bool,
    },
    /// Any other non-success status (after retries for 5xx).
    #[error("`{url}` answered {status}{}", fmt_body(.body))]
    Status {
        /// The URL.
        url: String,
        /// The status.
        status: StatusCode,
        /// The start of the body, token redacted.
        body: String,
    },
    /// No answer within the request timeout.
    #[error("`{url}` did not answer within {} ({attempts} attempts)", humantime::format_duration(*.after))]
    Timeout {
        /// The URL.
        url: String,
        /// The request timeout.
        after: Duration,
        /// Attempts made.
        attempts: u32,
    },
    /// Could not connect or the connection broke.
    #[error("cannot reach `{url}`: {reason}")]
    Connect {
        /// The URL.
        url: String,
        /// The cause chain.
        reason: String,
    },
    /// The answer is not what the protocol says.
    #[error("`{url}`: {reason}")]
    Protocol {
        /// The URL.
        url: String,
        /// What is wrong.
        reason: String,
    },
}

fn fmt_body(body: &str) -> String {
    if body.is_empty() { String::new() } else { format!(": {body}") }
}

/// Attic's `cache-config` answer (the fields gf reads).
#[derive(Debug, Clone, serde::Deserialize)]
pub struct CacheConfig {
    /// The cache's public key, `name:base64`.
    pub public_key: Option<String>,
    /// Whether anonymous clients may pull.
    pub is_public: Option<bool>,
}

#[derive(serde::Deserialize)]
struct MissingPaths {
    missing_paths: Vec<String>,
}

/// A Nix binary cache, as the gate needs it.
pub trait BinaryCache: Sync {
    /// `nix-cache-info`.
    fn cache_info(&self) -> impl Future<Output = Result<CacheInfo, FetchError>> + Send;
    /// The narinfo text for a hash part; `None` when the cache answers 404.
    fn narinfo(&self, hash: &str) -> impl Future<Output = Result<Option<String>, FetchError>> + Send;
    /// Attic's `cache-config`.
    fn cache_config(&self) -> impl Future<Output = Result<CacheConfig, FetchError>> + Send;
    /// Attic's `get-missing-paths`: the hash parts among `hashes` that the cache lacks.
    fn missing_paths(&self, hashes: &[String]) -> impl Future<Output = Result<Vec<String>, FetchError>> + Send;
}

/// An Attic (or any Nix binary cache) over HTTP.
pub struct HttpCache {
    http: reqwest::Client,
    endpoint: Endpoint,
    cache: String,
    token: Option<Token>,
    timeout: Duration,
}

/// Timeouts of the HTTP client.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// TCP connect.
    pub connect: Duration,
    /// One whole request.
    pub request: Duration,
}

impl HttpCache {
    /// One keep-alive client for `cache` at `endpoint`, with up to `jobs` idle connections.
    pub fn new(
        endpoint: Endpoint,
        cache: &str,
        token: Option<Token>,
        jobs: usize,
        timeouts: Timeouts,
    ) -> Result<Self, FetchError> {
        let mut headers = HeaderMap::new();
        if let Some(t) = &token {
            let mut v = HeaderValue::from_str(&format!("Bearer {}", t.expose())).map_err(|_| FetchError::Protocol {
                url: endpoint.to_string(),
                reason: "`GF_ATTIC_TOKEN` holds characters not allowed in an HTTP header".into(),
            })?;
            v.set_sensitive(true);
            headers.insert(AUTHORIZATION, v);
        }
        let http = reqwest::Client::builder()
            .user_agent(concat!("gf/", env!("CARGO_PKG_VERSION")))
            .default_headers(headers)
            .connect_timeout(timeouts.connect)
            .timeout(timeouts.request)
            .pool_max_idle_per_host(jobs)
            .tcp_nodelay(true)
            .build()
            .map_err(|e| FetchError::Protocol { url: endpoint.to_string(), reason: describe(&e) })?;
        Ok(Self { http, endpoint, cache: cache.to_string(), token, timeout: timeouts.request })
    }

    fn url(&self, rest: &str) -> String {
        format!("{}/{rest}", self.endpoint)
    }

    /// Send with retries; `Ok((status, body))` for any final status.
    async fn send(&self, url: &str, body: Option<&serde_json::Value>) -> Result<(StatusCode, String), FetchError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let req = match body {
                Some(b) => self.http.post(url).json(b),
                None => self.http.get(url),
            };
            let outcome = match req.send().await {
                Ok(resp) => {
                    let status = resp.status();
                    read_body(resp).await.map(|text| (status, text))
                }
                Err(e) => Err(e),
            };
            match outcome {
                Ok((status, _)) if status.is_server_error() && attempt < ATTEMPTS_5XX => {}
                Ok((status, text)) => return Ok((status, self.redact(&text))),
                Err(e) if e.is_timeout() => {
                    if attempt >= ATTEMPTS_TIMEOUT {
                        return Err(FetchError::Timeout {
                            url: url.to_string(),
                            after: self.timeout,
                            attempts: attempt,
                        });
                    }
                }
                Err(e) => return Err(FetchError::Connect { url: url.to_string(), reason: self.redact(&describe(&e)) }),
            }
            tokio::time::sleep(BACKOFF * 2u32.pow(attempt - 1)).await;
        }
    }

    /// Turn a final non-success status into an error.
    fn status_error(&self, url: &str, status: StatusCode, body: &str) -> FetchError {
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            return FetchError::Unauthorized { url: url.to_string(), status, token: self.token.is_some() };
        }
        let mut snippet: String = body.trim().chars().take(200).collect();
        if snippet.chars().any(char::is_control) {
            snippet = snippet.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
        }
        FetchError::Status { url: url.to_string(), status, body: snippet }
    }

    /// Remove the token from text a server sent back (a proxy may echo headers).
    fn redact(&self, text: &str) -> String {
        match &self.token {
            Some(t) if !t.expose().is_empty() && text.contains(t.expose()) => text.replace(t.expose(), "[redacted]"),
            _ => text.to_string(),
        }
    }
}

async fn read_body(mut resp: reqwest::Response) -> Result<String, reqwest::Error> {
    let mut buf = Vec::new();
    while let Some(chunk) = resp.chunk().await? {
        if buf.len() + chunk.len() > BODY_MAX {
            break;
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

/// A reqwest error's causes (`client error (Connect): tcp connect error: Connection refused`);
/// reqwest's own top line only repeats the URL the caller already names.
fn describe(e: &reqwest::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut cur: Option<&dyn std::error::Error> = std::error::Error::source(e).or(Some(e));
    while let Some(err) = cur {
        let s = err.to_string();
        if !parts.iter().any(|p| p.contains(&s)) {
            parts.push(s);
        }
        cur = err.source();
    }
    parts.join(": ")
}

impl BinaryCache for HttpCache {
    async fn cache_info(&self) -> Result<CacheInfo, FetchError> {
        let url = self.url(&format!("{}/nix-cache-info", self.cache));
        let (status, body) = self.send(&url, None).await?;
        if status == StatusCode::NOT_FOUND {
            return Err(FetchError::Protocol {
                url,
                reason: format!(
                    "404: no cache `{}` at `{}` (check `--cache` / `GF_ATTIC_CACHE`)",
                    self.cache, self.endpoint
                ),
            });
        }
        if !status.is_success() {
            return Err(self.status_error(&url, status, &body));
        }
        CacheInfo::parse(&body)
            .ok_or_else(|| FetchError::Protocol { url, reason: "not a `nix-cache-info` (no `StoreDir`)".into() })
    }

    async fn narinfo(&self, hash: &str) -> Result<Option<String>, FetchError> {
        let url = self.url(&format!("{}/{hash}.narinfo", self.cache));
        let (status, body) = self.send(&url, None).await?;
        if status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !status.is_success() {
            return Err(self.status_error(&url, status, &body));
        }
        Ok(Some(body))
    }

    async fn cache_config(&self) -> Result<CacheConfig, FetchError> {
        let url = self.url(&format!("_api/v1/cache-config/{}", self.cache));
        let (status, body) = self.send(&url, None).await?;
        if !status.is_success() {
            return Err(self.status_error(&url, status, &body));
        }
        serde_json::from_str(&body)
            .map_err(|e| FetchError::Protocol { url, reason: format!("not a cache-config answer: {e}") })
    }

    async fn missing_paths(&self, hashes: &[String]) -> Result<Vec<String>, FetchError> {
        let url = self.url("_api/v1/get-missing-paths");
        let req = serde_json::json!({ "cache": self.cache, "store_path_hashes": hashes });
        let (status, body) = self.send(&url, Some(&req)).await?;
        if !status.is_success() {
            return Err(self.status_error(&url, status, &body));
        }
        let a: MissingPaths = serde_json::from_str(&body)
            .map_err(|e| FetchError::Protocol { url, reason: format!("not a get-missing-paths answer: {e}") })?;
        // Attic answers hash parts; accept full paths too.
        Ok(a.missing_paths
            .into_iter()
            .map(|p| p.rsplit('/').next().unwrap_or(&p).chars().take(super::storepath::HASH_LEN).collect())
            .collect())
    }
}
