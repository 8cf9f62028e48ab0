//! The gate pipeline against in-memory fakes: the verdicts, their order, and that the dry run and
//! the real run stop at the same gate.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::*;
use crate::backend::Backend;
use crate::contract::{ApplyMode, Contract};
use crate::lifecycle::gates::{Gate, Verdict};
use crate::lifecycle::work::{self, StateAtPlan};
use crate::session::{FakeWorld, Session, Vars};
use crate::testrepo;

fn repo() -> tempfile::TempDir {
    let dir = testrepo::new();
    for (name, apply, cache) in [("alpha", "automated", false), ("beta", "operator", true)] {
        testrepo::stack(dir.path(), name, apply, cache, "");
    }
    // A kubeconfig defining the environment's context (the kube stacks' `context` gate reads it).
    testrepo::write(
        dir.path(),
        "kubeconfig",
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: http://127.0.0.1:9\nusers:\n- name: u\n  user:\n    token: t\ncontexts:\n- name: honey\n  context:\n    cluster: c\n    user: u\ncurrent-context: honey\n",
    );
    dir
}

fn session(dir: &Path, extra: &[(&str, &str)], world: FakeWorld) -> Session<FakeWorld> {
    let tofu = dir.join("bin/tofu").display().to_string();
    let mut vars: BTreeMap<String, String> = [
        ("KUBE_CONTEXT", "honey"),
        ("TOFU_BACKEND_S3_ENDPOINT", "http://mem"),
        ("TOFU_BACKEND_S3_BUCKET", "gf-state"),
        ("TOFU_BACKEND_S3_ACCESS_KEY", "AK"),
        ("TOFU_BACKEND_S3_SECRET_KEY", "SK"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
    .collect();
    vars.insert("GF_TOFU".into(), tofu);
    vars.insert("KUBECONFIG".into(), dir.join("kubeconfig").display().to_string());
    for (k, v) in extra {
        if v.is_empty() {
            vars.remove(*k);
        } else {
            vars.insert((*k).to_string(), (*v).to_string());
        }
    }
    let contract = Contract::load(dir).unwrap();
    Session::new(contract, "dev", Vars::from_os(vars), world).unwrap()
}

/// A stack source needing the kubernetes provider.
const KUBE_TF: &str =
    "terraform {\n  required_providers {\n    kubernetes = { source = \"hashicorp/kubernetes\" }\n  }\n}\n";
/// A kubeconfig whose only context is not the environment's.
const OTHER_KUBECONFIG: &str = "apiVersion: v1\nkind: Config\nclusters: []\nusers: []\ncontexts:\n- name: kind-local\n  context:\n    cluster: c\n    user: u\n";
const UID: &str = "3f2b9c1e-7a4d-4e8f-9b0a-1c2d3e4f5a6b";
const OTHER_UID: &str = "00000000-0000-4000-8000-000000000000";
const CONTRACT_WITH_UID: &str = r#"{"cluster":{"name":"honey","provider_shape":"on-prem","distribution":"RKE2","nodes":{},"access":"x"},
    "environments":{"dev":{"kube_context":"honey","cluster_uid":"3f2b9c1e-7a4d-4e8f-9b0a-1c2d3e4f5a6b"}},
    "backend":{"type":"s3","region":"us-east-1"},"attic":{"endpoint":"http://attic:8080","cache":"main","trusted_keys":[]}}"#;
const ALPHA_WITH_LANE: &str = r#"{"name":"alpha","purpose":"p","namespaces":["alpha","arc-runners"],"optional_namespaces":[],"depends_on":[],
    "state_keys":{"dev":"alpha/terraform.tfstate"},"apply":"automated","requires_cache":false,
    "lane":{"name":"heavy-nix","drain":{"namespace":"arc-runners","scale_sets":["gf-nix"]}}}"#;
/// The lane stack's scale sets: the drained one shared, the lane's own.
const ALPHA_SCALE_SETS: &str = r#"[
    {"name":"gf-nix","role":"shared","purpose":"t","container_mode":"none","min_runners":0,"max_runners":2,"cpu":"1","memory":"1Gi"},
    {"name":"gf-heavy","role":"lane","purpose":"t","container_mode":"none","min_runners":0,"max_runners":1,"cpu":"1","memory":"1Gi"}]"#;

fn state_json(serial: u64) -> String {
    format!(r#"{{"version":4,"serial":{serial},"lineage":"l-1","resources":[]}}"#)
}

/// Walk the whole pipeline in `mode`; the decisions in order.
async fn walk(s: &Session<FakeWorld>, o: &Options, mode: Mode) -> Vec<Decision> {
    let stacks = s.contract.select(&o.stacks, o.all).unwrap();
    let mut rcx = RunCx::new(s, o, &stacks, mode);
    let mut all = rcx.run_gates().await;
    if mode == Mode::Real && all.iter().any(|d| d.verdict.refuses()) {
        return all;
    }
    for st in &stacks {
        let mut out = Out::new(&st.name, false, true, true);
        let d = StackCx::new(&rcx, st, &mut out).stack_gates().await;
        let stop = mode == Mode::Real && d.iter().any(|d| d.verdict.refuses());
        all.extend(d);
        if stop {
            break;
        }
    }
    all
}

fn first_refusal(d: &[Decision]) -> Option<Gate> {
    d.iter().find(|d| d.verdict.refuses()).map(|d| d.gate)
}

fn opts(op: Op, stack: &str) -> Options {
    Options { op, stacks: vec![stack.into()], jobs: 1, ..Options::default() }
}

/// Write a saved plan for `stack` against `serial`.
fn save_plan(s: &Session<FakeWorld>, stack: &str, serial: Option<u64>, destroy: bool) {
    let st = s.contract.stack(stack).unwrap();
    let work = Work::new(s.root(), "dev", stack);
    work.create().unwrap();
    std::fs::write(work.plan_file(), b"plan bytes").unwrap();
    let settings = S3Settings::from_lookup(s.vars.lookup(), "us-east-1").unwrap();
    let backend = Backend::new(st, "dev", settings.location).unwrap();
    let meta = PlanMeta {
        stack: stack.into(),
        env: "dev".into(),
        state_key: format!("{stack}/terraform.tfstate"),
        tofu_path: PathBuf::from("/t"),
        tofu_version: "1.10.5".into(),
        backend_digest: backend.digest(),
        git_revision: None,
        state: StateAtPlan {
            exists: serial.is_some(),
            serial,
            lineage: serial.map(|_| "l-1".into()),
            etag: serial.map(|_| "etag-0".into()),
        },
        allow_empty_state: serial.is_none(),
        created: "t".into(),
        changes: None,
        destroy,
        plan_digest: work::file_digest(&work.plan_file()).unwrap(),
        var_files: vec![],
        env_vars: vec![],
    };
    work::write_private(&work.plan_meta(), &serde_json::to_vec(&meta).unwrap()).unwrap();
}

#[tokio::test]
async fn a_clean_apply_passes_every_gate_in_pipeline_order() {
    let dir = repo();
    let world = FakeWorld::default();
    world.store.put("alpha/terraform.tfstate", state_json(1).as_bytes());
    let s = session(dir.path(), &[], world);
    save_plan(&s, "alpha", Some(1), false);
    let d = walk(&s, &opts(Op::Apply, "alpha"), Mode::Real).await;
    let names: Vec<&str> = d.iter().map(|d| d.gate.name()).collect();
    assert_eq!(
        names,
        [
            "tofu-args",
            "sources",
            "context",
            "operator-in-ci",
            "tofu",
            "credentials",
            "cluster-identity",
            "local-lock",
            "errored-state",
            "no-plan",
            "state-key",
            "stale-plan",
            "destroy-confirmation"
        ],
        "{d:#?}"
    );
    assert!(d.iter().all(|d| !d.verdict.refuses()), "{d:#?}");
    assert!(matches!(d.last().unwrap().verdict, Verdict::Skip { .. }), "not a destroy plan");
}

#[tokio::test]
async fn dry_and_real_runs_stop_at_the_same_gate() {
    struct Case {
        name: &'static str,
        vars: &'static [(&'static str, &'static str)],
        op: Op,
        stack: &'static str,
        state: Option<u64>,
        plan: Option<(Option<u64>, bool)>,
        cache_down: bool,
        want: Gate,
        /// Files written into the repository first.
        files: &'static [(&'static str, &'static str)],
        /// `kube-system`'s UID in the fake cluster (None: it cannot be read).
        uid: Option<&'static str>,
    }
    let cases = [
        Case {
            name: "bad extra arg",
            vars: &[],
            op: Op::Plan,
            stack: "alpha",
            state: Some(1),
            plan: None,
            cache_down: false,
            want: Gate::TofuArgs,
            files: &[],
            uid: None,
        },
        Case {
            name: "wrong context",
            vars: &[("KUBE_CONTEXT", "kind")],
            op: Op::Plan,
            stack: "alpha",
            state: Some(1),
            plan: None,
            cache_down: false,
            want: Gate::Context,
            files: &[],
            uid: None,
        },
        Case {
            name: "operator in CI",
            vars: &[("CI", "true")],
            op: Op::Apply,
            stack: "beta",
            state: Some(1),
            plan: Some((Some(1), false)),
            cache_down: false,
            want: Gate::OperatorInCi,
            files: &[],
            uid: None,
        },
        Case {
            name: "no credentials",
            vars: &[("TOFU_BACKEND_S3_SECRET_KEY", "")],
            op: Op::Plan,
            stack: "alpha",
            state: Some(1),
            plan: None,
            cache_down: false,
            want: Gate::Credentials,
            files: &[],
            uid: None,
        },
        Case {
            name: "no tofu",
            vars: &[("GF_TOFU", "/nonexistent/tofu")],
            op: Op::Plan,
            stack: "alpha",
            state: Some(1),
            plan: None,
            cache_down: false,
            want: Gate::Tofu,
            files: &[],
            uid: None,
        },
        Case {
            name: "no plan",
            vars: &[],
            op: Op::Apply,
            stack: "alpha",
            state: Some(1),
            plan: None,
            cache_down: false,
            want: Gate::NoPlan,
            files: &[],
            uid: None,
        },
        Case {
            name: "missing state",
            vars: &[],
            op: Op::Plan,
            stack: "alpha",
            state: None,
            plan: None,
            cache_down: false,
            want: Gate::StateKey,
            files: &[],
            uid: None,
        },
        Case {
            name: "stale plan",
            vars: &[],
            op: Op::Apply,
            stack: "alpha",
            state: Some(2),
            plan: Some((Some(1), false)),
            cache_down: false,
            want: Gate::StalePlan,
            files: &[],
            uid: None,
        },
        Case {
            name: "cache down",
            vars: &[],
            op: Op::Plan,
            stack: "beta",
            state: Some(1),
            plan: None,
            cache_down: true,
            want: Gate::Cache,
            files: &[],
            uid: None,
        },
        Case {
            name: "destroy unconfirmed",
            vars: &[],
            op: Op::Destroy,
            stack: "alpha",
            state: Some(1),
            plan: None,
            cache_down: false,
            want: Gate::DestroyConfirmation,
            files: &[],
            uid: None,
        },
        Case {
            name: "drift with a bad extra arg",
            vars: &[],
            op: Op::Drift,
            stack: "alpha",
            state: Some(1),
            plan: None,
            cache_down: false,
            want: Gate::TofuArgs,
            files: &[],
            uid: None,
        },
        Case {
            name: "drift in the wrong context",
            vars: &[("KUBE_CONTEXT", "kind")],
            op: Op::Drift,
            stack: "alpha",
            state: Some(1),
            plan: None,
            cache_down: false,
            want: Gate::Context,
            files: &[],
            uid: None,
        },
        Case {
            name: "drift of a missing state",
            vars: &[],
            op: Op::Drift,
            stack: "beta",
            state: None,
            plan: None,
            cache_down: true,
            want: Gate::StateKey,
            files: &[],
            uid: None,
        },
        Case {
            name: "destroy plan unconfirmed",
            vars: &[],
            op: Op::Apply,
            stack: "alpha",
            state: Some(1),
            plan: Some((Some(1), true)),
            cache_down: false,
            want: Gate::DestroyConfirmation,
            files: &[],
            uid: None,
        },
        Case {
            name: "missing required input",
            vars: &[],
            op: Op::Plan,
            stack: "alpha",
            state: Some(1),
            plan: None,
            cache_down: false,
            want: Gate::Inputs,
            files: &[("stacks/alpha/variables.tf", "variable \"replicas\" {\n  type = number\n}\n")],
            uid: None,
        },
        Case {
            name: "secret in the committed var file",
            vars: &[],
            op: Op::Destroy,
            stack: "alpha",
            state: Some(1),
            plan: None,
            cache_down: false,
            want: Gate::Sources,
            files: &[
                ("stacks/alpha/variables.tf", "variable \"token\" {\n  sensitive = true\n}\n"),
                ("stacks/alpha/dev.tfvars", "token = \"x\"\n"),
            ],
            uid: None,
        },
        Case {
            name: "kube stack, kubeconfig without the context",
            vars: &[],
            op: Op::Plan,
            stack: "alpha",
            state: Some(1),
            plan: None,
            cache_down: false,
            want: Gate::Context,
            files: &[("stacks/alpha/k.tf", KUBE_TF), ("kubeconfig", OTHER_KUBECONFIG)],
            uid: None,
        },
        Case {
            name: "kube stack on another cluster",
            vars: &[],
            op: Op::Plan,
            stack: "alpha",
            state: Some(1),
            plan: None,
            cache_down: false,
            want: Gate::ClusterIdentity,
            files: &[("stacks/alpha/k.tf", KUBE_TF), ("stacks/contract.json", CONTRACT_WITH_UID)],
            uid: Some(OTHER_UID),
        },
        Case {
            name: "kube stack, identity unreadable",
            vars: &[],
            op: Op::Init,
            stack: "alpha",
            state: Some(1),
            plan: None,
            cache_down: false,
            want: Gate::ClusterIdentity,
            files: &[("stacks/alpha/k.tf", KUBE_TF), ("stacks/contract.json", CONTRACT_WITH_UID)],
            uid: None,
        },
        Case {
            name: "lane apply, kubeconfig without the context",
            vars: &[],
            op: Op::Apply,
            stack: "alpha",
            state: Some(1),
            plan: Some((Some(1), false)),
            cache_down: false,
            want: Gate::Context,
            files: &[
                ("stacks/alpha/stack.json", ALPHA_WITH_LANE),
                ("stacks/alpha/scale-sets.json", ALPHA_SCALE_SETS),
                ("kubeconfig", OTHER_KUBECONFIG),
            ],
            uid: None,
        },
        Case {
            name: "lane apply on another cluster",
            vars: &[],
            op: Op::Apply,
            stack: "alpha",
            state: Some(1),
            plan: Some((Some(1), false)),
            cache_down: false,
            want: Gate::ClusterIdentity,
            files: &[
                ("stacks/alpha/stack.json", ALPHA_WITH_LANE),
                ("stacks/alpha/scale-sets.json", ALPHA_SCALE_SETS),
                ("stacks/contract.json", CONTRACT_WITH_UID),
            ],
            uid: Some(OTHER_UID),
        },
    ];
    for c in cases {
        let dir = repo();
        for (rel, text) in c.files {
            std::fs::write(dir.path().join(rel), text).unwrap();
        }
        let world = FakeWorld {
            cache: std::sync::Arc::new(crate::cache::client::MemCache {
                down: c.cache_down.then(|| "connection refused".to_string()),
                ..Default::default()
            }),
            ..FakeWorld::default()
        };
        match c.uid {
            Some(uid) => world.cluster.set_uid(uid),
            None => world.cluster.set_down("connection refused"),
        }
        if let Some(serial) = c.state {
            // Write state once per serial step so the ETag moves like a real store's.
            for n in 1..=serial {
                world.store.put(&format!("{}/terraform.tfstate", c.stack), state_json(n).as_bytes());
            }
        }
        let s = session(dir.path(), c.vars, world);
        if let Some((serial, destroy)) = c.plan {
            save_plan(&s, c.stack, serial, destroy);
        }
        let mut o = opts(c.op, c.stack);
        if c.want == Gate::TofuArgs {
            o.tofu_args = vec!["-lock=false".into()];
        }
        let dry = walk(&s, &o, Mode::Dry).await;
        let real = walk(&s, &o, Mode::Real).await;
        assert_eq!(first_refusal(&dry), Some(c.want), "{}: dry run {dry:#?}", c.name);
        assert_eq!(first_refusal(&real), Some(c.want), "{}: real run {real:#?}", c.name);
        assert!(real.last().unwrap().verdict.refuses(), "{}: the real run stops at its refusal", c.name);
        assert!(dry.len() >= real.len(), "{}: the dry run reports every gate", c.name);
    }
}

#[tokio::test]
async fn drift_holds_the_local_lock_and_needs_no_cache_and_no_saved_plan() {
    let dir = repo();
    let world = FakeWorld {
        cache: std::sync::Arc::new(crate::cache::client::MemCache {
            down: Some("connection refused".into()),
            ..Default::default()
        }),
        ..FakeWorld::default()
    };
    world.store.put("beta/terraform.tfstate", state_json(3).as_bytes());
    let s = session(dir.path(), &[], world);
    let o = opts(Op::Drift, "beta");
    let gates: Vec<Gate> = walk(&s, &o, Mode::Dry).await.iter().map(|d| d.gate).collect();
    assert_eq!(
        gates,
        [
            Gate::TofuArgs,
            Gate::Sources,
            Gate::Inputs,
            Gate::Context,
            Gate::Tofu,
            Gate::Credentials,
            Gate::ClusterIdentity,
            Gate::LocalLock,
            Gate::ErroredState,
            Gate::StateKey
        ],
        "drift plans with the desired inputs on the right cluster; no operator-in-ci, cache, no-plan, stale-plan, destroy or lane gate: it deploys nothing"
    );
    let real = walk(&s, &o, Mode::Real).await;
    assert!(real.iter().all(|d| !d.verdict.refuses()), "{real:#?}");
    // A plan holding the stack in this checkout refuses the drift (and the other way round).
    let work = Work::new(s.root(), "dev", "beta");
    // Another test's child may briefly share this process's fds between fork and exec (the
    // lock file's included, until exec closes it): wait that out rather than fail.
    let _held = work.lock("beta", "dev", "gf plan", HOLD_WAIT).unwrap();
    assert_eq!(first_refusal(&walk(&s, &o, Mode::Real).await), Some(Gate::LocalLock));
    assert_eq!(first_refusal(&walk(&s, &o, Mode::Dry).await), Some(Gate::LocalLock));
}

#[tokio::test]
async fn the_dry_run_writes_nothing_and_the_real_run_holds_the_local_lock() {
    let dir = repo();
    let world = FakeWorld::default();
    world.store.put("alpha/terraform.tfstate", state_json(1).as_bytes());
    let s = session(dir.path(), &[], world);
    let o = opts(Op::Plan, "alpha");
    walk(&s, &o, Mode::Dry).await;
    assert!(!dir.path().join(".gf").exists(), "the dry run wrote into `.gf`");

    let stacks = s.contract.select(&o.stacks, false).unwrap();
    let mut rcx = RunCx::new(&s, &o, &stacks, Mode::Real);
    rcx.run_gates().await;
    let mut out = Out::new("alpha", false, true, true);
    let mut cx = StackCx::new(&rcx, stacks[0], &mut out);
    cx.stack_gates().await;
    assert!(cx.lock.is_some());
    // While this run holds the stack, a second one (or its dry run) is refused naming the holder.
    let work = Work::new(dir.path(), "dev", "alpha");
    let holder = work.lock_holder().expect("held");
    assert!(holder.contains(&format!("pid {}", std::process::id())), "{holder}");
    let again = walk(&s, &o, Mode::Real).await;
    assert_eq!(first_refusal(&again), Some(Gate::LocalLock));
    assert!(again.last().unwrap().verdict.detail().contains("pid"), "{again:#?}");
}

#[tokio::test]
async fn an_errored_state_in_the_stack_folder_is_adopted_and_refuses() {
    let dir = repo();
    let world = FakeWorld::default();
    world.store.put("alpha/terraform.tfstate", state_json(1).as_bytes());
    let s = session(dir.path(), &[], world);
    let stray = dir.path().join("stacks/alpha/errored.tfstate");
    std::fs::write(&stray, state_json(2)).unwrap();
    let o = opts(Op::Plan, "alpha");
    assert_eq!(first_refusal(&walk(&s, &o, Mode::Dry).await), Some(Gate::ErroredState));
    assert!(stray.exists(), "the dry run moves nothing");
    assert_eq!(first_refusal(&walk(&s, &o, Mode::Real).await), Some(Gate::ErroredState));
    let adopted = dir.path().join(".gf/dev/alpha/errored.tfstate");
    assert!(!stray.exists() && adopted.exists());
    let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&adopted).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600);
}

#[tokio::test]
async fn ci_refuses_the_whole_selection_and_s3_errors_exit_1() {
    let dir = repo();
    let mut world = FakeWorld::default();
    let s = session(dir.path(), &[("CI", "true")], world.clone());
    let all = Options { op: Op::Apply, all: true, jobs: 1, ..Options::default() };
    let d = walk(&s, &all, Mode::Dry).await;
    let ci = d.iter().find(|d| d.gate == Gate::OperatorInCi).unwrap();
    assert!(ci.verdict.refuses() && ci.verdict.detail().contains("`beta`"), "{ci:#?}");
    assert_eq!(d.iter().filter(|d| d.gate == Gate::OperatorInCi).count(), 1, "a run gate is decided once");
    assert_eq!(s.contract.stacks.iter().filter(|st| st.apply == ApplyMode::Automated).count(), 1);

    world.store = std::sync::Arc::new(crate::s3state::MemStore::down("connection refused"));
    let s = session(dir.path(), &[], world);
    let d = walk(&s, &opts(Op::Plan, "alpha"), Mode::Real).await;
    let last = d.last().unwrap();
    assert_eq!(last.gate, Gate::StateKey);
    assert!(matches!(last.verdict, Verdict::Refuse { exit: 1, .. }), "{last:#?}");
    assert_eq!(last.refusal().unwrap().code, 1);
}

#[tokio::test]
async fn the_inputs_and_the_cluster_identity_pass_on_the_right_cluster_and_are_read_once() {
    let dir = repo();
    for (rel, text) in [
        ("stacks/alpha/k.tf", KUBE_TF),
        ("stacks/contract.json", CONTRACT_WITH_UID),
        ("stacks/alpha/variables.tf", "variable \"replicas\" {}\nvariable \"token\" {\n  sensitive = true\n}\n"),
        ("stacks/alpha/dev.tfvars", "replicas = 2\n"),
    ] {
        std::fs::write(dir.path().join(rel), text).unwrap();
    }
    let world = FakeWorld::default();
    world.store.put("alpha/terraform.tfstate", state_json(1).as_bytes());
    world.cluster.set_uid(UID);
    let s = session(dir.path(), &[("TF_VAR_token", "sentinel-7c1d")], world.clone());
    let o = opts(Op::Plan, "alpha");
    for mode in [Mode::Dry, Mode::Real] {
        let d = walk(&s, &o, mode).await;
        assert_eq!(first_refusal(&d), None, "{d:#?}");
        let text = format!("{d:?}");
        assert!(!text.contains("sentinel-7c1d"), "a value reached a verdict: {text}");
        let inputs = d.iter().find(|d| d.gate == Gate::Inputs).unwrap().verdict.detail().to_string();
        assert!(inputs.contains("`replicas` from tfvars") && inputs.contains("env TF_VAR_token (set)"), "{inputs}");
        let id = d.iter().find(|d| d.gate == Gate::ClusterIdentity).unwrap();
        assert!(matches!(id.verdict, Verdict::Pass { .. }) && id.verdict.detail().contains(UID), "{id:#?}");
    }
    assert_eq!(world.cluster.uid_reads(), 2, "one identity read per run (dry and real)");
    // Without `cluster_uid` the identity is not read and the gate says how to record it.
    std::fs::write(
        dir.path().join("stacks/contract.json"),
        CONTRACT_WITH_UID.replace(&format!(",\"cluster_uid\":\"{UID}\""), ""),
    )
    .unwrap();
    let s = session(dir.path(), &[("TF_VAR_token", "x")], world.clone());
    let d = walk(&s, &o, Mode::Dry).await;
    let id = d.iter().find(|d| d.gate == Gate::ClusterIdentity).unwrap();
    assert!(matches!(id.verdict, Verdict::Skip { .. }) && id.verdict.detail().contains("gf doctor"), "{id:#?}");
    assert_eq!(world.cluster.uid_reads(), 2);
}

#[tokio::test]
async fn a_lane_whose_sets_do_not_exist_is_refused_by_both_runs_unless_a_first_install() {
    let dir = repo();
    let manifest = dir.path().join("stacks/alpha/stack.json");
    let mut m: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&manifest).unwrap()).unwrap();
    m["lane"] =
        serde_json::json!({ "name": "heavy-nix", "drain": { "namespace": "alpha", "scale_sets": ["nix", "docker"] } });
    std::fs::write(&manifest, m.to_string()).unwrap();
    let set = |name: &str, role: &str| {
        serde_json::json!({ "name": name, "role": role, "purpose": "p", "container_mode": "none",
            "min_runners": 0, "max_runners": 2, "cpu": "1", "memory": "1Gi" })
    };
    let sets = serde_json::json!([set("nix", "shared"), set("docker", "shared"), set("heavy", "lane")]).to_string();
    std::fs::write(dir.path().join("stacks/alpha/scale-sets.json"), &sets).unwrap();
    let world = FakeWorld::default();
    world.cluster.add_set("nix", Some(1), Some(4));
    world.store.put("alpha/terraform.tfstate", state_json(1).as_bytes());
    let s = session(dir.path(), &[], world.clone());
    save_plan(&s, "alpha", Some(1), false);
    let o = opts(Op::Apply, "alpha");
    for mode in [Mode::Dry, Mode::Real] {
        let d = walk(&s, &o, mode).await;
        assert_eq!(first_refusal(&d), Some(Gate::Lane), "{mode:?}: {d:#?}");
        let why = d.last().unwrap().verdict.detail();
        assert!(why.contains("`docker`") && !why.contains("`nix`"), "{d:#?}");
    }
    assert!(world.cluster.patches().is_empty(), "the gate writes nothing");
    // A plan made against an absent state (a first install) may meet missing sets: the drain is `check`.
    let dir = repo();
    std::fs::write(dir.path().join("stacks/alpha/stack.json"), m.to_string()).unwrap();
    std::fs::write(dir.path().join("stacks/alpha/scale-sets.json"), &sets).unwrap();
    let fresh = FakeWorld::default();
    fresh.cluster.add_set("nix", Some(1), Some(4));
    let s = session(dir.path(), &[], fresh);
    save_plan(&s, "alpha", None, false);
    let d = walk(&s, &o, Mode::Real).await;
    assert_eq!(first_refusal(&d), None, "{d:#?}");
    assert!(matches!(d.last().unwrap().verdict, Verdict::Check { .. }));
}

/// How long a test waits to take a local lock no other run holds (see its uses).
const HOLD_WAIT: std::time::Duration = std::time::Duration::from_secs(5);
