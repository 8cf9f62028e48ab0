//! Issue 14: `gf show` on real terraform plans: create, update, replace, delete, a sensitive
//! attribute and a sensitive output; JSON and Markdown; a stale plan is said to be stale.

use serde_json::Value;

use crate::harness::Repo;
use crate::lifecycle::gf_for;
use crate::moto::Moto;

const SECRET_V2: &str = "review-sentinel-secret-v2";

fn change<'a>(v: &'a Value, address: &str) -> &'a Value {
    v["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["address"] == address)
        .unwrap_or_else(|| panic!("{address}: {v}"))
}

#[test]
fn show_renders_every_kind_of_change_and_never_a_sensitive_value() {
    let moto = Moto::start();
    let repo = Repo::from_fixture("show");
    let g = gf_for(&repo, &moto);
    g.clone().args(["plan", "review", "--allow-empty-state"]).run().code(0);
    g.clone().args(["apply", "review"]).run().code(0);
    // A sensitive value comes from `TF_VAR_` (gf refuses one on the command line).
    g.clone().env("TF_VAR_secret", SECRET_V2).args(["plan", "review", "--", "-var=gen=2"]).run().code(0);

    let v = g.clone().args(["show", "review", "--json"]).run().code(0).json();
    assert_eq!(v["meta"]["stack"], "review");
    assert_eq!(v["meta"]["state_serial"], 1);
    assert!(v["meta"]["stale"].is_null(), "{v}");
    assert_eq!(change(&v, "terraform_data.changed")["action"], "update");
    let changed = &change(&v, "terraform_data.changed")["attributes"];
    assert!(
        changed.as_array().unwrap().iter().any(|a| a["path"] == "input" && a["after"]["value"] == "v2"),
        "{changed}"
    );
    let replaced = change(&v, "terraform_data.replaced");
    assert_eq!(replaced["action"], "replace");
    let forced: Vec<&Value> =
        replaced["attributes"].as_array().unwrap().iter().filter(|a| a["forces_replacement"] == true).collect();
    assert!(forced.iter().any(|a| a["path"].as_str().unwrap().starts_with("triggers_replace")), "{replaced}");
    assert_eq!(change(&v, "terraform_data.removed[0]")["action"], "delete");
    assert_eq!(change(&v, "terraform_data.added[0]")["action"], "create");
    let secret = change(&v, "terraform_data.secret");
    assert_eq!(secret["action"], "update");
    assert!(secret["attributes"].as_array().unwrap().iter().any(|a| a["after"]["kind"] == "sensitive"), "{secret}");
    assert!(
        v["resources"].as_array().unwrap().iter().all(|r| r["address"] != "terraform_data.kept"),
        "no-ops are left out"
    );
    let token = v["outputs"].as_array().unwrap().iter().find(|o| o["name"] == "token").unwrap();
    assert_eq!(token["after"]["kind"], "sensitive");
    assert_eq!(v["summary"]["replace"], 1);
    assert_eq!(v["summary"]["add"], 2);
    assert_eq!(v["summary"]["destroy"], 2);

    let human = g.clone().args(["show", "review"]).run();
    human
        .code(0)
        .stdout_has("~ terraform_data.changed (update)")
        .stdout_has("input: \"v1\" → \"v2\"")
        .stdout_has("-/+ terraform_data.replaced (replace)")
        .stdout_has("# forces replacement")
        .stdout_has("input: (sensitive) → (sensitive)")
        .stdout_has("Plan: 2 to add, 2 to change, 2 to destroy (1 replaced)");
    let md = g.clone().args(["show", "review", "--markdown"]).run();
    md.code(0).stdout_has("### gf plan: `review` in `dev`").stdout_has("```diff").stdout_has("forces replacement");
    for out in [&human, &md] {
        out.output_lacks(SECRET_V2).output_lacks("review-sentinel-secret-v1");
    }
    assert!(!serde_json::to_string(&v).unwrap().contains("review-sentinel-secret"), "a sensitive value in the JSON");
    assert!(repo.path().join(".gf/dev/review/plan.tfplan").exists(), "show keeps the plan");

    // Another checkout applies meanwhile: the plan is shown, and said to be stale.
    let other = Repo::from_fixture("show");
    gf_for(&other, &moto).args(["plan", "review", "--", "-var=gen=2"]).run().code(0);
    gf_for(&other, &moto).args(["apply", "review"]).run().code(0);
    let stale = g.clone().args(["show", "review"]).run();
    stale.code(0).stdout_has("STALE: `gf apply` would refuse this plan");
    // Without a plan: the `no-plan` refusal.
    gf_for(&other, &moto).args(["show", "review"]).run().code(3).stderr_has("refused (no-plan)");
}
