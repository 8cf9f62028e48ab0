//! An in-process fake Kubernetes API server for the lane tests: real HTTP/JSON on a loopback port,
//! reached by the real `gf` binary through kube-rs and a kubeconfig.
//!
//! It serves the REST paths kube-rs uses for namespaced `AutoscalingRunnerSet`s and
//! `EphemeralRunner`s (GET, list with `labelSelector`, PATCH as merge patch or JSON patch), GET of
//! pods, and GET of namespaces (`kube-system` carries the cluster's UID, its identity). Every write
//! bumps a global resourceVersion; a PATCH carrying a stale
//! `metadata.resourceVersion` gets a 409 Status; a one-shot conflict can be injected. Every state
//! of every object is kept in a history, and every request in a log. A small simulated ARC
//! controller deletes idle EphemeralRunners of sets whose `maxRunners` is 0; busy ones go once the
//! test ends their job.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// Namespace of the fixture's drained sets.
pub const NS: &str = "arc-runners";
/// The context name in the kubeconfig (the fixture environment's `kube_context`).
pub const CONTEXT: &str = "honey";
/// The kubeconfig user's bearer token (every request must carry it).
pub const TOKEN: &str = "fake-token-4b1d";
/// The UID of the fake cluster's `kube-system` namespace (its identity).
pub const UID: &str = "5d0c7e52-9a1b-4c3d-8e2f-6a7b8c9d0e1f";
const GROUP: &str = "actions.github.com";
const VERSION: &str = "v1alpha1";

type Key = (String, String, String); // (plural, namespace, name)

#[derive(Default)]
struct State {
    objects: BTreeMap<Key, Value>,
    rv: u64,
    history: Vec<(Key, Value)>,
    requests: Vec<String>,
    conflicts: BTreeMap<Key, usize>,
    forbidden: Vec<String>,
}

impl State {
    fn write(&mut self, key: Key, mut v: Value) -> Value {
        self.rv += 1;
        v["metadata"]["resourceVersion"] = json!(self.rv.to_string());
        self.objects.insert(key.clone(), v.clone());
        self.history.push((key, v.clone()));
        v
    }
}

/// The fake API server and its kubeconfig.
pub struct FakeKube {
    rt: Option<tokio::runtime::Runtime>,
    state: Arc<Mutex<State>>,
    /// The loopback port it listens on.
    pub port: u16,
    dir: tempfile::TempDir,
}

impl Drop for FakeKube {
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

fn kind_of(plural: &str) -> (&'static str, &'static str) {
    match plural {
        "autoscalingrunnersets" => ("AutoscalingRunnerSet", "actions.github.com/v1alpha1"),
        "ephemeralrunners" => ("EphemeralRunner", "actions.github.com/v1alpha1"),
        "namespaces" => ("Namespace", "v1"),
        _ => ("Pod", "v1"),
    }
}

fn status(code: u16, reason: &str, message: impl Into<String>) -> Response {
    let message: String = message.into();
    let body = json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": message, "reason": reason, "code": code
    });
    (StatusCode::from_u16(code).unwrap(), axum::Json(body)).into_response()
}

fn not_found(plural: &str, name: &str) -> Response {
    let group = if matches!(plural, "pods" | "namespaces") { String::new() } else { format!(".{GROUP}") };
    status(404, "NotFound", format!("{plural}{group} \"{name}\" not found"))
}

fn conflict(plural: &str, name: &str) -> Response {
    status(
        409,
        "Conflict",
        format!(
            "Operation cannot be fulfilled on {plural}.{GROUP} \"{name}\": the object has been modified; \
             please apply your changes to the latest version and try again"
        ),
    )
}

/// RFC 7386 JSON merge patch.
fn merge(target: &mut Value, patch: &Value) {
    if let Value::Object(p) = patch {
        if !target.is_object() {
            *target = json!({});
        }
        let t = target.as_object_mut().unwrap();
        for (k, v) in p {
            if v.is_null() {
                t.remove(k);
            } else {
                merge(t.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
    } else {
        *target = patch.clone();
    }
}

fn unescape(seg: &str) -> String {
    seg.replace("~1", "/").replace("~0", "~")
}

/// RFC 6902 JSON patch (add, replace, remove, test).
fn json_patch(target: &mut Value, ops: &Value) -> Result<(), String> {
    for op in ops.as_array().ok_or("a JSON patch is an array")? {
        let path = op["path"].as_str().ok_or("op without path")?;
        let segs: Vec<String> = path.split('/').skip(1).map(unescape).collect();
        let (last, parents) = segs.split_last().ok_or("empty path")?;
        let mut cur = &mut *target;
        for s in parents {
            cur = cur.get_mut(s.as_str()).ok_or_else(|| format!("no {s} in {path}"))?;
        }
        let obj = cur.as_object_mut().ok_or_else(|| format!("{path}: parent is not an object"))?;
        match op["op"].as_str() {
            Some("add" | "replace") => {
                obj.insert(last.clone(), op["value"].clone());
            }
            Some("remove") => {
                obj.remove(last).ok_or_else(|| format!("{path}: nothing to remove"))?;
            }
            Some("test") => {
                if obj.get(last) != Some(&op["value"]) {
                    return Err(format!("test of {path} failed"));
                }
            }
            other => return Err(format!("unsupported op {other:?}")),
        }
    }
    Ok(())
}

fn label_match(obj: &Value, selector: &str) -> bool {
    selector.split(',').filter(|s| !s.is_empty()).all(|term| {
        let (k, v) = term.split_once('=').unwrap_or((term, ""));
        obj["metadata"]["labels"][k].as_str() == Some(v.trim_start_matches('='))
    })
}

fn query_param(uri: &Uri, name: &str) -> Option<String> {
    uri.query()?.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == name).then(|| percent_decode(v))
    })
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(if bytes[i] == b'+' { b' ' } else { bytes[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

async fn handle(
    axum::extract::State(state): axum::extract::State<Arc<Mutex<State>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut st = state.lock().unwrap();
    st.requests.push(format!("{method} {uri}"));
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(&format!("Bearer {TOKEN}")) {
        return status(401, "Unauthorized", "Unauthorized");
    }
    if let Some(what) = st.forbidden.iter().find(|p| uri.path().contains(&format!("/{p}"))) {
        let msg = format!("{what} is forbidden: User \"tester\" cannot {method} resource \"{what}\"");
        return status(403, "Forbidden", msg);
    }
    let segs: Vec<&str> = uri.path().trim_matches('/').split('/').collect();
    let (plural, ns, name) = match segs.as_slice() {
        [
            "apis",
            GROUP,
            VERSION,
            "namespaces",
            ns,
            plural @ ("autoscalingrunnersets" | "ephemeralrunners"),
            rest @ ..,
        ] => (*plural, *ns, rest.first().copied()),
        ["api", "v1", "namespaces", ns, "pods", name] => ("pods", *ns, Some(*name)),
        ["api", "v1", "namespaces", name] => ("namespaces", "", Some(*name)),
        _ => {
            return status(404, "NotFound", format!("the server could not find the requested resource {}", uri.path()));
        }
    };
    let Some(name) = name else {
        if method != Method::GET {
            return status(405, "MethodNotAllowed", format!("{method} on a list"));
        }
        let selector = query_param(&uri, "labelSelector").unwrap_or_default();
        let items: Vec<Value> = st
            .objects
            .iter()
            .filter(|((p, n, _), v)| p == plural && n == ns && label_match(v, &selector))
            .map(|(_, v)| v.clone())
            .collect();
        let (kind, api_version) = kind_of(plural);
        let rv = st.rv.to_string();
        return axum::Json(json!({
            "apiVersion": api_version, "kind": format!("{kind}List"),
            "metadata": { "resourceVersion": rv }, "items": items
        }))
        .into_response();
    };
    let key: Key = (plural.to_string(), ns.to_string(), name.to_string());
    let Some(current) = st.objects.get(&key).cloned() else { return not_found(plural, name) };
    match method {
        Method::GET => axum::Json(current).into_response(),
        Method::PATCH if plural != "pods" && plural != "namespaces" => {
            let Ok(patch) = serde_json::from_slice::<Value>(&body) else {
                return status(400, "BadRequest", "patch body is not JSON");
            };
            let mut current = current;
            if let Some(n) = st.conflicts.get_mut(&key).filter(|n| **n > 0) {
                // Another writer got there first: the object changes under the client.
                *n -= 1;
                let mut bumped = current.clone();
                bumped["status"]["observedBy"] = json!("someone-else");
                current = st.write(key.clone(), bumped);
            }
            let content_type = headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("");
            let mut next = current.clone();
            if content_type.starts_with("application/merge-patch+json") {
                if let Some(rv) = patch["metadata"]["resourceVersion"].as_str()
                    && Some(rv) != current["metadata"]["resourceVersion"].as_str()
                {
                    return conflict(plural, name);
                }
                merge(&mut next, &patch);
            } else if content_type.starts_with("application/json-patch+json") {
                if let Err(e) = json_patch(&mut next, &patch) {
                    return status(422, "Invalid", e);
                }
            } else {
                return status(415, "UnsupportedMediaType", format!("content type {content_type:?}"));
            }
            if next["metadata"]["name"] != current["metadata"]["name"] {
                return status(422, "Invalid", "metadata.name is immutable");
            }
            axum::Json(st.write(key, next)).into_response()
        }
        _ => status(405, "MethodNotAllowed", format!("{method} {}", uri.path())),
    }
}

/// The simulated ARC controller: idle runners of a set at `maxRunners: 0` are deleted.
fn reconcile(st: &mut State) {
    let zeroed: Vec<(String, String)> = st
        .objects
        .iter()
        .filter(|((p, _, _), v)| p == "autoscalingrunnersets" && v["spec"]["maxRunners"] == json!(0))
        .map(|((_, ns, name), _)| (ns.clone(), name.clone()))
        .collect();
    st.objects.retain(|(p, ns, _), v| {
        let idle = v["status"]["jobId"].as_str().unwrap_or("").is_empty();
        let set = v["metadata"]["labels"]["actions.github.com/scale-set-name"].as_str().unwrap_or("");
        !(p == "ephemeralrunners" && idle && zeroed.iter().any(|(n, s)| n == ns && s == set))
    });
}

impl FakeKube {
    /// Start the server, its controller and write the kubeconfig.
    pub fn start() -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        let state = Arc::new(Mutex::new(State::default()));
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        std_listener.set_nonblocking(true).unwrap();
        let port = std_listener.local_addr().unwrap().port();
        let app = axum::Router::new().fallback(handle).with_state(state.clone());
        rt.spawn(async move {
            let listener = tokio::net::TcpListener::from_std(std_listener).unwrap();
            axum::serve(listener, app).await.unwrap();
        });
        let ctl = state.clone();
        rt.spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(20)).await;
                reconcile(&mut ctl.lock().unwrap());
            }
        });
        let dir = tempfile::tempdir().unwrap();
        let fake = Self { rt: Some(rt), state, port, dir };
        std::fs::write(fake.kubeconfig(), fake.kubeconfig_yaml()).unwrap();
        fake.set_uid(UID);
        fake
    }

    fn kubeconfig_yaml(&self) -> String {
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: http://127.0.0.1:{port}\n\
             users:\n- name: tester\n  user:\n    token: {TOKEN}\ncontexts:\n- name: {CONTEXT}\n  context:\n    \
             cluster: fake\n    user: tester\n    namespace: default\n- name: elsewhere\n  context:\n    \
             cluster: fake\n    user: tester\ncurrent-context: elsewhere\n",
            port = self.port
        )
    }

    /// The kubeconfig file.
    pub fn kubeconfig(&self) -> PathBuf {
        self.dir.path().join("kubeconfig")
    }

    /// The environment a `gf` child needs: `KUBECONFIG`, `KUBE_CONTEXT`, a fast poll.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("KUBECONFIG", self.kubeconfig().display().to_string()),
            ("KUBE_CONTEXT", CONTEXT.to_string()),
            ("GF_LANE_POLL_MS", "40".to_string()),
        ]
    }

    fn with<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        f(&mut self.state.lock().unwrap())
    }

    fn put(&self, plural: &str, ns: &str, name: &str, mut v: Value) {
        let (kind, api_version) = kind_of(plural);
        v["apiVersion"] = json!(api_version);
        v["kind"] = json!(kind);
        v["metadata"]["name"] = json!(name);
        v["metadata"]["namespace"] = json!(ns);
        self.with(|st| st.write((plural.into(), ns.into(), name.into()), v));
    }

    /// The `kube-system` namespace has this UID (another cluster behind the same context name).
    pub fn set_uid(&self, uid: &str) {
        let v = json!({ "apiVersion": "v1", "kind": "Namespace", "metadata": { "name": "kube-system", "uid": uid }, "spec": {}, "status": { "phase": "Active" } });
        self.with(|st| st.write(("namespaces".into(), String::new(), "kube-system".into()), v));
    }

    /// How many times `kube-system` was read.
    pub fn identity_reads(&self) -> usize {
        self.requests().iter().filter(|r| r.starts_with("GET /api/v1/namespaces/kube-system")).count()
    }

    /// An AutoscalingRunnerSet with these caps (None: field absent).
    pub fn add_set(&self, name: &str, min: Option<i64>, max: Option<i64>) {
        let mut spec = json!({ "githubConfigUrl": "https://github.com/example", "template": { "spec": {} } });
        if let Some(m) = min {
            spec["minRunners"] = json!(m);
        }
        if let Some(m) = max {
            spec["maxRunners"] = json!(m);
        }
        let labels = json!({ "actions.github.com/scale-set-name": name, "actions.github.com/scale-set-namespace": NS });
        self.put("autoscalingrunnersets", NS, name, json!({ "metadata": { "labels": labels }, "spec": spec }));
    }

    /// Delete an AutoscalingRunnerSet (as `helm uninstall` of its release would).
    pub fn remove_set(&self, name: &str) {
        self.with(|st| {
            st.objects.remove(&("autoscalingrunnersets".to_string(), NS.to_string(), name.to_string()));
        });
    }

    /// An EphemeralRunner of `set`, busy when `job` is given.
    pub fn add_runner(&self, set: &str, name: &str, job: Option<&str>) {
        let labels = json!({ "actions.github.com/scale-set-name": set, "actions.github.com/scale-set-namespace": NS });
        let mut status = json!({ "phase": "Running" });
        if let Some(j) = job {
            status["jobId"] = json!(j);
        }
        self.put(
            "ephemeralrunners",
            NS,
            name,
            json!({ "metadata": { "labels": labels }, "spec": {}, "status": status }),
        );
    }

    /// A pod in `ns`, labelled with `set` when given.
    pub fn add_pod(&self, ns: &str, name: &str, set: Option<&str>) {
        let labels = set.map_or_else(|| json!({}), |s| json!({ "actions.github.com/scale-set-name": s }));
        self.put("pods", ns, name, json!({ "metadata": { "labels": labels }, "spec": { "containers": [] } }));
    }

    /// The job on runner `name` ends (its `status.jobId` is cleared).
    pub fn finish_job(&self, name: &str) {
        self.with(|st| {
            let key: Key = ("ephemeralrunners".into(), NS.into(), name.into());
            let mut v = st.objects.get(&key).cloned().expect("runner exists");
            v["status"].as_object_mut().unwrap().remove("jobId");
            st.write(key, v);
        });
    }

    /// Someone (e.g. the apply) sets a set's caps.
    pub fn set_caps(&self, name: &str, min: Option<i64>, max: Option<i64>) {
        self.with(|st| {
            let key: Key = ("autoscalingrunnersets".into(), NS.into(), name.into());
            let mut v = st.objects.get(&key).cloned().expect("set exists");
            v["spec"]["minRunners"] = json!(min);
            v["spec"]["maxRunners"] = json!(max);
            for f in ["minRunners", "maxRunners"] {
                if v["spec"][f].is_null() {
                    v["spec"].as_object_mut().unwrap().remove(f);
                }
            }
            st.write(key, v);
        });
    }

    /// Set an annotation on a set by hand.
    pub fn annotate(&self, name: &str, key: &str, value: &str) {
        self.with(|st| {
            let k: Key = ("autoscalingrunnersets".into(), NS.into(), name.into());
            let mut v = st.objects.get(&k).cloned().expect("set exists");
            v["metadata"]["annotations"][key] = json!(value);
            st.write(k, v);
        });
    }

    /// Every request for this resource (plural) is answered 403 from now on (RBAC says no).
    pub fn forbid(&self, plural: &str) {
        self.with(|st| st.forbidden.push(plural.to_string()));
    }

    /// The next `n` PATCHes of set `name` meet a concurrent write first (409 for a stale client).
    pub fn conflict_next_patches(&self, name: &str, n: usize) {
        self.with(|st| st.conflicts.insert(("autoscalingrunnersets".into(), NS.into(), name.into()), n));
    }

    /// A set's current JSON.
    pub fn set(&self, name: &str) -> Value {
        self.with(|st| st.objects[&("autoscalingrunnersets".to_string(), NS.to_string(), name.to_string())].clone())
    }

    /// `(minRunners, maxRunners)` of a set.
    pub fn caps(&self, name: &str) -> (Option<i64>, Option<i64>) {
        let v = self.set(name);
        (v["spec"]["minRunners"].as_i64(), v["spec"]["maxRunners"].as_i64())
    }

    /// Names of the runners of `set` still there.
    pub fn runners(&self, set: &str) -> Vec<String> {
        self.with(|st| {
            st.objects
                .iter()
                .filter(|((p, _, _), v)| {
                    p == "ephemeralrunners"
                        && v["metadata"]["labels"]["actions.github.com/scale-set-name"] == json!(set)
                })
                .map(|((_, _, n), _)| n.clone())
                .collect()
        })
    }

    /// Every state a set has had, oldest first.
    pub fn set_history(&self, name: &str) -> Vec<Value> {
        self.with(|st| {
            st.history
                .iter()
                .filter(|((p, _, n), _)| p == "autoscalingrunnersets" && n == name)
                .map(|(_, v)| v.clone())
                .collect()
        })
    }

    /// Every request so far, as `METHOD uri`.
    pub fn requests(&self) -> Vec<String> {
        self.with(|st| st.requests.clone())
    }

    /// The PATCH requests so far.
    pub fn patches(&self) -> Vec<String> {
        self.requests().into_iter().filter(|r| r.starts_with("PATCH ")).collect()
    }

    /// Wait until `f` holds (polling, at most `secs` seconds).
    pub fn wait_for(&self, secs: u64, what: &str, f: impl Fn(&Self) -> bool) {
        let deadline = std::time::Instant::now() + Duration::from_secs(secs);
        while !f(self) {
            assert!(std::time::Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}
