//! Issue 14: `gf affected` on git repositories built by the test (real `git init`, real commits).

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt as _;
use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};

use crate::harness::{Gf, copy_dir, fixture};

/// A git repository in a temporary folder, started from `tests/fixtures/affected` and committed.
struct GitRepo {
    dir: tempfile::TempDir,
    /// A global git config file for gf's git (empty unless a test makes it hostile).
    gitconfig: std::path::PathBuf,
}

impl GitRepo {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let gitconfig = dir.path().join("gitconfig");
        std::fs::write(&gitconfig, "").unwrap();
        let root = dir.path().join("repo");
        copy_dir(&fixture("affected"), &root);
        let repo = Self { dir, gitconfig };
        repo.git(&["init", "-q", "-b", "main"]);
        repo.commit_all("fixture");
        repo
    }

    fn path(&self) -> std::path::PathBuf {
        self.dir.path().join("repo")
    }

    /// git in the repository, with no user or system configuration but the test's own.
    fn git_in(&self, dir: &Path, args: &[&str]) -> String {
        let out = Command::new("git")
            .args(args)
            .current_dir(dir)
            .env("GIT_CONFIG_GLOBAL", &self.gitconfig)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@example.invalid")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@example.invalid")
            .output()
            .expect("run git");
        assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    fn git(&self, args: &[&str]) -> String {
        self.git_in(&self.path(), args)
    }

    fn write(&self, rel: impl AsRef<Path>, contents: &str) -> &Self {
        let p = self.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, contents).unwrap();
        self
    }

    fn append(&self, rel: &str, contents: &str) -> &Self {
        let old = std::fs::read_to_string(self.path().join(rel)).unwrap_or_default();
        self.write(rel, &format!("{old}{contents}"))
    }

    /// Commit everything; the new commit's id.
    fn commit_all(&self, msg: &str) -> String {
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "--allow-empty", "-m", msg]);
        self.git(&["rev-parse", "HEAD"])
    }

    /// `gf -C <repo> affected <args>`, gf's git seeing only the test's global config.
    fn affected(&self, args: &[&str]) -> Gf {
        crate::harness::gf()
            .root(&self.path())
            .arg("affected")
            .args(args)
            .env("GIT_CONFIG_GLOBAL", self.gitconfig.to_string_lossy())
            .env("GIT_CONFIG_NOSYSTEM", "1")
    }

    /// `--json` of a change from `base` to HEAD.
    fn json(&self, base: &str, extra: &[&str]) -> Value {
        let mut args = vec!["--base", base, "--json"];
        args.extend_from_slice(extra);
        let v = self.affected(&args).run().code(0).json();
        assert_eq!(v["ok"], true, "{v:#}");
        v
    }
}

/// `(stack, [reason labels])` of a `--json` document, for compact assertions.
fn summary(v: &Value) -> Vec<(String, Vec<String>)> {
    v["stacks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let reasons = s["reasons"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| match r["kind"].as_str().unwrap() {
                    "module" => format!("module {}", r["path"].as_str().unwrap()),
                    "dependency" => format!("dependency {}", r["stack"].as_str().unwrap()),
                    k => k.to_string(),
                })
                .collect();
            (s["name"].as_str().unwrap().to_string(), reasons)
        })
        .collect()
}

fn s(stack: &str, reasons: &[&str]) -> (String, Vec<String>) {
    (stack.to_string(), reasons.iter().map(|r| (*r).to_string()).collect())
}

#[test]
fn a_stack_file_selects_that_stack_only() {
    let r = GitRepo::new();
    let base = r.git(&["rev-parse", "HEAD"]);
    r.write("stacks/gamma/files/values.yaml", "replicas: 2\n");
    let head = r.commit_all("gamma values");
    let v = r.json("HEAD~1", &[]);
    assert_eq!(summary(&v), [s("gamma", &["stack"])]);
    assert_eq!(v["stacks"][0]["reasons"][0]["files"], json!(["stacks/gamma/files/values.yaml"]));
    assert_eq!(v["stacks"][0]["apply"], "operator");
    assert_eq!(v["stacks"][0]["lane"], Value::Null);
    assert_eq!(v["base"], json!({ "rev": "HEAD~1", "commit": base }));
    assert_eq!(v["head"], json!({ "rev": "HEAD", "commit": head }));
    assert_eq!(v["merge_base"], base);
    assert_eq!(v["changed_files"], json!(["stacks/gamma/files/values.yaml"]));
    assert_eq!(v["warnings"], json!([]));

    let human = r.affected(&["--base", "HEAD~1"]).run();
    human.code(0).stdout_has("1 stack affected by 1 changed file in HEAD~1...HEAD");
    let row = human.stdout.lines().find(|l| l.starts_with("gamma")).expect("a gamma row");
    assert_eq!(row.split_whitespace().collect::<Vec<_>>(), ["gamma", "operator", "-", "stack"]);
}

#[test]
fn a_module_of_a_module_selects_the_stack_through_the_chain_and_cycles_end() {
    let r = GitRepo::new();
    r.append("stacks/modules/app/labels/main.tf", "\n# a new label\n");
    r.commit_all("labels");
    let v = r.json("HEAD~1", &[]);
    assert_eq!(summary(&v), [s("beta", &["module stacks/modules/app/labels"])]);
    assert_eq!(
        v["stacks"][0]["reasons"][0],
        json!({ "kind": "module", "path": "stacks/modules/app/labels", "via": ["stacks/modules/app"], "files": ["stacks/modules/app/labels/main.tf"] })
    );
    r.affected(&["--base", "HEAD~1"])
        .run()
        .code(0)
        .stdout_has("module `stacks/modules/app/labels` via `stacks/modules/app`");

    // A file beside the module's sources (a template it reads) counts too.
    r.write("stacks/modules/net/templates/cidr.tpl", "${cidr}\n");
    r.commit_all("net template");
    assert_eq!(summary(&r.json("HEAD~1", &[])), [s("alpha", &["module stacks/modules/net"])]);
}

#[test]
fn a_stack_folder_reached_as_a_module_selects_both_stacks() {
    let r = GitRepo::new();
    r.write("stacks/alpha/shared/main.tf", "output \"x\" {\n  value = 1\n}\n");
    r.append("stacks/gamma/main.tf", "\nmodule \"shared\" {\n  source = \"../alpha/shared\"\n}\n");
    r.commit_all("gamma reaches into alpha");
    r.write("stacks/alpha/shared/main.tf", "output \"x\" {\n  value = 2\n}\n");
    r.commit_all("alpha shared");
    assert_eq!(summary(&r.json("HEAD~1", &[])), [s("alpha", &["stack"]), s("gamma", &["module stacks/alpha/shared"])]);
}

#[test]
fn the_contract_and_the_schemas_select_every_stack() {
    let r = GitRepo::new();
    r.write("stacks/schema/stack.schema.json", "{ \"type\": \"object\" }\n");
    r.commit_all("schema");
    let every = |reason: &str| vec![s("alpha", &[reason]), s("beta", &[reason]), s("gamma", &[reason])];
    assert_eq!(summary(&r.json("HEAD~1", &[])), every("contract"));

    r.append("stacks/contract.json", "\n");
    r.commit_all("contract");
    let v = r.json("HEAD~1", &[]);
    assert_eq!(summary(&v), every("contract"));
    assert_eq!(v["stacks"][2]["reasons"][0]["files"], json!(["stacks/contract.json"]));
}

#[test]
fn flake_lock_and_nix_select_every_stack_as_pins() {
    let r = GitRepo::new();
    r.write("flake.lock", "{ \"nodes\": { \"root\": {} }, \"root\": \"root\", \"version\": 7, \"x\": 1 }\n");
    r.commit_all("lock");
    let every = vec![s("alpha", &["pins"]), s("beta", &["pins"]), s("gamma", &["pins"])];
    assert_eq!(summary(&r.json("HEAD~1", &[])), every);
    r.write("nix/tofu.nix", "{ }\n");
    r.commit_all("nix");
    assert_eq!(summary(&r.json("HEAD~1", &[])), every);
    // flake.nix is not a pin (its inputs are pinned by flake.lock, which changes with them).
    r.append("flake.nix", "\n");
    r.commit_all("flake.nix");
    assert_eq!(summary(&r.json("HEAD~1", &[])), []);
}

#[test]
fn a_readme_change_selects_nothing_in_every_form() {
    let r = GitRepo::new();
    r.append("README.md", "more words\n");
    r.write("docs/notes.md", "notes\n");
    r.commit_all("docs");
    let v = r.json("HEAD~1", &[]);
    assert_eq!(v["stacks"], json!([]));
    assert_eq!(v["changed_files"], json!(["README.md", "docs/notes.md"]));
    r.affected(&["--base", "HEAD~1"]).run().code(0).stdout_has("no stack affected by 2 changed files");
    let m = r.affected(&["--base", "HEAD~1", "--github-matrix"]).run();
    m.code(0);
    assert_eq!(m.stdout, "{\"include\":[]}\n");
}

#[test]
fn with_dependents_follows_depends_on_transitively() {
    let r = GitRepo::new();
    r.append("stacks/modules/net/main.tf", "\n# wider\n");
    r.commit_all("net");
    assert_eq!(summary(&r.json("HEAD~1", &[])), [s("alpha", &["module stacks/modules/net"])]);
    assert_eq!(
        summary(&r.json("HEAD~1", &["--with-dependents"])),
        [
            s("alpha", &["module stacks/modules/net"]),
            s("beta", &["dependency alpha"]),
            s("gamma", &["dependency beta"])
        ]
    );
    // A stack affected by its own change and by its dependency names both.
    r.append("stacks/gamma/main.tf", "\n");
    r.commit_all("net and gamma");
    assert_eq!(
        summary(&r.json("HEAD~2", &["--with-dependents"])),
        [
            s("alpha", &["module stacks/modules/net"]),
            s("beta", &["dependency alpha"]),
            s("gamma", &["stack", "dependency beta"])
        ]
    );
}

#[test]
fn github_matrix_is_one_line_in_dependency_order() {
    let r = GitRepo::new();
    r.append("stacks/gamma/main.tf", "\n");
    r.append("stacks/alpha/main.tf", "\n");
    r.commit_all("alpha and gamma");
    let m = r.affected(&["--base", "HEAD~1", "--github-matrix"]).run();
    m.code(0);
    assert_eq!(
        m.stdout,
        "{\"include\":[{\"stack\":\"alpha\",\"apply\":\"automated\",\"lane\":\"heavy-nix\"},\
         {\"stack\":\"gamma\",\"apply\":\"operator\",\"lane\":null}]}\n"
    );
    // `--json` and `--github-matrix` are two different documents.
    r.affected(&["--base", "HEAD~1", "--github-matrix", "--json"]).run().code(1).stderr_has("cannot be used with");
}

#[test]
fn the_diff_starts_at_the_merge_base() {
    let r = GitRepo::new();
    r.git(&["checkout", "-q", "-b", "feature"]);
    r.append("stacks/gamma/main.tf", "\n");
    r.commit_all("feature: gamma");
    r.git(&["checkout", "-q", "main"]);
    r.append("stacks/alpha/main.tf", "\n");
    r.commit_all("main moved on: alpha");
    // What the feature branch adds (as a pull request shows it), not main's own later change.
    let v = r.affected(&["--base", "main", "--head", "feature", "--json"]).run().code(0).json();
    assert_eq!(summary(&v), [s("gamma", &["stack"])]);
    assert_eq!(v["merge_base"], r.git(&["rev-parse", "main~1"]));
}

#[test]
fn unknown_and_dangerous_refs_exit_1_with_a_json_document() {
    let r = GitRepo::new();
    let run = r.affected(&["--base", "no-such-branch", "--json"]).run();
    run.code(1);
    let v = run.json();
    assert_eq!(v["ok"], false);
    assert_eq!(v["exit"], 1);
    let err = v["error"].as_str().unwrap();
    assert!(err.contains("unknown revision `no-such-branch` (`--base`)"), "{err}");
    run.stderr_has("unknown revision `no-such-branch`");

    r.affected(&["--base", "HEAD", "--head", "v9.9"]).run().code(1).stderr_has("unknown revision `v9.9` (`--head`)");
    assert!(r.affected(&["--base", "HEAD"]).run().code(0).stdout.starts_with("no stack affected by 0 changed files"));

    // A ref git would read as an option (here one that writes a file) is refused before git runs.
    let out = r.path().join("written-by-git");
    let opt = format!("--output={}", out.display());
    let run = r.affected(&[&format!("--base={opt}"), "--json"]).run();
    run.code(1);
    assert!(run.json()["error"].as_str().unwrap().contains("leading `-`"), "{}", run.stdout);
    assert!(!out.exists(), "git was handed `{opt}`");

    // A range is not a revision.
    r.affected(&["--base", "main..HEAD"]).run().code(1).stderr_has("`--base` `main..HEAD` is not one revision");

    // Outside a git repository: git's own message and the argv.
    let plain = tempfile::tempdir().unwrap();
    copy_dir(&fixture("affected"), plain.path());
    let run = crate::harness::gf().root(plain.path()).args(["affected", "--base", "HEAD", "--json"]).run();
    run.code(1);
    let err = run.json()["error"].as_str().unwrap().to_string();
    assert!(err.contains("git --no-pager rev-parse") && err.contains("not a git repository"), "{err}");

    // A broken contract is an error document too.
    r.write("stacks/gamma/stack.json", "{");
    let run = r.affected(&["--base", "HEAD", "--json"]).run();
    run.code(1);
    assert!(run.json()["error"].as_str().unwrap().contains("stacks/gamma/stack.json"), "{}", run.stdout);
}

#[test]
fn unrelated_histories_and_shallow_clones_say_why() {
    let r = GitRepo::new();
    r.git(&["checkout", "-q", "--orphan", "other"]);
    r.commit_all("unrelated");
    let run = r.affected(&["--base", "main", "--head", "other"]).run();
    run.code(1).stderr_has("have no common ancestor");

    // A depth-1 clone (actions/checkout's default) does not have the base.
    r.git(&["checkout", "-q", "main"]);
    r.append("stacks/gamma/main.tf", "\n");
    r.commit_all("second");
    let shallow = r.dir.path().join("shallow");
    let url = format!("file://{}", r.path().display());
    r.git_in(r.dir.path(), &["clone", "-q", "--depth", "1", &url, shallow.to_str().unwrap()]);
    let run = crate::harness::gf()
        .root(&shallow)
        .args(["affected", "--base", "HEAD~1"])
        .env("GIT_CONFIG_GLOBAL", r.gitconfig.to_string_lossy())
        .run();
    run.code(1).stderr_has("unknown revision `HEAD~1`").stderr_has("shallow").stderr_has("fetch-depth: 0");
}

#[test]
fn a_moved_file_selects_the_stack_it_left_whatever_the_git_config() {
    let r = GitRepo::new();
    // Everything a user's config could do to `git diff`'s output.
    std::fs::write(
        &r.gitconfig,
        "[diff]\n\trenames = copies\n\trelative = true\n\tnoprefix = true\n\texternal = false\n\
         [core]\n\tquotepath = true\n[color]\n\tui = always\n[log]\n\tshowSignature = true\n",
    )
    .unwrap();
    r.git(&["mv", "stacks/gamma/files/values.yaml", "stacks/modules/values.yaml"]);
    r.commit_all("move");
    let v = r.json("HEAD~1", &[]);
    assert_eq!(summary(&v), [s("gamma", &["stack"])]);
    assert_eq!(v["changed_files"], json!(["stacks/gamma/files/values.yaml", "stacks/modules/values.yaml"]));
    // From a subfolder too (`diff.relative` would otherwise cut paths to the working directory).
    let v = r.affected(&["--base", "HEAD~1", "--json"]).cwd(&r.path().join("stacks/alpha")).run().code(0).json();
    assert_eq!(summary(&v), [s("gamma", &["stack"])]);
}

#[test]
fn non_utf8_paths_are_matched_as_bytes() {
    let r = GitRepo::new();
    let name = |prefix: &str| {
        let mut b = prefix.as_bytes().to_vec();
        b.extend_from_slice(b"caf\xe9.txt");
        std::path::PathBuf::from(OsStr::from_bytes(&b))
    };
    r.write(name("stacks/gamma/files/"), "latin-1\n");
    r.write(name("stacks/modules/net/"), "latin-1\n");
    r.commit_all("latin-1 names");
    let v = r.json("HEAD~1", &[]);
    assert_eq!(summary(&v), [s("alpha", &["module stacks/modules/net"]), s("gamma", &["stack"])]);
    assert_eq!(v["changed_files"], json!(["stacks/gamma/files/caf\u{fffd}.txt", "stacks/modules/net/caf\u{fffd}.txt"]));
}

#[test]
fn the_module_graph_is_read_at_head_not_from_the_working_tree() {
    let r = GitRepo::new();
    r.append("stacks/modules/net/main.tf", "\n");
    r.commit_all("net");
    // Uncommitted: beta stops calling `stacks/modules/app` and calls `stacks/modules/net`. Not part of HEAD.
    r.write("stacks/beta/main.tf", "module \"net\" {\n  source = \"../modules/net\"\n}\n");
    assert_eq!(summary(&r.json("HEAD~1", &[])), [s("alpha", &["module stacks/modules/net"])]);
    // Once committed, the next change to the module selects beta as well.
    r.commit_all("beta calls net");
    r.append("stacks/modules/net/main.tf", "\n");
    r.commit_all("net again");
    assert_eq!(
        summary(&r.json("HEAD~1", &[])),
        [s("alpha", &["module stacks/modules/net"]), s("beta", &["module stacks/modules/net"])]
    );
    // `--head` an older commit: the graph of that commit (beta still on `stacks/modules/app`).
    assert_eq!(
        summary(&r.affected(&["--base", "HEAD~3", "--head", "HEAD~2", "--json"]).run().code(0).json()),
        [s("alpha", &["module stacks/modules/net"])]
    );
}

#[test]
fn sources_gf_cannot_follow_are_warnings_naming_file_and_line() {
    let r = GitRepo::new();
    r.append("stacks/gamma/main.tf", "\nmodule \"x\" {\n  source = \"./mods/${var.flavour}\"\n}\n");
    r.append("stacks/gamma/main.tf", "\nmodule \"y\" {\n  source = \"../../../outside\"\n}\n");
    r.append("stacks/gamma/main.tf", "\nmodule \"z\" {\n  source = \"./typo\"\n}\n");
    r.commit_all("gamma modules");
    let v = r.json("HEAD~1", &[]);
    let w: Vec<(String, u64)> = v["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| (w["code"].as_str().unwrap().to_string(), w["line"].as_u64().unwrap()))
        .collect();
    assert_eq!(
        w,
        [
            ("module-source-expression".to_string(), 10),
            ("module-outside-root".to_string(), 14),
            ("module-without-sources".to_string(), 18)
        ]
    );
    assert!(v["warnings"].as_array().unwrap().iter().all(|w| w["file"] == "stacks/gamma/main.tf"));
    r.affected(&["--base", "HEAD~1"]).run().code(0).stderr_has(
        "warning: stacks/gamma/main.tf:10: module source `\"./mods/${var.flavour}\"` is not a plain string",
    );
}

#[test]
fn a_root_below_the_git_toplevel_sees_only_its_own_files() {
    let r = GitRepo::new();
    // The whole fixture moves into `infra/`; a decoy `stacks/gamma/` stays at the top.
    std::fs::create_dir(r.path().join("infra")).unwrap();
    for p in ["stacks", "nix", "flake.lock"] {
        r.git(&["mv", p, &format!("infra/{p}")]);
    }
    r.commit_all("into infra/");
    r.append("infra/stacks/gamma/main.tf", "\n");
    r.append("infra/stacks/modules/app/main.tf", "\n");
    r.write("stacks/gamma/decoy.tf", "\n");
    r.write("flake.lock", "{}\n");
    r.commit_all("infra and decoys");
    let v = r.affected(&["--base", "HEAD~1", "--json"]).arg("-C").arg(r.path().join("infra")).run().code(0).json();
    assert_eq!(summary(&v), [s("beta", &["module stacks/modules/app"]), s("gamma", &["stack"])]);
    assert_eq!(v["changed_files"], json!(["stacks/gamma/main.tf", "stacks/modules/app/main.tf"]));
}
