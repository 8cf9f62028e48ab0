//! Findings of the black-box audit (branch `audit`): each test states the documented behaviour and
//! is `#[ignore]`d with the bug it shows until the fix lands.

use crate::harness::Repo;
use crate::lifecycle::gf_for;
use crate::moto::Moto;

/// A sensitive input spanning several lines (a PEM key, a kubeconfig): each line is secret.
const PEM_LINE_1: &str = "gf-sentinel-pem-line-one-5c1d";
const PEM_LINE_2: &str = "gf-sentinel-pem-line-two-8e4a";

/// README, "One redactor for every line gf prints": the `TF_VAR_*` value of every `sensitive`
/// variable is `[redacted]` in every line gf prints, a provisioner's included. The fixture's
/// careless provisioner echoes `$TF_VAR_api_token`; a multi-line value comes out one line at a
/// time, and no single line holds the whole registered value.
#[test]
fn a_multi_line_sensitive_input_is_redacted_line_by_line() {
    let moto = Moto::start();
    let repo = Repo::from_fixture("inputs");
    let token = format!("-----BEGIN KEY-----\n{PEM_LINE_1}\n{PEM_LINE_2}\n-----END KEY-----");
    let g = gf_for(&repo, &moto).env("TF_VAR_api_token", token);
    g.clone().args(["plan", "svc", "--allow-empty-state"]).run().code(0).output_lacks(PEM_LINE_1);
    let apply = g.args(["apply", "svc"]).run();
    apply.code(0).output_lacks(PEM_LINE_1).output_lacks(PEM_LINE_2);
}

/// README, stack inputs: "A non-sensitive variable set only by `TF_VAR_<name>` has no source:
/// desired state is repository code plus committed inputs, not an operator's shell" (and `gf
/// check` refuses `*.auto.tfvars` because tofu would load it "behind gf's back"). A stray
/// `TF_VAR_n` for the optional, non-sensitive `n` of `alpha` nevertheless reaches tofu and
/// silently changes the plan, and the dry run does not mention it.
#[test]
fn a_non_sensitive_tf_var_from_the_shell_does_not_change_desired_state_behind_gfs_back() {
    let moto = Moto::start();
    let repo = Repo::from_fixture("lifecycle");
    let g = gf_for(&repo, &moto);
    g.clone().args(["plan", "alpha", "--allow-empty-state"]).run().code(0);
    g.clone().args(["apply", "alpha"]).run().code(0).stdout_has("alpha: 4 added");

    let stray = g.clone().env("TF_VAR_n", "7");
    let dry = stray.clone().args(["plan", "alpha", "--dry-run"]).run();
    dry.code(0).stdout_has("TF_VAR_n").stdout_has("the real run would stop at `inputs`");
    let plan = stray.clone().args(["plan", "alpha"]).run();
    plan.code(1).stderr_has("`TF_VAR_n` is set in gf's environment for the non-sensitive variable `n`");
    // Nothing was planned: the saved plan is still the one before (none after the apply).
    assert!(!repo.path().join(".gf/dev/alpha/plan.tfplan").exists());
    // The one-off way stays open, and goes on record in the plan.
    g.args(["plan", "alpha", "--", "-var=n=7"]).run().code(0);
}

/// GUIDE/README: "No panic on any input"; `gf check` reports a folder named unlike its `name`.
/// Copying a stack folder to start a new stack (`cp -r stacks/beta stacks/beta2`) leaves two
/// manifests named `beta`; the dependency sort counts `beta` once but releases it twice and
/// underflows (`src/contract/order.rs`), so a debug build (`cargo run`, the README's set-up
/// without Nix) panics instead of printing the finding.
#[test]
fn a_copied_stack_folder_is_a_finding_not_a_panic() {
    let repo = Repo::from_fixture("lifecycle");
    crate::harness::copy_dir(&repo.path().join("stacks/beta"), &repo.path().join("stacks/beta2"));
    repo.edit_json("stacks/beta2/stack.json", |v| v["state_keys"]["dev"] = "team/beta2/terraform.tfstate".into());
    let check = repo.gf().arg("check").run();
    check
        .code(1)
        .output_lacks("panicked")
        .stderr_has("`name` is `beta` but the folder is `beta2`")
        .stderr_has("stack `beta` is already defined by `stacks/beta/stack.json`");
    repo.gf().arg("stacks").run().code(1).output_lacks("panicked");
}

/// README, `gf state unlock`: "The dry run's and `gf state`'s lock line point at it". The dry run
/// reads `<key>.tflock` (state-key gate) but only the real run prints the holder: a dry run with a
/// lock left by a crash says "nothing refuses" and never mentions the lock.
#[test]
fn the_dry_run_shows_a_held_state_lock_and_points_at_unlock() {
    let moto = Moto::start();
    let repo = Repo::from_fixture("lifecycle");
    let g = gf_for(&repo, &moto);
    g.clone().args(["plan", "alpha", "--allow-empty-state"]).run().code(0);
    g.clone().args(["apply", "alpha"]).run().code(0);
    moto.put(
        "alpha/terraform.tfstate.tflock",
        br#"{"ID":"f00d","Operation":"OperationTypeApply","Info":"","Who":"ops@sting","Version":"1.11.4","Created":"2026-11-27T10:00:00Z","Path":"gf-state/alpha/terraform.tfstate"}"#,
    );
    g.clone().args(["state", "alpha"]).run().code(0).stdout_has("ops@sting");
    let dry = g.args(["plan", "alpha", "--dry-run"]).run();
    dry.code(0).stdout_has("ops@sting").stdout_has("gf state unlock alpha");
}

/// SPEC: "With `--json`, a refusal or error still prints one JSON document on stdout"; README:
/// "With `--json` every command prints one document on stdout, also on error". A usage error
/// (a missing stack, an unknown flag) prints clap's text on stderr and nothing on stdout.
#[test]
fn a_usage_error_with_json_still_prints_one_document() {
    let repo = Repo::from_fixture("lifecycle");
    for args in [&["status", "--json"][..], &["drift", "--json"], &["stacks", "--json", "--bogus"]] {
        let r = repo.gf().args(args.iter().copied()).run();
        r.code(1);
        let v = r.json();
        assert_eq!(v["ok"], false, "{args:?}: {v}");
        assert_eq!(v["exit"], 1, "{args:?}: {v}");
    }
    // After `--` the word is tofu's, not gf's: no document for a usage error there.
    let r = repo.gf().args(["plan", "--bogus", "--", "--json"]).run();
    r.code(1);
    assert!(r.stdout.is_empty(), "{}", r.stdout);
}

/// `gf state push-errored` names the command it refuses: with the wrong `KUBE_CONTEXT` it says
/// "refusing `gf init`" (it runs the run gates as `Op::Init`, `src/lifecycle/errored.rs`).
#[test]
fn push_errored_refusals_name_push_errored() {
    let repo = Repo::from_fixture("lifecycle");
    let r = repo.gf().env("KUBE_CONTEXT", "prod").args(["state", "push-errored", "alpha"]).run();
    r.code(3).output_lacks("`gf init`").stderr_has("push-errored");
}

/// `gf state push-errored` reports the lineage the object has after the push, read back (it once
/// printed the file's): tofu's `state push` to a key without an object gives that first state a
/// lineage of its own, which gf says, and the file's resources arrive.
#[test]
fn push_errored_reports_the_lineage_the_remote_really_has() {
    let moto = Moto::start();
    let repo = Repo::from_fixture("lifecycle");
    let g = gf_for(&repo, &moto);
    g.clone().args(["plan", "alpha", "--allow-empty-state"]).run().code(0);
    g.clone().args(["apply", "alpha"]).run().code(0);
    let state = moto.get("alpha/terraform.tfstate").expect("alpha's state");
    let v: serde_json::Value = serde_json::from_slice(&state).unwrap();
    // The same state, as a failed first apply of another key would have left it.
    repo.edit_json("stacks/alpha/stack.json", |m| m["state_keys"]["dev"] = "fresh/alpha.tfstate".into());
    repo.write("stacks/alpha/errored.tfstate", std::str::from_utf8(&state).unwrap());
    let pushed = g.clone().args(["state", "push-errored", "alpha", "--json"]).run();
    let doc = pushed.code(0).json();
    let remote: serde_json::Value = serde_json::from_slice(&moto.get("fresh/alpha.tfstate").unwrap()).unwrap();
    assert_eq!(doc["lineage"], remote["lineage"], "gf reported a lineage the remote does not have: {doc}");
    assert_eq!(doc["file_lineage"], v["lineage"]);
    assert_eq!(doc["serial_after"], remote["serial"]);
    assert_eq!(remote["resources"], v["resources"], "the file's resources arrive");
    if remote["lineage"] != v["lineage"] {
        pushed.stderr_has("gave the key's first state a lineage of its own");
    }
}

/// `gf status` prints "a lock left by a crash: `gf state unlock …`" for every held S3 lock, also
/// when its own local-lock column shows a gf apply in this checkout holding the stack right now
/// (`src/status.rs`, `details`). An operator following it from another checkout (where `gf
/// state unlock --yes` cannot see the local lock) removes a live apply's lock; the apply then
/// fails with "Error releasing the state lock".
#[test]
fn status_does_not_call_a_running_applys_lock_a_crash() {
    let moto = Moto::start();
    let repo = Repo::from_fixture("lifecycle");
    let g = gf_for(&repo, &moto);
    g.clone().args(["plan", "alpha", "--allow-empty-state"]).run().code(0);
    g.clone().args(["apply", "alpha"]).run().code(0);
    g.clone().args(["plan", "alpha", "--", "-var=sleep=8", "-replace=terraform_data.mark"]).run().code(0);
    let mut apply = g.clone().args(["apply", "alpha"]).spawn();
    crate::harness::wait_until(30, "the apply to hold the S3 lock", || {
        moto.get("alpha/terraform.tfstate.tflock").is_some()
    });
    let status = g.args(["status", "alpha"]).run();
    let _ = apply.wait();
    status
        .code(0)
        .stdout_has("gf apply")
        .output_lacks("a lock left by a crash")
        .stdout_has("never unlock a live run's lock");
}

/// A `.gf` (or `.gf/<env>`) that is a symbolic link once sent saved plans, which hold variable
/// values, wherever it pointed: refused, nothing written through it.
#[test]
fn a_symlinked_gf_folder_is_refused_and_nothing_is_written_through_it() {
    let moto = Moto::start();
    let repo = Repo::from_fixture("lifecycle");
    let outside = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(outside.path(), repo.path().join(".gf")).unwrap();
    let g = gf_for(&repo, &moto);
    let dry = g.clone().args(["plan", "alpha", "--allow-empty-state", "--dry-run"]).run();
    dry.code(0).stdout_has("the real run would stop at `local-lock` for `alpha` (exit 1)");
    g.clone().args(["plan", "alpha", "--allow-empty-state"]).run().code(1).stderr_has("/.gf` is a symbolic link");
    assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 0, "gf wrote through the link");

    std::fs::remove_file(repo.path().join(".gf")).unwrap();
    std::fs::create_dir(repo.path().join(".gf")).unwrap();
    std::os::unix::fs::symlink(outside.path(), repo.path().join(".gf/dev")).unwrap();
    g.args(["plan", "alpha", "--allow-empty-state"]).run().code(1).stderr_has("/.gf/dev` is a symbolic link");
    assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 0, "gf wrote through the link");
}

/// A var file with a byte that is not UTF-8 is present, not "absent", and the refusal's summary
/// line says where the rest of a several-line refusal is.
#[test]
fn a_var_file_that_is_not_utf8_is_present_and_refused() {
    let repo = Repo::from_fixture("lifecycle");
    std::fs::write(repo.path().join("stacks/alpha/dev.tfvars"), b"n = \"\xff\"\n").unwrap();
    let dry = repo.gf().env("KUBE_CONTEXT", "honey").args(["plan", "alpha", "--dry-run"]).run();
    dry.code(0).stdout_has("var file:     stacks/alpha/dev.tfvars (present)").output_lacks("(absent)");
    let stop = dry.stdout.lines().find(|l| l.starts_with("the real run would stop at")).unwrap_or_default();
    assert!(stop.contains("`sources`") || stop.contains("`inputs`"), "{}", dry.stdout);
}

/// SPEC is silent on destroying a stack another one depends on; gf says so (README: lifecycle
/// decisions) in the `destroy-confirmation` verdict, and not when the dependent goes too.
#[test]
fn destroying_a_stack_names_the_stacks_that_depend_on_it_and_stay() {
    let repo = Repo::from_fixture("lifecycle");
    let g = repo.gf().env("KUBE_CONTEXT", "honey");
    g.clone()
        .args(["destroy", "beta", "--dry-run", "--yes"])
        .run()
        .code(0)
        .stdout_has("`gamma` depends on `beta` and is not part of this destroy");
    g.args(["destroy", "beta", "gamma", "--dry-run", "--yes"]).run().code(0).output_lacks("depends on `beta`");
}
