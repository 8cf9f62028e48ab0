//! Issue 6: Nix integration, against the real Nix on this machine (Debian's `nix-bin`).
//!
//! Parity: for every stack × environment, gf's `.tfbackend` bytes equal `nix/backends.nix`'s
//! `text`, and gf's `--nix` path equals backends.nix's `path` and `builtins.toFile` of gf's bytes
//! as Nix computes it. `--realise` makes the file in the store. The flake: every `.nix` file
//! parses, flake.lock pins nixpkgs, and the input-less outputs (`lib`, the outputs' shape) are
//! evaluated by Nix itself through its flake machinery (`nix eval path:…#lib`). What needs
//! nixpkgs (the package, tofu, devShell, the checks' derivations) cannot be built here.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, MutexGuard, PoisonError};

use serde_json::{Value, json};

use crate::harness::{Repo, copy_dir, gf, repo_root};

const NIXPKGS_REV: &str = "25f538306313eae3927264466c70d7001dcea1df";
const NIXPKGS_NAR_HASH: &str = "sha256-ZsIrKmhp4vbBXoXXmR/tBXA/UCsAQiJL9vsgZEduhVY=";
const NIXPKGS_LAST_MODIFIED: u64 = 1_779_796_641;

/// Root without a daemon: every Nix process of this test binary takes the store's sqlite lock,
/// so Nix calls (and gf runs that call Nix) go one at a time.
static NIX: Mutex<()> = Mutex::new(());

fn nix_lock() -> MutexGuard<'static, ()> {
    NIX.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A Nix command; fails the test (never skips) when Nix is not installed.
fn nix_cmd(program: &str) -> Command {
    let found = Command::new(program).arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status();
    assert!(
        found.is_ok_and(|s| s.success()),
        "`{program}` not found: these tests need Nix; install Debian's nix-bin (`apt-get install nix-bin`), or run scripts/test.sh, which does"
    );
    let mut cmd = Command::new(program);
    cmd.args(["--option", "substituters", ""]);
    cmd
}

/// Run a Nix command to completion: stdout on success, stderr on failure.
fn run_nix(mut cmd: Command) -> Result<String, String> {
    let _guard = nix_lock();
    let out = cmd.output().expect("run nix");
    if out.status.success() {
        Ok(String::from_utf8(out.stdout).unwrap())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// `nix-instantiate --eval --strict --json -E EXPR --argstr K V…`, parsed.
fn eval(expr: &str, args: &[(&str, &str)]) -> Result<Value, String> {
    let mut cmd = nix_cmd("nix-instantiate");
    cmd.args(["--eval", "--strict", "--json", "-E", expr]);
    for (k, v) in args {
        cmd.args(["--argstr", k, v]);
    }
    run_nix(cmd).map(|s| serde_json::from_str(&s).unwrap())
}

#[track_caller]
fn eval_ok(expr: &str, args: &[(&str, &str)]) -> Value {
    eval(expr, args).unwrap_or_else(|e| panic!("nix-instantiate -E {expr}: {e}"))
}

fn nix_file(rel: &str) -> String {
    repo_root().join(rel).display().to_string()
}

/// Where the state backend is, as gf reads it from its environment and backends.nix from its
/// arguments.
#[derive(Clone)]
struct Vals {
    endpoint: String,
    bucket: String,
    region: Option<String>,
}

impl Vals {
    fn plain() -> Self {
        Self { endpoint: "http://rustfs.nix-cache.svc:9000".into(), bucket: "gf-state".into(), region: None }
    }

    fn gf_env(&self) -> Vec<(&'static str, String)> {
        let mut env =
            vec![("TOFU_BACKEND_S3_ENDPOINT", self.endpoint.clone()), ("TOFU_BACKEND_S3_BUCKET", self.bucket.clone())];
        if let Some(r) = &self.region {
            env.push(("TOFU_BACKEND_S3_REGION", r.clone()));
        }
        env
    }
}

/// `import nix/backends.nix { root; endpoint; bucket; region?; }`, every value passed as a string
/// argument (no Nix quoting in the test).
fn eval_backends(root: &Path, v: &Vals) -> Result<Value, String> {
    let expr = format!("{{ ... }}@args: import {} args", nix_file("nix/backends.nix"));
    let root = root.display().to_string();
    let mut args = vec![("root", root.as_str()), ("endpoint", v.endpoint.as_str()), ("bucket", v.bucket.as_str())];
    if let Some(r) = &v.region {
        args.push(("region", r.as_str()));
    }
    eval(&expr, &args)
}

/// `builtins.toFile name text` as Nix computes it (read-only: nothing is written).
fn nix_to_file(items: &[(String, String)]) -> Vec<String> {
    let items: Vec<Value> = items.iter().map(|(n, t)| json!({ "name": n, "text": t })).collect();
    let v = eval_ok(
        "{ items }: map (i: builtins.toFile i.name i.text) (builtins.fromJSON items)",
        &[("items", &Value::Array(items).to_string())],
    );
    serde_json::from_value(v).unwrap()
}

/// The environments of a repository and, per stack, the environments it has a key for, read
/// straight from the JSON (independently of gf and of backends.nix).
fn contract_pairs(root: &Path) -> (Vec<String>, BTreeMap<String, Vec<String>>) {
    let read = |p: PathBuf| -> Value { serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap() };
    let contract = read(root.join("stacks/contract.json"));
    let envs: Vec<String> = contract["environments"].as_object().unwrap().keys().cloned().collect();
    let mut stacks = BTreeMap::new();
    for entry in std::fs::read_dir(root.join("stacks")).unwrap() {
        let dir = entry.unwrap().path();
        if dir.join("stack.json").is_file() {
            let m = read(dir.join("stack.json"));
            let keys = m["state_keys"].as_object().unwrap().keys().cloned().collect();
            stacks.insert(m["name"].as_str().unwrap().to_string(), keys);
        }
    }
    (envs, stacks)
}

/// Three-way parity for every stack × environment of `root`; returns how many pairs were
/// compared.
fn assert_parity(root: &Path, v: &Vals) -> usize {
    let nix = eval_backends(root, v).unwrap_or_else(|e| panic!("backends.nix: {e}"));
    let (envs, stacks) = contract_pairs(root);
    let nix_envs: Vec<&String> = nix.as_object().unwrap().keys().collect();
    assert_eq!(nix_envs, envs.iter().collect::<Vec<_>>(), "backends.nix environments");

    let mut rendered = Vec::new();
    let mut gf_paths = Vec::new();
    for env in &envs {
        for (stack, keyed) in &stacks {
            let base = gf().root(root).envs(v.gf_env()).args(["backend", stack, "--env", env]);
            let entry = &nix[env][stack];
            if !keyed.contains(env) {
                assert!(entry.is_null(), "backends.nix has {stack}.{env}, a stack without a key there: {entry}");
                base.run().code(1).stderr_has("no state key");
                continue;
            }
            let text = base.run().code(0).stdout.clone();
            let path = base.clone().arg("--nix").run().code(0).stdout.trim().to_string();
            assert_eq!(entry["text"].as_str(), Some(text.as_str()), "{stack}.{env}: text");
            assert_eq!(entry["path"].as_str(), Some(path.as_str()), "{stack}.{env}: path");
            rendered.push((format!("{stack}.{env}.s3.tfbackend"), text));
            gf_paths.push(path);
        }
    }
    assert_eq!(nix_to_file(&rendered), gf_paths, "builtins.toFile of gf's bytes, as Nix computes it");
    gf_paths.len()
}

/// The contract fixture with a second environment `prod` (every stack has a prod key), a
/// `schema` folder without a manifest, and `$schema` fields.
fn two_env_repo() -> Repo {
    let repo = Repo::from_fixture("contract");
    repo.edit_json("stacks/contract.json", |c| {
        c["$schema"] = json!("schema/contract.schema.json");
        c["environments"]["prod"] = json!({ "kube_context": "honey-prod" });
    });
    for stack in ["arc-runners", "attic", "gitlab-runners", "runner-dashboard"] {
        repo.edit_json(&format!("stacks/{stack}/stack.json"), |m| {
            m["$schema"] = json!("../schema/stack.schema.json");
            m["state_keys"]["prod"] = json!(format!("prod/{stack}/terraform.tfstate"));
        });
    }
    repo.write("stacks/schema/stack.schema.json", "{}");
    repo
}

#[test]
fn backends_nix_equals_gf_for_every_stack_and_environment_of_the_repository() {
    assert_eq!(assert_parity(&repo_root(), &Vals::plain()), 4);
}

#[test]
fn backends_nix_equals_gf_in_a_two_environment_fixture() {
    let repo = two_env_repo();
    gf().root(repo.path()).arg("check").run().code(0);
    assert_eq!(assert_parity(repo.path(), &Vals::plain()), 8);
}

#[test]
fn an_environment_a_stack_has_no_key_for_is_absent_in_nix_and_refused_by_gf() {
    let full = two_env_repo();
    let repo = two_env_repo();
    repo.edit_json("stacks/runner-dashboard/stack.json", |m| {
        m["state_keys"].as_object_mut().unwrap().remove("prod");
    });
    let v = Vals::plain();
    gf().root(repo.path())
        .envs(v.gf_env())
        .args(["backend", "runner-dashboard", "--env", "prod"])
        .run()
        .code(1)
        .stderr_has("stack `runner-dashboard` has no state key for environment `prod`");
    // gf refuses the whole contract (a `gf check` error); backends.nix leaves out that one pair
    // and renders the others as gf does for the same keys.
    let nix = eval_backends(repo.path(), &v).unwrap();
    let full_nix = eval_backends(full.path(), &v).unwrap();
    assert!(nix["prod"].get("runner-dashboard").is_none(), "{}", nix["prod"]);
    assert_eq!(nix["prod"].as_object().unwrap().len(), 3);
    assert_eq!(nix["dev"], full_nix["dev"]);
    for stack in ["arc-runners", "attic", "gitlab-runners"] {
        assert_eq!(nix["prod"][stack], full_nix["prod"][stack], "{stack}");
    }
    assert_eq!(assert_parity(full.path(), &v), 8);
}

#[test]
fn hcl_significant_characters_agree() {
    let repo = two_env_repo();
    repo.edit_json("stacks/attic/stack.json", |m| {
        m["state_keys"]["prod"] = json!(r#"we"ird\key/${env}/%{x}/$${y}/€/terraform.tfstate"#);
    });
    // Bucket names are plain (S3's rules); the endpoint and the region carry the HCL-significant text.
    let v = Vals {
        endpoint: r#"http://h:9000/${x}"q\%{y}$${z}"#.into(),
        bucket: "gf-state.2".into(),
        region: Some(r#"r-%{1}$"\\${z}%%{"#.into()),
    };
    assert_eq!(assert_parity(repo.path(), &v), 8);
    let text = gf().root(repo.path()).envs(v.gf_env()).args(["backend", "attic", "--env", "prod"]).run().stdout.clone();
    assert!(text.contains(r#"key = "we\"ird\\key/$${env}/%%{x}/$$${y}/€/terraform.tfstate""#), "{text}");
}

#[test]
fn region_comes_from_the_contract_unless_given() {
    let repo = two_env_repo();
    repo.edit_json("stacks/contract.json", |c| c["backend"]["region"] = json!("eu-central-1"));
    for region in [None, Some(String::new()), Some("ap-south-1".to_string())] {
        let v = Vals { region: region.clone(), ..Vals::plain() };
        assert_eq!(assert_parity(repo.path(), &v), 8);
        let want = match region.as_deref() {
            Some("ap-south-1") => "ap-south-1",
            _ => "eu-central-1",
        };
        let nix = eval_backends(repo.path(), &v).unwrap();
        assert!(nix["prod"]["attic"]["text"].as_str().unwrap().contains(&format!("region = \"{want}\"\n")));
    }
}

#[test]
fn control_characters_are_refused_by_gf_and_by_backends_nix() {
    let tab = Vals { bucket: "gf\tstate".into(), ..Vals::plain() };
    gf().root(&repo_root()).envs(tab.gf_env()).args(["backend", "attic"]).run().code(1).stderr_has("control character");
    let err = eval_backends(&repo_root(), &tab).unwrap_err();
    assert!(err.contains("`bucket` contains a control character"), "{err}");

    let repo = Repo::from_fixture("contract");
    repo.edit_json("stacks/attic/stack.json", |m| m["state_keys"]["dev"] = json!("attic/\u{85}terraform.tfstate"));
    gf().root(repo.path()).arg("check").run().code(1).output_has("control character");
    let err = eval_backends(repo.path(), &Vals::plain()).unwrap_err();
    assert!(err.contains("state_keys.dev` is not a relative object key: it contains a control character"), "{err}");

    // Nix's fromJSON cuts a string at NUL: backends.nix refuses the escape instead of rendering "attic/".
    repo.edit_json("stacks/attic/stack.json", |m| m["state_keys"]["dev"] = json!("attic/\u{0}x"));
    gf().root(repo.path()).arg("check").run().code(1).output_has("control character");
    let err = eval_backends(repo.path(), &Vals::plain()).unwrap_err();
    assert!(err.contains("\\u0000"), "{err}");
}

#[test]
fn buckets_and_endpoints_gf_refuses_backends_nix_refuses_and_the_rest_render_alike() {
    let long = "b".repeat(64);
    for bad in ["gf/state", "gf-state/x", "Gf-state", "gf_state", "ab", &long, "-gf", "gf.", "gf..state", "192.168.5.4"]
    {
        let v = Vals { bucket: bad.into(), ..Vals::plain() };
        gf().root(&repo_root())
            .envs(v.gf_env())
            .args(["backend", "attic"])
            .run()
            .code(1)
            .stderr_has("`TOFU_BACKEND_S3_BUCKET`")
            .stderr_has("is not a valid S3 bucket name");
        let err = eval_backends(&repo_root(), &v).unwrap_err();
        assert!(err.contains("`bucket` is not a valid S3 bucket name"), "{bad}: {err}");
    }
    let longest = "b".repeat(63);
    for good in ["abc", "a.b-c.1", "192.168.5", "1.2.3.4.5", &longest] {
        assert_eq!(assert_parity(&repo_root(), &Vals { bucket: good.into(), ..Vals::plain() }), 4, "{good}");
    }

    let password = "gf-sentinel-nix-password-0b7e";
    let v = Vals { endpoint: format!("http://gf-user:{password}@h:9000"), ..Vals::plain() };
    gf().root(&repo_root()).envs(v.gf_env()).args(["backend", "attic"]).run().code(1).output_lacks(password);
    let err = eval_backends(&repo_root(), &v).unwrap_err();
    assert!(err.contains("`endpoint` contains `@`") && !err.contains(password), "{err}");
}

#[test]
fn state_keys_and_environment_names_gf_refuses_backends_nix_refuses() {
    let at_limit = format!("attic/{}", "k".repeat(1017 - "attic/".len()));
    let over = format!("{at_limit}k");
    for bad in [
        "attic/terraform.tfstate.tflock",
        "attic/\u{202E}x",
        "attic/\u{2066}x",
        "attic/\u{061C}x",
        "attic/\u{200B}x",
        "attic/\u{2060}x",
        "attic/\u{FEFF}x",
        "attic/x\u{3000}",
        "\u{a0}attic/x",
        " attic/x",
        &over,
        "/attic/x",
        "attic//x",
        "attic/./x",
        "attic/../x",
        "",
    ] {
        let repo = Repo::from_fixture("contract");
        repo.edit_json("stacks/attic/stack.json", |m| m["state_keys"]["dev"] = json!(bad));
        repo.gf().arg("check").run().code(1).stderr_has("stacks/attic/stack.json");
        let err = eval_backends(repo.path(), &Vals::plain()).unwrap_err();
        assert!(err.contains("state_keys.dev` is not a relative object key"), "{bad:?}: {err}");
    }
    for good in [at_limit.as_str(), "attic/x.tflockx", "attic/€/ünï/x", "attic/a b/x"] {
        let repo = Repo::from_fixture("contract");
        repo.edit_json("stacks/attic/stack.json", |m| m["state_keys"]["dev"] = json!(good));
        repo.gf().arg("check").run().code(0);
        assert_eq!(assert_parity(repo.path(), &Vals::plain()), 4, "{good}");
    }

    for bad in ["Dev", "../../escape", "1dev", "dev_x"] {
        let repo = Repo::from_fixture("contract");
        repo.edit_json("stacks/contract.json", |c| c["environments"][bad] = json!({ "kube_context": "honey" }));
        for s in ["arc-runners", "attic", "gitlab-runners", "runner-dashboard"] {
            repo.edit_json(&format!("stacks/{s}/stack.json"), |m| m["state_keys"][bad] = json!(format!("{s}/x")));
        }
        repo.gf().arg("check").run().code(1).stderr_has("environment name");
        let err = eval_backends(repo.path(), &Vals::plain()).unwrap_err();
        assert!(err.contains("environment name") && err.contains("does not match"), "{bad}: {err}");
    }
}

#[test]
fn realise_creates_the_file_with_gf_bytes_and_no_secret() {
    // A bucket no earlier run used: the store path is new, so its existence afterwards is this run's doing.
    let nonce = format!(
        "{}-{}",
        std::process::id(),
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
    );
    let v = Vals { endpoint: r#"http://h:9000/${x}"q\%{y}"#.into(), bucket: format!("gf-{nonce}"), region: None };
    let secrets = [
        ("TOFU_BACKEND_S3_ACCESS_KEY", "SENTINEL-ACCESS-4c1f".to_string()),
        ("TOFU_BACKEND_S3_SECRET_KEY", "SENTINEL-SECRET-9a7e".to_string()),
        ("GF_ATTIC_TOKEN", "SENTINEL-TOKEN-33d0".to_string()),
    ];
    let base = gf().root(&repo_root()).envs(v.gf_env()).envs(secrets.clone()).args(["backend", "attic"]);
    let text = base.run().code(0).stdout.clone();
    let path = base.clone().arg("--nix").run().code(0).stdout.trim().to_string();
    assert!(!Path::new(&path).exists(), "{path} exists before --realise");

    let run = {
        let _guard = nix_lock();
        base.clone().args(["--nix", "--realise"]).run()
    };
    run.code(0);
    assert_eq!(run.stdout.trim(), path);
    assert_eq!(std::fs::read_to_string(&path).unwrap(), text, "the store file holds gf's bytes");
    let stored = std::fs::read_to_string(&path).unwrap();
    for (_, secret) in &secrets {
        assert!(!stored.contains(secret.as_str()), "{secret} reached the store");
        run.output_lacks(secret);
    }
    // A second realise of the same file is a no-op that still agrees.
    let _guard = nix_lock();
    base.args(["--nix", "--realise"]).run().code(0).stdout_has(&path);
}

#[test]
fn without_nix_the_path_still_prints_and_realise_names_nix_bin() {
    let empty = tempfile::tempdir().unwrap();
    let base = gf().root(&repo_root()).envs(Vals::plain().gf_env()).env("PATH", empty.path().display().to_string());
    let path = base.clone().args(["backend", "attic", "--nix"]).run().code(0).stdout.trim().to_string();
    let text = gf().root(&repo_root()).envs(Vals::plain().gf_env()).args(["backend", "attic"]).run().stdout.clone();
    assert_eq!(path, gf::nix::text_store_path("attic.dev.s3.tfbackend", text.as_bytes()));
    let run = base.args(["backend", "attic", "--nix", "--realise"]).run();
    run.code(1).stderr_has("`nix-instantiate` not found").stderr_has("apt-get install nix-bin");
    assert_eq!(run.stdout, "", "no path is printed when it was not realised");
}

/// A folder with a stand-in `nix-instantiate` (a shell script) for the failures real Nix cannot
/// be made to produce on demand.
fn stand_in_nix(script: &str) -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("nix-instantiate");
    std::fs::write(&p, format!("#!/bin/sh\ncat >/dev/null\n{script}\n")).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

#[test]
fn realise_reports_nix_failures_with_argv_and_stderr_and_a_path_mismatch_naming_both() {
    let failing = stand_in_nix("echo 'warning: first line' >&2\necho 'error: store is on fire' >&2\nexit 7");
    let base = gf().root(&repo_root()).envs(Vals::plain().gf_env()).args(["backend", "attic", "--nix", "--realise"]);
    base.clone()
        .env("PATH", format!("{}:/usr/bin:/bin", failing.path().display()))
        .run()
        .code(1)
        .stderr_has("`nix-instantiate --eval --json --read-write-mode --option substituters '' -` failed")
        .stderr_has("error: store is on fire");

    let other = "/nix/store/00000000000000000000000000000000-attic.dev.s3.tfbackend";
    let lying = stand_in_nix(&format!("printf '\"{other}\"'"));
    let run = base.env("PATH", format!("{}:/usr/bin:/bin", lying.path().display())).run();
    run.code(1).stderr_has(&format!("Nix created `{other}` but gf computed `/nix/store/"));
    assert_eq!(run.stdout, "");
}

#[test]
fn flake_nix_and_every_nix_file_parse() {
    let mut files = vec![repo_root().join("flake.nix")];
    for entry in std::fs::read_dir(repo_root().join("nix")).unwrap() {
        files.push(entry.unwrap().path());
    }
    assert!(files.len() >= 8, "{files:?}");
    for f in files {
        let mut cmd = nix_cmd("nix-instantiate");
        cmd.arg("--parse").arg(&f).stdout(Stdio::null());
        run_nix(cmd).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
    }
}

#[test]
fn flake_lock_pins_nixpkgs_by_rev_and_nar_hash() {
    let lock: Value = serde_json::from_str(&std::fs::read_to_string(repo_root().join("flake.lock")).unwrap()).unwrap();
    let root = lock["root"].as_str().unwrap();
    let node = lock["nodes"][root]["inputs"]["nixpkgs"].as_str().unwrap();
    let locked = &lock["nodes"][node]["locked"];
    assert_eq!(locked["type"], "github");
    assert_eq!(locked["owner"], "NixOS");
    assert_eq!(locked["repo"], "nixpkgs");
    assert_eq!(locked["rev"], NIXPKGS_REV);
    assert_eq!(locked["narHash"], NIXPKGS_NAR_HASH);
    assert_eq!(locked["lastModified"], NIXPKGS_LAST_MODIFIED);
    assert_eq!(lock["nodes"][node]["original"]["ref"], "nixos-25.11");

    // Nix itself reads the lock as up to date for flake.nix's inputs (offline, no re-locking).
    let flake = flake_copy();
    let mut cmd = nix_cmd("nix");
    cmd.args(["--extra-experimental-features", "nix-command flakes", "flake", "metadata", "--json", "--offline"]);
    cmd.args(["--no-update-lock-file", "--no-write-lock-file"]).arg(flake_ref(flake.path(), ""));
    let meta: Value = serde_json::from_str(&run_nix(cmd).unwrap()).unwrap();
    let nixpkgs = &meta["locks"]["nodes"]["nixpkgs"]["locked"];
    assert_eq!(nixpkgs["rev"], NIXPKGS_REV);
    assert_eq!(nixpkgs["narHash"], NIXPKGS_NAR_HASH);
}

/// The flake's files (flake.nix, flake.lock, nix/, stacks/) in a temporary folder: what a
/// `path:` flake reference copies to the store (not the whole work tree with `target/`).
fn flake_copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for f in ["flake.nix", "flake.lock"] {
        std::fs::copy(repo_root().join(f), dir.path().join(f)).unwrap();
    }
    copy_dir(&repo_root().join("nix"), &dir.path().join("nix"));
    // Only the sources of stacks/: no rendered backend files or `.terraform/` from local runs.
    for entry in walk(&repo_root().join("stacks")) {
        let rel = entry.strip_prefix(repo_root()).unwrap();
        let ext = entry.extension().and_then(|e| e.to_str());
        if matches!(ext, Some("json" | "tf")) && !rel.to_string_lossy().contains("/.") {
            let dest = dir.path().join(rel);
            std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
            std::fs::copy(&entry, dest).unwrap();
        }
    }
    dir
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() { out.extend(walk(&p)) } else { out.push(p) }
    }
    out
}

fn flake_ref(dir: &Path, attr: &str) -> String {
    format!("path:{}{attr}", dir.display())
}

/// `nix eval --json --offline path:DIR#ATTR --apply FN`: the flake as Nix 2.8 evaluates it, with
/// its real flake.lock; works for every output that does not force nixpkgs.
fn flake_eval(dir: &Path, attr: &str, apply: &str) -> Value {
    let mut cmd = nix_cmd("nix");
    cmd.args(["--extra-experimental-features", "nix-command flakes", "eval", "--json", "--offline"]);
    cmd.args(["--no-update-lock-file", "--no-write-lock-file"]).arg(flake_ref(dir, attr)).args(["--apply", apply]);
    serde_json::from_str(&run_nix(cmd).unwrap_or_else(|e| panic!("nix eval {attr}: {e}"))).unwrap()
}

#[test]
fn flake_input_less_outputs_evaluate_through_nix_flakes() {
    let flake = flake_copy();
    let v = Vals::plain();
    let lib = flake_eval(
        flake.path(),
        "#lib",
        &format!(
            "lib: {{ inherit (lib) stacks environments systems providers; backends = lib.backends {{ endpoint = {}; bucket = {}; }}; }}",
            gf::nix::nix_string(&v.endpoint),
            gf::nix::nix_string(&v.bucket)
        ),
    );
    assert_eq!(lib["stacks"], json!(["arc-runners", "attic", "gitlab-runners", "runner-dashboard"]));
    assert_eq!(lib["environments"], json!(["dev"]));
    assert_eq!(lib["systems"], json!(["x86_64-linux", "aarch64-linux", "x86_64-darwin", "aarch64-darwin"]));
    assert_eq!(lib["providers"], serde_json::to_value(declared_providers(&repo_root())).unwrap());
    for stack in ["arc-runners", "attic", "gitlab-runners", "runner-dashboard"] {
        let base = gf().root(&repo_root()).envs(v.gf_env()).args(["backend", stack]);
        assert_eq!(lib["backends"]["dev"][stack]["text"].as_str(), Some(base.run().code(0).stdout.as_str()));
        assert_eq!(lib["backends"]["dev"][stack]["path"].as_str(), Some(base.arg("--nix").run().code(0).stdout.trim()));
    }

    // The outputs' shape: every attribute name, per system, without forcing nixpkgs.
    for system in ["x86_64-linux", "aarch64-linux"] {
        let names = |out: &str| flake_eval(flake.path(), &format!("#{out}.{system}"), "builtins.attrNames");
        assert_eq!(names("packages"), json!(["default", "gf", "tofu"]));
        assert_eq!(names("apps"), json!(["default", "gf"]));
        assert_eq!(names("devShells"), json!(["default"]));
        assert_eq!(
            names("checks"),
            json!([
                "backends-parity",
                "cargo-clippy",
                "cargo-fmt",
                "gf",
                "gf-check",
                "tofu-fmt",
                "tofu-providers",
                "tofu-validate-arc-runners",
                "tofu-validate-attic",
                "tofu-validate-gitlab-runners",
                "tofu-validate-runner-dashboard"
            ])
        );
    }
    // The top level, through flake.nix's `outputs` with a stand-in `nixpkgs` that must not be touched.
    let top = eval_ok(
        &format!(
            "let flake = import {}; out = flake.outputs {{ self = {{ outPath = \"{}\"; }}; nixpkgs = throw \"nixpkgs forced\"; }}; \
             in {{ inherit (flake) description; url = flake.inputs.nixpkgs.url; outputs = builtins.attrNames out; \
             formatter = builtins.attrNames out.formatter; }}",
            nix_file("flake.nix"),
            repo_root().display()
        ),
        &[],
    );
    assert_eq!(top["outputs"], json!(["apps", "checks", "devShells", "formatter", "lib", "packages"]));
    assert_eq!(top["url"], "github:NixOS/nixpkgs/nixos-25.11");
    assert_eq!(top["formatter"], json!(["aarch64-darwin", "aarch64-linux", "x86_64-darwin", "x86_64-linux"]));
}

/// The provider set as gf reads it (hcl-edit, src/providers.rs): source -> constraint.
fn declared_providers(root: &Path) -> BTreeMap<String, String> {
    let (set, findings) = gf::providers::provider_set(root);
    assert!(findings.is_empty(), "{findings:?}");
    set
}

/// `nix/providers.nix` of `root`: { set, problems, count }.
fn nix_providers(root: &Path) -> Value {
    eval_ok(&format!("import {} {{ root = {}; }}", nix_file("nix/providers.nix"), root.display()), &[])
}

#[test]
fn nix_and_gf_read_the_same_provider_set_from_the_stacks() {
    let declared = declared_providers(&repo_root());
    assert_eq!(
        declared,
        BTreeMap::from([
            ("hashicorp/helm".to_string(), "~> 3.0".to_string()),
            ("hashicorp/kubernetes".to_string(), "~> 2.38".to_string()),
            ("hashicorp/random".to_string(), "~> 3.7".to_string()),
        ])
    );
    let nix = nix_providers(&repo_root());
    assert_eq!(
        nix["set"],
        serde_json::to_value(&declared).unwrap(),
        "nix/providers.nix reads the stacks as hcl-edit does"
    );
    assert_eq!(nix["problems"], json!([]));
}

/// A repository whose stacks hide providers in every way a regex gets wrong: commented out
/// (`#`, `//`, `/* */`), inside a heredoc (with an unbalanced quote), behind a `#` in a string,
/// in `.terraform/`, `version` before `source`, and one provider that only a local module declares.
fn tricky_providers_repo() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let w = |rel: &str, text: &str| {
        let p = dir.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    };
    w(
        "stacks/a/versions.tf",
        r#"terraform {
  backend "s3" {}
  required_providers {
    # civo = { source = "civo/civo", version = "~> 1.0" }
    // aws = { source = "hashicorp/aws", version = "~> 6.0" }
    helm = {
      version = "~> 3.0" # a trailing comment with source = "x/y"
      source  = "hashicorp/helm"
    }
  }
}

/*
terraform {
  required_providers {
    google = { source = "hashicorp/google", version = "~> 7.0" }
  }
}
*/

locals {
  url = "http://example.com/#fragment"
  doc = <<-EOT
    a quote " that never closes, and
    required_providers {
      fake = { source = "evil/fake", version = "~> 9.9" }
    }
  EOT
}

module "values" {
  source = "../modules/m"
}
"#,
    );
    w(
        "stacks/modules/m/main.tf",
        "terraform {\n  required_providers {\n    random = { source = \"hashicorp/random\", version = \"~> 3.7\" }\n  }\n}\n",
    );
    w(
        "stacks/a/.terraform/modules/old/main.tf",
        "terraform {\n  required_providers {\n    null = { source = \"hashicorp/null\", version = \"~> 3.0\" }\n  }\n}\n",
    );
    dir
}

#[test]
fn nix_and_gf_agree_on_comments_heredocs_and_module_only_providers() {
    let repo = tricky_providers_repo();
    let want = BTreeMap::from([
        ("hashicorp/helm".to_string(), "~> 3.0".to_string()),
        ("hashicorp/random".to_string(), "~> 3.7".to_string()),
    ]);
    assert_eq!(declared_providers(repo.path()), want, "gf's reading");
    let nix = nix_providers(repo.path());
    assert_eq!(nix["set"], serde_json::to_value(&want).unwrap(), "Nix's reading: {nix}");
    assert_eq!(nix["problems"], json!([]));

    // One source with two constraints: both readings report it.
    let p = repo.path().join("stacks/modules/m/main.tf");
    let text = std::fs::read_to_string(&p).unwrap().replace("\"hashicorp/random\"", "\"hashicorp/helm\"");
    std::fs::write(&p, text.replace("~> 3.7", "~> 2.17")).unwrap();
    let (_, findings) = gf::providers::provider_set(repo.path());
    assert!(findings.iter().any(|f| f.code == "provider-conflict"), "{findings:?}");
    let nix = nix_providers(repo.path());
    let problems = nix["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 1, "{nix}");
    let problem = problems[0].as_str().unwrap();
    assert!(problem.contains("`hashicorp/helm` is constrained to `~> 2.17` here but to `~> 3.0`"), "{nix}");
}

/// `nix/constraints.nix`'s `satisfies version constraint`.
fn satisfies(version: &str, constraint: &str) -> bool {
    let expr = format!(
        "(import {}).satisfies {} {}",
        nix_file("nix/constraints.nix"),
        gf::nix::nix_string(version),
        gf::nix::nix_string(constraint)
    );
    eval_ok(&expr, &[]).as_bool().unwrap()
}

#[test]
fn constraints_hold_as_opentofu_defines_them() {
    for (v, c, want) in [
        ("3.0.2", "~> 3.0", true),
        ("3.1.0", "~> 3.0", true),
        ("4.0.0", "~> 3.0", false),
        ("2.9.0", "~> 3.0", false),
        ("2.38.0", "~> 2.38", true),
        ("2.40.1", "~> 2.38", true),
        ("3.0.0", "~> 2.38", false),
        ("2.38.4", "~> 2.38.1", true),
        ("2.39.0", "~> 2.38.1", false),
        ("2.38.0", "~> 2.38.1", false),
        ("3.7.2", ">= 3.7, < 4.0", true),
        ("4.0.0", ">= 3.7, < 4.0", false),
        ("3.7.2", "= 3.7.2", true),
        ("3.7.2", "3.7.2", true),
        ("3.7.3", "3.7.2", false),
        ("3.7.2", "!= 3.7.2", false),
        ("3.7.2", "~> 3.x", false),
        ("3.7.2", "latest", false),
    ] {
        assert_eq!(satisfies(v, c), want, "{v} against `{c}`");
        // gf parses exactly the constraints Nix does.
        let parsed = gf::providers::parse_constraint(c).is_ok();
        assert_eq!(parsed, !matches!(c, "~> 3.x" | "latest"), "gf parsing `{c}`");
    }
}

/// `nix/provider-check.nix` and `nix/tofu.nix` against a stand-in for nixpkgs' provider set
/// (nixpkgs itself cannot be fetched here), with the repository's provider set.
fn provider_check(versions: &str) -> Value {
    eval_ok(
        &format!(
            "let p = {{ {versions} hashicorp_aws = {{ name = \"aws\"; version = \"6.0.0\"; }}; }}; \
                 providers = import {} {{}}; \
                 opentofu = {{ withPlugins = f: map (x: x.name) (f p); }}; \
             in {{ check = import {} {{ inherit providers; available = p; }}; \
                   tofu = import {} {{ inherit opentofu providers; }}; }}",
            nix_file("nix/providers.nix"),
            nix_file("nix/provider-check.nix"),
            nix_file("nix/tofu.nix"),
        ),
        &[],
    )
}

const NIXPKGS_LIKE: &str = "hashicorp_helm = { name = \"helm\"; version = \"3.0.2\"; }; \
                            hashicorp_kubernetes = { name = \"kubernetes\"; version = \"2.38.0\"; }; \
                            hashicorp_random = { name = \"random\"; version = \"3.7.2\"; };";

#[test]
fn the_flake_tofu_carries_the_declared_providers_and_one_check_judges_their_versions() {
    let v = provider_check(NIXPKGS_LIKE);
    assert_eq!(v["tofu"], json!(["helm", "kubernetes", "random"]), "exactly the declared providers, by nixpkgs name");
    assert_eq!(v["check"]["ok"], true, "{v}");
    assert_eq!(v["check"]["versions"]["hashicorp/helm"], "3.0.2");

    // A newer minor satisfies `~>`; a new major does not: the check fails naming all three facts,
    // and the tofu package still evaluates (it is the check's business, not evaluation's).
    let v = provider_check(&NIXPKGS_LIKE.replace("3.0.2", "3.1.4"));
    assert_eq!(v["check"]["ok"], true, "{v}");
    let v = provider_check(&NIXPKGS_LIKE.replace("3.0.2", "4.0.0"));
    assert_eq!(v["check"]["ok"], false);
    assert_eq!(
        v["check"]["messages"],
        json!([
            "the stacks require `hashicorp/helm` ~> 3.0 but the pinned nixpkgs carries 4.0.0: change the constraint in the stacks' `required_providers` or update flake.lock"
        ])
    );
    assert_eq!(v["tofu"], json!(["helm", "kubernetes", "random"]));

    // A provider nixpkgs lacks: left out of tofu, reported by the check.
    let v = provider_check(&NIXPKGS_LIKE.replace("hashicorp_random", "hashicorp_randomx"));
    assert_eq!(v["tofu"], json!(["helm", "kubernetes"]));
    let msg = v["check"]["messages"][0].as_str().unwrap();
    assert!(msg.contains("nixpkgs has no provider `hashicorp_random`"), "{v}");
}

/// The tofu the tests use (scripts/test.sh sets `GF_TEST_TOFU`), else `tofu` or `terraform` on
/// `PATH`, as an absolute path.
fn test_tofu() -> PathBuf {
    if let Ok(t) = std::env::var("GF_TEST_TOFU") {
        return PathBuf::from(t);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    ["tofu", "terraform"]
        .iter()
        .find_map(|name| std::env::split_paths(&path).map(|d| d.join(name)).find(|p| p.is_file()))
        .expect("no tofu or terraform: install OpenTofu or Terraform >= 1.10, or set GF_TEST_TOFU")
}

/// `nix/checks.nix` evaluated by real Nix (writing the backend files to the store) with a
/// stand-in for the few nixpkgs functions it uses: `runCommand` returns the script instead of a
/// derivation, and `lib`'s helpers are re-implemented with builtins.
fn check_scripts(available: &str) -> Value {
    let root = repo_root().display().to_string();
    let expr = format!(
        r#"let
          lib = {{
            escapeShellArg = s: "'" + builtins.replaceStrings [ "'" ] [ "'\\''" ] s + "'";
            concatStrings = builtins.concatStringsSep "";
            concatMapStrings = f: l: builtins.concatStringsSep "" (map f l);
            mapAttrsToList = f: a: map (n: f n a.${{n}}) (builtins.attrNames a);
          }};
          pkgs = {{
            inherit lib;
            runCommand = name: env: script: {{ inherit name script; }} // env;
            cargo = "cargo"; rustfmt = "rustfmt"; clippy = "clippy";
          }};
        in import {checks} {{
          inherit pkgs;
          self = {{ outPath = "{root}"; }};
          gfLib = import {lib} {{ root = "{root}"; }};
          # A derivation serialises as its path; `overrideAttrs` gives the overriding attributes.
          gf = {{ outPath = "gf-package"; overrideAttrs = f: f {{ nativeBuildInputs = [ "rust-hooks" ]; }}; }};
          tofu = "tofu-package";
          providerCheck = import {check} {{
            providers = import {providers} {{ root = "{root}"; }};
            available = {{ {available} }};
          }};
        }}"#,
        checks = nix_file("nix/checks.nix"),
        lib = nix_file("nix/lib.nix"),
        check = nix_file("nix/provider-check.nix"),
        providers = nix_file("nix/providers.nix"),
    );
    let mut cmd = nix_cmd("nix-instantiate");
    cmd.args(["--eval", "--strict", "--json", "--read-write-mode", "-E", &expr]);
    serde_json::from_str(&run_nix(cmd).unwrap_or_else(|e| panic!("checks.nix: {e}"))).unwrap()
}

/// Run one check's script as its builder would (bash, errexit), with `gf` and `tools` (name,
/// program) on PATH.
fn run_check_script(script: &str, tools: &[(&str, PathBuf)]) -> (bool, String) {
    use std::os::unix::fs::symlink;
    let tmp = tempfile::tempdir().unwrap();
    let bin = tmp.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    symlink(env!("CARGO_BIN_EXE_gf"), bin.join("gf")).unwrap();
    for (name, program) in tools {
        symlink(program, bin.join(name)).unwrap();
    }
    let out = tmp.path().join("out");
    let run = Command::new("bash")
        .args(["-euo", "pipefail", "-c", script])
        .current_dir(tmp.path())
        .env_clear()
        .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
        .env("HOME", tmp.path())
        .env("TMPDIR", tmp.path())
        .env("out", &out)
        .output()
        .unwrap();
    let log = format!("{}{}", String::from_utf8_lossy(&run.stdout), String::from_utf8_lossy(&run.stderr));
    (run.status.success() && out.exists(), log + &std::fs::read_to_string(&out).unwrap_or_default())
}

#[test]
fn flake_check_scripts_pass_here_with_real_gf_nix_and_tofu() {
    let checks = check_scripts(NIXPKGS_LIKE);
    let names: Vec<&String> = checks.as_object().unwrap().keys().collect();
    assert_eq!(names.len(), 11, "{names:?}");
    assert_eq!(checks["gf"], "gf-package", "the package check is the package itself");

    // backends-parity: every stack × environment, two sets of values, against files Nix wrote.
    let (ok, log) = run_check_script(checks["backends-parity"]["script"].as_str().unwrap(), &[]);
    assert!(ok, "backends-parity failed:\n{log}");
    assert_eq!(log.matches("ok ").count(), 8, "{log}");

    let (ok, log) = run_check_script(checks["gf-check"]["script"].as_str().unwrap(), &[]);
    assert!(ok, "gf-check failed:\n{log}");

    let (ok, log) = run_check_script(checks["tofu-fmt"]["script"].as_str().unwrap(), &[("tofu", test_tofu())]);
    assert!(ok, "tofu-fmt failed:\n{log}");

    // tofu-validate needs the pinned providers (nixpkgs): here only its script is checked.
    let validate = checks["tofu-validate-attic"]["script"].as_str().unwrap();
    assert!(
        validate.contains("/stacks stacks")
            && validate.contains("cd stacks/attic")
            && validate.contains("tofu init -backend=false"),
        "{validate}"
    );

    // tofu-providers: passes when nixpkgs' builds satisfy the constraints, fails naming the
    // provider, the constraint and the version when one does not.
    let (ok, log) = run_check_script(checks["tofu-providers"]["script"].as_str().unwrap(), &[]);
    assert!(ok, "tofu-providers failed:\n{log}");
    let failing = check_scripts(&NIXPKGS_LIKE.replace("2.38.0", "3.0.0"));
    let (ok, log) = run_check_script(failing["tofu-providers"]["script"].as_str().unwrap(), &[]);
    assert!(!ok, "a provider outside its constraint passed tofu-providers");
    assert!(
        log.contains("gf: the stacks require `hashicorp/kubernetes` ~> 2.38 but the pinned nixpkgs carries 3.0.0"),
        "{log}"
    );
    // Every other check still evaluates: the mismatch is that one check's failure only.
    assert_eq!(failing.as_object().unwrap().len(), 11);

    // A check that can fail does: a backend file that differs from gf's bytes fails the parity script.
    let broken = checks["backends-parity"]["script"].as_str().unwrap().replacen(
        "cmp rendered",
        "echo x >> rendered; cmp rendered",
        1,
    );
    assert!(!run_check_script(&broken, &[]).0, "a differing file must fail backends-parity");

    // cargo-fmt and cargo-clippy run scripts/test.sh's own command lines (clippy offline, on the
    // package's vendored dependencies).
    let test_sh = std::fs::read_to_string(repo_root().join("scripts/test.sh")).unwrap();
    let line = |text: &str, start: &str| -> String {
        text.lines()
            .map(str::trim)
            .find(|l| l.starts_with(start))
            .unwrap_or_else(|| panic!("no `{start}` in {text}"))
            .into()
    };
    let fmt = checks["cargo-fmt"]["script"].as_str().unwrap();
    assert_eq!(line(fmt, "cargo fmt"), line(&test_sh, "cargo fmt"));
    let clippy = &checks["cargo-clippy"];
    let build = clippy["buildPhase"].as_str().unwrap();
    assert_eq!(line(build, "cargo clippy").replace(" --offline", ""), line(&test_sh, "cargo clippy"));
    assert!(line(build, "cargo clippy").contains(" --offline"), "{build}");
    assert_eq!(clippy["doCheck"], false);
    assert_eq!(clippy["nativeBuildInputs"], json!(["rust-hooks", "clippy"]), "the package's hooks are kept");

    // cargo-fmt passes on this tree with the real rustfmt, and fails on a badly formatted copy.
    let sysroot = Command::new("rustc").args(["--print", "sysroot"]).output().expect("rustc");
    let bin = PathBuf::from(String::from_utf8(sysroot.stdout).unwrap().trim()).join("bin");
    let tools: Vec<(&str, PathBuf)> = ["cargo", "cargo-fmt", "rustfmt", "rustc"].map(|t| (t, bin.join(t))).into();
    let (ok, log) = run_check_script(fmt, &tools);
    assert!(ok, "cargo-fmt failed:\n{log}");
    let copy = tempfile::tempdir().unwrap();
    for f in ["Cargo.toml", "Cargo.lock", "rustfmt.toml", "build.rs"] {
        std::fs::copy(repo_root().join(f), copy.path().join(f)).unwrap();
    }
    for d in ["build", "src", "tests"] {
        copy_dir(&repo_root().join(d), &copy.path().join(d));
    }
    let lib_rs = copy.path().join("src/lib.rs");
    let text = std::fs::read_to_string(&lib_rs).unwrap() + "pub   fn  badly_formatted( ) { }\n";
    std::fs::write(&lib_rs, text).unwrap();
    let (ok, log) =
        run_check_script(&fmt.replace(&repo_root().display().to_string(), &copy.path().display().to_string()), &tools);
    assert!(!ok && log.contains("badly_formatted"), "a badly formatted tree must fail cargo-fmt:\n{log}");
}

/// `nix/package.nix` with stand-ins for `lib` and `rustPlatform` (nixpkgs cannot be fetched
/// here): the attributes it gives `buildRustPackage`.
fn package_attrs(git_rev: Option<&str>) -> Value {
    let expr = format!(
        r#"let
          lib = {{ fileset = {{ toSource = {{ root, fileset }}: fileset; unions = map toString; }}; licenses.mit = "mit"; }};
          p = import {package} {{
            inherit lib;
            rustPlatform.buildRustPackage = attrs: attrs;
            tofu = "/tofu";
            git = "git-package";
            gitRev = {rev};
          }};
        in {{ inherit (p) pname env nativeCheckInputs __darwinAllowLocalNetworking checkFlags src; }}"#,
        package = nix_file("nix/package.nix"),
        rev = git_rev.map_or_else(|| "null".to_string(), gf::nix::nix_string),
    );
    eval_ok(&expr, &[])
}

/// `nix/per-system.nix` with a stand-in `pkgs`: what it passes to the package and the devShell.
fn per_system(self_attrs: &str) -> Value {
    let root = repo_root().display().to_string();
    let expr = format!(
        r#"let
          pkgs = {{
            callPackage = path: args: args;
            opentofu.withPlugins = f: "tofu-package";
            mkShell = attrs: attrs;
            python3.withPackages = f: "python3-env";
            rustPlatform.rustLibSrc = "/rust-lib-src";
            cargo = "cargo"; rustc = "rustc"; clippy = "clippy"; rustfmt = "rustfmt"; rust-analyzer = "rust-analyzer";
            kubectl = "kubectl"; kubernetes-helm = "kubernetes-helm"; actionlint = "actionlint";
            attic-client = "attic-client"; nixfmt = "nixfmt"; nixfmt-tree = "nixfmt-tree";
          }};
          per = import {per} {{
            inherit pkgs;
            self = {{ outPath = "{root}"; }} // {self_attrs};
            gfLib = import {lib} {{ root = "{root}"; }};
          }};
        in {{ gitRev = per.gf.gitRev; tofu = per.gf.tofu; devShell = per.devShell; }}"#,
        per = nix_file("nix/per-system.nix"),
        lib = nix_file("nix/lib.nix"),
    );
    eval_ok(&expr, &[])
}

#[test]
fn the_package_and_dev_shell_have_their_shape() {
    let p = package_attrs(Some("1a2b3c4"));
    assert_eq!(p["pname"], "gf");
    assert_eq!(p["env"], json!({ "GF_BAKED_TOFU": "/tofu/bin/tofu", "GF_GIT_REV": "1a2b3c4" }));
    assert_eq!(
        package_attrs(None)["env"],
        json!({ "GF_BAKED_TOFU": "/tofu/bin/tofu" }),
        "no revision: build.rs says `unknown`"
    );
    assert_eq!(p["__darwinAllowLocalNetworking"], true);
    assert_eq!(p["nativeCheckInputs"], json!(["git-package"]));
    // The source holds what cargo builds from, build.rs and its module included.
    let src: Vec<String> = serde_json::from_value(p["src"].clone()).unwrap();
    let root = repo_root().canonicalize().unwrap();
    let rel: Vec<String> =
        src.iter().map(|f| Path::new(f).strip_prefix(&root).unwrap().display().to_string()).collect();
    assert_eq!(rel, ["Cargo.toml", "Cargo.lock", "rustfmt.toml", "build.rs", "build", "src", "stacks", "tests"]);
    for f in &src {
        assert!(Path::new(f).exists(), "{f}");
    }

    // The flake's revision reaches the package: `shortRev`, else `dirtyShortRev`, else none.
    assert_eq!(per_system(r#"{ shortRev = "1a2b3c4"; dirtyShortRev = "x"; }"#)["gitRev"], "1a2b3c4");
    assert_eq!(per_system(r#"{ dirtyShortRev = "1a2b3c4-dirty"; }"#)["gitRev"], "1a2b3c4-dirty");
    let v = per_system("{ }");
    assert!(v["gitRev"].is_null(), "{v}");
    assert_eq!(v["tofu"], "tofu-package");
    let shell = &v["devShell"];
    let packages: Vec<&str> = shell["packages"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    for want in
        ["tofu-package", "kubectl", "kubernetes-helm", "actionlint", "rust-analyzer", "cargo", "clippy", "rustfmt"]
    {
        assert!(packages.contains(&want), "the devShell lacks {want}: {packages:?}");
    }
    assert_eq!(shell["RUST_SRC_PATH"], "/rust-lib-src");
}

/// Test names an executable lists (`--list --format terse`); `None` when it is not a test harness.
fn listed_tests(exe: &Path) -> Option<Vec<String>> {
    let out = Command::new(exe)
        .args(["--list", "--format", "terse"])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    out.status.success().then(|| {
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.strip_suffix(": test"))
            .map(String::from)
            .collect()
    })
}

/// The unit tests of the gf library and binary: every `gf-<hash>` test executable cargo built
/// into the `deps` folder of this test binary.
fn unit_test_names() -> BTreeSet<String> {
    use std::os::unix::fs::PermissionsExt as _;
    let exe = std::env::current_exe().unwrap();
    let deps = exe.parent().unwrap();
    let mut names = BTreeSet::new();
    for entry in std::fs::read_dir(deps).unwrap() {
        let p = entry.unwrap().path();
        let file = p.file_name().unwrap().to_string_lossy().into_owned();
        let executable = p.metadata().is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0);
        if file.starts_with("gf-") && p.extension().is_none() && executable {
            // The gf binary itself refuses `--list` (a usage error) and is passed over.
            names.extend(listed_tests(&p).unwrap_or_default());
        }
    }
    assert!(
        names.iter().any(|n| n.contains("::tests::")),
        "no unit-test executable of gf in {}: build them first (`cargo test --all-targets`, as scripts/test.sh does)",
        deps.display()
    );
    names
}

/// tests/it modules whose every test needs a Nix store, moto, tofu or the repository beyond the
/// package's source (`.github/`, `scripts/`).
const NEED_TOOLS: [&str; 6] = ["cache", "deploy", "drift", "gates", "migrate", "workflows"];
/// tests/it modules none of whose tests needs them (`affected` needs git, which the sandbox has).
const TOOL_FREE: [&str; 3] = ["affected", "contract", "lane"];
/// The tests of the other modules that need none of them: they run in the sandbox. A test of those
/// modules is either here or in nix/sandbox-skips.nix.
const MIXED_BUT_TOOL_FREE: &[&str] = &[
    "audit::a_copied_stack_folder_is_a_finding_not_a_panic",
    "audit::a_usage_error_with_json_still_prints_one_document",
    "audit::a_var_file_that_is_not_utf8_is_present_and_refused",
    "audit::destroying_a_stack_names_the_stacks_that_depend_on_it_and_stay",
    "conventions::completions_man_page_and_version",
    "conventions::each_subcommand_takes_only_its_own_flags",
    "conventions::unknown_stacks_list_the_known_ones_and_env_is_chosen_as_sh_users_expect",
    "hygiene::a_bucket_name_outside_s3s_rules_is_refused_before_anything_renders_or_runs",
    "hygiene::a_duplicate_dependency_is_a_warning_and_counted_once",
    "hygiene::a_kube_context_with_a_control_character_is_an_error",
    "hygiene::a_stack_folder_that_resolves_outside_the_repository_is_refused_not_followed",
    "hygiene::a_state_key_that_is_a_lock_object_is_an_error_naming_the_other_stack",
    "hygiene::environment_names_outside_the_pattern_are_errors_and_never_name_a_folder",
    "hygiene::jobs_0_is_a_usage_error",
    "hygiene::state_keys_with_hidden_characters_or_over_s3s_limit_are_errors_shown_escaped",
    "hygiene::the_build_revision_comes_from_git_and_its_ref_files_are_watched",
    "hygiene::user_info_in_the_attic_endpoint_is_refused_from_every_source",
    "hygiene::user_info_in_the_s3_endpoint_is_refused_on_every_path_and_never_shown",
    "hygiene::version_names_the_git_revision_gf_was_built_from",
    "hygiene::without_git_the_build_revision_falls_back_to_gf_git_rev_then_unknown",
    "inputs::check_refuses_a_secret_in_the_committed_var_file_auto_loaded_var_files_and_cluster_settings",
    "lifecycle::a_stack_whose_sources_fail_check_is_refused_before_anything_runs",
    "nix::realise_reports_nix_failures_with_argv_and_stderr_and_a_path_mismatch_naming_both",
    "nix::without_nix_the_path_still_prints_and_realise_names_nix_bin",
    "stacks::a_lane_stack_whose_drain_list_disagrees_is_refused_by_the_lifecycle_too",
    "stacks::check_rules_follow_local_modules_and_ignore_prose",
    "stacks::dev_tfvars_sets_every_required_non_secret_input_of_every_stack",
    "stacks::provider_blocks_carry_no_cluster_settings",
    "stacks::provider_rules_refuse_pins_and_two_constraints_for_one_source",
    "stacks::scale_set_rules_name_the_file_and_the_set",
    "stacks::the_real_stacks_pass_check_with_the_lane_drain_equal_to_the_shared_sets",
];

#[test]
fn the_sandbox_skips_only_tests_that_need_a_store_moto_or_tofu() {
    let flags: Vec<String> = serde_json::from_value(package_attrs(None)["checkFlags"].clone()).unwrap();
    // libtest with `--exact`: a test is skipped when its whole name equals a `--skip` filter.
    assert_eq!(flags.first().map(String::as_str), Some("--exact"), "{flags:?}");
    let skips: Vec<&str> =
        flags[1..].iter().map(|f| f.strip_prefix("--skip=").unwrap_or_else(|| panic!("{f}"))).collect();
    let skipped: BTreeSet<&str> = skips.iter().copied().collect();
    assert_eq!(skipped.len(), skips.len(), "a name is listed twice");

    let unit = unit_test_names();
    let hidden: Vec<&String> = unit.iter().filter(|n| skipped.contains(n.as_str())).collect();
    assert!(hidden.is_empty(), "the sandbox skips unit tests: {hidden:?}");

    let it: BTreeSet<String> = listed_tests(&std::env::current_exe().unwrap()).unwrap().into_iter().collect();
    for s in &skipped {
        assert!(it.contains(*s), "nix/sandbox-skips.nix names `{s}`, which is no test of tests/it");
    }
    for t in MIXED_BUT_TOOL_FREE {
        assert!(it.contains(*t), "`{t}` is no test of tests/it");
    }
    for name in &it {
        let module = name.split("::").next().unwrap();
        let skip = skipped.contains(name.as_str());
        if NEED_TOOLS.contains(&module) {
            assert!(skip, "`{name}` needs a Nix store, moto or tofu: add it to nix/sandbox-skips.nix");
        } else if TOOL_FREE.contains(&module) {
            assert!(!skip, "`{name}` needs no tool the sandbox lacks, yet nix/sandbox-skips.nix skips it");
        } else {
            let free = MIXED_BUT_TOOL_FREE.contains(&name.as_str());
            assert!(
                skip != free,
                "`{name}`: {}",
                if skip {
                    "listed both as tool-free and in nix/sandbox-skips.nix"
                } else {
                    "a new test: add it to nix/sandbox-skips.nix if it needs a Nix store, moto or tofu, else to MIXED_BUT_TOOL_FREE"
                }
            );
        }
    }
    assert!(it.len() - skipped.len() >= MIXED_BUT_TOOL_FREE.len(), "the sandbox runs integration tests too");
}
