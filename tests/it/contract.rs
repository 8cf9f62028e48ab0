//! Issue 2: the contract as data — `gf stacks`, `gf check`, `gf backend`, root discovery, errors.

use crate::harness::{Repo, gf, repo_root};

const DEV_KEYS: [(&str, &str); 4] = [
    ("arc-runners", "arc-runners/terraform.tfstate"),
    ("attic", "attic/terraform.tfstate"),
    ("gitlab-runners", "tinyland-infra/gitlab-runners/terraform.tfstate"),
    ("runner-dashboard", "tinyland-infra/runner-dashboard/terraform.tfstate"),
];

fn s3_env() -> [(&'static str, String); 2] {
    [
        ("TOFU_BACKEND_S3_ENDPOINT", "http://rustfs.nix-cache.svc:9000".into()),
        ("TOFU_BACKEND_S3_BUCKET", "gf-state".into()),
    ]
}

#[test]
fn stacks_json_lists_the_four_stacks_in_dependency_order() {
    let v = gf().root(&repo_root()).args(["stacks", "--env", "dev", "--json"]).run().code(0).json();
    let stacks = v.as_array().unwrap();
    let names: Vec<_> = stacks.iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(names, DEV_KEYS.map(|(n, _)| n));
    for (s, (_, key)) in stacks.iter().zip(DEV_KEYS) {
        assert_eq!(s["state_key"], key);
    }
    let by = |n: &str| stacks.iter().find(|s| s["name"] == n).unwrap().clone();
    assert_eq!(by("arc-runners")["namespaces"], serde_json::json!(["arc-systems", "arc-runners"]));
    assert_eq!(by("attic")["namespaces"], serde_json::json!(["nix-cache"]));
    assert_eq!(by("attic")["optional_namespaces"], serde_json::json!(["cnpg-system"]));
    assert_eq!(by("gitlab-runners")["namespaces"], serde_json::json!(["gitlab-runners"]));
    assert_eq!(by("runner-dashboard")["namespaces"], serde_json::json!(["runner-dashboard"]));
    assert_eq!(by("arc-runners")["apply"], "automated");
    for n in ["attic", "gitlab-runners", "runner-dashboard"] {
        assert_eq!(by(n)["apply"], "operator", "{n}");
    }
    assert_eq!(by("arc-runners")["lane"]["name"], "heavy-nix");
    assert_eq!(by("arc-runners")["lane"]["drain"]["namespace"], "arc-runners");
    assert_eq!(by("arc-runners")["lane"]["drain"]["scale_sets"].as_array().unwrap().len(), 4);
    for n in ["attic", "gitlab-runners", "runner-dashboard"] {
        assert!(by(n)["lane"].is_null(), "{n}");
    }
    let cache: Vec<bool> = stacks.iter().map(|s| s["requires_cache"].as_bool().unwrap()).collect();
    assert_eq!(cache, [false, false, true, true]);
    assert_eq!(by("attic")["depends_on"], serde_json::json!(["arc-runners"]));
    assert_eq!(by("gitlab-runners")["depends_on"], serde_json::json!(["attic"]));
    assert_eq!(by("runner-dashboard")["depends_on"], serde_json::json!(["gitlab-runners"]));
}

#[test]
fn stacks_table_shows_order_keys_and_modes() {
    let run = gf().root(&repo_root()).arg("stacks").run();
    run.code(0).stdout_has("tinyland-infra/gitlab-runners/terraform.tfstate").stdout_has("heavy-nix");
    let lines: Vec<_> = run.stdout.lines().collect();
    assert!(lines[1].starts_with("1  arc-runners"), "{}", run.stdout);
    assert!(lines[4].starts_with("4  runner-dashboard"), "{}", run.stdout);
}

#[test]
fn the_repository_passes_check() {
    gf().root(&repo_root()).arg("check").run().code(0).stdout_has("ok");
    let v = gf().root(&repo_root()).args(["check", "--json"]).run().code(0).json();
    assert_eq!(v["ok"], true);
    assert_eq!(v["errors"], 0);
}

#[test]
fn the_fixture_passes_check() {
    Repo::from_fixture("contract").gf().arg("check").run().code(0);
}

fn check_fails(repo: &Repo, code: &str, culprits: &[&str]) -> serde_json::Value {
    let human = repo.gf().arg("check").run();
    human.code(1);
    for c in culprits {
        human.stderr_has(c);
    }
    let v = repo.gf().args(["check", "--json"]).run().code(1).json();
    assert_eq!(v["ok"], false);
    let f = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == code)
        .unwrap_or_else(|| panic!("no `{code}` finding in {v:#}"))
        .clone();
    assert_eq!(f["severity"], "error");
    f
}

#[test]
fn misspelled_manifest_field_is_named_with_its_line() {
    let repo = Repo::from_fixture("contract");
    let text = repo.read("stacks/attic/stack.json").replace("\"namespaces\"", "\"namespces\"");
    repo.write("stacks/attic/stack.json", &text);
    let f =
        check_fails(&repo, "unknown-field", &["stacks/attic/stack.json:4", "`namespces`", "did you mean `namespaces`"]);
    assert_eq!(f["file"], "stacks/attic/stack.json");
    assert_eq!(f["line"], 4);
    assert!(!human_output(&repo).contains("unknown stack `attic`"), "a broken manifest still names a stack");
    // The misspelling also means `namespaces` is missing.
    check_fails(&repo, "missing-field", &["missing required field `namespaces`"]);
}

fn human_output(repo: &Repo) -> String {
    repo.gf().arg("check").run().stderr
}

#[test]
fn unknown_contract_field_is_named() {
    let repo = Repo::from_fixture("contract");
    repo.edit_json("stacks/contract.json", |v| v["enviroments"] = serde_json::json!({}));
    check_fails(&repo, "unknown-field", &["stacks/contract.json", "`enviroments`"]);
}

#[test]
fn wrong_field_type_is_named_with_its_position() {
    let repo = Repo::from_fixture("contract");
    repo.edit_json("stacks/attic/stack.json", |v| v["requires_cache"] = "yes".into());
    check_fails(&repo, "invalid-field", &["stacks/attic/stack.json:", "expected a boolean"]);
    let repo = Repo::from_fixture("contract");
    repo.edit_json("stacks/attic/stack.json", |v| v["apply"] = "sometimes".into());
    check_fails(&repo, "invalid-field", &["unknown variant `sometimes`"]);
}

#[test]
fn malformed_json_names_file_line_and_column() {
    let repo = Repo::from_fixture("contract");
    repo.write("stacks/gitlab-runners/stack.json", "{\n  \"name\": \"gitlab-runners\",\n  \"purpose\": oops\n}\n");
    let f = check_fails(&repo, "malformed-json", &["stacks/gitlab-runners/stack.json:3:"]);
    assert_eq!(f["line"], 3);
    assert!(f["column"].as_u64().unwrap() > 0);
    // Every other command refuses a broken contract too, naming the same place.
    repo.gf().arg("stacks").run().code(1).stderr_has("stacks/gitlab-runners/stack.json:3:");
}

#[test]
fn folder_and_name_must_agree() {
    let repo = Repo::from_fixture("contract");
    repo.edit_json("stacks/attic/stack.json", |v| v["name"] = "attic-cache".into());
    check_fails(&repo, "name-mismatch", &["`attic-cache`", "folder is `attic`"]);
}

#[test]
fn unknown_dependency_is_named() {
    let repo = Repo::from_fixture("contract");
    repo.edit_json("stacks/attic/stack.json", |v| v["depends_on"] = serde_json::json!(["arc-runner"]));
    check_fails(&repo, "unknown-dependency", &["`arc-runner`", "did you mean `arc-runners`"]);
}

#[test]
fn dependency_cycle_is_named() {
    let repo = Repo::from_fixture("contract");
    repo.edit_json("stacks/arc-runners/stack.json", |v| v["depends_on"] = serde_json::json!(["runner-dashboard"]));
    let f = check_fails(&repo, "cycle", &["dependency cycle"]);
    let msg = f["message"].as_str().unwrap();
    for n in ["arc-runners", "attic", "gitlab-runners", "runner-dashboard"] {
        assert!(msg.contains(&format!("`{n}`")), "{msg}");
    }
}

#[test]
fn missing_key_for_a_declared_environment() {
    let repo = Repo::from_fixture("contract");
    repo.edit_json("stacks/contract.json", |v| {
        v["environments"]["prod"] = serde_json::json!({"kube_context": "honey-prod"});
    });
    let f = check_fails(&repo, "missing-state-key", &["no state key for environment `prod`"]);
    assert!(f["file"].as_str().unwrap().ends_with("stack.json"));
}

#[test]
fn shared_state_key_is_refused() {
    let repo = Repo::from_fixture("contract");
    repo.edit_json("stacks/runner-dashboard/stack.json", |v| {
        v["state_keys"]["dev"] = "tinyland-infra/gitlab-runners/terraform.tfstate".into();
    });
    check_fails(&repo, "shared-state-key", &["`gitlab-runners` and `runner-dashboard` share state key"]);
}

#[test]
fn keys_must_be_relative_object_keys() {
    for (key, why) in [
        ("/attic/terraform.tfstate", "starts with `/`"),
        ("", "empty"),
        ("attic/../terraform.tfstate", "`..`"),
        ("./attic/terraform.tfstate", "`.`"),
        (" attic/terraform.tfstate", "whitespace"),
        ("attic//terraform.tfstate", "empty segment"),
    ] {
        let repo = Repo::from_fixture("contract");
        repo.edit_json("stacks/attic/stack.json", |v| v["state_keys"]["dev"] = key.into());
        check_fails(&repo, "bad-state-key", &[why, "stacks/attic/stack.json"]);
    }
}

#[test]
fn unparsable_hcl_names_file_and_line() {
    let repo = Repo::from_fixture("contract");
    repo.write("stacks/attic/main.tf", "resource \"terraform_data\" \"x\" {\n  input = \n}\n");
    let f = check_fails(&repo, "hcl-parse", &["stacks/attic/main.tf:"]);
    assert_eq!(f["file"], "stacks/attic/main.tf");
    assert!(f["line"].as_u64().is_some());
}

#[test]
fn a_stack_needs_exactly_one_partial_s3_backend() {
    let repo = Repo::from_fixture("contract");
    let text = repo.read("stacks/attic/versions.tf").replace("backend \"s3\" {}", "");
    repo.write("stacks/attic/versions.tf", &text);
    check_fails(&repo, "no-s3-backend", &["stack `attic` has no"]);

    let repo = Repo::from_fixture("contract");
    repo.write("stacks/attic/extra.tf", "terraform {\n  backend \"s3\" {}\n}\n");
    check_fails(&repo, "duplicate-s3-backend", &["stacks/attic/extra.tf:2", "2 times"]);

    let repo = Repo::from_fixture("contract");
    let text = repo
        .read("stacks/attic/versions.tf")
        .replace("backend \"s3\" {}", "backend \"s3\" {\n    key = \"attic.tfstate\"\n  }");
    repo.write("stacks/attic/versions.tf", &text);
    check_fails(&repo, "inline-backend", &["stacks/attic/versions.tf:", "`key`"]);
}

#[test]
fn gitlab_http_backend_is_compatibility_only() {
    let repo = Repo::from_fixture("contract");
    repo.write("stacks/gitlab-runners/legacy.tf", "terraform {\n  backend \"http\" {}\n}\n");
    let f = check_fails(&repo, "http-backend", &["stacks/gitlab-runners/legacy.tf:2", "`backend \"http\"`"]);
    assert_eq!(f["line"], 2);
}

#[test]
fn attic_cache_dev_namespace_is_refused_in_manifests_and_sources() {
    let repo = Repo::from_fixture("contract");
    repo.edit_json("stacks/attic/stack.json", |v| v["namespaces"] = serde_json::json!(["attic-cache-dev"]));
    check_fails(&repo, "compat-namespace", &["stacks/attic/stack.json", "`attic-cache-dev`"]);

    let repo = Repo::from_fixture("contract");
    repo.write("stacks/attic/main.tf", "locals {\n  namespace = \"attic-cache-dev\"\n}\n");
    let f = check_fails(&repo, "compat-namespace", &["stacks/attic/main.tf:2"]);
    assert_eq!(f["line"], 2);
}

#[test]
fn civo_and_liqo_are_compatibility_only() {
    let repo = Repo::from_fixture("contract");
    repo.write("stacks/arc-runners/civo.tf", "provider \"civo\" {\n  region = \"LON1\"\n}\n");
    check_fails(&repo, "compat-civo", &["stacks/arc-runners/civo.tf:1", "Civo"]);

    let repo = Repo::from_fixture("contract");
    repo.write(
        "stacks/attic/burst.tf",
        "resource \"terraform_data\" \"peer\" {\n  input = {\n    kind = \"ForeignCluster\"\n    api  = \"discovery.liqo.io/v1alpha1\"\n  }\n}\n",
    );
    check_fails(&repo, "compat-liqo", &["stacks/attic/burst.tf:2", "Liqo"]);
}

#[test]
fn comments_are_not_findings() {
    let repo = Repo::from_fixture("contract");
    repo.write(
        "stacks/attic/notes.tf",
        "# formerly on Civo with Liqo bursting, namespace attic-cache-dev\nlocals {}\n",
    );
    repo.gf().arg("check").run().code(0);
}

#[test]
fn tf_http_in_the_environment_is_a_warning() {
    let run = gf().root(&repo_root()).arg("check").env("TF_HTTP_PASSWORD", "hunter2-sentinel").run();
    run.code(0).stderr_has("warning: `TF_HTTP_PASSWORD`").output_lacks("hunter2-sentinel");
}

#[test]
fn backend_is_deterministic_ordered_and_credential_free() {
    let secret = "SENTINEL-SECRET-7c1f";
    let run = || {
        gf().root(&repo_root())
            .args(["backend", "gitlab-runners", "--env", "dev"])
            .envs(s3_env())
            .env("TOFU_BACKEND_S3_ACCESS_KEY", "SENTINEL-ACCESS-9a2b")
            .env("TOFU_BACKEND_S3_SECRET_KEY", secret)
            .run()
    };
    let a = run();
    a.code(0).output_lacks(secret).output_lacks("SENTINEL-ACCESS-9a2b");
    assert_eq!(a.stdout, run().stdout, "two renders differ");
    assert_eq!(
        a.stdout,
        "bucket = \"gf-state\"\n\
         key = \"tinyland-infra/gitlab-runners/terraform.tfstate\"\n\
         region = \"us-east-1\"\n\
         endpoints = { s3 = \"http://rustfs.nix-cache.svc:9000\" }\n\
         use_path_style = true\n\
         skip_credentials_validation = true\n\
         skip_region_validation = true\n\
         skip_requesting_account_id = true\n\
         skip_metadata_api_check = true\n\
         skip_s3_checksum = true\n\
         use_lockfile = true\n"
    );
}

#[test]
fn backend_json_and_region_override() {
    let v = gf()
        .root(&repo_root())
        .args(["backend", "attic", "--format", "json"])
        .envs(s3_env())
        .env("TOFU_BACKEND_S3_REGION", "eu-central-1")
        .run()
        .code(0)
        .json();
    assert_eq!(v["key"], "attic/terraform.tfstate");
    assert_eq!(v["region"], "eu-central-1");
    assert_eq!(v["endpoints"]["s3"], "http://rustfs.nix-cache.svc:9000");
    assert_eq!(v["use_lockfile"], true);
    let keys: Vec<_> = v.as_object().unwrap().keys().cloned().collect();
    assert_eq!(keys[0..4], ["bucket", "key", "region", "endpoints"]);
}

#[test]
fn backend_escapes_hcl_significant_characters() {
    let run = gf()
        .root(&repo_root())
        .args(["backend", "attic"])
        .env("TOFU_BACKEND_S3_ENDPOINT", "http://x/${path}%{if}")
        .env("TOFU_BACKEND_S3_BUCKET", "gf-state")
        .env("TOFU_BACKEND_S3_REGION", "r\"e\\g")
        .run();
    run.code(0).stdout_has("region = \"r\\\"e\\\\g\"\n").stdout_has("endpoints = { s3 = \"http://x/$${path}%%{if}\" }");
}

#[test]
fn backend_names_missing_variables() {
    gf().root(&repo_root())
        .args(["backend", "attic"])
        .run()
        .code(1)
        .stderr_has("`TOFU_BACKEND_S3_ENDPOINT` and `TOFU_BACKEND_S3_BUCKET` are not set");
    gf().root(&repo_root())
        .args(["backend", "attic"])
        .env("TOFU_BACKEND_S3_ENDPOINT", "http://x")
        .run()
        .code(1)
        .stderr_has("`TOFU_BACKEND_S3_BUCKET` is not set");
}

#[test]
fn backend_write_puts_the_file_in_the_stack_folder() {
    let repo = Repo::from_fixture("contract");
    repo.gf().args(["backend", "attic", "--write"]).envs(s3_env()).run().code(0);
    let text = repo.read("stacks/attic/attic.dev.s3.tfbackend");
    assert!(text.starts_with("bucket = \"gf-state\"\nkey = \"attic/terraform.tfstate\"\n"), "{text}");
}

#[test]
fn backend_refuses_an_environment_without_a_key() {
    let repo = Repo::from_fixture("contract");
    repo.edit_json("stacks/contract.json", |v| v["environments"]["prod"] = serde_json::json!({"kube_context": "x"}));
    // The contract is now invalid for every stack: backend refuses, naming the problem.
    repo.gf()
        .args(["backend", "attic", "--env", "prod"])
        .envs(s3_env())
        .run()
        .code(1)
        .stderr_has("no state key for environment `prod`");
}

#[test]
fn unknown_stack_suggests_the_closest() {
    gf().root(&repo_root())
        .args(["backend", "atic"])
        .envs(s3_env())
        .run()
        .code(1)
        .stderr_has("unknown stack `atic`; did you mean `attic`?");
}

#[test]
fn unknown_environment_lists_the_known_ones() {
    gf().root(&repo_root())
        .args(["stacks", "--env", "prod"])
        .run()
        .code(1)
        .stderr_has("unknown environment `prod`; the contract defines `dev`");
    gf().root(&repo_root())
        .arg("stacks")
        .env("ENV", "staging")
        .run()
        .code(1)
        .stderr_has("unknown environment `staging`");
}

#[test]
fn several_environments_need_a_choice() {
    let repo = Repo::from_fixture("contract");
    repo.edit_json("stacks/contract.json", |v| v["environments"]["prod"] = serde_json::json!({"kube_context": "p"}));
    for s in ["arc-runners", "attic", "gitlab-runners", "runner-dashboard"] {
        repo.edit_json(&format!("stacks/{s}/stack.json"), |v| {
            v["state_keys"]["prod"] = format!("prod/{s}/terraform.tfstate").into();
        });
    }
    repo.gf()
        .args(["backend", "attic"])
        .envs(s3_env())
        .run()
        .code(1)
        .stderr_has("pass `--env` or set `ENV` to one of `dev`, `prod`");
    repo.gf()
        .args(["backend", "attic", "--env", "prod"])
        .envs(s3_env())
        .run()
        .code(0)
        .stdout_has("key = \"prod/attic/terraform.tfstate\"");
}

#[test]
fn usage_errors_exit_1_not_2() {
    gf().arg("no-such-command").run().code(1);
    gf().args(["stacks", "--bogus"]).run().code(1);
}

#[test]
fn root_is_found_by_walking_up_or_given() {
    let repo = Repo::from_fixture("contract");
    gf().cwd(&repo.path().join("stacks/attic")).arg("stacks").run().code(0).stdout_has("arc-runners");
    gf().env("GF_ROOT", repo.path().display().to_string()).cwd(&std::env::temp_dir()).arg("stacks").run().code(0);
    let empty = Repo::empty();
    gf().cwd(empty.path()).arg("stacks").run().code(1).stderr_has("no `stacks/contract.json`");
    gf().root(empty.path()).arg("stacks").run().code(1).stderr_has("has no `stacks/contract.json`");
}
