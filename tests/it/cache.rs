//! `gf cache check` and the cache gate against real Nix-made binary caches served on loopback.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::binary_cache::{self, Fixture, Opts, Server};
use crate::harness::{Gf, Repo, gf};

const SENTINEL: &str = "gf-sentinel-token-8c1f0e";

/// `gf cache check` against `url`, cache `main`, trusting the base key, run in a scratch folder.
fn check(fx: &Fixture, url: &str) -> Gf {
    gf().cwd(&fx.work()).args(["cache", "check", "--endpoint", url, "--cache", "main", "--trusted-key", &fx.base.key])
}

fn paths_file(fx: &Fixture, paths: &[&str]) -> PathBuf {
    let p = fx.work().join("paths.txt");
    std::fs::write(&p, paths.iter().map(|p| format!("{p}\n")).collect::<Vec<_>>().concat()).unwrap();
    p
}

fn statuses(v: &serde_json::Value) -> Vec<(String, String)> {
    v["paths"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["path"].as_str().unwrap().to_string(), p["status"].as_str().unwrap().to_string()))
        .collect()
}

#[test]
fn all_present_paths_pass() {
    let fx = Fixture::new();
    let s = Server::start(&fx.cache_dir(), Opts::public());
    let b = fx.base;
    let file = paths_file(&fx, &[&b.a, &b.b, &b.c, &b.lone]);
    check(&fx, &s.url)
        .arg("--paths")
        .arg(&file)
        .run()
        .code(0)
        .stdout_has("ok: cache `main`")
        .stdout_has("all 4 paths present");
}

#[test]
fn json_has_the_spec_shape() {
    let fx = Fixture::new();
    let s = Server::start(&fx.cache_dir(), Opts::public());
    let b = fx.base;
    let file = paths_file(&fx, &[&b.a, &b.missing, &b.other]);
    let run = check(&fx, &s.url).arg("--paths").arg(&file).arg("--json").run();
    run.code(1);
    let v = run.json();
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, ["endpoint", "cache", "store_dir", "paths", "summary"]);
    assert_eq!(v["endpoint"], s.url.as_str());
    assert_eq!(v["cache"], "main");
    assert_eq!(v["store_dir"], "/nix/store");
    assert_eq!(
        v["summary"],
        serde_json::json!({"present": 1, "missing": 1, "untrusted": 1, "invalid_signature": 0, "error": 0})
    );
    let present = &v["paths"][0];
    assert_eq!(present.as_object().unwrap().keys().collect::<Vec<_>>(), ["path", "status"], "no reason when present");
    assert_eq!(present["path"], b.a.as_str());
    for p in v["paths"].as_array().unwrap().iter().skip(1) {
        assert!(p["reason"].as_str().is_some_and(|r| !r.is_empty()), "{p}");
    }
}

#[test]
fn missing_path_fails_the_check() {
    let fx = Fixture::new();
    let s = Server::start(&fx.cache_dir(), Opts::public());
    let b = fx.base;
    let file = paths_file(&fx, &[&b.a, &b.missing]);
    let run = check(&fx, &s.url).arg("--paths").arg(&file).run();
    run.code(1).stdout_has("missing").stdout_has(&b.missing).stdout_has("1 present, 1 missing");
    let v = check(&fx, &s.url).arg("--paths").arg(&file).arg("--json").run().json();
    assert_eq!(statuses(&v), [(b.a.clone(), "present".into()), (b.missing.clone(), "missing".into())]);
}

#[test]
fn path_signed_by_an_untrusted_key_is_untrusted() {
    let fx = Fixture::new();
    let s = Server::start(&fx.cache_dir(), Opts::public());
    let b = fx.base;
    let file = paths_file(&fx, &[&b.other]);
    let run = check(&fx, &s.url).arg("--paths").arg(&file).arg("--json").run();
    run.code(1);
    let v = run.json();
    assert_eq!(v["paths"][0]["status"], "untrusted");
    let reason = v["paths"][0]["reason"].as_str().unwrap();
    assert!(reason.contains("`gf-other-1`") && reason.contains("`gf-test-1`"), "{reason}");
    // Trusting only the other key turns the tables.
    let file = paths_file(&fx, &[&b.a, &b.other]);
    let run = gf()
        .cwd(&fx.work())
        .args(["cache", "check", "--endpoint", &s.url, "--cache", "main", "--trusted-key", &b.other_key, "--json"])
        .arg("--paths")
        .arg(&file)
        .run();
    run.code(1);
    assert_eq!(statuses(&run.json()), [(b.a.clone(), "untrusted".into()), (b.other.clone(), "present".into())]);
}

#[test]
fn tampered_narinfo_has_an_invalid_signature() {
    let fx = Fixture::new();
    let b = fx.base;
    // Same signature, different NarHash: the fingerprint no longer matches what was signed.
    let text = std::fs::read_to_string(fx.narinfo(&b.lone)).unwrap();
    let hash = text.lines().find_map(|l| l.strip_prefix("NarHash: sha256:")).unwrap().to_string();
    let flipped = format!("{}{}", if hash.starts_with('0') { "1" } else { "0" }, &hash[1..]);
    fx.tamper(&b.lone, &hash, &flipped);
    fx.tamper(&b.a, "NarSize: ", "NarSize: 1");
    let s = Server::start(&fx.cache_dir(), Opts::public());
    let file = paths_file(&fx, &[&b.lone, &b.a, &b.b]);
    let run = check(&fx, &s.url).arg("--paths").arg(&file).arg("--json").run();
    run.code(1);
    let v = run.json();
    assert_eq!(
        statuses(&v),
        [
            (b.lone.clone(), "invalid-signature".into()),
            (b.a.clone(), "invalid-signature".into()),
            (b.b.clone(), "present".into())
        ]
    );
    assert!(v["paths"][0]["reason"].as_str().unwrap().contains("`gf-test-1` does not verify"));
}

#[test]
fn closure_reaches_every_reference() {
    let fx = Fixture::new();
    let s = Server::start(&fx.cache_dir(), Opts::public());
    let b = fx.base;
    let file = paths_file(&fx, &[&b.c]);
    let v = check(&fx, &s.url).arg("--paths").arg(&file).arg("--json").run().json();
    assert_eq!(statuses(&v).len(), 1, "without --closure only the path itself");
    let run = check(&fx, &s.url).arg("--paths").arg(&file).args(["--closure", "--json"]).run();
    run.code(0);
    let got = statuses(&run.json());
    assert_eq!(got[0], (b.c.clone(), "present".into()));
    let mut rest: Vec<_> = got[1..].to_vec();
    rest.sort();
    let mut want = vec![(b.a.clone(), "present".to_string()), (b.b.clone(), "present".to_string())];
    want.sort();
    assert_eq!(rest, want);
    // Each path is fetched once even when reached twice (b is both asked for and referenced).
    let file = paths_file(&fx, &[&b.c, &b.b]);
    let s2 = Server::start(&fx.cache_dir(), Opts::public());
    check(&fx, &s2.url).arg("--paths").arg(&file).arg("--closure").run().code(0).stdout_has("all 3 paths present");
    assert_eq!(s2.requests().iter().filter(|r| r.ends_with(".narinfo auth=no")).count(), 3, "{:?}", s2.requests());
}

#[test]
fn closure_with_a_missing_reference_fails() {
    let fx = Fixture::new();
    let b = fx.base;
    fx.remove(&b.a);
    let s = Server::start(&fx.cache_dir(), Opts::public());
    let file = paths_file(&fx, &[&b.c]);
    let run = check(&fx, &s.url).arg("--paths").arg(&file).args(["--closure", "--json"]).run();
    run.code(1);
    let got = statuses(&run.json());
    assert!(got.contains(&(b.a.clone(), "missing".into())), "{got:?}");
    assert!(got.contains(&(b.c.clone(), "present".into())), "{got:?}");
}

#[test]
fn unknown_cache_is_an_error() {
    let fx = Fixture::new();
    let s = Server::start(&fx.cache_dir(), Opts::public());
    let file = paths_file(&fx, &[&fx.base.a]);
    gf().cwd(&fx.work())
        .args(["cache", "check", "--endpoint", &s.url, "--cache", "nope", "--trusted-key", &fx.base.key])
        .arg("--paths")
        .arg(&file)
        .run()
        .code(1)
        .stderr_has("no cache `nope`")
        .stderr_has("GF_ATTIC_CACHE");
}

#[test]
fn invalid_cache_name_is_refused_before_any_request() {
    let fx = Fixture::new();
    let s = Server::start(&fx.cache_dir(), Opts::public());
    gf().cwd(&fx.work())
        .args(["cache", "check", "--endpoint", &s.url, "--cache", "ma/in", "--trusted-key", &fx.base.key])
        .run()
        .code(1)
        .stderr_has("cache name `ma/in` is not valid");
    assert!(s.requests().is_empty(), "{:?}", s.requests());
}

#[test]
fn malformed_store_paths_are_each_explained() {
    let fx = Fixture::new();
    let s = Server::start(&fx.cache_dir(), Opts::public());
    let file = paths_file(
        &fx,
        &[
            "# comments and blank lines are fine",
            "",
            &fx.base.a,
            "/gnu/store/7rkjmg0sywydcv4mmg91scsax6fg2awj-x",
            "/nix/store/7rkjmg0sywydcv4mmg91scsax6fg2aw-short",
            "/nix/store/7rkjmg0sywydcv4mmg91scsax6fg2awe-bad-alphabet",
            "/nix/store/7rkjmg0sywydcv4mmg91scsax6fg2awj-",
        ],
    );
    check(&fx, &s.url)
        .arg("--paths")
        .arg(&file)
        .run()
        .code(1)
        .stderr_has("malformed store paths")
        .stderr_has("line 4: `/gnu/store/7rkjmg0sywydcv4mmg91scsax6fg2awj-x` is not in the Nix store `/nix/store`")
        .stderr_has(
            "line 5: `/nix/store/7rkjmg0sywydcv4mmg91scsax6fg2aw-short`: the hash part must be 32 characters, found 31",
        )
        .stderr_has("`e` in the hash part is not in Nix's base-32 alphabet")
        .stderr_has("line 7: `/nix/store/7rkjmg0sywydcv4mmg91scsax6fg2awj-` has no name after the hash");
    assert!(s.requests().is_empty(), "nothing is fetched before the input is valid: {:?}", s.requests());
}

#[test]
fn paths_from_stdin() {
    let fx = Fixture::new();
    let s = Server::start(&fx.cache_dir(), Opts::public());
    check(&fx, &s.url)
        .args(["--paths", "-"])
        .stdin(&format!("{}\n{}\n", fx.base.a, fx.base.b))
        .run()
        .code(0)
        .stdout_has("all 2 paths present");
}

#[test]
fn no_trusted_keys_means_no_verdict() {
    let fx = Fixture::new();
    let s = Server::start(&fx.cache_dir(), Opts::public());
    let file = paths_file(&fx, &[&fx.base.a]);
    gf().cwd(&fx.work())
        .args(["cache", "check", "--endpoint", &s.url, "--cache", "main", "--paths"])
        .arg(&file)
        .run()
        .code(1)
        .stderr_has("no trusted keys")
        .stderr_has("GF_ATTIC_TRUSTED_KEYS");
    // Availability alone needs no key.
    gf().cwd(&fx.work())
        .args(["cache", "check", "--endpoint", &s.url, "--cache", "main"])
        .run()
        .code(0)
        .stdout_has("answers (StoreDir `/nix/store`); no paths asked for");
}

#[test]
fn private_cache_without_token_names_the_variable() {
    let fx = Fixture::new();
    let s = Server::start(&fx.cache_dir(), Opts::private(SENTINEL));
    let file = paths_file(&fx, &[&fx.base.a]);
    check(&fx, &s.url)
        .arg("--paths")
        .arg(&file)
        .run()
        .code(1)
        .stderr_has("401")
        .stderr_has("set `GF_ATTIC_TOKEN`")
        .output_lacks(SENTINEL);
    // A wrong token counts as anonymous.
    check(&fx, &s.url)
        .arg("--paths")
        .arg(&file)
        .env("GF_ATTIC_TOKEN", "wrong-token-77")
        .run()
        .code(1)
        .stderr_has("the token in `GF_ATTIC_TOKEN` was not accepted")
        .output_lacks("wrong-token-77");
}

#[test]
fn private_cache_with_token_uses_attic_api() {
    let fx = Fixture::new();
    let b = fx.base;
    let s = Server::start(&fx.cache_dir(), Opts::private(SENTINEL));
    let file = paths_file(&fx, &[&b.a, &b.b, &b.missing]);
    let run = check(&fx, &s.url).arg("--paths").arg(&file).arg("--json").env("GF_ATTIC_TOKEN", SENTINEL).run();
    run.code(1).output_lacks(SENTINEL);
    let v = run.json();
    assert_eq!(
        statuses(&v),
        [(b.a.clone(), "present".into()), (b.b.clone(), "present".into()), (b.missing.clone(), "missing".into())]
    );
    assert!(v["paths"][2]["reason"].as_str().unwrap().contains("get-missing-paths"));
    let reqs = s.requests();
    assert!(reqs.contains(&"GET /_api/v1/cache-config/main auth=yes".to_string()), "{reqs:?}");
    assert!(reqs.contains(&"POST /_api/v1/get-missing-paths auth=yes".to_string()), "{reqs:?}");
    assert!(reqs.iter().all(|r| r.ends_with("auth=yes")), "every request carries the token: {reqs:?}");
    assert!(
        s.fetched_narinfo(&b.a) && !s.fetched_narinfo(&b.missing),
        "a path reported missing is not fetched: {reqs:?}"
    );
    // The cache's key is trusted: no warning.
    assert!(!run.stderr.contains("not among the trusted keys"), "{}", run.stderr);
}

#[test]
fn untrusted_cache_config_key_is_warned_about() {
    let fx = Fixture::new();
    let s = Server::start(&fx.cache_dir(), Opts { public_key: fx.base.other_key.clone(), ..Opts::private(SENTINEL) });
    let file = paths_file(&fx, &[&fx.base.a]);
    check(&fx, &s.url)
        .arg("--paths")
        .arg(&file)
        .env("GF_ATTIC_TOKEN", SENTINEL)
        .run()
        .code(0)
        .stderr_has("cache `main` signs with `gf-other-1:")
        .stderr_has("not among the trusted keys (`gf-test-1`)")
        .output_lacks(SENTINEL);
}

#[test]
fn token_never_reaches_output() {
    let fx = Fixture::new();
    let b = fx.base;
    // A server that echoes the Authorization header in its error bodies.
    let s = Server::start(&fx.cache_dir(), Opts { echo_auth: true, ..Opts::private(SENTINEL) });
    let file = paths_file(&fx, &[&b.a]);
    for json in [false, true] {
        let mut cmd =
            check(&fx, &s.url).arg("--paths").arg(&file).env("GF_ATTIC_TOKEN", SENTINEL).env("GF_LOG", "trace");
        if json {
            cmd = cmd.arg("--json");
        }
        let run = cmd.run();
        run.code(1).output_has("500").output_lacks(SENTINEL).output_has("[redacted]");
    }
    assert!(s.requests().iter().any(|r| r.contains(".narinfo auth=yes")), "the token was sent");
    // Unreachable, bad endpoint and usage errors do not print it either.
    let down = binary_cache::down();
    check(&fx, &down).arg("--paths").arg(&file).env("GF_ATTIC_TOKEN", SENTINEL).run().code(1).output_lacks(SENTINEL);
    gf().cwd(&fx.work())
        .args(["cache", "check", "--endpoint", &format!("http://u:{SENTINEL}@127.0.0.1:1"), "--cache", "main"])
        .env("GF_ATTIC_TOKEN", SENTINEL)
        .run()
        .code(1)
        .stderr_has("credentials in the URL are refused")
        .output_lacks(SENTINEL);
}

#[test]
fn stalled_server_times_out_within_seconds() {
    let fx = Fixture::new();
    let (_listener, url) = binary_cache::stalled();
    let file = paths_file(&fx, &[&fx.base.a]);
    let t = Instant::now();
    check(&fx, &url)
        .arg("--paths")
        .arg(&file)
        .run()
        .code(1)
        .stderr_has("is unreachable")
        .stderr_has("did not answer within 4s (2 attempts)");
    assert!(t.elapsed() < Duration::from_secs(20), "took {:?}", t.elapsed());
}

#[test]
fn down_server_fails_within_seconds() {
    let fx = Fixture::new();
    let url = binary_cache::down();
    let file = paths_file(&fx, &[&fx.base.a]);
    let t = Instant::now();
    let run = check(&fx, &url).arg("--paths").arg(&file).run();
    run.code(1).stderr_has("is unreachable").stderr_has("Connection refused");
    assert_eq!(run.stderr.matches("cannot reach").count(), 1, "the cause is printed once: {}", run.stderr);
    assert!(t.elapsed() < Duration::from_secs(20), "took {:?}", t.elapsed());
}

#[test]
fn concurrency_is_bounded_and_connections_are_reused() {
    let fx = Fixture::new();
    let s = Server::start(&fx.cache_dir(), Opts { delay: Duration::from_millis(20), ..Opts::public() });
    // 60 well-formed paths the cache lacks: each costs one narinfo request.
    let alphabet: Vec<char> = "0123456789abcdfghijklmnpqrsvwxyz".chars().collect();
    let paths: Vec<String> = (0..60)
        .map(|i| format!("/nix/store/{}-absent-{i}", format!("{}{}", alphabet[i % 32], alphabet[i / 32]).repeat(16)))
        .collect();
    let file = paths_file(&fx, &paths.iter().map(String::as_str).collect::<Vec<_>>());
    check(&fx, &s.url).arg("--paths").arg(&file).args(["--jobs", "3"]).run().code(1).stdout_has("60 missing");
    assert!((2..=3).contains(&s.max_inflight()), "max in flight {}", s.max_inflight());
    // A connection returns to the pool a moment after its answer, so a few extra may open under
    // load; without keep-alive it would be one per request (61).
    assert!(s.connections() <= 20, "keep-alive: {} connections for 61 requests", s.connections());
}

#[test]
fn server_errors_are_retried() {
    let fx = Fixture::new();
    let s = Server::start(&fx.cache_dir(), Opts { flaky: 2, ..Opts::public() });
    let file = paths_file(&fx, &[&fx.base.a]);
    check(&fx, &s.url).arg("--paths").arg(&file).run().code(0).stdout_has("all 1 path present");
    assert_eq!(s.requests().iter().filter(|r| r.contains(".narinfo")).count(), 3, "{:?}", s.requests());
}

#[test]
fn wrong_store_dir_is_refused() {
    let fx = Fixture::new();
    std::fs::write(fx.cache_dir().join("nix-cache-info"), "StoreDir: /gnu/store\nWantMassQuery: 1\n").unwrap();
    let s = Server::start(&fx.cache_dir(), Opts::public());
    check(&fx, &s.url).run().code(1).stderr_has("serves store dir `/gnu/store`, not `/nix/store`");
}

/// A fixture repository whose contract points at `url` and whose `gitlab-runners` needs `paths`.
fn repo_with_cache(url: &str, key: &str, paths: &[&str]) -> Repo {
    cache_repo("contract", "gitlab-runners", url, key, paths)
}

/// Fixture `fixture` with its contract's `attic` block pointing at `url` (trusting `key`) and
/// `stack` requiring the cache to hold `paths`.
pub fn cache_repo(fixture: &str, stack: &str, url: &str, key: &str, paths: &[&str]) -> Repo {
    let repo = Repo::from_fixture(fixture);
    repo.edit_json("stacks/contract.json", |v| {
        v["attic"] = serde_json::json!({ "endpoint": url, "cache": "main", "trusted_keys": [key] });
    });
    repo.edit_json(&format!("stacks/{stack}/stack.json"), |v| {
        v["requires_cache"] = serde_json::json!(true);
        v["cache_paths"] = serde_json::json!(paths);
    });
    repo
}

#[test]
fn settings_come_from_the_contract_and_the_stack() {
    let fx = Fixture::new();
    let b = fx.base;
    let s = Server::start(&fx.cache_dir(), Opts::public());
    let repo = repo_with_cache(&s.url, &b.key, &[&b.a, &b.b]);
    repo.gf().args(["cache", "check", "--stack", "gitlab-runners"]).run().code(0).stdout_has("all 2 paths present");
    // `--paths` adds to the stack's paths.
    let file = paths_file(&fx, &[&b.missing]);
    repo.gf()
        .args(["cache", "check", "--stack", "gitlab-runners", "--paths"])
        .arg(&file)
        .run()
        .code(1)
        .stdout_has("2 present, 1 missing");
    // GF_ATTIC_* win over the contract; flags win over both.
    repo.gf().args(["cache", "check"]).env("GF_ATTIC_CACHE", "other").run().code(1).stderr_has("no cache `other`");
    repo.gf().args(["cache", "check", "--cache", "main"]).env("GF_ATTIC_CACHE", "other").run().code(0);
    repo.gf()
        .args(["cache", "check", "--stack", "gitlab-runners"])
        .env("GF_ATTIC_TRUSTED_KEYS", b.other_key.as_str())
        .run()
        .code(1)
        .stdout_has("2 untrusted");
    // An unknown stack is a usage error with a suggestion.
    repo.gf()
        .args(["cache", "check", "--stack", "gitlab-runner"])
        .run()
        .code(1)
        .stderr_has("did you mean `gitlab-runners`");
}

#[test]
fn kube_context_mismatch_is_only_reported() {
    let fx = Fixture::new();
    let s = Server::start(&fx.cache_dir(), Opts::public());
    let repo = repo_with_cache(&s.url, &fx.base.key, &[&fx.base.a]);
    repo.gf()
        .args(["cache", "check", "--stack", "gitlab-runners"])
        .env("KUBE_CONTEXT", "elsewhere")
        .run()
        .code(0)
        .stderr_has("`KUBE_CONTEXT` is `elsewhere`, but environment `dev` uses kube context `honey`")
        .stderr_has("reported only");
}

/// Nix itself (`nix store verify --no-contents` over HTTP) agrees with gf's verdicts on the same cache.
#[test]
fn nix_agrees_on_signatures() {
    let fx = Fixture::new();
    let b = fx.base;
    fx.tamper(&b.a, "NarSize: ", "NarSize: 1");
    let s = Server::start(&fx.cache_dir(), Opts::public());
    let store = format!("{}/main", s.url);
    let xdg = fx.work().join("xdg");
    let nix_trusts = |path: &str| {
        let _nix = binary_cache::nix_lock();
        let out = std::process::Command::new("nix")
            .args([
                "--extra-experimental-features",
                "nix-command",
                "store",
                "verify",
                "--no-contents",
                "--store",
                &store,
            ])
            .args(["--option", "substituters", "", "--option", "trusted-public-keys", &b.key, path])
            .env("XDG_CACHE_HOME", &xdg)
            .output()
            .expect("run `nix` (Debian: `apt-get install -y nix-bin`)");
        out.status.success()
    };
    let paths = [&b.a, &b.lone, &b.other, &b.c];
    let file = paths_file(&fx, &paths.map(String::as_str));
    let v = check(&fx, &s.url).arg("--paths").arg(&file).arg("--json").run().json();
    let ours: Vec<bool> = statuses(&v).iter().map(|(_, st)| st == "present").collect();
    let nix: Vec<bool> = paths.iter().map(|p| nix_trusts(p)).collect();
    assert_eq!(ours, [false, true, false, true]);
    assert_eq!(ours, nix, "gf and `nix store verify` disagree: {:?}", s.requests());
}

/// The gate through the library (a session on the real world): present → Ok; missing or
/// unreachable → the reason the `cache` gate refuses with.
#[test]
fn gate_refuses_what_is_not_present() {
    let fx = Fixture::new();
    let b = fx.base;
    let s = Server::start(&fx.cache_dir(), Opts::public());
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let gate = |repo: &Repo, vars: &[(&str, &str)]| {
        let c = gf::contract::Contract::load(repo.path()).unwrap();
        let stack = c.stack("gitlab-runners").unwrap().clone();
        let vars = gf::session::Vars::from_pairs(vars.iter().copied());
        let session = gf::session::Session::new(c, "dev", vars, gf::session::RealWorld).unwrap();
        rt.block_on(gf::cache::gate(&session, &stack))
    };
    let good = repo_with_cache(&s.url, &b.key, &[&b.a, &b.c]);
    gate(&good, &[]).unwrap();

    let bad = repo_with_cache(&s.url, &b.key, &[&b.a, &b.missing]);
    let msg = gate(&bad, &[]).unwrap_err();
    assert!(msg.contains(&b.missing) && msg.contains("missing"), "{msg}");
    assert!(msg.contains("--skip-cache-gate"), "{msg}");

    let down = repo_with_cache(&binary_cache::down(), &b.key, &[&b.a]);
    let err = gate(&down, &[]).unwrap_err();
    assert!(err.contains("is unreachable"), "{err}");

    // A private cache: the token comes from the environment given.
    let sp = Server::start(&fx.cache_dir(), Opts::private(SENTINEL));
    let private = repo_with_cache(&sp.url, &b.key, &[&b.a]);
    let err = gate(&private, &[]).unwrap_err();
    assert!(err.contains("GF_ATTIC_TOKEN"), "{err}");
    assert!(!err.contains(SENTINEL));
    gate(&private, &[("GF_ATTIC_TOKEN", SENTINEL)]).unwrap();
}

/// What `gf doctor` reports, through the library.
#[test]
fn reachability_for_doctor() {
    let fx = Fixture::new();
    let s = Server::start(&fx.cache_dir(), Opts::public());
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let reach = |url: &str| {
        let repo = repo_with_cache(url, &fx.base.key, &[]);
        let c = gf::contract::Contract::load(repo.path()).unwrap();
        rt.block_on(gf::cache::reachability(&gf::session::RealWorld, &c, &gf::session::Vars::default()))
    };
    let ok = reach(&s.url).unwrap();
    assert!(ok.contains("cache `main`") && ok.contains("answers") && ok.contains("`gf-test-1`"), "{ok}");
    let err = reach(&binary_cache::down()).unwrap_err();
    assert!(err.contains("is unreachable") && err.contains("cannot reach"), "{err}");
}
