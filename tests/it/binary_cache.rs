//! Real Nix binary caches for the cache-gate tests, and a loopback HTTP server that serves one the
//! way Attic does (plus Attic's `cache-config`, `get-missing-paths` and 401-without-token).
//!
//! The base cache is built once per machine state with Debian's Nix (`nix-build` of `/bin/sh`
//! derivations, `nix copy --to file://…?secret-key=…`), into `target/tmp`, then copied per test.
#![allow(dead_code)] // Not every test uses every helper.

use std::collections::HashSet;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

/// Bump when the derivations below change.
const BASE_VERSION: &str = "v1";

/// Nix store operations without a daemon: one at a time within this process.
static NIX: Mutex<()> = Mutex::new(());

/// The store paths and keys of the base cache.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Base {
    /// The cache folder (narinfos, nar/, nix-cache-info).
    pub dir: PathBuf,
    /// `gf-test-1:…`, the key every path but `other` is signed with.
    pub key: String,
    /// `gf-other-1:…`, the key `other` is signed with.
    pub other_key: String,
    /// A leaf derivation output.
    pub a: String,
    /// References `a`.
    pub b: String,
    /// References `b` (closure c → b → a).
    pub c: String,
    /// A leaf outside that closure.
    pub lone: String,
    /// A leaf signed only by `gf-other-1`.
    pub other: String,
    /// A real store path that is not in the cache.
    pub missing: String,
}

/// Hold while running a Nix command that touches a store.
pub fn nix_lock() -> std::sync::MutexGuard<'static, ()> {
    NIX.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| {
        panic!("cannot run {cmd:?}: {e}; the cache tests need Debian's `nix-bin` (`apt-get install -y nix-bin`)")
    });
    assert!(out.status.success(), "{cmd:?} failed: {}\n{}", out.status, String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

const EXPR: &str = r#"
let
  drv = name: script: derivation {
    inherit name;
    system = builtins.currentSystem;
    builder = "/bin/sh";
    args = [ "-c" script ];
  };
  a = drv "gf-cache-fixture-a" "echo a > $out";
  b = drv "gf-cache-fixture-b" "echo ${a} > $out";
  c = drv "gf-cache-fixture-c" "echo ${b} > $out";
  lone = drv "gf-cache-fixture-lone" "echo lone > $out";
  other = drv "gf-cache-fixture-other" "echo other > $out";
  missing = drv "gf-cache-fixture-missing" "echo missing > $out";
in [ a b c lone other missing ]
"#;

fn build_base(dir: &Path) -> Base {
    let _nix = nix_lock();
    std::fs::create_dir_all(dir).unwrap();
    for (name, file) in [("gf-test-1", "key"), ("gf-other-1", "other")] {
        run(Command::new("nix-store")
            .arg("--generate-binary-cache-key")
            .arg(name)
            .arg(dir.join(format!("{file}.sk")))
            .arg(dir.join(format!("{file}.pk"))));
    }
    let out = run(Command::new("nix-build").args(["--option", "substituters", "", "--no-out-link", "-E", EXPR]));
    let paths: Vec<String> = out.lines().map(str::to_string).collect();
    assert_eq!(paths.len(), 6, "nix-build printed {out}");
    let cache = dir.join("cache");
    let copy = |key: &str, paths: &[&String]| {
        let url = format!("file://{}?secret-key={}&compression=xz", cache.display(), dir.join(key).display());
        run(Command::new("nix")
            .args(["--extra-experimental-features", "nix-command", "copy", "--option", "substituters", "", "--to"])
            .arg(url)
            .args(paths));
    };
    copy("key.sk", &[&paths[2], &paths[3]]);
    copy("other.sk", &[&paths[4]]);
    let read = |f: &str| std::fs::read_to_string(dir.join(f)).unwrap().trim().to_string();
    Base {
        dir: cache,
        key: read("key.pk"),
        other_key: read("other.pk"),
        a: paths[0].clone(),
        b: paths[1].clone(),
        c: paths[2].clone(),
        lone: paths[3].clone(),
        other: paths[4].clone(),
        missing: paths[5].clone(),
    }
}

/// The base cache: built once (per `BASE_VERSION`) under `target/tmp`, reused by later runs.
pub fn base() -> &'static Base {
    static BASE: OnceLock<Base> = OnceLock::new();
    BASE.get_or_init(|| {
        let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
        let done = root.join(format!("gf-cache-base-{BASE_VERSION}"));
        let meta = done.join("base.json");
        if let Ok(text) = std::fs::read_to_string(&meta) {
            return serde_json::from_str(&text).unwrap();
        }
        // Build beside it, then rename: a concurrent test process either wins or reuses ours.
        let tmp = root.join(format!("gf-cache-base-{BASE_VERSION}.{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        let mut b = build_base(&tmp);
        b.dir = done.join("cache");
        std::fs::write(tmp.join("base.json"), serde_json::to_string_pretty(&b).unwrap()).unwrap();
        if std::fs::rename(&tmp, &done).is_err() {
            let _ = std::fs::remove_dir_all(&tmp);
        }
        serde_json::from_str(&std::fs::read_to_string(&meta).unwrap()).unwrap()
    })
}

/// A private copy of the base cache for one test.
pub struct Fixture {
    dir: tempfile::TempDir,
    /// The base it was copied from.
    pub base: &'static Base,
}

impl Fixture {
    /// Copy the base cache.
    pub fn new() -> Self {
        let base = base();
        let dir = tempfile::tempdir().unwrap();
        crate::harness::copy_dir(&base.dir, &dir.path().join("cache"));
        Self { dir, base }
    }

    /// The cache folder.
    pub fn cache_dir(&self) -> PathBuf {
        self.dir.path().join("cache")
    }

    /// A scratch folder (working directory for gf, paths files).
    pub fn work(&self) -> PathBuf {
        let w = self.dir.path().join("work");
        std::fs::create_dir_all(&w).unwrap();
        w
    }

    /// The narinfo file of `store_path`.
    pub fn narinfo(&self, store_path: &str) -> PathBuf {
        let hash = &store_path["/nix/store/".len().."/nix/store/".len() + 32];
        self.cache_dir().join(format!("{hash}.narinfo"))
    }

    /// Replace `from` with `to` in `store_path`'s narinfo (asserting it was there).
    pub fn tamper(&self, store_path: &str, from: &str, to: &str) {
        let p = self.narinfo(store_path);
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(text.contains(from), "{} lacks {from:?}:\n{text}", p.display());
        std::fs::write(&p, text.replace(from, to)).unwrap();
    }

    /// Remove `store_path`'s narinfo.
    pub fn remove(&self, store_path: &str) {
        std::fs::remove_file(self.narinfo(store_path)).unwrap();
    }
}

/// How the server behaves.
#[derive(Debug, Clone)]
pub struct Opts {
    /// The one cache name it serves.
    pub cache: String,
    /// `Some`: a private cache that needs `Authorization: Bearer <token>` to pull.
    pub private_token: Option<String>,
    /// Token accepted for push (`get-missing-paths`), also on a public cache.
    pub push_token: Option<String>,
    /// The public key `cache-config` reports.
    pub public_key: String,
    /// Answer the first N narinfo requests 503.
    pub flaky: usize,
    /// Answer every narinfo request 500 with the request's `Authorization` echoed in the body.
    pub echo_auth: bool,
    /// Hold every narinfo answer this long.
    pub delay: std::time::Duration,
}

impl Opts {
    /// A public cache `main` signed by the base key.
    pub fn public() -> Self {
        Self {
            cache: "main".into(),
            private_token: None,
            push_token: None,
            public_key: base().key.clone(),
            flaky: 0,
            echo_auth: false,
            delay: std::time::Duration::ZERO,
        }
    }

    /// A private cache `main` whose token also has push permission.
    pub fn private(token: &str) -> Self {
        Self { private_token: Some(token.into()), push_token: Some(token.into()), ..Self::public() }
    }
}

struct St {
    dir: PathBuf,
    opts: Opts,
    log: Mutex<Vec<String>>,
    narinfo_count: AtomicUsize,
    inflight: AtomicUsize,
    max_inflight: AtomicUsize,
    peers: Mutex<HashSet<u16>>,
}

/// A loopback HTTP server over a cache folder; stops when dropped.
pub struct Server {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    st: Arc<St>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    /// Serve `dir` with `opts`.
    pub fn start(dir: &Path, opts: Opts) -> Self {
        let st = Arc::new(St {
            dir: dir.to_path_buf(),
            opts,
            log: Mutex::new(Vec::new()),
            narinfo_count: AtomicUsize::new(0),
            inflight: AtomicUsize::new(0),
            max_inflight: AtomicUsize::new(0),
            peers: Mutex::new(HashSet::new()),
        });
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let app = axum::Router::new().fallback(handle).with_state(st.clone());
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
                    .with_graceful_shutdown(async {
                        let _ = stopped.await;
                    })
                    .await
                    .unwrap();
            });
        });
        Self { url, st, stop: Some(stop), thread: Some(thread) }
    }

    /// Every request so far: `METHOD /path auth=yes|no|bad`.
    pub fn requests(&self) -> Vec<String> {
        self.st.log.lock().unwrap().clone()
    }

    /// Most narinfo requests in flight at once.
    pub fn max_inflight(&self) -> usize {
        self.st.max_inflight.load(Ordering::SeqCst)
    }

    /// Distinct client connections seen.
    pub fn connections(&self) -> usize {
        self.st.peers.lock().unwrap().len()
    }

    /// Whether the log holds a request for `hash`'s narinfo.
    pub fn fetched_narinfo(&self, store_path: &str) -> bool {
        let hash = &store_path["/nix/store/".len().."/nix/store/".len() + 32];
        self.requests().iter().any(|r| r.contains(&format!("/{hash}.narinfo")))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        // Graceful shutdown waits for open keep-alive connections only until their client (gf) exits.
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn json(status: StatusCode, v: &serde_json::Value) -> Response {
    (status, [("content-type", "application/json")], v.to_string()).into_response()
}

fn unauthorized() -> Response {
    json(
        StatusCode::UNAUTHORIZED,
        &serde_json::json!({"code": 401, "error": "Unauthorized", "message": "Unauthorized."}),
    )
}

fn no_such_cache() -> Response {
    json(
        StatusCode::NOT_FOUND,
        &serde_json::json!({"code": 404, "error": "NoSuchCache", "message": "The requested cache does not exist."}),
    )
}

async fn handle(
    State(st): State<Arc<St>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    st.peers.lock().unwrap().insert(peer.port());
    let is_narinfo = uri.path().ends_with(".narinfo");
    if is_narinfo {
        let now = st.inflight.fetch_add(1, Ordering::SeqCst) + 1;
        st.max_inflight.fetch_max(now, Ordering::SeqCst);
        tokio::time::sleep(st.opts.delay).await;
    }
    let resp = respond(&st, &method, &uri, &headers, &body);
    if is_narinfo {
        st.inflight.fetch_sub(1, Ordering::SeqCst);
    }
    resp
}

fn respond(st: &St, method: &Method, uri: &Uri, headers: &HeaderMap, body: &Bytes) -> Response {
    let auth = headers.get("authorization").and_then(|v| v.to_str().ok()).map(str::to_string);
    let bearer = auth.as_deref().and_then(|a| a.strip_prefix("Bearer "));
    let pull_ok = st.opts.private_token.as_deref().is_none_or(|t| bearer == Some(t));
    let push_ok = st.opts.push_token.as_deref().is_some_and(|t| bearer == Some(t));
    let auth_note = match (bearer, pull_ok || push_ok) {
        (None, _) => "no",
        (Some(_), true) => "yes",
        (Some(_), false) => "bad",
    };
    let path = uri.path().to_string();
    st.log.lock().unwrap().push(format!("{method} {path} auth={auth_note}"));
    let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let o = &st.opts;
    match (method.as_str(), segs.as_slice()) {
        ("GET", ["_api", "v1", "cache-config", cache]) => {
            if *cache != o.cache {
                return no_such_cache();
            }
            if !pull_ok {
                return unauthorized();
            }
            json(
                StatusCode::OK,
                &serde_json::json!({
                    "substituter_endpoint": format!("http://attic/{cache}"),
                    "api_endpoint": "http://attic/",
                    "public_key": o.public_key,
                    "is_public": o.private_token.is_none(),
                    "store_dir": "/nix/store",
                    "priority": 41,
                    "upstream_cache_key_names": ["cache.nixos.org-1"],
                }),
            )
        }
        ("POST", ["_api", "v1", "get-missing-paths"]) => {
            if !push_ok {
                return unauthorized();
            }
            let req: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
            if req["cache"] != serde_json::Value::String(o.cache.clone()) {
                return no_such_cache();
            }
            let missing: Vec<&str> = req["store_path_hashes"]
                .as_array()
                .map(|a| a.iter().filter_map(|h| h.as_str()).collect::<Vec<_>>())
                .unwrap_or_default()
                .into_iter()
                .filter(|h| !st.dir.join(format!("{h}.narinfo")).exists())
                .collect();
            json(StatusCode::OK, &serde_json::json!({ "missing_paths": missing }))
        }
        ("GET" | "HEAD", [cache, file]) => {
            if *cache != o.cache {
                return no_such_cache();
            }
            if !pull_ok {
                return unauthorized();
            }
            if file.ends_with(".narinfo") {
                let n = st.narinfo_count.fetch_add(1, Ordering::SeqCst);
                if n < o.flaky {
                    return (StatusCode::SERVICE_UNAVAILABLE, "try again").into_response();
                }
                if o.echo_auth {
                    let body = format!("upstream failed; request had Authorization: {}", auth.unwrap_or_default());
                    return (StatusCode::INTERNAL_SERVER_ERROR, body).into_response();
                }
            }
            if file.contains("..") {
                return StatusCode::BAD_REQUEST.into_response();
            }
            match std::fs::read(st.dir.join(file)) {
                Ok(bytes) => (StatusCode::OK, bytes).into_response(),
                Err(_) => json(
                    StatusCode::NOT_FOUND,
                    &serde_json::json!({"code": 404, "error": "NoSuchObject", "message": "The requested object does not exist."}),
                ),
            }
        }
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

/// A server that accepts connections (the kernel completes the handshake) and never answers.
/// Keep the listener alive for as long as it should stall.
pub fn stalled() -> (TcpListener, String) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    (l, url)
}

/// The URL of a loopback port nothing listens on.
pub fn down() -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    drop(l);
    url
}
