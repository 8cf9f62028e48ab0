//! Issue 3: the stack lifecycle against real S3 state (moto) with a real tofu/terraform on stacks
//! that use only `terraform_data` and `local-exec`.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::{Gf, Repo, gf, repo_root, wait_until};
use crate::moto::Moto;

/// Sentinel credentials: must never appear in a file, gf's output or any process's argv.
pub const ACCESS: &str = "AKIAGFSENTINEL7Q2XZ";
pub const SECRET: &str = "gf-sentinel-secret-7f3a9c1e";
const HTTP_SECRET: &str = "gf-sentinel-http-password-41b2";

/// The tofu/terraform binary the tests run: `GF_TEST_TOFU` (scripts/test.sh), else `tofu` or
/// `terraform` on `PATH`; none is a failure naming what to install.
pub fn tofu() -> String {
    if let Ok(p) = std::env::var("GF_TEST_TOFU")
        && !p.is_empty()
    {
        return p;
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for name in ["tofu", "terraform"] {
        if let Some(p) = std::env::split_paths(&path).map(|d| d.join(name)).find(|p| p.is_file()) {
            return p.to_string_lossy().into_owned();
        }
    }
    panic!("no tofu or terraform binary: install OpenTofu or Terraform >= 1.10, or set GF_TEST_TOFU");
}

/// gf against `repo` and `moto`, with the right context and the sentinel credentials.
pub fn gf_for(repo: &Repo, moto: &Moto) -> Gf {
    repo.gf().env("KUBE_CONTEXT", "honey").env("GF_TOFU", tofu()).envs(moto.env(ACCESS, SECRET))
}

pub fn json_file(repo: &Repo, rel: &str) -> Value {
    serde_json::from_str(&repo.read(rel)).unwrap()
}

/// Every file under `dir` (recursively), including hidden folders.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(files(&p));
        } else {
            out.push(p);
        }
    }
    out
}

pub fn assert_no_secret_in_files(dir: &Path) {
    let all = files(dir);
    assert!(all.iter().any(|p| p.to_string_lossy().contains("/.gf/")), "expected gf's working files");
    for p in all {
        let bytes = std::fs::read(&p).unwrap();
        for s in [ACCESS, SECRET, HTTP_SECRET] {
            assert!(!bytes.windows(s.len()).any(|w| w == s.as_bytes()), "`{s}` found in {}", p.display());
        }
    }
}

/// Run `cmd` to completion while scanning the argv (and tofu's environment) of every process in
/// gf's own process tree for the sentinels; returns the outcome and whether a tofu `apply` process
/// was seen during the scan. Processes outside the tree (another test's terraform) are not ours.
fn run_scanning_argv(g: &Gf) -> (crate::harness::Run, bool) {
    let mut child = g.command().stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let mut saw_apply = false;
    loop {
        for pid in std::iter::once(child.id()).chain(crate::harness::descendants(child.id())) {
            let args = crate::harness::cmdline(pid);
            for s in [ACCESS, SECRET, HTTP_SECRET] {
                assert!(
                    !args.iter().any(|a| a.windows(s.len()).any(|w| w == s.as_bytes())),
                    "sentinel in argv of pid {pid}: {args:?}"
                );
            }
            if args.first().is_some_and(|a| a.ends_with(b"terraform") || a.ends_with(b"tofu"))
                && args.iter().any(|a| a == b"apply")
            {
                saw_apply = true;
                // Its environment holds the credentials only as AWS_*; no TF_HTTP_*, no gf variables.
                if let Ok(env) = std::fs::read(format!("/proc/{pid}/environ")) {
                    let vars: Vec<String> =
                        env.split(|b| *b == 0).map(|v| String::from_utf8_lossy(v).into_owned()).collect();
                    assert!(vars.contains(&format!("AWS_SECRET_ACCESS_KEY={SECRET}")), "{vars:?}");
                    assert!(!vars.iter().any(|v| v.starts_with("TF_HTTP_") || v.starts_with("TOFU_BACKEND_S3_SECRET")));
                }
            }
        }
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(40));
    }
    let out = child.wait_with_output().unwrap();
    let run = crate::harness::Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        argv: vec!["apply".into()],
    };
    (run, saw_apply)
}

#[test]
fn plan_and_apply_land_state_at_the_exact_key_and_never_leak_the_secret() {
    let moto = Moto::start();
    let repo = Repo::from_fixture("lifecycle");
    let g = gf_for(&repo, &moto).env("TF_HTTP_PASSWORD", HTTP_SECRET);

    let plan =
        g.clone().args(["plan", "alpha", "--allow-empty-state", "--detailed-exitcode", "--", "-var=sleep=2"]).run();
    plan.code(2)
        .stdout_has("alpha: 4 to add, 0 to change, 0 to destroy")
        .stdout_has("+ terraform_data.item[0]: create");
    plan.stderr_has("`TF_HTTP_PASSWORD` is set");
    let meta = json_file(&repo, ".gf/dev/alpha/plan.json");
    assert_eq!(meta["allow_empty_state"], true);
    assert_eq!(meta["state"]["exists"], false);
    assert_eq!(meta["env"], "dev");
    assert_eq!(meta["state_key"], "alpha/terraform.tfstate");
    assert!(meta["git_revision"].is_null(), "a temp dir is no git repository: {meta}");
    assert_eq!(meta["backend_digest"].as_str().unwrap().len(), 64);
    assert!(meta["tofu_version"].as_str().unwrap().starts_with("1."));
    assert_eq!(meta["changes"]["add"], 4);
    let backend = repo.path().join(".gf/dev/alpha/alpha.dev.s3.tfbackend");
    let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&backend).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600);
    assert!(std::fs::read_to_string(&backend).unwrap().contains("key = \"alpha/terraform.tfstate\""));

    let (apply, saw_apply) = run_scanning_argv(&g.clone().args(["apply", "alpha"]));
    apply.code(0).stdout_has("alpha: 4 added, 0 changed, 0 destroyed");
    assert!(saw_apply, "the argv scan never saw tofu's apply running");
    for s in [ACCESS, SECRET, HTTP_SECRET] {
        plan.output_lacks(s);
        apply.output_lacks(s);
    }
    assert!(!repo.path().join(".gf/dev/alpha/plan.tfplan").exists(), "an applied plan is consumed");

    // The state is exactly at the manifest's key, read straight from S3.
    assert_eq!(moto.keys(), ["alpha/terraform.tfstate"]);
    let state: Value = serde_json::from_slice(&moto.get("alpha/terraform.tfstate").unwrap()).unwrap();
    let st = gf_for(&repo, &moto).args(["state", "alpha", "--json"]).run().code(0).json();
    assert_eq!(st["key"], "alpha/terraform.tfstate");
    assert_eq!(st["exists"], true);
    assert_eq!(st["serial"], state["serial"]);
    assert_eq!(st["lineage"], state["lineage"]);
    assert_eq!(st["resources"], 2);
    assert_eq!(st["instances"], 4);
    assert!(!st["etag"].as_str().unwrap().is_empty());
    assert!(st["last_modified"].is_string());
    assert!(st["size"].as_u64().unwrap() > 100);
    assert!(st["lock"].is_null());

    // Planned again: no changes, and no needless re-init.
    let again =
        g.clone().args(["plan", "alpha", "--detailed-exitcode", "--json", "--", "-var=sleep=2"]).run().code(0).json();
    assert_eq!(again["stacks"][0]["initialized"], false, "{again}");
    assert_eq!(again["stacks"][0]["changes"]["add"], 0);
    assert_eq!(again["stacks"][0]["state"]["serial"], state["serial"]);
    let out = g.clone().args(["output", "alpha", "--json"]).run().code(0).json();
    assert_eq!(out["stacks"][0]["outputs"]["items"]["value"], 3);
    g.clone().args(["output", "alpha"]).run().code(0).stdout_has("items = 3");
    // `gf init` always re-initializes; another backend (region) makes a plan re-initialize too.
    g.clone().args(["init", "alpha"]).run().code(0).stdout_has("alpha: initialized");
    let moved = g.clone().env("TOFU_BACKEND_S3_REGION", "eu-west-1").args(["plan", "alpha", "--json"]).run();
    assert_eq!(moved.code(0).json()["stacks"][0]["initialized"], true);

    assert_no_secret_in_files(repo.path());
}

#[test]
fn missing_state_is_refused_unless_allowed_and_the_apply_honours_the_plan() {
    let moto = Moto::start();
    let repo = Repo::from_fixture("lifecycle");
    let g = gf_for(&repo, &moto);
    g.clone()
        .args(["plan", "beta"])
        .run()
        .code(3)
        .stderr_has("refused (state-key)")
        .stderr_has("s3://gf-state/team/beta/terraform.tfstate")
        .stderr_has("--allow-empty-state");
    assert!(!repo.path().join(".gf/dev/beta/plan.json").exists());
    assert!(moto.keys().is_empty(), "a refused plan writes nothing: {:?}", moto.keys());
    // `--allow-empty-state` given to plan is recorded; apply (without the flag) goes through.
    g.clone().args(["plan", "beta", "--allow-empty-state"]).run().code(0);
    assert_eq!(json_file(&repo, ".gf/dev/beta/plan.json")["allow_empty_state"], true);
    g.clone().args(["apply", "beta"]).run().code(0).stdout_has("beta: 4 added");
    assert!(moto.get("team/beta/terraform.tfstate").is_some());
    // Apply without a saved plan is refused.
    g.clone().args(["apply", "beta"]).run().code(3).stderr_has("refused (no-plan)");
    g.clone().args(["destroy", "beta", "--yes"]).run().code(0).stdout_has("beta: 0 added, 0 changed, 4 destroyed");
    let state: Value = serde_json::from_slice(&moto.get("team/beta/terraform.tfstate").unwrap()).unwrap();
    assert!(state["resources"].as_array().unwrap().is_empty(), "{state}");
}

#[test]
fn a_stale_plan_is_refused() {
    let moto = Moto::start();
    let first = Repo::from_fixture("lifecycle");
    let second = Repo::from_fixture("lifecycle");
    gf_for(&first, &moto).args(["plan", "alpha", "--allow-empty-state"]).run().code(0);
    gf_for(&second, &moto).args(["plan", "alpha", "--allow-empty-state"]).run().code(0);
    gf_for(&second, &moto).args(["apply", "alpha"]).run().code(0);
    let before = moto.get("alpha/terraform.tfstate").unwrap();
    gf_for(&first, &moto)
        .args(["apply", "alpha"])
        .run()
        .code(3)
        .stderr_has("refused (stale-plan)")
        .stderr_has("plan was against no state, state is now serial 1");
    assert_eq!(moto.get("alpha/terraform.tfstate").unwrap(), before, "the state is untouched");
    // A changed backend (another bucket name) is stale too.
    gf_for(&second, &moto).args(["plan", "alpha"]).run().code(0);
    gf_for(&second, &moto)
        .env("TOFU_BACKEND_S3_REGION", "eu-west-1")
        .args(["apply", "alpha"])
        .run()
        .code(3)
        .stderr_has("backend of `alpha` changed");
}

#[test]
fn a_second_concurrent_apply_fails_on_the_lock_and_the_state_stays_intact() {
    let moto = Moto::start();
    let first = Repo::from_fixture("lifecycle");
    let second = Repo::from_fixture("lifecycle");
    for r in [&first, &second] {
        gf_for(r, &moto).args(["plan", "alpha", "--allow-empty-state", "--", "-var=sleep=4"]).run().code(0);
    }
    let running = gf_for(&first, &moto).args(["apply", "alpha"]).spawn();
    wait_until(30, "the first apply to take the lock", || moto.get("alpha/terraform.tfstate.tflock").is_some());
    let st = gf_for(&second, &moto).args(["state", "alpha", "--json"]).run().code(0).json();
    assert_eq!(st["lock"]["operation"], "OperationTypeApply", "{st}");
    assert!(!st["lock"]["who"].as_str().unwrap().is_empty());
    assert!(!st["lock"]["since"].as_str().unwrap().is_empty());
    assert!(!st["lock"]["id"].as_str().unwrap().is_empty());
    gf_for(&second, &moto).args(["state", "alpha"]).run().code(0).stdout_has("OperationTypeApply");

    let loser = gf_for(&second, &moto).args(["apply", "alpha"]).run();
    loser.code(1).stderr_has("Error acquiring the state lock");
    let winner = running.wait_with_output().unwrap();
    assert_eq!(winner.status.code(), Some(0), "{}", String::from_utf8_lossy(&winner.stderr));
    let state: Value = serde_json::from_slice(&moto.get("alpha/terraform.tfstate").unwrap()).unwrap();
    assert_eq!(state["serial"], 1);
    assert_eq!(state["resources"].as_array().unwrap().len(), 2);
    assert!(moto.get("alpha/terraform.tfstate.tflock").is_none(), "the lock was released");
    assert!(second.path().join(".gf/dev/alpha/plan.tfplan").exists(), "a failed apply keeps its plan");
}

#[test]
fn wrong_context_ci_operator_and_unconfirmed_destroy_are_refused_before_anything_runs() {
    let repo = Repo::from_fixture("lifecycle");
    let g = repo.gf().env("GF_TOFU", tofu());
    g.clone()
        .env("KUBE_CONTEXT", "kind-local")
        .args(["plan", "alpha"])
        .run()
        .code(3)
        .stderr_has("refused (context)")
        .stderr_has("`kind-local`")
        .stderr_has("`honey`");
    g.clone().args(["init", "--all"]).run().code(3).stderr_has("`KUBE_CONTEXT` is not set");
    let ok = g.clone().env("KUBE_CONTEXT", "honey");
    ok.clone().env("CI", "true").args(["apply", "beta"]).run().code(3).stderr_has("refused (operator-in-ci)");
    ok.clone().env("CI", "true").args(["apply", "--all"]).run().code(3).stderr_has("`beta`, `gamma` are");
    // An automated stack passes that gate and meets the next one: the missing variables are named.
    ok.clone()
        .env("CI", "true")
        .args(["apply", "alpha"])
        .run()
        .code(1)
        .stderr_has("`TOFU_BACKEND_S3_ENDPOINT`")
        .stderr_has("`TOFU_BACKEND_S3_SECRET_KEY`");
    // Read-only commands only report a context mismatch.
    g.clone()
        .env("KUBE_CONTEXT", "kind-local")
        .args(["output", "alpha"])
        .run()
        .code(1)
        .stderr_has("reported only")
        .stderr_has("`TOFU_BACKEND_S3_ENDPOINT`");
    assert!(!repo.path().join(".gf").exists(), "nothing ran");
}

#[test]
fn a_missing_credential_is_named_and_an_unreachable_endpoint_fails_within_seconds() {
    let repo = Repo::from_fixture("lifecycle");
    let base = repo.gf().env("KUBE_CONTEXT", "honey").env("GF_TOFU", tofu());
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let env = |port: u16| {
        vec![
            ("TOFU_BACKEND_S3_ENDPOINT", format!("http://127.0.0.1:{port}")),
            ("TOFU_BACKEND_S3_BUCKET", "gf-state".to_string()),
            ("TOFU_BACKEND_S3_ACCESS_KEY", ACCESS.to_string()),
            ("TOFU_BACKEND_S3_SECRET_KEY", SECRET.to_string()),
        ]
    };
    let mut partial = env(closed);
    partial.retain(|(k, _)| *k != "TOFU_BACKEND_S3_SECRET_KEY");
    let r = base.clone().envs(partial).args(["plan", "alpha"]).run();
    r.code(1).stderr_has("`TOFU_BACKEND_S3_SECRET_KEY`: not set").output_lacks(ACCESS);
    assert!(!r.stderr.contains("`TOFU_BACKEND_S3_ENDPOINT`"), "{}", r.stderr);

    let start = Instant::now();
    let r = base.clone().envs(env(closed)).args(["plan", "alpha"]).run();
    r.code(1).stderr_has(&format!("`http://127.0.0.1:{closed}`")).stderr_has("cannot read");
    r.output_lacks(SECRET);
    assert!(start.elapsed() < Duration::from_secs(10), "took {:?}", start.elapsed());

    // A peer that accepts connections and never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let start = Instant::now();
    let r = base.clone().envs(env(port)).args(["state", "alpha"]).run();
    r.code(1).stderr_has(&format!("`http://127.0.0.1:{port}`"));
    assert!(start.elapsed() < Duration::from_secs(15), "took {:?}", start.elapsed());
    drop(silent);
}

/// Lines of `[stack]`-prefixed output must come in one block per stack.
fn assert_blocks_not_interleaved(out: &str, stacks: &[&str]) {
    let owners: Vec<&str> =
        out.lines().filter_map(|l| stacks.iter().find(|s| l.starts_with(&format!("[{s}] "))).copied()).collect();
    let mut seen: Vec<&str> = Vec::new();
    for o in owners {
        if seen.last() != Some(&o) {
            assert!(!seen.contains(&o), "output of `{o}` is interleaved:\n{out}");
            seen.push(o);
        }
    }
    assert_eq!(seen.len(), stacks.len(), "every stack printed a block:\n{out}");
}

#[test]
fn all_runs_in_dependency_order_and_stops_at_the_first_failure() {
    let moto = Moto::start();
    let repo = Repo::from_fixture("lifecycle");
    repo.write(
        "stacks/beta/boom.tf",
        "resource \"terraform_data\" \"boom\" {\n  depends_on = [terraform_data.mark]\n  provisioner \"local-exec\" {\n    command = \"echo boom >&2; exit 7\"\n  }\n}\n",
    );
    let log = repo.path().join("order.log");
    let g = gf_for(&repo, &moto).env("ORDER_LOG", log.to_string_lossy());

    let plan = g.clone().args(["plan", "--all", "--allow-empty-state", "--jobs", "3"]).run();
    plan.code(0).stdout_has("alpha: 4 to add").stdout_has("beta: 5 to add").stdout_has("gamma: 4 to add");
    assert_blocks_not_interleaved(&plan.stdout, &["alpha", "beta", "gamma"]);

    let apply = g.clone().args(["apply", "--all"]).run();
    apply
        .code(1)
        .stdout_has("alpha: 4 added")
        .stdout_has("beta: failed")
        .stdout_has("gamma: not run")
        .stderr_has("not run: `gamma`")
        .stderr_has("stack `beta`");
    assert_eq!(std::fs::read_to_string(&log).unwrap(), "alpha\nbeta\n");
    assert!(moto.get("alpha/terraform.tfstate").is_some());
    assert!(moto.get("team/gamma/terraform.tfstate").is_none(), "gamma never ran");
    assert!(repo.path().join(".gf/dev/gamma/plan.tfplan").exists());

    let json = g.clone().args(["apply", "--all", "--json"]).run();
    json.code(3);
    let v = json.json();
    assert_eq!(v["stacks"][0]["status"], "refused", "alpha's plan was consumed: {v}");
    assert_eq!(v["not_run"], serde_json::json!(["beta", "gamma"]));

    let order = g.clone().args(["destroy", "--all", "--dry-run", "--json"]).run().code(0).json();
    assert_eq!(order["order"], serde_json::json!(["gamma", "beta", "alpha"]));
}

#[test]
fn dry_run_works_without_credentials_cluster_or_tofu() {
    let repo = Repo::from_fixture("lifecycle");
    let bare = repo.gf().env("GF_TOFU", "/nonexistent/tofu");
    let human = bare.clone().args(["plan", "--all", "--dry-run"]).run();
    human
        .code(0)
        .stdout_has("alpha -> beta -> gamma")
        .stdout_has("missing to run for real")
        .stdout_has("`TOFU_BACKEND_S3_ENDPOINT`")
        .stdout_has("`KUBE_CONTEXT=honey`")
        .stdout_has("/nonexistent/tofu");
    let v = bare.clone().args(["plan", "alpha", "--dry-run", "--json"]).run().code(0).json();
    assert!(v["stacks"][0]["backend_store_path"].is_null());
    assert!(v["tofu"]["version"].is_null());

    let endpoint = [
        ("TOFU_BACKEND_S3_ENDPOINT", "http://rustfs.nix-cache.svc:9000".to_string()),
        ("TOFU_BACKEND_S3_BUCKET", "gf-state".to_string()),
    ];
    let g = repo.gf().env("GF_TOFU", tofu()).envs(endpoint.clone()).env("CI", "true");
    let v = g.clone().args(["apply", "beta", "--dry-run", "--json"]).run().code(0).json();
    let nix = repo.gf().envs(endpoint).args(["backend", "beta", "--nix"]).run().code(0).stdout.trim().to_string();
    let st = &v["stacks"][0];
    assert_eq!(st["backend_store_path"], nix.as_str());
    assert!(nix.starts_with("/nix/store/") && nix.ends_with("-beta.dev.s3.tfbackend"), "{nix}");
    assert_eq!(st["backend_file"], ".gf/dev/beta/beta.dev.s3.tfbackend");
    assert!(v["tofu"]["version"].as_str().unwrap().starts_with("1."));
    // Run gates are decided once for the selection; stack gates per stack.
    let gate = |gates: &Value, name: &str| {
        gates.as_array().unwrap().iter().find(|g| g["gate"] == name).cloned().unwrap_or_else(|| panic!("{name}: {v}"))
    };
    assert_eq!(gate(&v["gates"], "context")["verdict"], "refuse");
    assert_eq!(gate(&v["gates"], "operator-in-ci")["verdict"], "refuse");
    assert_eq!(gate(&v["gates"], "credentials")["verdict"], "refuse");
    assert_eq!(gate(&st["gates"], "no-plan")["verdict"], "refuse");
    assert_eq!(gate(&st["gates"], "state-key")["verdict"], "skip", "no credentials: not looked up");
    assert_eq!(v["first_refusal"]["gate"], "context", "where the real run stops: {v}");
    let apply = st["commands"][1]["argv"].as_array().unwrap();
    assert_eq!(apply[0], tofu().as_str());
    assert_eq!(apply[1..4], [Value::from("apply"), "-input=false".into(), "-json".into()]);
    assert!(apply.last().unwrap().as_str().unwrap().ends_with(".gf/dev/beta/plan.tfplan"));
    assert!(st["commands"][0]["argv"][4].as_str().unwrap().ends_with("/.gf/dev/beta/beta.dev.s3.tfbackend"), "{st}");
    assert!(!repo.path().join(".gf").exists(), "a dry run writes nothing");

    // The README's main-job command, on the real repository with an empty environment.
    let real = gf().root(&repo_root()).args(["plan", "--all", "--dry-run"]).run();
    real.code(0).stdout_has("arc-runners -> attic -> gitlab-runners -> runner-dashboard").stdout_has("cache");
}

#[test]
fn doctor_reports_the_environment() {
    let moto = Moto::start();
    let repo = Repo::from_fixture("lifecycle");
    let v = gf_for(&repo, &moto).env("TF_HTTP_PASSWORD", HTTP_SECRET).args(["doctor", "--json"]).run();
    v.code(0).output_lacks(HTTP_SECRET).output_lacks(SECRET);
    let v = v.json();
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["env"], "dev");
    assert_eq!(v["kube_context"]["matches"], true);
    assert_eq!(v["s3"]["reachable"], true);
    assert_eq!(v["s3"]["bucket"], "gf-state");
    assert!(v["tofu"]["version"].as_str().unwrap().starts_with("1."));
    assert_eq!(v["tf_http"], serde_json::json!(["TF_HTTP_PASSWORD"]));
    assert!(v["cache"]["reachable"].is_boolean());

    let bad = repo
        .gf()
        .env("KUBE_CONTEXT", "kind-local")
        .env("GF_TOFU", "/nonexistent/tofu")
        .args(["doctor", "--json"])
        .run();
    let b = bad.code(1).json();
    assert_eq!(b["ok"], false);
    assert_eq!(b["kube_context"]["matches"], false);
    assert!(b["s3"]["reachable"].is_null());
    assert!(b["s3"]["missing"].as_array().unwrap().contains(&"TOFU_BACKEND_S3_ACCESS_KEY".into()));
    assert_eq!(b["problems"].as_array().unwrap().len(), 3, "{b}");
    repo.gf().args(["doctor"]).run().code(1).stdout_has("kube context").stdout_has("PROBLEM");
}

#[test]
fn ctrl_c_is_forwarded_to_tofu_which_releases_its_lock() {
    let moto = Moto::start();
    let repo = Repo::from_fixture("lifecycle");
    // A sleep length of this test process's own: the leftover scan below must not see another
    // worktree's run of the same test.
    let secs = 600 + std::process::id() % 397;
    gf_for(&repo, &moto)
        .args(["plan", "alpha", "--allow-empty-state", "--", &format!("-var=sleep={secs}")])
        .run()
        .code(0);
    let child = gf_for(&repo, &moto).args(["apply", "alpha"]).spawn();
    wait_until(30, "the apply to take the lock", || moto.get("alpha/terraform.tfstate.tflock").is_some());
    std::thread::sleep(Duration::from_millis(500));
    // What the terminal does on Ctrl-C: SIGINT to gf's process group, which tofu is not in.
    let start = Instant::now();
    let status = std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "SIGINT: 128 + 2\n{stderr}");
    assert!(start.elapsed() < Duration::from_secs(20), "took {:?}", start.elapsed());
    assert!(stderr.contains("asking tofu to stop") && stderr.contains("was interrupted (SIGINT)"), "{stderr}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("alpha: interrupted (SIGINT)"));
    assert!(moto.get("alpha/terraform.tfstate.tflock").is_none(), "tofu released its lock");
    assert!(moto.get("alpha/terraform.tfstate").is_some(), "tofu saved what it had applied");
    // The provisioner got the Ctrl-C too (it is in tofu's process group), as on a terminal.
    let leftover = std::fs::read_dir("/proc").unwrap().flatten().any(|e| {
        std::fs::read(e.path().join("cmdline")).is_ok_and(|c| {
            let (spaced, nul) = (format!("sleep {secs}"), format!("sleep\0{secs}"));
            c.windows(spaced.len()).any(|w| w == spaced.as_bytes() || w == nul.as_bytes())
        })
    });
    assert!(!leftover, "the local-exec `sleep {secs}` outlived the interrupted apply");
}

/// Run `g` on a pseudo-terminal (util-linux `script`), typing `input`.
pub fn run_on_a_terminal(g: &Gf, input: &str) -> crate::harness::Run {
    let cmd = g.command();
    let quote = |s: &std::ffi::OsStr| format!("'{}'", s.to_string_lossy().replace('\'', "'\\''"));
    let line: Vec<String> = std::iter::once(quote(cmd.get_program())).chain(cmd.get_args().map(quote)).collect();
    let mut script = std::process::Command::new("script");
    script.env_clear().args(["-qec", &line.join(" "), "/dev/null"]);
    for (k, v) in cmd.get_envs() {
        if let Some(v) = v {
            script.env(k, v);
        }
    }
    let mut child = script
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run `script` for a terminal: {e}; install util-linux (`bsdutils`)"));
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), input.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    crate::harness::Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        argv: line,
    }
}

#[test]
fn destroy_on_a_terminal_needs_the_typed_stack_name() {
    let moto = Moto::start();
    let repo = Repo::from_fixture("lifecycle");
    let g = gf_for(&repo, &moto);
    g.clone().args(["plan", "alpha", "--allow-empty-state"]).run().code(0);
    g.clone().args(["apply", "alpha"]).run().code(0);
    let wrong = run_on_a_terminal(&g.clone().args(["destroy", "alpha"]), "alpah\n");
    wrong.code(3).stdout_has("type the stack name to confirm").stdout_has("refused (destroy-confirmation)");
    let instances = |m: &Moto| {
        let v: Value = serde_json::from_slice(&m.get("alpha/terraform.tfstate").unwrap()).unwrap();
        v["resources"].as_array().unwrap().iter().map(|r| r["instances"].as_array().unwrap().len()).sum::<usize>()
    };
    assert_eq!(instances(&moto), 4, "nothing destroyed");
    let right = run_on_a_terminal(&g.clone().args(["destroy", "alpha"]), "alpha\n");
    right
        .code(0)
        .stdout_has("4 resource instance(s), state serial 1")
        .stdout_has("alpha: 0 added, 0 changed, 4 destroyed");
    assert_eq!(instances(&moto), 0);
}

#[test]
fn a_stack_whose_sources_fail_check_is_refused_before_anything_runs() {
    let repo = Repo::from_fixture("lifecycle");
    repo.write("stacks/beta/legacy.tf", "terraform {\n  backend \"http\" {}\n}\n");
    let g = repo.gf().env("KUBE_CONTEXT", "honey").env("GF_TOFU", "/nonexistent/tofu");
    g.clone()
        .args(["plan", "beta"])
        .run()
        .code(1)
        .stderr_has("stacks/beta/legacy.tf:2")
        .stderr_has("`backend \"http\"`");
    assert!(!repo.path().join(".gf").exists(), "gf wrote working files for a refused stack");
    // The dry run shows where the real run stops, without failing.
    g.clone()
        .args(["plan", "--all", "--dry-run"])
        .run()
        .code(0)
        .stdout_has("the real run would stop at `sources` (exit 1)")
        .stdout_has("stacks/beta/legacy.tf:2");
}
