//! Issue 9: the gate pipeline holds on the paths operators walk — extra arguments after `--`,
//! destroy plans, SIGTERM/SIGHUP, a closed stdout, bytes that are not UTF-8, two runs in one
//! checkout, a swapped plan file, a lock left by a crash, an S3 outage mid-apply — and the dry run
//! names the gate the real run refuses at. Real terraform, real moto.

use std::io::Read as _;
use std::path::Path;
use std::process::Stdio;

use serde_json::Value;

use crate::harness::{Gf, Repo, descendants, signal, wait_until};
use crate::lifecycle::{ACCESS, SECRET, gf_for, json_file, tofu};
use crate::moto::Moto;
use crate::s3proxy::S3Proxy;

const LOCK: &str = "alpha/terraform.tfstate.tflock";
const STATE: &str = "alpha/terraform.tfstate";

fn instances(moto: &Moto, key: &str) -> usize {
    let v: Value = serde_json::from_slice(&moto.get(key).expect("state object")).unwrap();
    v["resources"].as_array().unwrap().iter().map(|r| r["instances"].as_array().unwrap().len()).sum()
}

fn mode(p: &Path) -> u32 {
    std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(p).unwrap().permissions()) & 0o777
}

#[test]
fn extra_arguments_gf_owns_are_refused_before_anything_runs() {
    let moto = Moto::start();
    let repo = Repo::from_fixture("lifecycle");
    let g = gf_for(&repo, &moto);
    for (cmd, arg, hint) in [
        ("init", "-backend-config=key=evil/terraform.tfstate", "gf backend"),
        ("plan", "-lock=false", "gf state unlock"),
        ("plan", "--lock=false", "gf state unlock"),
        ("plan", "-destroy", "gf plan --destroy"),
        ("plan", "-refresh-only", "gf drift"),
        ("plan", "-out=/tmp/elsewhere.tfplan", "plan.tfplan"),
        ("apply", "-auto-approve", "saved plan"),
        ("apply", "-state=local.tfstate", "S3 key"),
        ("apply", "other.tfplan", "bare argument"),
        ("apply", "-var=n=9", "gf plan"),
    ] {
        let allow: &[&str] = if cmd == "apply" { &[] } else { &["--allow-empty-state"] };
        g.clone()
            .args([cmd, "alpha"])
            .args(allow)
            .args(["--", arg])
            .run()
            .code(1)
            .stderr_has("refused (tofu-args)")
            .stderr_has(&format!("`{arg}`"))
            .stderr_has(hint);
    }
    assert!(moto.keys().is_empty(), "nothing reached S3: {:?}", moto.keys());
    assert!(!repo.path().join(".gf").exists(), "nothing was written");

    // After a real init the override is still refused, and the state lands only at the contract key.
    g.clone().args(["plan", "alpha", "--allow-empty-state"]).run().code(0);
    g.clone().args(["apply", "alpha"]).run().code(0);
    g.clone().args(["init", "alpha", "--", "-backend-config=key=evil/terraform.tfstate"]).run().code(1);
    g.clone().args(["plan", "alpha", "--", "-lock=false"]).run().code(1);
    assert_eq!(moto.keys(), [STATE], "no second state object");
    // The dry run shows the same refusal.
    let dry = g.clone().args(["plan", "alpha", "--dry-run", "--json", "--", "-lock=false"]).run().code(0).json();
    assert_eq!(dry["first_refusal"]["gate"], "tofu-args", "{dry}");
}

#[test]
fn a_destroy_plan_is_applied_only_when_confirmed() {
    let moto = Moto::start();
    let repo = Repo::from_fixture("lifecycle");
    let g = gf_for(&repo, &moto);
    g.clone().args(["plan", "alpha", "--allow-empty-state"]).run().code(0);
    g.clone().args(["apply", "alpha"]).run().code(0);
    g.clone().args(["plan", "alpha", "--destroy"]).run().code(0).stdout_has("4 to destroy (destroy plan saved");
    assert_eq!(json_file(&repo, ".gf/dev/alpha/plan.json")["destroy"], true);
    let ci = g.clone().env("CI", "true");
    ci.clone().args(["apply", "alpha"]).run().code(3).stderr_has("refused (destroy-confirmation)");
    assert_eq!(instances(&moto, STATE), 4, "nothing destroyed");
    let dry = ci.clone().args(["apply", "alpha", "--dry-run", "--json"]).run().code(0).json();
    assert_eq!(dry["first_refusal"]["gate"], "destroy-confirmation", "{dry}");
    let plan_argv = dry["stacks"][0]["commands"][1]["argv"].as_array().unwrap().clone();
    assert_eq!(plan_argv[1], "apply");
    ci.clone().args(["apply", "alpha", "--yes"]).run().code(0).stdout_has("alpha: 0 added, 0 changed, 4 destroyed");
    assert_eq!(instances(&moto, STATE), 0);
}

/// Plan `alpha` with a provisioner that sleeps `secs`, start its apply, wait until tofu holds the
/// S3 lock; the running gf.
fn apply_in_flight(g: &Gf, moto: &Moto, secs: u32) -> std::process::Child {
    g.clone().args(["plan", "alpha", "--allow-empty-state", "--", &format!("-var=sleep={secs}")]).run().code(0);
    let child = g.clone().args(["apply", "alpha"]).spawn();
    wait_until(30, "the apply to take the S3 lock", || moto.get(LOCK).is_some());
    // The provisioner is running (its sleep is a descendant of gf).
    wait_until(30, "the provisioner to run", || {
        descendants(child.id()).iter().any(|p| crate::harness::cmdline(*p).iter().any(|a| a.starts_with(b"sleep")))
    });
    child
}

#[test]
fn sigterm_and_sighup_mid_apply_wait_for_tofu_which_saves_state_and_releases_the_lock() {
    for (sig, code) in [(libc::SIGTERM, 143), (libc::SIGHUP, 129)] {
        let moto = Moto::start();
        let repo = Repo::from_fixture("lifecycle");
        let g = gf_for(&repo, &moto);
        let child = apply_in_flight(&g, &moto, 60);
        signal(i32::try_from(child.id()).unwrap(), sig);
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "signal {sig}: {stderr}");
        assert!(stderr.contains("asking tofu to stop"), "{stderr}");
        assert!(moto.get(LOCK).is_none(), "tofu released its lock after signal {sig}");
        assert!(moto.get(STATE).is_some(), "tofu saved the state it had applied");
        assert!(instances(&moto, STATE) >= 3, "the items created before the signal were recorded");
    }
}

#[test]
fn a_closed_stdout_never_stops_the_apply() {
    let moto = Moto::start();
    let repo = Repo::from_fixture("lifecycle");
    let g = gf_for(&repo, &moto);
    g.clone().args(["plan", "alpha", "--allow-empty-state", "--", "-var=sleep=2"]).run().code(0);
    // `gf apply alpha | head -c1`: the reader takes one byte and goes away.
    let mut child =
        g.clone().args(["apply", "alpha"]).command().stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut one = [0u8; 1];
    stdout.read_exact(&mut one).unwrap();
    drop(stdout);
    let mut stderr = String::new();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "gf exits with tofu's result: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(moto.get(LOCK).is_none(), "the lock was released");
    assert_eq!(instances(&moto, STATE), 4, "the whole apply was recorded");
    assert!(!repo.path().join(".gf/dev/alpha/plan.tfplan").exists(), "the plan was consumed");
}

#[test]
fn bytes_that_are_not_utf8_in_tofu_output_never_end_the_read() {
    let moto = Moto::start();
    let repo = Repo::from_fixture("lifecycle");
    // A tofu that prints a line with an invalid UTF-8 byte on stdout before doing its work: a
    // reader that stopped there would leave tofu to die of SIGPIPE on its next line.
    let wrapper = repo.path().join("tofu-wrapper");
    let script = format!(
        "#!/bin/sh\ncase \"$1\" in version) ;; *) printf 'wrapper \\377 noise\\n' ;; esac\nexec {} \"$@\"\n",
        tofu()
    );
    std::fs::write(&wrapper, script).unwrap();
    std::fs::set_permissions(&wrapper, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let g = gf_for(&repo, &moto).env("GF_TOFU", wrapper.to_string_lossy());
    g.clone().args(["plan", "alpha", "--allow-empty-state"]).run().code(0).stdout_has("wrapper \u{fffd} noise");
    g.clone().args(["apply", "alpha"]).run().code(0).stdout_has("alpha: 4 added");
    assert_eq!(instances(&moto, STATE), 4);
}

#[test]
fn two_runs_on_one_stack_in_one_checkout_never_overlap() {
    let moto = Moto::start();
    let repo = Repo::from_fixture("lifecycle");
    let g = gf_for(&repo, &moto);
    let apply = apply_in_flight(&g, &moto, 8);
    // A second terminal, same checkout, same stack: refused at once, naming the holder.
    g.clone()
        .args(["plan", "alpha"])
        .run()
        .code(1)
        .stderr_has("refused (local-lock)")
        .stderr_has(&format!("pid {}", apply.id()))
        .stderr_has("`gf apply`");
    let dry = g.clone().args(["plan", "alpha", "--dry-run", "--json"]).run().code(0).json();
    assert_eq!(dry["first_refusal"]["gate"], "local-lock", "{dry}");
    // With `--lock-wait` it waits for the apply and then plans against the state it left.
    let waiting = g.clone().args(["plan", "alpha", "--lock-wait", "60s", "--", "-var=sleep=3"]).spawn();
    let applied = apply.wait_with_output().unwrap();
    assert_eq!(applied.status.code(), Some(0), "{}", String::from_utf8_lossy(&applied.stderr));
    let planned = waiting.wait_with_output().unwrap();
    assert_eq!(planned.status.code(), Some(0), "{}", String::from_utf8_lossy(&planned.stderr));
    let meta = json_file(&repo, ".gf/dev/alpha/plan.json");
    let state: Value = serde_json::from_slice(&moto.get(STATE).unwrap()).unwrap();
    assert_eq!(meta["state"]["serial"], state["serial"], "the waiting plan ran after the apply: {meta}");
    let digest = gf::backend::hex(&sha2_digest(&std::fs::read(repo.path().join(".gf/dev/alpha/plan.tfplan")).unwrap()));
    assert_eq!(meta["plan_digest"], digest.as_str(), "the saved plan is the one its metadata describes");
    assert_eq!(mode(&repo.path().join(".gf/dev/alpha/plan.tfplan")), 0o600);
    let leftovers: Vec<String> = std::fs::read_dir(repo.path().join(".gf/dev/alpha"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".tmp-") || n.starts_with(".plan.tfplan."))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
}

fn sha2_digest(bytes: &[u8]) -> Vec<u8> {
    use sha2::Digest as _;
    sha2::Sha256::digest(bytes).to_vec()
}

#[test]
fn a_swapped_plan_file_is_refused() {
    let moto = Moto::start();
    let ours = Repo::from_fixture("lifecycle");
    let theirs = Repo::from_fixture("lifecycle");
    gf_for(&ours, &moto).args(["plan", "alpha", "--allow-empty-state"]).run().code(0);
    gf_for(&theirs, &moto).args(["plan", "alpha", "--allow-empty-state", "--", "-var=n=7"]).run().code(0);
    std::fs::copy(theirs.path().join(".gf/dev/alpha/plan.tfplan"), ours.path().join(".gf/dev/alpha/plan.tfplan"))
        .unwrap();
    gf_for(&ours, &moto)
        .args(["apply", "alpha"])
        .run()
        .code(3)
        .stderr_has("refused (stale-plan)")
        .stderr_has("not the file `gf plan` saved");
    assert!(moto.get(STATE).is_none(), "nothing was applied");
}

#[test]
fn a_lock_left_by_a_crash_is_removed_only_by_an_operator() {
    let moto = Moto::start();
    let repo = Repo::from_fixture("lifecycle");
    let g = gf_for(&repo, &moto);
    let child = apply_in_flight(&g, &moto, 60);
    // The machine dies: gf and tofu's whole group are killed, nothing is cleaned up.
    let tree = descendants(child.id());
    signal(i32::try_from(child.id()).unwrap(), libc::SIGKILL);
    for pid in tree {
        let _ = std::process::Command::new("kill").args(["-9", &pid.to_string()]).status();
    }
    let _ = child.wait_with_output();
    assert!(moto.get(LOCK).is_some(), "the crash left the S3 lock");
    let lock_before = moto.get(LOCK).unwrap();

    g.clone().args(["state", "alpha"]).run().code(0).stdout_has("OperationTypeApply");
    g.clone()
        .args(["state", "unlock", "alpha"])
        .run()
        .code(3)
        .stderr_has("refused (unlock)")
        .stderr_has("--yes")
        .stderr_has("OperationTypeApply");
    g.clone().env("CI", "true").args(["state", "unlock", "alpha", "--yes"]).run().code(3).stderr_has("`CI=true`");
    assert_eq!(moto.get(LOCK).unwrap(), lock_before, "refusals leave the lock");
    let v = g.clone().args(["state", "unlock", "alpha", "--yes", "--json"]).run().code(0).json();
    assert_eq!(v["removed"]["operation"], "OperationTypeApply", "{v}");
    assert!(!v["removed"]["who"].as_str().unwrap().is_empty());
    assert!(moto.get(LOCK).is_none());
    g.clone().args(["state", "unlock", "alpha", "--yes"]).run().code(0).stdout_has("nothing to unlock");
    // The stack works again (the crashed apply's plan is stale now: plan again).
    g.clone().args(["plan", "alpha", "--allow-empty-state"]).run().code(0);
    g.clone().args(["apply", "alpha"]).run().code(0);
    assert!(moto.get(LOCK).is_none());
}

#[test]
fn an_errored_state_after_an_s3_outage_is_adopted_gated_and_pushed() {
    let moto = Moto::start();
    let proxy = S3Proxy::start(&moto.endpoint());
    let repo = Repo::from_fixture("lifecycle");
    let g = repo.gf().env("KUBE_CONTEXT", "honey").env("GF_TOFU", tofu()).envs(proxy.env(ACCESS, SECRET));
    g.clone().args(["plan", "alpha", "--allow-empty-state", "--", "-var=sleep=2"]).run().code(0);
    let child = g.clone().args(["apply", "alpha"]).spawn();
    wait_until(30, "the apply to take the S3 lock", || moto.get(LOCK).is_some());
    proxy.fail_state_writes(true);
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(proxy.refused() > 0, "the outage refused no state write");
    let adopted = repo.path().join(".gf/dev/alpha/errored.tfstate");
    assert!(adopted.is_file(), "gf adopted errored.tfstate: {stderr}");
    assert_eq!(mode(&adopted), 0o600);
    assert!(!repo.path().join("stacks/alpha/errored.tfstate").exists(), "left in the stack folder");
    assert!(stderr.contains("gf state push-errored alpha"), "{stderr}");

    proxy.fail_state_writes(false);
    g.clone().args(["plan", "alpha"]).run().code(3).stderr_has("refused (errored-state)");
    let dry = g.clone().args(["plan", "alpha", "--dry-run", "--json"]).run().code(0).json();
    assert_eq!(dry["first_refusal"]["gate"], "errored-state", "{dry}");
    // A lock the failed apply could not release would be in the way: the way out is unlock.
    if moto.get(LOCK).is_some() {
        g.clone().args(["state", "unlock", "alpha", "--yes"]).run().code(0);
    }
    let pushed = g.clone().args(["state", "push-errored", "alpha", "--json"]).run().code(0).json();
    assert!(pushed["serial_after"].as_u64().unwrap() >= 1, "{pushed}");
    assert!(!adopted.exists(), "a pushed errored state is removed");
    assert_eq!(instances(&moto, STATE), 4, "the state tofu could not save is in S3 now");
    g.clone().args(["plan", "alpha", "--detailed-exitcode", "--", "-var=sleep=2"]).run().code(0);
}

/// The real run's refusing gate: from its `--json` document (run gates at the top, stack gates
/// per stack).
fn refused_gate(run: &crate::harness::Run) -> Option<String> {
    let v = run.json();
    v["gate"].as_str().or_else(|| v["stacks"].as_array()?.iter().find_map(|s| s["gate"].as_str())).map(str::to_string)
}

#[test]
fn the_dry_run_names_the_gate_the_real_run_refuses_at() {
    struct Case {
        name: &'static str,
        args: &'static [&'static str],
        env: &'static [(&'static str, &'static str)],
        setup: fn(&Gf, &Moto),
        gate: &'static str,
    }
    fn nothing(_: &Gf, _: &Moto) {}
    fn applied(g: &Gf, _: &Moto) {
        g.clone().args(["plan", "alpha", "--allow-empty-state"]).run().code(0);
        g.clone().args(["apply", "alpha"]).run().code(0);
    }
    fn errored(g: &Gf, moto: &Moto) {
        applied(g, moto);
        // What tofu leaves after an apply whose state it could not save.
        std::fs::write(crate::harness::root_of(g).join("stacks/alpha/errored.tfstate"), moto.get(STATE).unwrap())
            .unwrap();
    }
    fn stale(g: &Gf, moto: &Moto) {
        applied(g, moto);
        g.clone().args(["plan", "alpha"]).run().code(0);
        // A second checkout applies a change meanwhile: the saved plan is behind the state now.
        let other = Repo::from_fixture("lifecycle");
        gf_for(&other, moto).args(["plan", "alpha", "--", "-var=n=5"]).run().code(0);
        gf_for(&other, moto).args(["apply", "alpha"]).run().code(0);
    }
    let server = crate::binary_cache::down();
    let cases = [
        Case { name: "no plan", args: &["apply", "alpha"], env: &[], setup: nothing, gate: "no-plan" },
        Case { name: "stale plan", args: &["apply", "alpha"], env: &[], setup: stale, gate: "stale-plan" },
        Case {
            name: "wrong context",
            args: &["plan", "alpha"],
            env: &[("KUBE_CONTEXT", "kind")],
            setup: nothing,
            gate: "context",
        },
        Case {
            name: "CI + operator",
            args: &["apply", "--all"],
            env: &[("CI", "true")],
            setup: nothing,
            gate: "operator-in-ci",
        },
        Case {
            name: "missing credentials",
            args: &["plan", "alpha"],
            env: &[("TOFU_BACKEND_S3_SECRET_KEY", "")],
            setup: nothing,
            gate: "credentials",
        },
        Case { name: "missing state", args: &["plan", "alpha"], env: &[], setup: nothing, gate: "state-key" },
        Case {
            name: "cache unreachable",
            args: &["plan", "gamma", "--allow-empty-state"],
            env: &[],
            setup: nothing,
            gate: "cache",
        },
        Case {
            name: "destroy unconfirmed",
            args: &["destroy", "alpha"],
            env: &[],
            setup: applied,
            gate: "destroy-confirmation",
        },
        Case {
            name: "bad extra argument",
            args: &["plan", "alpha", "--", "-lock=false"],
            env: &[],
            setup: nothing,
            gate: "tofu-args",
        },
        Case { name: "errored state", args: &["plan", "alpha"], env: &[], setup: errored, gate: "errored-state" },
    ];
    for c in cases {
        let moto = Moto::start();
        let repo = crate::cache::cache_repo(
            "lifecycle",
            "gamma",
            &server,
            "k:E18RLVRKZQgH8laWIWwqjeJI93PwXo9szDZy3Rqwmdk=",
            &[],
        );
        let mut g = gf_for(&repo, &moto);
        (c.setup)(&g, &moto);
        for (k, v) in c.env {
            g = g.env(k, *v);
        }
        // Flags go before `--` (what follows it goes to tofu).
        let split = c.args.iter().position(|a| *a == "--").unwrap_or(c.args.len());
        let (own, tofu_args) = c.args.split_at(split);
        let dry = g.clone().args(own).args(["--dry-run", "--json"]).args(tofu_args).run().code(0).json();
        let real = g.clone().args(own).arg("--json").args(tofu_args).run();
        assert_eq!(dry["first_refusal"]["gate"], c.gate, "{}: dry run {dry}", c.name);
        assert_eq!(
            refused_gate(&real).as_deref(),
            Some(c.gate),
            "{}: real run {}\n{}",
            c.name,
            real.stdout,
            real.stderr
        );
        let exit = dry["first_refusal"]["exit"].as_i64().unwrap();
        real.code(i32::try_from(exit).unwrap());
    }
}
