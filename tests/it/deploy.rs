//! Capabilities together: `gf apply` of a lane stack (drain → tofu apply → restore) and the Attic
//! cache gate in front of plan/apply, with real terraform, moto and the fake Kubernetes API.

use std::time::Duration;

use serde_json::json;

use crate::binary_cache::{Fixture, Opts, Server};
use crate::fake_kube::{FakeKube, NS};
use crate::harness::{Gf, Repo, wait_until};
use crate::lifecycle::{ACCESS, SECRET, tofu};
use crate::moto::Moto;

const DRAINED: [&str; 2] = ["gf-nix", "gf-docker"];
const HEAVY: &str = "gf-heavy-nix";

/// The lifecycle fixture with `alpha` on the heavy Nix lane, a fake cluster holding its sets
/// (one busy job on `gf-nix`), and moto.
fn lane_setup() -> (Repo, FakeKube, Moto) {
    let repo = lane_repo();
    let fake = FakeKube::start();
    fake.add_set("gf-nix", Some(1), Some(10));
    fake.add_set("gf-docker", Some(0), Some(5));
    fake.add_set(HEAVY, Some(1), Some(2));
    fake.add_runner("gf-nix", "gf-nix-busy", Some("4711"));
    (repo, fake, Moto::start())
}

/// The lifecycle fixture with `alpha` on the heavy Nix lane: its scale-sets.json (the two
/// `DRAINED` sets shared, `HEAVY` the lane's own) and the drain list that matches it.
fn lane_repo() -> Repo {
    let repo = Repo::from_fixture("lifecycle");
    repo.edit_json("stacks/alpha/stack.json", |v| {
        v["namespaces"] = json!(["alpha", NS]);
        v["lane"] = json!({ "name": "heavy-nix", "drain": { "namespace": NS, "scale_sets": DRAINED } });
    });
    let set = |name: &str, role: &str| {
        json!({ "name": name, "role": role, "purpose": "test", "container_mode": "none",
                "min_runners": 0, "max_runners": 2, "cpu": "1", "memory": "1Gi" })
    };
    let sets = json!([set(DRAINED[0], "shared"), set(DRAINED[1], "shared"), set(HEAVY, "lane")]);
    repo.write("stacks/alpha/scale-sets.json", &serde_json::to_string_pretty(&sets).unwrap());
    repo
}

fn gf_for(repo: &Repo, fake: &FakeKube, moto: &Moto) -> Gf {
    repo.gf().envs(fake.env()).env("GF_TOFU", tofu()).envs(moto.env(ACCESS, SECRET))
}

fn drained(fake: &FakeKube) -> bool {
    DRAINED.iter().all(|s| fake.caps(s) == (Some(0), Some(0)))
}

fn assert_restored(fake: &FakeKube) {
    assert_eq!(fake.caps("gf-nix"), (Some(1), Some(10)));
    assert_eq!(fake.caps("gf-docker"), (Some(0), Some(5)));
    for s in DRAINED {
        assert!(
            fake.set(s)["metadata"]["annotations"]["gf.flywheel.dev/drained-from"].is_null(),
            "`{s}` still carries the drain annotation"
        );
    }
    assert_eq!(fake.set_history(HEAVY).len(), 1, "the heavy lane's own set was written");
}

#[test]
fn applying_a_lane_stack_drains_waits_applies_and_restores() {
    let (repo, fake, moto) = lane_setup();
    let log = repo.path().join("order.log");
    let g = gf_for(&repo, &fake, &moto).env("ORDER_LOG", log.to_string_lossy());
    g.clone().args(["plan", "alpha", "--allow-empty-state", "--", "-var", "sleep=2"]).run().code(0);
    g.clone()
        .args(["apply", "alpha", "--dry-run"])
        .run()
        .code(0)
        .stdout_has("patch them to 0/0")
        .stdout_has("put recorded caps back");
    assert!(fake.patches().is_empty(), "the dry run wrote to the cluster: {:?}", fake.patches());

    let child = g.clone().args(["apply", "alpha"]).spawn();
    fake.wait_for(30, "the shared sets drained to 0/0", drained);
    // A job still runs on a drained set: tofu must not start yet.
    std::thread::sleep(Duration::from_millis(600));
    assert!(!log.exists(), "tofu applied while a job was still running on a drained set");
    fake.finish_job("gf-nix-busy");

    wait_until(60, "tofu to start applying", || log.exists());
    assert!(drained(&fake), "the sets were restored while tofu was applying");
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_restored(&fake);
    assert!(moto.get("alpha/terraform.tfstate").is_some(), "state did not land at its key");
}

#[test]
fn a_failed_lane_apply_still_restores_the_sets() {
    let (repo, fake, moto) = lane_setup();
    fake.finish_job("gf-nix-busy");
    repo.write(
        "stacks/alpha/boom.tf",
        "resource \"terraform_data\" \"boom\" {\n  provisioner \"local-exec\" {\n    command = \"echo boom >&2; exit 9\"\n  }\n}\n",
    );
    let g = gf_for(&repo, &fake, &moto);
    g.clone().args(["plan", "alpha", "--allow-empty-state"]).run().code(0);
    let run = g.clone().args(["apply", "alpha"]).run();
    run.code(1).stderr_has("restored after the failed apply");
    assert!(fake.set_history("gf-nix").iter().any(|s| s["spec"]["maxRunners"] == 0), "the lane was never drained");
    assert_restored(&fake);
}

#[test]
fn a_lane_apply_in_the_wrong_context_touches_nothing() {
    let (repo, fake, moto) = lane_setup();
    let g = gf_for(&repo, &fake, &moto);
    g.clone().args(["plan", "alpha", "--allow-empty-state"]).run().code(0);
    g.clone().args(["apply", "alpha"]).env("KUBE_CONTEXT", "honey-staging").run().code(3).stderr_has("honey-staging");
    assert!(fake.patches().is_empty(), "{:?}", fake.patches());
    assert!(moto.get("alpha/terraform.tfstate").is_none());
}

#[test]
fn a_first_install_applies_with_the_sets_not_there_yet() {
    // A plan made against an absent state: the apply creates the sets, so missing ones are skipped.
    let repo = lane_repo();
    let fake = FakeKube::start();
    let moto = Moto::start();
    let g = gf_for(&repo, &fake, &moto);
    g.clone().args(["plan", "alpha", "--allow-empty-state"]).run().code(0);
    g.clone()
        .args(["apply", "alpha"])
        .run()
        .code(0)
        .stderr_has("scale set `gf-nix` does not exist in `arc-runners` yet: skipped");
    assert!(moto.get("alpha/terraform.tfstate").is_some(), "the first install wrote no state");
    assert!(fake.patches().is_empty(), "{:?}", fake.patches());
}

#[test]
fn an_apply_against_existing_state_refuses_a_missing_set_before_tofu_runs() {
    let (repo, fake, moto) = lane_setup();
    fake.finish_job("gf-nix-busy");
    let log = repo.path().join("order.log");
    let g = gf_for(&repo, &fake, &moto).env("ORDER_LOG", log.to_string_lossy());
    g.clone().args(["plan", "alpha", "--allow-empty-state"]).run().code(0);
    g.clone().args(["apply", "alpha"]).run().code(0);
    std::fs::remove_file(&log).unwrap();
    let state = moto.get("alpha/terraform.tfstate").unwrap();

    // The state exists now: a set the cluster lost is a wrong list or a wrong cluster, not a first install.
    g.clone().args(["plan", "alpha", "--", "-var", "n=4"]).run().code(0);
    fake.remove_set("gf-docker");
    let patches = fake.patches().len();
    g.clone()
        .args(["apply", "alpha"])
        .run()
        .code(3)
        .stderr_has("refused (lane)")
        .stderr_has("scale set `gf-docker` of lane `heavy-nix` does not exist in namespace `arc-runners`");
    assert!(!log.exists(), "tofu applied behind a refused drain");
    assert_eq!(moto.get("alpha/terraform.tfstate").unwrap(), state, "the state changed");
    assert_eq!(fake.patches().len(), patches, "the refused drain wrote to the cluster");
    assert_eq!(fake.caps("gf-nix"), (Some(1), Some(10)));
}

/// The lifecycle fixture with `gamma` requiring the Attic cache at `url` to hold `paths`.
fn cache_repo(url: &str, key: &str, paths: &[&str]) -> Repo {
    crate::cache::cache_repo("lifecycle", "gamma", url, key, paths)
}

#[test]
fn the_cache_gate_blocks_plan_and_apply_of_a_requires_cache_stack() {
    let fx = Fixture::new();
    let b = fx.base;
    let server = Server::start(&fx.cache_dir(), Opts::public());
    let moto = Moto::start();
    let g = |repo: &Repo| repo.gf().env("KUBE_CONTEXT", "honey").env("GF_TOFU", tofu()).envs(moto.env(ACCESS, SECRET));

    // A required path is missing: refused before any state lookup or tofu run.
    let repo = cache_repo(&server.url, &b.key, &[&b.a, &b.missing]);
    g(&repo)
        .args(["plan", "gamma", "--allow-empty-state"])
        .run()
        .code(3)
        .stderr_has("refused (cache)")
        .stderr_has(&b.missing);
    assert!(!repo.path().join(".gf/dev/gamma/plan.tfplan").exists(), "tofu ran behind a closed gate");

    // The dry run names the gate the real run stopped at.
    let dry = g(&repo).args(["plan", "gamma", "--dry-run", "--json"]).run().code(0).json();
    assert_eq!(dry["first_refusal"]["gate"], "cache", "{dry}");
    assert!(dry["first_refusal"]["detail"].as_str().unwrap().contains(&b.missing), "{dry}");

    // Everything present: the gate opens and the plan runs; a stack without `requires_cache` never asks.
    let repo = cache_repo(&server.url, &b.key, &[&b.a, &b.c]);
    g(&repo).args(["plan", "gamma", "--allow-empty-state"]).run().code(0).stdout_has("gamma: ");
    let asked = server.requests().len();
    g(&repo).args(["plan", "alpha", "--allow-empty-state"]).run().code(0);
    assert_eq!(server.requests().len(), asked, "a stack without `requires_cache` consulted the cache");

    // The cache goes down between plan and apply: the apply is refused and no state is written.
    let down = crate::binary_cache::down();
    repo.edit_json("stacks/contract.json", |v| v["attic"]["endpoint"] = json!(down));
    g(&repo).args(["apply", "gamma"]).run().code(3).stderr_has("refused (cache)").stderr_has("unreachable");
    assert!(moto.get("team/gamma/terraform.tfstate").is_none() && moto.keys().iter().all(|k| !k.contains("gamma")));

    // `--skip-cache-gate` overrides it, loudly.
    g(&repo)
        .args(["apply", "gamma", "--skip-cache-gate"])
        .run()
        .code(0)
        .stderr_has("SKIPPING THE ATTIC CACHE GATE for `gamma`");
    assert!(moto.keys().iter().any(|k| k.contains("gamma")), "the overridden apply wrote no state: {:?}", moto.keys());
}

#[test]
fn sigterm_during_a_lane_apply_waits_for_tofu_then_restores_the_lane() {
    let (repo, fake, moto) = lane_setup();
    fake.finish_job("gf-nix-busy");
    let log = repo.path().join("order.log");
    let g = gf_for(&repo, &fake, &moto).env("ORDER_LOG", log.to_string_lossy());
    g.clone().args(["plan", "alpha", "--allow-empty-state", "--", "-var", "sleep=60"]).run().code(0);
    let child = g.clone().args(["apply", "alpha"]).spawn();
    // tofu is applying (its provisioner wrote the log) on the drained lane.
    wait_until(60, "tofu to start applying", || log.exists());
    assert!(drained(&fake));
    crate::harness::signal(i32::try_from(child.id()).unwrap(), libc::SIGTERM);
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(143), "{stderr}");
    assert_restored(&fake);
    assert!(moto.get("alpha/terraform.tfstate.tflock").is_none(), "tofu released its lock: {stderr}");
    assert!(moto.get("alpha/terraform.tfstate").is_some(), "tofu saved what it had applied");
    // The restore came after tofu had stopped: the last write to the sets is the restore.
    let last = fake.set_history("gf-nix").last().cloned().unwrap();
    assert!(last["metadata"]["annotations"]["gf.flywheel.dev/drained-from"].is_null(), "{last}");
}
