//! The HTTP state backend as terraform's `backend "http"` and GitLab-managed state speak it: `GET`
//! the state, lock and unlock with tofu's lock JSON (`LOCK`/`UNLOCK` by default, GitLab's
//! `POST`/`DELETE` on `<address>/lock`), basic auth from `TF_HTTP_USERNAME`/`TF_HTTP_PASSWORD`.
//!
//! Used only by `gf state migrate`. The credentials never reach a message: addresses with user info
//! are refused without being shown, addresses are shown without their query (it may carry a
//! token), and any text a server sends back has the password and the basic-auth token removed.

mod address;
mod lock;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::BodyExt as _;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue, USER_AGENT};
use hyper::{Method, Request, StatusCode};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

pub use address::{Address, Credentials, Endpoints};
pub use lock::{LockRecord, who};

/// The basic-auth user name.
pub const ENV_USERNAME: &str = "TF_HTTP_USERNAME";
/// The basic-auth password (a GitLab token).
pub const ENV_PASSWORD: &str = "TF_HTTP_PASSWORD";
/// Largest state gf reads (a state is JSON held in memory twice: read and written back).
pub const STATE_MAX: usize = 256 << 20;
/// Largest error or lock body gf reads.
const SMALL_BODY_MAX: usize = 64 << 10;
/// The `User-Agent` header.
const UA: &str = concat!("gf/", env!("CARGO_PKG_VERSION"));
/// What gf says about GitLab when a lock route is missing.
const GITLAB_HINT: &str = " (GitLab locks at `<address>/lock`: pass `--lock-address <address>/lock --lock-method POST --unlock-method DELETE`)";

/// Errors of the HTTP state backend. No variant holds a credential or an address's query.
#[derive(Debug, thiserror::Error)]
pub enum HttpStateError {
    /// `https://user:password@host/…`: refused without showing it.
    #[error(
        "`{flag}` holds user info (`user:password@`), which gf does not show or use: credentials on a command line are visible to every process; pass them in `{ENV_USERNAME}`/`{ENV_PASSWORD}`"
    )]
    UserInfo {
        /// The flag.
        flag: &'static str,
    },
    /// Not an http(s) URL.
    #[error("`{flag}` is not an http(s) URL: {reason}")]
    Address {
        /// The flag.
        flag: &'static str,
        /// Why (never the value).
        reason: String,
    },
    /// A method that is not an HTTP token.
    #[error("`{flag}` is not an HTTP method (letters, digits and `!#$%&'*+-.^_|~` only)")]
    Method {
        /// The flag.
        flag: &'static str,
    },
    /// A password without a user name.
    #[error(
        "`{ENV_PASSWORD}` is set but `{ENV_USERNAME}` is not: basic auth needs both (GitLab: your user name, or `gitlab-ci-token` with a job token)"
    )]
    PasswordWithoutUser,
    /// A credential that cannot be sent in a header.
    #[error("`{var}` holds characters not allowed in an HTTP header")]
    HeaderValue {
        /// The variable.
        var: &'static str,
    },
    /// 401/403.
    #[error("`{method} {url}` answered {status}: {}", if *.credentials {
        format!("the server did not accept the credentials in `{ENV_USERNAME}`/`{ENV_PASSWORD}`")
    } else {
        format!("the server wants credentials: set `{ENV_USERNAME}` and `{ENV_PASSWORD}`")
    })]
    Unauthorized {
        /// The method.
        method: String,
        /// The address as shown.
        url: String,
        /// The status.
        status: StatusCode,
        /// Whether credentials were sent.
        credentials: bool,
    },
    /// 409/423: someone else holds the lock.
    #[error("`{method} {url}` answered {status}: the state is locked{}", holder_text(.holder.as_deref()))]
    Locked {
        /// The method.
        method: String,
        /// The address as shown.
        url: String,
        /// The status.
        status: StatusCode,
        /// The holder, when the server said.
        holder: Option<Box<LockRecord>>,
    },
    /// Any other status.
    #[error("`{method} {url}` answered {status}{}{hint}", if .body.is_empty() { String::new() } else { format!(": {}", .body) })]
    Status {
        /// The method.
        method: String,
        /// The address as shown.
        url: String,
        /// The status.
        status: StatusCode,
        /// The start of the body, credentials removed.
        body: String,
        /// What to try.
        hint: &'static str,
    },
    /// No answer in time.
    #[error("`{method} {url}` did not answer within {}", humantime::format_duration(*.after))]
    Timeout {
        /// The method.
        method: String,
        /// The address as shown.
        url: String,
        /// The timeout.
        after: Duration,
    },
    /// Could not connect, or the connection broke.
    #[error("cannot reach `{method} {url}`: {reason}")]
    Connect {
        /// The method.
        method: String,
        /// The address as shown.
        url: String,
        /// The cause chain, credentials removed.
        reason: String,
    },
    /// The state is larger than [`STATE_MAX`].
    #[error("`GET {url}`: the state is larger than {} MiB, more than gf reads", STATE_MAX >> 20)]
    TooLarge {
        /// The address as shown.
        url: String,
    },
}

fn holder_text(holder: Option<&LockRecord>) -> String {
    holder.map_or_else(String::new, |h| format!(" by {}", h.describe()))
}

impl HttpStateError {
    /// Whether the request may have reached the server and taken effect although gf got no
    /// answer it understood (a lock that timed out may be held: release it to be sure).
    pub fn may_have_taken_effect(&self) -> bool {
        match self {
            Self::Timeout { .. } | Self::Connect { .. } => true,
            Self::Status { status, .. } => status.is_server_error(),
            _ => false,
        }
    }
}

/// The HTTP state backend as `gf state migrate` needs it.
pub trait HttpState: Sync {
    /// Take the lock with `record`. `Locked` when someone else holds it.
    fn lock(&self, record: &LockRecord) -> impl Future<Output = Result<(), HttpStateError>> + Send;
    /// Release the lock `record` holds.
    fn unlock(&self, record: &LockRecord) -> impl Future<Output = Result<(), HttpStateError>> + Send;
    /// The state's bytes; `None` when there is none (204, 404 or an empty 200, as terraform reads it).
    fn get(&self) -> impl Future<Output = Result<Option<Vec<u8>>, HttpStateError>> + Send;
}

/// Timeouts of the HTTP state client.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// TCP connect.
    pub connect: Duration,
    /// One whole request, body included.
    pub request: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self { connect: Duration::from_secs(5), request: Duration::from_mins(1) }
    }
}

/// The real backend: hyper (rustls on ring for `https://`), no redirects followed, no retries
/// (a lock request is not idempotent).
pub struct HttpStateClient {
    http: Client<HttpsConnector<HttpConnector>, String>,
    endpoints: Endpoints,
    credentials: Option<Credentials>,
    auth: Option<HeaderValue>,
    timeout: Duration,
}

/// A request's outcome: status and body (capped).
struct Answer {
    status: StatusCode,
    body: Vec<u8>,
    /// The body went past the cap and was not read to the end.
    truncated: bool,
}

impl HttpStateClient {
    /// A client for `endpoints` (no request is made).
    pub fn new(
        endpoints: Endpoints,
        credentials: Option<Credentials>,
        timeouts: Timeouts,
    ) -> Result<Self, HttpStateError> {
        let auth = credentials.as_ref().map(Credentials::header).transpose()?;
        let mut tcp = HttpConnector::new();
        tcp.enforce_http(false);
        tcp.set_nodelay(true);
        tcp.set_connect_timeout(Some(timeouts.connect));
        let https = HttpsConnectorBuilder::new()
            .with_provider_and_webpki_roots(Arc::new(rustls::crypto::ring::default_provider()))
            .map_err(|e| HttpStateError::Connect {
                method: "GET".into(),
                url: endpoints.state.to_string(),
                reason: format!("tls setup: {e}"),
            })?
            .https_or_http()
            .enable_http1()
            .wrap_connector(tcp);
        let http = Client::builder(TokioExecutor::new()).build(https);
        Ok(Self { http, endpoints, credentials, auth, timeout: timeouts.request })
    }

    fn redact(&self, text: &str) -> String {
        self.credentials.as_ref().map_or_else(|| text.to_string(), |c| c.redact(text))
    }

    async fn send(
        &self,
        method: &Method,
        to: &Address,
        body: Option<String>,
        cap: usize,
    ) -> Result<Answer, HttpStateError> {
        let (m, url) = (method.to_string(), to.to_string());
        let mut req = Request::builder().method(method.clone()).uri(to.as_uri()).header(USER_AGENT, UA);
        if let Some(v) = &self.auth {
            req = req.header(AUTHORIZATION, v.clone());
        }
        if body.is_some() {
            req = req.header(CONTENT_TYPE, "application/json");
        }
        let req = req.body(body.unwrap_or_default()).map_err(|e| HttpStateError::Connect {
            method: m.clone(),
            url: url.clone(),
            reason: format!("not a valid request: {e}"),
        })?;
        let exchange = async {
            let resp = self.http.request(req).await.map_err(|e| crate::ui::error_chain(&e))?;
            let status = resp.status();
            let mut body = resp.into_body();
            // The announced length up front: no doubling past a large state.
            let announced = usize::try_from(hyper::body::Body::size_hint(&body).lower()).unwrap_or(cap);
            let mut buf = Vec::with_capacity(announced.min(cap));
            let mut truncated = false;
            while let Some(frame) = body.frame().await {
                let frame = frame.map_err(|e| crate::ui::error_chain(&e))?;
                let Ok(chunk) = frame.into_data() else { continue }; // Trailers.
                if buf.len() + chunk.len() > cap {
                    truncated = true;
                    break;
                }
                buf.extend_from_slice(&chunk);
            }
            Ok::<_, String>(Answer { status, body: buf, truncated })
        };
        match tokio::time::timeout(self.timeout, exchange).await {
            Ok(Ok(a)) => Ok(a),
            Ok(Err(reason)) => Err(HttpStateError::Connect { method: m, url, reason: self.redact(&reason) }),
            Err(_) => Err(HttpStateError::Timeout { method: m, url, after: self.timeout }),
        }
    }

    /// An error for a status that is not success, with the body's start (credentials removed).
    fn status_error(&self, method: &Method, to: &Address, a: &Answer, hint: &'static str) -> HttpStateError {
        let (method, url) = (method.to_string(), to.to_string());
        match a.status {
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                HttpStateError::Unauthorized { method, url, status: a.status, credentials: self.auth.is_some() }
            }
            StatusCode::CONFLICT | StatusCode::LOCKED => HttpStateError::Locked {
                method,
                url,
                status: a.status,
                holder: serde_json::from_slice::<LockRecord>(&a.body).ok().map(|mut h| {
                    h.who = self.redact(&h.who);
                    h.info = self.redact(&h.info);
                    Box::new(h)
                }),
            },
            status => {
                let text = self.redact(&String::from_utf8_lossy(&a.body));
                let body: String =
                    text.trim().chars().take(200).map(|c| if c.is_control() { ' ' } else { c }).collect();
                HttpStateError::Status { method, url, status, body, hint }
            }
        }
    }

    async fn lock_request(&self, method: &Method, to: &Address, record: &LockRecord) -> Result<(), HttpStateError> {
        let a = self.send(method, to, Some(record.to_json()), SMALL_BODY_MAX).await?;
        if a.status == StatusCode::OK {
            return Ok(());
        }
        let hint = match a.status {
            StatusCode::NOT_FOUND | StatusCode::METHOD_NOT_ALLOWED | StatusCode::NOT_IMPLEMENTED => GITLAB_HINT,
            _ => "",
        };
        Err(self.status_error(method, to, &a, hint))
    }
}

impl HttpState for HttpStateClient {
    async fn lock(&self, record: &LockRecord) -> Result<(), HttpStateError> {
        self.lock_request(&self.endpoints.lock_method, &self.endpoints.lock, record).await
    }

    async fn unlock(&self, record: &LockRecord) -> Result<(), HttpStateError> {
        self.lock_request(&self.endpoints.unlock_method, &self.endpoints.unlock, record).await
    }

    async fn get(&self) -> Result<Option<Vec<u8>>, HttpStateError> {
        let to = &self.endpoints.state;
        let a = self.send(&Method::GET, to, None, STATE_MAX).await?;
        match a.status {
            StatusCode::NO_CONTENT | StatusCode::NOT_FOUND => Ok(None),
            StatusCode::OK if a.truncated => Err(HttpStateError::TooLarge { url: to.to_string() }),
            StatusCode::OK if a.body.is_empty() => Ok(None),
            StatusCode::OK => Ok(Some(a.body)),
            _ => Err(self.status_error(&Method::GET, to, &a, "")),
        }
    }
}
