//! Issue 11: stack inputs per environment and the cluster gf alone chooses, with real terraform
//! against moto (the `inputs` fixture: a required number from `dev.tfvars`, a required sensitive
//! variable from `TF_VAR_api_token`, a local-exec recording the cluster settings tofu gets), and
//! the cluster identity against the fake Kubernetes API.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use crate::fake_kube::{self, FakeKube, NS};
use crate::harness::{Gf, Repo};
use crate::lifecycle::{ACCESS, SECRET, tofu};
use crate::moto::Moto;

/// The sensitive input's value: never in gf's output, dry run, `.gf/` metadata or logs.
const TOKEN: &str = "gf-sentinel-api-token-93e1";
/// A `kube-system` UID that is not the fake cluster's.
const OTHER_UID: &str = "00000000-0000-4000-8000-000000000000";

/// A kubeconfig file with the `honey` context (or `context`), pointing at `server`.
fn kubeconfig(repo: &Repo, rel: &str, context: &str, server: &str) -> PathBuf {
    repo.write(
        rel,
        &format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: {server}\nusers:\n- name: u\n  user:\n    token: {}\ncontexts:\n- name: {context}\n  context:\n    cluster: c\n    user: u\ncurrent-context: {context}\n",
            fake_kube::TOKEN
        ),
    );
    repo.path().join(rel)
}

/// gf against `repo` and `moto`, with a kubeconfig, the context, debug logs and the inherited
/// cluster variables gf must not pass on.
fn gf_for(repo: &Repo, moto: &Moto) -> Gf {
    let kc = kubeconfig(repo, "kube/config", "honey", "http://127.0.0.1:9");
    repo.gf()
        .env("KUBE_CONTEXT", "honey")
        .env("KUBECONFIG", kc.display().to_string())
        .env("KUBE_CTX", "elsewhere")
        .env("KUBE_HOST", "https://elsewhere.example:6443")
        .env("GF_TOFU", tofu())
        .env("GF_LOG", "debug")
        .env("CLUSTER_LOG", repo.path().join("cluster.log").display().to_string())
        .envs(moto.env(ACCESS, SECRET))
}

fn with_token(g: Gf) -> Gf {
    g.env("TF_VAR_api_token", TOKEN)
}

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

fn mode(p: &Path) -> u32 {
    std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(p).unwrap().permissions()) & 0o777
}

/// No file under the repository holds a sentinel, except the saved plan (tofu's own file, which
/// necessarily holds the inputs' values: it must be 0600).
fn assert_no_secret_in_files(repo: &Repo) {
    let all = files(repo.path());
    assert!(all.iter().any(|p| p.to_string_lossy().contains("/.gf/")), "expected gf's working files");
    for p in all {
        if p.file_name().is_some_and(|n| n == "plan.tfplan") {
            assert_eq!(mode(&p), 0o600, "{}", p.display());
            continue;
        }
        let bytes = std::fs::read(&p).unwrap();
        for s in [TOKEN, SECRET, ACCESS] {
            assert!(!bytes.windows(s.len()).any(|w| w == s.as_bytes()), "`{s}` found in {}", p.display());
        }
    }
}

fn sha256_hex(p: &Path) -> String {
    gf::backend::hex(&Sha256::digest(std::fs::read(p).unwrap()))
}

fn instances(moto: &Moto, key: &str, resource: &str) -> usize {
    let state: Value = serde_json::from_slice(&moto.get(key).expect("state")).unwrap();
    state["resources"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["name"] == resource)
        .map(|r| r["instances"].as_array().unwrap().len())
        .sum()
}

fn gate<'v>(gates: &'v Value, name: &str) -> &'v Value {
    gates.as_array().unwrap().iter().find(|g| g["gate"] == name).unwrap_or_else(|| panic!("no gate {name}: {gates}"))
}

#[test]
fn inputs_reach_tofu_from_the_var_file_and_the_environment_and_the_secret_stays_out_of_gf() {
    let moto = Moto::start();
    let repo = Repo::from_fixture("inputs");
    let g = with_token(gf_for(&repo, &moto));
    let kube = repo.path().join("kube/config");

    // The dry run lists the var file and each required variable's source, never a value.
    let dry = g.clone().args(["plan", "svc", "--allow-empty-state", "--dry-run"]).run();
    dry.code(0)
        .stdout_has("var file:     stacks/svc/dev.tfvars (present)")
        .stdout_has("replicas   tfvars")
        .stdout_has("api_token  env TF_VAR_api_token (set)")
        .stdout_has("-var-file=dev.tfvars")
        .stdout_has("nothing refuses")
        .output_lacks(TOKEN);
    // Both of `gf drift`'s plans get the var file too (they once ran without it, and the stack's
    // required inputs were missing).
    let drift = g.clone().args(["drift", "svc", "--allow-empty-state", "--dry-run"]).run();
    let plans: Vec<&str> = drift.code(0).stdout.lines().filter(|l| l.contains(" plan -input=false")).collect();
    assert_eq!(plans.len(), 2, "{}", drift.stdout);
    assert!(plans.iter().all(|l| l.ends_with(" -var-file=dev.tfvars")), "{plans:?}");
    let v = g.clone().args(["plan", "svc", "--allow-empty-state", "--dry-run", "--json"]).run().code(0).json();
    let inputs = &v["stacks"][0]["inputs"];
    assert_eq!(inputs["var_file"], "stacks/svc/dev.tfvars");
    assert_eq!(inputs["var_file_present"], true);
    assert_eq!(
        inputs["required"],
        json!([
            { "name": "replicas", "sensitive": false, "from": "tfvars", "source": "tfvars" },
            { "name": "api_token", "sensitive": true, "from": "env", "source": "env TF_VAR_api_token (set)" }
        ])
    );
    assert_eq!(gate(&v["gates"], "inputs")["verdict"], "pass");
    assert!(v["child_env"].as_array().unwrap().contains(&json!("KUBE_CTX")), "{v}");
    assert!(!v.to_string().contains(TOKEN));

    let plan = g.clone().args(["plan", "svc", "--allow-empty-state"]).run();
    plan.code(0).stdout_has("svc: 4 to add").output_lacks(TOKEN);
    let meta: Value = serde_json::from_str(&repo.read(".gf/dev/svc/plan.json")).unwrap();
    assert_eq!(
        meta["var_files"],
        json!([{ "path": "dev.tfvars", "sha256": sha256_hex(&repo.path().join("stacks/svc/dev.tfvars")) }])
    );
    assert_eq!(meta["env_vars"], json!(["TF_VAR_api_token"]), "names of environment-sourced variables");
    assert_no_secret_in_files(&repo);

    let apply = g.clone().args(["apply", "svc"]).run();
    apply.code(0).stdout_has("svc: 4 added").output_lacks(TOKEN).output_has("leaked: [redacted]");
    assert_eq!(instances(&moto, "svc/terraform.tfstate", "replica"), 2, "`replicas = 2` from dev.tfvars");
    // The providers' cluster settings: gf's kubeconfig and the contract's context, not the inherited ones.
    let recorded = repo.read("cluster.log");
    assert_eq!(
        recorded,
        format!("KUBE_CTX=honey\nKUBE_CONFIG_PATH={}\nKUBE_CONFIG_PATHS=\nKUBE_HOST=\n", kube.display())
    );

    // Outputs: the sensitive one is masked unless asked for.
    let out = g.clone().args(["output", "svc"]).run();
    out.code(0).stdout_has("replicas = 2").stdout_has("token = (sensitive)").output_lacks(TOKEN);
    let j = g.clone().args(["output", "svc", "--json"]).run();
    j.code(0).output_lacks(TOKEN);
    let outputs = &j.json()["stacks"][0]["outputs"];
    assert_eq!(outputs["token"]["value"], Value::Null);
    assert_eq!(outputs["token"]["sensitive"], true);
    assert_eq!(outputs["replicas"]["value"], 2);
    g.clone().args(["output", "svc", "--show-sensitive"]).run().code(0).stdout_has(&format!("token = \"{TOKEN}\""));
    repo.gf().args(["plan", "svc", "--show-sensitive"]).run().code(1);

    for r in [&dry, &plan, &apply] {
        r.output_lacks(SECRET);
    }
    assert_no_secret_in_files(&repo);
}

#[test]
fn a_required_input_without_a_source_is_refused_before_tofu_starts() {
    let moto = Moto::start();
    let repo = Repo::from_fixture("inputs");
    let g = gf_for(&repo, &moto);

    let r = g.clone().args(["plan", "svc", "--allow-empty-state"]).run();
    r.code(1)
        .stderr_has("refused (inputs)")
        .stderr_has("`svc` in `dev`: required variable `api_token` (sensitive) has no value")
        .stderr_has("set `TF_VAR_api_token` in gf's environment");
    assert!(!repo.path().join(".gf").exists(), "gf wrote working files (or ran tofu) for a refused run");
    let dry = g.clone().args(["plan", "svc", "--allow-empty-state", "--dry-run", "--json"]).run().code(0).json();
    assert_eq!(dry["first_refusal"]["gate"], "inputs", "{dry}");
    assert_eq!(dry["first_refusal"]["exit"], 1);
    assert_eq!(dry["stacks"][0]["inputs"]["required"][1]["source"], "MISSING");
    g.clone().args(["destroy", "svc", "--yes", "--dry-run"]).run().code(0).stdout_has("api_token  MISSING");

    // Without the var file: the number is missing too, and the file to create is named.
    repo.remove("stacks/svc/dev.tfvars");
    let r = with_token(g.clone()).args(["plan", "svc", "--allow-empty-state"]).run();
    r.code(1)
        .stderr_has("required variable `replicas` has no value: set `replicas = …` in `stacks/svc/dev.tfvars` (it does not exist yet)")
        .output_lacks(TOKEN);
    // A non-sensitive input from the environment is no source: desired state is the repository.
    with_token(g.clone())
        .env("TF_VAR_replicas", "2")
        .args(["plan", "svc", "--allow-empty-state"])
        .run()
        .code(1)
        .stderr_has("`TF_VAR_replicas` is set, but only `sensitive` variables come from the environment");
    // A secret on the command line is refused without being echoed.
    repo.write("stacks/svc/dev.tfvars", "replicas = 2\n");
    let r = g.clone().args(["plan", "svc", "--allow-empty-state", "--", &format!("-var=api_token={TOKEN}")]).run();
    r.code(1).stderr_has("sensitive variable `api_token` is set with `-var`").output_lacks(TOKEN);
    let dry = g.clone().args(["plan", "svc", "--dry-run", "--json", "--", &format!("-var=api_token={TOKEN}")]).run();
    dry.code(0).stdout_has("-var=api_token=(sensitive)").output_lacks(TOKEN);
    assert!(!repo.path().join(".gf").exists());
    assert!(moto.keys().is_empty(), "{:?}", moto.keys());
}

#[test]
fn check_refuses_a_secret_in_the_committed_var_file_auto_loaded_var_files_and_cluster_settings() {
    let repo = Repo::from_fixture("inputs");
    repo.write("stacks/svc/dev.tfvars", &format!("replicas = 2\napi_token = \"{TOKEN}\"\n"));
    let r = repo.gf().args(["check"]).run();
    r.code(1)
        .stderr_has(
            "stacks/svc/dev.tfvars:2: sets sensitive variable `api_token` (declared in `stacks/svc/variables.tf:7`)",
        )
        .stderr_has("set `TF_VAR_api_token`")
        .output_lacks(TOKEN);
    let g = repo.gf().env("KUBE_CONTEXT", "honey").env("GF_TOFU", "/nonexistent/tofu");
    g.clone().args(["plan", "svc"]).run().code(1).stderr_has("refused (sources)").output_lacks(TOKEN);

    repo.write("stacks/svc/dev.tfvars", "replicas = 2\n");
    repo.write("stacks/svc/terraform.tfvars", "replicas = 5\n");
    repo.write(
        "stacks/svc/providers.tf",
        "provider \"kubernetes\" {\n  config_context = \"other\"\n}\n\nprovider \"helm\" {\n  kubernetes = {\n    host = \"https://10.0.0.9:6443\"\n  }\n}\n",
    );
    let v = repo.gf().args(["check", "--json"]).run().code(1).json();
    let found: Vec<(String, String, Value)> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["code"].as_str().unwrap().to_string(), f["file"].as_str().unwrap().to_string(), f["line"].clone()))
        .collect();
    assert_eq!(
        found,
        [
            ("provider-cluster-settings".to_string(), "stacks/svc/providers.tf".to_string(), json!(2)),
            ("provider-cluster-settings".to_string(), "stacks/svc/providers.tf".to_string(), json!(7)),
            ("auto-var-file".to_string(), "stacks/svc/terraform.tfvars".to_string(), Value::Null),
        ],
        "{v}"
    );
    g.clone().args(["plan", "svc"]).run().code(1).stderr_has("sets `kubernetes.host`");
    assert!(!repo.path().join(".gf").exists());
}

#[test]
fn a_var_file_changed_added_or_removed_after_the_plan_makes_it_stale() {
    let moto = Moto::start();
    let repo = Repo::from_fixture("inputs");
    // Two kubeconfig files: tofu gets both as `KUBE_CONFIG_PATHS`.
    let a = kubeconfig(&repo, "kube/a", "honey", "http://127.0.0.1:9");
    let b = kubeconfig(&repo, "kube/b", "other", "http://127.0.0.1:9");
    let g = with_token(gf_for(&repo, &moto)).env("KUBECONFIG", format!("{}:{}", a.display(), b.display()));

    g.clone().args(["plan", "svc", "--allow-empty-state"]).run().code(0);
    repo.write("stacks/svc/dev.tfvars", "replicas = 3\n");
    g.clone()
        .args(["apply", "svc"])
        .run()
        .code(3)
        .stderr_has("refused (stale-plan)")
        .stderr_has("var file `dev.tfvars` of `svc` changed since the plan");
    assert!(moto.get("svc/terraform.tfstate").is_none(), "a stale plan applied");

    g.clone().args(["plan", "svc", "--allow-empty-state"]).run().code(0);
    g.clone().args(["apply", "svc"]).run().code(0).stdout_has("svc: 5 added");
    assert_eq!(instances(&moto, "svc/terraform.tfstate", "replica"), 3);
    assert!(
        repo.read("cluster.log").contains(&format!(
            "KUBE_CONFIG_PATH=\nKUBE_CONFIG_PATHS={}:{}\n",
            a.display(),
            b.display()
        )),
        "{}",
        repo.read("cluster.log")
    );

    // `-- -var-file` files are hashed the same way.
    repo.write("stacks/svc/extra.tfvars", "label = \"blue\"\n");
    g.clone().args(["plan", "svc", "--", "-var-file=extra.tfvars"]).run().code(0);
    let meta: Value = serde_json::from_str(&repo.read(".gf/dev/svc/plan.json")).unwrap();
    let paths: Vec<&str> = meta["var_files"].as_array().unwrap().iter().map(|f| f["path"].as_str().unwrap()).collect();
    assert_eq!(paths, ["dev.tfvars", "extra.tfvars"]);
    repo.write("stacks/svc/extra.tfvars", "label = \"green\"\n");
    g.clone().args(["apply", "svc"]).run().code(3).stderr_has("var file `extra.tfvars` of `svc` changed");

    // A plan made without `dev.tfvars` is stale once one appears, and the other way round.
    repo.remove("stacks/svc/dev.tfvars");
    g.clone().args(["plan", "svc", "--", "-var", "replicas=1"]).run().code(0);
    let meta: Value = serde_json::from_str(&repo.read(".gf/dev/svc/plan.json")).unwrap();
    assert_eq!(meta["var_files"][0], json!({ "path": "dev.tfvars", "sha256": "absent" }));
    repo.write("stacks/svc/dev.tfvars", "replicas = 3\n");
    g.clone()
        .args(["apply", "svc"])
        .run()
        .code(3)
        .stderr_has("var file `dev.tfvars` of `svc` exists now but did not when the plan was made");
    g.clone().args(["plan", "svc"]).run().code(0);
    repo.remove("stacks/svc/dev.tfvars");
    g.clone()
        .args(["apply", "svc"])
        .run()
        .code(3)
        .stderr_has("var file `dev.tfvars` of `svc` was removed since the plan");
}

/// The inputs fixture's `svc` made a kubernetes-provider stack (refused before any download).
fn kube_stack(repo: &Repo) {
    repo.write(
        "stacks/svc/versions.tf",
        "terraform {\n  required_providers {\n    kubernetes = {\n      source = \"hashicorp/kubernetes\"\n    }\n  }\n}\n",
    );
}

#[test]
fn a_kube_stack_needs_its_context_in_the_kubeconfig() {
    let repo = Repo::from_fixture("inputs");
    kube_stack(&repo);
    let other = kubeconfig(&repo, "kube/other", "kind-local", "http://127.0.0.1:9");
    let g = with_token(repo.gf()).env("KUBE_CONTEXT", "honey").env("GF_TOFU", tofu());
    g.clone()
        .env("KUBECONFIG", other.display().to_string())
        .args(["plan", "svc"])
        .run()
        .code(3)
        .stderr_has("refused (context)")
        .stderr_has(&format!("the kubeconfig (`{}`) has no context `honey`", other.display()))
        .stderr_has("`svc` (hashicorp/kubernetes)");
    let home = tempfile::tempdir().unwrap();
    g.clone()
        .env("HOME", home.path().display().to_string())
        .args(["plan", "svc"])
        .run()
        .code(3)
        .stderr_has("refused (context)")
        .stderr_has("no kubeconfig");
    assert!(!repo.path().join(".gf").exists());
    // With the context, the gate passes (the dry run shows it; the provider itself cannot be
    // downloaded here).
    let good = kubeconfig(&repo, "kube/good", "honey", "http://127.0.0.1:9");
    let v = g.clone().env("KUBECONFIG", good.display().to_string()).args(["plan", "svc", "--dry-run", "--json"]).run();
    let v = v.code(0).json();
    assert_eq!(gate(&v["gates"], "context")["verdict"], "pass", "{v}");
    assert_eq!(gate(&v["gates"], "cluster-identity")["verdict"], "skip", "no `cluster_uid` declared: {v}");
}

fn with_uid(repo: &Repo, uid: &str) {
    repo.edit_json("stacks/contract.json", |v| v["environments"]["dev"]["cluster_uid"] = json!(uid));
}

#[test]
fn the_cluster_identity_gate_refuses_another_cluster_behind_the_same_context_name() {
    let fake = FakeKube::start();
    let repo = Repo::from_fixture("inputs");
    kube_stack(&repo);
    with_uid(&repo, fake_kube::UID);
    // S3 settings that pass the `credentials` gate; the refusals come before any S3 request.
    let s3 = [
        ("TOFU_BACKEND_S3_ENDPOINT", "http://127.0.0.1:9".to_string()),
        ("TOFU_BACKEND_S3_BUCKET", "gf-state".to_string()),
        ("TOFU_BACKEND_S3_ACCESS_KEY", ACCESS.to_string()),
        ("TOFU_BACKEND_S3_SECRET_KEY", SECRET.to_string()),
    ];
    let g = with_token(repo.gf()).envs(fake.env()).env("GF_TOFU", tofu()).envs(s3);

    let v = g.clone().args(["plan", "svc", "--dry-run", "--json"]).run().code(0).json();
    let id = gate(&v["gates"], "cluster-identity");
    assert_eq!(id["verdict"], "pass", "{v}");
    assert!(id["detail"].as_str().unwrap().contains(fake_kube::UID), "{id}");
    assert_eq!(fake.identity_reads(), 1);

    // Another cluster answers behind `honey`: refused naming both UIDs, before anything runs.
    fake.set_uid(OTHER_UID);
    let r = g.clone().args(["plan", "svc"]).run();
    r.code(3).stderr_has("refused (cluster-identity)").stderr_has(OTHER_UID).stderr_has(fake_kube::UID);
    let dry = g.clone().args(["destroy", "svc", "--yes", "--dry-run", "--json"]).run().code(0).json();
    assert_eq!(dry["first_refusal"]["gate"], "cluster-identity", "{dry}");
    assert_eq!(dry["first_refusal"]["exit"], 3);
    // The cluster cannot be read: refused too.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let down = kubeconfig(&repo, "kube/down", "honey", &format!("http://127.0.0.1:{closed}"));
    g.clone()
        .env("KUBECONFIG", down.display().to_string())
        .args(["init", "svc"])
        .run()
        .code(3)
        .stderr_has("refused (cluster-identity)")
        .stderr_has("cannot read namespace `kube-system` through context `honey`");
    fake.forbid("namespaces/kube-system");
    fake.set_uid(fake_kube::UID);
    g.clone().args(["plan", "svc"]).run().code(3).stderr_has("403");
    assert!(!repo.path().join(".gf").exists(), "gf ran something behind a closed gate");
}

/// The lifecycle fixture with `alpha` on the heavy Nix lane, a fake cluster with its sets, moto.
fn lane_setup(uid: &str) -> (Repo, FakeKube, Moto) {
    let repo = Repo::from_fixture("lifecycle");
    repo.edit_json("stacks/alpha/stack.json", |v| {
        v["namespaces"] = json!(["alpha", NS]);
        v["lane"] = json!({ "name": "heavy-nix", "drain": { "namespace": NS, "scale_sets": ["gf-nix"] } });
    });
    let set = |name: &str, role: &str| {
        json!({ "name": name, "role": role, "purpose": "test", "container_mode": "none",
                "min_runners": 0, "max_runners": 2, "cpu": "1", "memory": "1Gi" })
    };
    let sets = json!([set("gf-nix", "shared"), set("gf-heavy", "lane")]);
    repo.write("stacks/alpha/scale-sets.json", &serde_json::to_string_pretty(&sets).unwrap());
    with_uid(&repo, uid);
    let fake = FakeKube::start();
    fake.add_set("gf-nix", Some(1), Some(10));
    (repo, fake, Moto::start())
}

#[test]
fn the_lane_checks_the_cluster_identity_before_it_writes() {
    let (repo, fake, moto) = lane_setup(fake_kube::UID);
    let g = repo.gf().envs(fake.env()).env("GF_TOFU", tofu()).envs(moto.env(ACCESS, SECRET));
    g.clone().args(["plan", "alpha", "--allow-empty-state"]).run().code(0);
    g.clone().args(["apply", "alpha"]).run().code(0).stdout_has("alpha: 4 added");
    assert!(!fake.patches().is_empty(), "the lane apply drained nothing");
    assert!(fake.identity_reads() >= 2, "the gate and the drain each read the identity");
    let writes = fake.patches().len();

    fake.set_uid(OTHER_UID);
    for verb in ["drain", "restore"] {
        g.clone().args(["lane", verb]).run().code(3).stderr_has("refused (cluster-identity)").stderr_has(OTHER_UID);
    }
    g.clone().args(["lane", "status"]).run().code(0);
    g.clone().args(["plan", "alpha"]).run().code(0);
    let serial = |m: &Moto| {
        serde_json::from_slice::<Value>(&m.get("alpha/terraform.tfstate").unwrap()).unwrap()["serial"].clone()
    };
    let before = serial(&moto);
    g.clone().args(["apply", "alpha"]).run().code(3).stderr_has("refused (cluster-identity)");
    assert_eq!(fake.patches().len(), writes, "a write reached another cluster: {:?}", fake.patches());
    assert_eq!(serial(&moto), before);
}

#[test]
fn doctor_prints_the_observed_cluster_uid_and_the_contract_line() {
    let fake = FakeKube::start();
    let moto = Moto::start();
    let repo = Repo::from_fixture("lifecycle");
    let g = repo.gf().envs(fake.env()).env("GF_TOFU", tofu()).envs(moto.env(ACCESS, SECRET));
    let line = format!("\"dev\": {{ \"kube_context\": \"honey\", \"cluster_uid\": \"{}\" }}", fake_kube::UID);
    g.clone().args(["doctor"]).run().code(0).stdout_has(fake_kube::UID).stdout_has(&line);
    let v = g.clone().args(["doctor", "--json"]).run().code(0).json();
    assert_eq!(v["cluster"]["uid"], fake_kube::UID);
    assert_eq!(v["cluster"]["contract_line"], line.as_str());
    assert!(v["cluster"]["matches"].is_null());

    with_uid(&repo, fake_kube::UID);
    let v = g.clone().args(["doctor", "--json"]).run().code(0).json();
    assert_eq!((v["cluster"]["matches"].clone(), v["cluster"]["contract_line"].clone()), (json!(true), Value::Null));
    with_uid(&repo, OTHER_UID);
    let v = g.clone().args(["doctor", "--json"]).run().code(1).json();
    assert_eq!(v["cluster"]["matches"], false);
    let problems = v["problems"].to_string();
    assert!(problems.contains(OTHER_UID) && problems.contains(fake_kube::UID), "{problems}");
}
