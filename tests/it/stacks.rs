//! Issue 12: the four real stacks. `gf check` and `terraform fmt -check` on them, every
//! `*.tftest.hcl` under `stacks/` run by real terraform (the value modules need no provider),
//! each stack's `dev.tfvars` against its required inputs, and the check rules on local modules,
//! prose, scale sets and providers.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

use crate::harness::{Repo, copy_dir, gf, repo_root};
use crate::lifecycle::tofu;

const STACKS: [&str; 4] = ["arc-runners", "attic", "gitlab-runners", "runner-dashboard"];

/// The repository's `stacks/` in a temporary folder (sources only: no `.terraform/`, no backend
/// files), so terraform can init and test without touching the work tree.
fn stacks_copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&repo_root().join("stacks"), &dir.path().join("stacks"));
    for p in walk(&dir.path().join("stacks")) {
        let rel = p.strip_prefix(dir.path()).unwrap().to_string_lossy().into_owned();
        if rel.contains("/.terraform") || rel.ends_with(".s3.tfbackend") {
            let _ = std::fs::remove_file(&p);
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
    out.sort();
    out
}

/// Every folder under `stacks` holding a `*.tftest.hcl` (in it or in its `tests/`).
fn tftest_dirs(stacks: &Path) -> Vec<PathBuf> {
    let mut dirs: BTreeSet<PathBuf> = BTreeSet::new();
    for p in walk(stacks) {
        let rel = p.strip_prefix(stacks).unwrap().to_string_lossy().into_owned();
        if rel.starts_with('.') || rel.contains("/.") || !rel.ends_with(".tftest.hcl") {
            continue;
        }
        let parent = p.parent().unwrap();
        let module = if parent.file_name().is_some_and(|n| n == "tests") { parent.parent().unwrap() } else { parent };
        dirs.insert(module.to_path_buf());
    }
    dirs.into_iter().collect()
}

/// Run terraform in `dir`: (success, stdout + stderr).
fn terraform(dir: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new(tofu())
        .args(args)
        .current_dir(dir)
        .env("TF_IN_AUTOMATION", "1")
        .env("CHECKPOINT_DISABLE", "1")
        .env("TF_CLI_CONFIG_FILE", "/dev/null")
        .output()
        .unwrap_or_else(|e| panic!("run {} {args:?}: {e}", tofu()));
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

/// `init -backend=false` then `test` in a module folder: (success, passed, failed, output).
fn terraform_test(dir: &Path) -> (bool, usize, usize, String) {
    let (ok, log) = terraform(dir, &["init", "-backend=false", "-input=false", "-no-color"]);
    assert!(ok, "terraform init in {}: {log}", dir.display());
    let (ok, log) = terraform(dir, &["test", "-no-color"]);
    // The summary line: "Success! 6 passed, 0 failed." / "Failure! 1 passed, 1 failed."
    let counts = log.lines().find_map(|l| {
        let l = l.trim_start_matches("Success! ").trim_start_matches("Failure! ");
        let (passed, rest) = l.split_once(" passed, ")?;
        let failed = rest.split(' ').next()?;
        Some((passed.parse().ok()?, failed.parse().ok()?))
    });
    let (passed, failed) =
        counts.unwrap_or_else(|| panic!("no test summary from terraform in {}: {log}", dir.display()));
    (ok, passed, failed, log)
}

#[test]
fn every_terraform_test_under_stacks_passes_with_real_terraform() {
    let copy = stacks_copy();
    let stacks = copy.path().join("stacks");
    let dirs = tftest_dirs(&stacks);
    let rel: Vec<String> = dirs.iter().map(|d| d.strip_prefix(&stacks).unwrap().display().to_string()).collect();
    // Each stack's values and the shared modules are tested; a new test folder is found by itself.
    for want in [
        "arc-runners/values",
        "attic/values",
        "gitlab-runners/values",
        "runner-dashboard/values",
        "modules/cache-plane",
        "modules/placement",
    ] {
        assert!(rel.iter().any(|r| r == want), "no *.tftest.hcl in stacks/{want}: found {rel:?}");
    }
    let mut total = 0;
    let mut report = Vec::new();
    for dir in &dirs {
        let (ok, passed, failed, log) = terraform_test(dir);
        assert!(ok && failed == 0, "terraform test failed in {}:\n{log}", dir.display());
        assert!(passed > 0, "terraform ran no test in {}:\n{log}", dir.display());
        total += passed;
        report.push(format!("{}: {passed}", dir.strip_prefix(&stacks).unwrap().display()));
    }
    assert!(total >= 17, "only {total} terraform test runs: {report:?}");
}

#[test]
fn a_broken_invariant_fails_its_terraform_test_and_gf_check() {
    let copy = stacks_copy();
    let root = copy.path();
    // Drop one shared set from the drain list: the lane would leave its listener exposed.
    let manifest = root.join("stacks/arc-runners/stack.json");
    let text = std::fs::read_to_string(&manifest).unwrap();
    assert!(text.contains("\"tinyland-nix-kvm\""), "{text}");
    std::fs::write(&manifest, text.replace(", \"tinyland-nix-kvm\"", "")).unwrap();

    let (ok, passed, failed, log) = terraform_test(&root.join("stacks/arc-runners/values"));
    assert!(!ok && failed >= 1, "the drain-list invariant did not fail ({passed} passed):\n{log}");
    assert!(log.contains("lane.drain.scale_sets must be exactly the `shared` sets"), "{log}");

    gf().root(root)
        .arg("check")
        .run()
        .code(1)
        .stderr_has("stacks/arc-runners/stack.json:")
        .stderr_has("leaves out the shared set `tinyland-nix-kvm`");

    // A Service turned public fails the cache plane's test.
    let values = root.join("stacks/attic/values/main.tf");
    let text = std::fs::read_to_string(&values).unwrap();
    std::fs::write(&values, text.replacen("type     = \"ClusterIP\"", "type     = \"LoadBalancer\"", 1)).unwrap();
    let (ok, _, _, log) = terraform_test(&root.join("stacks/attic/values"));
    assert!(!ok && log.contains("no public Service"), "{log}");
}

#[test]
fn terraform_fmt_check_passes_on_the_real_stacks() {
    let (ok, log) = terraform(&repo_root(), &["fmt", "-check", "-recursive", "-diff", "-no-color", "stacks"]);
    assert!(ok, "terraform fmt -check -recursive stacks:\n{log}");
    // And it can fail: a misindented copy does.
    let copy = stacks_copy();
    let f = copy.path().join("stacks/attic/outputs.tf");
    std::fs::write(&f, std::fs::read_to_string(&f).unwrap().replace("  value", "      value")).unwrap();
    let (ok, _) = terraform(copy.path(), &["fmt", "-check", "-recursive", "-no-color", "stacks"]);
    assert!(!ok, "fmt -check passed a misindented file");
}

#[test]
fn the_real_stacks_pass_check_with_the_lane_drain_equal_to_the_shared_sets() {
    gf().root(&repo_root()).arg("check").run().code(0).stdout_has("ok");
    // Read independently of gf: the drain list is exactly the shared sets, the lane set is not in it.
    let read = |rel: &str| -> Value {
        serde_json::from_str(&std::fs::read_to_string(repo_root().join(rel)).unwrap()).unwrap()
    };
    let sets = read("stacks/arc-runners/scale-sets.json");
    let manifest = read("stacks/arc-runners/stack.json");
    let names = |role: &str| -> BTreeSet<String> {
        sets.as_array()
            .unwrap()
            .iter()
            .filter(|s| s["role"] == role)
            .map(|s| s["name"].as_str().unwrap().to_string())
            .collect()
    };
    let drained: BTreeSet<String> = manifest["lane"]["drain"]["scale_sets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect();
    assert_eq!(drained, names("shared"));
    assert_eq!(names("lane"), BTreeSet::from(["tinyland-nix-heavy".to_string()]));
    for real in ["tinyland-nix", "tinyland-docker", "tinyland-dind"] {
        assert!(drained.contains(real), "the real runner label `{real}` is not drained: {drained:?}");
    }
    for s in sets.as_array().unwrap() {
        assert!(s["name"].as_str().unwrap().len() <= 45);
        assert!(s["max_runners"].as_u64() >= s["min_runners"].as_u64(), "{s}");
    }
}

#[test]
fn dev_tfvars_sets_every_required_non_secret_input_of_every_stack() {
    let root = repo_root();
    let mut sensitive_required = BTreeMap::new();
    for stack in STACKS {
        let dir = root.join("stacks").join(stack);
        let vars = gf::variables::root_variables(&root, &dir).unwrap_or_else(|f| panic!("{stack}: {f:?}"));
        let set = gf::variables::var_file_keys(&root, &dir.join("dev.tfvars"))
            .unwrap()
            .unwrap_or_else(|| panic!("stacks/{stack}/dev.tfvars is missing"));
        let unset: Vec<&str> = gf::variables::unset_required(&vars, &set).iter().map(|v| v.name.as_str()).collect();
        assert!(unset.is_empty(), "stacks/{stack}/dev.tfvars leaves required inputs unset: {unset:?}");
        assert!(vars.iter().any(|v| v.required() && !v.sensitive), "stack {stack} has no required non-secret input");
        for key in set.keys() {
            let v = vars.iter().find(|v| &v.name == key);
            assert!(v.is_some(), "stacks/{stack}/dev.tfvars sets `{key}`, which is no variable of the stack");
            assert!(!v.unwrap().sensitive, "stacks/{stack}/dev.tfvars sets the sensitive `{key}`");
        }
        let secrets: Vec<String> =
            vars.iter().filter(|v| v.required() && v.sensitive).map(|v| v.name.clone()).collect();
        sensitive_required.insert(stack, secrets);
    }
    // The only secret input: the GitLab runner token, from TF_VAR_runner_token.
    assert_eq!(
        sensitive_required,
        BTreeMap::from([
            ("arc-runners", vec![]),
            ("attic", vec![]),
            ("gitlab-runners", vec!["runner_token".to_string()]),
            ("runner-dashboard", vec![]),
        ])
    );

    // The helper notices a missing input.
    let copy = stacks_copy();
    let dir = copy.path().join("stacks/arc-runners");
    let text = std::fs::read_to_string(dir.join("dev.tfvars")).unwrap();
    let kept: Vec<&str> = text.lines().filter(|l| !l.starts_with("github_config_url")).collect();
    let kept = kept.join("\n");
    std::fs::write(dir.join("dev.tfvars"), kept).unwrap();
    let vars = gf::variables::root_variables(copy.path(), &dir).unwrap();
    let set = gf::variables::var_file_keys(copy.path(), &dir.join("dev.tfvars")).unwrap().unwrap();
    let unset: Vec<&str> = gf::variables::unset_required(&vars, &set).iter().map(|v| v.name.as_str()).collect();
    assert_eq!(unset, ["github_config_url"]);
}

#[test]
fn provider_blocks_carry_no_cluster_settings() {
    const CLUSTER: [&str; 8] = [
        "config_path",
        "config_paths",
        "config_context",
        "host",
        "token",
        "client_certificate",
        "client_key",
        "cluster_ca_certificate",
    ];
    let root = repo_root();
    let mut providers = 0;
    for stack in STACKS {
        let reach = gf::sources::reach(&root, &root.join("stacks").join(stack));
        assert!(reach.findings.is_empty(), "{stack}: {:?}", reach.findings);
        for dir in &reach.dirs {
            for f in &dir.files {
                for p in f.body.get_blocks("provider") {
                    providers += 1;
                    let mut keys: Vec<String> = p.body.attributes().map(|a| a.key.as_str().to_string()).collect();
                    keys.extend(p.body.blocks().map(|b| b.ident.as_str().to_string()));
                    for k in &keys {
                        assert!(!CLUSTER.contains(&k.as_str()) && k != "kubernetes", "{}: provider sets `{k}`", f.rel);
                    }
                }
            }
        }
    }
    assert!(providers >= 6, "only {providers} provider blocks");
}

/// The contract fixture with `stacks/attic` reaching a local module through `./storage`.
fn repo_with_module(module_tf: &str) -> Repo {
    let repo = Repo::from_fixture("contract");
    repo.write("stacks/attic/main.tf", "module \"storage\" {\n  source = \"./storage\"\n}\n");
    repo.write("stacks/attic/storage/main.tf", module_tf);
    repo
}

fn findings(repo: &Repo) -> Vec<Value> {
    repo.gf().args(["check", "--json"]).run().json()["findings"].as_array().unwrap().clone()
}

#[test]
fn check_rules_follow_local_modules_and_ignore_prose() {
    // The reproduction: prose mentioning Civo blocked the stack; a real `civo-volume`
    // default in a local module went unseen.
    let repo = repo_with_module(
        "variable \"storage_class\" {\n  description = \"was civo-volume on Civo\"\n  type        = string\n  default     = \"civo-volume\"\n\n  validation {\n    condition     = var.storage_class != \"\"\n    error_message = \"set a storage class (not the Civo one)\"\n  }\n}\n",
    );
    let f = findings(&repo);
    let civo: Vec<&Value> = f.iter().filter(|f| f["code"] == "compat-civo").collect();
    assert_eq!(civo.len(), 1, "{f:#?}");
    assert_eq!(civo[0]["file"], "stacks/attic/storage/main.tf");
    assert_eq!(civo[0]["line"], 4, "the finding is the `default`, not the description");
    repo.gf().arg("check").run().code(1).stderr_has("stacks/attic/storage/main.tf:4");

    // Prose alone is not a finding.
    let repo = repo_with_module(
        "variable \"x\" {\n  description = \"formerly Civo with Liqo, namespace attic-cache-dev\"\n  type        = string\n  validation {\n    condition     = length(var.x) > 0\n    error_message = \"not the Civo default\"\n  }\n}\n",
    );
    repo.gf().arg("check").run().code(0);

    // A nested module two levels down, reached through `../`, is followed too.
    let repo = repo_with_module("module \"deeper\" {\n  source = \"../../modules/legacy\"\n}\n");
    repo.write("stacks/modules/legacy/main.tf", "resource \"terraform_data\" \"burst\" {\n  input = \"liqo\"\n}\n");
    let f = findings(&repo);
    assert!(f.iter().any(|f| f["code"] == "compat-liqo" && f["file"] == "stacks/modules/legacy/main.tf"), "{f:#?}");

    // A local source that does not exist or leaves stacks/ is an error naming the line.
    let repo = repo_with_module("module \"gone\" {\n  source = \"./nope\"\n}\n");
    let f = findings(&repo);
    assert!(f.iter().any(|f| f["code"] == "module-source" && f["line"] == 2), "{f:#?}");
}

#[test]
fn scale_set_rules_name_the_file_and_the_set() {
    let check = |edit: &dyn Fn(&Repo), code: &str, culprit: &str| {
        let repo = Repo::from_fixture("contract");
        edit(&repo);
        let run = repo.gf().arg("check").run();
        run.code(1).stderr_has(culprit);
        let f = findings(&repo);
        assert!(f.iter().any(|f| f["code"] == code), "no `{code}` in {f:#?}");
    };
    let sets = "stacks/arc-runners/scale-sets.json";
    let manifest = "stacks/arc-runners/stack.json";
    check(
        &|r| {
            r.edit_json(manifest, |m| m["lane"]["drain"]["scale_sets"] = json!(["gf-nix", "gf-docker", "gf-dind"]));
        },
        "lane-sets",
        "leaves out the shared set `gf-compute-expansion`",
    );
    check(
        &|r| {
            r.edit_json(manifest, |m| {
                m["lane"]["drain"]["scale_sets"] =
                    json!(["gf-nix", "gf-docker", "gf-dind", "gf-compute-expansion", "gf-heavy-nix"]);
            });
        },
        "lane-sets",
        "drains `gf-heavy-nix`, a `lane` set",
    );
    check(
        &|r| {
            r.edit_json(manifest, |m| {
                m["lane"]["drain"]["scale_sets"] =
                    json!(["tinyland-nix", "gf-docker", "gf-dind", "gf-compute-expansion", "gf-nix"]);
            });
        },
        "lane-sets",
        "names `tinyland-nix` but `stacks/arc-runners/scale-sets.json` has no such `shared` set",
    );
    check(
        &|r| {
            r.edit_json(sets, |s| {
                s.as_array_mut().unwrap().retain(|s| s["role"] != "lane");
            });
        },
        "lane-sets",
        "has no `lane` set",
    );
    check(
        &|r| {
            r.edit_json(sets, |s| s[0]["max_runners"] = json!(0));
        },
        "scale-sets",
        "scale set `gf-nix` has max_runners 0 < min_runners 1",
    );
    check(
        &|r| {
            r.edit_json(sets, |s| s[4]["name"] = json!("gf-heavy-nix-with-a-name-far-longer-than-allowed"));
            r.edit_json(manifest, |_| {});
        },
        "scale-sets",
        "at most 45 characters",
    );
    check(
        &|r| {
            r.edit_json(sets, |s| s[0]["maxRunner"] = json!(3));
        },
        "scale-sets",
        "unknown field `maxRunner`",
    );
    check(
        &|r| {
            r.remove(sets);
        },
        "scale-sets",
        "has a `lane` but no `stacks/arc-runners/scale-sets.json`",
    );
    check(
        &|r| {
            r.edit_json(manifest, |m| m["lane"]["drain"]["namespace"] = json!("arc-systemz"));
        },
        "lane-sets",
        "`lane.drain.namespace` `arc-systemz` is not a namespace of stack `arc-runners`",
    );
}

#[test]
fn a_lane_stack_whose_drain_list_disagrees_is_refused_by_the_lifecycle_too() {
    let repo = Repo::from_fixture("contract");
    repo.edit_json("stacks/arc-runners/stack.json", |m| {
        m["lane"]["drain"]["scale_sets"] = json!(["gf-nix"]);
    });
    repo.gf()
        .args(["plan", "arc-runners"])
        .env("KUBE_CONTEXT", "honey")
        .run()
        .code(1)
        .stderr_has("leaves out the shared sets `gf-compute-expansion`, `gf-dind`, `gf-docker`");
}

#[test]
fn provider_rules_refuse_pins_and_two_constraints_for_one_source() {
    let repo = Repo::from_fixture("contract");
    let tf = repo.read("stacks/attic/versions.tf");
    repo.write("stacks/attic/versions.tf", &tf.replace("\"~> 3.7\"", "\"3.7.2\""));
    let run = repo.gf().arg("check").run();
    run.code(1).stderr_has("stacks/attic/versions.tf:").stderr_has("provider `hashicorp/random` is pinned at `3.7.2`");

    let repo = repo_with_module(
        "terraform {\n  required_providers {\n    kubernetes = {\n      source  = \"hashicorp/kubernetes\"\n      version = \">= 2.0\"\n    }\n  }\n}\n",
    );
    repo.gf()
        .arg("check")
        .run()
        .code(1)
        .stderr_has("stacks/attic/storage/main.tf:3")
        .stderr_has("constrained to `>= 2.0` here but to `~> 2.38`");
}
