//! Issue 10: CLI conventions an operator expects, file modes whatever the umask, any environment
//! variable (non-UTF-8 included) without a panic, `--json` errors as one document, and the
//! redactor: no credential in any line gf prints, under the most talkative logs.

use std::os::unix::ffi::OsStrExt as _;
use std::path::Path;

use crate::harness::{Repo, gf};
use crate::lifecycle::{ACCESS, SECRET, gf_for, run_on_a_terminal, tofu};
use crate::moto::Moto;

fn mode(p: &Path) -> u32 {
    std::os::unix::fs::PermissionsExt::mode(&std::fs::symlink_metadata(p).unwrap().permissions()) & 0o777
}

/// Every path under `dir`, folders included.
fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        out.push(p.clone());
        if p.is_dir() && !p.is_symlink() {
            out.extend(walk(&p));
        }
    }
    out
}

#[test]
fn each_subcommand_takes_only_its_own_flags() {
    let repo = Repo::from_fixture("lifecycle");
    for args in [
        &["output", "alpha", "--yes"][..],
        &["output", "alpha", "--detailed-exitcode"],
        &["apply", "alpha", "--jobs", "4"],
        &["apply", "alpha", "--allow-empty-state"],
        &["init", "alpha", "--destroy"],
        &["plan", "--all", "--jobs", "0"],
        &["cache", "check", "--jobs", "0"],
        &["state", "alpha", "--yes"],
    ] {
        let r = repo.gf().args(args).run();
        r.code(1);
        assert!(r.stderr.contains("error:") && !r.stderr.contains("panicked"), "{args:?}: {}", r.stderr);
    }
}

#[test]
fn unknown_stacks_list_the_known_ones_and_env_is_chosen_as_sh_users_expect() {
    let repo = Repo::from_fixture("lifecycle");
    repo.gf()
        .args(["state", "alpah"])
        .run()
        .code(1)
        .stderr_has("unknown stack `alpah`; did you mean `alpha`?")
        .stderr_has("the contract defines `alpha`, `beta`, `gamma`");
    // `ENV=/root/.shrc` is sh's startup file: ignored with a warning, the only environment is used.
    let r = repo.gf().env("ENV", "/root/.shrc").args(["stacks", "--json"]).run();
    r.code(0).stderr_has("ignoring `ENV=/root/.shrc`");
    assert_eq!(r.json()[0]["state_key"], "alpha/terraform.tfstate");
    // `GF_ENV` wins over `ENV`.
    repo.gf()
        .env("ENV", "dev")
        .env("GF_ENV", "prod")
        .args(["stacks"])
        .run()
        .code(1)
        .stderr_has("unknown environment `prod`");
}

#[test]
fn completions_man_page_and_version() {
    gf().args(["completions", "bash"]).run().code(0).stdout_has("_gf()");
    gf().args(["completions", "zsh"]).run().code(0).stdout_has("#compdef gf");
    gf().args(["completions", "fish"]).run().code(0).stdout_has("complete -c gf");
    gf().args(["completions", "tcsh"]).run().code(1);
    gf().arg("man").run().code(0).stdout_has(".TH gf 1").stdout_has("deploy");
    gf().arg("--version").run().code(0).stdout_has("gf 0.1.0");
}

#[test]
fn doctor_warns_about_terraform_instead_of_opentofu() {
    let repo = Repo::from_fixture("lifecycle");
    // No `GF_TOFU`, no `tofu` on `PATH`: the terraform on `PATH` is used, with a warning.
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(tofu(), dir.path().join("terraform")).unwrap();
    let path = format!("{}:/usr/bin:/bin", dir.path().display());
    let r = repo.gf().env("PATH", path).env("KUBE_CONTEXT", "honey").args(["doctor"]).run();
    r.stdout_has("warning").stdout_has("Terraform, not OpenTofu").output_lacks("ok (ok");
}

#[test]
fn json_refusals_and_errors_are_one_document() {
    let repo = Repo::from_fixture("lifecycle");
    let g = repo.gf().env("GF_TOFU", tofu());
    let one = |r: &crate::harness::Run| {
        let v = r.json();
        assert_eq!(v["ok"], false, "{v}");
        v
    };
    let v = one(g.clone().env("KUBE_CONTEXT", "kind").args(["plan", "alpha", "--json"]).run().code(3));
    assert_eq!(v["gate"], "context");
    let v =
        one(g.clone().env("KUBE_CONTEXT", "honey").env("CI", "true").args(["apply", "beta", "--json"]).run().code(3));
    assert_eq!(v["gate"], "operator-in-ci");
    let v = one(g.clone().args(["state", "nope", "--json"]).run().code(1));
    assert!(v["error"].as_str().unwrap().contains("unknown stack `nope`"), "{v}");
    let v = one(g.clone().env("KUBE_CONTEXT", "kind").args(["lane", "drain", "--json"]).run().code(1));
    assert!(v["error"].as_str().unwrap().contains("lane"), "{v}");
    let v = one(g.clone().args(["state", "unlock", "alpha", "--json"]).env("CI", "true").run().code(3));
    assert_eq!(v["gate"], "unlock");
}

#[test]
fn any_environment_variable_is_accepted_and_an_empty_no_color_is_no_opinion() {
    let repo = Repo::from_fixture("lifecycle");
    let bad = std::ffi::OsStr::from_bytes(b"caf\xe9-\xff").to_os_string();
    for args in [&["stacks"][..], &["check"], &["plan", "--all", "--dry-run"], &["doctor", "--json"]] {
        let mut cmd = repo.gf().env("GF_TOFU", tofu()).args(args).command();
        cmd.env("GF_TEST_NOT_UTF8", &bad).env("TF_VAR_odd", &bad);
        let out = cmd.output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert!(matches!(out.status.code(), Some(0 | 1)), "{args:?}: {stderr}");
    }
    // On a terminal: colour unless `NO_COLOR` is set to something (no-color.org).
    let g = repo.gf().env("KUBE_CONTEXT", "kind");
    let coloured = run_on_a_terminal(&g.clone().env("NO_COLOR", "").args(["plan", "alpha"]), "");
    assert!(coloured.stdout.contains("\x1b["), "{:?}", coloured.stdout);
    let plain = run_on_a_terminal(&g.clone().env("NO_COLOR", "1").args(["plan", "alpha"]), "");
    assert!(!plain.stdout.contains("\x1b["), "{:?}", plain.stdout);
    // Off a terminal: never colour, and tofu is told `-no-color`.
    let piped = repo.gf().env("GF_TOFU", tofu()).args(["init", "alpha", "--dry-run", "--json"]).run();
    let argv = piped.json()["stacks"][0]["commands"][0]["argv"].clone();
    assert!(argv.as_array().unwrap().iter().any(|a| a == "-no-color"), "{argv}");
}

#[test]
fn files_are_private_whatever_the_umask() {
    let moto = Moto::start();
    let repo = Repo::from_fixture("lifecycle");
    // An earlier, careless tool left `.gf/dev` world-writable.
    std::fs::create_dir_all(repo.path().join(".gf/dev")).unwrap();
    std::fs::set_permissions(repo.path().join(".gf/dev"), std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    let g = gf_for(&repo, &moto);
    for args in [&["plan", "alpha", "--allow-empty-state"][..], &["apply", "alpha"], &["plan", "alpha"]] {
        let mut cmd = std::process::Command::new("sh");
        let inner = g.clone().args(args).command();
        let line: Vec<String> = std::iter::once(inner.get_program())
            .chain(inner.get_args())
            .map(|a| format!("'{}'", a.to_string_lossy().replace('\'', "'\\''")))
            .collect();
        cmd.env_clear().args(["-c", &format!("umask 000; exec {}", line.join(" "))]);
        for (k, v) in inner.get_envs() {
            if let Some(v) = v {
                cmd.env(k, v);
            }
        }
        let out = cmd.output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    let gf_dir = repo.path().join(".gf");
    assert!(repo.path().join(".gf/dev/alpha/plan.tfplan").is_file());
    for p in std::iter::once(gf_dir.clone()).chain(walk(&gf_dir)) {
        let m = mode(&p);
        if p.is_symlink() {
            continue;
        }
        assert_eq!(m & 0o077, 0, "`{}` is {m:o}: readable or writable by others", p.display());
        if p.is_dir() && !p.to_string_lossy().contains(".terraform") {
            assert_eq!(m, 0o700, "`{}`", p.display());
        } else if p.is_file() && !p.to_string_lossy().contains(".terraform") {
            assert_eq!(m, 0o600, "`{}`", p.display());
        }
    }
}

#[test]
fn no_credential_reaches_any_line_under_the_most_talkative_logs() {
    let moto = Moto::start();
    let repo = Repo::from_fixture("lifecycle");
    let token = "gf-sentinel-attic-token-93ac";
    let g = gf_for(&repo, &moto)
        .env("GF_LOG", "trace")
        .env("RUST_LOG", "trace")
        .env("TF_LOG", "trace")
        .env("GF_ATTIC_TOKEN", token);
    let mut all = String::new();
    for args in [
        &["plan", "alpha", "--allow-empty-state"][..],
        &["apply", "alpha"],
        &["state", "alpha"],
        &["doctor"],
        &["output", "alpha", "--json"],
    ] {
        let r = g.clone().args(args).run();
        assert!(matches!(r.code, Some(0 | 1)), "{args:?}: {}", r.stderr);
        all.push_str(&r.stdout);
        all.push_str(&r.stderr);
    }
    for s in [ACCESS, SECRET, token] {
        assert!(!all.contains(s), "`{s}` was printed");
    }
    assert!(all.contains("[redacted]"), "tofu's trace log carries the access key: it must have been redacted");
    crate::lifecycle::assert_no_secret_in_files(repo.path());
    // `TF_LOG_PATH` would put the same log in a file: gf does not pass it on.
    let log = repo.path().join("tofu.log");
    gf_for(&repo, &moto)
        .env("TF_LOG", "trace")
        .env("TF_LOG_PATH", log.to_string_lossy())
        .args(["plan", "alpha"])
        .run()
        .code(0)
        .stderr_has("`TF_LOG_PATH` is set");
    assert!(!log.exists(), "tofu wrote its log to `TF_LOG_PATH`");
}
