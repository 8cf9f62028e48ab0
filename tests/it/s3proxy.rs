//! A loopback HTTP proxy in front of moto that can play an S3 outage for state writes: while
//! `fail_state_writes` is on, every `PUT` of a `*.tfstate` object answers 403 (not retried by
//! S3 clients), everything else is forwarded unchanged. tofu then cannot save state after an apply
//! and writes `errored.tfstate`, as after a real outage.
#![allow(dead_code)] // Shared by test modules; not each uses every helper.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

/// The proxy; stops when dropped.
pub struct S3Proxy {
    rt: Option<tokio::runtime::Runtime>,
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
    fail: Arc<AtomicBool>,
    refused: Arc<AtomicUsize>,
}

impl Drop for S3Proxy {
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

#[derive(Clone)]
struct Shared {
    target: String,
    client: reqwest::Client,
    fail: Arc<AtomicBool>,
    refused: Arc<AtomicUsize>,
}

async fn forward(
    axum::extract::State(st): axum::extract::State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if st.fail.load(Ordering::SeqCst) && method == Method::PUT && uri.path().ends_with(".tfstate") {
        st.refused.fetch_add(1, Ordering::SeqCst);
        let xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>AccessDenied</Code><Message>outage (test proxy)</Message></Error>";
        return (StatusCode::FORBIDDEN, [("content-type", "application/xml")], xml).into_response();
    }
    let url = format!("{}{}", st.target, uri.path_and_query().map_or("/", |p| p.as_str()));
    let mut req = st.client.request(method, url).body(body);
    for (k, v) in &headers {
        if !matches!(k.as_str(), "host" | "connection" | "content-length" | "transfer-encoding") {
            req = req.header(k, v);
        }
    }
    match req.send().await {
        Ok(resp) => {
            let status = resp.status();
            let mut out_headers = HeaderMap::new();
            for (k, v) in resp.headers() {
                if !matches!(k.as_str(), "connection" | "content-length" | "transfer-encoding") {
                    out_headers.insert(k.clone(), v.clone());
                }
            }
            let bytes = resp.bytes().await.unwrap_or_default();
            (status, out_headers, bytes).into_response()
        }
        Err(e) => (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    }
}

impl S3Proxy {
    /// A proxy to `target` (moto's endpoint) on a free loopback port.
    pub fn start(target: &str) -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let fail = Arc::new(AtomicBool::new(false));
        let refused = Arc::new(AtomicUsize::new(0));
        let shared = Shared {
            target: target.trim_end_matches('/').to_string(),
            client: reqwest::Client::new(),
            fail: fail.clone(),
            refused: refused.clone(),
        };
        let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let app = axum::Router::new().fallback(forward).with_state(shared);
        rt.spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { rt: Some(rt), endpoint, fail, refused }
    }

    /// Turn the outage for state writes on or off.
    pub fn fail_state_writes(&self, on: bool) {
        self.fail.store(on, Ordering::SeqCst);
    }

    /// How many state writes the outage refused.
    pub fn refused(&self) -> usize {
        self.refused.load(Ordering::SeqCst)
    }

    /// The variables gf needs to reach moto's bucket through this proxy.
    pub fn env(&self, access_key: &str, secret_key: &str) -> Vec<(&'static str, String)> {
        vec![
            ("TOFU_BACKEND_S3_ENDPOINT", self.endpoint.clone()),
            ("TOFU_BACKEND_S3_BUCKET", crate::moto::BUCKET.into()),
            ("TOFU_BACKEND_S3_ACCESS_KEY", access_key.into()),
            ("TOFU_BACKEND_S3_SECRET_KEY", secret_key.into()),
        ]
    }
}
