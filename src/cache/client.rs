//! The binary cache as gf sees it (a trait seam) and its HTTP implementation: one keep-alive
//! client (hyper, rustls for `https://`) over [`super::net`]'s quick-ack connector, connect and
//! request timeouts, retries with backoff on timeouts and 5xx only.

use std::error::Error as StdError;
use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::BodyExt as _;
use hyper::StatusCode;
use hyper::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderValue, USER_AGENT};
use hyper::{Method, Request};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};

use super::narinfo::CacheInfo;
use super::net::{BoxError, QuickAckConnector};
use super::{Endpoint, Token};

/// Attempts for a request answered 5xx.
const ATTEMPTS_5XX: u32 = 3;
/// Attempts for a request that timed out (each may take the whole request timeout).
const ATTEMPTS_TIMEOUT: u32 = 2;
/// First backoff; doubled per retry.
const BACKOFF: Duration = Duration::from_millis(200);
/// Largest body gf reads from the cache (narinfos are a few hundred bytes).
const BODY_MAX: usize = 4 << 20;
/// The `User-Agent` header.
const UA: &str = concat!("gf/", env!("CARGO_PKG_VERSION"));

type HyperClient = Client<HttpsConnector<QuickAckConnector>, String>;

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
    http: HyperClient,
    endpoint: Endpoint,
    cache: String,
    token: Option<Token>,
    /// The `Authorization` value, marked sensitive (not logged).
    auth: Option<HeaderValue>,
    timeout: Duration,
}

/// Timeouts of the HTTP client.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// TCP connect.
    pub connect: Duration,
    /// One whole request, body included.
    pub request: Duration,
}

/// What one attempt came to.
enum Attempt {
    /// A status and the (capped) body.
    Answer(StatusCode, String),
    /// No answer within the request timeout (or the connect timeout).
    TimedOut,
    /// Could not connect, or the connection broke; the cause chain.
    Failed(String),
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
        let auth = match &token {
            Some(t) => {
                let mut v =
                    HeaderValue::from_str(&format!("Bearer {}", t.expose())).map_err(|_| FetchError::Protocol {
                        url: endpoint.to_string(),
                        reason: "`GF_ATTIC_TOKEN` holds characters not allowed in an HTTP header".into(),
                    })?;
                v.set_sensitive(true);
                Some(v)
            }
            None => None,
        };
        let mut tcp = HttpConnector::new();
        tcp.enforce_http(false);
        tcp.set_nodelay(true);
        tcp.set_connect_timeout(Some(timeouts.connect));
        // ring, explicitly: the one crypto provider gf links (see Cargo.toml), independent of defaults.
        let https = HttpsConnectorBuilder::new()
            .with_provider_and_webpki_roots(Arc::new(rustls::crypto::ring::default_provider()))
            .map_err(|e| FetchError::Protocol { url: endpoint.to_string(), reason: format!("tls setup: {e}") })?
            .https_or_http()
            .enable_http1()
            .wrap_connector(QuickAckConnector::new(tcp));
        let http = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_max_idle_per_host(jobs)
            .build(https);
        Ok(Self { http, endpoint, cache: cache.to_string(), token, auth, timeout: timeouts.request })
    }

    fn url(&self, rest: &str) -> String {
        format!("{}/{rest}", self.endpoint)
    }

    fn request(&self, url: &str, body: Option<&serde_json::Value>) -> Result<Request<String>, FetchError> {
        let protocol = |reason: String| FetchError::Protocol { url: url.to_string(), reason };
        let mut req = Request::builder()
            .method(if body.is_some() { Method::POST } else { Method::GET })
            .uri(url)
            .header(USER_AGENT, UA)
            .header(ACCEPT, "*/*");
        if let Some(v) = &self.auth {
            req = req.header(AUTHORIZATION, v.clone());
        }
        let text = match body {
            Some(b) => {
                req = req.header(CONTENT_TYPE, "application/json");
                serde_json::to_string(b).map_err(|e| protocol(format!("cannot encode the request: {e}")))?
            }
            None => String::new(),
        };
        req.body(text).map_err(|e| protocol(format!("not a valid request: {e}")))
    }

    /// One request and its body, within the request timeout.
    async fn attempt(&self, req: Request<String>) -> Attempt {
        let exchange = async {
            let resp = self.http.request(req).await.map_err(|e| classify(&e))?;
            let status = resp.status();
            let text = read_body(resp.into_body()).await.map_err(|e| classify(&*e))?;
            Ok::<_, Attempt>(Attempt::Answer(status, text))
        };
        match tokio::time::timeout(self.timeout, exchange).await {
            Ok(Ok(answer) | Err(answer)) => answer,
            Err(_) => Attempt::TimedOut,
        }
    }

    /// Send with retries; `Ok((status, body))` for any final status.
    async fn send(&self, url: &str, body: Option<&serde_json::Value>) -> Result<(StatusCode, String), FetchError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.attempt(self.request(url, body)?).await {
                Attempt::Answer(status, _) if status.is_server_error() && attempt < ATTEMPTS_5XX => {}
                Attempt::Answer(status, text) => return Ok((status, self.redact(&text))),
                Attempt::TimedOut => {
                    if attempt >= ATTEMPTS_TIMEOUT {
                        return Err(FetchError::Timeout {
                            url: url.to_string(),
                            after: self.timeout,
                            attempts: attempt,
                        });
                    }
                }
                Attempt::Failed(reason) => {
                    return Err(FetchError::Connect { url: url.to_string(), reason: self.redact(&reason) });
                }
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

/// The body as text, up to [`BODY_MAX`] bytes (the rest is not read).
async fn read_body(mut body: hyper::body::Incoming) -> Result<String, BoxError> {
    let mut buf = Vec::new();
    while let Some(frame) = body.frame().await {
        let Ok(chunk) = frame?.into_data() else { continue }; // Trailers.
        if buf.len() + chunk.len() > BODY_MAX {
            break;
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

/// A connect timeout (an `io::Error` of kind `TimedOut` in the chain) counts as a timeout, like
/// the request timeout; anything else is a failure described by its causes.
fn classify(e: &(dyn StdError + 'static)) -> Attempt {
    let mut cur: Option<&(dyn StdError + 'static)> = Some(e);
    while let Some(err) = cur {
        if err.downcast_ref::<io::Error>().is_some_and(|io| io.kind() == io::ErrorKind::TimedOut) {
            return Attempt::TimedOut;
        }
        cur = err.source();
    }
    Attempt::Failed(crate::ui::error_chain(e))
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

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt as _;

    const TIMEOUTS: Timeouts = Timeouts { connect: Duration::from_secs(2), request: Duration::from_secs(4) };

    #[tokio::test]
    async fn https_endpoints_speak_tls() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let first = tokio::spawn(async move {
            let (mut peer, _) = listener.accept().await.unwrap();
            let mut head = [0u8; 3];
            peer.read_exact(&mut head).await.unwrap();
            head
        });
        let endpoint = Endpoint::parse(&format!("https://{addr}"), "test").unwrap();
        let cache = HttpCache::new(endpoint, "main", None, 4, TIMEOUTS).unwrap();
        let err = cache.cache_info().await.unwrap_err();
        // A TLS handshake record (0x16), version 3.x: a ClientHello, not plain HTTP.
        let head = first.await.unwrap();
        assert_eq!(head[..2], [0x16, 0x03], "{head:?}");
        assert!(matches!(err, FetchError::Connect { .. }), "{err}");
    }
}

/// An in-memory binary cache for unit tests: `nix-cache-info` answers (or the cache is down), and
/// narinfos by hash part.
#[cfg(test)]
#[derive(Debug, Default)]
pub struct MemCache {
    /// Narinfo texts by hash part.
    pub narinfos: std::collections::BTreeMap<String, String>,
    /// When set, every request fails to connect with this reason.
    pub down: Option<String>,
}

#[cfg(test)]
impl MemCache {
    fn check(&self, what: &str) -> Result<(), FetchError> {
        match &self.down {
            Some(reason) => Err(FetchError::Connect { url: format!("http://mem/{what}"), reason: reason.clone() }),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
impl BinaryCache for MemCache {
    async fn cache_info(&self) -> Result<CacheInfo, FetchError> {
        self.check("nix-cache-info")?;
        Ok(CacheInfo { store_dir: crate::nix::STORE_DIR.to_string(), priority: Some(41) })
    }

    async fn narinfo(&self, hash: &str) -> Result<Option<String>, FetchError> {
        self.check(hash)?;
        Ok(self.narinfos.get(hash).cloned())
    }

    async fn cache_config(&self) -> Result<CacheConfig, FetchError> {
        self.check("cache-config")?;
        Ok(CacheConfig { public_key: None, is_public: Some(true) })
    }

    async fn missing_paths(&self, hashes: &[String]) -> Result<Vec<String>, FetchError> {
        self.check("get-missing-paths")?;
        Ok(hashes.iter().filter(|h| !self.narinfos.contains_key(*h)).cloned().collect())
    }
}

#[cfg(test)]
impl<T: BinaryCache + Send + Sync> BinaryCache for Arc<T> {
    async fn cache_info(&self) -> Result<CacheInfo, FetchError> {
        (**self).cache_info().await
    }

    async fn narinfo(&self, hash: &str) -> Result<Option<String>, FetchError> {
        (**self).narinfo(hash).await
    }

    async fn cache_config(&self) -> Result<CacheConfig, FetchError> {
        (**self).cache_config().await
    }

    async fn missing_paths(&self, hashes: &[String]) -> Result<Vec<String>, FetchError> {
        (**self).missing_paths(hashes).await
    }
}
