//! Issue 10: bad input and secret hygiene — input that used to crash gf or slip past it.

use std::path::{Path, PathBuf};

use serde_json::json;

use crate::harness::{Gf, Repo};

#[test]
fn a_duplicate_dependency_is_a_warning_and_counted_once() {
    let repo = Repo::from_fixture("contract");
    let text = repo.read("stacks/attic/stack.json");
    let text = text.replace(r#""depends_on": ["arc-runners"]"#, r#""depends_on": ["arc-runners", "arc-runners"]"#);
    assert!(text.contains(r#"["arc-runners", "arc-runners"]"#), "{text}");
    repo.write("stacks/attic/stack.json", &text);
    let line = text.lines().position(|l| l.contains("depends_on")).unwrap() + 1;
    let want = format!(
        "warning: stacks/attic/stack.json:{line}: stack `attic` lists `arc-runners` more than once in `depends_on`"
    );

    let run = repo.gf().arg("stacks").run();
    run.code(0).stderr_has(&want);
    let order: Vec<&str> = run.stdout.lines().skip(1).filter_map(|l| l.split_whitespace().nth(1)).collect();
    assert_eq!(order, ["arc-runners", "attic", "gitlab-runners", "runner-dashboard"]);

    let v = repo.gf().args(["stacks", "--json"]).run().code(0).json();
    assert_eq!(v[1]["name"], "attic");
    assert_eq!(v[1]["depends_on"], json!(["arc-runners"]), "the repeat is dropped");

    repo.gf().arg("check").run().code(0).stderr_has(&want);
    let v = repo.gf().args(["check", "--json"]).run().code(0).json();
    let f = v["findings"].as_array().unwrap().iter().find(|f| f["code"] == "duplicate-dependency").unwrap().clone();
    assert_eq!(f["severity"], "warning");
    assert_eq!(f["file"], "stacks/attic/stack.json");
    assert_eq!(f["line"], line);
}

/// A password that must never leave the variable it was given in.
const PASSWORD: &str = "gf-sentinel-url-password-5d0c";

/// Every file under `dir`, hidden folders included.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() { out.extend(files(&p)) } else { out.push(p) }
    }
    out
}

#[track_caller]
fn assert_nowhere_in(dir: &Path, sentinel: &str) {
    for f in files(dir) {
        let bytes = std::fs::read(&f).unwrap();
        assert!(!String::from_utf8_lossy(&bytes).contains(sentinel), "`{sentinel}` reached {}", f.display());
    }
}

const S3_USER_INFO: &str = "the S3 endpoint from `TOFU_BACKEND_S3_ENDPOINT` contains `@`";

/// gf in `repo` with an S3 endpoint carrying user info, everything else ready, and `tofu`.
fn with_s3_user_info(repo: &Repo, tofu: &str) -> Gf {
    repo.gf()
        .env("TOFU_BACKEND_S3_ENDPOINT", format!("http://gf-user:{PASSWORD}@127.0.0.1:9"))
        .env("TOFU_BACKEND_S3_BUCKET", "gf-state")
        .env("TOFU_BACKEND_S3_ACCESS_KEY", "AKIAGFSENTINEL7Q2XZ")
        .env("TOFU_BACKEND_S3_SECRET_KEY", "gf-sentinel-secret-7f3a9c1e")
        .env("KUBE_CONTEXT", "honey")
        .env("GF_TOFU", tofu)
}

/// `g ARGS` exits 1 naming the variable and shows neither the password nor the user.
fn refused_unshown(g: &Gf, args: &[&str]) -> crate::harness::Run {
    let run = g.clone().args(args).run();
    run.code(1).output_has(S3_USER_INFO).output_lacks(PASSWORD).output_lacks("gf-user");
    run
}

/// The `credentials` gate of a dry run's JSON report: it refuses, with `message` in its detail.
#[track_caller]
fn dry_run_credentials_refuse(run: &crate::harness::Run, message: &str) {
    let v = run.json();
    let gate = v["gates"].as_array().unwrap().iter().find(|g| g["gate"] == "credentials").unwrap().clone();
    assert_eq!(gate["verdict"], "refuse", "{gate}");
    assert!(gate["detail"].as_str().unwrap().contains(message), "{gate}");
}

#[test]
fn user_info_in_the_s3_endpoint_is_refused_on_every_path_and_never_shown() {
    let repo = Repo::from_fixture("lifecycle");
    let endpoint = format!("http://gf-user:{PASSWORD}@127.0.0.1:9");
    let g = with_s3_user_info(&repo, "/nonexistent/tofu");
    let named = S3_USER_INFO;
    let refused = |args: &[&str]| refused_unshown(&g, args);
    for args in [&["backend", "alpha"][..], &["backend", "alpha", "--write"], &["state", "alpha"]] {
        let run = refused(args);
        assert_eq!(run.stdout, "", "gf {args:?} printed something");
    }
    let v = refused(&["backend", "alpha", "--format", "json"]).json();
    assert_eq!(v["ok"], false, "{v}");
    // The dry run reports the refusal at the `credentials` gate, where the real run stops.
    let run = g.clone().args(["plan", "alpha", "--dry-run"]).run();
    run.code(0).output_lacks(PASSWORD).output_lacks("gf-user");
    // The gate column is as wide as the longest gate name (`cluster-identity`).
    let line = run.stdout.lines().find(|l| l.trim_start().starts_with("credentials ")).unwrap_or_default();
    assert!(line.contains(&format!("refuse  {named}")), "{}", run.stdout);
    let run = g.clone().args(["plan", "--all", "--dry-run", "--json"]).run();
    run.code(0).output_lacks(PASSWORD).output_lacks("gf-user");
    dry_run_credentials_refuse(&run, named);
    // `--nix` prints no path, and `--realise` creates none: the file gf would have rendered is
    // not in the store.
    let run = refused(&["backend", "alpha", "--nix", "--realise"]);
    assert_eq!(run.stdout, "");
    let location = gf::backend::S3Location { endpoint, bucket: "gf-state".into(), region: "us-east-1".into() };
    let text = gf::backend::Backend {
        stack: "alpha".into(),
        env: "dev".into(),
        location,
        key: "alpha/terraform.tfstate".into(),
    }
    .to_tfbackend();
    let would_be = gf::nix::text_store_path("alpha.dev.s3.tfbackend", text.as_bytes());
    assert!(!Path::new(&would_be).exists(), "{would_be} exists: the password reached the Nix store");

    // `gf doctor` reports the problem (exit 1) and shows neither the endpoint nor the password.
    for json in [false, true] {
        let mut cmd = g.clone().arg("doctor");
        if json {
            cmd = cmd.arg("--json");
        }
        let run = cmd.run();
        run.code(1).output_has(named).output_lacks(PASSWORD).output_lacks("gf-user");
        if json {
            let v = run.json();
            assert!(v["s3"]["endpoint"].is_null(), "{v:#}");
        }
    }
    assert!(!repo.path().join(".gf").exists(), "gf wrote working files");
    assert_nowhere_in(repo.path(), PASSWORD);
}

#[test]
fn user_info_in_the_s3_endpoint_stops_a_real_init_plan_and_apply_before_tofu() {
    let repo = Repo::from_fixture("lifecycle");
    let g = with_s3_user_info(&repo, &crate::lifecycle::tofu());
    for args in
        [&["init", "alpha"][..], &["plan", "alpha", "--allow-empty-state"], &["apply", "alpha"], &["output", "alpha"]]
    {
        refused_unshown(&g, args);
    }
    assert!(!repo.path().join(".gf").exists(), "gf wrote working files");
    assert!(!repo.path().join("stacks/alpha/.terraform").exists(), "tofu ran");
    assert_nowhere_in(repo.path(), PASSWORD);
}

#[test]
fn user_info_in_the_attic_endpoint_is_refused_from_every_source() {
    let repo = Repo::from_fixture("lifecycle");
    let endpoint = format!("http://gf-user:{PASSWORD}@127.0.0.1:9");
    let check = repo.gf().args(["cache", "check", "--cache", "main"]);
    check
        .clone()
        .args(["--endpoint", &endpoint])
        .run()
        .code(1)
        .stderr_has("the Attic endpoint from `--endpoint` contains `@`")
        .stderr_has("`GF_ATTIC_TOKEN`")
        .output_lacks(PASSWORD);
    check
        .clone()
        .arg("--json")
        .env("GF_ATTIC_ENDPOINT", &endpoint)
        .run()
        .code(1)
        .stderr_has("the Attic endpoint from `GF_ATTIC_ENDPOINT` contains `@`")
        .output_lacks(PASSWORD);
    // A password that a URL parser would not even see as one (it holds `/`) is not shown either.
    check
        .clone()
        .args(["--endpoint", &format!("http://u:{PASSWORD}/x@host")])
        .run()
        .code(1)
        .stderr_has("contains `@`")
        .output_lacks(PASSWORD);
    // `gf doctor` reports the cache line without it.
    let run = repo.gf().arg("doctor").env("GF_ATTIC_ENDPOINT", &endpoint).run();
    run.output_has("the Attic endpoint from `GF_ATTIC_ENDPOINT` contains `@`").output_lacks(PASSWORD);

    // In the contract: a `gf check` error on its line, and every command refuses the contract.
    repo.edit_json("stacks/contract.json", |c| c["attic"]["endpoint"] = json!(endpoint));
    let line = repo.read("stacks/contract.json").lines().position(|l| l.contains("\"endpoint\"")).unwrap() + 1;
    let run = repo.gf().arg("check").run();
    run.code(1)
        .stderr_has(&format!(
            "error: stacks/contract.json:{line}: the Attic endpoint from the contract's `attic.endpoint` contains `@`"
        ))
        .output_lacks(PASSWORD);
    let v = repo.gf().args(["check", "--json"]).run().code(1).json();
    assert!(!v.to_string().contains(PASSWORD), "{v}");
    assert!(v["findings"].as_array().unwrap().iter().any(|f| f["code"] == "endpoint-user-info"), "{v:#}");
    repo.gf().args(["cache", "check"]).run().code(1).stderr_has("`attic.endpoint`").output_lacks(PASSWORD);
    repo.gf().args(["plan", "alpha", "--dry-run"]).run().code(1).output_lacks(PASSWORD);
}

/// `gf check --json` of `repo`: exit 1, and the first finding with `code` (an error).
#[track_caller]
fn finding(repo: &Repo, code: &str) -> serde_json::Value {
    let v = repo.gf().args(["check", "--json"]).run().code(1).json();
    let f = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == code)
        .unwrap_or_else(|| panic!("no `{code}` finding in {v:#}"))
        .clone();
    assert_eq!(f["severity"], "error", "{f}");
    f
}

/// 1-based line of the first line of `rel` containing `needle`.
fn line_of(repo: &Repo, rel: &str, needle: &str) -> usize {
    repo.read(rel).lines().position(|l| l.contains(needle)).unwrap_or_else(|| panic!("{needle} not in {rel}")) + 1
}

#[test]
fn environment_names_outside_the_pattern_are_errors_and_never_name_a_folder() {
    // Refused when asked for, before anything is read or written.
    let repo = Repo::from_fixture("lifecycle");
    for env in ["../../escape", "Dev", "dev/x", "d\u{202E}ev"] {
        for args in [&["plan", "alpha", "--dry-run"][..], &["plan", "alpha"], &["backend", "alpha", "--write"]] {
            repo.gf()
                .args(args)
                .args(["--env", env])
                .env("TOFU_BACKEND_S3_ENDPOINT", "http://127.0.0.1:9")
                .env("TOFU_BACKEND_S3_BUCKET", "gf-state")
                .env("KUBE_CONTEXT", "honey")
                .run()
                .code(1)
                .stderr_has("environment name `")
                .stderr_has("does not match `^[a-z][a-z0-9-]{0,31}$`")
                .output_lacks("\u{202E}");
        }
    }
    assert!(!repo.path().join(".gf").exists());

    // In the contract: an error on its line, and every command refuses the contract.
    let env = "../../escape";
    repo.edit_json("stacks/contract.json", |c| c["environments"][env] = json!({ "kube_context": "honey" }));
    for s in ["alpha", "beta", "gamma"] {
        repo.edit_json(&format!("stacks/{s}/stack.json"), |m| m["state_keys"][env] = json!(format!("x/{s}.tfstate")));
    }
    let f = finding(&repo, "bad-environment-name");
    assert_eq!(f["file"], "stacks/contract.json");
    assert_eq!(f["line"], line_of(&repo, "stacks/contract.json", "\"../../escape\""));
    assert!(f["message"].as_str().unwrap().contains("`../../escape`"), "{f}");
    for args in [&["plan", "alpha", "--dry-run"][..], &["plan", "alpha"], &["backend", "alpha", "--write"]] {
        repo.gf()
            .args(args)
            .args(["--env", env])
            .env("TOFU_BACKEND_S3_ENDPOINT", "http://127.0.0.1:9")
            .env("TOFU_BACKEND_S3_BUCKET", "gf-state")
            .env("KUBE_CONTEXT", "honey")
            .run()
            .code(1);
    }
    assert!(!repo.path().join(".gf").exists());
    assert!(!repo.path().parent().unwrap().join("escape").exists(), "gf wrote outside the repository");
}

#[test]
fn a_state_key_that_is_a_lock_object_is_an_error_naming_the_other_stack() {
    let repo = Repo::from_fixture("contract");
    repo.edit_json("stacks/runner-dashboard/stack.json", |m| {
        m["state_keys"]["dev"] = json!("tinyland-infra/gitlab-runners/terraform.tfstate.tflock");
    });
    let f = finding(&repo, "lock-state-key");
    assert_eq!(f["file"], "stacks/runner-dashboard/stack.json");
    assert_eq!(f["line"], line_of(&repo, "stacks/runner-dashboard/stack.json", "\"dev\""));
    let msg = f["message"].as_str().unwrap();
    assert!(
        msg.contains("lock object of stack `gitlab-runners`'s state `tinyland-infra/gitlab-runners/terraform.tfstate`"),
        "{msg}"
    );

    // Any `.tflock` key, even one no other state locks, is a lock object's name.
    let repo = Repo::from_fixture("contract");
    repo.edit_json("stacks/attic/stack.json", |m| m["state_keys"]["dev"] = json!("attic/state.tflock"));
    let f = finding(&repo, "bad-state-key");
    assert!(f["message"].as_str().unwrap().contains("ends in `.tflock`"), "{f}");
}

#[test]
fn state_keys_with_hidden_characters_or_over_s3s_limit_are_errors_shown_escaped() {
    for (c, kind) in [
        ('\u{202E}', "bidirectional control character (U+202E)"),
        ('\u{2066}', "bidirectional control character (U+2066)"),
        ('\u{200B}', "zero-width character (U+200B)"),
        ('\u{FEFF}', "zero-width character (U+FEFF)"),
        ('\u{1b}', "control character (U+001B)"),
    ] {
        let repo = Repo::from_fixture("contract");
        repo.edit_json("stacks/attic/stack.json", |m| m["state_keys"]["dev"] = json!(format!("attic/{c}x.tfstate")));
        let f = finding(&repo, "bad-state-key");
        let msg = f["message"].as_str().unwrap();
        assert!(msg.contains(kind) && msg.contains(&format!("attic/\\u{{{:04x}}}x.tfstate", u32::from(c))), "{msg}");
        assert!(!msg.contains(c), "the raw character reached the message");
        repo.gf().arg("check").run().code(1).stderr_has(kind).output_lacks(&c.to_string());
        repo.gf().arg("stacks").run().code(1).output_lacks(&c.to_string());
    }

    // 1,017 bytes is the longest key whose lock object fits S3's 1,024.
    let repo = Repo::from_fixture("contract");
    let fits = format!("attic/{}", "k".repeat(1017 - "attic/".len()));
    repo.edit_json("stacks/attic/stack.json", |m| m["state_keys"]["dev"] = json!(fits));
    repo.gf().arg("check").run().code(0);
    repo.edit_json("stacks/attic/stack.json", |m| m["state_keys"]["dev"] = json!(format!("{fits}k")));
    let f = finding(&repo, "bad-state-key");
    assert!(f["message"].as_str().unwrap().contains("1018 bytes"), "{f}");
}

#[test]
fn a_kube_context_with_a_control_character_is_an_error() {
    for (escape, code_point) in [(r"\u0000", "U+0000"), (r"\u001b[31m", "U+001B"), (r"\u202e", "U+202E")] {
        let repo = Repo::from_fixture("contract");
        let text = repo.read("stacks/contract.json");
        let edited = text.replace(r#""kube_context": "honey""#, &format!(r#""kube_context": "honey{escape}""#));
        assert_ne!(text, edited, "the fixture spells kube_context as expected");
        repo.write("stacks/contract.json", &edited);
        let f = finding(&repo, "kube-context");
        assert_eq!(f["file"], "stacks/contract.json");
        assert_eq!(f["line"], line_of(&repo, "stacks/contract.json", "\"dev\""));
        assert!(f["message"].as_str().unwrap().contains(code_point), "{f}");
        repo.gf().arg("check").run().code(1).output_lacks("\u{1b}").output_lacks("\u{0}");
    }
}

#[test]
fn a_stack_folder_that_resolves_outside_the_repository_is_refused_not_followed() {
    use std::os::unix::fs::symlink;
    let outside = tempfile::tempdir().unwrap();
    let env =
        [("TOFU_BACKEND_S3_ENDPOINT", "http://127.0.0.1:9".to_string()), ("TOFU_BACKEND_S3_BUCKET", "b-1".into())];

    // The folder is a symlink out of the repository.
    let repo = Repo::from_fixture("contract");
    std::fs::rename(repo.path().join("stacks/attic"), outside.path().join("attic")).unwrap();
    symlink(outside.path().join("attic"), repo.path().join("stacks/attic")).unwrap();
    let f = finding(&repo, "stack-outside-repository");
    assert_eq!(f["file"], "stacks/attic");
    assert!(f["message"].as_str().unwrap().contains("`stacks/attic` resolves to"), "{f}");
    repo.gf().arg("stacks").run().code(1).stderr_has("stacks/attic");
    repo.gf().args(["plan", "attic", "--dry-run"]).envs(env.clone()).run().code(1);
    repo.gf().args(["backend", "attic", "--write"]).envs(env.clone()).run().code(1);
    assert_eq!(files(outside.path()).len(), 2, "gf wrote into the folder outside: {:?}", files(outside.path()));

    // Only its manifest is a symlink out.
    let repo = Repo::from_fixture("contract");
    std::fs::rename(repo.path().join("stacks/attic/stack.json"), outside.path().join("stack.json")).unwrap();
    symlink(outside.path().join("stack.json"), repo.path().join("stacks/attic/stack.json")).unwrap();
    let f = finding(&repo, "stack-outside-repository");
    assert!(f["message"].as_str().unwrap().contains("`stacks/attic/stack.json` resolves to"), "{f}");

    // A symlink that stays inside the repository is an ordinary stack folder.
    let repo = Repo::from_fixture("contract");
    std::fs::rename(repo.path().join("stacks/attic"), repo.path().join("attic-src")).unwrap();
    symlink("../attic-src", repo.path().join("stacks/attic")).unwrap();
    repo.gf().arg("check").run().code(0);
    repo.gf().args(["backend", "attic"]).envs(env).run().code(0).stdout_has("key = \"attic/terraform.tfstate\"");
}

#[test]
fn a_bucket_name_outside_s3s_rules_is_refused_before_anything_renders_or_runs() {
    let repo = Repo::from_fixture("lifecycle");
    for bucket in ["gf-state/alpha", "GF-State", "gf_state", "ab", "gf..state", "10.0.0.1"] {
        let g = repo
            .gf()
            .env("TOFU_BACKEND_S3_ENDPOINT", "http://127.0.0.1:9")
            .env("TOFU_BACKEND_S3_BUCKET", bucket)
            .env("TOFU_BACKEND_S3_ACCESS_KEY", "a")
            .env("TOFU_BACKEND_S3_SECRET_KEY", "s")
            .env("KUBE_CONTEXT", "honey")
            .env("GF_TOFU", "/nonexistent/tofu");
        let message = format!("`TOFU_BACKEND_S3_BUCKET` (`{bucket}`) is not a valid S3 bucket name");
        for args in [&["backend", "alpha"][..], &["backend", "alpha", "--nix"], &["state", "alpha"]] {
            g.clone().args(args).run().code(1).stderr_has(&message);
        }
        let run = g.clone().args(["plan", "alpha", "--dry-run", "--json"]).run();
        run.code(0);
        dry_run_credentials_refuse(&run, &message);
    }
    repo.gf()
        .args(["backend", "alpha"])
        .env("TOFU_BACKEND_S3_ENDPOINT", "http://127.0.0.1:9")
        .env("TOFU_BACKEND_S3_BUCKET", "gf-state/alpha")
        .run()
        .stderr_has("it contains `/`, which would move into the object key");
    assert!(!repo.path().join(".gf").exists(), "gf wrote working files");
}

#[test]
fn a_bucket_name_outside_s3s_rules_stops_a_real_init_and_plan_before_tofu() {
    let repo = Repo::from_fixture("lifecycle");
    let g = repo
        .gf()
        .env("TOFU_BACKEND_S3_ENDPOINT", "http://127.0.0.1:9")
        .env("TOFU_BACKEND_S3_BUCKET", "gf-state/alpha")
        .env("TOFU_BACKEND_S3_ACCESS_KEY", "a")
        .env("TOFU_BACKEND_S3_SECRET_KEY", "s")
        .env("KUBE_CONTEXT", "honey")
        .env("GF_TOFU", crate::lifecycle::tofu());
    for args in [&["init", "alpha"][..], &["plan", "alpha", "--allow-empty-state"]] {
        g.clone()
            .args(args)
            .run()
            .code(1)
            .stderr_has("`TOFU_BACKEND_S3_BUCKET` (`gf-state/alpha`) is not a valid S3 bucket name");
    }
    assert!(!repo.path().join(".gf").exists(), "gf wrote working files");
    assert!(!repo.path().join("stacks/alpha/.terraform").exists(), "tofu ran");
}

#[test]
fn jobs_0_is_a_usage_error() {
    let repo = Repo::from_fixture("lifecycle");
    for args in [
        &["plan", "--all", "--dry-run", "--jobs", "0"][..],
        &["plan", "--all", "-j", "0"],
        &["cache", "check", "--jobs", "0"],
    ] {
        let run = repo.gf().args(args).run();
        run.code(1).stderr_has("invalid value '0' for '--jobs <N>'");
        assert_eq!(run.stdout, "");
    }
    repo.gf().args(["plan", "--all", "--dry-run", "--jobs", "2"]).run().code(0);
}

#[path = "../../build/git_rev.rs"]
mod git_rev;

/// `git ARGS` in `dir`, which must succeed; its trimmed stdout.
fn git(dir: &Path, args: &[&str]) -> String {
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["-c", "user.name=gf test", "-c", "user.email=gf@example.invalid", "-c", "init.defaultBranch=main"])
        .args(args)
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .output()
        .expect("git: these tests need git on PATH");
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// A git repository with one commit.
fn git_repo() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    git(dir.path(), &["init", "-q"]);
    std::fs::write(dir.path().join("f"), "x").unwrap();
    git(dir.path(), &["add", "f"]);
    git(dir.path(), &["commit", "-qm", "one"]);
    dir
}

#[test]
fn version_names_the_git_revision_gf_was_built_from() {
    let root = crate::harness::repo_root();
    // What build.rs saw: this checkout's HEAD, else (the Nix build) `GF_GIT_REV`, else `unknown`.
    let expected = git_rev::revision(&root, "git".as_ref(), option_env!("GF_GIT_REV")).rev;
    if root.join(".git").exists() {
        assert_eq!(expected, git(&root, &["rev-parse", "--short", "HEAD"]));
    }
    let want = format!("gf {} ({expected})\n", env!("CARGO_PKG_VERSION"));
    let run = crate::harness::gf().arg("--version").run();
    run.code(0);
    assert_eq!(run.stdout, want);
    assert_eq!(crate::harness::gf().arg("-V").run().code(0).stdout, want);
    assert_eq!(gf::VERSION, want.trim_start_matches("gf ").trim_end());
}

#[test]
fn the_build_revision_comes_from_git_and_its_ref_files_are_watched() {
    let repo = git_repo();
    let head = git(repo.path(), &["rev-parse", "--short", "HEAD"]);
    let r = git_rev::revision(repo.path(), "git".as_ref(), Some("from-env"));
    assert_eq!(r.rev, head, "git wins over GF_GIT_REV");
    let dot_git = repo.path().join(".git");
    assert_eq!(r.watch, [dot_git.join("HEAD"), dot_git.join("refs/heads/main")]);

    // Packed refs: the loose ref is gone, packed-refs is watched; a path that does not exist is never
    // watched (cargo would rerun the build script every time).
    git(repo.path(), &["pack-refs", "--all"]);
    let r = git_rev::revision(repo.path(), "git".as_ref(), None);
    assert_eq!(r.watch, [dot_git.join("HEAD"), dot_git.join("packed-refs")]);

    // A new commit is a new revision.
    std::fs::write(repo.path().join("f"), "y").unwrap();
    git(repo.path(), &["commit", "-qam", "two"]);
    let next = git_rev::revision(repo.path(), "git".as_ref(), None);
    assert_ne!(next.rev, head);
    assert_eq!(next.rev, git(repo.path(), &["rev-parse", "--short", "HEAD"]));

    // A worktree (`.git` is a file): HEAD in the worktree's git dir, the branch in the common one.
    let wt_parent = tempfile::tempdir().unwrap();
    let wt = wt_parent.path().join("wt");
    git(repo.path(), &["worktree", "add", "-q", "-b", "side", wt.to_str().unwrap()]);
    let r = git_rev::revision(&wt, "git".as_ref(), None);
    assert_eq!(r.rev, next.rev);
    assert_eq!(
        r.watch,
        [dot_git.join("worktrees/wt/HEAD"), dot_git.join("refs/heads/side"), dot_git.join("packed-refs")]
    );

    // A detached HEAD: only HEAD (and packed-refs) to watch.
    git(repo.path(), &["checkout", "-q", "--detach"]);
    let r = git_rev::revision(repo.path(), "git".as_ref(), None);
    assert_eq!((r.rev.as_str(), r.watch.len()), (next.rev.as_str(), 2));
}

#[test]
fn without_git_the_build_revision_falls_back_to_gf_git_rev_then_unknown() {
    let plain = tempfile::tempdir().unwrap();
    let no_git = std::ffi::OsStr::new("/nonexistent/git");
    for (dir, program) in [(plain.path(), "git".as_ref()), (plain.path(), no_git)] {
        assert_eq!(git_rev::revision(dir, program, Some("1a2b3c4-dirty")).rev, "1a2b3c4-dirty");
        assert_eq!(git_rev::revision(dir, program, Some(" 1a2b3c4\n")).rev, "1a2b3c4");
        assert_eq!(git_rev::revision(dir, program, None), git_rev::Revision { rev: "unknown".into(), watch: vec![] });
        assert_eq!(git_rev::revision(dir, program, Some("")).rev, "unknown");
        // Nothing that could break out of a `cargo:` line or the version line.
        assert_eq!(git_rev::revision(dir, program, Some("abc\ncargo:rustc-env=X=1")).rev, "unknown");
    }
    // git is there but the repository is not the crate's: a crate folder inside another repository.
    let outer = git_repo();
    let inner = outer.path().join("vendored/gf");
    std::fs::create_dir_all(&inner).unwrap();
    assert_eq!(git_rev::revision(&inner, "git".as_ref(), Some("nixrev")).rev, "nixrev");
    assert_eq!(git_rev::revision(&outer.path().join("f"), "git".as_ref(), None).rev, "unknown");
}
