//! `gf lane status|drain|restore` and the `with_drained` guard, against the fake Kubernetes API.

use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};

use crate::fake_kube::{FakeKube, NS};
use crate::harness::{Gf, Repo};

const ANNOTATION: &str = "gf.flywheel.dev/drained-from";
const DRAINED: [&str; 4] = ["gf-nix", "gf-docker", "gf-dind", "gf-compute-expansion"];
const HEAVY: &str = "gf-heavy-nix";

/// The fixture repository (its `arc-runners` stack drains the four `DRAINED` sets) and a fake API
/// holding those sets plus the heavy lane's own set.
fn setup() -> (Repo, FakeKube) {
    let repo = Repo::from_fixture("contract");
    let fake = FakeKube::start();
    fake.add_set("gf-nix", Some(1), Some(10));
    fake.add_set("gf-docker", Some(0), Some(5));
    fake.add_set("gf-dind", Some(2), None);
    fake.add_set("gf-compute-expansion", None, Some(20));
    fake.add_set(HEAVY, Some(1), Some(2));
    (repo, fake)
}

fn original(name: &str) -> (Option<i64>, Option<i64>) {
    match name {
        "gf-nix" => (Some(1), Some(10)),
        "gf-docker" => (Some(0), Some(5)),
        "gf-dind" => (Some(2), None),
        "gf-compute-expansion" => (None, Some(20)),
        _ => (Some(1), Some(2)),
    }
}

fn lane(repo: &Repo, fake: &FakeKube, verb: &str) -> Gf {
    repo.gf().envs(fake.env()).args(["lane", verb])
}

fn annotation(fake: &FakeKube, set: &str) -> Option<Value> {
    fake.set(set)["metadata"]["annotations"][ANNOTATION].as_str().map(|s| serde_json::from_str(s).unwrap())
}

fn assert_restored(fake: &FakeKube) {
    for s in DRAINED {
        assert_eq!(fake.caps(s), original(s), "caps of `{s}` after restore");
        assert!(annotation(fake, s).is_none(), "`{s}` still carries the annotation: {}", fake.set(s));
    }
}

fn all_zero(fake: &FakeKube) -> bool {
    DRAINED.iter().all(|s| fake.caps(s) == (Some(0), Some(0)))
}

/// `max >= min` in every state any set ever had (absent min is 0, absent max is unlimited).
fn assert_max_never_below_min(fake: &FakeKube) {
    for s in DRAINED.iter().chain([&HEAVY]) {
        for state in fake.set_history(s) {
            let min = state["spec"]["minRunners"].as_i64().unwrap_or(0);
            if let Some(max) = state["spec"]["maxRunners"].as_i64() {
                assert!(max >= min, "`{s}` had maxRunners {max} < minRunners {min}: {state}");
            }
        }
    }
}

fn heavy_untouched(fake: &FakeKube) {
    assert_eq!(fake.set_history(HEAVY).len(), 1, "the heavy lane's set was written");
    assert!(fake.patches().iter().all(|p| !p.contains(HEAVY)), "{:?}", fake.patches());
}

#[test]
fn drain_waits_for_busy_jobs_and_leaves_the_heavy_set_alone() {
    let (repo, fake) = setup();
    fake.add_runner("gf-nix", "gf-nix-busy", Some("101"));
    fake.add_runner("gf-nix", "gf-nix-idle", None);
    fake.add_runner("gf-docker", "gf-docker-busy", Some("102"));
    fake.add_runner(HEAVY, "heavy-busy", Some("900"));
    let mut cmd = lane(&repo, &fake, "drain").arg("--json").command();
    let child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    fake.wait_for(20, "the four sets at 0/0", all_zero);
    fake.wait_for(5, "the idle runner to go", |f| !f.runners("gf-nix").contains(&"gf-nix-idle".to_string()));
    let mut child = child;
    std::thread::sleep(Duration::from_millis(300));
    assert!(child.try_wait().unwrap().is_none(), "drain returned while two jobs still ran");
    fake.finish_job("gf-nix-busy");
    std::thread::sleep(Duration::from_millis(300));
    assert!(child.try_wait().unwrap().is_none(), "drain returned while a job still ran on `gf-docker`");
    fake.finish_job("gf-docker-busy");
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["stack"], "arc-runners");
    assert_eq!(doc["lane"], "heavy-nix");
    let sets = doc["sets"].as_array().unwrap();
    assert_eq!(sets.iter().map(|s| s["name"].as_str().unwrap()).collect::<Vec<_>>(), DRAINED);
    assert!(sets.iter().all(|s| s["action"] == "drained"), "{doc}");
    assert_eq!(sets[2]["recorded"]["max"], Value::Null, "unset max is recorded as null: {doc}");
    for s in DRAINED {
        let rec = annotation(&fake, s).unwrap();
        let (min, max) = original(s);
        assert_eq!((rec["min"].as_i64(), rec["max"].as_i64()), (min, max), "{s}: {rec}");
        assert!(rec["time"].as_str().unwrap().ends_with('Z'), "{rec}");
        assert!(!rec["who"].as_str().unwrap().is_empty(), "{rec}");
    }
    assert!(fake.runners(HEAVY).contains(&"heavy-busy".to_string()));
    heavy_untouched(&fake);
    assert_max_never_below_min(&fake);
}

#[test]
fn max_never_below_min_and_one_patch_per_set() {
    let (repo, fake) = setup();
    lane(&repo, &fake, "drain").run().code(0).stdout_has("lane `heavy-nix` drained");
    lane(&repo, &fake, "restore").run().code(0).stdout_has("restored `gf-nix` to 1/10");
    assert_restored(&fake);
    assert_max_never_below_min(&fake);
    // Created, drained (both caps and the annotation in one write), restored.
    for s in DRAINED {
        let h = fake.set_history(s);
        assert_eq!(h.len(), 3, "`{s}`: {h:#?}");
        assert_eq!((h[1]["spec"]["minRunners"].as_i64(), h[1]["spec"]["maxRunners"].as_i64()), (Some(0), Some(0)));
        assert!(h[1]["metadata"]["annotations"][ANNOTATION].is_string());
    }
    heavy_untouched(&fake);
}

#[test]
fn status_json_reports_caps_runners_and_the_drain() {
    let (repo, fake) = setup();
    fake.add_runner("gf-nix", "gf-nix-1", Some("7"));
    fake.add_runner("gf-nix", "gf-nix-2", None);
    let before = lane(&repo, &fake, "status").arg("--json").run().code(0).json();
    assert_eq!(before["context"], "honey");
    assert_eq!(before["context_matches"], true);
    assert_eq!(before["namespace"], NS);
    let nix = &before["sets"][0];
    assert_eq!(
        (nix["name"].clone(), nix["min"].clone(), nix["max"].clone(), nix["runners"].clone(), nix["busy"].clone()),
        (json!("gf-nix"), json!(1), json!(10), json!(2), json!(1))
    );
    assert_eq!(nix["drained"], Value::Null);
    assert_eq!(before["sets"][2]["max"], Value::Null, "gf-dind has no max");

    let mut child = lane(&repo, &fake, "drain").command().stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    fake.wait_for(20, "the drain", all_zero);
    let during = lane(&repo, &fake, "status").arg("--json").run().code(0).json();
    let nix = &during["sets"][0];
    assert_eq!(
        (nix["min"].clone(), nix["max"].clone(), nix["busy"].clone()),
        (json!(0), json!(0), json!(1)),
        "{during}"
    );
    assert_eq!((nix["drained"]["min"].clone(), nix["drained"]["max"].clone()), (json!(1), json!(10)));
    assert!(nix["drained"]["time"].is_string() && nix["drained"]["who"].is_string(), "{during}");
    assert!(during["sets"].as_array().unwrap().iter().all(|s| s["found"] == true));
    fake.finish_job("gf-nix-1");
    assert_eq!(child.wait().unwrap().code(), Some(0));
    lane(&repo, &fake, "status").run().code(0).stdout_has("gf-docker").stdout_has("since ");
    assert!(fake.patches().len() == 4, "status wrote something: {:?}", fake.patches());
}

#[test]
fn restore_keeps_caps_changed_meanwhile_and_is_idempotent() {
    let (repo, fake) = setup();
    lane(&repo, &fake, "drain").run().code(0);
    // The apply changed one set's caps while the lane was drained.
    fake.set_caps("gf-docker", Some(1), Some(8));
    let doc = lane(&repo, &fake, "restore").arg("--json").run().code(0).json();
    let actions: Vec<(&str, &str)> = doc["sets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["name"].as_str().unwrap(), s["action"].as_str().unwrap()))
        .collect();
    assert_eq!(
        actions,
        [("gf-nix", "restored"), ("gf-docker", "kept"), ("gf-dind", "restored"), ("gf-compute-expansion", "restored")]
    );
    assert_eq!(fake.caps("gf-docker"), (Some(1), Some(8)));
    assert!(annotation(&fake, "gf-docker").is_none());
    for s in ["gf-nix", "gf-dind", "gf-compute-expansion"] {
        assert_eq!(fake.caps(s), original(s), "{s}");
        assert!(annotation(&fake, s).is_none());
    }
    assert!(fake.set("gf-dind")["spec"].get("maxRunners").is_none(), "unlimited stays unset");
    assert!(fake.set("gf-compute-expansion")["spec"].get("minRunners").is_none(), "unset min stays unset");

    let patches = fake.patches().len();
    let again = lane(&repo, &fake, "restore").arg("--json").run().code(0).json();
    assert!(again["sets"].as_array().unwrap().iter().all(|s| s["action"] == "not-drained"), "{again}");
    assert_eq!(fake.patches().len(), patches, "a second restore wrote");
    assert_eq!(fake.caps("gf-docker"), (Some(1), Some(8)));
    heavy_untouched(&fake);
}

#[test]
fn second_drain_keeps_the_first_recorded_caps() {
    let (repo, fake) = setup();
    lane(&repo, &fake, "drain").run().code(0);
    let first = annotation(&fake, "gf-nix").unwrap();
    let doc = lane(&repo, &fake, "drain").arg("--json").run().code(0).json();
    assert!(doc["sets"].as_array().unwrap().iter().all(|s| s["action"] == "already-drained"), "{doc}");
    assert_eq!(annotation(&fake, "gf-nix").unwrap(), first);
    lane(&repo, &fake, "restore").run().code(0);
    assert_restored(&fake);
}

#[test]
fn refuses_to_drain_the_set_gf_runs_in_and_writes_nothing() {
    let (repo, fake) = setup();
    fake.add_pod(NS, "gf-nix-abcde-runner-x1", Some("gf-nix"));
    lane(&repo, &fake, "drain")
        .env("ACTIONS_RUNNER_POD_NAME", "gf-nix-abcde-runner-x1")
        .run()
        .code(3)
        .stderr_has("refused (lane)")
        .stderr_has("`gf-nix-abcde-runner-x1`");
    assert!(fake.patches().is_empty(), "{:?}", fake.patches());
    assert!(fake.requests().iter().any(|r| r.contains("/pods/gf-nix-abcde-runner-x1")));

    // Inside a cluster without ACTIONS_RUNNER_POD_NAME: HOSTNAME, looked up in POD_NAMESPACE.
    fake.add_pod("ci", "dind-pod", Some("gf-dind"));
    lane(&repo, &fake, "drain")
        .env("KUBERNETES_SERVICE_HOST", "10.43.0.1")
        .env("HOSTNAME", "dind-pod")
        .env("POD_NAMESPACE", "ci")
        .run()
        .code(3)
        .stderr_has("`gf-dind`");
    assert!(fake.patches().is_empty(), "{:?}", fake.patches());
    assert!(DRAINED.iter().all(|s| fake.set_history(s).len() == 1));
}

#[test]
fn drains_from_a_heavy_lane_pod_and_from_outside_any_pod() {
    let (repo, fake) = setup();
    fake.add_pod(NS, "gf-heavy-nix-runner-1", Some(HEAVY));
    lane(&repo, &fake, "drain").env("ACTIONS_RUNNER_POD_NAME", "gf-heavy-nix-runner-1").run().code(0);
    assert!(all_zero(&fake));
    assert!(annotation(&fake, "gf-nix").unwrap()["who"].as_str().unwrap().contains("gf-heavy-nix-runner-1"));
    lane(&repo, &fake, "restore").run().code(0);
    // A pod name that is not a pod (404) is not a drained set's pod.
    lane(&repo, &fake, "drain").env("ACTIONS_RUNNER_POD_NAME", "laptop").run().code(0);
    assert!(all_zero(&fake));
    heavy_untouched(&fake);
}

#[test]
fn drain_timeout_restores_and_exits_3() {
    let (repo, fake) = setup();
    fake.add_runner("gf-dind", "stuck", Some("55"));
    lane(&repo, &fake, "drain")
        .args(["--timeout", "400ms"])
        .run()
        .code(3)
        .stderr_has("refused (lane)")
        .stderr_has("timed out")
        .stderr_has("`gf-dind` (1)")
        .stderr_has("put back");
    assert_restored(&fake);
    assert!(DRAINED.iter().all(|s| fake.set_history(s).len() == 3), "drained then restored once each");
    assert_max_never_below_min(&fake);
}

#[test]
fn a_conflict_during_the_patch_is_retried_on_a_fresh_read() {
    let (repo, fake) = setup();
    fake.conflict_next_patches("gf-nix", 2);
    lane(&repo, &fake, "drain").run().code(0);
    assert_eq!(fake.caps("gf-nix"), (Some(0), Some(0)));
    assert_eq!(annotation(&fake, "gf-nix").unwrap()["max"], 10);
    let nix_patches = fake.patches().iter().filter(|p| p.contains("/gf-nix")).count();
    assert_eq!(nix_patches, 3, "{:?}", fake.patches());
    fake.conflict_next_patches("gf-docker", 1);
    lane(&repo, &fake, "restore").run().code(0);
    assert_restored(&fake);
}

#[test]
fn sigint_during_the_drain_wait_restores() {
    let (repo, fake) = setup();
    fake.add_runner("gf-nix", "long-job", Some("77"));
    let child = lane(&repo, &fake, "drain").command().stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    fake.wait_for(20, "the drain", all_zero);
    std::thread::sleep(Duration::from_millis(200));
    interrupt(child.id());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    // SPEC: after a signal gf restores, then exits 128 + the signal (SIGINT: 130).
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("interrupted") && stderr.contains("put back"), "{stderr}");
    assert_restored(&fake);
    assert!(fake.runners("gf-nix").contains(&"long-job".to_string()));
}

#[test]
fn sighup_during_the_drain_wait_restores_and_exits_129() {
    let (repo, fake) = setup();
    fake.add_runner("gf-nix", "long-job", Some("78"));
    let child = lane(&repo, &fake, "drain").command().stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    fake.wait_for(20, "the drain", all_zero);
    // A closed terminal: SIGHUP, and nobody reads stderr any more.
    crate::harness::signal(i32::try_from(child.id()).unwrap(), libc::SIGHUP);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(129), "{}", String::from_utf8_lossy(&out.stderr));
    assert_restored(&fake);
}

fn interrupt(pid: u32) {
    crate::harness::signal(i32::try_from(pid).unwrap(), libc::SIGINT);
}

#[test]
fn wrong_or_missing_context_is_refused_before_any_request() {
    let (repo, fake) = setup();
    for verb in ["drain", "restore"] {
        lane(&repo, &fake, verb)
            .env("KUBE_CONTEXT", "elsewhere")
            .run()
            .code(3)
            .stderr_has("refused (context)")
            .stderr_has("`KUBE_CONTEXT=honey`");
    }
    let mut unset = lane(&repo, &fake, "drain").command();
    unset.env_remove("KUBE_CONTEXT");
    let out = unset.output().unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(fake.requests().is_empty(), "{:?}", fake.requests());
    // `status` only reports the mismatch (the `elsewhere` context reaches the same fake).
    let doc = lane(&repo, &fake, "status").env("KUBE_CONTEXT", "elsewhere").arg("--json").run();
    doc.code(0).stderr_has("`KUBE_CONTEXT` is `elsewhere`");
    assert_eq!(doc.json()["context_matches"], false);
}

fn lane_of(repo: &Repo) -> gf::contract::Lane {
    let c = gf::contract::Contract::load(repo.path()).unwrap();
    c.stack("arc-runners").unwrap().lane.clone().unwrap()
}

fn test_opts() -> gf::lane::LaneOptions {
    gf::lane::LaneOptions {
        poll: Duration::from_millis(20),
        who: "lane-test".into(),
        own_pod: None,
        progress: false,
        quiet: true,
        allow_missing: false,
    }
}

#[test]
fn a_failed_apply_is_followed_by_a_restore() {
    let (repo, fake) = setup();
    let lane = lane_of(&repo);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let err = rt
        .block_on(async {
            let cluster = gf::lane::cluster::KubeCluster::connect(&[fake.kubeconfig()], "honey").await.unwrap();
            let apply = async {
                assert!(all_zero(&fake), "the apply runs on a drained lane");
                Err::<(), _>(anyhow::anyhow!("tofu apply failed: exit status 1"))
            };
            gf::lane::with_drained_on(&cluster, &lane, &test_opts(), Duration::from_secs(10), apply).await
        })
        .unwrap_err();
    assert!(format!("{err:#}").contains("tofu apply failed"), "{err:#}");
    assert_restored(&fake);
    assert_max_never_below_min(&fake);
    heavy_untouched(&fake);
}

#[test]
fn a_successful_apply_keeps_the_caps_it_set() {
    let (repo, fake) = setup();
    let lane = lane_of(&repo);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let v = rt
        .block_on(async {
            let cluster = gf::lane::cluster::KubeCluster::connect(&[fake.kubeconfig()], "honey").await.unwrap();
            let apply = async {
                fake.set_caps("gf-nix", Some(2), Some(12));
                Ok::<_, gf::lane::LaneError>(42)
            };
            gf::lane::with_drained_on(&cluster, &lane, &test_opts(), Duration::from_secs(10), apply).await
        })
        .unwrap();
    assert_eq!(v, 42);
    assert_eq!(fake.caps("gf-nix"), (Some(2), Some(12)));
    assert!(annotation(&fake, "gf-nix").is_none());
    for s in ["gf-docker", "gf-dind", "gf-compute-expansion"] {
        assert_eq!(fake.caps(s), original(s));
    }
}

/// Opt-in: `GF_TEST_KUBE_CONTEXT=<context> cargo test --test it lane::real_cluster -- --ignored`
/// runs status, drain and restore of the fixture's lane against that cluster (drain namespace and
/// sets overridable with `GF_TEST_LANE_NAMESPACE` and `GF_TEST_LANE_SETS=a,b`). It really drains them.
#[test]
#[ignore = "needs a real cluster: set GF_TEST_KUBE_CONTEXT"]
fn real_cluster_status_drain_restore() {
    let Ok(context) = std::env::var("GF_TEST_KUBE_CONTEXT") else {
        panic!("set GF_TEST_KUBE_CONTEXT to a kubeconfig context with ARC scale sets to run this test");
    };
    let repo = Repo::from_fixture("contract");
    repo.edit_json("stacks/contract.json", |v| v["environments"]["dev"]["kube_context"] = json!(context));
    // The real cluster's drain namespace and shared sets, when they differ from the fixture's.
    repo.edit_json("stacks/arc-runners/stack.json", |v| {
        if let Ok(ns) = std::env::var("GF_TEST_LANE_NAMESPACE") {
            v["lane"]["drain"]["namespace"] = json!(ns);
        }
        if let Ok(sets) = std::env::var("GF_TEST_LANE_SETS") {
            v["lane"]["drain"]["scale_sets"] = json!(sets.split(',').map(str::trim).collect::<Vec<_>>());
        }
    });
    let mut env = vec![("KUBE_CONTEXT", context.clone())];
    if let Ok(k) = std::env::var("KUBECONFIG") {
        env.push(("KUBECONFIG", k));
    }
    let gf = |verb: &str| repo.gf().envs(env.clone()).args(["lane", verb]);
    gf("status").arg("--json").run().code(0);
    gf("drain").args(["--timeout", "10m"]).run().code(0);
    let during = gf("status").arg("--json").run().code(0).json();
    assert!(during["sets"].as_array().unwrap().iter().filter(|s| s["found"] == true).all(|s| s["max"] == 0));
    gf("restore").run().code(0);
    let after = gf("status").arg("--json").run().code(0).json();
    assert!(after["sets"].as_array().unwrap().iter().all(|s| s["drained"].is_null()), "{after}");
}

#[test]
fn a_panicking_apply_is_followed_by_a_restore() {
    let (repo, fake) = setup();
    let lane = lane_of(&repo);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let cluster = rt.block_on(gf::lane::cluster::KubeCluster::connect(&[fake.kubeconfig()], "honey")).unwrap();
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        rt.block_on(gf::lane::with_drained_on(&cluster, &lane, &test_opts(), Duration::from_secs(10), async {
            assert!(all_zero(&fake));
            panic!("the apply blew up");
            #[allow(unreachable_code)]
            Ok::<_, gf::lane::LaneError>(())
        }))
    }));
    assert!(caught.is_err(), "the panic went on after the restore");
    assert_restored(&fake);
}

#[test]
fn lane_commands_need_a_lane_stack() {
    let (repo, fake) = setup();
    lane(&repo, &fake, "status").args(["--stack", "attic"]).run().code(1).stderr_has("stack `attic` has no `lane`");
    lane(&repo, &fake, "drain").args(["--stack", "arc-runner"]).run().code(1).stderr_has("did you mean `arc-runners`");
    repo.edit_json("stacks/arc-runners/stack.json", |v| {
        v.as_object_mut().unwrap().remove("lane");
    });
    lane(&repo, &fake, "drain").run().code(1).stderr_has("no stack in the contract has a `lane`");
    assert!(fake.requests().is_empty());
}

#[test]
fn a_drain_naming_a_set_the_cluster_lacks_is_refused_and_writes_nothing() {
    // The reproduction: the contract names sets the cluster does not have (here three of
    // four). Draining "nothing" and going on would leave the real shared listeners exposed.
    let repo = Repo::from_fixture("contract");
    let fake = FakeKube::start();
    fake.add_set("gf-nix", Some(1), Some(10));
    let run = lane(&repo, &fake, "drain").run();
    run.code(3)
        .stderr_has("refused (lane)")
        .stderr_has("`gf-docker`, `gf-dind`, `gf-compute-expansion`")
        .stderr_has("do not exist in namespace `arc-runners`")
        .stderr_has("`gf lane status`");
    assert!(fake.patches().is_empty(), "a refused drain wrote: {:?}", fake.patches());
    assert_eq!(fake.caps("gf-nix"), (Some(1), Some(10)));
    assert_eq!(fake.set_history("gf-nix").len(), 1, "gf-nix was written");
    // status and restore still report the missing sets by name.
    let status = lane(&repo, &fake, "status").arg("--json").run().code(0).json();
    assert_eq!(status["sets"][0]["found"], true);
    assert_eq!(status["sets"][1]["found"], false);
    let doc = lane(&repo, &fake, "restore").arg("--json").run().code(0).json();
    assert_eq!(doc["sets"][0]["action"], "not-drained");
    assert_eq!(doc["sets"][3]["action"], "missing");
}

#[test]
fn a_single_missing_set_is_refused_too() {
    let (repo, fake) = setup();
    fake.remove_set("gf-dind");
    lane(&repo, &fake, "drain").run().code(3).stderr_has("scale set `gf-dind` of lane `heavy-nix` does not exist");
    assert!(fake.patches().is_empty(), "{:?}", fake.patches());
}

#[test]
fn a_first_install_drains_the_sets_that_exist_and_skips_the_rest() {
    // `allow_missing` is what `gf apply` passes for a plan made against an absent state.
    let repo = Repo::from_fixture("contract");
    let fake = FakeKube::start();
    fake.add_set("gf-nix", Some(1), Some(10));
    let lane = lane_of(&repo);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let opts = gf::lane::LaneOptions { allow_missing: true, ..test_opts() };
    let v = rt
        .block_on(async {
            let cluster = gf::lane::cluster::KubeCluster::connect(&[fake.kubeconfig()], "honey").await.unwrap();
            let apply = async {
                assert_eq!(fake.caps("gf-nix"), (Some(0), Some(0)), "the existing set is drained during the apply");
                Ok::<_, gf::lane::LaneError>(7)
            };
            gf::lane::with_drained_on(&cluster, &lane, &opts, Duration::from_secs(10), apply).await
        })
        .unwrap();
    assert_eq!(v, 7);
    assert_eq!(fake.caps("gf-nix"), (Some(1), Some(10)));
    assert!(annotation(&fake, "gf-nix").is_none());

    // Without it the same guard refuses before the apply runs.
    let ran = std::sync::atomic::AtomicBool::new(false);
    let err = rt
        .block_on(async {
            let cluster = gf::lane::cluster::KubeCluster::connect(&[fake.kubeconfig()], "honey").await.unwrap();
            let apply = async {
                ran.store(true, std::sync::atomic::Ordering::SeqCst);
                Ok::<_, gf::lane::LaneError>(())
            };
            gf::lane::with_drained_on(&cluster, &lane, &test_opts(), Duration::from_secs(10), apply).await
        })
        .unwrap_err();
    assert_eq!(gf::exit::Refusal::exit_code(&err), gf::exit::REFUSED, "{err}");
    assert!(!ran.load(std::sync::atomic::Ordering::SeqCst), "the apply ran behind a refused drain");
}

#[test]
fn an_unreadable_annotation_is_reported_and_left_alone() {
    let (repo, fake) = setup();
    lane(&repo, &fake, "drain").run().code(0);
    fake.annotate("gf-dind", ANNOTATION, "hand-edited");
    lane(&repo, &fake, "restore").run().code(1).stderr_has("scale set `gf-dind`").stderr_has("hand-edited");
    assert_eq!(fake.caps("gf-dind"), (Some(0), Some(0)));
    assert_eq!(fake.set("gf-dind")["metadata"]["annotations"][ANNOTATION], "hand-edited");
    for s in ["gf-nix", "gf-docker", "gf-compute-expansion"] {
        assert_eq!(fake.caps(s), original(s), "{s} restored despite the other set");
    }
}

/// The fake itself: 404 and 409 Status objects, JSON patch, and the resourceVersion bump.
#[test]
fn the_fake_api_speaks_kubernetes() {
    let (_repo, fake) = setup();
    let base = format!("http://127.0.0.1:{}/apis/actions.github.com/v1alpha1/namespaces/{NS}", fake.port);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let http = reqwest::Client::new();
        let auth = ("authorization", format!("Bearer {}", crate::fake_kube::TOKEN));
        let r = http.get(format!("{base}/autoscalingrunnersets/nope")).header(auth.0, &auth.1).send().await.unwrap();
        assert_eq!(r.status(), 404);
        let body: Value = r.json().await.unwrap();
        assert_eq!((body["kind"].clone(), body["reason"].clone()), (json!("Status"), json!("NotFound")));
        let rv = fake.set("gf-nix")["metadata"]["resourceVersion"].as_str().unwrap().to_string();
        let ops = json!([{ "op": "test", "path": "/spec/minRunners", "value": 1 },
                         { "op": "replace", "path": "/spec/maxRunners", "value": 3 }]);
        let r = http
            .patch(format!("{base}/autoscalingrunnersets/gf-nix"))
            .header(auth.0, &auth.1)
            .header("content-type", "application/json-patch+json")
            .body(ops.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let after: Value = r.json().await.unwrap();
        assert_eq!(after["spec"]["maxRunners"], 3);
        assert_ne!(after["metadata"]["resourceVersion"].as_str().unwrap(), rv);
        let stale = json!({ "metadata": { "resourceVersion": rv }, "spec": { "maxRunners": 4 } });
        let r = http
            .patch(format!("{base}/autoscalingrunnersets/gf-nix"))
            .header(auth.0, &auth.1)
            .header("content-type", "application/merge-patch+json")
            .body(stale.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 409);
        let r = http.get(format!("{base}/ephemeralrunners")).send().await.unwrap();
        assert_eq!(r.status(), 401, "a request without the kubeconfig's token");
    });
    assert_eq!(fake.caps("gf-nix"), (Some(1), Some(3)));
}

#[test]
fn an_own_pod_that_cannot_be_read_stops_the_drain_naming_it() {
    let (repo, fake) = setup();
    fake.forbid("pods");
    lane(&repo, &fake, "drain")
        .env("ACTIONS_RUNNER_POD_NAME", "runner-x")
        .run()
        .code(1)
        .stderr_has("`Pod/arc-runners/runner-x`")
        .stderr_has("failed: 403 Forbidden: pods is forbidden");
    assert!(fake.patches().is_empty(), "{:?}", fake.patches());
    fake.forbid("ephemeralrunners");
    lane(&repo, &fake, "status").run().code(1).stderr_has("EphemeralRunner/arc-runners of `gf-nix`");
}
