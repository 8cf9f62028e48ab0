//! `gf status` against in-memory fakes: the state, its lock, the saved plan as `apply` would judge
//! it, an errored state, the local lock and the lane.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::*;
use crate::contract::Contract;
use crate::lane::cluster::Cluster as _;
use crate::lifecycle::work::StateAtPlan;
use crate::s3state::MemStore;
use crate::session::{FakeWorld, Session, Vars};
use crate::testrepo;

fn repo() -> tempfile::TempDir {
    let dir = testrepo::new();
    testrepo::stack(dir.path(), "alpha", "automated", false, "");
    testrepo::stack(
        dir.path(),
        "beta",
        "automated",
        true,
        r#","cache_paths":["/nix/store/00000000000000000000000000000000-x"]"#,
    );
    testrepo::stack(
        dir.path(),
        "runners",
        "automated",
        false,
        r#","lane":{"name":"heavy-nix","drain":{"namespace":"arc-runners","scale_sets":["gf-nix","gf-docker"]}}"#,
    );
    dir
}

fn session(dir: &Path, world: FakeWorld) -> Session<FakeWorld> {
    let tofu = dir.join("bin/tofu").display().to_string();
    let vars: BTreeMap<&str, &str> = [
        ("KUBE_CONTEXT", "honey"),
        ("TOFU_BACKEND_S3_ENDPOINT", "http://mem"),
        ("TOFU_BACKEND_S3_BUCKET", "gf-state"),
        ("TOFU_BACKEND_S3_ACCESS_KEY", "AK"),
        ("TOFU_BACKEND_S3_SECRET_KEY", "SK"),
        ("GF_TOFU", tofu.as_str()),
    ]
    .into_iter()
    .collect();
    Session::new(Contract::load(dir).unwrap(), "dev", Vars::from_os(vars), world).unwrap()
}

fn state_json(serial: u64) -> String {
    format!(r#"{{"version":4,"serial":{serial},"lineage":"l-1","resources":[]}}"#)
}

/// A saved plan for `stack` made against serial 1 with ETag `etag-0` (the store's first write).
fn save_plan(s: &Session<FakeWorld>, stack: &str) {
    let st = s.contract.stack(stack).unwrap();
    let work = Work::new(s.root(), "dev", stack);
    work.create().unwrap();
    std::fs::write(work.plan_file(), b"plan bytes").unwrap();
    let settings = S3Settings::from_lookup(s.vars.lookup(), "us-east-1").unwrap();
    let meta = PlanMeta {
        stack: stack.into(),
        env: "dev".into(),
        state_key: format!("{stack}/terraform.tfstate"),
        tofu_path: PathBuf::from("/t"),
        tofu_version: "1.10.5".into(),
        backend_digest: Backend::new(st, "dev", settings.location).unwrap().digest(),
        git_revision: None,
        state: StateAtPlan { exists: true, serial: Some(1), lineage: Some("l-1".into()), etag: Some("etag-0".into()) },
        allow_empty_state: false,
        created: work::now_rfc3339(),
        changes: None,
        destroy: false,
        plan_digest: work::file_digest(&work.plan_file()).unwrap(),
        var_files: vec![],
        env_vars: vec![],
    };
    work::write_private(&work.plan_meta(), &serde_json::to_vec(&meta).unwrap()).unwrap();
}

async fn status_of(s: &Session<FakeWorld>, name: &str) -> StackStatus {
    let settings = S3Settings::from_lookup(s.vars.lookup(), "us-east-1").unwrap();
    let store = s.world.store(&settings);
    let tofu = probe_tofu(s).await;
    stack_status(s, s.contract.stack(name).unwrap(), &store, &settings, Some(&tofu)).await
}

#[tokio::test]
async fn reports_state_lock_plan_errored_state_local_lock_and_lane() {
    let dir = repo();
    let world = FakeWorld::default();
    world.store.put("alpha/terraform.tfstate", state_json(1).as_bytes());
    world.store.put(
        "alpha/terraform.tfstate.tflock",
        br#"{"ID":"abc","Operation":"OperationTypeApply","Who":"ops@bumble","Version":"1.10.5","Created":"2026-11-27T10:00:00Z","Path":"b/alpha"}"#,
    );
    world.cluster.add_set("gf-nix", Some(0), Some(0));
    world.cluster.add_set("gf-docker", Some(1), Some(3));
    let record = r#"{"min":1,"max":8,"time":"2026-11-27T16:04:02Z","who":"ops@sting"}"#;
    world
        .cluster
        .patch_set(
            "arc-runners",
            "gf-nix",
            &serde_json::json!({ "metadata": { "annotations": { crate::lane::arc::DRAINED_FROM: record } } }),
        )
        .await
        .unwrap();
    let s = session(dir.path(), world);
    save_plan(&s, "alpha");
    std::fs::write(dir.path().join("stacks/beta/errored.tfstate"), "{}").unwrap();
    // Another test's child may briefly share this process's fds between fork and exec (the
    // lock file's included, until exec closes it): wait that out rather than fail.
    let held = Work::new(s.root(), "dev", "beta").lock("beta", "dev", "gf plan", HOLD_WAIT).unwrap();

    let alpha = status_of(&s, "alpha").await;
    let m = alpha.managed.as_ref().unwrap();
    assert_eq!((m.exists, m.serial, m.etag.as_deref()), (true, Some(1), Some("etag-0")));
    assert_eq!(alpha.lock.as_ref().unwrap().who, "ops@bumble");
    let plan = alpha.plan.as_ref().unwrap();
    assert_eq!(plan.stale, Some(false), "{plan:?}");
    assert!(plan.age_seconds.unwrap() < 600);
    assert!(alpha.errored_state.is_none() && alpha.local_lock.is_none() && alpha.lane.is_none());

    let beta = status_of(&s, "beta").await;
    assert!(!beta.managed.as_ref().unwrap().exists);
    assert!(beta.plan.is_none());
    assert_eq!(beta.errored_state.as_deref(), Some("stacks/beta/errored.tfstate"));
    assert!(dir.path().join("stacks/beta/errored.tfstate").is_file(), "status adopts nothing");
    assert!(beta.local_lock.as_deref().unwrap().contains(&format!("pid {}", std::process::id())));
    assert_eq!((beta.cache.requires_cache, beta.cache.cache_paths), (true, 1));
    drop(held);

    let runners = status_of(&s, "runners").await;
    let lane = runners.lane.as_ref().unwrap();
    assert_eq!((lane.context.as_str(), lane.error.as_ref()), ("honey", None));
    let sets = lane.sets.as_ref().unwrap();
    assert_eq!(sets[0].drained.as_ref().unwrap().who, "ops@sting");
    assert!(sets[1].drained.is_none());
    assert_eq!(s.world.cluster.patches().len(), 1, "status only reads the cluster (the one patch is the test's)");

    let rows: Vec<Vec<String>> = [&alpha, &beta, &runners].into_iter().map(cells).collect();
    assert_eq!(rows[0][2], "held (Apply)");
    assert!(rows[0][3].ends_with("current"), "{:?}", rows[0]);
    assert_eq!((rows[1][1].as_str(), rows[1][4].as_str(), rows[1][5].as_str()), ("no state", "WAITING", "held"));
    assert_eq!(rows[2][6], "1 of 2 drained");
    let text = details(&alpha).join("\n") + &details(&beta).join("\n") + &details(&runners).join("\n");
    for want in
        ["gf state unlock alpha", "gf state push-errored beta", "drained since 2026-11-27T16:04:02Z by ops@sting"]
    {
        assert!(text.contains(want), "{want}: {text}");
    }

    // The state moves on: the same plan is now what `apply` refuses as stale.
    s.world.store.put("alpha/terraform.tfstate", state_json(2).as_bytes());
    let alpha = status_of(&s, "alpha").await;
    let plan = alpha.plan.unwrap();
    assert_eq!(plan.stale, Some(true));
    assert!(plan.why.unwrap().contains("changed since the plan"));
}

#[tokio::test]
async fn an_unreadable_state_leaves_the_plan_unjudged_and_fails_the_run() {
    let dir = repo();
    let world = FakeWorld { store: Arc::new(MemStore::down("connection refused")), ..FakeWorld::default() };
    let s = session(dir.path(), world);
    save_plan(&s, "alpha");
    let alpha = status_of(&s, "alpha").await;
    assert!(alpha.managed.is_none());
    assert!(alpha.managed_error.as_deref().unwrap().contains("connection refused"));
    let plan = alpha.plan.unwrap();
    assert_eq!(plan.stale, None);
    assert!(plan.why.unwrap().contains("not judged"));
    let o = Options { stacks: vec!["alpha".into()], all: false, json: true };
    let err = run(&s, &o).await.unwrap_err();
    assert!(err.to_string().contains("`alpha`"), "{err}");
}

#[tokio::test]
async fn without_tofu_a_plan_is_judged_on_everything_but_the_version() {
    let dir = repo();
    let world = FakeWorld::default();
    world.store.put("alpha/terraform.tfstate", state_json(1).as_bytes());
    let s = session(dir.path(), world);
    save_plan(&s, "alpha");
    let settings = S3Settings::from_lookup(s.vars.lookup(), "us-east-1").unwrap();
    let store = s.world.store(&settings);
    let no_tofu: Result<Tofu, String> = Err("no tofu binary".into());
    let st = s.contract.stack("alpha").unwrap();
    let plan = stack_status(&s, st, &store, &settings, Some(&no_tofu)).await.plan.unwrap();
    assert_eq!(plan.stale, None);
    assert!(plan.why.unwrap().contains("tofu version not checked: no tofu binary"));
    // A swapped plan file is stale with or without tofu.
    std::fs::write(Work::new(s.root(), "dev", "alpha").plan_file(), b"other bytes").unwrap();
    let plan = stack_status(&s, st, &store, &settings, Some(&no_tofu)).await.plan.unwrap();
    assert_eq!(plan.stale, Some(true));
}

/// How long a test waits to take a local lock no other run holds (see its uses).
const HOLD_WAIT: std::time::Duration = std::time::Duration::from_secs(5);
