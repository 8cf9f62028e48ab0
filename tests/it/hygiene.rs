//! Issue 10: bad input and secret hygiene — input that used to crash gf or slip past it.

use serde_json::json;

use crate::harness::Repo;

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
