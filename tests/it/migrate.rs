//! Issue 15: `gf state migrate` moves a GitLab-managed HTTP state, written by real terraform into
//! a loopback HTTP state server, to the contract's key in real S3 (moto), after which `gf plan` of
//! the same resources finds nothing to change.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::harness::{Gf, Repo, Run, fixture, wait_until};
use crate::http_state::HttpStateServer;
use crate::lifecycle::{ACCESS, SECRET, tofu};
use crate::moto::Moto;

const USER: &str = "gitlab-operator";
/// Sentinel: must never reach gf's output, a file under the repository, S3 or any argv.
const PASSWORD: &str = "glpat-SENTINEL-7d2f9a41c0e5";
const KEY: &str = "tinyland-infra/web/terraform.tfstate";
const LOCK_KEY: &str = "tinyland-infra/web/terraform.tfstate.tflock";

/// moto, the HTTP state server, the fixture repository and a folder for terraform's
/// `backend "http"` configurations (outside the repository: gf refuses that backend).
struct World {
    moto: Moto,
    http: HttpStateServer,
    repo: Repo,
    tf: tempfile::TempDir,
}

impl World {
    fn new() -> Self {
        Self {
            moto: Moto::start(),
            http: HttpStateServer::start(USER, PASSWORD),
            repo: Repo::from_fixture("migrate"),
            tf: tempfile::tempdir().unwrap(),
        }
    }

    /// `terraform init` + `apply` of the fixture's resources with `backend "http"` on the state
    /// `name`, credentials from `TF_HTTP_*` as an operator of the old setup has them.
    fn terraform_apply(&self, name: &str, args: &[&str]) {
        let dir = self.tf.path().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::copy(fixture("migrate/web/main.tf"), dir.join("main.tf")).unwrap();
        std::fs::write(dir.join("backend.tf"), "terraform {\n  backend \"http\" {}\n}\n").unwrap();
        let address = self.http.address(name);
        let init: Vec<String> = ["init", "-input=false", "-no-color"]
            .into_iter()
            .map(String::from)
            .chain(["address", "lock_address", "unlock_address"].map(|k| format!("-backend-config={k}={address}")))
            .collect();
        terraform(&dir, &init);
        let apply: Vec<String> = ["apply", "-auto-approve", "-input=false", "-no-color"]
            .iter()
            .chain(args)
            .map(ToString::to_string)
            .collect();
        terraform(&dir, &apply);
    }

    /// gf against this world: context, tofu, S3 with the sentinel keys, `TF_HTTP_*`.
    fn gf(&self) -> Gf {
        self.repo
            .gf()
            .env("KUBE_CONTEXT", "honey")
            .env("GF_TOFU", tofu())
            .envs(self.moto.env(ACCESS, SECRET))
            .env("TF_HTTP_USERNAME", USER)
            .env("TF_HTTP_PASSWORD", PASSWORD)
    }

    /// `gf state migrate web --from-http <address of name> <extra>`.
    fn migrate(&self, name: &str, extra: &[&str]) -> Gf {
        self.gf().args(["state", "migrate", "web", "--from-http", &self.http.address(name)]).args(extra)
    }

    /// Every object in the bucket, by key.
    fn objects(&self) -> Vec<(String, Vec<u8>)> {
        self.moto.keys().into_iter().map(|k| (k.clone(), self.moto.get(&k).unwrap())).collect()
    }

    /// The sentinel password is in no file under the repository and no S3 object.
    fn assert_no_password_at_rest(&self) {
        for p in files(self.repo.path()) {
            assert!(!contains(&std::fs::read(&p).unwrap(), PASSWORD), "password in {}", p.display());
        }
        for (k, bytes) in self.objects() {
            assert!(!contains(&bytes, PASSWORD), "password in s3 object {k}");
        }
    }
}

fn terraform(dir: &Path, args: &[String]) {
    let out = Command::new(tofu())
        .args(args)
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", dir)
        .env("TF_DATA_DIR", dir.join(".terraform"))
        .env("TF_IN_AUTOMATION", "1")
        .env("CHECKPOINT_DISABLE", "1")
        .env("TF_HTTP_USERNAME", USER)
        .env("TF_HTTP_PASSWORD", PASSWORD)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "terraform {args:?}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() { out.extend(files(&p)) } else { out.push(p) }
    }
    out
}

/// Run `g` to completion while checking every process's argv for the sentinel password.
fn run_scanning_argv(g: &Gf) -> Run {
    let mut child = g.command().stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    loop {
        for e in std::fs::read_dir("/proc").unwrap().flatten() {
            let Ok(cmdline) = std::fs::read(e.path().join("cmdline")) else { continue };
            assert!(!contains(&cmdline, PASSWORD), "password in argv: {}", String::from_utf8_lossy(&cmdline));
        }
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let out = child.wait_with_output().unwrap();
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        argv: vec!["state".into(), "migrate".into()],
    }
}

fn json_of(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap()
}

#[test]
fn a_real_http_state_moves_to_the_contract_key_and_plans_without_changes() {
    let w = World::new();
    w.terraform_apply("web", &[]);
    let http_state = w.http.state("web").expect("terraform wrote its state over HTTP");
    let expected = json_of(&http_state);
    w.http.clear_log();

    let run = run_scanning_argv(&w.migrate("web", &[]));
    run.code(0)
        .stdout_has(&format!(
            "migrated `web` (dev): serial {}, lineage `{}`",
            expected["serial"],
            expected["lineage"].as_str().unwrap()
        ))
        .stdout_has(&format!("to    s3://gf-state/{KEY}"))
        .stdout_has("next: `gf plan web --detailed-exitcode` must exit 0");
    // Byte for byte at exactly the manifest's key; the S3 lock is gone again.
    assert_eq!(w.moto.keys(), [KEY]);
    assert_eq!(w.moto.get(KEY).unwrap(), http_state);
    // The HTTP side: locked with tofu's lock JSON, read, unlocked, in that order.
    assert_eq!(w.http.log(), ["LOCK /state/web 200", "GET /state/web 200", "UNLOCK /state/web 200"]);
    assert!(w.http.lock_of("web").is_none());
    let bodies = w.http.lock_bodies();
    let lock = bodies.last().unwrap();
    assert_eq!(lock["Operation"], "gf state migrate");
    assert_eq!(lock["ID"].as_str().unwrap().len(), 36);
    assert!(lock["Who"].as_str().unwrap().contains('@'), "{lock}");

    // gf's own view of the object, and the plan: the state arrived intact.
    let st = w.gf().args(["state", "web", "--json"]).run().code(0).json();
    assert_eq!(
        (&st["serial"], &st["lineage"], &st["exists"]),
        (&expected["serial"], &expected["lineage"], &Value::Bool(true))
    );
    assert_eq!(st["resources"], 2);
    let plan = w.gf().args(["plan", "web", "--detailed-exitcode", "--json"]).run();
    let doc = plan.code(0).json();
    assert_eq!(
        doc["stacks"][0]["changes"],
        serde_json::json!({"add": 0, "change": 0, "destroy": 0, "import": 0}),
        "{doc}"
    );

    // A second migration is refused and changes nothing.
    w.http.clear_log();
    let again = w.migrate("web", &[]).run();
    again.code(3).stderr_has("refused (existing-state)").stderr_has("already holds this exact state");
    assert_eq!(w.http.log(), ["LOCK /state/web 200", "GET /state/web 200", "UNLOCK /state/web 200"]);
    assert_eq!(w.moto.get(KEY).unwrap(), http_state);
    assert_eq!(w.moto.keys(), [KEY]);

    for r in [&run, &again, &plan] {
        r.output_lacks(PASSWORD).output_lacks(SECRET);
    }
    w.assert_no_password_at_rest();
}

#[test]
fn an_older_serial_of_the_same_lineage_is_replaced_only_with_yes_and_never_another_lineage() {
    let w = World::new();
    w.terraform_apply("web", &[]);
    w.migrate("web", &[]).run().code(0);
    let old = w.moto.get(KEY).unwrap();
    // The old pipeline applied once more after the first migration: the HTTP state moved on.
    w.terraform_apply("web", &["-var=replicas=4"]);
    let newer = w.http.state("web").unwrap();
    assert_eq!(json_of(&newer)["serial"].as_u64(), json_of(&old)["serial"].as_u64().map(|s| s + 1));

    w.migrate("web", &[]).run().code(3).stderr_has("refused (existing-state)").stderr_has("`--yes` replaces it");
    assert_eq!(w.moto.get(KEY).unwrap(), old, "refused without `--yes`: untouched");
    let yes = w.migrate("web", &["--yes", "--json"]).run();
    let doc = yes.code(0).json();
    assert_eq!(doc["replaced"]["serial"], json_of(&old)["serial"]);
    assert_eq!(w.moto.get(KEY).unwrap(), newer);
    w.gf().args(["plan", "web", "--detailed-exitcode", "--", "-var=replicas=4"]).run().code(0);

    // Another lineage (a different state), or a serial that is not newer: refused even with `--yes`.
    w.terraform_apply("other", &[]);
    w.migrate("other", &["--yes"]).run().code(3).stderr_has("never replaces a different lineage");
    w.http.put_state("web", &old);
    w.migrate("web", &["--yes"]).run().code(3).stderr_has("S3 is as new or newer");
    assert_eq!(w.moto.get(KEY).unwrap(), newer);
    assert!(w.http.lock_of("web").is_none() && w.http.lock_of("other").is_none());
    assert_eq!(w.moto.keys(), [KEY]);
}

#[test]
fn wrong_or_missing_credentials_fail_without_echoing_them_and_without_a_lock() {
    let w = World::new();
    w.terraform_apply("web", &[]);
    w.http.clear_log();
    let wrong = "glpat-SENTINEL-wrong-0a9f";
    let r = w.migrate("web", &[]).env("TF_HTTP_PASSWORD", wrong).run();
    r.code(1)
        .stderr_has("`LOCK http://127.0.0.1:")
        .stderr_has("answered 401 Unauthorized: the server did not accept the credentials in `TF_HTTP_USERNAME`/`TF_HTTP_PASSWORD`")
        .output_lacks(wrong)
        .output_lacks(PASSWORD);
    assert_eq!(w.http.log(), ["LOCK /state/web 401"]);
    let r = w.migrate("web", &[]).env("TF_HTTP_USERNAME", "").env("TF_HTTP_PASSWORD", "").run();
    r.code(1).stderr_has("the server wants credentials: set `TF_HTTP_USERNAME` and `TF_HTTP_PASSWORD`");
    // A password without a user name is refused before any request.
    w.http.clear_log();
    let r = w.migrate("web", &[]).env("TF_HTTP_USERNAME", "").run();
    r.code(1).stderr_has("`TF_HTTP_PASSWORD` is set but `TF_HTTP_USERNAME` is not").output_lacks(PASSWORD);
    assert!(w.http.arrived().is_empty(), "{:?}", w.http.arrived());
    // A password that is not UTF-8 is named, not silently dropped.
    let mut cmd = w.migrate("web", &[]).command();
    cmd.env("TF_HTTP_PASSWORD", <std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(b"glpat-\xff\xfe"));
    let out = cmd.stdin(Stdio::null()).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("`TF_HTTP_PASSWORD` is not valid UTF-8"));
    assert!(w.http.arrived().is_empty(), "{:?}", w.http.arrived());
    assert!(w.moto.keys().is_empty());
}

#[test]
fn an_address_with_user_info_is_refused_without_being_shown_or_contacted() {
    // A sentinel of its own: this test puts it in gf's argv on purpose, and a parallel test scans
    // every process's argv for the module's `PASSWORD`.
    const PASSWORD: &str = "glpat-URLINFO-3c9e1b7a20d4";
    let w = World::new();
    let with_password = format!("http://{USER}:{PASSWORD}@127.0.0.1:{}/state/web", w.http.port);
    for flags in [
        vec!["--from-http".to_string(), with_password.clone()],
        vec!["--from-http".into(), w.http.address("web"), "--lock-address".into(), with_password.clone()],
    ] {
        let r = w.gf().args(["state", "migrate", "web"]).args(&flags).run();
        r.code(1).stderr_has("holds user info (`user:password@`)").output_lacks(PASSWORD);
        let doc = w.gf().args(["state", "migrate", "web", "--json"]).args(&flags).run().code(1).json();
        assert_eq!(doc["ok"], false);
        assert!(doc["from"].is_null() || !doc["from"].as_str().unwrap().contains(PASSWORD));
        assert!(!doc.to_string().contains(PASSWORD));
    }
    assert!(w.http.arrived().is_empty());
}

#[test]
fn a_locked_http_state_is_refused_and_the_holders_lock_is_kept() {
    let w = World::new();
    w.terraform_apply("web", &[]);
    w.http.lock_as("web", "alice@ci-runner-7");
    w.http.clear_log();
    w.migrate("web", &[])
        .run()
        .code(3)
        .stderr_has("refused (http-lock)")
        .stderr_has("is locked by `alice@ci-runner-7` (OperationTypeApply)");
    assert_eq!(w.http.log(), ["LOCK /state/web 423"]);
    // GitLab's lock route answers 409: the same refusal.
    let lock = format!("{}/lock", w.http.address("web"));
    let gitlab = ["--lock-address", &lock, "--lock-method", "POST", "--unlock-method", "DELETE", "--json"];
    let doc = w.migrate("web", &gitlab).run().code(3).json();
    assert_eq!(
        (&doc["ok"], &doc["error"]["gate"], &doc["http_lock"]),
        (&Value::Bool(false), &Value::from("http-lock"), &Value::from("not-taken"))
    );
    assert_eq!(w.http.lock_of("web").unwrap()["Who"], "alice@ci-runner-7", "never unlocks someone else's lock");
    assert!(w.moto.keys().is_empty());
}

#[test]
fn gitlabs_lock_route_is_spoken_and_a_missing_route_says_how() {
    let w = World::new();
    w.terraform_apply("web", &[]);
    w.http.clear_log();
    let lock = format!("{}/lock", w.http.address("web"));
    let gitlab = ["--lock-address", lock.as_str(), "--lock-method", "POST", "--unlock-method", "DELETE"];
    w.migrate("web", &gitlab).run().code(0);
    assert_eq!(w.http.log(), ["POST /state/web/lock 200", "GET /state/web 200", "DELETE /state/web/lock 200"]);
    assert_eq!(w.moto.get(KEY).unwrap(), w.http.state("web").unwrap());
    // terraform's default methods on GitLab's lock route: 405, and the hint.
    w.moto.request("DELETE", &format!("/gf-state/{KEY}"));
    w.migrate("web", &["--lock-address", &lock])
        .run()
        .code(1)
        .stderr_has("answered 405")
        .stderr_has("GitLab locks at `<address>/lock`: pass `--lock-address <address>/lock --lock-method POST --unlock-method DELETE`");
    assert!(w.moto.keys().is_empty());
}

#[test]
fn an_http_state_that_is_not_a_tofu_state_is_refused_and_unlocked() {
    let w = World::new();
    let cases: [(&[u8], &str); 5] = [
        (b"<html><body>Sign in to GitLab</body></html>", "not JSON"),
        (br#"{"version":3,"serial":1,"lineage":"l","terraform_version":"0.11.14","modules":[]}"#, "`version` is 3"),
        (br#"{"version":4,"serial":1,"terraform_version":"1.11.4","resources":[]}"#, "`lineage` is missing"),
        (
            br#"{"version":4,"serial":"1","lineage":"l","terraform_version":"1.11.4","resources":[]}"#,
            "`serial` is not a non-negative integer",
        ),
        (br#"{"version":4,"serial":1,"lineage":"l","terraform_version":"1.11.4"}"#, "`resources` is missing"),
    ];
    for (body, want) in cases {
        w.http.put_state("web", body);
        w.http.clear_log();
        let r = w.migrate("web", &[]).run();
        r.code(1).stderr_has("is not a tofu state").stderr_has(want);
        assert_eq!(w.http.log().last().map(String::as_str), Some("UNLOCK /state/web 200"), "{want}");
        assert!(w.http.lock_of("web").is_none(), "{want}");
    }
    // No state at all (GitLab answers 204).
    let r = w.gf().args(["state", "migrate", "web", "--from-http", &w.http.address("nothing"), "--json"]).run();
    let doc = r.code(1).json();
    assert!(doc["error"]["message"].as_str().unwrap().contains("holds no state"), "{doc}");
    assert_eq!(doc["http_lock"], "released");
    assert!(w.moto.keys().is_empty());
}

#[test]
fn a_held_s3_lock_refuses_the_write_and_the_http_state_is_unlocked() {
    let w = World::new();
    w.terraform_apply("web", &[]);
    let tofu_lock = br#"{"ID":"5f1c7d1e-1111-4222-8333-944445555666","Operation":"OperationTypeApply","Info":"","Who":"bob@deploy-box","Version":"1.11.4","Created":"2026-12-01T10:00:00Z","Path":"gf-state/tinyland-infra/web/terraform.tfstate"}"#;
    w.moto.put(LOCK_KEY, tofu_lock);
    let doc = w.migrate("web", &["--json"]).run().code(3).json();
    assert_eq!(doc["error"]["gate"], "s3-lock");
    assert!(doc["error"]["message"].as_str().unwrap().contains("`bob@deploy-box` (OperationTypeApply)"), "{doc}");
    assert_eq!((&doc["http_lock"], &doc["s3_lock"]), (&Value::from("released"), &Value::from("not-taken")));
    assert_eq!(w.moto.keys(), [LOCK_KEY], "nothing written, and the apply's lock untouched");
    assert_eq!(w.moto.get(LOCK_KEY).unwrap(), tofu_lock);
    assert!(w.http.lock_of("web").is_none());
    // The dry run sees it too.
    w.migrate("web", &["--dry-run"]).run().code(3).stderr_has("refused (s3-lock)");
}

#[test]
fn json_is_one_document_on_success_and_on_error() {
    let w = World::new();
    w.terraform_apply("web", &[]);
    let doc = w.migrate("web", &["--json"]).run().code(0).json();
    assert_eq!(
        (&doc["ok"], &doc["command"], &doc["stack"], &doc["env"]),
        (&Value::Bool(true), &Value::from("state migrate"), &Value::from("web"), &Value::from("dev"))
    );
    assert_eq!(doc["to"]["key"], KEY);
    assert_eq!(doc["state"]["serial"], json_of(&w.http.state("web").unwrap())["serial"]);
    let steps: Vec<(&str, &str)> = doc["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["step"].as_str().unwrap(), s["outcome"].as_str().unwrap()))
        .collect();
    let names: Vec<&str> = steps.iter().map(|s| s.0).collect();
    assert_eq!(
        names,
        [
            "contract",
            "address",
            "credentials",
            "http-lock",
            "http-read",
            "http-state",
            "s3-lock",
            "existing-state",
            "s3-write",
            "read-back",
            "s3-unlock",
            "http-unlock"
        ]
    );
    assert!(steps.iter().all(|s| s.1 == "pass"), "{steps:?}");
    assert_eq!((&doc["http_lock"], &doc["s3_lock"]), (&Value::from("released"), &Value::from("released")));
    assert!(doc["error"].is_null());
    // A refusal and an error: still one document, with the gate (or none) and the message.
    let refused = w.migrate("web", &["--json"]).run();
    let doc = refused.code(3).json();
    assert_eq!((&doc["ok"], &doc["error"]["gate"]), (&Value::Bool(false), &Value::from("existing-state")));
    let wrong = w.migrate("web", &["--json"]).env("TF_HTTP_PASSWORD", "glpat-SENTINEL-wrong-0a9f").run();
    let doc = wrong.code(1).json();
    assert!(doc["error"]["gate"].is_null());
    assert!(doc["error"]["message"].as_str().unwrap().contains("did not accept the credentials"));
    assert!(!wrong.stdout.contains("SENTINEL") && !refused.stdout.contains(PASSWORD));
    // An unknown stack is a usage error.
    w.gf()
        .args(["state", "migrate", "wbe", "--from-http", &w.http.address("web")])
        .run()
        .code(1)
        .stderr_has("unknown stack `wbe`");
}

#[test]
fn the_dry_run_reads_both_sides_takes_no_lock_and_writes_nothing() {
    let w = World::new();
    w.terraform_apply("web", &[]);
    w.http.clear_log();
    let serial = json_of(&w.http.state("web").unwrap())["serial"].clone();
    w.migrate("web", &["--dry-run"])
        .run()
        .code(0)
        .stdout_has(&format!("dry run: would migrate `web` (dev): serial {serial}"))
        .stdout_has(&format!("creating s3://gf-state/{KEY}"))
        .stderr_has("the dry run takes no lock");
    assert_eq!(w.http.arrived(), ["GET /state/web"]);
    assert!(w.moto.keys().is_empty());
    // It refuses what the real run refuses.
    w.migrate("web", &[]).run().code(0);
    w.migrate("web", &["--dry-run"]).run().code(3).stderr_has("refused (existing-state)");
}

#[test]
fn sigterm_while_reading_stops_before_any_write_and_unlocks_the_http_state() {
    let w = World::new();
    w.terraform_apply("web", &[]);
    w.http.clear_log();
    w.http.hold_gets();
    let child = w.migrate("web", &[]).spawn();
    wait_until(20, "gf's GET to arrive", || w.http.arrived().iter().any(|r| r == "GET /state/web"));
    let kill = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(kill.success());
    let out = child.wait_with_output().unwrap();
    w.http.release_gets();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(143), "{stderr}");
    assert!(stderr.contains("interrupted by SIGTERM: stopped before writing anything"), "{stderr}");
    let arrived = w.http.arrived();
    assert_eq!(arrived[arrived.len() - 3..], ["LOCK /state/web", "GET /state/web", "UNLOCK /state/web"]);
    assert!(w.http.lock_of("web").is_none());
    assert!(w.moto.keys().is_empty());
}

#[test]
fn the_object_store_writes_conditionally_against_real_s3() {
    use gf::s3state::{ObjectStore as _, Precondition, S3Settings, S3StateError, S3Store};
    use hyper::body::Bytes;
    let moto = Moto::start();
    let vars = moto.env(ACCESS, SECRET);
    let settings =
        S3Settings::from_lookup(|k| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone()), "us-east-1").unwrap();
    let store = S3Store::new(&settings);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        let first = store.put("k", Bytes::from_static(b"one"), &Precondition::Absent).await.unwrap().unwrap();
        let again = store.put("k", Bytes::from_static(b"two"), &Precondition::Absent).await;
        assert!(matches!(again, Err(S3StateError::PreconditionFailed { .. })), "{again:?}");
        let stale = store.put("k", Bytes::from_static(b"two"), &Precondition::Etag("0123".into())).await;
        assert!(matches!(stale, Err(S3StateError::PreconditionFailed { .. })), "{stale:?}");
        let second =
            store.put("k", Bytes::from_static(b"two"), &Precondition::Etag(first.clone())).await.unwrap().unwrap();
        assert_eq!(store.get("k").await.unwrap().unwrap().bytes, b"two");
        store.delete("k").await.unwrap();
        assert!(store.get("k").await.unwrap().is_none());
        store.delete("k").await.unwrap(); // absent: no error, as in S3
        // After a delete, a create is possible again; an overwrite of the deleted ETag is not.
        let stale = store.put("k", Bytes::from_static(b"three"), &Precondition::Etag(second)).await;
        assert!(stale.is_err(), "{stale:?}");
        store.put("k", Bytes::from_static(b"three"), &Precondition::Absent).await.unwrap();
        // Eight racing lock takers: exactly one wins.
        let racers = (0..8).map(|i| store.put("race.tflock", Bytes::from(format!("{i}")), &Precondition::Absent));
        let won = futures::future::join_all(racers).await.into_iter().flatten().count();
        assert_eq!(won, 1);
    });
}
