//! A loopback HTTP state server speaking the protocol terraform's `backend "http"` and GitLab's
//! managed state use, for the migration tests: real terraform writes into it, the real `gf`
//! migrates out of it.
//!
//! Routes, per state `<name>`: `GET /state/<name>` (200 with the state, 204 when there is none),
//! `POST /state/<name>[?ID=<lock id>]` (store; 409 while locked by another id), `DELETE
//! /state/<name>`; locking both ways: `LOCK`/`UNLOCK /state/<name>` (terraform's defaults, 423
//! when locked) and `POST`/`DELETE /state/<name>/lock` (GitLab's, 409 when locked), each with
//! tofu's lock JSON in the body and the holder's lock JSON in a refusal. Every request needs basic
//! auth with the server's user and password (401 otherwise). Every request lands in a log.
#![allow(dead_code)] // Shared by test modules; not each uses every helper.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::Value;

#[derive(Default)]
struct State {
    auth: String,
    states: BTreeMap<String, Vec<u8>>,
    locks: BTreeMap<String, Value>,
    log: Vec<String>,
    lock_bodies: Vec<Value>,
    arrived: Vec<String>,
    hold_gets: bool,
}

/// The server; stopped on drop.
pub struct HttpStateServer {
    rt: Option<tokio::runtime::Runtime>,
    state: Arc<Mutex<State>>,
    /// Its loopback port.
    pub port: u16,
}

impl Drop for HttpStateServer {
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

fn lock_json(v: &Value) -> Response {
    (StatusCode::OK, [("content-type", "application/json")], v.to_string()).into_response()
}

fn refuse(code: StatusCode, holder: &Value) -> Response {
    (code, [("content-type", "application/json")], holder.to_string()).into_response()
}

fn query_id(uri: &Uri) -> Option<String> {
    uri.query()?.split('&').find_map(|kv| kv.strip_prefix("ID=").map(str::to_string))
}

async fn handle(
    axum::extract::State(state): axum::extract::State<Arc<Mutex<State>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (resp, held) = answer(&state, &method, &uri, &headers, &body);
    if held {
        // Hold the `GET` until the test lets it go (or the client gives up).
        loop {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            if !state.lock().unwrap().hold_gets {
                break;
            }
        }
    }
    let status = resp.status().as_u16();
    state.lock().unwrap().log.push(format!("{method} {} {status}", uri.path()));
    resp
}

fn answer(state: &Mutex<State>, method: &Method, uri: &Uri, headers: &HeaderMap, body: &[u8]) -> (Response, bool) {
    let mut st = state.lock().unwrap();
    st.arrived.push(format!("{method} {}", uri.path()));
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(st.auth.as_str()) {
        return ((StatusCode::UNAUTHORIZED, r#"{"message":"401 Unauthorized"}"#).into_response(), false);
    }
    let path = uri.path().trim_start_matches('/');
    let Some(rest) = path.strip_prefix("state/") else {
        return (StatusCode::NOT_FOUND.into_response(), false);
    };
    let (name, gitlab_lock) = match rest.strip_suffix("/lock") {
        Some(n) => (n.to_string(), true),
        None => (rest.to_string(), false),
    };
    let locked_code = if gitlab_lock { StatusCode::CONFLICT } else { StatusCode::LOCKED };
    match (method.as_str(), gitlab_lock) {
        ("GET", false) => match st.states.get(&name) {
            Some(b) => ((StatusCode::OK, b.clone()).into_response(), st.hold_gets),
            None => (StatusCode::NO_CONTENT.into_response(), st.hold_gets),
        },
        ("POST", false) => {
            if let Some(l) = st.locks.get(&name)
                && query_id(uri).as_deref() != l["ID"].as_str()
            {
                return (refuse(StatusCode::CONFLICT, l), false);
            }
            st.states.insert(name, body.to_vec());
            (StatusCode::OK.into_response(), false)
        }
        ("DELETE", false) => {
            st.states.remove(&name);
            (StatusCode::OK.into_response(), false)
        }
        ("LOCK", false) | ("POST", true) => {
            let Ok(info) = serde_json::from_slice::<Value>(body) else {
                return ((StatusCode::BAD_REQUEST, "lock info is not JSON").into_response(), false);
            };
            st.lock_bodies.push(info.clone());
            if let Some(l) = st.locks.get(&name) {
                return (refuse(locked_code, l), false);
            }
            st.locks.insert(name, info.clone());
            (lock_json(&info), false)
        }
        ("UNLOCK", false) | ("DELETE", true) => {
            let id = serde_json::from_slice::<Value>(body).ok().and_then(|v| v["ID"].as_str().map(str::to_string));
            match st.locks.get(&name) {
                None => (StatusCode::OK.into_response(), false),
                Some(l) if l["ID"].as_str() == id.as_deref() => {
                    st.locks.remove(&name);
                    (StatusCode::OK.into_response(), false)
                }
                Some(l) => (refuse(locked_code, l), false),
            }
        }
        _ => (StatusCode::METHOD_NOT_ALLOWED.into_response(), false),
    }
}

impl HttpStateServer {
    /// Listen on a free loopback port; requests must carry `user`/`password` as basic auth.
    pub fn start(user: &str, password: &str) -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        let state = Arc::new(Mutex::new(State { auth: format!("Basic {token}"), ..State::default() }));
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        std_listener.set_nonblocking(true).unwrap();
        let port = std_listener.local_addr().unwrap().port();
        let app = axum::Router::new().fallback(handle).with_state(state.clone());
        rt.spawn(async move {
            let listener = tokio::net::TcpListener::from_std(std_listener).unwrap();
            axum::serve(listener, app).await.unwrap();
        });
        Self { rt: Some(rt), state, port }
    }

    /// `http://127.0.0.1:PORT/state/<name>`.
    pub fn address(&self, name: &str) -> String {
        format!("http://127.0.0.1:{}/state/{name}", self.port)
    }

    /// The stored state of `name`.
    pub fn state(&self, name: &str) -> Option<Vec<u8>> {
        self.state.lock().unwrap().states.get(name).cloned()
    }

    /// Store `bytes` as the state of `name` (as if some client had written it).
    pub fn put_state(&self, name: &str, bytes: &[u8]) {
        self.state.lock().unwrap().states.insert(name.into(), bytes.to_vec());
    }

    /// The lock JSON held on `name`.
    pub fn lock_of(&self, name: &str) -> Option<Value> {
        self.state.lock().unwrap().locks.get(name).cloned()
    }

    /// Lock `name` as someone else would.
    pub fn lock_as(&self, name: &str, who: &str) {
        let info = serde_json::json!({
            "ID": "0b5e0c9a-someone-elses", "Operation": "OperationTypeApply", "Info": "",
            "Who": who, "Version": "1.11.4", "Created": "2026-12-01T09:00:00Z", "Path": ""
        });
        self.state.lock().unwrap().locks.insert(name.into(), info);
    }

    /// Every request so far: `METHOD /path STATUS`.
    pub fn log(&self) -> Vec<String> {
        self.state.lock().unwrap().log.clone()
    }

    /// The lock JSON bodies received.
    pub fn lock_bodies(&self) -> Vec<Value> {
        self.state.lock().unwrap().lock_bodies.clone()
    }

    /// Forget the logs (answered and arrived).
    pub fn clear_log(&self) {
        let mut st = self.state.lock().unwrap();
        st.log.clear();
        st.arrived.clear();
    }

    /// Every request as it arrived (`METHOD /path`), also those still being answered.
    pub fn arrived(&self) -> Vec<String> {
        self.state.lock().unwrap().arrived.clone()
    }

    /// Hold every `GET` until [`Self::release_gets`] (its arrival shows in [`Self::arrived`]).
    pub fn hold_gets(&self) {
        self.state.lock().unwrap().hold_gets = true;
    }

    /// Let held `GET`s answer.
    pub fn release_gets(&self) {
        self.state.lock().unwrap().hold_gets = false;
    }
}
