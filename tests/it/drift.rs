//! Issue 13: `gf drift` and `gf status` against real terraform and real S3 state (moto), with a
//! stack (`down`) that reads another's (`up`) state through `terraform_remote_state`, so that
//! re-applying `up` changes what `down` observes; and a lane stack against the fake Kubernetes API.

use std::path::Path;

use serde_json::{Value, json};

use crate::fake_kube::FakeKube;
use crate::harness::{Gf, Repo};
use crate::lifecycle::{ACCESS, SECRET, assert_no_secret_in_files, gf_for};
use crate::moto::{BUCKET, Moto};

/// A sensitive variable's value (`TF_VAR_token`): never in gf's output.
const TOKEN: &str = "gf-sentinel-token-0c55e1";
const UP_KEY: &str = "drift/up/terraform.tfstate";
const DOWN_KEY: &str = "drift/down/terraform.tfstate";

/// `gf` against the repo and moto, with the sensitive variable set.
fn g(repo: &Repo, moto: &Moto) -> Gf {
    gf_for(repo, moto).env("TF_VAR_token", TOKEN)
}

/// Each stack's var file, which gf passes to every plan and to both drift plans by itself (`down`
/// learns the S3 endpoint from it: a drift without it could not plan at all).
fn write_vars(repo: &Repo, moto: &Moto, v: &str, label: &str) {
    repo.write("stacks/up/dev.tfvars", &format!("v = \"{v}\"\n"));
    repo.write(
        "stacks/down/dev.tfvars",
        &format!("endpoint = \"{}\"\nbucket   = \"{BUCKET}\"\nlabel    = \"{label}\"\n", moto.endpoint()),
    );
}

fn plan_and_apply(g: &Gf, stack: &str, first: bool) {
    let mut plan = vec!["plan", stack];
    if first {
        plan.push("--allow-empty-state");
    }
    g.clone().args(plan).run().code(0);
    g.clone().args(["apply", stack]).run().code(0);
}

/// Both stacks applied, with `v = one` and `label = a`.
fn setup() -> (Moto, Repo) {
    let moto = Moto::start();
    let repo = Repo::from_fixture("drift");
    write_vars(&repo, &moto, "one", "a");
    let g = g(&repo, &moto);
    plan_and_apply(&g, "up", true);
    plan_and_apply(&g, "down", true);
    (moto, repo)
}

/// The state object's bytes, and its serial and ETag as `gf state` reads them.
fn snapshot(g: &Gf, moto: &Moto, stack: &str, key: &str) -> (Vec<u8>, Value, Value) {
    let st = g.clone().args(["state", stack, "--json"]).run().code(0).json();
    (moto.get(key).expect("state exists"), st["serial"].clone(), st["etag"].clone())
}

fn drift(g: &Gf, args: &[&str]) -> Gf {
    g.clone().arg("drift").args(args)
}

fn stack<'a>(doc: &'a Value, name: &str) -> &'a Value {
    doc["stacks"].as_array().unwrap().iter().find(|s| s["name"] == name).unwrap_or_else(|| panic!("{name}: {doc}"))
}

/// gf's own temporary plans left in `.gf/<env>/<stack>/`.
fn leftovers(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|rd| rd.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .filter(|n| n.contains("drift") || n.contains(".tmp-") || n.contains(".plan.tfplan."))
        .collect()
}

#[test]
fn drift_tells_pending_changes_from_drift_and_never_writes_the_state_or_the_saved_plan() {
    let (moto, repo) = setup();
    let g = g(&repo, &moto);

    let clean = drift(&g, &["--all", "--json"]).run();
    let doc = clean.code(0).json();
    assert_eq!(
        (doc["env"].as_str(), doc["ok"].as_bool(), doc["changed"].as_bool()),
        (Some("dev"), Some(true), Some(false))
    );
    for name in ["up", "down"] {
        let s = stack(&doc, name);
        assert_eq!(s["status"], "in-sync", "{s}");
        assert_eq!(s["pending"], json!({ "changed": false, "addresses": [] }));
        assert_eq!(s["drift"], json!({ "changed": false, "addresses": [] }));
        assert_eq!(s["operator_actions"], json!([]));
    }

    // A saved plan of `down` that the drift runs must leave exactly as it is.
    g.clone().args(["plan", "down"]).run().code(0);
    let saved =
        (repo.read(".gf/dev/down/plan.json"), std::fs::read(repo.path().join(".gf/dev/down/plan.tfplan")).unwrap());

    // `up` applied again with a new value: `down` observes other data, nothing of its own changed.
    write_vars(&repo, &moto, "two", "a");
    plan_and_apply(&g, "up", false);
    let before = snapshot(&g, &moto, "down", DOWN_KEY);
    let keys = moto.keys();
    let observed = drift(&g, &["down", "--json"]).run();
    let doc = observed.code(2).json();
    let down = stack(&doc, "down");
    assert_eq!(down["status"], "differs");
    assert_eq!(down["drift"], json!({ "changed": true, "addresses": ["output.seen"] }), "{down}");
    assert_eq!(
        down["pending"],
        json!({ "changed": false, "addresses": [] }),
        "an output that changes only because observed data changed is drift: {down}"
    );
    assert_eq!(down["state"]["serial"], before.1);

    // An edited var file is a pending change, told apart from the drift in the same run.
    write_vars(&repo, &moto, "two", "b");
    let both = drift(&g, &["--all", "--jobs", "2", "--json"]).run();
    let doc = both.code(2).json();
    assert_eq!(stack(&doc, "up")["status"], "in-sync");
    let down = stack(&doc, "down");
    assert_eq!(
        down["pending"]["addresses"],
        json!(["terraform_data.label", "output.label", "output.label_resource"]),
        "{down}"
    );
    assert_eq!(down["drift"]["addresses"], json!(["output.seen"]), "{down}");

    // People get one block per stack (tofu's progress on stderr, the answer on stdout).
    let human = drift(&g, &["--all", "--jobs", "2"]).run();
    human
        .code(2)
        .stdout_has("up: in sync: desired = managed = observed")
        .stdout_has("down: differs: 3 pending, 1 drifted")
        .stdout_has("  pending  terraform_data.label")
        .stdout_has("  drift    output.seen")
        .stdout_has("2 stacks: 1 in sync, 1 differ, 0 could not be compared");
    let tags: Vec<&str> = human.stderr.lines().filter_map(|l| l.split(']').next()?.strip_prefix('[')).collect();
    let mut blocks = tags.clone();
    blocks.dedup();
    let distinct: std::collections::BTreeSet<&str> = tags.iter().copied().collect();
    assert!(distinct.contains("down"), "{}", human.stderr);
    assert_eq!(blocks.len(), distinct.len(), "each stack's lines come in one block: {tags:?}\n{}", human.stderr);

    // Never the state: same bytes, serial and ETag; no lock left; no new object.
    assert_eq!(snapshot(&g, &moto, "down", DOWN_KEY), before, "gf drift changed the state of `down`");
    assert_eq!(moto.keys(), keys);
    // Never the saved plan; and no temporary plan left behind.
    let now =
        (repo.read(".gf/dev/down/plan.json"), std::fs::read(repo.path().join(".gf/dev/down/plan.tfplan")).unwrap());
    assert!(now == saved, "gf drift touched the saved plan");
    for s in ["up", "down"] {
        assert_eq!(leftovers(&repo.path().join(".gf/dev").join(s)), Vec::<String>::new(), "{s}");
    }
    for run in [&clean, &observed, &both, &human] {
        for secret in [ACCESS, SECRET, TOKEN] {
            run.output_lacks(secret);
        }
    }
    assert_no_secret_in_files(repo.path());
}

#[test]
fn drift_walks_the_gates_like_plan_and_reports_every_stack() {
    let moto = Moto::start();
    let repo = Repo::from_fixture("drift");
    write_vars(&repo, &moto, "one", "a");
    let g = g(&repo, &moto);
    plan_and_apply(&g, "up", true);

    // `down` was never applied: refused like a plan (it would compare against an empty state).
    let missing = drift(&g, &["--all", "--json"]).run();
    let doc = missing.code(3).json();
    assert_eq!(doc["ok"], false);
    assert_eq!(stack(&doc, "up")["status"], "in-sync", "a refused stack does not stop the others");
    let down = stack(&doc, "down");
    assert_eq!((down["status"].as_str(), down["gate"].as_str()), (Some("refused"), Some("state-key")), "{down}");
    assert!(down["pending"].is_null());
    // … unless accepted: then everything is pending.
    let fresh = drift(&g, &["down", "--allow-empty-state", "--json"]).run();
    let down = stack(&fresh.code(2).json(), "down").clone();
    assert_eq!(
        down["pending"]["addresses"],
        json!(["terraform_data.label", "terraform_data.token", "output.label", "output.label_resource", "output.seen"])
    );
    assert!(moto.get(DOWN_KEY).is_none(), "a drift writes no state, not even a first one");

    // Extra arguments: the allowlist, without the ones that would defeat the comparison.
    g.clone()
        .args(["drift", "up", "--", "-refresh=false"])
        .run()
        .code(1)
        .stderr_has("refused (tofu-args)")
        .stderr_has("always refreshes");
    g.clone().args(["drift", "up", "--", "-lock=false"]).run().code(1).stderr_has("gf state unlock");
    // The context gate: drift reads the cluster the environment names, or refuses.
    g.clone().env("KUBE_CONTEXT", "kind").args(["drift", "up"]).run().code(3).stderr_has("refused (context)");

    // An errored state: the dry run says where the real run stops, and it stops there.
    repo.write("stacks/up/errored.tfstate", "{}");
    let dry = drift(&g, &["up", "--dry-run", "--json"]).run().code(0).json();
    assert_eq!(dry["first_refusal"]["gate"], "errored-state", "{dry}");
    let cmds: Vec<String> = dry["stacks"][0]["commands"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["argv"].as_array().unwrap().iter().map(|a| a.as_str().unwrap()).collect::<Vec<_>>().join(" "))
        .collect();
    assert!(cmds.iter().any(|c| c.contains(" plan -input=false -json -refresh-only -out=")), "{cmds:?}");
    assert!(cmds.iter().all(|c| !c.contains("plan.tfplan")), "the saved plan is never a drift plan: {cmds:?}");
    let real = drift(&g, &["up", "--json"]).run();
    assert_eq!(stack(&real.code(3).json(), "up")["gate"], "errored-state");
    assert!(repo.path().join(".gf/dev/up/errored.tfstate").is_file(), "adopted, as by plan");
}

#[test]
fn status_shows_saved_plans_held_locks_and_errored_states_without_running_tofu() {
    let (moto, repo) = setup();
    let g = g(&repo, &moto);
    // A stale plan: made, copied aside, applied (the state moves on), put back.
    write_vars(&repo, &moto, "two", "a");
    g.clone().args(["plan", "up"]).run().code(0);
    let (meta, plan) =
        (repo.read(".gf/dev/up/plan.json"), std::fs::read(repo.path().join(".gf/dev/up/plan.tfplan")).unwrap());
    g.clone().args(["apply", "up"]).run().code(0);
    repo.write(".gf/dev/up/plan.json", &meta);
    std::fs::write(repo.path().join(".gf/dev/up/plan.tfplan"), plan).unwrap();
    // A held S3 lock (another run's apply), an errored state and a local lock on `down`.
    let lock = br#"{"ID":"f00d","Operation":"OperationTypeApply","Info":"","Who":"ops@sting","Version":"1.11.4","Created":"2026-11-27T10:00:00Z","Path":"gf-state/drift/down/terraform.tfstate"}"#;
    moto.put(&format!("{DOWN_KEY}.tflock"), lock);
    repo.write(".gf/dev/down/errored.tfstate", "{}");
    let local = std::fs::OpenOptions::new().write(true).open(repo.path().join(".gf/dev/down/.lock")).unwrap();
    local.try_lock().unwrap();
    std::fs::write(repo.path().join(".gf/dev/down/.lock"), "pid 4242, `gf apply`, since 2026-11-27T10:00:00Z").unwrap();

    let doc = g.clone().args(["status", "--all", "--json"]).run().code(0).json();
    let up = stack(&doc, "up");
    let state: Value = serde_json::from_slice(&moto.get(UP_KEY).unwrap()).unwrap();
    assert_eq!(up["managed"]["serial"], state["serial"]);
    assert_eq!(up["managed"]["lineage"], state["lineage"]);
    assert!(up["managed"]["last_modified"].is_string());
    assert_eq!(up["plan"]["stale"], true, "{up}");
    assert!(up["plan"]["why"].as_str().unwrap().contains("changed since the plan"), "{up}");
    assert!(up["lock"].is_null() && up["errored_state"].is_null() && up["local_lock"].is_null());
    let down = stack(&doc, "down");
    assert_eq!(down["lock"]["who"], "ops@sting");
    assert_eq!(down["lock"]["operation"], "OperationTypeApply");
    assert_eq!(down["errored_state"], ".gf/dev/down/errored.tfstate");
    assert!(down["local_lock"].as_str().unwrap().contains("pid 4242"), "{down}");
    assert!(down["plan"].is_null());
    assert!(doc["cache"]["endpoint"].is_string());

    let human = g.clone().args(["status", "--all"]).run();
    human
        .code(0)
        .stdout_has("STALE")
        .stdout_has("held (Apply)")
        .stdout_has("WAITING")
        .stdout_has("never unlock a live run's lock")
        .output_lacks("gf state unlock down")
        .stdout_has("gf state push-errored down")
        .stdout_has("a gf run in this checkout holds it (pid 4242");
    // "Stale" is exactly what apply refuses.
    drop(local);
    // With no run of this checkout on the stack, the S3 lock may be a crash's.
    g.clone().args(["status", "down"]).run().code(0).stdout_has("it was left by a crash: `gf state unlock down`");
    g.clone().args(["apply", "up"]).run().code(3).stderr_has("refused (stale-plan)");
    // status wrote nothing and adopted nothing.
    assert!(repo.path().join(".gf/dev/down/errored.tfstate").is_file());
    assert!(moto.get(&format!("{DOWN_KEY}.tflock")).is_some(), "status never unlocks");
}

/// A lane stack whose `scale-sets.json` the test writes: two shared sets and the lane's own.
fn lane_repo() -> Repo {
    let repo = Repo::from_fixture("drift-lane");
    repo.write(
        "stacks/runners/scale-sets.json",
        r#"[
  { "name": "gf-nix", "role": "shared", "purpose": "Nix baseline", "container_mode": "none", "min_runners": 1, "max_runners": 8, "cpu": "1", "memory": "1Gi" },
  { "name": "gf-docker", "role": "shared", "purpose": "Docker baseline", "container_mode": "kubernetes", "min_runners": 0, "max_runners": 6, "cpu": "1", "memory": "1Gi" },
  { "name": "gf-heavy", "role": "lane", "purpose": "the heavy Nix lane", "container_mode": "none", "min_runners": 0, "max_runners": 2, "cpu": "1", "memory": "1Gi" }
]
"#,
    );
    repo
}

#[test]
fn drift_tells_a_drained_scale_set_from_an_edited_one() {
    let moto = Moto::start();
    let repo = lane_repo();
    let fake = FakeKube::start();
    fake.add_set("gf-nix", Some(1), Some(8));
    fake.add_set("gf-docker", Some(0), Some(6));
    fake.add_set("gf-heavy", None, Some(2));
    let g = gf_for(&repo, &moto).envs(fake.env());
    g.clone().args(["plan", "runners", "--allow-empty-state"]).run().code(0);
    g.clone().args(["apply", "runners"]).run().code(0);
    let doc = g.clone().args(["drift", "runners", "--json"]).run().code(0).json();
    let sets = &stack(&doc, "runners")["scale_sets"];
    assert!(sets.as_array().unwrap().iter().all(|s| s["verdict"] == "match"), "{sets}");

    // `gf-nix` drained by gf (a bounded operator action); `gf-docker` edited by hand (drift).
    let record = r#"{"min":1,"max":8,"time":"2026-11-27T16:04:02Z","who":"ops@bumble"}"#;
    fake.annotate("gf-nix", "gf.flywheel.dev/drained-from", record);
    fake.set_caps("gf-nix", Some(0), Some(0));
    fake.set_caps("gf-docker", Some(0), Some(9));
    let writes = fake.patches().len();
    let run = g.clone().args(["drift", "runners", "--json"]).run();
    let doc = run.code(2).json();
    let r = stack(&doc, "runners");
    assert_eq!(r["pending"], json!({ "changed": false, "addresses": [] }), "{r}");
    assert_eq!(
        r["drift"],
        json!({ "changed": true, "addresses": ["AutoscalingRunnerSet/arc-runners/gf-docker"] }),
        "{r}"
    );
    assert_eq!(
        r["operator_actions"],
        json!([{
            "set": "gf-nix", "namespace": "arc-runners",
            "observed": { "min": 0, "max": 0 }, "desired": { "min": 1, "max": 8 }, "recorded": { "min": 1, "max": 8 },
            "since": "2026-11-27T16:04:02Z", "who": "ops@bumble"
        }])
    );
    let verdicts: Vec<&str> =
        r["scale_sets"].as_array().unwrap().iter().map(|s| s["verdict"].as_str().unwrap()).collect();
    assert_eq!(verdicts, ["operator-action", "drift", "match"], "an unset min is 0: {r}");
    assert_eq!(fake.patches().len(), writes, "drift only reads the cluster");
    g.clone()
        .args(["drift", "runners"])
        .run()
        .code(2)
        .stdout_has("runners: differs: 0 pending, 1 drifted, 1 operator action")
        .stdout_has(
            "drift    AutoscalingRunnerSet/arc-runners/gf-docker (0/9 in the cluster, 0/6 in `scale-sets.json`)",
        )
        .stdout_has("drained since 2026-11-27T16:04:02Z by ops@bumble");

    // The drained set alone: a bounded operator action, reported, exit 0 (SPEC counts only pending
    // changes and drift).
    fake.set_caps("gf-docker", Some(0), Some(6));
    let doc = g.clone().args(["drift", "runners", "--json"]).run().code(0).json();
    let r = stack(&doc, "runners");
    assert_eq!((r["status"].as_str(), doc["changed"].as_bool()), (Some("operator-action"), Some(false)), "{r}");
    assert_eq!(r["operator_actions"][0]["set"], "gf-nix");
    assert_eq!(r["drift"], json!({ "changed": false, "addresses": [] }));
    g.clone().args(["drift", "runners"]).run().code(0).stdout_has("1 scale set drained by gf (bounded");

    // status shows the drained set; an unreachable cluster is reported, not fatal, for status,
    // and an error for drift (it cannot say the sets are in sync).
    let st = g.clone().args(["status", "runners", "--json"]).run().code(0).json();
    let sets = &stack(&st, "runners")["lane"]["sets"];
    assert_eq!(sets[0]["drained"]["who"], "ops@bumble", "{st}");
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    repo.write(
        "kubeconfig",
        &format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: http://127.0.0.1:{closed}\n\
             users:\n- name: u\n  user:\n    token: t\ncontexts:\n- name: honey\n  context:\n    cluster: c\n    user: u\n\
             current-context: honey\n"
        ),
    );
    let away = g.clone().env("KUBECONFIG", repo.path().join("kubeconfig").display().to_string());
    let st = away.clone().args(["status", "runners", "--json"]).run().code(0).json();
    let lane = &stack(&st, "runners")["lane"];
    assert!(lane["sets"].is_null() && lane["error"].is_string(), "{lane}");
    away.clone().args(["status", "runners"]).run().code(0).stdout_has("unreachable");
    let doc = away.args(["drift", "runners", "--json"]).run().code(1).json();
    let r = stack(&doc, "runners");
    assert_eq!(r["status"], "failed");
    assert!(r["error"].as_str().unwrap().contains("cannot read the scale sets of lane `heavy-nix`"), "{r}");
    assert_eq!(r["pending"]["changed"], false, "the tofu comparisons are still reported: {r}");
}

/// Someone else holds `down`'s S3 lock; a `gf drift down` with `-lock-timeout` waits in its first
/// plan. Returns the running gf once its terraform plan waits.
fn drift_waiting_for_the_lock(g: &Gf, moto: &Moto) -> std::process::Child {
    let lock = br#"{"ID":"other","Operation":"OperationTypeApply","Info":"","Who":"ops@sting","Version":"1.11.4","Created":"2026-11-27T10:00:00Z","Path":"x"}"#;
    moto.put(&format!("{DOWN_KEY}.tflock"), lock);
    let child = g.clone().args(["drift", "down", "--json", "--", "-lock-timeout=60s"]).spawn();
    crate::harness::wait_until(60, "the drift's plan to wait for the lock", || {
        crate::harness::descendants(child.id()).iter().any(|p| {
            let argv = crate::harness::cmdline(*p);
            argv.iter().any(|a| a == b"plan") && argv.iter().any(|a| a == b"-lock-timeout=60s")
        })
    });
    child
}

#[test]
fn a_signal_or_another_run_during_drift_leaves_nothing_behind_and_is_never_reported_as_in_sync() {
    let (moto, repo) = setup();
    let g = g(&repo, &moto);
    let before = snapshot(&g, &moto, "down", DOWN_KEY);

    // SIGTERM while tofu waits: forwarded, tofu stops, gf exits 143, no temporary plan stays.
    let child = drift_waiting_for_the_lock(&g, &moto);
    crate::harness::signal(i32::try_from(child.id()).unwrap(), libc::SIGTERM);
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(143), "{stderr}");
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(stack(&doc, "down")["status"], "interrupted", "{doc}");
    assert_eq!(leftovers(&repo.path().join(".gf/dev/down")), Vec::<String>::new());
    assert_eq!(snapshot(&g, &moto, "down", DOWN_KEY), before);
    assert!(moto.get(&format!("{DOWN_KEY}.tflock")).is_some(), "the other run's lock is not gf's to remove");

    // Another run writes the state while the drift waits: the drift fails instead of comparing
    // against two different states.
    let child = drift_waiting_for_the_lock(&g, &moto);
    let mut state: Value = serde_json::from_slice(&moto.get(DOWN_KEY).unwrap()).unwrap();
    state["serial"] = json!(state["serial"].as_u64().unwrap() + 1);
    moto.put(DOWN_KEY, &serde_json::to_vec(&state).unwrap());
    let (status, _) = moto.request("DELETE", &format!("/{BUCKET}/{DOWN_KEY}.tflock"));
    assert!(status == 204 || status == 200, "{status}");
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let down = stack(&doc, "down");
    assert_eq!(down["status"], "failed", "{down}");
    assert!(down["error"].as_str().unwrap().contains("changed while `gf drift` ran"), "{down}");
    assert_eq!(leftovers(&repo.path().join(".gf/dev/down")), Vec::<String>::new());
}
